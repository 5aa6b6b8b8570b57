"""Unit tests for pipeline.io.lake.commitlog: plan/commit JSON, pending plans, pruning, atomic writes."""
from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import pytest

import pipeline.io.lake.durable as lake
from pipeline.core.contract import BatchSettings
from pipeline.io.lake.commitlog import FORMAT_VERSION, BatchCommit, BatchPlan, CommitLog, LogEntryExists
from pipeline.io.lake.layout import LakeLayout
from pipeline.core.planning import OffsetRange

UTC = timezone.utc
T0 = datetime(2024, 11, 17, 12, 30, 15, 123456, tzinfo=UTC)


def make_plan(batch_id: int, base: int | None = None) -> BatchPlan:
    return BatchPlan(
        batch_id=batch_id,
        ranges=(OffsetRange("news", 0, 10 * batch_id, 10 * batch_id + 10), OffsetRange("wire", 2, 0, 3)),
        planned_at=T0 + timedelta(seconds=batch_id),
        base_batch=batch_id - 1 if base is None else base,
    )


def make_commit(batch_id: int) -> BatchCommit:
    return BatchCommit(
        batch_id=batch_id,
        end_offsets={("news", 0): 10 * batch_id + 10, ("wire", 2): 3},
        files=(f"articles/date=2024-11-17/part-news-00000-{10 * batch_id:020d}.parquet",),
        state_deltas={"seen_versions": f"state/seen_versions/delta-{batch_id:020d}.parquet"},
        stats={"records": 13, "rows": 12, "replayed": False},
        committed_at=T0 + timedelta(seconds=batch_id, milliseconds=500),
    )


@pytest.fixture
def log(tmp_path) -> CommitLog:
    layout = LakeLayout(tmp_path / "lake")
    layout.ensure()
    return CommitLog(layout)


def all_files(log: CommitLog) -> list[str]:
    return sorted(p.name for d in (log.plans_dir, log.commits_dir) if d.exists() for p in d.iterdir())


# -- JSON ----------------------------------------------------------------------------------


def test_batch_plan_json_round_trip():
    plan = make_plan(7)
    back = BatchPlan.from_json(plan.to_json())
    assert back == plan
    assert back.planned_at.tzinfo is not None and back.planned_at == T0 + timedelta(seconds=7)
    assert isinstance(back.ranges, tuple)
    obj = json.loads(plan.to_json())
    assert obj["format"] == FORMAT_VERSION
    assert obj["batch_id"] == 7 and obj["base_batch"] == 6
    assert obj["ranges"][0] == {"topic": "news", "partition": 0, "start": 70, "stop": 80}


def test_batch_plan_to_json_is_deterministic():
    assert make_plan(3).to_json() == make_plan(3).to_json()


def test_batch_plan_without_ranges_and_first_batch():
    plan = BatchPlan(batch_id=0, ranges=(), planned_at=T0, base_batch=-1)
    back = BatchPlan.from_json(plan.to_json())
    assert back == plan and back.record_count == 0


def test_batch_plan_record_count():
    assert make_plan(1).record_count == 13


def test_batch_commit_json_round_trip():
    commit = make_commit(4)
    back = BatchCommit.from_json(commit.to_json())
    assert back == commit
    assert back.end_offsets == {("news", 0): 50, ("wire", 2): 3}
    assert isinstance(back.files, tuple)
    obj = json.loads(commit.to_json())
    assert obj["format"] == FORMAT_VERSION
    assert obj["end_offsets"] == [
        {"topic": "news", "partition": 0, "offset": 50},
        {"topic": "wire", "partition": 2, "offset": 3},
    ]


def test_batch_commit_end_offsets_are_written_sorted():
    commit = BatchCommit(
        batch_id=1,
        end_offsets={("z", 1): 1, ("a", 10): 2, ("a", 2): 3},
        files=(),
        state_deltas={},
        committed_at=T0,
    )
    obj = json.loads(commit.to_json())
    assert [(e["topic"], e["partition"]) for e in obj["end_offsets"]] == [("a", 2), ("a", 10), ("z", 1)]
    assert commit.to_json() == commit.to_json()


def test_batch_commit_without_committed_at_gets_a_time_when_serialized():
    commit = BatchCommit(batch_id=0, end_offsets={}, files=(), state_deltas={})
    before = datetime.now(UTC)
    back = BatchCommit.from_json(commit.to_json())
    assert back.committed_at is not None
    assert before - timedelta(seconds=5) <= back.committed_at <= datetime.now(UTC) + timedelta(seconds=5)
    assert (back.batch_id, back.end_offsets, back.files, back.state_deltas, back.stats) == (0, {}, (), {}, {})


def test_batch_commit_from_minimal_json():
    text = json.dumps({"batch_id": 2, "end_offsets": [{"topic": "t", "partition": "1", "offset": "9"}], "files": []})
    back = BatchCommit.from_json(text)
    assert back.end_offsets == {("t", 1): 9}
    assert back.state_deltas == {} and back.stats == {} and back.committed_at is None


# -- the logs ------------------------------------------------------------------------------


def test_empty_log(log):
    assert log.batch_ids() == []
    assert log.plan_ids() == []
    assert log.latest_commit() is None
    assert log.pending_plan() is None


def test_empty_log_without_directories(tmp_path):
    log = CommitLog(LakeLayout(tmp_path / "missing"))
    assert log.batch_ids() == [] and log.plan_ids() == []
    assert log.latest_commit() is None and log.pending_plan() is None


def test_write_and_read_plan_and_commit(log):
    log.write_plan(make_plan(0))
    log.write_commit(make_commit(0))
    assert log.plan(0) == make_plan(0)
    assert log.commit(0) == make_commit(0)
    assert (log.plans_dir / "00000000000000000000.json").exists()
    assert (log.commits_dir / "00000000000000000000.json").exists()


