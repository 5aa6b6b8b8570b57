"""Pure decoding of wire-service Kafka message values into `Article`s.

Four input formats are recognised per message (see :func:`detect_format`), and
each becomes an `Article` whose ``source_format`` names it:

* ``"ninjs"`` -- IPTC ninjs 1.x and 2.x JSON (lower-case field names);
* ``"ninjs-3"`` -- IPTC ninjs 3.x JSON (camelCase field names);
* ``"newsml-g2"`` -- an IPTC NewsML-G2 ``newsItem`` (XML), bare or in a ``newsMessage``;
* ``"plain-json"`` -- the flat JSON our in-house producers write.

The decoder does not clean: it hands the chosen raw body on as ``body_raw`` with
``body_is_html``, and leaves ``body_text``/``content_hash`` for the cleaning stage
(:func:`pipeline.news.clean.clean_article`, which imports :func:`content_hash` from here).

No Beam or Kafka import here: everything is a plain function so it can be unit
tested and fuzzed without a runner. Every kind of bad input is reported as a
`DecodeError` carrying a stable `ErrorCode`, because the Beam layer routes on
that single exception type to the dead-letter table; any other exception would
crash the bundle and stall the partition.

Error messages are short, name the offending field and never echo more than a
short preview of the input (they are stored and shown to analysts, and input
can be huge or sensitive).
"""
from __future__ import annotations

import copy
import hashlib
import html as html_lib
import json
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Optional

from lxml import etree

from .model import Article, DecodeError, ErrorCode, ProviderTag
from .text import CONTENT_HASH_QUOTES

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "FORMAT_NEWSML_G2",
    "FORMAT_NINJS",
    "FORMAT_NINJS3",
    "FORMAT_PLAIN_JSON",
    "SOURCE_FORMATS",
    "content_hash",
    "decode_message",
    "detect_format",
    "looks_like_html",
    "parse_timestamp",
    "partition_date",
]

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

#: Provider tags kept per article, and the longest tag name kept (longer ones are not names).
MAX_PROVIDER_TAGS = 200
MAX_TAG_NAME_CHARS = 300

_PREVIEW_CHARS = 40  # well under the 80-char echo limit, even after repr()

_PUBSTATUS = {
    "usable": "usable",
    "withheld": "withheld",
    "canceled": "canceled",
    "cancelled": "canceled",
    "embargoed": "embargoed",
}

# C0 controls except \t (0x09) and \n (0x0a), plus DEL. \r is normalised to \n first.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# Anything that can never be part of a stable id: C0, DEL, C1.
_URI_FORBIDDEN_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
_WS_RE = re.compile(r"\s+")


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

# ---------------------------------------------------------------------------- format detection

_UTF8_BOM = b"\xef\xbb\xbf"
_XML_LEADING_WS = b" \t\r\n"

#: Keys that only ninjs uses (any version). A JSON object without ``uri`` but with one of
#: these is a ninjs story that lost its id (MISSING_URI), not an unknown format.
_NINJS_KEYS = frozenset(
    {
        "headline", "headlines", "body_text", "body_html", "bodies", "byline", "by", "located",
        "firstcreated", "versioncreated", "contentcreated", "pubstatus", "embargoed",
        "copyrightholder", "copyrightnotice", "usageterms", "infosources", "ednote", "slugline",
        "subject", "subjects", "person", "people", "organisation", "organisations", "place", "places",
        "descriptions", "description_text", "description_html", "renditions", "associations",
        "altids", "representationtype", "urgency",
    }
)
#: camelCase top-level keys introduced by ninjs 3.x (evidence of 3.x when no version is declared).
_NINJS3_KEYS = frozenset(
    {
        "firstCreated", "versionCreated", "contentCreated", "pubStatus", "copyrightHolder",
        "copyrightNotice", "usageTerms", "edNote", "infoSources", "altIds", "trustIndicators",
        "representationType", "rightsInfo", "eventDetails", "plannedCoverage",
    }
)
#: With ``id`` (and no ``uri``), any of these makes an object plain JSON.
_PLAIN_MARKERS = ("published_at", "source", "body")

_NINJS_SCHEMA_VERSION_RE = re.compile(r"ninjs[-_]?schema[-_]v?(\d+)", re.IGNORECASE)
_LEADING_MAJOR_RE = re.compile(r"\s*v?(\d{1,3})(?:\D|$)", re.IGNORECASE | re.ASCII)

# ---------------------------------------------------------------------------- NewsML-G2

