"""Arrow schemas of the lake tables. ``schemas/*.arrow.json`` mirror these; a contract test keeps them equal."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

SCHEMAS_DIR = Path(__file__).resolve().parents[1] / "schemas"  # pipeline/schemas (schemas/ links to it)

UTC_MICROS = pa.timestamp("us", tz="UTC")

ENTITY_SUMMARY = pa.struct(
    [
        pa.field("canonical", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("count", pa.int32(), nullable=False),
    ]
)

ARTICLES = pa.schema(
    [
        pa.field("story_id", pa.string(), nullable=False),
        pa.field("version", pa.int64(), nullable=False),
        pa.field("provider", pa.string()),
        pa.field("headline", pa.string()),
        pa.field("body_text", pa.string()),
        pa.field("paragraphs", pa.int32(), nullable=False),
        pa.field("word_count", pa.int32(), nullable=False),
        pa.field("captions", pa.list_(pa.string()), nullable=False),
        pa.field("dateline", pa.string()),
        pa.field("byline", pa.string()),
        pa.field("located", pa.string()),
        pa.field("language", pa.string()),
        pa.field("url", pa.string()),
        pa.field("first_created", UTC_MICROS),
        pa.field("version_created", UTC_MICROS),
        pa.field("pubstatus", pa.string(), nullable=False),
        pa.field("embargoed_until", UTC_MICROS),
        pa.field("entities", pa.list_(ENTITY_SUMMARY), nullable=False),
        pa.field("cluster_id", pa.string(), nullable=False),
        pa.field("duplicate_of", pa.string()),
        pa.field("dup_kind", pa.string(), nullable=False),
        pa.field("similarity", pa.float64()),
        pa.field("content_hash", pa.string(), nullable=False),
        pa.field("source_format", pa.string(), nullable=False),
        pa.field("topic", pa.string(), nullable=False),
        pa.field("partition", pa.int32(), nullable=False),
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("kafka_timestamp", UTC_MICROS),
        pa.field("ingested_at", UTC_MICROS, nullable=False),
        pa.field("batch_id", pa.int64(), nullable=False),
    ]
)

# One row per entity mention (source "model", with body offsets) or provider tag (source
# "provider", no offsets), partitioned like the article it belongs to.
ENTITIES = pa.schema(
    [
        pa.field("story_id", pa.string(), nullable=False),
        pa.field("version", pa.int64(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("canonical", pa.string(), nullable=False),
        pa.field("start_char", pa.int32()),
        pa.field("end_char", pa.int32()),
        pa.field("source", pa.string(), nullable=False),
        pa.field("topic", pa.string(), nullable=False),
        pa.field("partition", pa.int32(), nullable=False),
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("batch_id", pa.int64(), nullable=False),
    ]
)

# Syndication clusters merge when a story bridges two of them; rows already written keep the old
# cluster id, so the views map every retired id to its current one through these rows.
CLUSTER_REMAPS = pa.schema(
    [
        pa.field("cluster_from", pa.string(), nullable=False),
        pa.field("cluster_to", pa.string(), nullable=False),
        pa.field("batch_id", pa.int64(), nullable=False),
        pa.field("remapped_at", UTC_MICROS, nullable=False),
    ]
)

DEAD_LETTERS = pa.schema(
    [
        pa.field("topic", pa.string(), nullable=False),
        pa.field("partition", pa.int32(), nullable=False),
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("key", pa.binary()),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("error_code", pa.string(), nullable=False),
        pa.field("error", pa.string(), nullable=False),
        pa.field("raw", pa.binary()),
        pa.field("kafka_timestamp", UTC_MICROS),
        pa.field("received_at", UTC_MICROS, nullable=False),
        pa.field("batch_id", pa.int64(), nullable=False),
    ]
)

# State of exact deduplication: one row per (story_id, version) ever written.
SEEN_VERSIONS = pa.schema(
    [
        pa.field("version_key", pa.binary(16), nullable=False),
        pa.field("content_key", pa.binary(8), nullable=False),
        pa.field("batch_id", pa.int64(), nullable=False),
    ]
)

# State of syndication (section ``cluster_aliases``): retired cluster id -> the cluster it belongs to
# now (flattened), so a later merge can move them too. A batch writes the same rows here and to its
# cluster_remaps file (which adds remapped_at for the views); cluster ranks live in the signature index.
CLUSTER_ALIASES = pa.schema(
    [
        pa.field("cluster_from", pa.string(), nullable=False),
        pa.field("cluster_to", pa.string(), nullable=False),
        pa.field("batch_id", pa.int64(), nullable=False),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "articles": ARTICLES,
    "entities": ENTITIES,
    "cluster_remaps": CLUSTER_REMAPS,
    "dead_letters": DEAD_LETTERS,
}


def view_schema(table: str) -> pa.Schema:
    """A table's columns as the views see them: the stored schema plus the ``date`` partition column."""
    return TABLES[table].append(pa.field("date", pa.date32()))


def schema_to_json(schema: pa.Schema) -> list[dict]:
    """The documented, diffable form of a schema used in ``schemas/``."""
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]


def load_contract(table: str) -> list[dict]:
    """The schema of ``table`` as written in ``schemas/{table}.arrow.json``."""
    return json.loads((SCHEMAS_DIR / f"{table}.arrow.json").read_text(encoding="utf-8"))["fields"]
