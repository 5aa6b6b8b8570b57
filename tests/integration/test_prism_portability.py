"""Portability: the same topic processed by `newswire run` on the DirectRunner and on Beam's Prism
runner (a portable runner: the graph crosses the Fn API, the splittable Kafka read is driven by the
runner, RunInference, side inputs and GroupByKey run on Prism's own scheduler) gives the same lake.

Input: the bundled demo feed (versions, a kill, redeliveries, near duplicates, every input format,
bad messages, an oversized one) plus a syndicated copy that arrives one batch before its original,
so the second batch reads the first one's state and merges a cluster. Two batches per runner.

Columns that legitimately differ between two runs are the wall-clock times of the run, and what is
derived from them: ``articles.ingested_at``, ``dead_letters.received_at`` and ``date`` (the receipt
day), ``cluster_remaps.remapped_at`` and ``date``; the commit log's ``seconds``, ``planned_at`` and
``committed_at``. Everything else, every row of every view, of the state files and every data file
name, must be equal.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import FIXTURE_LOOKBACK, REPO, newswire
from pipeline.io.lake.commitlog import CommitLog
from pipeline.ops.demo import DEMO_MAX_MESSAGE_BYTES, sample_messages
from pipeline.ops.compose import produce
from pipeline.io.lake.layout import LakeLayout
from pipeline.io.lake.query import connect

INSTALL_PRISM = REPO / "deploy" / "tools" / "install-prism.sh"
VIEWS = ["articles", "entities", "dead_letters", "cluster_remaps", "stories", "story_entities", "clusters",
         "unique_stories"]
RUN_TIME_COLUMNS = {
    "articles": {"ingested_at"},
    "dead_letters": {"received_at", "date"},
    "cluster_remaps": {"remapped_at", "date"},
    "stories": {"ingested_at"},
    "unique_stories": {"ingested_at"},
}
RUN_TIME_STATS = {"seconds", "ner_seconds"}  # wall-clock figures of the run, not results

SEED = [line.strip() for line in (REPO / "tests" / "fixtures" / "seed_article.txt").read_text("utf-8").splitlines()
        if line.strip()]


@pytest.fixture(scope="module")
def prism_binary() -> str:
    """The Prism binary CI built (NEWSWIRE_PRISM), else built now by the same script (cached)."""
    given = os.environ.get("NEWSWIRE_PRISM")
    if given:
        return given
    built = subprocess.run([str(INSTALL_PRISM)], capture_output=True, text=True, timeout=1800)
    assert built.returncode == 0, built.stderr[-3000:]
    return built.stdout.strip().splitlines()[-1]


def story(uri: str, provider: str, firstcreated: str) -> bytes:
    import json

    return json.dumps({
        "uri": uri, "version": 1, "type": "text", "language": "en", "copyrightholder": provider,
        "firstcreated": firstcreated, "versioncreated": firstcreated,
        "headline": "Biden authorizes Ukraine to use long-range US missiles inside Russia",
        "body_text": "\n".join(SEED),
    }).encode()


def publish_feed(bootstrap: str, topic: str) -> int:
    """Demo feed spread over partitions 0-2; partition 0 starts with a copy and ends with its original."""
    copy = (b"urn:copy", story("https://outlet.example/world/atacms", "Outlet", "2026-11-24T19:00:00Z"), 0)
    original = (b"urn:original", story("urn:newsml:afp.com:20261124:atacms", "AFP", "2026-11-24T18:02:11Z"), 0)
    feed = [(key, value, i % 3) for i, (key, value) in enumerate(sample_messages())]
    messages = [copy, *feed, original]
    produce(bootstrap, topic, messages)
    return len(messages)


def run_job(bootstrap: str, topic: str, lake: Path, max_records: int, *runner: str) -> str:
    result = newswire(
        "run", "--bootstrap-servers", bootstrap, "--topic", topic, "--lake", str(lake), "--group-id", f"g-{lake.name}",
        "--trigger-interval", "0", "--until-idle", "1", "--max-records-per-batch", str(max_records),
        "--max-message-bytes", str(DEMO_MAX_MESSAGE_BYTES), *FIXTURE_LOOKBACK, *runner, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stderr


def view_rows(lake: Path, view: str) -> tuple[list[str], list[tuple]]:
    con = connect(lake)
    columns = [d[0] for d in con.execute(f"SELECT * FROM {view} LIMIT 0").description]
    kept = [c for c in columns if c not in RUN_TIME_COLUMNS.get(view, set())]
    select = ", ".join(f'"{c}"' for c in kept)
    return kept, con.execute(f"SELECT {select} FROM {view} ORDER BY ALL").fetchall()


def state_tables(lake: Path) -> dict[str, list[dict]]:
    state = LakeLayout(lake).meta / "state"
    return {str(f.relative_to(state)): sorted(pq.read_table(f).to_pylist(), key=repr) for f in sorted(state.rglob("*.parquet"))}


def commit_log(lake: Path) -> list[tuple]:
    log = CommitLog(LakeLayout(lake))
    out = []
    for batch_id in log.batch_ids():
        commit, plan = log.commit(batch_id), log.plan(batch_id)
        # Receipt-dated tables put the run's date in their paths; compare those by file name.
        files = sorted(f if f.startswith(("articles/", "entities/")) else Path(f).name for f in commit.files)
        stats = {k: v for k, v in commit.stats.items() if k not in RUN_TIME_STATS}
        out.append((batch_id, plan.ranges, plan.base_batch, commit.end_offsets, files, sorted(commit.state_deltas), stats))
    return out


def test_prism_runner_writes_the_same_lake_as_the_direct_runner(kafka_bootstrap, topic, tmp_path, prism_binary):
    sent = publish_feed(kafka_bootstrap, topic)
    max_records = sent // 2 + 1  # two batches; the copy lands in the first, its original in the second
    direct, prism = tmp_path / "direct", tmp_path / "prism"
    run_job(kafka_bootstrap, topic, direct, max_records)
    prism_log = run_job(kafka_bootstrap, topic, prism, max_records,
                        "--runner", "PrismRunner", "--prism_location", prism_binary, "--prism_log_level", "warn")
    assert "runner_args=--runner PrismRunner" in prism_log

    # The input really exercises what differs between runners: several batches, state, every table.
    expected_log = commit_log(direct)
    assert len(expected_log) == 2
    stats = [entry[-1] for entry in expected_log]
    assert sum(s["records"] for s in stats) == sent
    assert all(sum(s[k] for s in stats) > 0 for k in (
        "rows", "entities", "dead_letters", "redeliveries_skipped", "exact_duplicates", "near_duplicates",
        "paragraphs_reused", "cluster_remaps"))

    for view in VIEWS:
        columns, expected = view_rows(direct, view)
        got_columns, got = view_rows(prism, view)
        assert got_columns == columns
        assert len(got) == len(expected), f"{view}: {len(got)} rows on Prism, {len(expected)} on the DirectRunner"
        for want, have in zip(expected, got):
            assert have == want, f"{view} differs:\n" + "\n".join(
                f"  {c}: direct={w!r} prism={h!r}" for c, w, h in zip(columns, want, have) if w != h)
    assert commit_log(prism) == expected_log
    assert state_tables(prism) == state_tables(direct)
