"""Bounded Kafka reads inside Beam: a splittable DoFn over planned offset ranges.

Each element is ``(topic, partition, start, stop)``; the restriction is the offset range, so a
distributed runner can split a large range between workers and report progress by offsets.
Exactly the planned records are emitted: a record at or beyond ``stop`` is never emitted, and gaps
(compacted offsets, transaction markers, aborted records) are skipped without waiting for them.
"""
from __future__ import annotations

import logging
import time
from typing import Iterator, Optional

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.transforms.core import RestrictionProvider

from pipeline.io.kafka.config import client_settings
from pipeline.news.model import KafkaRecord

log = logging.getLogger(__name__)

RangeElement = tuple  # (topic, partition, start, stop)
INITIAL_SPLIT_RECORDS = 10_000


class KafkaRangeRestrictionProvider(RestrictionProvider):
    """Offset restrictions for planned ranges, pre-split into chunks for parallel runners."""

    def __init__(self, initial_split_records: int = INITIAL_SPLIT_RECORDS) -> None:
        self.initial_split_records = initial_split_records

    def initial_restriction(self, element: RangeElement) -> OffsetRange:
        _topic, _partition, start, stop = element
        return OffsetRange(start, stop)

    def create_tracker(self, restriction: OffsetRange) -> OffsetRestrictionTracker:
        return OffsetRestrictionTracker(restriction)

    def split(self, element: RangeElement, restriction: OffsetRange) -> Iterator[OffsetRange]:
        yield from restriction.split(self.initial_split_records)

    def restriction_size(self, element: RangeElement, restriction: OffsetRange) -> int:
        return restriction.size()


class _ReadKafkaRangeFn(beam.DoFn):
    """Reads records [start, stop) of one topic partition with kafka-python.

    Only the bootstrap servers and the settings file's path travel with the DoFn; credentials are
    read from the worker's environment (and that file) in ``setup``, so they are never pickled.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        poll_timeout_ms: int = 1000,
        max_stall_seconds: float = 120.0,
        stall_warning_seconds: float = 10.0,
        kafka_config_file: Optional[str] = None,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.kafka_config_file = kafka_config_file
        self.poll_timeout_ms = poll_timeout_ms
        self.max_stall_seconds = max_stall_seconds
        self.stall_warning_seconds = stall_warning_seconds
        self._consumer = None

    def setup(self) -> None:
        from kafka import KafkaConsumer

        from pipeline.core.redaction import install_log_redaction

        install_log_redaction()  # a worker process may never have run the CLI's logging set-up
        self._consumer = KafkaConsumer(
            **client_settings(
                self.bootstrap_servers,
                config_file=self.kafka_config_file,
                enable_auto_commit=False,
                group_id=None,
                isolation_level="read_committed",
                max_poll_records=2000,
                fetch_max_bytes=64 * 1024 * 1024,
                max_partition_fetch_bytes=16 * 1024 * 1024,
            )
        )

    def teardown(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def process(
        self,
        element: RangeElement,
        tracker=beam.DoFn.RestrictionParam(KafkaRangeRestrictionProvider()),
    ) -> Iterator[KafkaRecord]:
        from kafka import TopicPartition

        topic, partition, _start, _stop = element
        restriction = tracker.current_restriction()
        tp = TopicPartition(topic, partition)
        consumer = self._consumer
        consumer.assign([tp])
        consumer.seek(tp, restriction.start)
        last_progress = time.monotonic()
        stall_reported = False
        while True:
            stop = tracker.current_restriction().stop
            if consumer.position(tp) >= stop:
                # Everything below stop was fetched; trailing offsets were gaps. Claiming stop fails
                # by design and tells the tracker the restriction is done.
                tracker.try_claim(stop)
                return
            batches = consumer.poll(timeout_ms=self.poll_timeout_ms)
            records = batches.get(tp, [])
            if not records:
                stalled = time.monotonic() - last_progress
                if stalled > self.max_stall_seconds:
                    raise TimeoutError(
                        f"no progress reading {topic}[{partition}] at offset {consumer.position(tp)} "
                        f"(planned stop {stop}) for {self.max_stall_seconds:.0f}s"
                    )
                if stalled > self.stall_warning_seconds and not stall_reported:
                    log.warning(
                        "kafka_read_stalled topic=%s partition=%d offset=%d stop=%d seconds=%.0f "
                        "(waiting for the broker; the batch fails after %.0fs without progress)",
                        topic, partition, consumer.position(tp), stop, stalled, self.max_stall_seconds,
                    )
                    stall_reported = True
                continue
            if stall_reported:
                log.info("kafka_read_resumed topic=%s partition=%d offset=%d stalled_seconds=%.1f",
                         topic, partition, records[0].offset, time.monotonic() - last_progress)
                stall_reported = False
            last_progress = time.monotonic()
            for record in records:
                if not tracker.try_claim(record.offset):
                    return
                yield KafkaRecord(
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    key=record.key,
                    value=record.value,
                    timestamp_ms=record.timestamp,
                )


class ReadKafkaRanges(beam.PTransform):
    """Planned ``(topic, partition, start, stop)`` ranges -> the Kafka records in them, exactly those.

    The read is a splittable DoFn, so a distributed runner may split one range across workers;
    credentials are read on the worker (see :class:`_ReadKafkaRangeFn`), never carried in the graph.
    """

    def __init__(self, bootstrap_servers: str, kafka_config_file: Optional[str] = None) -> None:
        super().__init__()
        self.bootstrap_servers = bootstrap_servers
        self.kafka_config_file = kafka_config_file

    def expand(self, ranges: beam.PCollection) -> beam.PCollection:
        return ranges | "ReadRanges" >> beam.ParDo(
            _ReadKafkaRangeFn(self.bootstrap_servers, kafka_config_file=self.kafka_config_file)
        )
