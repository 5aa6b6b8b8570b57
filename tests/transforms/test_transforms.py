"""Beam transform tests: the batch graph on the in-process DirectRunner, fed with ``beam.Create``.

No Kafka: ``KafkaRecord``s are created directly and handed to the transforms (or to
``build_processing``, the part of the graph after the Kafka read).
"""
from __future__ import annotations

import dataclasses
import json
import pickle
from datetime import date, datetime, timezone
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to, is_empty

from pipeline.news import clean, decode, rows
from pipeline.io.lake.commitlog import BatchCommit, CommitLog
from pipeline.beam.graph import build_pipeline, build_processing
from pipeline.core.contract import BatchSpec
from pipeline.io.lake.durable import write_parquet_durable
from pipeline.io.lake.layout import LakeLayout, staged_files
from pipeline.io.lake.names import data_file_name
from pipeline.news.model import ErrorCode, KafkaRecord
from pipeline.core.planning import OffsetRange
from pipeline.news.schema import ARTICLES, DEAD_LETTERS
from pipeline.news.schema import ENTITIES as ENTITIES_SCHEMA
from pipeline.io.lake.state import (
    SEEN_VERSIONS_CACHE,
    SEEN_VERSIONS_SECTION,
    StateStore,
    content_key,
    delta_table,
    version_key,
)
from pipeline.beam.transforms import (
    DEAD,
    NAMESPACE,
    STATE_DELTA,
    CleanArticles,
    DecodeArticles,
    DropRedeliveries,
    WriteTableFiles,
    file_block,
    keyed_stored_row,
    pickled_block,
)

UTC = timezone.utc
TOPIC = "wire"
PLANNED_AT = datetime(2026, 11, 25, 6, 30, tzinfo=UTC)
MAX_BYTES = 64 * 1024
BATCH = 7
TS_MS = 1_795_000_000_000  # 2026-11-18T...Z, a plausible broker timestamp


@pytest.fixture(autouse=True)
def fresh_state_cache():
    """The seen-versions cache is process-wide; every test starts (and leaves) it empty."""
    SEEN_VERSIONS_CACHE.clear()
    yield
    SEEN_VERSIONS_CACHE.clear()


# --------------------------------------------------------------------------- helpers


def ninjs(story: str, version: int = 1, *, headline: str | None = None, body: str | None = None,
          firstcreated: str | None = "2026-11-23T08:00:00Z", **extra) -> bytes:
    obj = {
        "uri": story,
        "type": "text",
        "version": str(version),
        "versioncreated": "2026-11-24T09:15:00Z",
        "pubstatus": "usable",
        "language": "en",
        "headline": headline if headline is not None else f"Headline of {story} v{version}",
        "body_text": body if body is not None else f"Body of {story}.\n\nSecond paragraph.",
    }
    if firstcreated is not None:
        obj["firstcreated"] = firstcreated
    obj.update(extra)
    return json.dumps(obj).encode("utf-8")


def record(offset: int, value: bytes | None, partition: int = 0, topic: str = TOPIC,
           key: bytes | None = b"k", timestamp_ms: int | None = TS_MS) -> KafkaRecord:
    return KafkaRecord(topic=topic, partition=partition, offset=offset, key=key, value=value,
                       timestamp_ms=timestamp_ms)


class Decoded:
    """The Decode + Clean steps' outputs, addressed like a tagged ParDo result."""

    def __init__(self, articles, dead_letters) -> None:
        self.articles = articles
        self.dead_letters = dead_letters

    def __getitem__(self, tag: str):
        return {"articles": self.articles, DEAD: self.dead_letters}[tag]


def decode_and_clean(records) -> Decoded:
    decoded = records | "Decode" >> DecodeArticles(MAX_BYTES, PLANNED_AT)
    cleaned = decoded.articles | "Clean" >> CleanArticles(PLANNED_AT, BATCH)
    return Decoded(cleaned.articles, (decoded.dead_letters, cleaned.dead_letters) | "AllDead" >> beam.Flatten())


def article_row(rec: KafkaRecord, batch_id: int = BATCH) -> dict:
    """The row Decode + Clean make of a valid record (computed with the pure core)."""
    article = clean.clean_article(decode.decode_message(rec.value, max_bytes=MAX_BYTES))
    day = decode.partition_date(article, PLANNED_AT)
    return rows.article_row(article, rec, day, PLANNED_AT, batch_id)


def delivery(row: dict) -> tuple:
    return (row["story_id"], row["version"], row["topic"], row["partition"], row["offset"])


def spec_for(tmp_path: Path, *, batch_id: int = BATCH, base_batch: int = -1,
             ranges: tuple[OffsetRange, ...] = ()) -> BatchSpec:
    return BatchSpec(
        batch_id=batch_id,
        base_batch=base_batch,
        ranges=ranges,
        planned_at=PLANNED_AT,
        bootstrap_servers="127.0.0.1:9",  # never contacted
        lake_root=str(tmp_path / "lake"),
        staging_dir=str(tmp_path / "staging"),
        max_message_bytes=MAX_BYTES,
    )


