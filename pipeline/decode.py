"""Pure decoding of IPTC ninjs (1.x and 2.x) Kafka message values into `Article`s.

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

import hashlib
import json
import math
import re
import unicodedata
from datetime import date, datetime, timedelta, timezone
from typing import Any, Optional

import lxml.html
from lxml import etree

from .model import Article, DecodeError, ErrorCode

DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024

MAX_URI_CHARS = 2048
MAX_TIMESTAMP_CHARS = 64
MIN_PARTITION_DATE = date(1990, 1, 1)
FUTURE_TOLERANCE = timedelta(days=2)
_MAX_VERSION = 2**63 - 1  # lands in an int64 Parquet column

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

# Typographic quotes that editors/CMSes swap in and out without changing content.
_QUOTE_TABLE = str.maketrans(
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

# Elements whose content is never article text.
_DROP_TAGS = frozenset({"script", "style", "head", "title", "template"})
# Elements that start/end a paragraph. The brief's list plus common containers.
_BLOCK_TAGS = frozenset(
    {
        "p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
        "ul", "ol", "dl", "dt", "dd", "pre", "hr", "table", "tr", "section",
        "article", "header", "footer", "aside", "figure", "figcaption",
        "address", "main", "body", "html",
    }
)


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


def _opt_string(obj: dict, field: str) -> Optional[str]:
    """Optional top-level string field: absent/null -> None, non-string -> WRONG_TYPE."""
    return _opt_string_named(obj, field, field)


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
        text = text.translate(_QUOTE_TABLE)
        return _WS_RE.sub(" ", text).strip()

    payload = norm(headline) + "\n\n" + norm(body_text)
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


def html_to_text(html: str) -> str:
    """Turn an HTML body into plain paragraphs joined by blank lines.

    A first cut that keeps the paragraph structure analysts rely on: script,
    style and comments are dropped, block elements (p, div, br, li, h1-h6,
    blockquote, ...) end a paragraph, entities are decoded and whitespace
    inside a paragraph is collapsed. Uses a real HTML parser, never regexes.
    """
    if not html or not html.strip():
        return ""
    # Parse from UTF-8 bytes: lxml refuses str input carrying an XML encoding
    # declaration and str input with NUL/control characters.
    # \r and \f are HTML whitespace, so they become spaces before controls are dropped.
    cleaned = html.replace("\r", " ").replace("\f", " ")
    cleaned = _SURROGATE_RE.sub("\ufffd", _CONTROL_RE.sub("", cleaned))
    # huge_tree lifts libxml2's default nesting limit (~256), past which it
    # silently drops the rest of the document; input is already size-capped.
    parser = lxml.html.HTMLParser(
        encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True, huge_tree=True
    )
    try:
        root = lxml.html.document_fromstring(cleaned.encode("utf-8"), parser=parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return ""  # e.g. only comments / nothing parseable -> no text

    paragraphs: list[str] = []
    current: list[str] = []

    def flush() -> None:
        text = _WS_RE.sub(" ", "".join(current)).strip()
        if text:
            paragraphs.append(text)
        current.clear()

    skip_depth = 0  # >0 while inside a dropped element
    for event, el in etree.iterwalk(root, events=("start", "end")):
        tag = el.tag if isinstance(el.tag, str) else None  # comments/PIs have non-str tags
        if event == "start":
            if skip_depth or tag is None or tag.lower() in _DROP_TAGS:
                skip_depth += 1
                continue
            if tag.lower() in _BLOCK_TAGS:
                flush()
            if el.text:
                current.append(el.text)
        else:
            if skip_depth:
                skip_depth -= 1
                if skip_depth:
                    continue  # tail of a node inside a dropped subtree
            elif tag is not None and tag.lower() in _BLOCK_TAGS:
                flush()
            if el.tail and el is not root:
                current.append(el.tail)
    flush()
    return "\n\n".join(paragraphs)


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


def decode_message(value: bytes | None, *, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> Article:
    """Decode one Kafka message value (ninjs 1.x or 2.x JSON) into an Article.

    Raises DecodeError with a stable code for every kind of bad input so the
    caller can dead-letter it; an unexpected failure inside the decoder is
    reported as DecodeError(INTERNAL) rather than crashing the pipeline.
    """
    try:
        return _decode(value, max_bytes)
    except DecodeError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # safety net: bad input must never crash the bundle
        raise DecodeError(ErrorCode.INTERNAL, f"decoder failed: {type(exc).__name__}") from exc


# --------------------------------------------------------------------------- decoding steps


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _load_object(value: bytes | None, max_bytes: int) -> dict:
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


def _story_id(obj: dict) -> str:
    uri = obj.get("uri")
    if uri is None:
        raise DecodeError(ErrorCode.MISSING_URI, "uri: missing")
    if not isinstance(uri, str):
        raise _wrong_type("uri", "string", uri)
    story_id = uri.strip()
    if not story_id:
        raise DecodeError(ErrorCode.MISSING_URI, "uri: empty")
    if len(story_id) > MAX_URI_CHARS:
        raise DecodeError(ErrorCode.INVALID_URI, f"uri: {len(story_id)} chars, limit {MAX_URI_CHARS}")
    if _URI_FORBIDDEN_RE.search(story_id) or _SURROGATE_RE.search(story_id):
        raise DecodeError(ErrorCode.INVALID_URI, f"uri: contains control or invalid characters: {_preview(story_id)}")
    return story_id


def _version(obj: dict) -> int:
    raw = obj.get("version")
    if raw is None:
        return 1
    if isinstance(raw, bool):
        raise DecodeError(ErrorCode.INVALID_VERSION, "version: boolean is not a version")
    if isinstance(raw, int):
        version = raw
    elif isinstance(raw, float):
        if not math.isfinite(raw) or not raw.is_integer():
            raise DecodeError(ErrorCode.INVALID_VERSION, f"version: {raw!r:.40} is not a whole number")
        version = int(raw)
    elif isinstance(raw, str):
        text = raw.strip()
        if not text or len(text) > 19 or not text.isascii() or not text.isdigit():
            raise DecodeError(ErrorCode.INVALID_VERSION, f"version: not a number: {_preview(raw)}")
        version = int(text)
    else:
        raise _wrong_type("version", "integer or string", raw)
    if version < 0:
        raise DecodeError(ErrorCode.INVALID_VERSION, "version: negative")
    if version > _MAX_VERSION:
        raise DecodeError(ErrorCode.INVALID_VERSION, "version: too large")
    return version


def _timestamp(obj: dict, field: str) -> Optional[datetime]:
    raw = obj.get(field)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _wrong_type(field, "string", raw)
    return parse_timestamp(raw, field=field)


def _pubstatus(obj: dict) -> str:
    raw = obj.get("pubstatus")
    if raw is None:
        return "usable"
    if not isinstance(raw, str):
        raise _wrong_type("pubstatus", "string", raw)
    status = _PUBSTATUS.get(raw.strip().lower())
    if status is None:
        raise DecodeError(ErrorCode.INVALID_PUBSTATUS, f"pubstatus: unknown value {_preview(raw)}")
    return status


def _opt_string_named(obj: dict, key: str, field: str) -> Optional[str]:
    """Like _opt_string but with a path-style field name for nested values."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _wrong_type(field, "string", value)
    return _clean_text(value)


