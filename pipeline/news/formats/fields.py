"""Field rules every wire format shares: ids, versions, timestamps, pubstatus, text, tags.

Each format module (:mod:`.ninjs`, :mod:`.newsml_g2`, :mod:`.plain_json`) maps its own field
names onto these rules, so the same malformed value is rejected with the same `ErrorCode` and
message whichever format carried it. Pure: standard library only, besides the article model.
"""
from __future__ import annotations

import math
import re
import unicodedata
from datetime import date, datetime, timedelta, timezone
from typing import Any, Optional

from ..model import Article, DecodeError, ErrorCode, ProviderTag

DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024

#: ``Article.source_format`` values.
FORMAT_NINJS = "ninjs"  # IPTC ninjs 1.x / 2.x
FORMAT_NINJS3 = "ninjs-3"  # IPTC ninjs 3.x
FORMAT_NEWSML_G2 = "newsml-g2"  # IPTC NewsML-G2 newsItem
FORMAT_PLAIN_JSON = "plain-json"  # in-house producers
SOURCE_FORMATS = (FORMAT_NINJS, FORMAT_NINJS3, FORMAT_NEWSML_G2, FORMAT_PLAIN_JSON)

MAX_URI_CHARS = 2048
MAX_TIMESTAMP_CHARS = 64
MIN_PARTITION_DATE = date(1990, 1, 1)
FUTURE_TOLERANCE = timedelta(days=2)
_MAX_VERSION = 2**63 - 1  # lands in an int64 Parquet column

#: Item kinds (ninjs ``type``, the tail of a NewsML-G2 ``itemClass``) that are media, not stories.
NON_STORY_KINDS = frozenset({"picture", "graphic", "video", "audio", "photo", "image"})

#: Provider tags kept per article, and the longest tag name kept (longer ones are not names).
MAX_PROVIDER_TAGS = 200
MAX_TAG_NAME_CHARS = 300

_PREVIEW_CHARS = 40  # well under the 80-char echo limit, even after repr()

PUBSTATUS_CODES = {
    "usable": "usable",
    "withheld": "withheld",
    "canceled": "canceled",
    "cancelled": "canceled",
    "embargoed": "embargoed",
}

# C0 controls except \t (0x09) and \n (0x0a), plus DEL. \r is normalised to \n first.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# Anything that can never be part of a stable id: C0, DEL, C1.
URI_FORBIDDEN_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
WS_RE = re.compile(r"\s+")


_TIMESTAMP_RE = re.compile(
    r"""
    (?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})
    (?:
        [Tt\ ]
        (?P<hour>\d{2}):(?P<minute>\d{2})
        (?: :(?P<second>\d{2}) (?: [.,](?P<fraction>\d{1,9}) )? )?
        (?:
            (?P<zulu>[Zz])
          | (?P<sign>[+-])(?P<off_h>\d{2})(?: :?(?P<off_m>\d{2}) )?
        )?
    )?
    """,
    re.VERBOSE | re.ASCII,
)

_UTF8_BOM = b"\xef\xbb\xbf"
_XML_LEADING_WS = b" \t\r\n"

# ---------------------------------------------------------------------------- HTML sniffing

_HTML_TAG_NAMES = (
    "a|abbr|article|aside|audio|b|blockquote|body|br|caption|cite|code|dd|del|div|dl|dt|em|"
    "figcaption|figure|footer|h[1-6]|head|header|hr|html|i|iframe|img|ins|li|main|mark|nav|ol|"
    "p|picture|pre|q|s|script|section|small|source|span|strong|style|sub|sup|table|tbody|td|"
    "tfoot|th|thead|time|title|tr|u|ul|video"
)
# Attributes must look like attributes (name="value"), so "a<b and c>d" is not a <b> tag.
_HTML_ATTRS = r"""(?:\s+[A-Za-z_:][\w:.-]*\s*=\s*(?:"[^"<>]*"|'[^'<>]*'|[^\s"'<>=`]+))*"""
_HTML_TAG_RE = re.compile(rf"<(?=[/A-Za-z])(?:(?:{_HTML_TAG_NAMES}){_HTML_ATTRS}\s*/?|/(?:{_HTML_TAG_NAMES})\s*)>", re.IGNORECASE)
_HTML_START_RE = re.compile(r"\s*<(?:[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?|!--.*?--|!doctype\s+html[^<>]*)>", re.S | re.I)

# --------------------------------------------------------------------------- helpers


def preview(value: Any) -> str:
    """A bounded repr of untrusted input for error messages (never > ~60 chars)."""
    if isinstance(value, str):
        text = repr(value[:_PREVIEW_CHARS])
        if len(value) > _PREVIEW_CHARS:
            text += "..."
        return text[:60]
    return type(value).__name__


