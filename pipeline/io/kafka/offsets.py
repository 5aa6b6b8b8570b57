"""The driver's view of Kafka: partitions, end offsets, and consumer-group commits for lag tools."""
from __future__ import annotations

import logging
from typing import Callable, Optional, TypeVar

from pipeline.io.kafka.config import client_settings
from pipeline.core.planning import TopicPartitionKey
from pipeline.core.retry import Failure, Recovery, RetryPolicy, call_with_retries, describe

log = logging.getLogger("newswire.kafka")
T = TypeVar("T")

# Metadata calls ride out short blips (a coordinator move, one timed-out request) here; a longer
# outage surfaces to the driver, which retries the whole planning step with its own backoff.
METADATA_RETRY = RetryPolicy(attempts=3, initial_backoff=1.0, max_backoff=4.0)


def log_kafka_failure(what: str, failure: Failure, err: BaseException) -> None:
    if failure.give_up:
        log.warning("kafka_call_failed what=%s attempt=%d/%d giving_up error=%s",
                    what, failure.attempt, failure.attempts, describe(err))
    else:
        log.warning("kafka_call_failed what=%s attempt=%d/%d backoff=%.1fs error=%s",
                    what, failure.attempt, failure.attempts, failure.backoff, describe(err))


def log_kafka_recovery(what: str, recovery: Recovery) -> None:
    log.info("kafka_call_resumed what=%s after_failures=%d outage=%.1fs", what, recovery.failures, recovery.outage_seconds)


class KafkaOffsetSource:
    """kafka-python implementation of the driver's ``OffsetSource``, with bounded retries.

    The consumer is created on first use, inside the retries, so a job started while Kafka is
    unreachable waits for it like a running job does instead of failing at start-up.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        group_id: str,
        policy: RetryPolicy = METADATA_RETRY,
        kafka_config_file: Optional[str] = None,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.group_id = group_id
        self.policy = policy
        self.kafka_config_file = kafka_config_file
        self._consumer = None

    @property
    def consumer(self):
        if self._consumer is None:
            from kafka import KafkaConsumer

            self._consumer = KafkaConsumer(
                **client_settings(
                    self.bootstrap_servers,
                    config_file=self.kafka_config_file,
                    group_id=self.group_id,
                    enable_auto_commit=False,
                    isolation_level="read_committed",
                )
            )
        return self._consumer

    def _retry(self, what: str, call: Callable[[], T]) -> T:
        return call_with_retries(what, call, self.policy, log_kafka_failure, log_kafka_recovery)

    def partitions(self, topics: list[str]) -> list[TopicPartitionKey]:
        def fetch() -> list[TopicPartitionKey]:
            found = []
            for topic in topics:
                parts = self.consumer.partitions_for_topic(topic)
                if not parts:
                    log.warning("topic_not_found topic=%s", topic)
                    continue
                found.extend((topic, p) for p in sorted(parts))
            return found

        return self._retry("partitions", fetch)

    def _tps(self, tps):
        from kafka import TopicPartition

        return [TopicPartition(t, p) for t, p in tps]

    def end_offsets(self, tps: list[TopicPartitionKey]) -> dict[TopicPartitionKey, int]:
        result = self._retry("end_offsets", lambda: self.consumer.end_offsets(self._tps(tps)))
        return {(tp.topic, tp.partition): int(o) for tp, o in result.items()}

    def beginning_offsets(self, tps: list[TopicPartitionKey]) -> dict[TopicPartitionKey, int]:
        result = self._retry("beginning_offsets", lambda: self.consumer.beginning_offsets(self._tps(tps)))
        return {(tp.topic, tp.partition): int(o) for tp, o in result.items()}

    def commit_group(self, offsets: dict[TopicPartitionKey, int], metadata: str) -> None:
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata

        payload = {TopicPartition(t, p): OffsetAndMetadata(o, metadata, -1) for (t, p), o in offsets.items()}
        # One attempt: the driver's GroupOffsetCommitter retries on later ticks without blocking batches.
        self.consumer.commit(payload)

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
