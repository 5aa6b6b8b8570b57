"""The job on ``s3://`` and ``gs://`` lakes (local servers, endpoints from the environment) through the real broker.

The same messages (valid versions, redeliveries, every kind of bad message) go through a local lake
and an object-store lake; every view must hold the same rows. Then the job is SIGKILLed mid-batch on
another S3 lake while an analyst's reader polls it, and restarted: still exactly once, nothing
half-visible.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
import uuid

import pytest
from tests.support.feed import Feed
from tests.support.lake_checks import article_pairs, dead_letter_triples, group_offsets_and_ends
from tests.support.object_stores import gcs_bucket, gcs_endpoint, s3_bucket, s3_endpoint  # noqa: F401 (fixtures)

from conftest import REPO, newswire, newswire_popen
from pipeline.io.lake.commitlog import CommitLog
from pipeline.ops.compose import ensure_topic, produce
from pipeline.io.lake.layout import open_lake
from pipeline.io.lake.query import connect

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


@pytest.fixture(scope="module")
def reference(kafka_bootstrap, tmp_path_factory) -> dict:
    """One topic with valid versions, redeliveries and every kind of bad message, run into a local lake."""
    topic = f"t-object-stores-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, 3)
    feed = Feed.build(n_messages=1200, partitions=3, seed=31, max_message_bytes=MAX_MESSAGE_BYTES)
    offsets = produce(kafka_bootstrap, topic, ((m.key, m.value, m.partition) for m in feed.messages))
    expected_bad = feed.record_offsets(offsets)
    assert any(m.kind == "redelivery" for m in feed.messages) and len({c for *_x, c in expected_bad}) >= 10
    local = str(tmp_path_factory.mktemp("local") / "lake")
    run_to_idle(kafka_bootstrap, topic, local, "g-local")
    views = view_rows(local)
    assert len(views["articles"]) == len(feed.expected_versions)
    return {"topic": topic, "feed": feed, "bad": expected_bad, "local": local, "views": views}


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_an_object_store_lake_holds_what_a_local_lake_holds(kafka_bootstrap, reference, scheme, request, tmp_path):
    bucket = request.getfixturevalue("s3_bucket" if scheme == "s3" else "gcs_bucket")
    lake = f"{scheme}://{bucket}/lake"
    topic, feed = reference["topic"], reference["feed"]
    assert "batch_committed" in run_to_idle(kafka_bootstrap, topic, lake, f"g-{scheme}").stderr

    assert view_rows(lake) == reference["views"]
    pairs = article_pairs(lake)
    assert len(pairs) == len(set(pairs)) and set(pairs) == feed.expected_versions
    assert dead_letter_triples(lake) == reference["bad"]
    assert not (REPO / f"{scheme}:").exists(), f"a {scheme}:// location was taken for a local path"
    log = CommitLog(open_lake(lake))
    committed = log.batch_ids()
    assert len(committed) >= len(feed.messages) // int(BATCH)
    assert sum(log.commit(b).stats["redeliveries_skipped"] for b in committed) == sum(
        1 for m in feed.messages if m.kind == "redelivery")
    committed_offsets, ends = group_offsets_and_ends(kafka_bootstrap, topic, f"g-{scheme}")
    assert committed_offsets == ends

    query = "SELECT count(*) AS n FROM stories"
    remote = newswire("sql", "--lake", lake, "--format", "csv", query, timeout=300)
    assert remote.returncode == 0, remote.stderr[-2000:]
    local = newswire("sql", "--lake", reference["local"], "--format", "csv", query, timeout=300)
    assert remote.stdout == local.stdout and remote.stdout.splitlines()[1] != "0"
    remote = newswire("report", "--lake", lake, "--out", str(tmp_path / "remote.html"), timeout=300)
    assert remote.returncode == 0, remote.stderr[-2000:]
    local = newswire("report", "--lake", reference["local"], "--out", str(tmp_path / "local.html"), timeout=300)
    assert remote.stdout.split(": ", 1)[1] == local.stdout.split(": ", 1)[1]  # "N stories, M clusters, K dead letters"


def test_sigkill_mid_batch_on_an_s3_lake_loses_and_duplicates_nothing(kafka_bootstrap, reference, s3_bucket):
    topic = reference["topic"]
    lake = f"s3://{s3_bucket}/crash-lake"
    log = CommitLog(open_lake(lake))
    rng = random.Random(7)
    poller = LakePoller(lake)
    poller.start()
    total = len(reference["feed"].messages)

    def all_committed() -> bool:
        latest = log.latest_commit()
        return latest is not None and sum(latest.end_offsets.values()) >= total

    mid_batch_kills = starts = 0
    try:
        while mid_batch_kills < MIN_MID_BATCH_KILLS and starts < MAX_STARTS and not all_committed():
            before = len(log.batch_ids()) if starts else 0
            proc = newswire_popen(*job_args(kafka_bootstrap, topic, lake, "g-crash"),
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
        run_to_idle(kafka_bootstrap, topic, lake, "g-crash")
    finally:
        poller.stop.set()
        poller.join(timeout=60)

    assert mid_batch_kills >= MIN_MID_BATCH_KILLS, f"only {mid_batch_kills} kills in {starts} starts hit a batch"
    assert any(log.commit(b).stats.get("replayed") for b in log.batch_ids())
    assert poller.errors == [], poller.errors[:5]
    assert len(poller.counts) > 5
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(poller.counts, poller.counts[1:])), "a count went down"
    assert view_rows(lake) == reference["views"]
    committed_offsets, ends = group_offsets_and_ends(kafka_bootstrap, topic, "g-crash")
    assert committed_offsets == ends