def write_prior_state(lake: Path, pairs: list[tuple[bytes, bytes]], batch_id: int = 0,
                      committed: bool = True) -> Path:
    """A lake whose batch ``batch_id`` added ``pairs`` to seen_versions (committed or not)."""
    layout = LakeLayout(lake)
    layout.ensure()
    path = StateStore(layout).delta_path(SEEN_VERSIONS_SECTION, batch_id)
    write_parquet_durable(delta_table(pairs, batch_id), path)
    if committed:
        CommitLog(layout).write_commit(
            BatchCommit(
                batch_id=batch_id,
                end_offsets={},
                files=(),
                state_deltas={SEEN_VERSIONS_SECTION: str(path.relative_to(layout.meta))},
            )
        )
    return path


def counter_values(result) -> dict[str, int]:
    queried = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    values: dict[str, int] = {}
    for c in queried["counters"]:
        value = c.committed if c.committed is not None else c.attempted
        values[c.key.metric.name] = values.get(c.key.metric.name, 0) + (value or 0)
    return values


def read_rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


# --------------------------------------------------------------------------- DecodeArticles


def test_decode_articles_good_records_become_rows(tmp_path):
    good = [
        record(10, ninjs("urn:a", 1), partition=0),
        record(11, ninjs("urn:a", 2), partition=0),
        record(4, ninjs("urn:b", 3, firstcreated="2026-11-22T23:59:59-02:00"), partition=2),
        # no firstcreated: the partition date falls back to versioncreated
        record(5, ninjs("urn:c", 1, firstcreated=None), partition=2, timestamp_ms=None),
    ]
    with BeamTestPipeline() as p:
        decoded = decode_and_clean(p | beam.Create(good))
        projected = decoded.articles | "Project" >> beam.Map(
            lambda r: (
                r["story_id"], r["version"], r["_date"], type(r["_date"]).__name__, r["topic"],
                r["partition"], r["offset"], r["kafka_timestamp"], r["ingested_at"], r["batch_id"],
                r["pubstatus"], r["source_format"],
            )
        )
        ts = datetime.fromtimestamp(TS_MS / 1000, tz=UTC)
        assert_that(
            projected,
            equal_to(
                [
                    ("urn:a", 1, date(2026, 11, 23), "date", TOPIC, 0, 10, ts, PLANNED_AT, BATCH, "usable", "ninjs"),
                    ("urn:a", 2, date(2026, 11, 23), "date", TOPIC, 0, 11, ts, PLANNED_AT, BATCH, "usable", "ninjs"),
                    # 23:59:59-02:00 is 01:59:59 UTC the next day: partition dates are UTC dates
                    ("urn:b", 3, date(2026, 11, 23), "date", TOPIC, 2, 4, ts, PLANNED_AT, BATCH, "usable", "ninjs"),
                    ("urn:c", 1, date(2026, 11, 24), "date", TOPIC, 2, 5, None, PLANNED_AT, BATCH, "usable", "ninjs"),
                ]
            ),
            label="ArticleRows",
        )
        # the full rows equal what the pure core produces for the same records
        assert_that(
            decoded.articles | "Delivery" >> beam.Map(lambda r: (delivery(r), sorted(r.items()))),
            equal_to([(delivery(article_row(r)), sorted(article_row(r).items())) for r in good]),
            label="FullRows",
        )
        assert_that(decoded.dead_letters, is_empty(), label="NoDeadLetters")


BAD = [
    (record(20, b"\xff\xfe{\"uri\": 1}"), ErrorCode.INVALID_UTF8),
    (record(21, b'{"uri": "urn:x", "headline": "cut off'), ErrorCode.INVALID_JSON),
    (record(22, b"[1, 2, 3]"), ErrorCode.NOT_AN_OBJECT),
    (record(23, b""), ErrorCode.EMPTY_MESSAGE),
    (record(24, None, key=None, timestamp_ms=None), ErrorCode.EMPTY_MESSAGE),
    (record(25, json.dumps({"headline": "no uri"}).encode()), ErrorCode.MISSING_URI),
    (record(26, ninjs("urn:old", firstcreated="1970-01-01T00:00:00Z")), ErrorCode.DATE_OUT_OF_RANGE),
    (record(27, ninjs("urn:big", body="x" * (MAX_BYTES + 1))), ErrorCode.TOO_LARGE),
    (record(28, ninjs("urn:v", version=1, pubstatus="deleted")), ErrorCode.INVALID_PUBSTATUS),
]


