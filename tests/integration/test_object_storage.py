"""The lake's storage layer against real S3 (moto server) and GCS (emulator) endpoints on loopback.

Covers what the commit protocol needs from an object store: single-upload writes, listings, the
commit log and state store on top of them, and that readers only see committed batches.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest
from tests.support.object_stores import gcs_bucket, gcs_endpoint, object_lake_uri, s3_bucket, s3_endpoint  # noqa: F401 (fixtures)

from pipeline.io.lake.commitlog import BatchCommit, BatchPlan, CommitLog
from pipeline.io.lake.durable import write_parquet_durable
from pipeline.io.lake.layout import publish_staged, rows_to_table
from pipeline.io.lake.names import data_file_name, partition_dir_name
from pipeline.io.lake.layout import open_lake
from pipeline.io.lake.storage import ObjectStorage
from pipeline.ops.metrics import JobMetrics
from pipeline.core.planning import OffsetRange
from pipeline.io.lake.query import connect
from pipeline.io.lake.state import SEEN_VERSIONS_STATE, StateStore, delta_table

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
TOPIC = "wire"


def dead_letters(offsets: list[tuple[int, int]], batch_id: int = 0) -> pa.Table:
    rows = [
        {"topic": TOPIC, "partition": p, "offset": o, "key": None, "stage": "decode", "error_code": "invalid_json",
         "error": "x", "raw": b"{", "kafka_timestamp": T0, "received_at": T0, "batch_id": batch_id}
        for p, o in offsets
    ]
    return rows_to_table(rows, "dead_letters")


def dead_letter_file(partition: int, first_offset: int) -> Path:
    return Path("dead_letters") / partition_dir_name(T0.date()) / data_file_name(TOPIC, partition, first_offset)


def test_objects_round_trip_and_list(object_lake_uri):
    layout = open_lake(object_lake_uri)
    layout.ensure()
    storage = layout.storage
    assert isinstance(storage, ObjectStorage) and layout.location == object_lake_uri
    commits = layout.meta / "commits"
    assert storage.list_names(commits) == []
    assert not storage.exists(commits / "x.json")

    storage.write_text(commits / "a.json", '{"ünï": 1}')
    storage.write_text(commits / "b.json", "{}")
    storage.write_text(commits / "a.json", '{"ünï": 2}')  # a replay overwrites the same name
    assert sorted(storage.list_names(commits)) == ["a.json", "b.json"]
    assert storage.exists(commits / "a.json")
    assert storage.read_text(commits / "a.json") == '{"ünï": 2}'

    table = pa.table({"k": pa.array([b"x" * 16], pa.binary(16)), "n": [7]})
    storage.write_table(table, layout.meta / "state" / "s" / "snapshot-1.parquet")
    assert storage.read_table(layout.meta / "state" / "s" / "snapshot-1.parquet").equals(table)

    storage.delete(commits / "b.json")
    storage.delete(commits / "never-written.json")
    assert storage.list_names(commits) == ["a.json"]
    with pytest.raises(ValueError, match="outside the lake"):
        storage.read_text(layout.root.parent / "outside.json")


def test_a_missing_bucket_is_reported_before_the_job_starts(object_lake_uri):
    scheme = object_lake_uri.split("://")[0]
    layout = open_lake(f"{scheme}://newswire-no-such-bucket/lake")
    with pytest.raises(FileNotFoundError, match="newswire-no-such-bucket"):
        layout.ensure()


def test_staged_files_are_uploaded_under_their_final_names(object_lake_uri):
    layout = open_lake(object_lake_uri)
    staging = layout.staging_dir(0)
    assert not str(staging).startswith(str(layout.root)), "staging must be a local folder"
    rel = [dead_letter_file(p, 10 * p) for p in (0, 1)]
    for p, r in enumerate(rel):
        write_parquet_durable(dead_letters([(p, 10 * p)]), staging / r)
    sizes = [(staging / r).stat().st_size for r in rel]

    publish_staged(layout, staging, rel)
    assert not any(p.is_file() for p in staging.rglob("*")), "uploaded files stay in staging"
    listed = layout.storage.list_files(layout.table_dir("dead_letters"))
    assert listed == [str(layout.root / r) for r in rel]
    assert [layout.storage.fs.get_file_info(p).size for p in listed] == sizes
    publish_staged(layout, staging, rel)  # a second publish of the same batch finds them uploaded

    with pytest.raises(FileNotFoundError, match="vanished"):
        publish_staged(layout, staging, [dead_letter_file(2, 0)])


def test_commit_log_and_state_on_an_object_store(object_lake_uri, tmp_path):
    layout = open_lake(object_lake_uri)
    layout.ensure()
    log = CommitLog(layout)
    assert log.batch_ids() == [] and log.pending_plan() is None and log.latest_commit() is None
    for b in range(3):
        plan = BatchPlan(b, (OffsetRange(TOPIC, 0, 10 * b, 10 * b + 10),), T0, b - 1)
        log.write_plan(plan)
        assert log.pending_plan() == plan
        commit = BatchCommit(b, {(TOPIC, 0): 10 * b + 10}, (), {}, {"rows": b}, T0)
        log.write_commit(commit)
        assert log.pending_plan() is None
    assert log.batch_ids() == [0, 1, 2] and log.latest_commit().end_offsets == {(TOPIC, 0): 30}
    log.prune(2)
    assert log.batch_ids() == [2] and log.plan_ids() == [2]

    store = StateStore(layout)
    for b in range(3):
        staged = tmp_path / f"delta-{b}.parquet"
        write_parquet_durable(delta_table([(bytes([b]) * 16, bytes([b]) * 8)], b), staged)
        layout.storage.publish([(staged, store.delta_path(SEEN_VERSIONS_STATE.name, b))])
    seen = store.load(SEEN_VERSIONS_STATE, 2, [0, 1, 2])
    assert sorted(seen.entries) == [bytes([b]) * 16 for b in range(3)]
    store.write_section_snapshot(SEEN_VERSIONS_STATE, store.load(SEEN_VERSIONS_STATE, 1, [0, 1]), 1)
    store.prune_section(SEEN_VERSIONS_STATE.name, 1)
    assert sorted(layout.storage.list_names(store.section_dir(SEEN_VERSIONS_STATE.name))) == [
        f"delta-{2:020d}.parquet", f"snapshot-{1:020d}.parquet"
    ]
    assert store.load(SEEN_VERSIONS_STATE, 2, [2]).entries == seen.entries
    assert len(store.load(SEEN_VERSIONS_STATE, 1, [])) == 2  # a batch never committed contributes nothing

    metrics = JobMetrics(object_lake_uri)  # what --metrics-port reports about the state in the bucket
    metrics._update_state_sizes()
    assert metrics.registry.get_sample_value("newswire_state_rows", {"section": SEEN_VERSIONS_STATE.name}) == 3
    objects = layout.storage.file_stats(store.section_dir(SEEN_VERSIONS_STATE.name))
    assert metrics.registry.get_sample_value("newswire_state_bytes", {"section": SEEN_VERSIONS_STATE.name}) == sum(
        size for _name, size, _mtime in objects) > 0


def test_views_show_committed_batches_only(object_lake_uri):
    layout = open_lake(object_lake_uri)
    layout.ensure()
    log = CommitLog(layout)

    def upload(rel: Path, table: pa.Table) -> None:
        layout.storage.write_table(table, layout.root / rel)

    def count() -> int:
        return connect(object_lake_uri).execute("SELECT count(*) FROM dead_letters").fetchone()[0]

    upload(dead_letter_file(0, 0), dead_letters([(0, 0), (0, 3)], batch_id=0))
    assert count() == 0  # no commit yet: nothing is visible
    log.write_commit(BatchCommit(0, {(TOPIC, 0): 10}, (), {}, {}, T0))
    assert count() == 2

    # Batch 1 is half uploaded: one of its files is in the bucket, its commit entry is not.
    upload(dead_letter_file(0, 10), dead_letters([(0, 10)], batch_id=1))
    upload(dead_letter_file(1, 0), dead_letters([(1, 0)], batch_id=1))
    before_commit = connect(object_lake_uri)
    assert count() == 2
    log.write_commit(BatchCommit(1, {(TOPIC, 0): 11, (TOPIC, 1): 1}, (), {}, {}, T0))
    assert count() == 4
    assert before_commit.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 2  # as of its commit

    rows = connect(object_lake_uri).execute(
        'SELECT "partition", "offset", raw, date FROM dead_letters ORDER BY 1, 2').fetchall()
    assert rows == [(0, 0, b"{", T0.date()), (0, 3, b"{", T0.date()), (0, 10, b"{", T0.date()), (1, 0, b"{", T0.date())]
    assert connect(object_lake_uri).execute("SELECT count(*) FROM articles").fetchone()[0] == 0