def json_type(value: Any) -> str:
    """JSON-ish type name for WRONG_TYPE messages (bool before int: bool is an int)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def wrong_type(field: str, expected: str, value: Any) -> DecodeError:
    return DecodeError(
        ErrorCode.WRONG_TYPE, f"{field}: expected {expected}, got {json_type(value)}"
    )


def clean_text(value: str) -> Optional[str]:
    """Normalise line ends, drop control chars and lone surrogates, strip; '' -> None.

    Lone surrogates can come from JSON escapes like "\\ud800"; they cannot be
    encoded as UTF-8, so the Parquet writer would fail on them later.
    """
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL_RE.sub("", text)
    text = SURROGATE_RE.sub("\ufffd", text)
    text = text.strip()
    return text or None


def prepared_html(value: str) -> Optional[str]:
    """An HTML body as the cleaning stage should see it; '' / blank -> None.

    Only what would break later stages is touched: \\r and \\f are HTML whitespace
    and become \\n / a space (dropping them could glue words), other control
    characters are dropped and lone surrogates replaced. Markup and entities stay.
    """
    text = value.replace("\r\n", "\n").replace("\r", "\n").replace("\f", " ")
    text = _CONTROL_RE.sub("", text)
    text = SURROGATE_RE.sub("\ufffd", text)
    text = text.strip()
    return text or None


def inline_text(value: str) -> Optional[str]:
    """clean_text plus whitespace runs collapsed: for one-line values from XML."""
    text = clean_text(value)
    return WS_RE.sub(" ", text) if text is not None else None


def opt_string(obj: dict, field: str) -> Optional[str]:
    """Optional top-level string field: absent/null -> None, non-string -> WRONG_TYPE."""
    return opt_string_named(obj, field, field)


def opt_string_named(obj: dict, key: str, field: str) -> Optional[str]:
    """Like opt_string but with a path-style field name for nested values."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise wrong_type(field, "string", value)
    return clean_text(value)


def opt_list(obj: dict, field: str) -> list:
    value = obj.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise wrong_type(field, "array", value)
    return value


def entry_dict(value: Any, field: str) -> dict:
    if not isinstance(value, dict):
        raise wrong_type(field, "object", value)
    return value


def first_present(*values: Any) -> Any:
    for value in values:
        if value is not None:
            return value
    return None


def looks_like_html(text: str) -> bool:
    """Whether a body string from an untyped field (plain JSON ``body``) is HTML.

    True when the text starts with a tag (``<p>``, ``<div class=..>``, ``<!-- -->``,
    ``<!doctype html>``) or contains a tag of a known HTML element anywhere
    (``<p>``, ``<br/>``, ``</b>``, ``<a href=...>``). Entities alone (``AT&amp;T``)
    do not count: reading plain text as HTML would merge its paragraphs, which is
    worse than leaving a stray ``&amp;``. ``3 < 5``, ``<grin>`` mid-text and
    e-mail style ``<name@example.com>`` stay plain text.
    """
    if not isinstance(text, str) or "<" not in text:
        return False
    if _HTML_START_RE.match(text):
        return True
    return _HTML_TAG_RE.search(text) is not None

def strip_bom_ws(data: bytes) -> bytes:
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM):]
    return data.lstrip(_XML_LEADING_WS)


def parse_timestamp(value: str, *, field: str = "timestamp") -> datetime:
    """Parse an ISO 8601 / RFC 3339 timestamp into an aware UTC datetime.

    Wire feeds mix "Z", numeric offsets (with or without colon), fractional
    seconds and bare dates; naive values are taken as UTC because that is what
    every provider we ingest means by them. A leap second (:60) is clamped to
    :59 since `datetime` cannot represent it. Anything else raises
    DecodeError(INVALID_TIMESTAMP) naming `field`.
    """
    if not isinstance(value, str):
        raise DecodeError(
            ErrorCode.INVALID_TIMESTAMP, f"{field}: expected a string, got {json_type(value)}"
        )
    text = value.strip()
    if len(text) > MAX_TIMESTAMP_CHARS:
        raise DecodeError(ErrorCode.INVALID_TIMESTAMP, f"{field}: timestamp too long")
    m = _TIMESTAMP_RE.fullmatch(text)
    if m is None:
        raise DecodeError(
            ErrorCode.INVALID_TIMESTAMP, f"{field}: not an ISO 8601 timestamp: {preview(value)}"
        )
    try:
        second = int(m["second"] or 0)
        if second == 60:
            second = 59
        fraction = (m["fraction"] or "")[:6].ljust(6, "0")
        if m["sign"]:
            off_h, off_m = int(m["off_h"]), int(m["off_m"] or 0)
            if off_h > 23 or off_m > 59:
                raise ValueError("offset out of range")
            offset = timedelta(hours=off_h, minutes=off_m)
            tz = timezone(-offset if m["sign"] == "-" else offset)
        else:
            tz = timezone.utc
        dt = datetime(
            int(m["year"]),
            int(m["month"]),
            int(m["day"]),
            int(m["hour"] or 0),
            int(m["minute"] or 0),
            second,
            int(fraction),
            tzinfo=tz,
        )
        return dt.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise DecodeError(
            ErrorCode.INVALID_TIMESTAMP, f"{field}: timestamp out of range: {preview(value)}"
        ) from None