def test_decode_articles_bad_records_become_dead_letters_with_original_bytes():
    with BeamTestPipeline() as p:
        decoded = decode_and_clean(p | beam.Create([r for r, _ in BAD]))
        letters = decoded[DEAD] | beam.Map(
            lambda d: (d.topic, d.partition, d.offset, d.key, d.stage, d.error_code, d.raw, d.kafka_timestamp_ms)
        )
        assert_that(
            letters,
            equal_to([(r.topic, r.partition, r.offset, r.key, "decode", code, r.value, r.timestamp_ms) for r, code in BAD]),
        )
        assert_that(
            decoded.dead_letters | "ErrorText" >> beam.Map(lambda d: bool(d.error) and len(d.error) <= rows.MAX_ERROR_CHARS),
            equal_to([True] * len(BAD)),
            label="ErrorTextBounded",
        )
        assert_that(decoded.articles, is_empty(), label="NoArticles")


def test_decode_articles_splits_mixed_input_into_both_outputs():
    good = [record(0, ninjs("urn:a")), record(2, ninjs("urn:b", 2), partition=1)]
    bad = [record(1, b"not json at all"), record(3, b"\xc3\x28", partition=1)]
    with BeamTestPipeline() as p:
        decoded = decode_and_clean(p | beam.Create([good[0], bad[0], good[1], bad[1]]))
        assert_that(
            decoded.articles | "Keys" >> beam.Map(lambda r: (r["story_id"], r["version"], r["partition"], r["offset"])),
            equal_to([("urn:a", 1, 0, 0), ("urn:b", 2, 1, 2)]),
            label="Articles",
        )
        assert_that(
            decoded.dead_letters | "Codes" >> beam.Map(lambda d: (d.partition, d.offset, d.error_code, d.raw)),
            equal_to([(0, 1, ErrorCode.INVALID_JSON, b"not json at all"), (1, 3, ErrorCode.INVALID_UTF8, b"\xc3\x28")]),
            label="DeadLetters",
        )


def test_decode_articles_dead_letters_unexpected_decoder_failure(monkeypatch):
    """A bug in the decoder must not stop the job: the message becomes an internal_error dead letter."""

    def broken(article, ingested_at):
        raise RuntimeError("boom")

    monkeypatch.setattr(decode, "partition_date", broken)
    rec = record(3, ninjs("urn:a"))
    with BeamTestPipeline() as p:
        decoded = decode_and_clean(p | beam.Create([rec]))
        assert_that(
            decoded.dead_letters | beam.Map(lambda d: (d.stage, d.error_code, d.error, d.raw)),
            equal_to([("decode", ErrorCode.INTERNAL, "RuntimeError: boom", rec.value)]),
        )
        assert_that(decoded.articles, is_empty(), label="NoArticles")


# --------------------------------------------------------------------------- DropRedeliveries


def test_drop_redeliveries_keeps_earliest_delivery_per_version_in_empty_lake(tmp_path):
    lake = tmp_path / "lake"
    a1 = [
        record(9, ninjs("urn:a"), partition=1),
        record(7, ninjs("urn:a"), partition=1),
        record(3, ninjs("urn:a"), partition=2),
        record(50, ninjs("urn:a"), partition=0, topic="wire-b"),  # later topic name: never first
    ]
    a2 = [record(8, ninjs("urn:a", 2), partition=1)]
    b1 = [
        record(12, ninjs("urn:b"), partition=0),
        # (topic, partition, offset) order: "wire" < "wire-a" (a prefix sorts first), so a lower
        # offset in another topic does not win
        record(2, ninjs("urn:b"), partition=0, topic="wire-a"),
    ]
    all_rows = [article_row(r) for r in a1 + a2 + b1]
    with BeamTestPipeline() as p:
        out = p | beam.Create(all_rows) | DropRedeliveries(str(lake), -1)
        assert_that(
            out.rows | "Kept" >> beam.Map(delivery),
            equal_to([
                ("urn:a", 1, TOPIC, 1, 7),
                ("urn:a", 2, TOPIC, 1, 8),
                ("urn:b", 1, TOPIC, 0, 12),
            ]),
            label="Rows",
        )
        assert_that(
            out[STATE_DELTA],
            equal_to([
                (version_key("urn:a", 1), content_key(all_rows[0]["content_hash"])),
                (version_key("urn:a", 2), content_key(all_rows[4]["content_hash"])),
                (version_key("urn:b", 1), content_key(all_rows[5]["content_hash"])),
            ]),
            label="Delta",
        )


def test_drop_redeliveries_keeps_whole_first_row_even_if_later_copy_differs(tmp_path):
    """A conflicting redelivery (same version, other content) never replaces the first delivery."""
    first = record(1, ninjs("urn:a", headline="Original headline"))
    later = record(2, ninjs("urn:a", headline="Edited without a version bump"))
    with BeamTestPipeline() as p:
        out = p | beam.Create([article_row(later), article_row(first)]) | DropRedeliveries(str(tmp_path / "lake"), -1)
        assert_that(
            out.rows | beam.Map(lambda r: (r["offset"], r["headline"], r["content_hash"])),
            equal_to([(1, "Original headline", article_row(first)["content_hash"])]),
            label="Rows",
        )
        assert_that(
            out.state_delta,
            equal_to([(version_key("urn:a", 1), content_key(article_row(first)["content_hash"]))]),
            label="Delta",
        )


