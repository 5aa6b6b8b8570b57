"""Integration test: a real Kafka 4.1.1 broker (KRaft) via pipeline.ops.broker.

Needs java (and mvn the first time, to fill the jar cache); CI installs both, so nothing is skipped.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest

from pipeline.ops.broker import (
    BrokerInfo,
    broker_status,
    ensure_broker_jars,
    free_port,
    start_broker,
    stop_broker,
)




def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie is gone too
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.fixture(scope="module")
def broker_dir(tmp_path_factory):
    ensure_broker_jars()  # outside the start timeout: first run downloads from Maven Central
    d = tmp_path_factory.mktemp("kafka")
    yield d
    stop_broker(d)  # safety net if a test failed half-way


def test_broker_lifecycle(broker_dir):
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

    port = free_port()
    info = start_broker(broker_dir, port=port, timeout=90)
    assert isinstance(info, BrokerInfo)
    assert info.port == port and info.controller_port == port + 1
    assert info.bootstrap == f"127.0.0.1:{port}"
    assert (broker_dir / "broker.json").exists()
    assert (broker_dir / "data" / "meta.properties").exists()

    # idempotent: same dir, already running -> same process
    again = start_broker(broker_dir, port=port)
    assert again.pid == info.pid

    status = broker_status(broker_dir)
    assert status is not None and status.pid == info.pid and status.bootstrap == info.bootstrap

    topic = f"it-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=info.bootstrap)
    try:
        admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}}, wait_for_metadata=True)
        assert topic in admin.list_topics()
    finally:
        admin.close()

    producer = KafkaProducer(bootstrap_servers=info.bootstrap, acks="all")
    try:
        for i in range(3):
            producer.send(topic, key=f"k{i}".encode(), value=f"message-{i}".encode()).get(timeout=30)
        producer.flush()
    finally:
        producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=info.bootstrap,
        group_id=f"g-{topic}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=20000,
    )
    try:
        values = []
        deadline = time.monotonic() + 60
        while len(values) < 3 and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                values.extend(r.value.decode() for r in records)
    finally:
        consumer.close()
    assert values == ["message-0", "message-1", "message-2"]

    # the log goes to the rolling file, at INFO
    server_log = (broker_dir / "logs" / "server.log").read_text()
    assert " INFO " in server_log and "Kafka Server started" in server_log

    assert stop_broker(broker_dir) is True
    assert _pid_gone(info.pid)
    assert broker_status(broker_dir) is None
    assert not (broker_dir / "broker.json").exists()
    assert stop_broker(broker_dir) is False


def test_restart_keeps_data_and_is_idempotent(broker_dir):
    """Second start on the formatted dir: no re-format, topics survive, repeat start is a no-op."""
    from kafka import KafkaAdminClient

    meta_before = (broker_dir / "data" / "meta.properties").read_text()
    info = start_broker(broker_dir, port=free_port(), timeout=90)
    try:
        assert (broker_dir / "data" / "meta.properties").read_text() == meta_before
        assert start_broker(broker_dir, port=info.port).pid == info.pid
        admin = KafkaAdminClient(bootstrap_servers=info.bootstrap)
        try:
            assert any(t.startswith("it-") for t in admin.list_topics())
        finally:
            admin.close()
    finally:
        assert stop_broker(broker_dir) is True
    assert _pid_gone(info.pid)
    assert broker_status(broker_dir) is None
