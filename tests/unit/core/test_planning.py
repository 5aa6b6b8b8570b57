"""Unit tests for pipeline.core.planning: offset-range planning, fair sharing, splitting, JSON."""
from __future__ import annotations

import json
import random

import pytest

from pipeline.core.planning import OffsetRange, end_offsets_of, plan_offset_ranges


def sizes(ranges: list[OffsetRange]) -> dict[tuple[str, int], int]:
    return {(r.topic, r.partition): r.size for r in ranges}


# -- plan_offset_ranges: where ranges start and stop ----------------------------------------


def test_new_partitions_start_at_earliest_offset():
    ends = {("news", 0): 10, ("news", 1): 7}
    earliest = {("news", 0): 3, ("news", 1): 0}
    assert plan_offset_ranges({}, ends, earliest) == [
        OffsetRange("news", 0, 3, 10),
        OffsetRange("news", 1, 0, 7),
    ]


def test_new_partition_without_earliest_information_starts_at_zero():
    assert plan_offset_ranges({}, {("news", 0): 4}) == [OffsetRange("news", 0, 0, 4)]


def test_committed_offsets_resume_where_the_last_batch_stopped():
    committed = {("news", 0): 5, ("news", 1): 2}
    ends = {("news", 0): 9, ("news", 1): 2, ("news", 2): 1}
    earliest = {("news", 0): 0, ("news", 1): 0, ("news", 2): 0}
    assert plan_offset_ranges(committed, ends, earliest) == [
        OffsetRange("news", 0, 5, 9),
        OffsetRange("news", 2, 0, 1),
    ]


def test_nothing_new_gives_an_empty_plan():
    committed = {("news", 0): 5, ("news", 1): 8}
    ends = {("news", 0): 5, ("news", 1): 8}
    assert plan_offset_ranges(committed, ends, {}) == []
    assert plan_offset_ranges(committed, ends, {}, max_records=10) == []


def test_no_partitions_gives_an_empty_plan():
    assert plan_offset_ranges({}, {}) == []


def test_empty_partition_of_a_new_topic_is_not_planned():
    # earliest == end: retention emptied the partition, nothing to read
    assert plan_offset_ranges({}, {("news", 0): 50}, {("news", 0): 50}) == []


def test_committed_offset_beyond_end_plans_nothing_for_that_partition():
    assert plan_offset_ranges({("news", 0): 100}, {("news", 0): 40}, {("news", 0): 0}) == []


def test_retention_past_committed_offset_starts_at_earliest_available():
    committed = {("news", 0): 10}
    ends = {("news", 0): 100}
    earliest = {("news", 0): 60}  # records 10..59 were deleted before we read them
    assert plan_offset_ranges(committed, ends, earliest) == [OffsetRange("news", 0, 60, 100)]


def test_retention_past_end_of_committed_partition_plans_nothing():
    committed = {("news", 0): 10}
    assert plan_offset_ranges(committed, {("news", 0): 30}, {("news", 0): 30}) == []


def test_committed_partitions_not_in_end_offsets_are_ignored():
    committed = {("gone", 0): 10, ("news", 0): 1}
    assert plan_offset_ranges(committed, {("news", 0): 3}, {}) == [OffsetRange("news", 0, 1, 3)]


# -- max_records: fair split ---------------------------------------------------------------


def test_max_records_splits_evenly_between_equal_partitions():
    ends = {("t", p): 1000 for p in range(4)}
    ranges = plan_offset_ranges({}, ends, {}, max_records=40)
    assert sizes(ranges) == {("t", p): 10 for p in range(4)}
    assert all(r.start == 0 for r in ranges)


def test_max_records_larger_than_backlog_reads_everything():
    ends = {("t", 0): 5, ("t", 1): 3}
    assert plan_offset_ranges({}, ends, {}, max_records=1000) == [
        OffsetRange("t", 0, 0, 5),
        OffsetRange("t", 1, 0, 3),
    ]


def test_water_filling_gives_unused_share_of_small_partition_to_large_ones():
    ends = {("t", 0): 2, ("t", 1): 100, ("t", 2): 100}
    ranges = plan_offset_ranges({}, ends, {}, max_records=30)
    # max-min fair: the small partition takes all it has (2), the other two share 28 equally
    assert sizes(ranges) == {("t", 0): 2, ("t", 1): 14, ("t", 2): 14}


def test_water_filling_over_several_rounds():
    ends = {("t", 0): 1, ("t", 1): 5, ("t", 2): 50, ("t", 3): 50}
    ranges = plan_offset_ranges({}, ends, {}, max_records=40)
    got = sizes(ranges)
    assert sum(got.values()) == 40
    assert got[("t", 0)] == 1
    assert got[("t", 1)] == 5
    assert got[("t", 2)] + got[("t", 3)] == 34
    assert abs(got[("t", 2)] - got[("t", 3)]) <= 1


