"""Compaction of a real lake: the batches run the real processing graph (Kafka replaced by an in-memory
log, as in test_commit_protocol), files are real Parquet and every check reads the DuckDB views.
"""
from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from tests.support.memory_kafka import TOPIC, MemoryLog, memory_runner

from pipeline.io.lake.commitlog import CommitLog
from pipeline.io.lake.compaction import (
    FAULT_POINTS,
    CompactionOptions,
    CompactionSchedule,
    LakeBusy,
    SORT_KEYS,
    _CompactionLock,
    compact_lake,
)
from pipeline.io.lake.manifest import compacted_generation, live_files, load_manifest, manifest_path
from pipeline.job.driver import JobConfig, MicroBatchDriver, SimulatedCrash
from pipeline.io.lake.layout import LakeLayout
from pipeline.news.schema import TABLES
from pipeline.io.lake.state import STATE_CACHE
from tests.support.lake_views import all_data_files, live_layout, view_contents

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)  # 2026-11-24 is open, 2026-11-23 closed
DAYS = ("2026-11-23", "2026-11-24")
BATCH = 4  # records per batch: many small files
STORIES = 16


def story(i: int, version: int = 1) -> bytes:
    return json.dumps({
        "uri": f"urn:test:compact:{i}",
        "version": version,
        "headline": f"Council {i} approves budget for bridge {i % 4}",
        "body_text": f"The city council of town {i} in Portugal approved on Tuesday a budget for bridge {i}. "
                     f"Mayor Ana Costa said work would start in spring.",
        "firstcreated": f"{DAYS[i % 2]}T{8 + i % 10:02d}:00:00Z",
    }).encode()


def fill(log: MemoryLog, start: int, stop: int) -> None:
    for i in range(start, stop):
        log.append(i % 2, story(i))
        if i % 5 == 0:
            log.append((i + 1) % 2, story(i, version=2))
        if i % 7 == 0:
            log.append(i % 2, b"not json %d" % i)


class Clock:
    def __init__(self, start: datetime = NOW) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


def batch_clock() -> datetime:
    """Every batch is planned at the same instant, so rows depend only on batch boundaries, not on how
    often a run (or a compaction scheduled inside it) looked at the clock."""
    return NOW


def run_batches(root: Path, log: MemoryLog, crash_at: str | None = None, crash_batch: int = -1,
                compaction: CompactionSchedule | None = None) -> None:
    """Run until the log is consumed; with ``crash_at`` the driver dies there in batch ``crash_batch``."""
    def hook(point: str) -> None:
        if point == crash_at and driver.log.pending_plan() and driver.log.pending_plan().batch_id == crash_batch:
            raise SimulatedCrash(point)

    config = JobConfig(bootstrap_servers="unused:9092", topics=[TOPIC], lake=root, max_records_per_batch=BATCH,
                       trigger_interval=0, until_idle=0, compaction=compaction)
    driver = MicroBatchDriver(config, log, memory_runner(log), crash_hook=hook, clock=batch_clock)
    if crash_at:
        with pytest.raises(SimulatedCrash):
            driver.run()
        STATE_CACHE.clear()  # a crash loses the process and its memory
    else:
        driver.run()