def test_plan_without_commit_is_pending(log):
    log.write_plan(make_plan(0))
    assert log.pending_plan() == make_plan(0)


def test_plan_with_commit_is_not_pending(log):
    log.write_plan(make_plan(0))
    log.write_commit(make_commit(0))
    assert log.pending_plan() is None


def test_pending_plan_is_the_one_after_the_last_commit(log):
    for b in range(3):
        log.write_plan(make_plan(b))
        log.write_commit(make_commit(b))
    log.write_plan(make_plan(3))
    assert log.pending_plan() == make_plan(3)
    log.write_commit(make_commit(3))
    assert log.pending_plan() is None


def test_latest_commit_and_ids_are_numeric_order(log):
    for b in (0, 2, 10, 9, 100):
        log.write_plan(make_plan(b))
        log.write_commit(make_commit(b))
    assert log.batch_ids() == [0, 2, 9, 10, 100]
    assert log.plan_ids() == [0, 2, 9, 10, 100]
    assert log.latest_commit() == make_commit(100)


def test_foreign_files_are_ignored(log):
    log.write_commit(make_commit(1))
    (log.commits_dir / "notes.txt").write_text("x")
    (log.commits_dir / "5.json").write_text("{}")  # not zero-padded
    (log.commits_dir / ".00000000000000000009.json.tmp").write_text("{partial")
    (log.commits_dir / "00000000000000000009.json.tmp").write_text("{partial")
    assert log.batch_ids() == [1]
    assert log.latest_commit() == make_commit(1)


def test_plan_and_commit_entries_are_write_once(log):
    """A second writer planning or committing the same batch is refused; the first entry stays."""
    log.write_plan(make_plan(0))
    replacement = BatchPlan(batch_id=0, ranges=(OffsetRange("x", 0, 0, 1),), planned_at=T0, base_batch=-1)
    with pytest.raises(LogEntryExists, match="plan entry of batch 0 exists already"):
        log.write_plan(replacement)
    assert log.plan(0) == make_plan(0)
    log.write_commit(make_commit(0))
    with pytest.raises(LogEntryExists, match="commit entry of batch 0"):
        log.write_commit(BatchCommit(batch_id=0, end_offsets={}, files=(), state_deltas={}, committed_at=T0))
    assert log.commit(0) == make_commit(0)
    assert all_files(log) == ["00000000000000000000.json"] * 2


def test_plan_keeps_its_batch_settings(log):
    settings = BatchSettings("en_core_web_md", timedelta(days=2, hours=3), 4096)
    plan = BatchPlan(batch_id=3, ranges=(), planned_at=T0, base_batch=2, settings=settings)
    log.write_plan(plan)
    assert log.plan(3) == plan and log.plan(3).settings == settings
    legacy = json.loads(plan.to_json())
    del legacy["settings"]
    assert BatchPlan.from_json(json.dumps(legacy)).settings is None  # plans written before pinning


def test_prune_drops_entries_before_keep_from(log):
    for b in range(6):
        log.write_plan(make_plan(b))
        log.write_commit(make_commit(b))
    log.write_plan(make_plan(6))
    log.prune(3)
    assert log.plan_ids() == [3, 4, 5, 6]
    assert log.batch_ids() == [3, 4, 5]
    assert log.latest_commit() == make_commit(5)
    assert log.pending_plan() == make_plan(6)
    log.prune(3)  # idempotent
    assert log.batch_ids() == [3, 4, 5]


def test_prune_on_empty_log(log):
    log.prune(10)
    assert log.batch_ids() == [] and log.plan_ids() == []


# -- atomic writes -------------------------------------------------------------------------


def test_writes_leave_no_temporary_files(log):
    for b in range(3):
        log.write_plan(make_plan(b))
        log.write_commit(make_commit(b))
    with pytest.raises(LogEntryExists):
        log.write_commit(make_commit(2))  # a refused second write leaves no temporary file either
    for d in (log.plans_dir, log.commits_dir):
        names = sorted(p.name for p in d.iterdir())
        assert names == [f"{b:020d}.json" for b in range(3)]
        assert not [n for n in names if "tmp" in n or n.startswith(".")]


def test_write_creates_missing_directories(tmp_path):
    log = CommitLog(LakeLayout(tmp_path / "fresh"))
    log.write_plan(make_plan(0))
    log.write_commit(make_commit(0))
    assert log.plan(0) == make_plan(0) and log.commit(0) == make_commit(0)


def test_failed_write_keeps_previous_file_intact(log, monkeypatch):
    log.write_commit(make_commit(0))
    original = (log.commits_dir / f"{0:020d}.json").read_text()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(lake.os, "replace", broken_replace)
    monkeypatch.setattr(lake.os, "link", broken_replace)  # log entries are created by a hard link
    with pytest.raises(OSError):
        log.write_commit(make_commit(1))
    with pytest.raises(OSError):
        log.write_commit(BatchCommit(batch_id=0, end_offsets={}, files=(), state_deltas={}, committed_at=T0))
    monkeypatch.setattr(lake.os, "replace", os.replace)
    monkeypatch.setattr(lake.os, "link", os.link)
    # the commit that failed is not visible; the existing one is untouched
    assert log.batch_ids() == [0]
    assert (log.commits_dir / f"{0:020d}.json").read_text() == original
    assert log.latest_commit() == make_commit(0)


def test_written_files_are_complete_json(log):
    log.write_plan(make_plan(5))
    log.write_commit(make_commit(5))
    json.loads((log.plans_dir / f"{5:020d}.json").read_text(encoding="utf-8"))
    json.loads((log.commits_dir / f"{5:020d}.json").read_text(encoding="utf-8"))
