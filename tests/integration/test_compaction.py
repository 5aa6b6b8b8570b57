"""Compaction of a lake written by the real job from a real broker: exact views before/after, DuckDB readers
polling during compaction, a SIGKILL at every compaction step, then more batches, scheduled compaction
and a replay of a batch that was published but not committed.
"""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
from tests.support.feed import Feed
from tests.support.lake_checks import article_pairs, assert_lake_files_sound, dead_letter_triples

from conftest import FIXTURE_LOOKBACK, REPO, newswire
from pipeline.io.lake.commitlog import CommitLog
from pipeline.io.lake.compaction import FAULT_POINTS
from pipeline.io.lake.manifest import live_files
from pipeline.ops.compose import produce
from pipeline.io.lake.layout import LakeLayout
from pipeline.news.schema import TABLES
from pipeline.io.lake.query import connect
from tests.support.lake_views import VIEWS, all_data_files, live_layout, view_contents

MAX_MESSAGE_BYTES = 256 * 1024
# Each view with the key that must never repeat more (or less) often than before.
VIEW_KEYS = {
    "articles": "story_id, version",
    "entities": "story_id, version, source, text, start_char",
    "cluster_remaps": "cluster_from, batch_id",
    "dead_letters": '"partition", "offset"',
    "stories": "story_id",
    "story_entities": "story_id, version, source, text, start_char",
    "clusters": "cluster_id",
    "unique_stories": "story_id",
}


