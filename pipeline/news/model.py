"""Plain records that flow between the pure core, the Beam graph and the lake writer.

No Beam or Kafka import here: these are the vocabulary every layer shares.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional


@dataclass(frozen=True)
class KafkaRecord:
    """One message as read from Kafka, before any decoding."""

    topic: str
    partition: int
    offset: int
    key: Optional[bytes]
    value: Optional[bytes]
    timestamp_ms: Optional[int] = None


@dataclass(frozen=True)
class ProviderTag:
    """A tag the provider attached to the story (ninjs subject/person/organisation/place, G2 subject).

    Provider tags are trusted: they anchor entity canonicalisation and are kept as entities with
    source ``provider``.
    """

    kind: str  # "person" | "organisation" | "place" | "subject"
    name: str
    uri: Optional[str] = None




@dataclass(frozen=True)
class Article:
    """A story version. Timestamps are timezone-aware UTC datetimes.

    The decoder fills the raw fields (``body_raw`` with ``body_is_html``); cleaning
    (:func:`pipeline.news.clean.clean_article`) fills ``body_text``, ``paragraphs``, ``captions``,
    ``dateline``, ``word_count`` and ``content_hash``. ``byline`` and ``located`` come from
    structured input when present, else cleaning derives them from the body.
    """

    story_id: str
    version: int
    provider: Optional[str]
    headline: Optional[str]
    body_text: Optional[str]
    byline: Optional[str]
    located: Optional[str]
    language: Optional[str]
    first_created: Optional[datetime]
    version_created: Optional[datetime]
    pubstatus: str
    content_hash: str
    source_format: str = "ninjs"
    extra: dict = field(default_factory=dict, compare=False, hash=False)
    body_raw: Optional[str] = field(default=None, repr=False)
    body_is_html: bool = False
    embargoed_until: Optional[datetime] = None
    url: Optional[str] = None
    provider_tags: tuple[ProviderTag, ...] = ()
    paragraphs: tuple[str, ...] = ()
    captions: tuple[str, ...] = ()
    dateline: Optional[str] = None
    word_count: int = 0


class ErrorCode:
    """Stable dead-letter error codes (documented in README; analysts group by them)."""

    TOO_LARGE = "too_large"
    EMPTY_MESSAGE = "empty_message"
    INVALID_UTF8 = "invalid_utf8"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_URI = "missing_uri"
    INVALID_URI = "invalid_uri"
    NO_CONTENT = "no_content"
    WRONG_TYPE = "wrong_type"
    INVALID_VERSION = "invalid_version"
    INVALID_TIMESTAMP = "invalid_timestamp"
    DATE_OUT_OF_RANGE = "date_out_of_range"
    INVALID_PUBSTATUS = "invalid_pubstatus"
    UNKNOWN_FORMAT = "unknown_format"
    NOT_A_STORY = "not_a_story"  # a picture, graphic, video or audio item
    INVALID_XML = "invalid_xml"
    INTERNAL = "internal_error"


class DecodeError(ValueError):
    """Raised by pure decoders; carries a stable error code for the dead-letter table."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class DeadLetter:
    """A message that could not become a row, with everything needed to replay it."""

    topic: str
    partition: int
    offset: int
    key: Optional[bytes]
    stage: str
    error_code: str
    error: str
    raw: Optional[bytes]
    kafka_timestamp_ms: Optional[int] = None
