"""The broker goes away under a running job: (a) stopped for 30 s and restarted on the same data,
(b) frozen with SIGSTOP for 60 s. The job waits with bounded, logged retries and resumes on its own;
every message published before, during and after the fault lands in the lake exactly once.

These tests stop and freeze a broker, so they start their own (the shared one serves other tests).
Messages "published during" the fault are held by the test, as a producer's buffer would, and sent
as soon as the broker is back.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Callable

import pytest
from tests.support.lake_checks import group_offsets_and_ends

from conftest import newswire_popen
from pipeline.ops.broker import BrokerInfo, broker_status, ensure_broker_jars, free_port, start_broker, stop_broker
from pipeline.io.lake.commitlog import CommitLog
from pipeline.ops.compose import ensure_topic, produce
from pipeline.io.lake.layout import LakeLayout
from pipeline.io.lake.query import connect

STOP_SECONDS = 30
PAUSE_SECONDS = 60
PER_PHASE = 9  # messages per phase (before, during, after), three per partition
WAIT_LIMIT = 300  # seconds a phase may take before the test fails (a deadline, not a timing check)

FAILURE_LINE = re.compile(
    r"(batch_failed stage=\w+ attempt=\d+/\d+"
    r"|kafka_call_failed what=\w+ attempt=\d+/\d+"
    r"|group_offset_commit_failed batch=\d+ attempt=\d+/\d+"
    r"|kafka_read_stalled )"
)
RESUMED_LINE = re.compile(r"(batch_resumed|kafka_call_resumed|group_offset_commit_resumed|kafka_read_resumed) ")


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory):
    ensure_broker_jars()
    broker_dir = tmp_path_factory.mktemp("fault-broker")
    info = start_broker(broker_dir, port=free_port(), timeout=120)
    try:
        yield info
    finally:
        # a failed test may leave the broker frozen: wake it so it can shut down cleanly
        running = broker_status(broker_dir)
        if running is not None:
            os.kill(running.pid, signal.SIGCONT)
        stop_broker(broker_dir)


def stories(phase: str, run: str) -> list[tuple[bytes, bytes, int]]:
    """Distinct one-version stories, spread evenly over the three partitions."""
    out = []
    for i in range(PER_PHASE):
        uri = f"urn:test:fault:{run}:{phase}:{i}"
        doc = {
            "uri": uri, "version": 1, "type": "text", "language": "en",
            "headline": f"Harbour authority in Rotterdam reports {phase} shipment {i}",
            "body_text": f"Officials at the Port of Rotterdam said on Tuesday that {phase} shipment number {i} "
                         f"of run {run} had been cleared by customs in the Netherlands.",
            "firstcreated": "2026-11-24T10:00:00Z", "versioncreated": "2026-11-24T10:00:00Z",
        }
        out.append((uri.encode(), json.dumps(doc).encode(), i % 3))
    return out


def wait_until(condition: Callable[[], bool], what: str, job: subprocess.Popen, stderr: Path) -> None:
    deadline = time.monotonic() + WAIT_LIMIT
    while time.monotonic() < deadline:
        assert job.poll() is None, f"the job exited ({job.returncode}) while {what}:\n{stderr.read_text()[-4000:]}"
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {WAIT_LIMIT}s while {what}:\n{stderr.read_text()[-4000:]}")


def committed_through(lake: Path, offsets: list[tuple[int, int]]) -> Callable[[], bool]:
    """True once the commit log has passed every (partition, offset) given."""
    def check() -> bool:
        if not lake.exists():
            return False
        last = CommitLog(LakeLayout(lake)).latest_commit()
        if last is None:
            return False
        ends = {p: o for (_t, p), o in last.end_offsets.items()}
        return all(ends.get(p, 0) > o for p, o in offsets)

    return check


def ride_out(broker: BrokerInfo, tmp_path: Path, fault: Callable[[], None]) -> tuple[str, str, Path, list]:
    """Run the job through ``fault``; returns the topic, the job's log, the lake and every message sent."""
    run = uuid.uuid4().hex[:8]
    topic = f"fault-{run}"
    ensure_topic(broker.bootstrap, topic, 3)
    lake = tmp_path / "lake"
    stderr = tmp_path / "job.log"
    sent = []

    def publish(phase: str) -> list[tuple[int, int]]:
        messages = stories(phase, run)
        offsets = produce(broker.bootstrap, topic, messages)
        sent.extend((key.decode(), p, o) for (key, _v, _p), (p, o) in zip(messages, offsets))
        return offsets

    before = publish("before")
    with stderr.open("w") as err:
        job = newswire_popen(
            "run", "--bootstrap-servers", broker.bootstrap, "--topic", topic, "--lake", str(lake),
            "--group-id", f"g-{run}", "--trigger-interval", "1", "--retry-max-backoff", "2",
            "--ner-processes", "1", stdout=subprocess.DEVNULL, stderr=err,
        )
    try:
        wait_until(committed_through(lake, before), "processing the messages sent before the fault", job, stderr)
        fault()
        assert job.poll() is None, f"the job exited during the fault:\n{stderr.read_text()[-4000:]}"
        during = publish("during")  # held by the test while the broker was away
        wait_until(committed_through(lake, during), "processing the messages held during the fault", job, stderr)
        after = publish("after")
        wait_until(committed_through(lake, after), "processing the messages sent after the fault", job, stderr)

        def group_caught_up() -> bool:
            committed, ends = group_offsets_and_ends(broker.bootstrap, topic, f"g-{run}")
            return committed == ends

        wait_until(group_caught_up, "waiting for the consumer-group offsets", job, stderr)
    finally:
        if job.poll() is None:
            job.send_signal(signal.SIGTERM)
        job.wait(timeout=120)
    log = stderr.read_text()
    assert job.returncode == 0, log[-4000:]
    return topic, log, lake, sent


