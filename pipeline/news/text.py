"""Text normalisation shared by decoding, cleaning and deduplication: one home for the character tables.

Two quote foldings exist on purpose. ``CONTENT_HASH_QUOTES`` is the narrow one behind
``content_hash`` (a story's identity across redeliveries): its hashes are stored in the lake and in the
seen-versions state, so widening it would make every stored story look new. ``TYPOGRAPHIC_QUOTES`` is
the wider folding the cleaner and the dedup fingerprints use; every entry maps one code point to one, so
character offsets survive it (the paragraph entity cache relies on that).
"""
from __future__ import annotations

import re

# Typographic quotes that editors/CMSes swap in and out without changing content (content hashes).
CONTENT_HASH_QUOTES = str.maketrans(
    {
        "\u2018": "'",  # left single quotation mark
        "\u2019": "'",  # right single quotation mark / apostrophe
        "\u201a": "'",  # single low-9 quotation mark
        "\u201b": "'",  # single high-reversed-9 quotation mark
        "\u02bc": "'",  # modifier letter apostrophe
        "\u201c": '"',  # left double quotation mark
        "\u201d": '"',  # right double quotation mark
        "\u201e": '"',  # double low-9 quotation mark
        "\u201f": '"',  # double high-reversed-9 quotation mark
    }
)

# Curly, angle and prime quotes, each folded to one straight quote (one code point for one).
TYPOGRAPHIC_QUOTES = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'", "\u0060": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
}
DASHES = {
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\ufe58": "-", "\ufe63": "-", "\uff0d": "-",
}
NARROW_SPACES = {"\u00a0": " ", "\u2007": " ", "\u202f": " "}

QUOTES_ONLY = str.maketrans(TYPOGRAPHIC_QUOTES)
HASHING_FOLD = str.maketrans({**TYPOGRAPHIC_QUOTES, **DASHES, **NARROW_SPACES})

_MULTI_DASH = re.compile(r"-{2,}")
_WS = re.compile(r"\s+")


def hashing_form(display_text: str) -> str:
    """Display text with quotes straightened, dashes unified, whitespace collapsed, casefolded."""
    text = _MULTI_DASH.sub("-", display_text.translate(HASHING_FOLD))
    return _WS.sub(" ", text).strip().casefold()