def compact(root: Path, clock: Clock | None = None, **options):
    options.setdefault("include_open", True)
    options.setdefault("grace", timedelta(0))
    return compact_lake(root, CompactionOptions(**options), clock=clock or Clock())


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> dict:
    """A lake of 6 four-record batches over two days (written by two runs), its views, and the same lake
    compacted once."""
    STATE_CACHE.clear()
    root = tmp_path_factory.mktemp("base") / "lake"
    log = MemoryLog()
    fill(log, 0, STORIES // 2)
    run_batches(root, log)
    fill(log, STORIES // 2, STORIES)
    run_batches(root, log)
    compacted = root.parent / "compacted"
    shutil.copytree(root, compacted)
    compact(compacted)
    return {"root": root, "views": view_contents(root), "compacted": live_layout(compacted), "log": log}


def copy_of(base: dict, tmp_path: Path) -> Path:
    root = tmp_path / "lake"
    shutil.copytree(base["root"], root)
    return root


def test_compaction_keeps_every_view_identical_and_merges_the_files(base, tmp_path):
    root = copy_of(base, tmp_path)
    before = {t: len(live_files(LakeLayout(root), t)) for t in TABLES}
    assert before["articles"] >= 10 and before["dead_letters"] >= 3
    report = compact(root)
    assert view_contents(root) == base["views"]
    after = {t: len(live_files(LakeLayout(root), t)) for t in TABLES}
    assert after["articles"] == 2 and after["entities"] == 2  # one per day
    assert report.live_files_before == before and report.live_files_after == after
    assert all_data_files(root) == set(live_layout(root))  # grace 0: superseded files are gone
    assert not any((LakeLayout(root).meta / "compaction" / "staging").rglob("*.parquet"))


def test_compacted_files_are_sorted_and_keep_the_contract_schema(base, tmp_path):
    root = copy_of(base, tmp_path)
    compact(root, row_group_rows=7)
    for table in ("articles", "entities", "dead_letters"):
        for path in live_files(LakeLayout(root), table):
            assert compacted_generation(Path(path).name) == 1
            f = pq.ParquetFile(path)
            assert f.schema_arrow == TABLES[table]
            assert all(f.metadata.row_group(i).num_rows <= 7 for i in range(f.metadata.num_row_groups))
            rows = f.read().to_pylist()
            keys = [tuple((r[k] is None, r[k] or 0) if k.endswith("_char") else r[k] for k in SORT_KEYS[table]) for r in rows]
            assert keys == sorted(keys)


def test_second_run_is_a_no_op_and_the_result_is_deterministic(base, tmp_path):
    root = copy_of(base, tmp_path)
    compact(root)
    assert live_layout(root) == base["compacted"]  # same names, same bytes as another run
    manifests = {t: manifest_path(LakeLayout(root), t).read_bytes() for t in ("articles", "entities", "dead_letters")}
    files = {p: p.stat().st_mtime_ns for p in root.rglob("*.parquet")}
    report = compact(root)
    assert report.partitions == [] and report.deleted == 0
    assert {t: manifest_path(LakeLayout(root), t).read_bytes() for t in manifests} == manifests
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*.parquet")} == files


def test_only_closed_partitions_by_default(base, tmp_path):
    root = copy_of(base, tmp_path)
    report = compact(root, include_open=False, clock=Clock(NOW))
    assert {p.partition for p in report.partitions} == {"date=2026-11-23"}
    assert view_contents(root) == base["views"]
    for table in ("articles", "entities"):
        entry = load_manifest(LakeLayout(root), table).partitions
        assert list(entry) == ["date=2026-11-23"]
    only = compact(root, include_open=False, dates=frozenset({datetime(2026, 11, 24).date()}), tables=("articles",))
    assert {(p.table, p.partition) for p in only.partitions} == {("articles", "date=2026-11-24")}


def test_a_query_that_started_before_the_flip_keeps_its_files_for_the_grace_period(base, tmp_path):
    root = copy_of(base, tmp_path)
    layout = LakeLayout(root)
    in_flight = {t: live_files(layout, t) for t in TABLES if live_files(layout, t)}  # as a query bound before the flip
    clock = Clock()
    compact(root, clock=clock, grace=timedelta(hours=1))
    con = duckdb.connect()
    for table, files in in_flight.items():
        assert all(Path(f).exists() for f in files)
        old = sorted(con.execute(f"SELECT * FROM read_parquet({files!r})").fetchall(), key=repr)
        new = sorted(con.execute(f"SELECT * FROM read_parquet({live_files(layout, table)!r})").fetchall(), key=repr)
        assert old == new
    assert view_contents(root) == base["views"]
    clock.now += timedelta(minutes=59)
    assert compact(root, clock=clock, grace=timedelta(hours=1)).deleted == 0
    clock.now += timedelta(minutes=2)
    report = compact(root, clock=clock, grace=timedelta(hours=1))
    assert report.deleted > 0 and report.waiting == 0
    assert not any(Path(f).exists() for files in in_flight.values() for f in files)
    assert all_data_files(root) == set(live_layout(root))
    assert view_contents(root) == base["views"]
    assert all(load_manifest(layout, t).retired == [] for t in TABLES)


class Killed(BaseException):
    """Stops a compaction like a kill: not an Exception, so nothing cleans up after it."""


@pytest.mark.parametrize("point", FAULT_POINTS)
def test_crash_at_any_step_leaves_the_lake_exact_and_a_rerun_completes(base, tmp_path, point):
    root = copy_of(base, tmp_path)

    def die(at: str) -> None:
        if at == point:
            raise Killed(at)

    with pytest.raises(Killed):
        compact_lake(root, CompactionOptions(include_open=True, grace=timedelta(0)), clock=Clock(), fault_hook=die)
    assert view_contents(root) == base["views"]
    compact(root)
    assert view_contents(root) == base["views"]
    assert live_layout(root) == base["compacted"]
    assert all_data_files(root) == set(base["compacted"])  # nothing unpublished or superseded left over


def test_files_written_but_never_published_are_removed_by_any_later_run(base, tmp_path):
    root = copy_of(base, tmp_path)
    today = frozenset({NOW.date()})

    def die(at: str) -> None:
        if at == "written":
            raise Killed(at)

    with pytest.raises(Killed):
        compact_lake(root, CompactionOptions(dates=today, tables=("articles",)), clock=Clock(), fault_hook=die)
    folder = LakeLayout(root).table_dir("articles") / f"date={NOW.date().isoformat()}"
    assert list(folder.glob("compacted-*.parquet")), "the killed run wrote its files"
    assert view_contents(root) == base["views"]
    compact(root, include_open=False, clock=Clock(NOW))  # compacts only the closed day
    assert not list(folder.glob("compacted-*.parquet"))
    assert view_contents(root) == base["views"]


def test_more_batches_a_crash_and_a_replay_around_compactions(base, tmp_path):
    """Compact, run more batches until one dies between publishing and committing, compact (which must
    leave that batch's files alone), restart with compaction scheduled between batches: the replay and
    every later batch add exactly what a run without compaction or crash adds."""
    STATE_CACHE.clear()
    root = tmp_path / "lake"
    log = MemoryLog()
    fill(log, 0, STORIES // 2)
    run_batches(root, log)
    compact(root)
    fill(log, STORIES // 2, STORIES)
    crashed = CommitLog(LakeLayout(root)).batch_ids()[-1] + 2
    run_batches(root, log, crash_at="state_published", crash_batch=crashed)
    assert CommitLog(LakeLayout(root)).pending_plan().batch_id == crashed
    pending = {p for p in all_data_files(root)
               if pq.read_table(root / p, columns=["batch_id"]).column(0)[0].as_py() == crashed}
    assert pending, "the crashed batch published files before it died"
    compact(root)
    assert pending <= set(live_layout(root)), "a file of the uncommitted batch was merged"

    schedule = CompactionSchedule(every_batches=2, include_open=True, grace_seconds=0)
    run_batches(root, log, compaction=schedule)  # replays the crashed batch, then the rest
    assert CommitLog(LakeLayout(root)).commit(crashed).stats["replayed"]
    assert view_contents(root) == base["views"]
    assert load_manifest(LakeLayout(root), "articles").partitions["date=2026-11-24"].generation >= 3
    compact(root)
    assert view_contents(root) == base["views"]
    folders = sorted(str(Path(p).parent) for p in live_layout(root))
    assert folders == sorted(str(Path(p).parent) for p in base["compacted"])  # as few files as one compaction


def test_one_compaction_at_a_time(base, tmp_path):
    root = copy_of(base, tmp_path)
    with _CompactionLock(LakeLayout(root), wait=True):
        with pytest.raises(LakeBusy):
            compact_lake(root, CompactionOptions(include_open=True), wait_for_lock=False)
    assert compact(root).partitions


def test_a_manifest_that_does_not_match_the_lake_stops_compaction(base, tmp_path):
    root = copy_of(base, tmp_path)
    compact(root)
    compact(root, tables=("articles",))
    layout = LakeLayout(root)
    folder = layout.table_dir("articles") / "date=2026-11-23"
    shutil.copy(next(folder.glob("compacted-*.parquet")), folder / "compacted-000007-0000.parquet")
    with pytest.raises(RuntimeError, match="does not match"):
        compact(root, tables=("articles",))
