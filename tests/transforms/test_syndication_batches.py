"""Syndication clusters across micro-batches, restarts, merges and the lookback window.

The real batch graph on the DirectRunner and the real commit protocol; Kafka is the in-memory log
of ``test_commit_protocol``.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.io.lake import query as sql
from pipeline.job.driver import JobConfig, MicroBatchDriver
from pipeline.io.lake.layout import LakeLayout
from pipeline.io.lake.state import SIGNATURES_SECTION, STATE_CACHE, StateStore
from tests.support.memory_kafka import TOPIC, MemoryLog, memory_runner

UTC = timezone.utc
SEED = [
    line.strip()
    for line in (Path(__file__).resolve().parent.parent / "fixtures" / "seed_article.txt").read_text("utf-8").splitlines()
    if line.strip()
]
STORY = [line for i, line in enumerate(SEED) if i not in (0, 7)]
OTHER = [
    "Officials in Brussels agreed on Tuesday to extend sanctions against Russia for another six months, "
    "after Hungary dropped its objections following talks that ran late into the night.",
    "The measures, first imposed in 2014 and widened after the 2022 invasion of Ukraine, target banks, "
    "energy companies and hundreds of individuals close to the Kremlin.",
    "Diplomats said the decision had been held up for weeks by demands from Budapest that several "
    "businessmen be removed from the list, a request that was partly granted.",
    "The European Commission said it was also preparing a new package aimed at the shadow fleet of "
    "tankers that carries Russian oil around the price cap imposed by Western countries.",
]


def message(uri: str, paragraphs: list[str], firstcreated: str, provider: str = "AFP") -> bytes:
    return json.dumps({
        "uri": uri, "version": 1, "headline": f"Headline of {uri}", "copyrightholder": provider,
        "firstcreated": firstcreated, "body_text": "\n".join(paragraphs),
    }).encode()


def near_copy(paragraphs: list[str]) -> list[str]:
    out = ["WASHINGTON (AFP) - " + paragraphs[0].removeprefix("Washington: ")]
    out += [p.replace('"', "\u201c", 1).replace('"', "\u201d", 1) for p in paragraphs[1:-1]]
    out.insert(2, "A man walks past the White House. (AFP Photo / Jim Watson)")
    return out + ["Follow us on Twitter @example"]


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture(autouse=True)
def fresh_state_cache():
    STATE_CACHE.clear()
    yield
    STATE_CACHE.clear()


def run_batches(root: Path, log: MemoryLog, clock: Clock, restart: bool = True, **config) -> None:
    """Run until the log is drained; ``restart`` drops the process state first, as a new process would."""
    if restart:
        STATE_CACHE.clear()
    cfg = JobConfig(bootstrap_servers="unused:9092", topics=[TOPIC], lake=root, snapshot_every=1, **config)
    driver = MicroBatchDriver(cfg, log, memory_runner(log), clock=clock)
    while driver.run_once() is not None:
        pass


def clusters_of(root: Path) -> dict[str, tuple]:
    con = sql.connect(root)
    return {r[0]: r[1:] for r in con.execute(
        "SELECT story_id, cluster_id, dup_kind, duplicate_of FROM articles"
    ).fetchall()}


def test_copies_join_across_batches_and_restarts_and_expire_after_the_lookback(tmp_path):
    root, log, clock = tmp_path / "lake", MemoryLog(), Clock(datetime(2026, 11, 24, 20, 0, tzinfo=UTC))
    log.append(0, message("urn:afp:original", STORY, "2026-11-24T18:00:00Z"))
    log.append(1, message("urn:afp:sanctions", OTHER, "2026-11-24T18:05:00Z"))
    run_batches(root, log, clock)

    log.append(0, message("urn:outlet:exact", STORY, "2026-11-24T18:30:00Z", "Outlet"))
    run_batches(root, log, clock)  # a restart between batches: the index comes back from the lake
    clock.now += timedelta(days=1)
    log.append(1, message("urn:paper:near", near_copy(STORY), "2026-11-25T09:00:00Z", "Paper"))
    run_batches(root, log, clock, restart=False)

    got = clusters_of(root)
    assert got["urn:afp:original"] == ("urn:afp:original", "original", None)
    assert got["urn:outlet:exact"] == ("urn:afp:original", "exact", "urn:afp:original")
    assert got["urn:paper:near"] == ("urn:afp:original", "near", "urn:afp:original")
    assert got["urn:afp:sanctions"] == ("urn:afp:sanctions", "original", None)

    # Ten days later the original is outside the 7-day window: a new copy starts its own cluster,
    # and the snapshot taken after that batch no longer holds the original's signature.
    clock.now += timedelta(days=10)
    log.append(0, message("urn:late:copy", STORY, "2026-12-05T09:00:00Z", "Late"))
    log.append(1, message("urn:filler", OTHER[:2], "2026-12-05T09:00:00Z"))
    run_batches(root, log, clock)
    assert clusters_of(root)["urn:late:copy"] == ("urn:late:copy", "original", None)
    store = StateStore(LakeLayout(root))
    snapshot = pq.read_table(store.snapshot_path(SIGNATURES_SECTION, store.snapshots(SIGNATURES_SECTION)[-1]))
    assert "urn:afp:original" not in snapshot.column("story_id").to_pylist()
    assert "urn:late:copy" in snapshot.column("story_id").to_pylist()


def test_an_earlier_original_arriving_after_its_copy_takes_over_the_cluster(tmp_path):
    root, log, clock = tmp_path / "lake", MemoryLog(), Clock(datetime(2026, 11, 24, 20, 0, tzinfo=UTC))
    log.append(0, message("urn:copy:first-seen", near_copy(STORY), "2026-11-24T18:40:00Z", "Paper"))
    run_batches(root, log, clock)
    log.append(1, message("urn:afp:original", STORY, "2026-11-24T18:00:00Z"))
    run_batches(root, log, clock)

    got = clusters_of(root)
    assert got["urn:afp:original"][0] == "urn:afp:original"
    assert got["urn:copy:first-seen"] == ("urn:afp:original", "near", "urn:afp:original")
    con = sql.connect(root)
    assert con.execute("SELECT cluster_from, cluster_to FROM cluster_remaps").fetchall() == [
        ("urn:copy:first-seen", "urn:afp:original")
    ]
    assert con.execute("SELECT cluster_id, members, providers FROM clusters").fetchall() == [
        ("urn:afp:original", 2, ["AFP", "Paper"])
    ]
    assert con.execute("SELECT story_id FROM unique_stories").fetchall() == [("urn:afp:original",)]

    # a third copy, after a restart, joins the merged cluster under its new id
    log.append(0, message("urn:third", STORY, "2026-11-24T19:00:00Z", "Third"))
    run_batches(root, log, clock)
    assert clusters_of(root)["urn:third"][0] == "urn:afp:original"