def test_one_hot_partition_cannot_starve_the_others():
    committed = {("t", 0): 0, ("t", 1): 0, ("t", 2): 0}
    ends = {("t", 0): 1_000_000, ("t", 1): 3, ("t", 2): 4}
    got = sizes(plan_offset_ranges(committed, ends, {}, max_records=100))
    assert got == {("t", 0): 93, ("t", 1): 3, ("t", 2): 4}


def test_fair_split_respects_committed_and_earliest_starts():
    committed = {("t", 0): 90, ("t", 1): 5}
    ends = {("t", 0): 100, ("t", 1): 500, ("t", 2): 500}
    earliest = {("t", 0): 0, ("t", 1): 50, ("t", 2): 400}
    ranges = plan_offset_ranges(committed, ends, earliest, max_records=60)
    assert ranges == [
        OffsetRange("t", 0, 90, 100),
        OffsetRange("t", 1, 50, 75),
        OffsetRange("t", 2, 400, 425),
    ]


def test_total_never_exceeds_max_records_with_uneven_remainder():
    ends = {("t", p): 100 for p in range(7)}
    for budget in range(1, 60):
        ranges = plan_offset_ranges({}, ends, {}, max_records=budget)
        assert sum(r.size for r in ranges) == budget
        got = [r.size for r in ranges]
        if budget >= 7:
            assert max(got) - min(got) <= 1, (budget, got)


def test_every_pending_partition_gets_at_least_one_record_when_budget_allows():
    ends = {("a", 0): 1000, ("a", 1): 1, ("b", 0): 7, ("b", 3): 1000, ("c", 2): 2}
    ranges = plan_offset_ranges({}, ends, {}, max_records=5)
    assert {(r.topic, r.partition) for r in ranges} == set(ends)
    assert all(r.size == 1 for r in ranges)


def test_budget_smaller_than_partition_count_grants_one_record_each_up_to_budget():
    ends = {("t", p): 10 for p in range(10)}
    ranges = plan_offset_ranges({}, ends, {}, max_records=3)
    assert len(ranges) == 3
    assert all(r.size == 1 for r in ranges)
    # deterministic: planning again gives the very same ranges
    assert plan_offset_ranges({}, ends, {}, max_records=3) == ranges


def test_ranges_come_out_sorted_whatever_the_input_order():
    keys = [("b", 1), ("a", 2), ("b", 0), ("a", 10), ("a", 0)]
    forward = {k: 100 for k in keys}
    backward = {k: 100 for k in reversed(keys)}
    r1 = plan_offset_ranges({}, forward, {}, max_records=13)
    r2 = plan_offset_ranges({}, backward, {}, max_records=13)
    assert r1 == r2
    assert [(r.topic, r.partition) for r in r1] == sorted(keys)
    assert r1 == sorted(r1)


@pytest.mark.parametrize("bad", [0, -1, -100])
def test_invalid_max_records_is_rejected(bad):
    with pytest.raises(ValueError):
        plan_offset_ranges({}, {("t", 0): 10}, {}, max_records=bad)


def test_inputs_are_not_mutated():
    committed = {("t", 0): 1}
    ends = {("t", 0): 10, ("t", 1): 5}
    earliest = {("t", 0): 0, ("t", 1): 0}
    snapshot = (dict(committed), dict(ends), dict(earliest))
    plan_offset_ranges(committed, ends, earliest, max_records=4)
    assert (committed, ends, earliest) == snapshot


# -- end_offsets_of ------------------------------------------------------------------------


def test_end_offsets_of_advances_base_by_ranges():
    base = {("t", 0): 5, ("t", 1): 9}
    ranges = [OffsetRange("t", 0, 5, 8), OffsetRange("t", 2, 0, 4)]
    assert end_offsets_of(ranges, base) == {("t", 0): 8, ("t", 1): 9, ("t", 2): 4}
    assert base == {("t", 0): 5, ("t", 1): 9}  # not mutated


def test_end_offsets_of_never_moves_backwards():
    base = {("t", 0): 50}
    assert end_offsets_of([OffsetRange("t", 0, 10, 20)], base) == {("t", 0): 50}


def test_end_offsets_of_empty_ranges_is_a_copy_of_base():
    base = {("t", 0): 3}
    result = end_offsets_of([], base)
    assert result == base and result is not base


def test_end_offsets_of_takes_the_furthest_of_several_ranges_of_one_partition():
    ranges = [OffsetRange("t", 0, 0, 5), OffsetRange("t", 0, 5, 12), OffsetRange("t", 0, 12, 13)]
    assert end_offsets_of(ranges, {}) == {("t", 0): 13}


# -- OffsetRange ---------------------------------------------------------------------------


