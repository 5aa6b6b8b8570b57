"""The driver's view of Kafka: partitions, end offsets, and consumer-group commits for lag tools."""
from __future__ import annotations

import logging
import time
from typing import Callable, Optional, TypeVar

from pipeline.kafka_config import client_settings
from pipeline.planning import TopicPartitionKey

log = logging.getLogger("newswire.kafka")
T = TypeVar("T")


class KafkaOffsetSource:
    """kafka-python implementation of the driver's ``OffsetSource``, with bounded retries."""

    def __init__(
        self,
        bootstrap_servers: str,
        group_id: str,
        attempts: int = 5,
        backoff: float = 1.0,
        kafka_config_file: Optional[str] = None,
    ) -> None:
        from kafka import KafkaConsumer

        self.attempts = attempts
        self.backoff = backoff
        self.consumer = KafkaConsumer(
            **client_settings(
                bootstrap_servers,
                config_file=kafka_config_file,
                group_id=group_id,
                enable_auto_commit=False,
                isolation_level="read_committed",
            )
        )

    def _retry(self, what: str, call: Callable[[], T]) -> T:
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                return call()
            except Exception as err:
                if attempt == self.attempts:
                    raise
                log.warning("kafka_retry what=%s attempt=%d/%d error=%s", what, attempt, self.attempts, err)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
        raise AssertionError("unreachable")

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
        self._retry("commit_group", lambda: self.consumer.commit(payload))

    def close(self) -> None:
        self.consumer.close()
