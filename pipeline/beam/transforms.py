"""Beam PTransforms: thin wrappers around the pure core. Every step has a stable label."""
from __future__ import annotations

import pickle
from datetime import date, datetime
from pathlib import Path
from typing import Iterable, Iterator, Optional

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from pipeline.news import clean, decode, rows
from pipeline.io.lake.durable import write_parquet_durable
from pipeline.io.lake.layout import rows_to_table
from pipeline.io.lake.names import data_file_name, partition_dir_name, staged_state_file
from pipeline.io.lake.layout import open_lake
from pipeline.news.model import Article, DecodeError, ErrorCode, KafkaRecord
from pipeline.io.lake.state import SEEN_VERSIONS_CACHE, content_key, delta_table, version_key

DEAD = "dead_letters"
ENTITY_BLOCKS = "entity_blocks"  # one element per article: its entity rows keyed by its file (file_block)
STATE_DELTA = "state_delta"
NAMESPACE = "newswire"
# Rows of one partition that share a file; bounds file size in large backfill batches.
FILE_OFFSET_SPAN = 250_000


def internal_error(record: KafkaRecord, stage: str, err: Exception) -> pvalue.TaggedOutput:
    return pvalue.TaggedOutput(
        DEAD, rows.dead_letter(record, stage, ErrorCode.INTERNAL, f"{type(err).__name__}: {err}")
    )


class _DecodeFn(beam.DoFn):
    """Bytes -> (record, decoded Article, validated partition date), or a dead letter."""

    def __init__(self, max_message_bytes: int, ingested_at: datetime) -> None:
        self.max_message_bytes = max_message_bytes
        self.ingested_at = ingested_at

    def process(self, record: KafkaRecord) -> Iterator:
        try:
            article = decode.decode_message(record.value, max_bytes=self.max_message_bytes)
            day = decode.partition_date(article, self.ingested_at)
        except DecodeError as err:
            yield pvalue.TaggedOutput(DEAD, rows.dead_letter(record, "decode", err.code, err.message))
            return
        except Exception as err:  # a decoder bug must not stop the job; the message is kept
            yield internal_error(record, "decode", err)
            return
        yield record, article, day


class DecodeArticles(beam.PTransform):
    """Outputs: main = (KafkaRecord, Article, date), ``dead_letters`` = :class:`DeadLetter`."""

    def __init__(self, max_message_bytes: int, ingested_at: datetime) -> None:
        super().__init__()
        self.fn = _DecodeFn(max_message_bytes, ingested_at)

    def expand(self, records):
        return records | "DecodeMessages" >> beam.ParDo(self.fn).with_outputs(DEAD, main="articles")


class _CleanFn(beam.DoFn):
    """(record, Article, date) -> cleaned article row, or a dead letter."""

    def __init__(self, ingested_at: datetime, batch_id: int) -> None:
        self.ingested_at = ingested_at
        self.batch_id = batch_id

    def process(self, element: tuple[KafkaRecord, Article, date]) -> Iterator:
        record, article, day = element
        try:
            cleaned = clean.clean_article(article)
        except DecodeError as err:
            yield pvalue.TaggedOutput(DEAD, rows.dead_letter(record, "clean", err.code, err.message))
            return
        except Exception as err:
            yield internal_error(record, "clean", err)
            return
        yield rows.article_row(cleaned, record, day, self.ingested_at, self.batch_id)


class CleanArticles(beam.PTransform):
    """Outputs: main = article rows, ``dead_letters`` = :class:`DeadLetter`."""

    def __init__(self, ingested_at: datetime, batch_id: int) -> None:
        super().__init__()
        self.fn = _CleanFn(ingested_at, batch_id)

    def expand(self, decoded):
        return decoded | "CleanBodies" >> beam.ParDo(self.fn).with_outputs(DEAD, main="articles")


class _KeepFirstDeliveryFn(beam.DoFn):
    """Keeps one row per (story_id, version): the first delivery ever, across batches and restarts.

    The state it checks against is the committed state as of ``base_batch``, loaded from the lake
    once per worker process and advanced incrementally between batches.
    """

    def __init__(self, lake_root: str, base_batch: int) -> None:
        self.lake_root = lake_root
        self.base_batch = base_batch
        self.redeliveries = Metrics.counter(NAMESPACE, "redeliveries_skipped")
        self.conflicts = Metrics.counter(NAMESPACE, "version_conflicts")

    def setup(self) -> None:
        self.seen = SEEN_VERSIONS_CACHE.get(open_lake(self.lake_root), self.base_batch, None)

    def process(self, element: tuple[bytes, Iterable[dict]]) -> Iterator:
        key, deliveries = element
        ordered = sorted(deliveries, key=rows.delivery_order)
        first = ordered[0]
        first_content = content_key(first["content_hash"])
        for other in ordered[1:]:
            self.redeliveries.inc()
            if other["content_hash"] != first["content_hash"]:
                self.conflicts.inc()
        earlier = self.seen.get(key)
        if earlier is not None:
            self.redeliveries.inc()
            if earlier != first_content:
                self.conflicts.inc()
            return
        yield first
        yield pvalue.TaggedOutput(STATE_DELTA, (key, first_content))


