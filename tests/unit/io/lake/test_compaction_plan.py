"""Compaction planning, names, manifest and partition selection: pure functions, no files."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone

import pytest

from pipeline.io.lake.compaction import CompactionOptions, CompactionSchedule, DataFile, plan_partition
from pipeline.io.lake.manifest import (
    Manifest,
    PartitionEntry,
    RetiredFile,
    compacted_file_name,
    compacted_generation,
    is_batch_file,
    partition_day,
)
from pipeline.io.lake.names import data_file_name

ROWS = 1000  # row group size used by these tests
MAX = 10_000  # max file bytes used by these tests; "large" from MAX // 2


def batch_file(offset: int, rows: int = 10, size: int = 100, batch: int | None = 1) -> DataFile:
    return DataFile(data_file_name("wire", 0, offset), rows, size, batch, compacted=False)


def compacted(generation: int, seq: int = 0, rows: int = 10, size: int = 100) -> DataFile:
    return DataFile(compacted_file_name(generation, seq), rows, size, 1, compacted=True)


def plan(files, last_committed: int = 5):
    return plan_partition(files, last_committed, row_group_rows=ROWS, max_file_bytes=MAX)


# -- which files are merged ------------------------------------------------------------------


def test_small_committed_batch_files_merge_into_one_output_in_name_order():
    files = [batch_file(30), batch_file(10), batch_file(20)]
    assert plan(files) == [[f.name for f in sorted(files, key=lambda f: f.name)]]


def test_a_single_small_file_is_left_alone():
    assert plan([batch_file(0)]) == []
    assert plan([]) == []


def test_files_of_batches_after_the_last_commit_are_never_merged():
    committed = [batch_file(0, batch=4), batch_file(10, batch=5)]
    pending = batch_file(20, batch=6)  # published, not committed: a replay rewrites it
    assert plan(committed + [pending], last_committed=5) == [[f.name for f in committed]]
    assert plan([committed[0], pending], last_committed=5) == []
    assert plan(committed, last_committed=-1) == []  # nothing committed yet


def test_files_with_unknown_batch_or_no_rows_are_left_alone():
    unknown = batch_file(0, batch=None)
    empty = batch_file(10, rows=0)
    assert plan([unknown, empty]) == []
    assert plan([unknown, batch_file(20), batch_file(30)]) == [[batch_file(20).name, batch_file(30).name]]


def test_large_files_are_left_alone():
    by_rows = batch_file(0, rows=ROWS)
    by_bytes = batch_file(10, size=MAX // 2)
    assert plan([by_rows, by_bytes]) == []
    assert plan([by_rows, by_bytes, batch_file(20), batch_file(30)]) == [[batch_file(20).name, batch_file(30).name]]


def test_compacted_partition_without_new_batch_files_is_a_fixed_point():
    assert plan([compacted(1, 0), compacted(1, 1)]) == []
    assert plan([compacted(2, 0, rows=ROWS), batch_file(5)]) == []  # large output + one new file


def test_a_small_compacted_file_is_merged_again_with_new_batch_files():
    old = compacted(1)
    new = batch_file(40)
    assert plan([new, old]) == [[old.name, new.name]]


def test_outputs_are_capped_by_input_bytes_and_a_last_single_file_joins_the_one_before():
    files = [batch_file(i, size=3000) for i in range(7)]  # 3 per output (9000 <= MAX), then 1 left
    groups = plan(files)
    assert [len(g) for g in groups] == [3, 4]
    assert [n for g in groups for n in g] == [f.name for f in files]


def test_plan_is_deterministic_whatever_the_listing_order():
    rng = random.Random(3)
    for _ in range(200):
        files = [
            batch_file(rng.randrange(10**6), rows=rng.randint(0, 1500), size=rng.randint(1, 7000),
                       batch=rng.choice([None, 1, 4, 5, 6, 9]))
            for _ in range(rng.randint(0, 25))
        ]
        files += [compacted(1, s, rows=rng.randint(1, 1500), size=rng.randint(1, 7000)) for s in range(rng.randint(0, 3))]
        files = list({f.name: f for f in files}.values())
        expected = plan(files)
        rng.shuffle(files)
        assert plan(files) == expected
        merged = [n for g in expected for n in g]
        assert len(merged) == len(set(merged))
        eligible = {f.name for f in files if f.committed(5) and not f.large(ROWS, MAX)}
        assert set(merged) <= eligible
        if expected:  # every eligible file is merged, every output replaces at least two files
            assert set(merged) == eligible
            assert all(len(g) >= 2 for g in expected)
            assert any(not f.compacted for f in files if f.name in eligible)


# -- names ----------------------------------------------------------------------------------


def test_compacted_names_round_trip_and_never_look_like_batch_files():
    name = compacted_file_name(12, 3)
    assert name == "compacted-000012-0003.parquet"
    assert compacted_generation(name) == 12
    assert not is_batch_file(name)
    assert compacted_generation(data_file_name("wire", 0, 5)) is None
    assert is_batch_file(data_file_name("wire", 0, 5))
    for bad in ("compacted-12-3.parquet", "compacted-000012-0003.parquet.tmp", ".compacted-000012-0003.parquet"):
        assert compacted_generation(bad) is None


@pytest.mark.parametrize("generation,seq", [(0, 0), (1_000_000, 0), (1, -1), (1, 10_000)])
def test_compacted_names_reject_out_of_range(generation, seq):
    with pytest.raises(ValueError):
        compacted_file_name(generation, seq)


def test_partition_day_accepts_only_valid_partition_folders():
    assert partition_day("date=2026-11-24") == date(2026, 11, 24)
    for bad in ("date=2026-13-01", "date=2026-11-24x", "day=2026-11-24", "date=", "_newswire"):
        assert partition_day(bad) is None


# -- manifest and options -------------------------------------------------------------------


def test_manifest_round_trips_and_is_written_in_a_stable_order():
    at = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
    m = Manifest(
        table="articles",
        partitions={
            "date=2026-11-24": PartitionEntry(2, ["compacted-000002-0000.parquet", "compacted-000001-0000.parquet"],
                                              ["part-b.parquet", "part-a.parquet"]),
            "date=2026-11-23": PartitionEntry(1, ["compacted-000001-0000.parquet"], []),
        },
        retired=[RetiredFile("date=2026-11-24/part-b.parquet", at), RetiredFile("date=2026-11-24/part-a.parquet", at)],
    )
    back = Manifest.from_json(m.to_json())
    assert back.to_json() == m.to_json()
    assert back.partitions["date=2026-11-24"].replaced == ["part-a.parquet", "part-b.parquet"]
    assert back.retired[0] == RetiredFile("date=2026-11-24/part-a.parquet", at)
    assert list(back.partitions) == ["date=2026-11-23", "date=2026-11-24"]


def test_manifest_of_an_unknown_format_is_refused():
    with pytest.raises(ValueError):
        Manifest.from_json('{"format": 99, "table": "articles", "partitions": {}, "retired": []}')


def test_default_selection_is_closed_partitions_only():
    today = date(2026, 11, 25)
    closed, current, ahead = today - timedelta(days=1), today, today + timedelta(days=1)
    default = CompactionOptions()
    assert [default.selects(d, today) for d in (closed, current, ahead)] == [True, False, False]
    with_open = CompactionOptions(include_open=True)
    assert [with_open.selects(d, today) for d in (closed, current, ahead)] == [True, True, True]
    only = CompactionOptions(dates=frozenset({current}))
    assert [only.selects(d, today) for d in (closed, current, ahead)] == [False, True, False]


def test_schedule_is_enabled_by_batches_or_seconds():
    assert not CompactionSchedule().enabled
    assert CompactionSchedule(every_batches=3).enabled
    assert CompactionSchedule(every_seconds=60).enabled