def assert_every_message_once(lake: Path, topic: str, sent: list[tuple[str, int, int]]) -> None:
    con = connect(lake)
    rows = con.execute('SELECT story_id, version, topic, "partition", "offset" FROM articles').fetchall()
    assert len(rows) == len(sent) == 3 * PER_PHASE, f"{len(rows)} rows for {len(sent)} messages"
    assert sorted((s, p, o) for s, _v, _t, p, o in rows) == sorted(sent), "lost or duplicated messages"
    assert {t for _s, _v, t, _p, _o in rows} == {topic}
    assert con.execute("SELECT count(*) FROM dead_letters").fetchone() == (0,)
    assert con.execute("SELECT count(*), count(DISTINCT story_id) FROM stories").fetchone() == (len(sent), len(sent))

    log = CommitLog(LakeLayout(lake))
    assert log.pending_plan() is None
    ids = log.batch_ids()
    assert ids == list(range(len(ids)))
    covered: dict[int, list[tuple[int, int]]] = {}
    for batch_id in ids:
        for r in log.plan(batch_id).ranges:
            covered.setdefault(r.partition, []).append((r.start, r.stop))
    for partition, ranges in covered.items():
        ranges.sort()
        assert ranges[0][0] == 0 and all(a[1] == b[0] for a, b in zip(ranges, ranges[1:])), (
            f"partition {partition}: batches overlap or leave a gap: {ranges}"
        )
    ends = {p: max(o for _s, sp, o in sent if sp == p) + 1 for _s, p, _o in sent}
    assert {p: r[-1][1] for p, r in covered.items()} == ends
    assert {p: o for (_t, p), o in log.latest_commit().end_offsets.items()} == ends
    stats = [log.commit(b).stats for b in ids]
    assert sum(s["records"] for s in stats) == sum(s["rows"] for s in stats) == len(sent)


def assert_logged_wait_and_resume(log: str) -> None:
    assert FAILURE_LINE.search(log), f"no retry line for the outage:\n{log[-4000:]}"
    assert RESUMED_LINE.search(log), f"no line saying the job resumed:\n{log[-4000:]}"
    assert "job_gave_up" not in log and "Traceback" not in log, log[-4000:]
    assert "stop_requested" in log and "job_stopped" in log


def test_broker_stopped_for_30s_and_restarted_on_the_same_data(own_broker, tmp_path):
    def stop_and_restart() -> None:
        stopped_at = time.monotonic()
        assert stop_broker(own_broker.dir)
        time.sleep(max(0.0, STOP_SECONDS - (time.monotonic() - stopped_at)))
        start_broker(own_broker.dir, port=own_broker.port, timeout=120)

    topic, log, lake, sent = ride_out(own_broker, tmp_path, stop_and_restart)
    assert_every_message_once(lake, topic, sent)
    assert_logged_wait_and_resume(log)


def test_broker_frozen_with_sigstop_for_60s(own_broker, tmp_path):
    def freeze() -> None:
        pid = broker_status(own_broker.dir).pid
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(PAUSE_SECONDS)
        finally:
            os.kill(pid, signal.SIGCONT)

    topic, log, lake, sent = ride_out(own_broker, tmp_path, freeze)
    assert_every_message_once(lake, topic, sent)
    assert_logged_wait_and_resume(log)
