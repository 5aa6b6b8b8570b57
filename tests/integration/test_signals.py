"""SIGTERM and SIGINT stop the job cleanly (exit code 0) after the batch in flight, losing nothing."""
from __future__ import annotations

import signal
import subprocess
import time

import pytest
from tests.support.feed import Feed
from tests.support.lake_checks import article_pairs

from conftest import newswire_popen
from pipeline.io.lake.commitlog import CommitLog
from pipeline.ops.compose import produce
from pipeline.io.lake.layout import LakeLayout


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_and_restart_finishes_the_topic(kafka_bootstrap, topic, tmp_path, signum):
    feed = Feed.build(n_messages=600, partitions=3, seed=3, max_message_bytes=256 * 1024)
    produce(kafka_bootstrap, topic, ((m.key, m.value, m.partition) for m in feed.messages))
    lake = tmp_path / "lake"
    args = ("run", "--bootstrap-servers", kafka_bootstrap, "--topic", topic, "--lake", str(lake),
            "--max-records-per-batch", "50", "--trigger-interval", "0", "--max-message-bytes", str(256 * 1024))
    proc = newswire_popen(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = CommitLog(LakeLayout(lake))
    deadline = time.monotonic() + 120
    while not (lake.exists() and log.batch_ids()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert log.batch_ids(), "no batch committed before the signal"
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert "stop_requested" in err and "job_stopped" in err
    assert log.pending_plan() is None, "a clean stop leaves no half-done batch"
    committed = len(log.batch_ids())
    assert committed * 50 < len(feed.messages), "the job should have stopped before the end of the topic"

    finish = newswire_popen(*args, "--until-idle", "2", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _out, err = finish.communicate(timeout=300)
    assert finish.returncode == 0, err[-2000:]
    pairs = article_pairs(lake)
    assert len(pairs) == len(set(pairs)) and set(pairs) == feed.expected_versions