def test_drop_redeliveries_against_committed_state(tmp_path):
    lake = tmp_path / "lake"
    seen_a1 = article_row(record(0, ninjs("urn:a")))
    seen_c1 = article_row(record(1, ninjs("urn:c", headline="What batch 0 stored")))
    write_prior_state(
        lake,
        [
            (version_key("urn:a", 1), content_key(seen_a1["content_hash"])),
            (version_key("urn:c", 1), content_key(seen_c1["content_hash"])),
        ],
    )
    batch = [
        article_row(record(100, ninjs("urn:a"))),  # seen in batch 0: dropped
        article_row(record(101, ninjs("urn:a"))),  # ... and its in-batch copy too
        article_row(record(102, ninjs("urn:a", 2))),  # new version of a known story: kept
        article_row(record(103, ninjs("urn:new"))),  # new story: kept
        article_row(record(104, ninjs("urn:c", headline="Different text"))),  # seen, conflicting: dropped
    ]
    with BeamTestPipeline() as p:
        out = p | beam.Create(batch) | DropRedeliveries(str(lake), 0)
        assert_that(
            out.rows | beam.Map(delivery),
            equal_to([("urn:a", 2, TOPIC, 0, 102), ("urn:new", 1, TOPIC, 0, 103)]),
            label="Rows",
        )
        assert_that(
            out.state_delta,
            equal_to([
                (version_key("urn:a", 2), content_key(batch[2]["content_hash"])),
                (version_key("urn:new", 1), content_key(batch[3]["content_hash"])),
            ]),
            label="Delta",
        )


def test_drop_redeliveries_ignores_state_of_uncommitted_batch(tmp_path):
    """A delta file without a commit (a batch that crashed before committing) is not state."""
    lake = tmp_path / "lake"
    write_prior_state(lake, [(version_key("urn:a", 1), b"\x00" * 8)], batch_id=0)
    b1 = article_row(record(5, ninjs("urn:b")))
    write_prior_state(lake, [(version_key("urn:b", 1), content_key(b1["content_hash"]))], batch_id=1, committed=False)
    with BeamTestPipeline() as p:
        out = p | beam.Create([article_row(record(4, ninjs("urn:a"))), b1]) | DropRedeliveries(str(lake), 1)
        assert_that(out.rows | beam.Map(delivery), equal_to([("urn:b", 1, TOPIC, 0, 5)]))


def test_drop_redeliveries_counters(tmp_path):
    """redeliveries_skipped counts every dropped copy; version_conflicts those whose content differs."""
    lake = tmp_path / "lake"
    seen = article_row(record(0, ninjs("urn:seen")))
    write_prior_state(
        lake,
        [
            (version_key("urn:seen", 1), content_key(seen["content_hash"])),
            (version_key("urn:killed", 1), b"\x01" * 8),  # stored content differs from what arrives
        ],
    )
    batch = [
        article_row(record(10, ninjs("urn:x"))),
        article_row(record(11, ninjs("urn:x"))),  # exact in-batch copy: 1 redelivery
        article_row(record(12, ninjs("urn:x"))),  # another: 1 redelivery
        article_row(record(13, ninjs("urn:y"))),
        article_row(record(14, ninjs("urn:y", headline="changed"))),  # in-batch conflict: 1 + 1 conflict
        article_row(record(15, ninjs("urn:seen"))),  # in state, same content: 1
        article_row(record(16, ninjs("urn:killed"))),  # in state, other content: 1 + 1 conflict
        article_row(record(17, ninjs("urn:fresh"))),
    ]
    p = beam.Pipeline()
    out = p | beam.Create(batch) | DropRedeliveries(str(lake), 0)
    assert_that(
        out.rows | beam.Map(lambda r: (r["story_id"], r["offset"])),
        equal_to([("urn:x", 10), ("urn:y", 13), ("urn:fresh", 17)]),
    )
    result = p.run()
    result.wait_until_finish()
    values = counter_values(result)
    assert values.get("redeliveries_skipped") == 5, values
    assert values.get("version_conflicts") == 2, values


# --------------------------------------------------------------------------- WriteTableFiles


