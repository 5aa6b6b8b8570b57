"""Turning decoded stories and failures into lake rows: pure functions shared by every runner."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Iterable, Optional

from pipeline.news.dedup import paragraph_key
from pipeline.news.entities import EntityMention
from pipeline.news.model import Article, DeadLetter, KafkaRecord
from pipeline.core.redaction import redact_text

MAX_ERROR_CHARS = 500


def _ms_to_time(ms: Optional[int]) -> Optional[datetime]:
    if ms is None or ms < 0:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def kafka_time(record: KafkaRecord) -> Optional[datetime]:
    return _ms_to_time(record.timestamp_ms)


def article_row(article: Article, record: KafkaRecord, day: date, ingested_at: datetime, batch_id: int) -> dict:
    """One ``articles`` row of a cleaned article.

    Keys starting with ``_`` route the row through the graph and are not stored: ``_date`` is the
    validated partition date, ``_paragraphs`` (with their ``_paragraph_keys``, computed once here)
    and ``_provider_tags`` feed entity extraction.
    ``entities`` is filled once entities are extracted, the cluster fields once clusters are assigned
    (until then every story is the original of its own cluster).
    """
    return {
        "story_id": article.story_id,
        "version": article.version,
        "provider": article.provider,
        "headline": article.headline,
        "body_text": article.body_text,
        "paragraphs": len(article.paragraphs),
        "word_count": article.word_count,
        "captions": list(article.captions),
        "dateline": article.dateline,
        "byline": article.byline,
        "located": article.located,
        "language": article.language,
        "url": article.url,
        "first_created": article.first_created,
        "version_created": article.version_created,
        "pubstatus": article.pubstatus,
        "embargoed_until": article.embargoed_until,
        "entities": [],
        "cluster_id": article.story_id,
        "duplicate_of": None,
        "dup_kind": "original",
        "similarity": None,
        "content_hash": article.content_hash,
        "source_format": article.source_format,
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "kafka_timestamp": kafka_time(record),
        "ingested_at": ingested_at,
        "batch_id": batch_id,
        "_date": day,
        "_paragraphs": tuple(article.paragraphs),
        "_paragraph_keys": tuple(map(paragraph_key, article.paragraphs)),
        "_provider_tags": tuple(article.provider_tags),
    }


def stored(row: dict) -> dict:
    """The row without its routing-only ``_`` keys, as written to Parquet."""
    return {k: v for k, v in row.items() if k[0] != "_"}


def entity_rows(article: dict, mentions: Iterable[EntityMention]) -> list[dict]:
    """``entities`` rows of one article row, as stored: they go to the article's file (partition
    date, topic, partition, offset span), so they carry no routing keys of their own."""
    return [
        {
            "story_id": article["story_id"],
            "version": article["version"],
            "text": m.text,
            "label": m.label,
            "canonical": m.canonical,
            "start_char": m.start_char,
            "end_char": m.end_char,
            "source": m.source,
            "topic": article["topic"],
            "partition": article["partition"],
            "offset": article["offset"],
            "batch_id": article["batch_id"],
        }
        for m in mentions
    ]


def dead_letter(record: KafkaRecord, stage: str, code: str, message: str) -> DeadLetter:
    """A dead letter keeps the original bytes so the message can be replayed after a fix."""
    return DeadLetter(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        stage=stage,
        error_code=code,
        error=redact_text(message)[:MAX_ERROR_CHARS],  # error texts are stored; secrets must not be
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


def file_order(row: dict) -> tuple:
    """Deterministic row order inside a file (entity rows share their article's offset)."""
    start = row.get("start_char")
    return (row["topic"], row["partition"], row["offset"], row.get("source", ""),
            -1 if start is None else start, row.get("canonical", ""), row.get("label", ""), row.get("text", ""))
