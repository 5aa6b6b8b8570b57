"""One writer per lake, through the real CLI: a second `newswire run` on a lake in use exits at once."""
from __future__ import annotations

import subprocess
import time

from tests.support.feed import Feed
from tests.support.lake_checks import article_pairs

from conftest import newswire, newswire_popen
from pipeline.io.lake.commitlog import CommitLog
from pipeline.io.lake.layout import LakeLayout
from pipeline.ops.compose import EXIT_LAKE_HELD, produce


def test_second_run_on_a_lake_in_use_exits_at_once_naming_the_holder(kafka_bootstrap, topic, tmp_path):
    feed = Feed.build(n_messages=400, partitions=3, seed=11, max_message_bytes=256 * 1024)
    produce(kafka_bootstrap, topic, ((m.key, m.value, m.partition) for m in feed.messages))
    lake = tmp_path / "lake"
    args = ("run", "--bootstrap-servers", kafka_bootstrap, "--topic", topic, "--lake", str(lake),
            "--max-records-per-batch", "40", "--trigger-interval", "0", "--max-message-bytes", str(256 * 1024))
    first = newswire_popen(*args, "--until-idle", "3", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        log = CommitLog(LakeLayout(lake))
        deadline = time.monotonic() + 120
        while not (lake.exists() and log.plan_ids()) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert log.plan_ids(), "the first job never planned a batch"
        started = time.monotonic()
        second = newswire(*args, "--until-idle", "1", "--group-id", "another-group", timeout=120)
        refused_in = time.monotonic() - started
        assert first.poll() is None, "the first job should still be running"
        assert second.returncode == EXIT_LAKE_HELD, second.stderr[-2000:]
        assert f"held by another newswire job (pid {first.pid} on " in second.stderr
        assert "job_started" not in second.stderr or "lake_has_another_writer" in second.stderr
        assert refused_in < 60, f"refusal took {refused_in:.1f}s"
    finally:
        _out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-2000:]
    pairs = article_pairs(lake)
    assert len(pairs) == len(set(pairs)) and set(pairs) == feed.expected_versions, "the refused job wrote nothing"