def test_write_table_files_one_file_per_date_topic_partition(tmp_path):
    staging = tmp_path / "staging"
    recs = [
        # partition 0, 2026-11-23 (first offsets out of order on purpose)
        record(31, ninjs("urn:a", 1), partition=0),
        record(30, ninjs("urn:b", 1), partition=0),
        record(35, ninjs("urn:c", 1), partition=0),
        # partition 0, 2026-11-24
        record(33, ninjs("urn:d", 1, firstcreated="2026-11-24T00:00:00Z"), partition=0),
        # partition 1, 2026-11-23
        record(5, ninjs("urn:e", 1), partition=1),
        # partition 1, 2026-11-24
        record(9, ninjs("urn:f", 1, firstcreated="2026-11-24T23:59:59.999999Z"), partition=1),
        record(6, ninjs("urn:g", 1, firstcreated="2026-11-24T12:00:00Z"), partition=1),
    ]
    input_rows = [article_row(r) for r in recs]
    expected_files = {
        f"articles/date=2026-11-23/{data_file_name(TOPIC, 0, 30)}": [30, 31, 35],
        f"articles/date=2026-11-24/{data_file_name(TOPIC, 0, 33)}": [33],
        f"articles/date=2026-11-23/{data_file_name(TOPIC, 1, 5)}": [5],
        f"articles/date=2026-11-24/{data_file_name(TOPIC, 1, 6)}": [6, 9],
    }
    with BeamTestPipeline() as p:
        written = p | beam.Create(input_rows) | WriteTableFiles(str(staging), "articles")
        assert_that(written, equal_to([(path, len(offsets)) for path, offsets in expected_files.items()]))

    assert sorted(str(f) for f in staged_files(staging)) == sorted(expected_files)
    assert sorted(str(f.relative_to(staging)) for f in staging.rglob("*") if f.is_file()) == sorted(expected_files), (
        "nothing but the data files (no temporary files) is left in staging"
    )
    by_offset = {(r["partition"], r["offset"]): r for r in input_rows}
    for rel, offsets in expected_files.items():
        table = pq.read_table(staging / rel)
        assert table.schema.equals(ARTICLES), f"{rel}: {table.schema} != contract"
        assert table.column_names == ARTICLES.names  # no routing-only "_" column in the file
        got = table.to_pylist()
        assert [r["offset"] for r in got] == offsets, f"{rel} rows are not in offset order"
        partition = int(rel.split("-")[-2])
        for r in got:
            expected = rows.stored(by_offset[(partition, r["offset"])])
            assert r == expected


def test_write_table_files_splits_partition_by_offset_span(tmp_path):
    """Large backfills: rows of one partition and date more than FILE_OFFSET_SPAN apart land in two files."""
    from pipeline.beam.transforms import FILE_OFFSET_SPAN

    staging = tmp_path / "staging"
    low = article_row(record(FILE_OFFSET_SPAN - 1, ninjs("urn:a")))
    high = article_row(record(FILE_OFFSET_SPAN + 4, ninjs("urn:b")))
    with BeamTestPipeline() as p:
        written = p | beam.Create([high, low]) | WriteTableFiles(str(staging), "articles")
        assert_that(
            written,
            equal_to([
                (f"articles/date=2026-11-23/{data_file_name(TOPIC, 0, FILE_OFFSET_SPAN - 1)}", 1),
                (f"articles/date=2026-11-23/{data_file_name(TOPIC, 0, FILE_OFFSET_SPAN + 4)}", 1),
            ]),
        )


def test_write_table_files_takes_blocks_of_entity_rows(tmp_path):
    """An article's entity rows travel as one block; the file holds them all, in file order."""
    from pipeline.news.entities import EntityMention
    from pipeline.news.schema import ENTITIES

    staging = tmp_path / "staging"
    first = article_row(record(12, ninjs("urn:a")))
    second = article_row(record(10, ninjs("urn:b")))
    other_day = article_row(record(11, ninjs("urn:c", firstcreated="2026-11-24T08:00:00Z")))

    def block(article: dict, names: list[str]) -> tuple:
        mentions = [EntityMention(n, "PERSON", n, 10 * i, 10 * i + len(n), "model") for i, n in enumerate(names)]
        return file_block(article, rows.entity_rows(article, reversed(mentions)))

    blocks = [block(first, ["Joe Biden", "Volodymyr Zelensky"]), block(second, ["Ann Lee"]), block(other_day, ["Bo Li"])]
    rel = f"entities/date=2026-11-23/{data_file_name(TOPIC, 0, 10)}"
    rel_other = f"entities/date=2026-11-24/{data_file_name(TOPIC, 0, 11)}"
    with BeamTestPipeline() as p:
        written = p | beam.Create(blocks) | WriteTableFiles(str(staging), "entities", blocks=True)
        assert_that(written, equal_to([(rel, 3), (rel_other, 1)]))
    table = pq.read_table(staging / rel)
    assert table.schema.equals(ENTITIES)
    assert [(r["offset"], r["text"]) for r in table.to_pylist()] == [
        (10, "Ann Lee"), (12, "Joe Biden"), (12, "Volodymyr Zelensky")
    ]


def test_entity_rows_are_stored_rows_keyed_by_their_articles_file():
    from pipeline.news.entities import EntityMention

    article = article_row(record(7, ninjs("urn:a")))
    mention = EntityMention("Joe Biden", "PERSON", "Joe Biden", 0, 9, "model")
    entity_rows = rows.entity_rows(article, [mention])
    assert entity_rows == [rows.stored(row) for row in entity_rows]  # nothing routing-only left
    assert set(entity_rows[0]) == {f.name for f in ENTITIES_SCHEMA}
    key, blob = pickled_block(file_block(article, entity_rows))
    assert key == keyed_stored_row(article)[0] == ("2026-11-23", TOPIC, 0, 0)
    assert pickle.loads(blob) == entity_rows