NAR_NS = "http://iptc.org/std/nar/2006-10-01/"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_XML_ENCODING_RE = re.compile(rb"""<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
_XML_DTD_RE = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_UTF8_NAMES = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
#: Other declared encodings we let libxml2 decode: single-byte, ASCII-compatible ones only, so the
#: DOCTYPE/ENTITY byte scan below sees every declaration (UTF-16/32, EBCDIC etc. are refused).
_SINGLE_BYTE_XML_ENCODING_RE = re.compile(r"(?:iso[-_]?8859[-_]\d{1,2}|latin-?1|l1|(?:windows|cp)-?125\d)")
#: G2 subject @type (the part after the scheme alias, lower-cased) -> ProviderTag kind.
_G2_SUBJECT_KINDS = {
    "person": "person",
    "organisation": "organisation",
    "organization": "organisation",
    "geoarea": "place",
    "poi": "place",
}

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
_HTTP_URL_RE = re.compile(r"https?://[^\s]+", re.IGNORECASE)


# --------------------------------------------------------------------------- helpers


def _preview(value: Any) -> str:
    """A bounded repr of untrusted input for error messages (never > ~60 chars)."""
    if isinstance(value, str):
        text = repr(value[:_PREVIEW_CHARS])
        if len(value) > _PREVIEW_CHARS:
            text += "..."
        return text[:60]
    return type(value).__name__


def _json_type(value: Any) -> str:
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


def _wrong_type(field: str, expected: str, value: Any) -> DecodeError:
    return DecodeError(
        ErrorCode.WRONG_TYPE, f"{field}: expected {expected}, got {_json_type(value)}"
    )


def _clean_text(value: str) -> Optional[str]:
    """Normalise line ends, drop control chars and lone surrogates, strip; '' -> None.

    Lone surrogates can come from JSON escapes like "\\ud800"; they cannot be
    encoded as UTF-8, so the Parquet writer would fail on them later.
    """
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL_RE.sub("", text)
    text = _SURROGATE_RE.sub("\ufffd", text)
    text = text.strip()
    return text or None


def _raw_html(value: str) -> Optional[str]:
    """An HTML body as the cleaning stage should see it; '' / blank -> None.

    Only what would break later stages is touched: \\r and \\f are HTML whitespace
    and become \\n / a space (dropping them could glue words), other control
    characters are dropped and lone surrogates replaced. Markup and entities stay.
    """
    text = value.replace("\r\n", "\n").replace("\r", "\n").replace("\f", " ")
    text = _CONTROL_RE.sub("", text)
    text = _SURROGATE_RE.sub("\ufffd", text)
    text = text.strip()
    return text or None


def _inline_text(value: str) -> Optional[str]:
    """_clean_text plus whitespace runs collapsed: for one-line values from XML."""
    text = _clean_text(value)
    return _WS_RE.sub(" ", text) if text is not None else None


def _opt_string(obj: dict, field: str) -> Optional[str]:
    """Optional top-level string field: absent/null -> None, non-string -> WRONG_TYPE."""
    return _opt_string_named(obj, field, field)


def _opt_string_named(obj: dict, key: str, field: str) -> Optional[str]:
    """Like _opt_string but with a path-style field name for nested values."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _wrong_type(field, "string", value)
    return _clean_text(value)


def _opt_list(obj: dict, field: str) -> list:
    value = obj.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _wrong_type(field, "array", value)
    return value


def _entry_dict(value: Any, field: str) -> dict:
    if not isinstance(value, dict):
        raise _wrong_type(field, "object", value)
    return value


def _first(*values: Any) -> Any:
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


# --------------------------------------------------------------------------- public API


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
            ErrorCode.INVALID_TIMESTAMP, f"{field}: expected a string, got {_json_type(value)}"
        )
    text = value.strip()
    if len(text) > MAX_TIMESTAMP_CHARS:
        raise DecodeError(ErrorCode.INVALID_TIMESTAMP, f"{field}: timestamp too long")
    m = _TIMESTAMP_RE.fullmatch(text)
    if m is None:
        raise DecodeError(
            ErrorCode.INVALID_TIMESTAMP, f"{field}: not an ISO 8601 timestamp: {_preview(value)}"
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
            ErrorCode.INVALID_TIMESTAMP, f"{field}: timestamp out of range: {_preview(value)}"
        ) from None


def content_hash(headline: Optional[str], body_text: Optional[str]) -> str:
    """sha256 hex of normalised headline + body, used to spot redeliveries.

    Providers resend identical stories with different JSON layout, escaping,
    Unicode normalisation, whitespace or quote styles; those must not count as
    a new version of the content, so all of them are normalised away (NFC,
    curly quotes straightened, whitespace runs collapsed to one space, stripped).
    """

    def norm(text: Optional[str]) -> str:
        if not text:
            return ""
        text = unicodedata.normalize("NFC", text)
        text = text.translate(CONTENT_HASH_QUOTES)
        return _WS_RE.sub(" ", text).strip()

    payload = norm(headline) + "\n\n" + norm(body_text)
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


def partition_date(article: Article, ingested_at: datetime) -> date:
    """The UTC `date` that names the lake partition for this article.

    Uses first_created, else version_created, else ingested_at. The value
    becomes a path component, so it is range checked (1990-01-01 up to
    ingested_at + 2 days, inclusive) to keep epoch-zero and far-future garbage
    out of the lake layout, and it is always a plain `datetime.date` (never a
    `datetime`, which is a `date` subclass and would stringify differently).
    Naive datetimes are taken as UTC. Raises DecodeError(DATE_OUT_OF_RANGE).
    """
    if not isinstance(ingested_at, datetime):
        raise TypeError("ingested_at must be a datetime")

    def to_utc(dt: datetime) -> datetime:
        if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
            return dt.replace(tzinfo=timezone.utc)
        return dt.astimezone(timezone.utc)

    if article.first_created is not None:
        source, chosen = "first_created", article.first_created
    elif article.version_created is not None:
        source, chosen = "version_created", article.version_created
    else:
        source, chosen = "ingested_at", ingested_at
    if not isinstance(chosen, datetime):
        raise TypeError(f"{source} must be a datetime")

    try:
        utc = to_utc(chosen)
    except OverflowError:
        raise DecodeError(ErrorCode.DATE_OUT_OF_RANGE, f"{source}: not representable in UTC") from None
    day = date(utc.year, utc.month, utc.day)
    try:
        upper_dt = to_utc(ingested_at) + FUTURE_TOLERANCE
        upper = date(upper_dt.year, upper_dt.month, upper_dt.day)
    except OverflowError:
        upper = date.max
    if not (MIN_PARTITION_DATE <= day <= upper):
        raise DecodeError(
            ErrorCode.DATE_OUT_OF_RANGE,
            f"{source}: {day.isoformat()} outside {MIN_PARTITION_DATE.isoformat()}..{upper.isoformat()}",
        )
    return day


