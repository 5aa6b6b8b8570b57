"""Run a real, local Apache Kafka broker (KRaft, combined broker+controller).

Why this exists: development, the integration tests and the demo need a real
Kafka (transactions, consumer groups, exactly-once semantics are not something
a fake can be trusted with), but this machine has no Docker and no Kafka
distribution. The only thing we can reach is Maven Central, so the broker is
assembled from its Maven artifacts (``kafka_2.13`` + log4j2) into a per-user
cache *outside* the repository and launched with plain ``java``.

Layout of a broker directory ``DIR`` (everything a broker owns lives there)::

    DIR/config/server.properties   rendered by :func:`render_server_properties`
    DIR/config/log4j2.properties   rendered by :func:`render_log4j2_config`
    DIR/data/                      log.dirs (meta.properties => formatted)
    DIR/logs/server.log            broker log, INFO, rolling + size-limited
    DIR/logs/stdout.log            JVM stdout/stderr (crashes, JVM errors)
    DIR/broker.json                pid + ports of the running broker

The parts: :mod:`~pipeline.ops.broker.jars` (the Kafka version and its jars from
Maven Central), :mod:`~pipeline.ops.broker.config` (the rendered config files),
:mod:`~pipeline.ops.broker.process` (start, stop, status, ports) and
:mod:`~pipeline.ops.broker.sasl` (the optional SASL_PLAINTEXT listener).

This package deliberately imports nothing from Beam: it is used by tests and
tooling that must stay light.
"""

from __future__ import annotations

from pipeline.ops.broker.config import random_cluster_id, render_log4j2_config, render_server_properties
from pipeline.ops.broker.jars import KAFKA_VERSION, BrokerError, ensure_broker_jars, jar_cache_dir, render_pom
from pipeline.ops.broker.process import (
    BrokerInfo,
    broker_status,
    free_port,
    port_is_free,
    start_broker,
    stop_broker,
)

__all__ = [
    "KAFKA_VERSION",
    "BrokerError",
    "BrokerInfo",
    "jar_cache_dir",
    "ensure_broker_jars",
    "start_broker",
    "stop_broker",
    "broker_status",
    "free_port",
    "port_is_free",
    "render_server_properties",
    "render_log4j2_config",
    "render_pom",
    "random_cluster_id",
]
