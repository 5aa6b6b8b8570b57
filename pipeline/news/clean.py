"""Story-body cleaning for wire-service news (AP, Reuters, AFP).

Pure module: no Beam / Kafka imports.  Turns a story body (plain text or
HTML) into clean display prose plus the parts that were extracted from it
(photo captions, dateline, byline, boilerplate).

Design rule: precision over recall.  Every rule below only fires on a
tight, explicit pattern; when in doubt a paragraph stays in the body, since
losing a real sentence of the story is worse than keeping a stray credit.
"""
from __future__ import annotations

import html as html_lib
import re
import unicodedata
from dataclasses import dataclass, field, replace

import ftfy
import lxml.html
from lxml import etree

from .decode import content_hash
from .dateline import WIRE_AGENCIES, split_dateline
from .layout import block_paragraphs, is_bullet, text_paragraphs
from .model import Article, DecodeError, ErrorCode
from .text import hashing_form

__all__ = [
    "CleanedBody",
    "clean_article",
    "clean_body",
    "clean_headline",
    "html_to_blocks",
    "html_to_paragraphs",
    "normalize_for_display",
    "normalize_for_hashing",
    "hashing_form",
    "is_caption",
    "is_boilerplate",
    "parse_byline",
    "split_dateline",
    "split_plain_paragraphs",
    "count_words",
]


@dataclass(frozen=True)
class CleanedBody:
    body_text: str  # display text: paragraphs joined by "\n\n", curly quotes kept
    paragraphs: list[str]
    captions: list[str]  # photo captions/credits removed from the body, in order
    dateline: str | None  # e.g. "Washington", "WASHINGTON", "SYDNEY", "KYIV, Ukraine"
    byline: str | None  # "Jane Doe" / "Jane Doe and John Roe"
    removed_boilerplate: list[str] = field(default_factory=list)
    word_count: int = 0


# ---------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------

_FTFY_CONFIG = ftfy.TextFixerConfig(
    uncurl_quotes=False,  # display text keeps curly quotes
    normalization="NFC",
    explain=False,
)


_BLANKS = str.maketrans({"\t": " ", "\v": " ", "\f": " "})
# Unicode category Cc (C0, DEL, C1) except "\n"; tabs, vertical tabs and form feeds became spaces.
_CONTROL_CHARS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def normalize_for_display(text: str) -> str:
    """Repair mojibake (ftfy), NFC-normalise, drop NUL/control chars except "\\n".

    Tabs / vertical tabs / form feeds become a space (removing them could glue
    two words together); CR and CRLF become "\\n".
    """
    if not text:
        return ""
    text = text.replace("\x00", "")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = ftfy.fix_text(text, _FTFY_CONFIG)
    text = unicodedata.normalize("NFC", text)
    return _CONTROL_CHARS.sub("", text.translate(_BLANKS))



_WS = re.compile(r"\s+")


def normalize_for_hashing(text: str) -> str:
    """Display text with quotes straightened, dashes unified, whitespace collapsed, casefolded."""
    return hashing_form(normalize_for_display(text))




# ---------------------------------------------------------------------------
# HTML -> paragraphs
# ---------------------------------------------------------------------------

# <header> holds a page's or article's metadata (dpa: slugline words, the time, the genre, the
# headline again), never story text.
_DROP_TAGS = frozenset(
    "script style noscript template head title iframe object svg header".split()
)
_BLOCK_TAGS = frozenset(
    """address article aside blockquote body br caption center dd details dialog div dl dt
    fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 hgroup hr html li
    main nav ol p pre section summary table tbody td tfoot th thead tr ul""".split()
)
# C0 controls except \t \n \r \f (HTML whitespace), plus DEL; lxml refuses them in input.
_HTML_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")


def html_to_paragraphs(html: str) -> list[str]:
    """The text paragraphs of an HTML body (see :func:`html_to_blocks`)."""
    return [text for text, _ in html_to_blocks(html)]


def _is_media_figure(el: etree._Element, tag: str | None) -> bool:
    """A <figure> around a picture or video (not a pull quote): its text is caption and credit."""
    return tag == "figure" and bool(el.xpath(".//img|.//picture|.//video|.//audio"))


