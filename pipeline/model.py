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
class Article:
    """A decoded story version. Timestamps are timezone-aware UTC datetimes."""

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
