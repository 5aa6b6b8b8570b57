"""5,000 messages over 3 partitions through a real broker: exactly the right rows and dead letters."""
from __future__ import annotations

import json
from pathlib import Path

from tests.support.feed import Feed
from tests.support.lake_checks import article_pairs, assert_lake_files_sound, dead_letter_triples, group_offsets_and_ends

from pipeline.io.lake.commitlog import CommitLog
from pipeline.ops.compose import produce
from pipeline.io.lake.layout import LakeLayout

from conftest import newswire

MAX_MESSAGE_BYTES = 256 * 1024


def run_job(bootstrap: str, topic: str, lake: Path, group: str, *extra: str):
    result = newswire(
        "run", "--bootstrap-servers", bootstrap, "--topic", topic, "--lake", str(lake), "--group-id", group,
        "--trigger-interval", "0.2", "--until-idle", "3", "--max-records-per-batch", "1500",
        "--max-message-bytes", str(MAX_MESSAGE_BYTES), *extra, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def test_every_valid_version_once_every_bad_message_a_dead_letter(kafka_bootstrap, topic, tmp_path):
    feed = Feed.build(n_messages=5000, partitions=3, seed=11, max_message_bytes=MAX_MESSAGE_BYTES)
    offsets = produce(kafka_bootstrap, topic, ((m.key, m.value, m.partition) for m in feed.messages))
    expected_bad = feed.record_offsets(offsets)
    assert len(feed.messages) >= 5000 and len({c for _p, _o, c in expected_bad}) >= 10

    lake = tmp_path / "lake"
    first = run_job(kafka_bootstrap, topic, lake, "g-exact")
    assert "batch_committed" in first.stderr

    pairs = article_pairs(lake)
    assert len(pairs) == len(set(pairs)), "a story version was written twice"
    assert set(pairs) == feed.expected_versions
    assert dead_letter_triples(lake) == expected_bad
    assert_lake_files_sound(lake)

    raw = {(p, o): v for (p, o), v in zip(offsets, (m.value for m in feed.messages))}
    from pipeline.io.lake.query import connect

    for partition, offset, raw_bytes in connect(lake).execute(
        'SELECT "partition", "offset", raw FROM dead_letters WHERE error_code <> \'too_large\' LIMIT 50'
    ).fetchall():
        assert raw_bytes == raw[(partition, offset)], "dead letter does not carry the original bytes"

    committed, ends = group_offsets_and_ends(kafka_bootstrap, topic, "g-exact")
    assert committed == ends

    log = CommitLog(LakeLayout(lake))
    commits_before = log.batch_ids()
    stats = [log.commit(b).stats for b in commits_before]
    assert sum(s["rows"] for s in stats) == len(feed.expected_versions)
    assert sum(s["redeliveries_skipped"] for s in stats) == sum(1 for m in feed.messages if m.kind == "redelivery")

    # A restart after a clean stop reprocesses nothing: no new batch in the commit log.
    second = run_job(kafka_bootstrap, topic, lake, "g-exact")
    assert "batch_committed" not in second.stderr
    assert log.batch_ids() == commits_before
    assert sorted(article_pairs(lake)) == sorted(pairs)
    print(json.dumps({"batches": len(commits_before), "rows": len(pairs), "dead_letters": len(expected_bad)}))