def test_write_table_files_dead_letters_match_contract(tmp_path):
    staging = tmp_path / "staging"
    letters = [rows.dead_letter(record(o, b"\x00bad" + bytes([o])), "decode", ErrorCode.INVALID_JSON, "bad") for o in (4, 2)]
    dl_rows = [rows.dead_letter_row(d, PLANNED_AT, BATCH) for d in letters]
    rel = f"dead_letters/date=2026-11-25/{data_file_name(TOPIC, 0, 2)}"
    with BeamTestPipeline() as p:
        written = p | beam.Create(dl_rows) | WriteTableFiles(str(staging), "dead_letters")
        assert_that(written, equal_to([(rel, 2)]))
    table = pq.read_table(staging / rel)
    assert table.schema.equals(DEAD_LETTERS)
    assert [(r["offset"], r["raw"]) for r in table.to_pylist()] == [(2, b"\x00bad\x02"), (4, b"\x00bad\x04")]


# --------------------------------------------------------------------------- build_processing


def test_build_processing_end_to_end(tmp_path):
    spec = spec_for(tmp_path)
    staging = Path(spec.staging_dir)
    recs = [
        record(0, ninjs("urn:a", 1), partition=0),  # kept
        record(1, b'{"uri": "urn:broken"', partition=0),  # invalid_json
        record(2, ninjs("urn:a", 1), partition=0),  # redelivery of (0, 0)
        record(0, ninjs("urn:b", 1, firstcreated="2026-11-24T10:00:00Z"), partition=1),  # loses to (0, 3)
        record(1, ninjs("urn:a", 2), partition=1),  # new version; loses to (0, 4)
        record(2, None, partition=1, key=None),  # empty_message
        record(3, ninjs("urn:b", 1, firstcreated="2026-11-24T10:00:00Z"), partition=0),  # kept
        record(4, ninjs("urn:a", 2), partition=0),  # kept: (0, 4) sorts before (1, 1)
    ]
    with BeamTestPipeline() as p:
        out = build_processing(p | beam.Create(recs), spec)
        assert_that(
            out["articles"],
            equal_to([
                (f"articles/date=2026-11-23/{data_file_name(TOPIC, 0, 0)}", 2),
                (f"articles/date=2026-11-24/{data_file_name(TOPIC, 0, 3)}", 1),
            ]),
            label="ArticleFiles",
        )
        assert_that(
            out["dead_letters"],
            equal_to([
                (f"dead_letters/date=2026-11-25/{data_file_name(TOPIC, 0, 1)}", 1),
                (f"dead_letters/date=2026-11-25/{data_file_name(TOPIC, 1, 2)}", 1),
            ]),
            label="DeadLetterFiles",
        )
        assert_that(out["state_delta"], equal_to([f"_state/{SEEN_VERSIONS_SECTION}.parquet"]), label="Delta")

    assert [str(f) for f in staged_files(staging)] == sorted([
        f"articles/date=2026-11-23/{data_file_name(TOPIC, 0, 0)}",
        f"articles/date=2026-11-24/{data_file_name(TOPIC, 0, 3)}",
        f"dead_letters/date=2026-11-25/{data_file_name(TOPIC, 0, 1)}",
        f"dead_letters/date=2026-11-25/{data_file_name(TOPIC, 1, 2)}",
    ])
    day23 = read_rows(staging / "articles/date=2026-11-23" / data_file_name(TOPIC, 0, 0))
    assert [delivery(r) for r in day23] == [("urn:a", 1, TOPIC, 0, 0), ("urn:a", 2, TOPIC, 0, 4)]
    assert all(r["batch_id"] == BATCH and r["ingested_at"] == PLANNED_AT for r in day23)
    day24 = read_rows(staging / "articles/date=2026-11-24" / data_file_name(TOPIC, 0, 3))
    assert [delivery(r) for r in day24] == [("urn:b", 1, TOPIC, 0, 3)]

    dl0 = read_rows(staging / "dead_letters/date=2026-11-25" / data_file_name(TOPIC, 0, 1))
    assert [(r["offset"], r["stage"], r["error_code"], r["raw"], r["key"]) for r in dl0] == [
        (1, "decode", ErrorCode.INVALID_JSON, b'{"uri": "urn:broken"', b"k")
    ]
    assert dl0[0]["received_at"] == PLANNED_AT and dl0[0]["batch_id"] == BATCH
    assert dl0[0]["kafka_timestamp"] == datetime.fromtimestamp(TS_MS / 1000, tz=UTC)
    dl1 = read_rows(staging / "dead_letters/date=2026-11-25" / data_file_name(TOPIC, 1, 2))
    assert [(r["offset"], r["error_code"], r["raw"], r["key"]) for r in dl1] == [(2, ErrorCode.EMPTY_MESSAGE, None, None)]

    delta = pq.read_table(staging / "_state" / f"{SEEN_VERSIONS_SECTION}.parquet")
    assert delta.num_rows == 3
    assert set(delta.column("version_key").to_pylist()) == {
        version_key("urn:a", 1), version_key("urn:a", 2), version_key("urn:b", 1)
    }
    assert set(delta.column("batch_id").to_pylist()) == {BATCH}
    kept = {(r["story_id"], r["version"]): r for r in day23 + day24}
    assert dict(zip(delta.column("version_key").to_pylist(), delta.column("content_key").to_pylist())) == {
        version_key(s, v): content_key(r["content_hash"]) for (s, v), r in kept.items()
    }


