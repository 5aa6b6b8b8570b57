"""The one place where the batch's Beam graph is assembled."""
from __future__ import annotations

import apache_beam as beam

from pipeline.news import rows
from pipeline.beam.kafka_read import ReadKafkaRanges
from pipeline.core.contract import BatchSpec
from pipeline.io.lake.state import SEEN_VERSIONS_SECTION
from pipeline.beam.syndication import AnnotateEntities, AssignClusters, PrefetchNer
from pipeline.beam.transforms import (
    CleanArticles,
    DecodeArticles,
    DropRedeliveries,
    WriteStateDelta,
    WriteTableFiles,
)


def build_pipeline(p: beam.Pipeline, spec: BatchSpec) -> dict:
    """Kafka ranges -> decode -> clean -> drop redeliveries -> clusters -> entities -> staged Parquet + state.

    Returns the terminal PCollections (written files per table, the state delta file) so tests can
    assert on them.
    """
    ranges = p | "PlannedRanges" >> beam.Create(
        [(r.topic, r.partition, r.start, r.stop) for r in spec.ranges if r.size > 0]
    )
    records = ranges | "ReadKafka" >> ReadKafkaRanges(spec.bootstrap_servers, spec.kafka_config_file)
    return build_processing(records, spec)


def build_processing(records: beam.PCollection, spec: BatchSpec) -> dict:
    """Everything after the Kafka read; split out so transform tests can feed records directly."""
    decoded = records | "Decode" >> DecodeArticles(spec.max_message_bytes, spec.planned_at)
    cleaned = decoded.articles | "Clean" >> CleanArticles(spec.planned_at, spec.batch_id)
    if spec.prefetch_ner and spec.ner_processes > 1:
        cleaned.articles | "PrefetchNer" >> PrefetchNer(
            spec.lake_root, spec.base_batch, spec.spacy_model, spec.ner_processes, spec.batch_id
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
