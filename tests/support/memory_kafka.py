"""An in-memory Kafka stand-in for driver tests: the commit protocol is under test, not the broker."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from pipeline.core.contract import BatchSpec
from pipeline.news.model import KafkaRecord

TOPIC = "wire"


def story(i: int, version: int = 1) -> bytes:
    return json.dumps(
        {
            "uri": f"urn:test:{i}",
            "version": version,
            "headline": f"Headline {i}",
            "body_text": f"Body of story {i}.",
            "firstcreated": "2026-11-24T08:00:00Z",
        }
    ).encode()


class MemoryLog:
    """An in-memory stand-in for a Kafka topic with two partitions."""

    def __init__(self) -> None:
        self.logs: dict[int, list[bytes]] = {0: [], 1: []}
        self.group_commits: list[dict] = []

    def append(self, partition: int, value: bytes) -> None:
        self.logs[partition].append(value)

    # OffsetSource
    def partitions(self, topics):
        return [(TOPIC, p) for p in sorted(self.logs)]

    def end_offsets(self, tps):
        return {tp: len(self.logs[tp[1]]) for tp in tps}

    def beginning_offsets(self, tps):
        return {tp: 0 for tp in tps}

    def commit_group(self, offsets, metadata):
        self.group_commits.append(dict(offsets))

    def close(self):
        pass

    def records(self, spec: BatchSpec) -> list[KafkaRecord]:
        out = []
        for r in spec.ranges:
            for offset in range(r.start, r.stop):
                value = self.logs[r.partition][offset]
                out.append(KafkaRecord(r.topic, r.partition, offset, None, value, 1_700_000_000_000))
        return out


def memory_runner(log: MemoryLog):
    """A batch runner: the real Beam processing graph on the DirectRunner over the in-memory records."""
    import apache_beam as beam  # only the tests that run batches need Beam

    from pipeline.beam.graph import build_processing

    def run(spec: BatchSpec) -> dict:
        with beam.Pipeline() as p:
            build_processing(p | "Records" >> beam.Create(log.records(spec)), spec)
        return {}

    return run


def fixed_clock():
    t = [datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)]

    def clock():
        t[0] += timedelta(seconds=1)
        return t[0]

    return clock