def detect_format(value: bytes | None, *, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> str:
    """The ``source_format`` a message value would be decoded as (one of SOURCE_FORMATS).

    Rules, in order: after an optional UTF-8 BOM and whitespace, a value starting
    with ``<`` is XML and must be a NewsML-G2 ``newsItem`` or ``newsMessage``
    (-> ``"newsml-g2"``). Anything else is JSON, and must be an object:

    * with a ``uri`` key -> the ninjs family: ``"ninjs-3"`` when the object declares
      ninjs 3 (``standard.version``, ``ninjsVersion``, ``$schema`` or
      ``standard.schema``) or, declaring nothing, uses a ninjs 3 camelCase key
      (``versionCreated``, ``pubStatus``, ``infoSources``, ...); else ``"ninjs"``;
    * with ``id`` and any of ``published_at``/``source``/``body`` -> ``"plain-json"``;
    * with any ninjs-only key (``headline``, ``bodies``, ``versioncreated``, ...) ->
      the ninjs family (decoding then fails with MISSING_URI);
    * anything else -> DecodeError(UNKNOWN_FORMAT).

    Raises the DecodeError that decode_message would raise for a value whose
    format cannot be told (EMPTY_MESSAGE, TOO_LARGE, INVALID_UTF8, INVALID_JSON,
    NOT_AN_OBJECT, INVALID_XML, UNKNOWN_FORMAT); it never checks the fields.
    """
    return _guarded(lambda: _load(value, max_bytes)[0])


def decode_message(value: bytes | None, *, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> Article:
    """Decode one Kafka message value, in any supported format, into an Article.

    The Article carries the raw body (``body_raw``/``body_is_html``);
    ``body_text`` is None and ``content_hash`` is "" until the cleaning stage
    fills them. Raises DecodeError with a stable code for every kind of bad
    input so the caller can dead-letter it; an unexpected failure inside the
    decoder is reported as DecodeError(INTERNAL) rather than crashing the pipeline.
    """
    return _guarded(lambda: _decode(value, max_bytes))


def _guarded(step):
    try:
        return step()
    except DecodeError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # safety net: bad input must never crash the bundle
        raise DecodeError(ErrorCode.INTERNAL, f"decoder failed: {type(exc).__name__}") from exc


# --------------------------------------------------------------------------- loading and routing


def _decode(value: bytes | None, max_bytes: int) -> Article:
    fmt, payload = _load(value, max_bytes)
    if fmt == FORMAT_NEWSML_G2:
        return _decode_g2(payload)
    if fmt == FORMAT_PLAIN_JSON:
        return _decode_plain(payload)
    return _decode_ninjs(payload, fmt)


def _load(value: bytes | None, max_bytes: int) -> tuple[str, Any]:
    """(source_format, parsed payload): the newsItem element for G2, else the JSON object."""
    data = _message_bytes(value, max_bytes)
    if _is_xml(data):
        return FORMAT_NEWSML_G2, _load_g2_item(data)
    obj = _load_json_object(data)
    return _json_format(obj), obj


def _message_bytes(value: bytes | None, max_bytes: int) -> bytes:
    if value is None:
        raise DecodeError(ErrorCode.EMPTY_MESSAGE, "message value is empty (null)")
    if isinstance(value, (bytearray, memoryview)):
        value = bytes(value)
    if not isinstance(value, bytes):
        raise DecodeError(ErrorCode.WRONG_TYPE, f"message value: expected bytes, got {type(value).__name__}")
    if not value:
        raise DecodeError(ErrorCode.EMPTY_MESSAGE, "message value is empty")
    if len(value) > max_bytes:
        raise DecodeError(ErrorCode.TOO_LARGE, f"message value is {len(value)} bytes, limit {max_bytes}")
    return value


def _strip_bom_ws(data: bytes) -> bytes:
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM):]
    return data.lstrip(_XML_LEADING_WS)


