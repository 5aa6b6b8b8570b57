"""The one place where the batch's Beam graph is assembled."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

import apache_beam as beam

from pipeline.news import rows
from pipeline.beam.kafka_read import ReadKafkaRangeFn
from pipeline.core.planning import OffsetRange
from pipeline.io.lake.state import SEEN_VERSIONS_SECTION
from pipeline.io.ner import DEFAULT_MODEL
from pipeline.beam.syndication import AnnotateEntities, AssignClusters, PrefetchParagraphsFn
from pipeline.beam.transforms import (
    CleanArticles,
    DecodeArticles,
    DropRedeliveries,
    WriteStateDelta,
    WriteTableFiles,
)


DEFAULT_LOOKBACK = timedelta(days=7)  # syndication clusters and the entity cache span this window


@dataclass(frozen=True)
class BatchSpec:
    """Everything a batch's graph depends on; all of it comes from the write-ahead log entry."""

    batch_id: int
    base_batch: int
    ranges: tuple[OffsetRange, ...]
    planned_at: datetime
    bootstrap_servers: str
    lake_root: str
    staging_dir: str
    max_message_bytes: int
    spacy_model: str = DEFAULT_MODEL
    ner_processes: int = 1
    lookback: timedelta = DEFAULT_LOOKBACK
    # The runner executes the whole batch in this process (DirectRunner): NER may start early.
    prefetch_ner: bool = False
    kafka_config_file: Optional[str] = None  # a path; the secrets in it are read by each worker


def build_pipeline(p: beam.Pipeline, spec: BatchSpec) -> dict:
    """Kafka ranges -> decode -> clean -> drop redeliveries -> clusters -> entities -> staged Parquet + state.

    Returns the terminal PCollections (written files per table, the state delta file) so tests can
    assert on them.
    """
    ranges = p | "PlannedRanges" >> beam.Create(
        [(r.topic, r.partition, r.start, r.stop) for r in spec.ranges if r.size > 0]
    )
    records = ranges | "ReadKafka" >> beam.ParDo(
        ReadKafkaRangeFn(spec.bootstrap_servers, kafka_config_file=spec.kafka_config_file)
    )
    return build_processing(records, spec)


def build_processing(records: beam.PCollection, spec: BatchSpec) -> dict:
    """Everything after the Kafka read; split out so transform tests can feed records directly."""
    decoded = records | "Decode" >> DecodeArticles(spec.max_message_bytes, spec.planned_at)
    cleaned = decoded.articles | "Clean" >> CleanArticles(spec.planned_at, spec.batch_id)
    if spec.prefetch_ner and spec.ner_processes > 1:
        cleaned.articles | "PrefetchNer" >> beam.ParDo(
            PrefetchParagraphsFn(spec.lake_root, spec.base_batch, spec.spacy_model, spec.ner_processes, spec.batch_id)
        )
    unique = cleaned.articles | "Deduplicate" >> DropRedeliveries(spec.lake_root, spec.base_batch)
    clustered = unique.rows | "Syndication" >> AssignClusters(
        spec.lake_root, spec.base_batch, spec.planned_at, spec.lookback, spec.batch_id, spec.staging_dir
    )
    annotated = clustered | "Entities" >> AnnotateEntities(
        spec.lake_root, spec.base_batch, spec.staging_dir, spec.batch_id, spec.spacy_model, spec.ner_processes
    )
    article_files = annotated.articles | "WriteArticles" >> WriteTableFiles(spec.staging_dir, "articles")
    entity_files = annotated.entity_blocks | "WriteEntities" >> WriteTableFiles(spec.staging_dir, "entities", blocks=True)
    dead_letters = (
        decoded.dead_letters,
        cleaned.dead_letters,
        annotated.dead_letters,
    ) | "CollectDeadLetters" >> beam.Flatten()
    dead_rows = dead_letters | "DeadLetterRows" >> beam.Map(rows.dead_letter_row, spec.planned_at, spec.batch_id)
    dead_files = dead_rows | "WriteDeadLetters" >> WriteTableFiles(spec.staging_dir, "dead_letters")
    delta = unique.state_delta | "WriteStateDelta" >> WriteStateDelta(
        spec.staging_dir, spec.batch_id, SEEN_VERSIONS_SECTION
    )
    return {"articles": article_files, "entities": entity_files, "dead_letters": dead_files, "state_delta": delta}