def test_build_processing_with_only_known_versions_writes_no_articles_and_no_delta(tmp_path):
    spec = spec_for(tmp_path, base_batch=0)
    known = article_row(record(0, ninjs("urn:a")))
    write_prior_state(Path(spec.lake_root), [(version_key("urn:a", 1), content_key(known["content_hash"]))])
    with BeamTestPipeline() as p:
        out = build_processing(p | beam.Create([record(40, ninjs("urn:a")), record(41, ninjs("urn:a"))]), spec)
        assert_that(out["articles"], is_empty(), label="NoArticleFiles")
        assert_that(out["dead_letters"], is_empty(), label="NoDeadLetterFiles")
        assert_that(out["state_delta"], equal_to([None]), label="NoDelta")
    assert staged_files(Path(spec.staging_dir)) == []
    assert not (Path(spec.staging_dir) / "_state").exists()


# --------------------------------------------------------------------------- labels


EXPECTED_LABELS = {
    "PlannedRanges",
    "ReadKafka",
    "Decode",
    "Decode/DecodeMessages",
    "Clean",
    "Clean/CleanBodies",
    "Deduplicate",
    "Deduplicate/KeyByVersion",
    "Deduplicate/GroupByVersion",
    "Deduplicate/KeepFirstDelivery",
    "WriteArticles",
    "WriteArticles/KeyByFile",
    "WriteArticles/GroupByFile",
    "WriteArticles/WriteParquet",
    "Syndication",
    "Syndication/Fingerprint",
    "Syndication/KeyByBand",
    "Syndication/GroupByBand",
    "Syndication/CandidatesInBand",
    "Syndication/CollectCandidates",
    "Syndication/PackCandidates",
    "Syndication/Members",
    "Syndication/CollectMembers",
    "Syndication/Assign",
    "Syndication/WriteClusterState",
    "Syndication/PackClusters",
    "Syndication/AttachClusters",
    "Entities",
    "Entities/UncachedParagraphs",
    "Entities/GroupByParagraph",
    "Entities/NerRequests",
    "Entities/ExtractEntities",
    "Entities/ExtractEntities/RunInference",
    "Entities/FoundSpans",
    "Entities/CollectFound",
    "Entities/WriteParagraphCache",
    "Entities/PackFoundMentions",
    "Entities/AttachEntities",
    "WriteEntities",
    "WriteEntities/KeyByFile",
    "WriteEntities/GroupByFile",
    "WriteEntities/WriteParquet",
    "CollectDeadLetters",
    "DeadLetterRows",
    "WriteDeadLetters",
    "WriteDeadLetters/KeyByFile",
    "WriteDeadLetters/GroupByFile",
    "WriteDeadLetters/WriteParquet",
    "WriteStateDelta",
    "WriteStateDelta/CollectDelta",
    "WriteStateDelta/WriteDelta",
}


class _Labels(beam.pipeline.PipelineVisitor):
    def __init__(self) -> None:
        self.labels: list[str] = []

    def enter_composite_transform(self, node) -> None:
        if node.full_label:
            self.labels.append(node.full_label)

    def visit_transform(self, node) -> None:
        self.labels.append(node.full_label)


def test_step_labels_are_stable(tmp_path):
    spec = spec_for(tmp_path, ranges=(OffsetRange(TOPIC, 0, 0, 10),))
    p = beam.Pipeline()
    out = build_pipeline(p, spec)  # built, never run: nothing contacts Kafka
    assert set(out) == {"articles", "entities", "dead_letters", "state_delta"}

    visitor = _Labels()
    p.visit(visitor)
    labels = set(visitor.labels)
    assert len(visitor.labels) == len(labels), "labels must be unique"
    missing = EXPECTED_LABELS - labels
    assert not missing, f"step labels renamed or removed (breaks pipeline update compatibility): {sorted(missing)}"
    # top-level steps are exactly the documented ones
    assert {label.split("/")[0] for label in labels} == {l for l in EXPECTED_LABELS if "/" not in l}

    proto_names = {t.unique_name for t in p.to_runner_api().components.transforms.values()}
    assert EXPECTED_LABELS <= proto_names


# --------------------------------------------------------------------------- entities