def _is_main(role: Optional[str]) -> bool:
    return role is not None and role.lower() == "main"


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
    """ninjs 2.x bodies[]: best raw value per kind ("plain"/"html"), role main first."""
    best: dict[str, tuple[bool, str]] = {}
    for i, entry in enumerate(_opt_list(obj, "bodies")):
        entry = _entry_dict(entry, f"bodies[{i}]")
        value = entry.get("value")
        if value is not None and not isinstance(value, str):
            raise _wrong_type(f"bodies[{i}].value", "string", value)
        ctype = _opt_string_named(entry, "contenttype", f"bodies[{i}].contenttype")
        ctype_camel = _opt_string_named(entry, "contentType", f"bodies[{i}].contentType")
        role = _opt_string_named(entry, "role", f"bodies[{i}].role")
        if not value or not value.strip():
            continue
        # A missing content type is read as plain text (ninjs 2.x requires it anyway).
        mime = (ctype or ctype_camel or "text/plain").split(";", 1)[0].strip().lower()
        if mime == "text/plain":
            kind = "plain"
        elif mime in ("text/html", "application/xhtml+xml"):
            kind = "html"
        else:
            continue  # e.g. text/markdown or structured formats: not handled yet
        main = _is_main(role)
        if kind not in best or (main and not best[kind][0]):
            best[kind] = (main, value)
    return {kind: value for kind, (_, value) in best.items()}


def _body(obj: dict) -> Optional[str]:
    body_text = _opt_string(obj, "body_text")
    body_html = _opt_string(obj, "body_html")
    bodies = _bodies_candidates(obj)
    if body_text is not None:
        return body_text
    candidates = []
    if body_html is not None:
        candidates.append(("html", body_html))
    if "plain" in bodies:
        candidates.append(("plain", bodies["plain"]))
    if "html" in bodies:
        candidates.append(("html", bodies["html"]))
    for kind, raw in candidates:
        text = _clean_text(html_to_text(raw) if kind == "html" else raw)
        if text is not None:
            return text
    return None


def _located(obj: dict) -> Optional[str]:
    raw = obj.get("located")
    if raw is None:
        return None
    if isinstance(raw, str):
        return _clean_text(raw)
    if isinstance(raw, dict):
        return _opt_string_named(raw, "name", "located.name")
    raise _wrong_type("located", "string or object", raw)


def _provider(obj: dict) -> Optional[str]:
    holder = _opt_string(obj, "copyrightholder")
    source: Optional[str] = None
    for i, entry in enumerate(_opt_list(obj, "infosources")):
        entry = _entry_dict(entry, f"infosources[{i}]")
        name = _opt_string_named(entry, "name", f"infosources[{i}].name")
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
    return holder or source or provider


def _decode(value: bytes | None, max_bytes: int) -> Article:
    obj = _load_object(value, max_bytes)
    story_id = _story_id(obj)
    version = _version(obj)
    first_created = _timestamp(obj, "firstcreated")
    version_created = _timestamp(obj, "versioncreated")
    pubstatus = _pubstatus(obj)
    headline = _headline(obj)
    body_text = _body(obj)
    byline = _opt_string(obj, "byline")
    by = _opt_string(obj, "by")
    byline = byline or by
    located = _located(obj)
    language = _opt_string(obj, "language")
    provider = _provider(obj)
    if headline is None and body_text is None:
        raise DecodeError(ErrorCode.NO_CONTENT, "headline/body: message has neither headline nor body text")
    return Article(
        story_id=story_id,
        version=version,
        provider=provider,
        headline=headline,
        body_text=body_text,
        byline=byline,
        located=located,
        language=language,
        first_created=first_created,
        version_created=version_created,
        pubstatus=pubstatus,
        content_hash=content_hash(headline, body_text),
        source_format="ninjs",
    )
