"""`newswire produce --samples`, as the compose `demo` profile runs it: the bundled feed onto a broker that
the demo did not start, every message intact."""
from __future__ import annotations

from collections import Counter

from conftest import newswire
from kafka import KafkaConsumer, TopicPartition

from pipeline.ops.demo import sample_messages


def all_records(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes]]:
    """Every record of the topic, from the beginning to the end offsets read first."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, max_partition_fetch_bytes=8 << 20)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    ends = consumer.end_offsets(partitions)
    found = []
    for _ in range(200):
        for records in consumer.poll(timeout_ms=500).values():
            found.extend((r.key, r.value) for r in records)
        if all(consumer.position(tp) >= ends[tp] for tp in partitions):
            break
    consumer.close()
    return found


def test_samples_are_published_whole_to_an_existing_broker(kafka_bootstrap, topic):
    result = newswire("produce", "--bootstrap-servers", kafka_bootstrap, "--topic", topic, "--samples", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = sample_messages()
    assert result.stdout.strip() == f"published {len(expected)} messages to {topic}"
    assert Counter(all_records(kafka_bootstrap, topic)) == Counter(expected)


def test_samples_create_the_topic_when_it_is_missing(kafka_bootstrap, topic):
    fresh = f"{topic}-new"
    result = newswire("produce", "--bootstrap-servers", kafka_bootstrap, "--topic", fresh, "--samples", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(all_records(kafka_bootstrap, fresh)) == len(sample_messages())


def test_produce_needs_a_file_or_samples_but_not_both(kafka_bootstrap, topic, tmp_path):
    neither = newswire("produce", "--bootstrap-servers", kafka_bootstrap, "--topic", topic)
    assert neither.returncode == 2 and "one of the arguments file --samples is required" in neither.stderr
    both = newswire("produce", "--bootstrap-servers", kafka_bootstrap, "--topic", topic, "--samples", str(tmp_path / "f"))
    assert both.returncode == 2 and "not allowed with argument --samples" in both.stderr