class DropRedeliveries(beam.PTransform):
    """Outputs: main = first deliveries, ``state_delta`` = new (version key, content key) pairs."""

    def __init__(self, lake_root: str, base_batch: int) -> None:
        super().__init__()
        self.lake_root = lake_root
        self.base_batch = base_batch

    def expand(self, articles):
        return (
            articles
            | "KeyByVersion" >> beam.Map(lambda row: (version_key(row["story_id"], row["version"]), row))
            | "GroupByVersion" >> beam.GroupByKey()
            | "KeepFirstDelivery"
            >> beam.ParDo(_KeepFirstDeliveryFn(self.lake_root, self.base_batch)).with_outputs(STATE_DELTA, main="rows")
        )


def file_key(row: dict) -> tuple[str, str, int, int]:
    """(date, topic, partition, offset span) groups rows into one deterministic file."""
    return (row["_date"].isoformat(), row["topic"], row["partition"], row["offset"] // FILE_OFFSET_SPAN)


FileKey = tuple[str, str, int, int]


def keyed_stored_row(row: dict) -> tuple[FileKey, bytes]:
    """(file key, the stored row pickled whole) for :class:`_WriteFileFn`.

    One pickle per row instead of the default coder's walk over its fields, which pickles every
    date and datetime value on its own; the routing-only ``_`` keys are not carried to the writer.
    """
    return pickled_block(file_block(row, [rows.stored(row)]))


def file_block(routing_row: dict, stored_rows: list[dict]) -> tuple[FileKey, list[dict]]:
    """(file key of ``routing_row``, ``stored_rows``): rows bound for that row's file.

    An article's entity rows (70 on average) travel as one block keyed by the article: per-element
    costs of the runner (emission, encoding, grouping) are paid once per article, not per mention.
    """
    return file_key(routing_row), stored_rows


def pickled_block(block: tuple[FileKey, list[dict]]) -> tuple[FileKey, bytes]:
    """A :func:`file_block` with its rows pickled together, as :class:`_WriteFileFn` reads them."""
    key, stored_rows = block
    return key, pickle.dumps(stored_rows, protocol=pickle.HIGHEST_PROTOCOL)


class _WriteFileFn(beam.DoFn):
    """Writes one staged Parquet file per group; emits the relative path and row count."""

    def __init__(self, staging_dir: str, table: str) -> None:
        self.staging_dir = staging_dir
        self.table = table

    def process(self, element: tuple[tuple, Iterable[bytes]]) -> Iterator[tuple[str, int]]:
        (day_iso, topic, partition, _span), group = element
        day = date.fromisoformat(day_iso)
        ordered = sorted((row for block in group for row in pickle.loads(block)), key=rows.file_order)
        name = data_file_name(topic, partition, ordered[0]["offset"])
        rel = Path(self.table) / partition_dir_name(day) / name
        write_parquet_durable(rows_to_table(ordered, self.table), Path(self.staging_dir) / rel)
        yield str(rel), len(ordered)


class WriteTableFiles(beam.PTransform):
    """Group rows by destination file and write them into the batch's staging folder.

    ``blocks=True`` takes :func:`file_block` elements (rows already keyed by their file) instead of rows.
    """

    def __init__(self, staging_dir: str, table: str, blocks: bool = False) -> None:
        super().__init__()
        self.staging_dir = staging_dir
        self.table = table
        self.blocks = blocks

    def expand(self, table_rows):
        return (
            table_rows
            | "KeyByFile" >> beam.Map(pickled_block if self.blocks else keyed_stored_row)
            | "GroupByFile" >> beam.GroupByKey()
            | "WriteParquet" >> beam.ParDo(_WriteFileFn(self.staging_dir, self.table))
        )


class WriteStateDelta(beam.PTransform):
    """Collects the batch's new state entries into one staged delta file (none when empty)."""

    def __init__(self, staging_dir: str, batch_id: int, section: str) -> None:
        super().__init__()
        self.staging_dir = staging_dir
        self.batch_id = batch_id
        self.section = section

    def expand(self, pairs):
        staging_dir, batch_id, section = self.staging_dir, self.batch_id, self.section

        def write(all_pairs: list) -> Optional[str]:
            if not all_pairs:
                return None
            rel = staged_state_file(section)
            write_parquet_durable(delta_table(all_pairs, batch_id), Path(staging_dir) / rel)
            return str(rel)

        return pairs | "CollectDelta" >> beam.combiners.ToList() | "WriteDelta" >> beam.Map(write)