def html_to_blocks(html: str) -> list[tuple[str, bool]]:
    """(paragraph, is_figure_caption) pairs: text inside <figcaption> is marked by the markup itself.

    Parse HTML with lxml.html; block elements and <br> become paragraph breaks.

    script/style (and similar non-content elements), comments and processing instructions are
    dropped; entities are decoded by the parser; runs of HTML whitespace inside a paragraph
    collapse to one space (a no-break space is not HTML whitespace and is kept here). The tree is
    walked iteratively with ``huge_tree`` so absurdly deep markup neither hits Python's recursion
    limit nor makes libxml2 drop the rest of the document.
    """
    if not html or not html.strip():
        return []
    cleaned = _SURROGATES.sub("\ufffd", _HTML_CONTROL.sub("", html))
    # Parse from UTF-8 bytes: lxml refuses str input that carries an XML encoding declaration.
    parser = lxml.html.HTMLParser(
        encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True, huge_tree=True
    )
    try:
        root = lxml.html.document_fromstring(cleaned.encode("utf-8"), parser=parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return []  # nothing parseable, e.g. only a comment

    blocks: list[tuple[str, bool]] = []
    current: list[str] = []
    caption_depth = 0  # > 0 while inside a <figcaption>

    def flush() -> None:
        for text in block_paragraphs("".join(current)):
            blocks.append((text, caption_depth > 0))
        current.clear()

    skip_depth = 0  # > 0 while inside a dropped element
    for event, el in etree.iterwalk(root, events=("start", "end")):
        tag = el.tag.lower() if isinstance(el.tag, str) else None  # comments/PIs: non-str tags
        if event == "start":
            if skip_depth or tag is None or tag in _DROP_TAGS:
                skip_depth += 1
                continue
            if tag in _BLOCK_TAGS:
                flush()
            if tag == "figcaption" or _is_media_figure(el, tag):
                caption_depth += 1  # a picture's figure holds its caption and credit: never story text
            if el.text:
                current.append(el.text)
        else:
            if skip_depth:
                skip_depth -= 1
                if skip_depth:
                    continue  # tail of a node inside a dropped subtree
            elif tag in _BLOCK_TAGS:
                flush()
                if tag == "figcaption" or _is_media_figure(el, tag):
                    caption_depth -= 1
            if el.tail and el is not root:
                current.append(el.tail)
    flush()
    return blocks


# ---------------------------------------------------------------------------
# Plain text -> paragraphs
# ---------------------------------------------------------------------------

def split_plain_paragraphs(text: str) -> list[str]:
    """Paragraphs of plain text: every newline is a break, unless the text keeps a wire layout
    (indented paragraph starts, hard-wrapped lines; see :mod:`pipeline.news.layout`)."""
    return text_paragraphs(text)


# ---------------------------------------------------------------------------
# Rule: photo captions / credits
# ---------------------------------------------------------------------------

_AGENCIES = (
    r"AP|AFP|Reuters|REUTERS|EPA|EPA-EFE|Getty|UPI|Xinhua|ANI|PTI|Bloomberg|"
    r"Anadolu|Sputnik|TASS|Kyodo|Yonhap|dpa|DPA|Shutterstock|IANS"
)
# Trailing parenthetical credit ending the paragraph.
_TRAILING_CREDIT = re.compile(
    r"\(\s*(?:"
    r"(?:photo|photograph|picture|image)s?\s*(?:by\b|:|credit\b)[^()]*"  # (Photo by ...), (Photo: ...)
    r"|(?:" + _AGENCIES + r")(?:\s+file)?\s+(?:photo|photograph|pictures?|images?)\b[^()]*"  # (AP Photo/...), (Reuters file photo)
    r"|file\s+photo\b[^()]*"  # (File photo: Reuters)
    r"|getty\s+images\b[^()]*"  # (Getty Images)
    r"|[^()]*/\s*getty\s+images\s*"  # (John Doe/Getty Images)
    r")\)\s*$",
    re.I,
)
# Paragraph openers that only ever introduce a photo caption.
_CAPTION_ADJ = r"(?:(?:undated|handout|file|aerial|combination|satellite|pool|recent|archive)\s+)*"
_CAPTION_NOUN = r"(?:photos?|photographs?|pictures?|images?|handout|frame\s+grab|video\s+grab|screen\s*grab)"
_LEADING_CAPTION = re.compile(
    r"^(?:"
    r"In\s+this\s+" + _CAPTION_ADJ + _CAPTION_NOUN + r"\b"
    r"|This\s+" + _CAPTION_ADJ + _CAPTION_NOUN + r"\s+"
    r"(?:courtesy|taken|provided|released|obtained|distributed|made\s+available|handed\s+out|received|dated|from\s+the)\b"
    r")",
    re.I,
)


def is_caption(paragraph: str) -> bool:
    """True for a photo caption/credit paragraph (trailing credit or caption opener)."""
    p = paragraph.strip()
    if not p:
        return False
    return bool(_TRAILING_CREDIT.search(p) or _LEADING_CAPTION.match(p))


# ---------------------------------------------------------------------------
# Rule: boilerplate
# ---------------------------------------------------------------------------

_QUOTE_CHARS = "\"\u201c\u201d"
_BOILERPLATE_PATTERNS = (
    re.compile(r"^(?:read\s+more|also\s+read|see\s+also)\s*:", re.I),
    re.compile(r"^(?:copyright\b\s*(?:©|\(c\))?|©|\(c\))\s*(?:\d{4}|copyright\b)", re.I),
    re.compile(r"^all\s+rights\s+reserved\.?$", re.I),
    re.compile(
        r"^\((?:additional\s+)?(?:reporting|writing|editing|compiled|research|graphics)\s+by\b.*\)\.?$",
        re.I,
    ),
    re.compile(r"^Our\s+Standards\s*:", re.I),
    re.compile(r"^\d{1,3}\s*min(?:ute)?s?\.?\s+read\.?$", re.I),
    # Reuters' editorial note on an update: "(Adds comments, detail)", "(Updates prices, recasts)"
    re.compile(
        r"^\((?:adds|updates|recasts|corrects|changes|repeats|refiles|fixes|rewrites|writes\s+through|"
        r"inserts|removes|deletes|clarifies|amends|moves|combines|expands|redistributes)\b[^()]*\)\.?$",
        re.I,
    ),
    # a sender's notice framed in asterisks: "*** DISCLAIMER: THIS IS AN AUTOMATED TRANSLATION ***"
    re.compile(r"^\*{3}[^*]+\*{3}$"),
)
_FOLLOW_US = re.compile(r"^Follow\s+us\s+on\b", re.I)


def is_boilerplate(paragraph: str) -> bool:
    """True for non-story lines: read-more links, follow-us, copyright, credits, read time."""
    p = paragraph.strip()
    if not p:
        return False
    if _FOLLOW_US.match(p):
        # a quoted sentence ("Follow us on this path," he said) is story text
        return len(p.split()) <= 30 and not any(q in p for q in _QUOTE_CHARS)
    if any(rx.match(p) for rx in _BOILERPLATE_PATTERNS):
        return len(p.split()) <= 60
    return False


# ---------------------------------------------------------------------------
# Rule: byline
# ---------------------------------------------------------------------------

_NAME_STOP = frozenset(
    """monday tuesday wednesday thursday friday saturday sunday january february march
    april may june july august september october november december jan feb mar apr jun
    jul aug sep sept oct nov dec the then now this that these those early late last next
    noon midnight morning evening night afternoon today tonight tomorrow yesterday week
    weekend month year contrast comparison far all way then""".split()
)
_NAME_TOKEN = re.compile(r"^(?:[A-Z][A-Za-z'’\-]*\.?|[A-Z]\.(?:[A-Z]\.)*)$")
_NAME_PARTICLES = frozenset("de da del della der di du la le van von bin al el y".split())
_ORG_HINTS = re.compile(
    r"\b(?:press|news|reuters|afp|agence|associated|times|post|staff|writer|correspondent|"
    r"reporter|editor|bloomberg|cnn|bbc|journal|herald|tribune|wire|agency|media|desk)\b",
    re.I,
)
_ORG_TOKEN = re.compile(r"^(?:[A-Z][\w'’&.\-]*|of|and|the|for|&)$")


_BYLINE_OPENER = re.compile(r"^(?:By|BY|Von|VON|Av|AV|Par|PAR|Por|POR|Door|DOOR)\s+(.+?)\s*$")
_AGENCY_NAMES = frozenset(name.lower() for name in WIRE_AGENCIES)


def _is_name(s: str) -> bool:
    toks = s.split()
    if not 2 <= len(toks) <= 5:
        return False
    if not (_NAME_TOKEN.match(toks[0]) and _NAME_TOKEN.match(toks[-1])):
        return False
    for t in toks:
        if t.lower().strip(".") in _NAME_STOP:
            return False
        if not (_NAME_TOKEN.match(t) or t.lower() in _NAME_PARTICLES):
            return False
    return True


def _is_affiliation(s: str) -> bool:
    toks = s.split()
    if not 1 <= len(toks) <= 6 or not all(_ORG_TOKEN.match(t) for t in toks):
        return False
    return len(toks) == 1 or bool(_ORG_HINTS.search(s))


def _names_of(segment: str) -> list[str] | None:
    parts = re.split(r"\s+(?:and|&)\s+", segment)
    if all(_is_name(p) for p in parts):
        return parts
    return None


def parse_byline(paragraph: str) -> str | None:
    """Return the author name(s) if the whole paragraph is a byline, else None.

    "By Jane Doe and John Roe, Associated Press" -> "Jane Doe and John Roe"; the opener may be
    German, Scandinavian, French, Spanish or Dutch ("Von Christian Hollmann, dpa" -> "Christian
    Hollmann"). All-caps names are title-cased ("By JANE DOE" -> "Jane Doe").
    """
    m = _BYLINE_OPENER.match(paragraph.strip())
    if not m:
        return None
    rest = m.group(1)
    segments = [s.strip() for s in rest.split(",")]
    if any(not s for s in segments):
        return None
    # trailing ", Associated Press" / ", Reuters": an org-looking segment that is
    # either not a personal name or carries an org keyword
    last = segments[-1]
    if len(segments) > 1 and (
        last.lower() in _AGENCY_NAMES
        or (_is_affiliation(last) and (_names_of(last) is None or _ORG_HINTS.search(last)))
    ):
        segments = segments[:-1]
    for seg in segments:
        if _names_of(seg) is None:
            return None
    names = ", ".join(segments)
    letters = [c for c in re.sub(r"\b(?:and|&)\b", " ", names) if c.isalpha()]
    if letters and all(c.isupper() for c in letters):
        names = re.sub(r"\b(And)\b", "and", names.title())
    return names


# ---------------------------------------------------------------------------
# Word count and top level
# ---------------------------------------------------------------------------


# A whitespace-delimited token holding an alphanumeric character ([^\W_] is exactly str.isalnum).
_WORD_TOKEN = re.compile(r"\S*[^\W_]\S*")


def count_words(text: str) -> int:
    """Whitespace-separated tokens containing at least one letter or digit."""
    return len(_WORD_TOKEN.findall(text))


def clean_body(
    text_or_html: str,
    *,
    is_html: bool = False,
    located: str | None = None,
    headline: str | None = None,
    provider: str | None = None,
) -> CleanedBody:
    """Clean a story body; see module docstring and the per-rule functions.

    ``headline`` and ``provider`` let the header lines some senders repeat at the top of the body
    (the headline again, a "Försvar TT" vignette-and-source line) leave it.
    """
    text_or_html = text_or_html or ""
    if is_html:
        paras = []
        for block, in_figcaption in html_to_blocks(text_or_html):
            if _DOUBLE_ESCAPED.search(block):
                block = html_lib.unescape(block)  # "&amp;quot;" in the source: escaped twice by the sender
            paras.extend((p, in_figcaption) for p in split_plain_paragraphs(normalize_for_display(block)))
    else:
        paras = [(p, False) for p in split_plain_paragraphs(normalize_for_display(text_or_html))]

    body: list[str] = []
    captions: list[str] = []
    boilerplate: list[str] = []
    byline: str | None = None
    header_key = hashing_form(headline) if headline else None
    lead_in = True  # nothing but summary bullets in the body so far

    for p, in_figcaption in paras:
        if in_figcaption or is_caption(p):
            captions.append(p)
            continue
        if is_boilerplate(p):
            boilerplate.append(p)
            continue
        if lead_in and byline is None and (hashing_form(p) == header_key or _is_source_line(p, provider)):
            boilerplate.append(p)  # a header line before the story text
            continue
        if lead_in and byline is None:
            # a byline only appears before the first paragraph of story text (summary bullets aside)
            names = parse_byline(p)
            if names is not None:
                byline = names
                continue
        body.append(p)
        # only Reuters-style summary bullets ("* Spot gold may edge up") may precede the byline
        lead_in = lead_in and is_bullet(p)

    dateline: str | None = None
    first = next((i for i, b in enumerate(body) if not is_bullet(b)), None)
    if first is not None:
        place, rest = split_dateline(body[first])
        if rest != body[first]:
            dateline = place
            body[first] = rest
    if located is not None and located.strip():
        dateline = normalize_for_display(located).strip()

    body_text = "\n\n".join(body)
    return CleanedBody(
        body_text=body_text,
        paragraphs=body,
        captions=captions,
        dateline=dateline,
        byline=byline,
        removed_boilerplate=boilerplate,
        word_count=count_words(body_text),
    )


_DOUBLE_ESCAPED = re.compile(r"&(?:quot|amp|apos|lt|gt|nbsp|#\d{1,6}|#x[0-9a-fA-F]{1,5});")
_SENTENCE_END = re.compile(r"[.!?:;]")


def _is_source_line(paragraph: str, provider: str | None) -> bool:
    """A vignette-and-source line such as TT's "Försvar TT": at most four words, no sentence
    punctuation, ending in the provider's own name."""
    words = paragraph.split()
    name = (provider or "").strip()
    if not name or not 1 <= len(words) <= 4 or _SENTENCE_END.search(paragraph):
        return False
    last = words[-1]
    if len(words) > 1 and last.casefold() == name.casefold():
        return True
    # "<span>Försvar</span><span>TT</span>" renders as one word: the vignette runs into the source
    head = last[: -len(name)] if len(last) > len(name) and last.endswith(name) else ""
    return bool(head) and head[-1].islower() and name[0].isupper()


_HEADLINE_FLAG = re.compile(r"\s*\*{3}[^*]{1,40}\*{3}\s*$")


def clean_headline(headline: str | None) -> str | None:
    """Display-normalised headline on one line, without a trailing "*** TRANSLATED ***" flag; blank -> None."""
    if not headline:
        return None
    text = _WS.sub(" ", normalize_for_display(headline)).strip()
    text = _HEADLINE_FLAG.sub("", text).strip() or text
    return text or None


def clean_article(article: Article) -> Article:
    """The decoded story with its body cleaned and the extracted parts in their own fields.

    Structured input wins over what is found in the body: a provider ``byline`` or ``located``
    is kept (the body's byline paragraph and dateline prefix are still removed). The content hash
    is taken over the hashing form of the cleaned text, so a republication that only differs in
    captions, boilerplate, quotes or layout hashes the same. Raises ``DecodeError(NO_CONTENT)``
    when neither a headline nor any body text survives cleaning.
    """
    cleaned = clean_body(
        article.body_raw or "", is_html=article.body_is_html, located=article.located,
        headline=article.headline, provider=article.provider,
    )
    headline = clean_headline(article.headline)
    body_text = cleaned.body_text or None
    if headline is None and body_text is None:
        raise DecodeError(ErrorCode.NO_CONTENT, "headline/body: no text left after cleaning")
    structured = clean_headline(article.byline)
    byline = (parse_byline(structured) or structured) if structured else cleaned.byline
    return replace(
        article,
        headline=headline,
        body_text=body_text,
        byline=byline,
        paragraphs=tuple(cleaned.paragraphs),
        captions=tuple(cleaned.captions),
        dateline=cleaned.dateline,
        word_count=cleaned.word_count,
        content_hash=content_hash(headline, hashing_form(body_text or "")),
        body_raw=None,
    )
