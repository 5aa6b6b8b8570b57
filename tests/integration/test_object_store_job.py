"""The job on an ``s3://`` lake (moto server, endpoint from the environment) through the real broker.

The same messages (valid versions, redeliveries, every kind of bad message) go through a local lake
and an S3 lake; every view must hold the same rows. Then the job is SIGKILLed mid-run on another S3
lake while an analyst's reader polls it, and restarted: still exactly once, nothing half-visible.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time

from feed import Feed
from lake_checks import article_pairs, dead_letter_triples, group_offsets_and_ends
from object_stores import s3_bucket, s3_endpoint  # noqa: F401 (fixtures)

from conftest import REPO, newswire, newswire_popen
from pipeline.commitlog import CommitLog
from pipeline.jobs import produce
from pipeline.lakefs import open_lake
from pipeline.sql import connect

MAX_MESSAGE_BYTES = 256 * 1024
BATCH = "150"
MIN_MID_BATCH_KILLS = 2
MAX_STARTS = 12
# Columns filled from the job's own clock (when a batch was planned), which differs between two runs.
CLOCK_COLUMNS = {
    "articles": ("ingested_at", "date"),
    "stories": ("ingested_at", "date"),
    "unique_stories": ("ingested_at", "date"),
    "entities": ("date",),
    "story_entities": ("date",),
    "dead_letters": ("received_at", "date"),
    "cluster_remaps": ("remapped_at", "date"),
    "clusters": (),
}


def job_args(bootstrap: str, topic: str, lake: str, group: str, *extra: str) -> tuple[str, ...]:
    return ("run", "--bootstrap-servers", bootstrap, "--topic", topic, "--lake", lake, "--group-id", group,
            "--trigger-interval", "0", "--max-records-per-batch", BATCH,
            "--max-message-bytes", str(MAX_MESSAGE_BYTES), *extra)


def run_to_idle(bootstrap: str, topic: str, lake: str, group: str):
    result = newswire(*job_args(bootstrap, topic, lake, group, "--until-idle", "3"), timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def view_rows(lake) -> dict[str, list[tuple]]:
    con = connect(lake)
    out = {}
    for view, clock in CLOCK_COLUMNS.items():
        exclude = f" EXCLUDE ({', '.join(clock)})" if clock else ""
        out[view] = sorted(con.execute(f"SELECT *{exclude} FROM {view}").fetchall(), key=repr)
    return out


class LakePoller(threading.Thread):
    """An analyst's query loop on the S3 lake while the job is killed and restarted."""

    def __init__(self, lake: str) -> None:
        super().__init__(daemon=True)
        self.lake = lake
        self.counts: list[tuple[int, int]] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                con = connect(self.lake)
                self.counts.append(con.execute(
                    "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM dead_letters)").fetchone())
            except Exception as err:  # any failure is a test failure, reported at the end
                self.errors.append(f"{type(err).__name__}: {err}")
            self.stop.wait(0.3)


def test_s3_lake_matches_a_local_lake_and_survives_sigkill(kafka_bootstrap, topic, tmp_path, s3_bucket):
    feed = Feed.build(n_messages=1200, partitions=3, seed=31, max_message_bytes=MAX_MESSAGE_BYTES)
    offsets = produce(kafka_bootstrap, topic, ((m.key, m.value, m.partition) for m in feed.messages))
    expected_bad = feed.record_offsets(offsets)
    assert any(m.kind == "redelivery" for m in feed.messages) and len({c for *_x, c in expected_bad}) >= 10

    local = str(tmp_path / "lake")
    run_to_idle(kafka_bootstrap, topic, local, "g-local")
    s3_lake = f"s3://{s3_bucket}/lake"
    assert "batch_committed" in run_to_idle(kafka_bootstrap, topic, s3_lake, "g-s3").stderr

    expected = view_rows(local)
    assert len(expected["articles"]) == len(feed.expected_versions)
    assert view_rows(s3_lake) == expected
    pairs = article_pairs(s3_lake)
    assert len(pairs) == len(set(pairs)) and set(pairs) == feed.expected_versions
    assert dead_letter_triples(s3_lake) == expected_bad
    assert not (REPO / "s3:").exists(), "an s3:// location was taken for a local path"
    layout = open_lake(s3_lake)
    committed = CommitLog(layout).batch_ids()
    assert len(committed) >= len(feed.messages) // int(BATCH)
    assert sum(CommitLog(layout).commit(b).stats["redeliveries_skipped"] for b in committed) == sum(
        1 for m in feed.messages if m.kind == "redelivery")

    cli = newswire("sql", "--lake", s3_lake, "--format", "csv", "SELECT count(*) AS n FROM stories", timeout=300)
    assert cli.returncode == 0, cli.stderr[-2000:]
    local_stories = newswire("sql", "--lake", local, "--format", "csv", "SELECT count(*) AS n FROM stories", timeout=300)
    assert cli.stdout == local_stories.stdout and cli.stdout.splitlines()[1] != "0"

    # -- SIGKILL mid-run on a fresh S3 lake, with a reader polling it --------------------------------
    crash_lake = f"s3://{s3_bucket}/crash-lake"
    log = CommitLog(open_lake(crash_lake))
    rng = random.Random(7)
    poller = LakePoller(crash_lake)
    poller.start()
    mid_batch_kills = starts = 0
    try:
        while mid_batch_kills < MIN_MID_BATCH_KILLS and starts < MAX_STARTS:
            before = len(log.batch_ids()) if starts else 0
            proc = newswire_popen(*job_args(kafka_bootstrap, topic, crash_lake, "g-crash"),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            starts += 1
            deadline = time.monotonic() + 300
            while proc.poll() is None and len(log.batch_ids()) <= before and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(rng.uniform(0.0, 1.5))  # somewhere inside the next batch
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
            if log.pending_plan() is not None:
                mid_batch_kills += 1
        run_to_idle(kafka_bootstrap, topic, crash_lake, "g-crash")
    finally:
        poller.stop.set()
        poller.join(timeout=60)

    assert mid_batch_kills >= MIN_MID_BATCH_KILLS, f"only {mid_batch_kills} kills in {starts} starts hit a batch"
    assert any(log.commit(b).stats.get("replayed") for b in log.batch_ids())
    assert poller.errors == [], poller.errors[:5]
    assert len(poller.counts) > 5
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(poller.counts, poller.counts[1:])), "a count went down"
    assert view_rows(crash_lake) == expected
    committed_offsets, ends = group_offsets_and_ends(kafka_bootstrap, topic, "g-crash")
    assert committed_offsets == ends