def test_offset_range_json_round_trip():
    r = OffsetRange("news.wire-1", 17, 123456789012, 123456789999)
    text = json.dumps(r.to_json())
    assert OffsetRange.from_json(json.loads(text)) == r
    assert r.to_json() == {"topic": "news.wire-1", "partition": 17, "start": 123456789012, "stop": 123456789999}


def test_offset_range_from_json_coerces_types():
    r = OffsetRange.from_json({"topic": "t", "partition": "2", "start": "5", "stop": 9})
    assert r == OffsetRange("t", 2, 5, 9)
    assert isinstance(r.partition, int) and isinstance(r.start, int)


def test_offset_range_size_and_ordering_and_immutability():
    a = OffsetRange("a", 1, 0, 4)
    b = OffsetRange("a", 2, 0, 1)
    c = OffsetRange("b", 0, 0, 1)
    assert a.size == 4
    assert sorted([c, b, a]) == [a, b, c]
    with pytest.raises(Exception):
        a.start = 3  # type: ignore[misc]
    assert len({a, OffsetRange("a", 1, 0, 4)}) == 1


# -- property-style: many random cases -----------------------------------------------------


def _random_case(rng: random.Random):
    topics = rng.sample(["a", "b", "news", "wire.x", "z-1"], rng.randint(1, 3))
    ends: dict = {}
    earliest: dict = {}
    committed: dict = {}
    for t in topics:
        for p in range(rng.randint(1, 5)):
            tp = (t, p)
            end = rng.choice([0, rng.randint(0, 10), rng.randint(0, 300)])
            first = rng.randint(0, end) if rng.random() < 0.3 else 0
            ends[tp] = end
            if rng.random() < 0.8:
                earliest[tp] = first
            roll = rng.random()
            if roll < 0.35:
                pass  # never seen
            elif roll < 0.5:
                committed[tp] = rng.randint(0, max(first - 1, 0))  # retention passed the commit
            else:
                committed[tp] = rng.randint(first, end)
    max_records = rng.choice([None, 1, 2, 3, rng.randint(1, 20), rng.randint(1, 500)])
    return committed, ends, earliest, max_records


def _check_plan(committed, ends, earliest, max_records, ranges):
    per_tp: dict = {}
    for r in ranges:
        tp = (r.topic, r.partition)
        assert tp in ends
        low = max(committed.get(tp, earliest.get(tp, 0)), earliest.get(tp, 0))
        assert low <= r.start < r.stop <= ends[tp], (r, low, ends[tp])
        per_tp.setdefault(tp, []).append(r)
    for tp, rs in per_tp.items():
        rs.sort()
        assert all(a.stop <= b.start for a, b in zip(rs, rs[1:])), f"overlapping ranges for {tp}"
    total = sum(r.size for r in ranges)
    pending = {
        tp: ends[tp] - max(committed.get(tp, earliest.get(tp, 0)), earliest.get(tp, 0))
        for tp in ends
    }
    pending = {tp: n for tp, n in pending.items() if n > 0}
    if max_records is None:
        assert total == sum(pending.values())
    else:
        assert total <= max_records
        # the budget is used as far as there is something to read
        assert total == min(max_records, sum(pending.values()))
        if max_records >= len(pending):
            assert {(r.topic, r.partition) for r in ranges} == set(pending)
    assert ranges == sorted(ranges)


def test_random_plans_respect_bounds_and_budget():
    rng = random.Random(20240611)
    for _ in range(1500):
        committed, ends, earliest, max_records = _random_case(rng)
        ranges = plan_offset_ranges(committed, ends, earliest, max_records)
        _check_plan(committed, ends, earliest, max_records, ranges)
        # pure function: same inputs, same plan
        assert plan_offset_ranges(dict(committed), dict(ends), dict(earliest), max_records) == ranges


def test_repeated_planning_consumes_every_available_record_exactly_once():
    rng = random.Random(99)
    for _ in range(300):
        committed, ends, earliest, max_records = _random_case(rng)
        read: dict = {}
        offsets = dict(committed)
        batches = 0
        while True:
            ranges = plan_offset_ranges(offsets, ends, earliest, max_records)
            if not ranges:
                break
            _check_plan(offsets, ends, earliest, max_records, ranges)
            for r in ranges:
                bucket = read.setdefault((r.topic, r.partition), [])
                bucket.extend(range(r.start, r.stop))
            offsets = end_offsets_of(ranges, offsets)
            batches += 1
            assert batches <= 10_000, "planning does not converge"
        for tp, end in ends.items():
            first = max(committed.get(tp, earliest.get(tp, 0)), earliest.get(tp, 0))
            expected = list(range(first, end)) if end > first else []
            assert read.get(tp, []) == expected, tp
        assert set(read) <= set(ends)