# --------------------------------------------------------------------------- shared field rules


def checked_story_id(raw: Any, field: str) -> str:
    if raw is None:
        raise DecodeError(ErrorCode.MISSING_URI, f"{field}: missing")
    if not isinstance(raw, str):
        raise wrong_type(field, "string", raw)
    story_id = raw.strip()
    if not story_id:
        raise DecodeError(ErrorCode.MISSING_URI, f"{field}: empty")
    if len(story_id) > MAX_URI_CHARS:
        raise DecodeError(ErrorCode.INVALID_URI, f"{field}: {len(story_id)} chars, limit {MAX_URI_CHARS}")
    if URI_FORBIDDEN_RE.search(story_id) or SURROGATE_RE.search(story_id):
        raise DecodeError(ErrorCode.INVALID_URI, f"{field}: contains control or invalid characters: {preview(story_id)}")
    return story_id


def checked_version(raw: Any, field: str = "version") -> int:
    if raw is None:
        return 1
    if isinstance(raw, bool):
        raise DecodeError(ErrorCode.INVALID_VERSION, f"{field}: boolean is not a version")
    if isinstance(raw, int):
        version = raw
    elif isinstance(raw, float):
        if not math.isfinite(raw) or not raw.is_integer():
            raise DecodeError(ErrorCode.INVALID_VERSION, f"{field}: {raw!r:.40} is not a whole number")
        version = int(raw)
    elif isinstance(raw, str):
        text = raw.strip()
        if not text or len(text) > 19 or not text.isascii() or not text.isdigit():
            raise DecodeError(ErrorCode.INVALID_VERSION, f"{field}: not a number: {preview(raw)}")
        version = int(text)
    else:
        raise wrong_type(field, "integer or string", raw)
    if version < 0:
        raise DecodeError(ErrorCode.INVALID_VERSION, f"{field}: negative")
    if version > _MAX_VERSION:
        raise DecodeError(ErrorCode.INVALID_VERSION, f"{field}: too large")
    return version


def opt_timestamp(obj: dict, field: str) -> Optional[datetime]:
    raw = obj.get(field)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise wrong_type(field, "string", raw)
    return parse_timestamp(raw, field=field)


def opt_timestamp_any(obj: dict, keys: tuple[str, ...]) -> Optional[datetime]:
    """First present spelling wins; every spelling present is still checked."""
    values = [opt_timestamp(obj, key) for key in keys]
    for value in values:
        if value is not None:
            return value
    return None


def pubstatus_value(raw: Any, field: str) -> Optional[str]:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise wrong_type(field, "string", raw)
    status = PUBSTATUS_CODES.get(raw.strip().lower())
    if status is None:
        raise DecodeError(ErrorCode.INVALID_PUBSTATUS, f"{field}: unknown value {preview(raw)}")
    return status


def pubstatus_any(obj: dict, keys: tuple[str, ...]) -> str:
    values = [pubstatus_value(obj.get(key), key) for key in keys]
    return first_present(*values) or "usable"


def is_main_role(role: Optional[str]) -> bool:
    return role is not None and role.lower() == "main"


class TagCollector:
    """Provider tags in first-seen order, unique per (kind, name), at most MAX_PROVIDER_TAGS.

    Names are cleaned (controls dropped, whitespace collapsed, NFC); blank names and
    names longer than MAX_TAG_NAME_CHARS are skipped. An identifier that is not a
    usable id (too long, control characters) is dropped, never the tag.
    """

    def __init__(self) -> None:
        self.tags: list[ProviderTag] = []
        self._seen: set[tuple[str, str]] = set()

    def add(self, kind: str, name: Optional[str], uri: Optional[str]) -> None:
        if name is None or len(self.tags) >= MAX_PROVIDER_TAGS:
            return
        text = inline_text(name)
        if text is None:
            return
        text = unicodedata.normalize("NFC", text)
        if len(text) > MAX_TAG_NAME_CHARS or (kind, text) in self._seen:
            return
        self._seen.add((kind, text))
        self.tags.append(ProviderTag(kind=kind, name=text, uri=_tag_uri(uri)))

    def result(self) -> tuple[ProviderTag, ...]:
        return tuple(self.tags)


def _tag_uri(raw: Optional[str]) -> Optional[str]:
    if raw is None:
        return None
    text = raw.strip()
    if not text or len(text) > MAX_URI_CHARS or URI_FORBIDDEN_RE.search(text) or SURROGATE_RE.search(text):
        return None
    return text


def undecoded_article(**fields: Any) -> Article:
    """An Article as the decoder hands it on: raw body, nothing cleaned yet."""
    return Article(body_text=None, content_hash="", **fields)