def _is_xml(data: bytes) -> bool:
    return _strip_bom_ws(data)[:1] == b"<"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _load_json_object(value: bytes) -> dict:
    try:
        text = value.decode("utf-8-sig")  # tolerates (and drops) a leading BOM
    except UnicodeDecodeError as exc:
        raise DecodeError(ErrorCode.INVALID_UTF8, f"message value: invalid UTF-8 at byte {exc.start}") from None
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise DecodeError(
            ErrorCode.INVALID_JSON, f"message value: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise DecodeError(ErrorCode.INVALID_JSON, "message value: JSON nested too deeply") from None
    except ValueError as exc:
        # NaN/Infinity constants, or integers beyond Python's digit limit.
        reason = "NaN/Infinity not allowed" if "constant" in str(exc) else "number too large"
        raise DecodeError(ErrorCode.INVALID_JSON, f"message value: {reason}") from None
    if not isinstance(obj, dict):
        raise DecodeError(ErrorCode.NOT_AN_OBJECT, f"message value: top level is {_json_type(obj)}, not object")
    return obj


def _json_format(obj: dict) -> str:
    if "uri" in obj:
        return _ninjs_flavour(obj)
    if "id" in obj and any(key in obj for key in _PLAIN_MARKERS):
        return FORMAT_PLAIN_JSON
    if any(key in _NINJS_KEYS or key in _NINJS3_KEYS for key in obj):
        return _ninjs_flavour(obj)
    raise DecodeError(
        ErrorCode.UNKNOWN_FORMAT, f"message value: not ninjs, NewsML-G2 or plain JSON: keys {_keys_preview(obj)}"
    )


def _keys_preview(obj: dict) -> str:
    """At most 4 keys, each cut to 16 chars with control chars masked; bounded to ~100 chars."""
    if not obj:
        return "(none)"
    keys = sorted(obj)
    shown = []
    for key in keys[:4]:
        masked = _SURROGATE_RE.sub("?", _URI_FORBIDDEN_RE.sub("?", key[:16]))
        shown.append(repr(masked) + ("..." if len(key) > 16 else ""))
    text = ", ".join(shown)
    if len(keys) > 4:
        text += f", ... ({len(keys)} keys)"
    return text[:100]


def _major_from_version(value: Any) -> Optional[int]:
    """'3.0' / 'v3' / '3' -> 3; anything else (or a non-string) -> None."""
    m = _LEADING_MAJOR_RE.match(value) if isinstance(value, str) else None
    return int(m.group(1)) if m else None


def _major_from_schema(value: Any) -> Optional[int]:
    """'http://www.iptc.org/std/ninjs/ninjs-schema_3.0.json' -> 3; else None."""
    m = _NINJS_SCHEMA_VERSION_RE.search(value) if isinstance(value, str) else None
    return int(m.group(1)) if m else None


def _ninjs_flavour(obj: dict) -> str:
    """"ninjs-3" or "ninjs": a declared version wins over camelCase evidence.

    Detection never raises: a malformed declaration is simply not evidence.
    """
    standard = obj.get("standard") if isinstance(obj.get("standard"), dict) else {}
    declared = _first(
        _major_from_version(standard.get("version")),
        _major_from_version(obj.get("ninjsVersion")),
        _major_from_schema(obj.get("$schema")),
        _major_from_schema(standard.get("schema")),
    )
    if declared is not None:
        return FORMAT_NINJS3 if declared >= 3 else FORMAT_NINJS
    if any(key in obj for key in _NINJS3_KEYS):
        return FORMAT_NINJS3
    return FORMAT_NINJS


# --------------------------------------------------------------------------- shared field rules


def _story_id(raw: Any, field: str) -> str:
    if raw is None:
        raise DecodeError(ErrorCode.MISSING_URI, f"{field}: missing")
    if not isinstance(raw, str):
        raise _wrong_type(field, "string", raw)
    story_id = raw.strip()
    if not story_id:
        raise DecodeError(ErrorCode.MISSING_URI, f"{field}: empty")
    if len(story_id) > MAX_URI_CHARS:
        raise DecodeError(ErrorCode.INVALID_URI, f"{field}: {len(story_id)} chars, limit {MAX_URI_CHARS}")
    if _URI_FORBIDDEN_RE.search(story_id) or _SURROGATE_RE.search(story_id):
        raise DecodeError(ErrorCode.INVALID_URI, f"{field}: contains control or invalid characters: {_preview(story_id)}")
    return story_id


def _version(raw: Any, field: str = "version") -> int:
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
            raise DecodeError(ErrorCode.INVALID_VERSION, f"{field}: not a number: {_preview(raw)}")
        version = int(text)
    else:
        raise _wrong_type(field, "integer or string", raw)
    if version < 0:
        raise DecodeError(ErrorCode.INVALID_VERSION, f"{field}: negative")
    if version > _MAX_VERSION:
        raise DecodeError(ErrorCode.INVALID_VERSION, f"{field}: too large")
    return version


def _timestamp(obj: dict, field: str) -> Optional[datetime]:
    raw = obj.get(field)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _wrong_type(field, "string", raw)
    return parse_timestamp(raw, field=field)


def _timestamp_any(obj: dict, keys: tuple[str, ...]) -> Optional[datetime]:
    """First present spelling wins; every spelling present is still checked."""
    values = [_timestamp(obj, key) for key in keys]
    for value in values:
        if value is not None:
            return value
    return None


def _pubstatus_value(raw: Any, field: str) -> Optional[str]:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _wrong_type(field, "string", raw)
    status = _PUBSTATUS.get(raw.strip().lower())
    if status is None:
        raise DecodeError(ErrorCode.INVALID_PUBSTATUS, f"{field}: unknown value {_preview(raw)}")
    return status


def _pubstatus_any(obj: dict, keys: tuple[str, ...]) -> str:
    values = [_pubstatus_value(obj.get(key), key) for key in keys]
    return _first(*values) or "usable"


def _is_main(role: Optional[str]) -> bool:
    return role is not None and role.lower() == "main"


class _TagCollector:
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
        text = _inline_text(name)
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
    if not text or len(text) > MAX_URI_CHARS or _URI_FORBIDDEN_RE.search(text) or _SURROGATE_RE.search(text):
        return None
    return text


# --------------------------------------------------------------------------- ninjs 1.x / 2.x / 3.x


@dataclass(frozen=True)
class _NinjsNames:
    """Field spellings, preferred first; the other generation's spelling is the fallback."""

    firstcreated: tuple[str, ...]
    versioncreated: tuple[str, ...]
    pubstatus: tuple[str, ...]
    copyrightholder: tuple[str, ...]
    infosources: tuple[str, ...]


_NINJS_NAMES = _NinjsNames(
    firstcreated=("firstcreated", "firstCreated"),
    versioncreated=("versioncreated", "versionCreated"),
    pubstatus=("pubstatus", "pubStatus"),
    copyrightholder=("copyrightholder", "copyrightHolder"),
    infosources=("infosources", "infoSources"),
)
_NINJS3_NAMES = _NinjsNames(
    firstcreated=("firstCreated", "firstcreated"),
    versioncreated=("versionCreated", "versioncreated"),
    pubstatus=("pubStatus", "pubstatus"),
    copyrightholder=("copyrightHolder", "copyrightholder"),
    infosources=("infoSources", "infosources"),
)

#: (key, kind) in output order: ninjs 1.x singular keys, then 2.x/3.x plural keys, per kind.
_NINJS_TAG_FIELDS = (
    ("person", "person"),
    ("people", "person"),
    ("organisation", "organisation"),
    ("organisations", "organisation"),
    ("place", "place"),
    ("places", "place"),
    ("subject", "subject"),
    ("subjects", "subject"),
)


# Every mapped field is type-checked even when a fallback is not needed, so the
# same malformed message is rejected the same way whichever fields it carries.


def _headline(obj: dict) -> Optional[str]:
    headline = _opt_string(obj, "headline")
    first: Optional[str] = None
    main: Optional[str] = None
    for i, entry in enumerate(_opt_list(obj, "headlines")):
        entry = _entry_dict(entry, f"headlines[{i}]")
        text = _opt_string_named(entry, "value", f"headlines[{i}].value")
        role = _opt_string_named(entry, "role", f"headlines[{i}].role")
        if text is None:
            continue
        if first is None:
            first = text
        if main is None and _is_main(role):
            main = text
    return headline or main or first


def _bodies_candidates(obj: dict) -> dict[str, str]:
    """ninjs 2.x/3.x bodies[]: best prepared raw value per kind ("plain"/"html"), role main first."""
    best: dict[str, tuple[bool, str]] = {}
    for i, entry in enumerate(_opt_list(obj, "bodies")):
        entry = _entry_dict(entry, f"bodies[{i}]")
        value = entry.get("value")
        if value is not None and not isinstance(value, str):
            raise _wrong_type(f"bodies[{i}].value", "string", value)
        ctype = _opt_string_named(entry, "contenttype", f"bodies[{i}].contenttype")
        ctype_camel = _opt_string_named(entry, "contentType", f"bodies[{i}].contentType")
        role = _opt_string_named(entry, "role", f"bodies[{i}].role")
        if not value:
            continue
        # A missing content type is read as plain text (ninjs 2.x requires it anyway).
        mime = (ctype or ctype_camel or "text/plain").split(";", 1)[0].strip().lower()
        if mime == "text/plain":
            kind, prepared = "plain", _clean_text(value)
        elif mime in ("text/html", "application/xhtml+xml"):
            kind, prepared = "html", _raw_html(value)
        else:
            continue  # e.g. text/markdown or structured formats: not handled yet
        if prepared is None:
            continue
        main = _is_main(role)
        if kind not in best or (main and not best[kind][0]):
            best[kind] = (main, prepared)
    return {kind: value for kind, (_, value) in best.items()}


def _ninjs_body(obj: dict) -> tuple[Optional[str], bool]:
    """(body_raw, body_is_html): body_text > body_html > bodies[] plain > bodies[] html.

    The first non-blank candidate wins; whether an HTML body yields any text is
    for the cleaning stage to find out.
    """
    body_text = _opt_string(obj, "body_text")
    raw_html = obj.get("body_html")
    if raw_html is not None and not isinstance(raw_html, str):
        raise _wrong_type("body_html", "string", raw_html)
    body_html = _raw_html(raw_html) if raw_html is not None else None
    bodies = _bodies_candidates(obj)
    candidates = [
        (body_text, False),
        (body_html, True),
        (bodies.get("plain"), False),
        (bodies.get("html"), True),
    ]
    for raw, is_html in candidates:
        if raw is not None:
            return raw, is_html
    return None, False


def _located(obj: dict) -> Optional[str]:
    raw = obj.get("located")
    if raw is None:
        return None
    if isinstance(raw, str):
        return _clean_text(raw)
    if isinstance(raw, dict):
        return _opt_string_named(raw, "name", "located.name")
    raise _wrong_type("located", "string or object", raw)


def _provider(obj: dict, names: _NinjsNames) -> Optional[str]:
    holders = [_opt_string(obj, key) for key in names.copyrightholder]
    source: Optional[str] = None
    for key in names.infosources:
        for i, entry in enumerate(_opt_list(obj, key)):
            entry = _entry_dict(entry, f"{key}[{i}]")
            name = _opt_string_named(entry, "name", f"{key}[{i}].name")
            if source is None:
                source = name
    raw = obj.get("provider")
    if raw is None:
        provider = None
    elif isinstance(raw, str):
        provider = _clean_text(raw)
    elif isinstance(raw, dict):
        provider = _opt_string_named(raw, "name", "provider.name")
    else:
        raise _wrong_type("provider", "string or object", raw)
    return _first(*holders) or source or provider


def _ninjs_tags(obj: dict) -> tuple[ProviderTag, ...]:
    tags = _TagCollector()
    for key, kind in _NINJS_TAG_FIELDS:
        for i, entry in enumerate(_opt_list(obj, key)):
            field = f"{key}[{i}]"
            if isinstance(entry, str):
                tags.add(kind, entry, None)
                continue
            if not isinstance(entry, dict):
                raise _wrong_type(field, "object or string", entry)
            name, uri, code, scheme, literal = (
                _opt_raw(entry, part, f"{field}.{part}") for part in ("name", "uri", "code", "scheme", "literal")
            )
            tags.add(kind, name, _ninjs_tag_id(uri, scheme, code, literal))
    return tags.result()


def _opt_raw(obj: dict, key: str, field: str) -> Optional[str]:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _wrong_type(field, "string", value)
    return value


def _ninjs_tag_id(uri: Optional[str], scheme: Optional[str], code: Optional[str], literal: Optional[str]) -> Optional[str]:
    """uri; else scheme + code (a qcode "medtop:20000621" or a URL "http://cv.../20000621"); else code; else literal."""
    if uri and uri.strip():
        return uri
    code = code.strip() if code else None
    scheme = scheme.strip() if scheme else None
    if code and scheme:
        return scheme + code if scheme.endswith(("/", "#", ":")) else f"{scheme}:{code}"
    return code or (literal.strip() if literal and literal.strip() else None)


def _decode_ninjs(obj: dict, fmt: str) -> Article:
    names = _NINJS3_NAMES if fmt == FORMAT_NINJS3 else _NINJS_NAMES
    story_id = _story_id(obj.get("uri"), "uri")
    version = _version(obj.get("version"))
    first_created = _timestamp_any(obj, names.firstcreated)
    version_created = _timestamp_any(obj, names.versioncreated)
    embargoed_until = _timestamp(obj, "embargoed")
    pubstatus = _pubstatus_any(obj, names.pubstatus)
    headline = _headline(obj)
    body_raw, body_is_html = _ninjs_body(obj)
    byline = _opt_string(obj, "byline")
    by = _opt_string(obj, "by")
    located = _located(obj)
    language = _opt_string(obj, "language")
    provider = _provider(obj, names)
    tags = _ninjs_tags(obj)
    if headline is None and body_raw is None:
        raise DecodeError(ErrorCode.NO_CONTENT, "headline/body: message has neither headline nor body")
    return _article(
        story_id=story_id,
        version=version,
        provider=provider,
        headline=headline,
        body_raw=body_raw,
        body_is_html=body_is_html,
        byline=byline or by,
        located=located,
        language=language,
        first_created=first_created,
        version_created=version_created,
        pubstatus=pubstatus,
        embargoed_until=embargoed_until,
        provider_tags=tags,
        source_format=fmt,
    )


def _article(**fields: Any) -> Article:
    """An Article as the decoder hands it on: raw body, nothing cleaned yet."""
    return Article(body_text=None, content_hash="", **fields)


# --------------------------------------------------------------------------- plain JSON


def _url(obj: dict) -> Optional[str]:
    raw = _opt_string(obj, "url")
    if raw is None:
        return None
    if len(raw) > MAX_URI_CHARS:
        raise DecodeError(ErrorCode.INVALID_URI, f"url: {len(raw)} chars, limit {MAX_URI_CHARS}")
    if not _HTTP_URL_RE.fullmatch(raw) or _URI_FORBIDDEN_RE.search(raw) or _SURROGATE_RE.search(raw):
        raise DecodeError(ErrorCode.INVALID_URI, f"url: not an absolute http(s) URL: {_preview(raw)}")
    return raw


def _decode_plain(obj: dict) -> Article:
    """In-house flat JSON: id, source, headline, body, published_at[, updated_at, url, version, language, pubstatus]."""
    story_id = _story_id(obj.get("id"), "id")
    version = _version(obj.get("version"))
    published_at = _timestamp(obj, "published_at")
    updated_at = _timestamp(obj, "updated_at")
    pubstatus = _pubstatus_value(obj.get("pubstatus"), "pubstatus") or "usable"
    headline = _opt_string(obj, "headline")
    raw_body = obj.get("body")
    if raw_body is not None and not isinstance(raw_body, str):
        raise _wrong_type("body", "string", raw_body)
    body_is_html = raw_body is not None and looks_like_html(raw_body)
    if raw_body is None:
        body_raw = None
    else:
        body_raw = _raw_html(raw_body) if body_is_html else _clean_text(raw_body)
    provider = _opt_string(obj, "source")
    language = _opt_string(obj, "language")
    url = _url(obj)
    if headline is None and body_raw is None:
        raise DecodeError(ErrorCode.NO_CONTENT, "headline/body: message has neither headline nor body")
    return _article(
        story_id=story_id,
        version=version,
        provider=provider,
        headline=headline,
        body_raw=body_raw,
        body_is_html=body_is_html and body_raw is not None,
        byline=None,
        located=None,
        language=language,
        first_created=published_at,
        version_created=updated_at or published_at,
        pubstatus=pubstatus,
        url=url,
        source_format=FORMAT_PLAIN_JSON,
    )


# --------------------------------------------------------------------------- NewsML-G2


def _xml_parser() -> etree.XMLParser:
    # A fresh parser per message: lxml parsers are not safe to share across threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _load_g2_item(data: bytes) -> etree._Element:
    """Parse XML securely and return the (first) NewsML-G2 newsItem element.

    A DOCTYPE or ENTITY declaration anywhere is refused before parsing (entity
    expansion and external entities are the classic XML attacks, and a news item
    never needs a DTD); the parser additionally resolves no entities, loads no
    DTD and touches no network.
    """
    skipped = len(data)
    data = _strip_bom_ws(data)
    skipped -= len(data)
    m = _XML_ENCODING_RE.match(data)
    encoding = m.group(1).decode("ascii").lower() if m else "utf-8"
    if encoding in _UTF8_NAMES:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(
                ErrorCode.INVALID_UTF8, f"message value: invalid UTF-8 at byte {exc.start + skipped}"
            ) from None
    elif not _SINGLE_BYTE_XML_ENCODING_RE.fullmatch(encoding):
        raise DecodeError(ErrorCode.INVALID_XML, f"message value: XML encoding {encoding[:20]!r} not supported")
    if _XML_DTD_RE.search(data):
        raise DecodeError(ErrorCode.INVALID_XML, "message value: XML with a DOCTYPE or ENTITY declaration is refused")
    try:
        root = etree.fromstring(data, parser=_xml_parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if isinstance(exc.lineno, int) else 0
        reason = _URI_FORBIDDEN_RE.sub("?", str(exc.msg or "syntax error"))[:60]
        raise DecodeError(ErrorCode.INVALID_XML, f"message value: malformed XML: {reason} (line {line})") from None
    except (etree.LxmlError, ValueError, LookupError):
        raise DecodeError(ErrorCode.INVALID_XML, "message value: malformed XML") from None
    if root is None:
        raise DecodeError(ErrorCode.INVALID_XML, "message value: empty XML document")
    if root.getroottree().docinfo.doctype:
        raise DecodeError(ErrorCode.INVALID_XML, "message value: XML with a DOCTYPE declaration is refused")
    return _g2_news_item(root)


def _local(el: Any) -> Optional[str]:
    """Local name of an element (None for comments, PIs, entities)."""
    return etree.QName(el).localname if isinstance(el.tag, str) else None


def _ns(el: Any) -> Optional[str]:
    return etree.QName(el).namespace if isinstance(el.tag, str) else None


def _g2_news_item(root: etree._Element) -> etree._Element:
    local, ns = _local(root), _ns(root)
    shown = _preview(local or "")
    if ns not in (NAR_NS, None) or local not in ("newsItem", "newsMessage"):
        if ns == NAR_NS:
            raise DecodeError(ErrorCode.UNKNOWN_FORMAT, f"message value: NewsML-G2 {shown} is not a newsItem")
        raise DecodeError(
            ErrorCode.UNKNOWN_FORMAT, f"message value: XML root {shown} is not a NewsML-G2 newsItem or newsMessage"
        )
    if local == "newsItem":
        return root
    for item_set in _g2_children(root, "itemSet"):
        for child in _g2_children(item_set, "newsItem"):
            return child
    raise DecodeError(ErrorCode.UNKNOWN_FORMAT, "message value: newsMessage/itemSet holds no newsItem")


def _g2_children(el: etree._Element, name: str) -> list:
    """Child elements called `name` in the NAR namespace (or in none, for namespace-less items)."""
    return [c for c in el if _local(c) == name and _ns(c) in (NAR_NS, None)]


def _g2_child(el: Optional[etree._Element], name: str) -> Optional[etree._Element]:
    if el is None:
        return None
    found = _g2_children(el, name)
    return found[0] if found else None


def _g2_text(el: Optional[etree._Element]) -> Optional[str]:
    """All text of an element (inline markup flattened), whitespace collapsed; blank -> None."""
    if el is None:
        return None
    return _inline_text("".join(el.itertext()))


def _g2_name(el: etree._Element, language: Optional[str]) -> Optional[str]:
    """A concept's name: the `name` child in the item's language if there is one, else the first."""
    names = [(n.get(_XML_LANG), _g2_text(n)) for n in _g2_children(el, "name")]
    names = [(lang, text) for lang, text in names if text is not None]
    if language:
        wanted = language.lower()
        for lang, text in names:
            if lang and (lang.lower() == wanted or lang.lower().split("-")[0] == wanted.split("-")[0]):
                return text
    return names[0][1] if names else None


def _code_tail(code: str) -> str:
    """'stat:usable' -> 'usable'; 'http://cv.iptc.org/newscodes/pubstatusg2/usable' -> 'usable'."""
    return re.split(r"[:/#]", code.strip().rstrip("/"))[-1]


def _g2_timestamp(parent: Optional[etree._Element], name: str, path: str) -> Optional[datetime]:
    el = _g2_child(parent, name)
    if el is None:
        return None
    text = "".join(el.itertext()).strip()
    if not text:
        return None
    return parse_timestamp(text, field=path)


def _g2_pubstatus(item_meta: Optional[etree._Element]) -> str:
    el = _g2_child(item_meta, "pubStatus")
    if el is None:
        return "usable"
    code = el.get("qcode") or el.get("uri")
    if code is None or not code.strip():
        raise DecodeError(ErrorCode.INVALID_PUBSTATUS, "itemMeta/pubStatus: no qcode")
    status = _PUBSTATUS.get(_code_tail(code).lower())
    if status is None:
        raise DecodeError(ErrorCode.INVALID_PUBSTATUS, f"itemMeta/pubStatus: unknown value {_preview(code)}")
    return status


def _g2_party(el: Optional[etree._Element], language: Optional[str]) -> Optional[str]:
    """provider / copyrightHolder: @literal, else a name child, else the @qcode code (nprov:AFP -> AFP)."""
    if el is None:
        return None
    literal = _inline_text(el.get("literal") or "")
    if literal:
        return literal
    name = _g2_name(el, language)
    if name:
        return name
    qcode = el.get("qcode")
    return _inline_text(_code_tail(qcode)) if qcode else None


def _g2_body(content_set: Optional[etree._Element]) -> tuple[Optional[str], bool]:
    """First non-blank inlineXML (as an HTML string), else first non-blank inlineData."""
    if content_set is None:
        return None, False
    for el in _g2_children(content_set, "inlineXML"):
        raw = _raw_html(_inline_xml_html(el))
        if raw is not None:
            return raw, True
    for el in _g2_children(content_set, "inlineData"):
        if el.get("encoding"):
            continue  # e.g. base64: not text
        text = "".join(el.itertext())
        mime = (el.get("contenttype") or "text/plain").split(";", 1)[0].strip().lower()
        if mime in ("text/html", "application/xhtml+xml"):
            raw = _raw_html(text)
            if raw is not None:
                return raw, True
        else:
            raw = _clean_text(text)
            if raw is not None:
                return raw, False
    return None, False


def _inline_xml_html(el: etree._Element) -> str:
    """Serialise the story markup of an inlineXML as an HTML fragment without namespaces.

    Uses NITF ``body.content`` if present, else an (X)HTML ``body``, else the
    inlineXML's own children.
    """
    container = None
    for node in el.iter():
        if _local(node) == "body.content":
            container = node
            break
    if container is None:
        for node in el.iter():
            if _local(node) == "body" and _ns(node) in (XHTML_NS, None):
                container = node
                break
    if container is None:
        container = el
    parts: list[str] = []
    if container.text:
        parts.append(html_lib.escape(container.text, quote=False))
    for child in container:
        if isinstance(child.tag, str):
            node = copy.deepcopy(child)
            node.tail = None
            _strip_namespaces(node)
            parts.append(etree.tostring(node, method="html", encoding="unicode", with_tail=False))
        if child.tail:
            parts.append(html_lib.escape(child.tail, quote=False))
    return "".join(parts)


def _strip_namespaces(root: etree._Element) -> None:
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        node.tag = etree.QName(node).localname
        for key in [k for k in node.attrib if k.startswith("{")]:
            del node.attrib[key]
    etree.cleanup_namespaces(root)


def _g2_tags(content_meta: Optional[etree._Element], language: Optional[str]) -> tuple[ProviderTag, ...]:
    tags = _TagCollector()
    if content_meta is None:
        return ()
    for subject in _g2_children(content_meta, "subject"):
        kind = _G2_SUBJECT_KINDS.get(_code_tail(subject.get("type") or "").lower(), "subject")
        name = _g2_name(subject, language) or _inline_text(subject.get("literal") or "")
        tags.add(kind, name, subject.get("uri") or subject.get("qcode"))
    return tags.result()


def _g2_headline(content_meta: Optional[etree._Element]) -> Optional[str]:
    first: Optional[str] = None
    for el in _g2_children(content_meta, "headline") if content_meta is not None else []:
        text = _g2_text(el)
        if text is None:
            continue
        role = el.get("role")
        if role and _code_tail(role).lower() == "main":
            return text
        if first is None:
            first = text
    return first


def _g2_first_text(content_meta: Optional[etree._Element], name: str) -> Optional[str]:
    for el in _g2_children(content_meta, name) if content_meta is not None else []:
        text = _g2_text(el)
        if text is not None:
            return text
    return None


def _decode_g2(item: etree._Element) -> Article:
    story_id = _story_id(item.get("guid"), "newsItem@guid")
    version = _version(item.get("version"), "newsItem@version")
    item_meta = _g2_child(item, "itemMeta")
    content_meta = _g2_child(item, "contentMeta")
    content_set = _g2_child(item, "contentSet")
    first_created = _g2_timestamp(item_meta, "firstCreated", "itemMeta/firstCreated")
    version_created = _g2_timestamp(item_meta, "versionCreated", "itemMeta/versionCreated")
    embargoed_until = _g2_timestamp(item_meta, "embargoed", "itemMeta/embargoed")
    pubstatus = _g2_pubstatus(item_meta)

    language = None
    for el in _g2_children(content_meta, "language") if content_meta is not None else []:
        language = _inline_text(el.get("tag") or "")
        if language:
            break
    language = language or _inline_text(item.get(_XML_LANG) or "")

    provider = _g2_party(_g2_child(item_meta, "provider"), language) or _g2_party(
        _g2_child(_g2_child(item, "rightsInfo"), "copyrightHolder"), language
    )
    headline = _g2_headline(content_meta)
    byline = _g2_first_text(content_meta, "by")
    located_el = _g2_child(content_meta, "located")
    located = None
    if located_el is not None:
        located = _g2_name(located_el, language) or _inline_text(located_el.get("literal") or "")
    body_raw, body_is_html = _g2_body(content_set)
    tags = _g2_tags(content_meta, language)
    if headline is None and body_raw is None:
        raise DecodeError(ErrorCode.NO_CONTENT, "headline/body: newsItem has neither headline nor body")
    return _article(
        story_id=story_id,
        version=version,
        provider=provider,
        headline=headline,
        body_raw=body_raw,
        body_is_html=body_is_html,
        byline=byline,
        located=located,
        language=language,
        first_created=first_created,
        version_created=version_created,
        pubstatus=pubstatus,
        embargoed_until=embargoed_until,
        provider_tags=tags,
        source_format=FORMAT_NEWSML_G2,
    )
