"""Wiring of the long-running job and small producer helpers (Kafka IO kept out of the pure core)."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Iterable, Optional

from pipeline.beam.runner import make_batch_runner
from pipeline.job.driver import JobConfig, MicroBatchDriver
from pipeline.io.kafka.config import client_settings
from pipeline.io.kafka.offsets import KafkaOffsetSource
from pipeline.core.retry import RetriesExhausted
from pipeline.io.lake.commitlog import ConcurrentWriter
from pipeline.io.lake.writer_lock import WriterLockHeld

log = logging.getLogger("newswire.job")

# sysexits' EX_TEMPFAIL: the job gave up on a failure that may well pass (Kafka down for longer than
# the retry policy rides out); a supervisor restarting it later is the right reaction.
EXIT_RETRIES_EXHAUSTED = 75
EXIT_LAKE_HELD = 73  # EX_CANTCREAT: another job writes to this lake


def run_job(config: JobConfig) -> int:
    """``newswire run``: the driver loop with the Beam runner and kafka-python offsets."""
    observer, server = None, None
    if config.metrics_port is not None:
        from pipeline.ops.metrics import JobMetrics, MetricsServer

        observer = JobMetrics(config.lake, config.health_max_missed_triggers)
        try:
            server = MetricsServer(observer, config.metrics_host, config.metrics_port).start()
        except OSError as err:  # port taken, or an address this host does not have
            log.error("metrics_port_unavailable host=%s port=%d error=%s", config.metrics_host, config.metrics_port, err.strerror)
            return 2
        log.info("metrics_listening host=%s port=%d", config.metrics_host, server.port)
    source = KafkaOffsetSource(config.bootstrap_servers, config.group_id, kafka_config_file=config.kafka_config_file)
    driver = MicroBatchDriver(config, source, make_batch_runner(config.beam_args), observer=observer)
    driver.install_signal_handlers()
    log.info(
        "job_started topics=%s lake=%s group=%s trigger_interval=%s max_records_per_batch=%s runner_args=%s",
        ",".join(config.topics),
        config.lake,
        config.group_id,
        config.trigger_interval,
        config.max_records_per_batch,
        " ".join(config.beam_args) or "DirectRunner",
    )
    try:
        batches = driver.run()
    except RetriesExhausted as err:
        log.error("job_gave_up %s; exiting with status %d", err, EXIT_RETRIES_EXHAUSTED)
        return EXIT_RETRIES_EXHAUSTED
    except (WriterLockHeld, ConcurrentWriter) as err:
        log.error("lake_has_another_writer %s; exiting with status %d", err, EXIT_LAKE_HELD)
        return EXIT_LAKE_HELD
    finally:
        source.close()
        if server is not None:
            server.stop()
    log.info("job_stopped batches=%d", batches)
    return 0


def ensure_topic(bootstrap_servers: str, topic: str, partitions: int, kafka_config_file: Optional[str] = None) -> None:
    """Create the topic if it does not exist (for the demo and tests; production topics are managed)."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(**client_settings(bootstrap_servers, config_file=kafka_config_file))
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


def produce(
    bootstrap_servers: str,
    topic: str,
    messages: Iterable[tuple[Optional[bytes], bytes, Optional[int]]],
    max_request_size: int = 8 * 1024 * 1024,
    kafka_config_file: Optional[str] = None,
) -> list[tuple[int, int]]:
    """Publish (key, value, partition) tuples; wait for every acknowledgement; return (partition, offset)s."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        **client_settings(
            bootstrap_servers,
            config_file=kafka_config_file,
            acks="all",
            linger_ms=5,
            max_request_size=max_request_size,
        )
    )
    try:
        futures = [producer.send(topic, key=key, value=value, partition=partition) for key, value, partition in messages]
        producer.flush()
        metadata = [f.get(timeout=60) for f in futures]
    finally:
        producer.close()
    return [(m.partition, m.offset) for m in metadata]


def produce_file(
    bootstrap_servers: str, topic: str, path: Path, partitions: int = 3, kafka_config_file: Optional[str] = None
) -> int:
    """Publish a JSON-lines file: one message per non-empty line, keyed by the story uri when present."""
    ensure_topic(bootstrap_servers, topic, partitions, kafka_config_file)

    def messages():
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            key = None
            try:
                uri = json.loads(line).get("uri")
                key = uri.encode("utf-8") if isinstance(uri, str) else None
            except (ValueError, AttributeError):
                pass
            yield key, line.encode("utf-8"), None

    return len(produce(bootstrap_servers, topic, messages(), kafka_config_file=kafka_config_file))
