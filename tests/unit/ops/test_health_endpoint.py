"""/healthz over real HTTP while the real driver loop runs: 200 while committing, 503 while commits
keep failing and records wait, 200 again once a commit gets through.

Kafka is an in-memory log and the batch runner writes nothing (what a batch contains does not
matter here); the driver loop, its commit protocol on a real lake folder, the metrics observer and
the HTTP server are the real ones.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from prometheus_client import generate_latest

from pipeline.io.lake.commitlog import BatchPlan
from pipeline.job.driver import JobConfig, MicroBatchDriver
from pipeline.core.contract import BatchSpec
from pipeline.ops.metrics import JobMetrics, MetricsServer
from pipeline.core.planning import OffsetRange

from tests.support.http_probe import http_get, samples, value  # noqa: E402

TOPIC = "wire"


class GrowingTopic:
    """OffsetSource over an in-memory topic with two partitions that the test appends to."""

    def __init__(self) -> None:
        self.ends = {(TOPIC, 0): 0, (TOPIC, 1): 0}

    def append(self, partition: int, count: int) -> None:
        self.ends[(TOPIC, partition)] += count

    def partitions(self, topics):
        return sorted(self.ends)

    def end_offsets(self, tps):
        return {tp: self.ends[tp] for tp in tps}

    def beginning_offsets(self, tps):
        return {tp: 0 for tp in tps}

    def commit_group(self, offsets, metadata):
        pass

    def close(self):
        pass


def writes_nothing(spec: BatchSpec) -> dict:
    return {}


def test_healthz_fails_while_commits_fail_and_lag_waits_then_recovers(tmp_path):
    source = GrowingTopic()
    metrics = JobMetrics(tmp_path / "lake", max_missed_triggers=2)
    server = MetricsServer(metrics, "127.0.0.1", 0).start()
    failures_left = {"n": 0}

    def fail_before_commit(point: str) -> None:
        if point == "state_published" and failures_left["n"] > 0:
            failures_left["n"] -= 1
            if failures_left["n"] == 0:
                driver.stop_event.set()  # stop the loop after the last failing trigger
            raise OSError("commit log not writable")

    config = JobConfig(bootstrap_servers="unused", topics=[TOPIC], lake=tmp_path / "lake", trigger_interval=0, until_idle=0)
    driver = MicroBatchDriver(config, source, writes_nothing, crash_hook=fail_before_commit, observer=metrics)
    try:
        status, body = http_get(server.port, "/readyz")
        assert status == 503 and "no successful plan" in json.loads(body)["reason"]

        source.append(0, 3)
        source.append(1, 2)
        assert driver.run() == 1  # one batch, then an idle trigger
        status, body = http_get(server.port, "/healthz")
        assert status == 200, body
        assert json.loads(body)["consumer_lag"] == 0 and json.loads(body)["last_commit_batch"] == 0
        assert http_get(server.port, "/readyz")[0] == 200

        source.append(0, 4)
        failures_left["n"] = 3
        assert driver.run() == 1  # batches run by this driver so far: the failing one never committed
        status, body = http_get(server.port, "/healthz")
        health = json.loads(body)
        assert status == 503, body
        assert health["status"] == "unhealthy" and health["triggers_since_commit"] == 4 and health["consumer_lag"] == 4
        assert "no commit in 4 triggers" in health["reason"]  # the idle trigger after batch 0, then 3 failures
        _, scrape = http_get(server.port, "/metrics")
        assert value(samples(scrape), "newswire_healthy") == 0
        assert value(samples(scrape), "newswire_triggers_total", outcome="failed") == 3
        assert value(samples(scrape), "newswire_consumer_lag_records", topic=TOPIC, partition="0") == 4
        assert value(samples(scrape), "newswire_consumer_lag_records", topic=TOPIC, partition="1") == 0

        driver.stop_event.clear()
        assert driver.run() == 2  # the planned batch is replayed and commits
        status, body = http_get(server.port, "/healthz")
        assert status == 200 and json.loads(body)["triggers_since_commit"] == 1, body
        _, scrape = http_get(server.port, "/metrics")
        assert value(samples(scrape), "newswire_healthy") == 1
        assert value(samples(scrape), "newswire_batches_committed_total") == 2
        assert value(samples(scrape), "newswire_batches_replayed_total") == 1
        assert value(samples(scrape), "newswire_records_read_total") == 9
        assert value(samples(scrape), "newswire_last_committed_batch_id") == 1
        assert value(samples(scrape), "newswire_batch_phase_duration_seconds_count", phase="commit") == 2
        assert value(samples(scrape), "newswire_consumer_lag_records", topic=TOPIC, partition="0") == 0
        assert http_get(server.port, "/nothing")[0] == 404
    finally:
        server.stop()


def test_a_restarted_job_reports_the_lake_s_last_commit(tmp_path):
    source = GrowingTopic()
    source.append(0, 2)
    committed_at = datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)
    config = JobConfig(bootstrap_servers="unused", topics=[TOPIC], lake=tmp_path / "lake", trigger_interval=0, until_idle=0)
    MicroBatchDriver(config, source, writes_nothing, clock=lambda: committed_at).run()

    metrics = JobMetrics(tmp_path / "lake", clock=lambda: committed_at.timestamp() + 42)
    scrape = generate_latest(metrics.registry).decode()
    assert value(samples(scrape), "newswire_last_committed_batch_id") == 0
    assert value(samples(scrape), "newswire_last_commit_timestamp_seconds") == committed_at.timestamp()
    assert value(samples(scrape), "newswire_last_commit_age_seconds") == 42
    assert not metrics.readiness().ok and metrics.health().ok  # starting: nothing planned by this process yet


def test_no_last_commit_series_before_the_first_commit(tmp_path):
    scrape = generate_latest(JobMetrics(tmp_path / "lake").registry).decode()
    assert "newswire_last_commit" not in scrape and "newswire_healthy 1.0" in scrape


def test_a_replayed_batch_that_keeps_failing_counts_its_records_as_waiting(tmp_path):
    """After a restart the pending batch is replayed without fetching offsets; its records are the lag."""
    metrics = JobMetrics(tmp_path / "lake", max_missed_triggers=2)
    plan = BatchPlan(batch_id=5, ranges=(OffsetRange(TOPIC, 0, 10, 17),), planned_at=datetime.now(timezone.utc), base_batch=4)
    for _ in range(2):
        metrics.planned(plan, replayed=True)
        metrics.trigger_finished(OSError("lake unwritable"))
    verdict = metrics.health()
    assert verdict.status == 503 and "consumer lag is 7 records" in verdict.reason


def test_a_failing_metric_update_never_fails_the_batch(tmp_path, caplog):
    """An unreadable staged dead-letter file: the hook logs and returns; the letters count as ``other``."""
    staging = tmp_path / "staging"
    broken = Path("dead_letters") / "date=2026-11-24" / "part-wire-00000-00000000000000000000.parquet"
    (staging / broken).parent.mkdir(parents=True)
    (staging / broken).write_bytes(b"not parquet")
    metrics = JobMetrics(tmp_path / "lake")
    metrics.batch_staged(0, staging, [broken])
    assert "metrics_update_failed hook=batch_staged" in caplog.text

    source = GrowingTopic()
    source.append(0, 2)
    config = JobConfig(bootstrap_servers="unused", topics=[TOPIC], lake=tmp_path / "lake", trigger_interval=0, until_idle=0)
    driver = MicroBatchDriver(config, source, writes_nothing)
    result = driver.run_once()
    result.commit.stats["dead_letters"] = 2  # as if the batch had written the two letters above
    metrics.batch_committed(result)
    scraped = samples(generate_latest(metrics.registry).decode())
    assert value(scraped, "newswire_dead_letters_total", stage="other", error_code="other") == 2
    assert value(scraped, "newswire_batches_committed_total") == 1
