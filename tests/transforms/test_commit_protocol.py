"""The commit protocol's crash points: a crash anywhere replays the batch with the same result.

Kafka is replaced by an in-memory log (the protocol is what is under test); the batch itself runs
the real Beam processing graph on the DirectRunner and writes real Parquet files.
"""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.io.lake.commitlog import CommitLog
from tests.support.memory_kafka import TOPIC, MemoryLog, fixed_clock, memory_runner, story
from pipeline.job.driver import JobConfig, MicroBatchDriver, SimulatedCrash
from pipeline.io.lake.layout import LakeLayout, dataset_files
from pipeline.io.lake.state import SEEN_VERSIONS_CACHE

def fill(log: MemoryLog) -> None:
    for i in range(12):
        log.append(i % 2, story(i))
    log.append(0, story(3))  # redelivery in the same batch window
    log.append(1, b"not json")
    log.append(1, story(5, version=2))


def lake_snapshot(root: Path) -> dict:
    layout = LakeLayout(root)
    result = {}
    for table in ("articles", "dead_letters"):
        for f in dataset_files(layout, table):
            rows = pq.read_table(f).to_pylist()
            result[str(f.relative_to(root))] = sorted(
                (r["topic"], r["partition"], r["offset"], r.get("story_id"), r["batch_id"]) for r in rows
            )
    return result


def run_to_end(root: Path, log: MemoryLog, crash_at: str | None = None, crash_batch: int = 0) -> None:
    calls = {"n": 0}

    def hook(point: str) -> None:
        if point == crash_at:
            if calls["n"] == crash_batch:
                calls["n"] += 1
                raise SimulatedCrash(point)
            calls["n"] += 1

    config = JobConfig(bootstrap_servers="unused:9092", topics=[TOPIC], lake=root, max_records_per_batch=6)
    clock = fixed_clock()
    driver = MicroBatchDriver(config, log, memory_runner(log), crash_hook=hook, clock=clock)
    with pytest.raises(SimulatedCrash) if crash_at else _null():
        while driver.run_once() is not None:
            pass
    SEEN_VERSIONS_CACHE.clear()  # a crash loses the process, and its memory
    restarted = MicroBatchDriver(config, log, memory_runner(log), clock=clock)
    while restarted.run_once() is not None:
        pass


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    SEEN_VERSIONS_CACHE.clear()
    root = tmp_path_factory.mktemp("reference")
    log = MemoryLog()
    fill(log)
    run_to_end(root, log)
    return {"files": lake_snapshot(root), "commits": CommitLog(LakeLayout(root)).batch_ids()}


def test_reference_run_has_one_row_per_story_version(reference):
    story_rows = [row for f, rows in reference["files"].items() if f.startswith("articles") for row in rows]
    pairs = {row[3] for row in story_rows}
    assert len(story_rows) == 13  # 12 stories + version 2 of story 5; the redelivery of story 3 adds nothing
    assert len(pairs) == 12
    dead = [row for f, rows in reference["files"].items() if f.startswith("dead_letters") for row in rows]
    assert [(d[1], d[2]) for d in dead] == [(1, 6)]


@pytest.mark.parametrize("point", MicroBatchDriver.CRASH_POINTS)
@pytest.mark.parametrize("batch", [0, 1])
def test_crash_at_any_point_replays_to_identical_lake(tmp_path, reference, point, batch):
    SEEN_VERSIONS_CACHE.clear()
    log = MemoryLog()
    fill(log)
    run_to_end(tmp_path, log, crash_at=point, crash_batch=batch)
    assert lake_snapshot(tmp_path) == reference["files"]
    assert CommitLog(LakeLayout(tmp_path)).batch_ids() == reference["commits"]
    assert not any((tmp_path / "articles").rglob("*.tmp"))
    staging = LakeLayout(tmp_path).meta / "staging"
    assert not any(staging.rglob("*.parquet"))


def test_restart_after_clean_end_plans_nothing(tmp_path):
    SEEN_VERSIONS_CACHE.clear()
    log = MemoryLog()
    fill(log)
    run_to_end(tmp_path, log)
    before = CommitLog(LakeLayout(tmp_path)).batch_ids()
    config = JobConfig(bootstrap_servers="unused:9092", topics=[TOPIC], lake=tmp_path)
    driver = MicroBatchDriver(config, log, memory_runner(log))
    assert driver.run_once() is None
    assert CommitLog(LakeLayout(tmp_path)).batch_ids() == before
    assert log.group_commits[-1] == {(TOPIC, 0): 7, (TOPIC, 1): 8}


def test_late_redelivery_in_a_later_batch_after_restart_adds_no_row(tmp_path):
    SEEN_VERSIONS_CACHE.clear()
    log = MemoryLog()
    fill(log)
    run_to_end(tmp_path, log)
    rows_before = sum(len(r) for f, r in lake_snapshot(tmp_path).items() if f.startswith("articles"))
    SEEN_VERSIONS_CACHE.clear()
    log.append(0, story(1))
    log.append(1, json.dumps(json.loads(story(2)), indent=3).encode())  # same content, other layout
    log.append(1, story(99))
    config = JobConfig(bootstrap_servers="unused:9092", topics=[TOPIC], lake=tmp_path)
    driver = MicroBatchDriver(config, log, memory_runner(log))
    result = driver.run_once()
    assert result is not None and result.commit.stats["rows"] == 1
    rows_after = sum(len(r) for f, r in lake_snapshot(tmp_path).items() if f.startswith("articles"))
    assert rows_after == rows_before + 1