def run_job(bootstrap: str, topic: str, lake: Path, *extra: str) -> subprocess.CompletedProcess:
    result = newswire(
        "run", "--bootstrap-servers", bootstrap, "--topic", topic, "--lake", str(lake), "--group-id", "g-compact",
        "--trigger-interval", "0", "--until-idle", "3", "--max-records-per-batch", "40", "--ner-processes", "1",
        "--snapshot-every", "1000", "--max-message-bytes", str(MAX_MESSAGE_BYTES), *FIXTURE_LOOKBACK, *extra, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def compact(lake: Path, *extra: str) -> subprocess.CompletedProcess:
    result = newswire("compact", "--lake", str(lake), "--include-open", *extra, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def fingerprints(con) -> dict:
    """Per view: rows, distinct keys and an order-independent hash of every row (a duplicate changes it)."""
    assert set(VIEW_KEYS) == set(VIEWS)
    return {
        view: con.execute(f"SELECT count(*), count(DISTINCT ({key})), sum(hash(v)::HUGEINT) FROM {view} AS v").fetchone()
        for view, key in VIEW_KEYS.items()
    }


class Reader(threading.Thread):
    """An analyst polling every view; ``fresh`` opens a new connection for every read."""

    def __init__(self, lake: Path, fresh: bool) -> None:
        super().__init__(daemon=True)
        self.lake, self.fresh = lake, fresh
        self.reads: list[tuple[float, float, dict]] = []  # (started, finished, fingerprints)
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        con = None
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                con = connect(self.lake) if self.fresh or con is None else con
                self.reads.append((started, time.monotonic(), fingerprints(con)))
            except Exception as err:  # any failure is a test failure, reported at the end
                self.errors.append(f"{type(err).__name__}: {err}")

    def wait_for_read_started_after(self, moment: float) -> None:
        while not any(started > moment for started, _, _ in self.reads):
            assert self.is_alive() and len(self.errors) < 50, self.errors[:3]
            time.sleep(0.05)


def compact_while_reading(lake: Path, readers: list[Reader], *extra: str) -> int:
    """One ``newswire compact`` in its own process while the readers poll; returns the reads it overlapped."""
    started = time.monotonic()
    compact(lake, *extra)
    finished = time.monotonic()
    for reader in readers:  # every query that could have read the old manifest has finished
        reader.wait_for_read_started_after(finished)
    return sum(1 for r in readers for s, f, _ in r.reads if s < finished and f > started)


KILL_AT = """
import os, signal, sys
from datetime import timedelta
from pipeline.io.lake.compaction import CompactionOptions, compact_lake

def kill(point):
    if point == sys.argv[2]:
        os.kill(os.getpid(), signal.SIGKILL)

compact_lake(sys.argv[1], CompactionOptions(include_open=True, grace=timedelta(0)), fault_hook=kill)
"""


def uncommit_last_batch(lake: Path) -> int:
    """Put the lake in the state a crash between publishing a batch and committing it leaves.

    The batch's files and state delta are published, its commit entry is not: removing the entry is
    exactly that state (no compaction ran after the batch, and it was not a snapshot batch).
    """
    log = CommitLog(LakeLayout(lake))
    last = log.batch_ids()[-1]
    (log.commits_dir / f"{last:020d}.json").unlink()
    return last


def files_of_batch(lake: Path, batch_id: int) -> set[str]:
    return {p for p in all_data_files(lake) if batch_id in pq.read_table(lake / p, columns=["batch_id"]).column(0).to_pylist()}


def test_compaction_through_the_real_job(kafka_bootstrap, topic, tmp_path):
    feed = Feed.build(n_messages=900, partitions=3, seed=31, max_message_bytes=MAX_MESSAGE_BYTES)
    parts = [feed.messages[:600], feed.messages[600:870], feed.messages[870:]]
    lake = tmp_path / "lake"

    # 1. Tiny batches: many small files.
    offsets = produce(kafka_bootstrap, topic, ((m.key, m.value, m.partition) for m in parts[0]))
    run_job(kafka_bootstrap, topic, lake)
    layout = LakeLayout(lake)
    files_before = {t: len(live_files(layout, t)) for t in TABLES}
    assert files_before["articles"] >= 40 and files_before["cluster_remaps"] >= 5, files_before
    baseline = view_contents(lake)
    baseline_prints = fingerprints(connect(lake))
    assert baseline["articles"][1] and baseline["dead_letters"][1] and baseline["entities"][1]
    before_compaction = tmp_path / "before"
    shutil.copytree(lake, before_compaction)

    # 2. Compact while two readers poll every view; then delete the superseded files, still polled.
    readers = [Reader(lake, fresh=False), Reader(lake, fresh=True)]
    for r in readers:
        r.start()
    try:
        for r in readers:
            r.wait_for_read_started_after(time.monotonic())
        overlapped = compact_while_reading(lake, readers)
        assert all_data_files(lake) > set(live_layout(lake)), "superseded files are kept for the grace period"
        overlapped_deletion = compact_while_reading(lake, readers, "--grace", "0")
    finally:
        for r in readers:
            r.stop.set()
            r.join(timeout=60)
    assert [r.errors for r in readers] == [[], []]
    assert overlapped >= 1 and overlapped_deletion >= 1
    for r in readers:
        assert all(prints == baseline_prints for _, _, prints in r.reads)
    assert view_contents(lake) == baseline
    files_after = {t: len(live_files(layout, t)) for t in TABLES}
    assert all_data_files(lake) == set(live_layout(lake))
    assert files_after["articles"] <= 3 and files_after["entities"] <= 3  # one per day
    compacted = live_layout(lake)

    # 3. Killed at each step, the lake still reads exactly; a re-run finishes with the same files.
    for point in FAULT_POINTS:
        crashed = tmp_path / f"crash-{point}"
        shutil.copytree(before_compaction, crashed)
        killed = subprocess.run([sys.executable, "-c", KILL_AT, str(crashed), point], cwd=REPO,
                                capture_output=True, text=True, timeout=600)
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr[-2000:])
        assert view_contents(crashed) == baseline, point
        compact(crashed, "--grace", "0")
        assert view_contents(crashed) == baseline, point
        assert live_layout(crashed) == compacted, point
        assert all_data_files(crashed) == set(compacted), point
        shutil.rmtree(crashed)

    # 4. More batches, compacted by the job between batches.
    offsets += produce(kafka_bootstrap, topic, ((m.key, m.value, m.partition) for m in parts[1]))
    scheduled = run_job(kafka_bootstrap, topic, lake, "--compact-every", "2", "--compact-open", "--compact-grace", "0")
    assert "compaction_done" in scheduled.stderr

    # 5. A batch published but not committed, a compaction, then its replay.
    offsets += produce(kafka_bootstrap, topic, ((m.key, m.value, m.partition) for m in parts[2]))
    run_job(kafka_bootstrap, topic, lake)
    pending = uncommit_last_batch(lake)
    pending_files = files_of_batch(lake, pending)
    assert pending_files
    compact(lake, "--grace", "0")
    assert pending_files <= set(live_layout(lake)), "compaction merged a batch that is not committed"
    replay = run_job(kafka_bootstrap, topic, lake)
    assert f"replaying_planned_batch batch={pending}" in replay.stderr
    compact(lake, "--grace", "0")

    pairs = article_pairs(lake)
    assert len(pairs) == len(set(pairs)), "duplicated rows"
    assert set(pairs) == feed.expected_versions
    assert dead_letter_triples(lake) == feed.record_offsets(offsets)
    prints = fingerprints(connect(lake))
    for view in ("articles", "dead_letters", "stories", "clusters", "unique_stories", "cluster_remaps"):
        assert prints[view][0] == prints[view][1], f"duplicate keys in {view}"
    assert_lake_files_sound(lake)
    assert all_data_files(lake) == set(live_layout(lake))
    print(json.dumps({"live_files_before": files_before, "live_files_after": files_after,
                      "reads_during_compaction": overlapped, "reads_during_deletion": overlapped_deletion,
                      "final_live_files": {t: len(live_files(layout, t)) for t in TABLES}}))
