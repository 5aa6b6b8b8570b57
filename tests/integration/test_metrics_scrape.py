"""`newswire run --metrics-port` against a real broker: /metrics counts what the job wrote, /healthz
and /readyz answer, and --log-format json writes one JSON object per line."""
from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Callable

from conftest import FIXTURE_LOOKBACK, newswire_popen
from pipeline.ops.broker import free_port
from pipeline.ops.compose import produce

ROOT = Path(__file__).resolve().parents[2]
from tests.support.http_probe import http_get, samples, value  # noqa: E402


BODIES = {
    "brussels": "Officials from France and Germany met in Brussels on Tuesday to agree on a common budget for "
    "the coming year, after weeks of talks between finance ministers.\n\nThe European Commission said the "
    "negotiations would continue in Paris next week, with a final vote expected before the summer recess.",
    "harbour": "Fishermen in Marseille blocked the old harbour on Wednesday morning in protest against new quotas "
    "set by the ministry of agriculture, stopping ferries to Corsica.\n\nPolice said the blockade ended "
    "peacefully in the afternoon after the mayor promised to raise the issue with the government in Paris.",
    "storm": "A storm swept across northern Spain on Thursday, cutting power to thousands of homes in Bilbao and "
    "closing the airport in Santander for most of the day.\n\nThe national weather agency warned that heavy "
    "rain would continue over the weekend and asked residents near rivers to stay alert.",
}


def story(uri: str, body: str, version: int = 1) -> bytes:
    return json.dumps(
        {"uri": uri, "version": version, "headline": f"Wire story {uri}", "body_text": BODIES[body],
         "firstcreated": "2026-11-24T08:00:00Z"}
    ).encode()


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    status, text = http_get(port, "/metrics")
    return samples(text) if status == 200 else {}


def lag_total(scraped: dict) -> float:
    lags = [v for (name, _labels), v in scraped.items() if name == "newswire_consumer_lag_records"]
    return sum(lags) if lags else float("nan")


def caught_up(port: int, articles: int) -> bool:
    """The job has written this many articles and its lag is back to 0."""
    scraped = scrape(port)
    return value(scraped, "newswire_rows_written_total", table="articles") == articles and lag_total(scraped) == 0


def wait_until(condition: Callable[[], bool], what: str, proc, log_path) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if condition():
            return
        assert proc.poll() is None, f"the job exited while waiting for {what}:\n{log_path.read_text()[-3000:]}"
        time.sleep(0.5)
    raise AssertionError(f"gave up waiting for {what}:\n{log_path.read_text()[-3000:]}")


def test_metrics_health_and_json_logs_of_a_running_job(kafka_bootstrap, topic, tmp_path):
    port = free_port()
    log_path = tmp_path / "job.log"
    with open(log_path, "w") as log_file:
        proc = newswire_popen(
            "--log-format", "json", "run", "--bootstrap-servers", kafka_bootstrap, "--topic", topic,
            "--lake", str(tmp_path / "lake"), "--group-id", "g-metrics", "--trigger-interval", "0.2",
            "--ner-processes", "1", "--metrics-port", str(port), "--metrics-host", "127.0.0.1",
            *FIXTURE_LOOKBACK,
            stdout=log_file, stderr=log_file,
        )
    try:
        wait_until(lambda: http_get(port, "/readyz")[0] == 200, "/readyz", proc, log_path)
        before = scrape(port)
        assert lag_total(before) == 0 and value(before, "newswire_batches_committed_total") == 0

        first = [(b"a", story("urn:test:a", "brussels"), 0), (b"b", story("urn:test:b", "harbour"), 1),
                 (b"c", story("urn:test:c", "storm"), 2),
                 (b"bad", b'{"uri": "urn:test:broken", ', 1)]
        produce(kafka_bootstrap, topic, first)
        wait_until(lambda: caught_up(port, articles=3), "the first round", proc, log_path)
        # a redelivery of a, and d: another outlet's exact copy of b
        second = [(b"a", story("urn:test:a", "brussels"), 0), (b"d", story("urn:test:d", "harbour"), 2)]
        produce(kafka_bootstrap, topic, second)
        wait_until(lambda: caught_up(port, articles=4), "the second round", proc, log_path)

        s = scrape(port)
        assert value(s, "newswire_batches_committed_total") >= 2
        assert value(s, "newswire_records_read_total") == 6
        assert value(s, "newswire_dead_letters_total", stage="decode", error_code="invalid_json") == 1
        assert sum(v for (name, _l), v in s.items() if name == "newswire_dead_letters_total") == 1
        assert value(s, "newswire_rows_written_total", table="dead_letters") == 1
        assert value(s, "newswire_rows_written_total", table="entities") > 0
        assert value(s, "newswire_redeliveries_skipped_total") == 1
        assert value(s, "newswire_duplicates_total", kind="exact") == 1
        assert value(s, "newswire_duplicates_total", kind="near") == 0
        for partition in ("0", "1", "2"):
            assert value(s, "newswire_consumer_lag_records", topic=topic, partition=partition) == 0
        assert value(s, "newswire_end_offset", topic=topic, partition="1") == 2
        assert value(s, "newswire_committed_offset", topic=topic, partition="1") == 2
        assert value(s, "newswire_ner_paragraphs_total") == 6  # two distinct paragraphs in each of three bodies
        assert value(s, "newswire_ner_paragraphs_reused_total") == 2  # d's paragraphs, cached from b
        assert value(s, "newswire_ner_seconds_total") > 0
        assert value(s, "newswire_state_rows", section="seen_versions") == 4
        assert value(s, "newswire_state_bytes", section="seen_versions") > 0
        assert value(s, "newswire_batch_duration_seconds_count") == value(s, "newswire_batches_committed_total")
        assert value(s, "newswire_batch_phase_duration_seconds_count", phase="beam") == value(
            s, "newswire_batches_committed_total"
        )
        assert value(s, "newswire_last_commit_timestamp_seconds") > 0
        assert value(s, "newswire_healthy") == 1 and value(s, "newswire_ready") == 1

        status, body = http_get(port, "/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok" and json.loads(body)["consumer_lag"] == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    assert proc.returncode == 0, log_path.read_text()[-3000:]

    entries = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    committed = [e for e in entries if e["message"].startswith("batch_committed")]
    assert committed and all(isinstance(e["batch_id"], int) and "rows" in e and e["ranges"] for e in committed)
    assert sum(e["rows"] for e in committed) == 4
    assert {e["logger"] for e in entries} >= {"newswire.job", "newswire.driver"}
    assert all(e["ts"].endswith("Z") and e["level"] for e in entries)
