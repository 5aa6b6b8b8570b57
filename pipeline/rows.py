"""Turning decoded stories and failures into lake rows: pure functions shared by every runner."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Optional

from pipeline.model import Article, DeadLetter, KafkaRecord

MAX_ERROR_CHARS = 500


def _ms_to_time(ms: Optional[int]) -> Optional[datetime]:
    if ms is None or ms < 0:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def kafka_time(record: KafkaRecord) -> Optional[datetime]:
    return _ms_to_time(record.timestamp_ms)


def article_row(article: Article, record: KafkaRecord, day: date, ingested_at: datetime, batch_id: int) -> dict:
    """One ``articles`` row; ``_date`` is the validated partition date (not stored in the file)."""
    return {
        "story_id": article.story_id,
        "version": article.version,
        "provider": article.provider,
        "headline": article.headline,
        "body_text": article.body_text,
        "byline": article.byline,
        "located": article.located,
        "language": article.language,
        "first_created": article.first_created,
        "version_created": article.version_created,
        "pubstatus": article.pubstatus,
        "content_hash": article.content_hash,
        "source_format": article.source_format,
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "kafka_timestamp": kafka_time(record),
        "ingested_at": ingested_at,
        "batch_id": batch_id,
        "_date": day,
    }


def dead_letter(record: KafkaRecord, stage: str, code: str, message: str) -> DeadLetter:
    """A dead letter keeps the original bytes so the message can be replayed after a fix."""
    return DeadLetter(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        stage=stage,
        error_code=code,
        error=message[:MAX_ERROR_CHARS],
        raw=record.value,
        kafka_timestamp_ms=record.timestamp_ms,
    )


def dead_letter_row(letter: DeadLetter, received_at: datetime, batch_id: int) -> dict:
    """One ``dead_letters`` row, partitioned by the batch's (validated) receipt date."""
    return {
        "topic": letter.topic,
        "partition": letter.partition,
        "offset": letter.offset,
        "key": letter.key,
        "stage": letter.stage,
        "error_code": letter.error_code,
        "error": letter.error,
        "raw": letter.raw,
        "kafka_timestamp": _ms_to_time(letter.kafka_timestamp_ms),
        "received_at": received_at,
        "batch_id": batch_id,
        "_date": received_at.astimezone(timezone.utc).date(),
    }


def delivery_order(row: dict) -> tuple:
    """Which of several deliveries of one story version is kept: the earliest in the log."""
    return (row["topic"], row["partition"], row["offset"])
