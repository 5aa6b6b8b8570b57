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

This module detects the format and dispatches; each format's field mapping lives in
:mod:`pipeline.news.formats` (``ninjs``, ``newsml_g2``, ``plain_json``), over the rules they all
share (:mod:`pipeline.news.formats.fields`). A new wire format is one module there plus one
branch in :func:`detect_format` / :func:`_decode`.

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
import re
import unicodedata
from datetime import date, datetime, timezone
from typing import Any, Optional

from .formats.fields import (
    DEFAULT_MAX_MESSAGE_BYTES,
    FORMAT_NEWSML_G2,
    FORMAT_NINJS,
    FORMAT_NINJS3,
    FORMAT_PLAIN_JSON,
    FUTURE_TOLERANCE,
    MAX_PROVIDER_TAGS,
    MAX_TAG_NAME_CHARS,
    MIN_PARTITION_DATE,
    SOURCE_FORMATS,
    SURROGATE_RE,
    URI_FORBIDDEN_RE,
    WS_RE,
    first_present,
    json_type,
    looks_like_html,
    parse_timestamp,
    strip_bom_ws,
)
from .formats.newsml_g2 import decode_newsml_g2, load_news_item
from .formats.ninjs import decode_ninjs
from .formats.plain_json import decode_plain_json
from .model import Article, DecodeError, ErrorCode
from .text import CONTENT_HASH_QUOTES

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "FORMAT_NEWSML_G2",
    "FORMAT_NINJS",
    "FORMAT_NINJS3",
    "FORMAT_PLAIN_JSON",
    "MAX_PROVIDER_TAGS",
    "MAX_TAG_NAME_CHARS",
    "SOURCE_FORMATS",
    "content_hash",
    "decode_message",
    "detect_format",
    "looks_like_html",
    "parse_timestamp",
    "partition_date",
]

# ---------------------------------------------------------------------------- format detection

#: Keys that only ninjs uses (any version). A JSON object without ``uri`` but with one of
#: these is a ninjs story that lost its id (MISSING_URI), not an unknown format.
_NINJS_KEYS = frozenset(
    {
        "headline", "headlines", "body_text", "body_html", "body_xhtml", "body_xml", "bodies", "byline", "by",
        "located", "guid",
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


# --------------------------------------------------------------------------- public API


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
        return WS_RE.sub(" ", text).strip()

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
        return decode_newsml_g2(payload)
    if fmt == FORMAT_PLAIN_JSON:
        return decode_plain_json(payload)
    return decode_ninjs(payload, fmt)


def _load(value: bytes | None, max_bytes: int) -> tuple[str, Any]:
    """(source_format, parsed payload): the newsItem element for G2, else the JSON object."""
    data = _message_bytes(value, max_bytes)
    if _is_xml(data):
        return FORMAT_NEWSML_G2, load_news_item(data)
    obj = unwrap_envelope(_load_json_object(data))
    return _json_format(obj), obj


def unwrap_envelope(obj: dict) -> dict:
    """The story inside a well-known API envelope; a feed list of several items is refused clearly.

    The AP Media API answers ``/content`` with ``{"api_version", "data": {"item": {...}}}``; the item
    is ninjs-shaped, but its ``uri`` carries per-request query tokens (``qt``, ``et``), so the id is
    the uri without its query. Feed and search responses (``{"items" or "item": [...], "total"}``)
    hold many items and are not one message's story.
    """
    data = obj.get("data")
    if "api_version" in obj and isinstance(data, dict) and isinstance(data.get("item"), dict):
        item = dict(data["item"])
        uri = item.get("uri")
        if isinstance(uri, str) and "?" in uri:
            item["uri"] = uri.split("?", 1)[0]
        return item
    paged = any(key in obj for key in ("total", "offset", "limit", "next_page", "totalResults"))
    story_keys = any(key in obj for key in ("uri", "guid", "id", "headline", "body"))
    for key in ("items", "item", "data"):
        listed = obj.get(key)
        if isinstance(listed, list) and (paged or (key != "data" and not story_keys)):
            raise DecodeError(
                ErrorCode.UNKNOWN_FORMAT,
                f"message value: a feed list ({key}[] of {len(listed)} items), not one story; send one item per message",
            )
    return obj


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


def _is_xml(data: bytes) -> bool:
    return strip_bom_ws(data)[:1] == b"<"


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
        raise DecodeError(ErrorCode.NOT_AN_OBJECT, f"message value: top level is {json_type(obj)}, not object")
    return obj


def _json_format(obj: dict) -> str:
    if "uri" in obj:
        return _ninjs_flavour(obj)
    if "id" in obj and any(key in obj for key in _PLAIN_MARKERS):
        return FORMAT_PLAIN_JSON
    if "guid" in obj or any(key in _NINJS_KEYS or key in _NINJS3_KEYS for key in obj):
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
        masked = SURROGATE_RE.sub("?", URI_FORBIDDEN_RE.sub("?", key[:16]))
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
    declared = first_present(
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