SEED_TEXT = (Path(__file__).resolve().parent.parent / "fixtures" / "seed_article.txt").read_text(encoding="utf-8")


def seed_story(story: str = "urn:newsml:afp.com:20241117:seed") -> bytes:
    return ninjs(
        story,
        headline="Biden authorizes Ukraine to use long-range US missiles inside Russia",
        body=SEED_TEXT,
        person=[{"name": "Volodymyr Zelensky"}],
        subject=[{"name": "Ukraine-Russia war", "uri": "http://cv.iptc.org/newscodes/mediatopic/20000001"}],
    )


def staged_rows(staging: Path, table: str) -> list[dict]:
    return [r for f in sorted(staged_files(staging)) if f.parts[0] == table for r in read_rows(staging / f)]


def test_build_processing_extracts_entities_of_the_seed_story(tmp_path):
    spec = spec_for(tmp_path)
    staging = Path(spec.staging_dir)
    with BeamTestPipeline() as p:
        build_processing(p | beam.Create([record(0, seed_story())]), spec)

    [article] = staged_rows(staging, "articles")
    assert article["dateline"] == "Washington" and len(article["captions"]) == 2
    summary = {(e["canonical"], e["label"]): e["count"] for e in article["entities"]}
    assert summary[("Joe Biden", "PERSON")] >= 3
    assert summary[("Volodymyr Zelensky", "PERSON")] >= 2
    assert summary[("Vladimir Putin", "PERSON")] >= 2
    assert ("Ukraine-Russia war", "SUBJECT") in summary
    people = [c for c, label in summary if label == "PERSON"]
    assert not any(c.startswith(("President", "US President", "Ukrainian President")) for c in people)

    entity_rows = staged_rows(staging, "entities")
    model_rows = [e for e in entity_rows if e["source"] == "model"]
    provider_rows = [e for e in entity_rows if e["source"] == "provider"]
    assert len(model_rows) == sum(e["count"] for e in article["entities"])
    for e in model_rows:
        assert article["body_text"][e["start_char"]:e["end_char"]] == e["text"]
        assert (e["story_id"], e["version"], e["offset"]) == (article["story_id"], 1, 0)
    assert {(e["canonical"], e["label"]) for e in provider_rows} == {
        ("Volodymyr Zelensky", "PERSON"), ("Ukraine-Russia war", "SUBJECT"),
    }
    assert all(e["start_char"] is None for e in provider_rows)
    assert [e["start_char"] for e in model_rows] == sorted(e["start_char"] for e in model_rows)


def test_prefetching_ner_on_the_local_runner_writes_the_same_lake(tmp_path):
    """With the prefetch step (single-process runners), NER starts at Clean; the files are identical."""
    from pipeline.io.ner import get_engine

    staged = {}
    for prefetch in (False, True):
        spec = dataclasses.replace(
            spec_for(tmp_path / str(prefetch)), ner_processes=2, prefetch_ner=prefetch
        )
        engine = get_engine(spec.spacy_model, 2)
        hits = engine.prefetch_hits
        with BeamTestPipeline() as p:
            build_processing(p | beam.Create([record(0, seed_story()), record(1, seed_story("urn:newsml:example.com:20241117:seed-copy"))]), spec)
        staged[prefetch] = {t: staged_rows(Path(spec.staging_dir), t) for t in ("articles", "entities")}
        assert (engine.prefetch_hits > hits) == prefetch
    assert staged[True] == staged[False]
    assert len(staged[True]["articles"]) == 2 and staged[True]["entities"]


def test_only_single_process_runners_prefetch():
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.beam.runner import runs_in_this_process

    assert runs_in_this_process(PipelineOptions([]))
    assert runs_in_this_process(PipelineOptions(["--runner=DirectRunner"]))
    assert not runs_in_this_process(PipelineOptions(["--runner=DirectRunner", "--direct_running_mode=multi_processing"]))
    assert not runs_in_this_process(PipelineOptions(["--runner=PrismRunner"]))
    assert not runs_in_this_process(PipelineOptions(["--runner=DataflowRunner"]))


def test_entity_failure_keeps_the_article_and_records_a_dead_letter(tmp_path, monkeypatch):
    from pipeline.news import entities

    def broken(mentions, tags=()):
        raise RuntimeError("canonicalisation bug")

    monkeypatch.setattr(entities, "canonicalise", broken)
    spec = spec_for(tmp_path)
    staging = Path(spec.staging_dir)
    with BeamTestPipeline() as p:
        build_processing(p | beam.Create([record(5, seed_story())]), spec)
    [article] = staged_rows(staging, "articles")
    assert article["entities"] == [] and article["offset"] == 5
    assert staged_rows(staging, "entities") == []
    [letter] = staged_rows(staging, "dead_letters")
    assert (letter["stage"], letter["error_code"], letter["offset"]) == ("entities", "internal_error", 5)
    assert "canonicalisation bug" in letter["error"]
