"""Offset-range planning for one micro-batch: pure functions, no Kafka import.

The driver asks Kafka for the current end offsets and hands them here together with the
offsets of the last commit; what comes out is written to the write-ahead log before any
record is read, so a replay after a crash reads exactly the same ranges.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

TopicPartitionKey = tuple[str, int]


@dataclass(frozen=True, order=True)
class OffsetRange:
    """Records [start, stop) of one topic partition."""

    topic: str
    partition: int
    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start

    def to_json(self) -> dict:
        return {"topic": self.topic, "partition": self.partition, "start": self.start, "stop": self.stop}

    @staticmethod
    def from_json(obj: Mapping) -> "OffsetRange":
        return OffsetRange(str(obj["topic"]), int(obj["partition"]), int(obj["start"]), int(obj["stop"]))


def plan_offset_ranges(
    committed: Mapping[TopicPartitionKey, int],
    end_offsets: Mapping[TopicPartitionKey, int],
    earliest_offsets: Optional[Mapping[TopicPartitionKey, int]] = None,
    max_records: Optional[int] = None,
) -> list[OffsetRange]:
    """Plan the next batch: from each partition's committed offset up to its end offset.

    A partition never seen before starts at its earliest offset. When retention deleted
    records we had not read yet, the range starts at the earliest offset still available
    (those records are gone; reading from before it would fail). ``max_records`` caps the
    batch; it is shared fairly between partitions so that one hot partition cannot starve
    the others, and any share left unused by a small partition goes to the larger ones.
    """
    earliest_offsets = earliest_offsets or {}
    pending: dict[TopicPartitionKey, tuple[int, int]] = {}
    for tp in sorted(end_offsets):
        end = int(end_offsets[tp])
        start = committed.get(tp)
        if start is None:
            start = int(earliest_offsets.get(tp, 0))
        start = max(int(start), int(earliest_offsets.get(tp, 0)))
        if end > start:
            pending[tp] = (start, end)
    if not pending:
        return []
    allowance = {tp: stop - start for tp, (start, stop) in pending.items()}
    if max_records is not None:
        if max_records <= 0:
            raise ValueError("max_records must be positive")
        allowance = _fair_shares(allowance, max_records)
    return [
        OffsetRange(tp[0], tp[1], start, start + allowance[tp])
        for tp, (start, _stop) in sorted(pending.items())
        if allowance[tp] > 0
    ]


def _fair_shares(wanted: dict[TopicPartitionKey, int], budget: int) -> dict[TopicPartitionKey, int]:
    """Max-min fair split of ``budget`` records between partitions (water filling)."""
    granted = {tp: 0 for tp in wanted}
    remaining = dict(wanted)
    left = budget
    while left > 0 and remaining:
        share = max(1, left // len(remaining))
        for tp in sorted(remaining):
            take = min(share, remaining[tp], left)
            granted[tp] += take
            remaining[tp] -= take
            left -= take
            if left == 0:
                break
        remaining = {tp: n for tp, n in remaining.items() if n > 0}
    return granted


def end_offsets_of(ranges: list[OffsetRange], base: Mapping[TopicPartitionKey, int]) -> dict[TopicPartitionKey, int]:
    """Committed offsets after a batch: the base advanced by every planned range."""
    result = dict(base)
    for r in ranges:
        result[(r.topic, r.partition)] = max(result.get((r.topic, r.partition), 0), r.stop)
    return result
