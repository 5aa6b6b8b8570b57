"""The Kafka read's stall handling: a warning while the broker is away, a line when records flow
again, a bounded wait. The consumer is scripted (empty polls, then records) because what is under
test is the DoFn's own waiting logic; reads against a real broker are in tests/integration."""
from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker

from pipeline.beam.kafka_read import _ReadKafkaRangeFn

TOPIC = "wire"


class ScriptedConsumer:
    """Answers ``poll`` from a script: None for an empty poll, else a list of offsets."""

    def __init__(self, script: list) -> None:
        self.script = list(script)
        self.offset = 0

    def assign(self, tps) -> None:
        pass

    def seek(self, tp, offset: int) -> None:
        self.offset = offset

    def position(self, tp) -> int:
        return self.offset

    def poll(self, timeout_ms: int):
        step = self.script.pop(0) if self.script else None
        if step is None:
            return {}
        records = [SimpleNamespace(topic=TOPIC, partition=0, offset=o, key=None, value=b"{}", timestamp=0)
                   for o in step]
        self.offset = step[-1] + 1
        return {self.tp: records}


def read(consumer: ScriptedConsumer, start: int, stop: int, **kwargs) -> list[int]:
    from kafka import TopicPartition

    consumer.tp = TopicPartition(TOPIC, 0)
    fn = _ReadKafkaRangeFn("unused:9092", poll_timeout_ms=1, **kwargs)
    fn._consumer = consumer
    tracker = OffsetRestrictionTracker(OffsetRange(start, stop))
    return [r.offset for r in fn.process((TOPIC, 0, start, stop), tracker=tracker)]


def test_a_stalled_read_warns_once_then_says_it_resumed(caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    clock = iter(range(0, 1000)).__next__  # every time.monotonic() call is one second later
    monkeypatch.setattr("pipeline.beam.kafka_read.time.monotonic", lambda: float(clock()))
    consumer = ScriptedConsumer([[0, 1], None, None, None, None, None, [2, 3]])
    assert read(consumer, 0, 4, stall_warning_seconds=3, max_stall_seconds=60) == [0, 1, 2, 3]
    stalled = [r.getMessage() for r in caplog.records if r.getMessage().startswith("kafka_read_stalled")]
    resumed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("kafka_read_resumed")]
    assert len(stalled) == 1 and "topic=wire partition=0 offset=2 stop=4" in stalled[0]
    assert len(resumed) == 1 and "offset=2" in resumed[0]


def test_a_read_without_progress_fails_after_the_bound(monkeypatch):
    clock = iter(range(0, 1000)).__next__
    monkeypatch.setattr("pipeline.beam.kafka_read.time.monotonic", lambda: float(clock()))
    consumer = ScriptedConsumer([[0]])
    with pytest.raises(TimeoutError, match=r"no progress reading wire\[0\] at offset 1 \(planned stop 3\)"):
        read(consumer, 0, 3, stall_warning_seconds=2, max_stall_seconds=5)
