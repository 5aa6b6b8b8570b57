"""Syndication clusters through the real broker, across batches, restarts and a SIGKILL."""
from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from conftest import FIXTURE_LOOKBACK, newswire, newswire_popen
from tests.support.lake_checks import assert_lake_files_sound

from pipeline.io.lake.commitlog import CommitLog
from pipeline.ops.compose import produce
from pipeline.io.lake.layout import LakeLayout
from pipeline.io.lake.query import connect

SEED_LINES = [
    line.strip()
    for line in (Path(__file__).resolve().parents[1] / "fixtures" / "seed_article.txt").read_text("utf-8").splitlines()
    if line.strip()
]
CAPTIONS = {0, 7}
STORY = [line for i, line in enumerate(SEED_LINES) if i not in CAPTIONS]  # the AFP story as AFP sent it
ORIGINAL = "urn:newsml:afp.com:20241117:atacms-original"
DISTINCT_SAME_TOPIC = "urn:newsml:afp.com:20241117:atacms-reaction"
REACTION = [
    "Kyiv: Ukraine welcomed on Monday reports that Washington had lifted restrictions on the use of ATACMS "
    "missiles, while officials in Kyiv declined to confirm any strikes inside Russia.",
    "Ukrainian President Volodymyr Zelensky said in his evening address that missiles would speak for themselves, "
    "and that the decision had taken too long.",
    "The Kremlin said any such strikes would mark a new escalation, and Russian lawmakers warned of a response "
    "against Western capitals that supply the weapons.",
    "Analysts in Kyiv said the range of the missiles, about 300 kilometres, would put Russian airfields and "
    "ammunition depots in the Kursk region within reach for the first time.",
    "European governments were more cautious, with Germany repeating that it would not send its Taurus missiles "
    "and France saying it was studying the American decision.",
]


def story(uri: str, paragraphs: list[str], provider: str, firstcreated: str, **fields) -> tuple[bytes, bytes, int]:
    doc = {
        "uri": uri, "version": 1, "type": "text", "language": "en", "copyrightholder": provider,
        "firstcreated": firstcreated, "versioncreated": firstcreated,
        "headline": "Biden authorizes Ukraine to use long-range US missiles inside Russia",
        "body_text": "\n".join(paragraphs),
    }
    doc.update(fields)
    return uri.encode(), json.dumps(doc).encode(), 0


def run_until_idle(bootstrap: str, topic: str, lake: Path) -> subprocess.CompletedProcess:
    result = newswire(
        "run", "--bootstrap-servers", bootstrap, "--topic", topic, "--lake", str(lake), "--group-id", "g-syn",
        "--trigger-interval", "0.2", "--until-idle", "3", "--ner-processes", "1", *FIXTURE_LOOKBACK, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def wait_for_commits(lake: Path, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(CommitLog(LakeLayout(lake)).batch_ids()) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} batches committed within {timeout} s")


def test_copies_join_their_original_across_batches_restarts_and_a_sigkill(kafka_bootstrap, topic, tmp_path):
    lake = tmp_path / "lake"
    # batch 1: the AFP original and a different AFP story on the same topic
    produce(kafka_bootstrap, topic, [
        story(ORIGINAL, STORY, "AFP", "2026-11-24T18:02:11Z"),
        story(DISTINCT_SAME_TOPIC, REACTION, "AFP", "2026-11-24T19:30:00Z"),
    ])
    run_until_idle(kafka_bootstrap, topic, lake)

    # batch 2: an outlet republishes it word for word; the job is SIGKILLed after that batch committed
    job = newswire_popen(
        "run", "--bootstrap-servers", kafka_bootstrap, "--topic", topic, "--lake", str(lake), "--group-id", "g-syn",
        "--trigger-interval", "0.2", "--ner-processes", "1", *FIXTURE_LOOKBACK, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        produce(kafka_bootstrap, topic, [story("https://lemonde.example/afp/atacms", STORY, "Le Monde",
                                               "2026-11-24T18:40:00Z")])
        wait_for_commits(lake, 2)
    finally:
        job.send_signal(signal.SIGKILL)
        job.wait(timeout=60)

    # a day later, after the restart: a regional paper's copy with a dateline, a caption, a footer, curly
    # quotes and the last paragraph dropped
    copy = ["WASHINGTON (AFP) \u2014 " + STORY[0].removeprefix("Washington: ")]
    copy += [p.replace('"', "\u201c", 1).replace('"', "\u201d", 1) for p in STORY[1:-1]]
    copy.insert(4, "Joe Biden speaks at the White House on Sunday. (AFP Photo / Jim Watson)")
    copy.append("Read more: https://courier.example/world")
    produce(kafka_bootstrap, topic, [story("https://courier.example/world/atacms-decision", copy, "The Courier",
                                           "2026-11-25T09:15:00Z")])
    run_until_idle(kafka_bootstrap, topic, lake)
    assert_lake_files_sound(lake)

    con = connect(lake)
    got = {r[0]: r[1:] for r in con.execute(
        "SELECT story_id, cluster_id, dup_kind, duplicate_of, similarity FROM articles"
    ).fetchall()}
    assert got[ORIGINAL] == (ORIGINAL, "original", None, None)
    assert got["https://lemonde.example/afp/atacms"] == (ORIGINAL, "exact", ORIGINAL, 1.0)
    cluster, kind, of, similarity = got["https://courier.example/world/atacms-decision"]
    assert (cluster, kind, of) == (ORIGINAL, "near", ORIGINAL) and similarity >= 0.8
    assert got[DISTINCT_SAME_TOPIC] == (DISTINCT_SAME_TOPIC, "original", None, None)

    clusters = con.execute(
        "SELECT members, exact_copies, near_copies, providers, republication_delays_s FROM clusters WHERE cluster_id = ?",
        [ORIGINAL],
    ).fetchone()
    assert clusters == (3, 1, 1, ["AFP", "Le Monde", "The Courier"], [2269.0, 54769.0])
    assert {r[0] for r in con.execute("SELECT story_id FROM unique_stories").fetchall()} == {ORIGINAL, DISTINCT_SAME_TOPIC}

    # the copies reused the original's entities instead of running NER on their paragraphs again
    log = CommitLog(LakeLayout(lake))
    stats = [log.commit(b).stats for b in log.batch_ids()]
    exact_batch = next(s for s in stats if s.get("exact_duplicates"))
    assert exact_batch["paragraphs_annotated"] == 0 and exact_batch["paragraphs_reused"] == len(STORY)
    near_batch = next(s for s in stats if s.get("near_duplicates"))
    assert near_batch["paragraphs_annotated"] <= 1  # only the paragraph the regional paper changed
    seed_entities = con.execute(
        "SELECT story_id, list(DISTINCT canonical ORDER BY canonical) FROM entities "
        "WHERE label = 'PERSON' GROUP BY story_id"
    ).fetchall()
    people = dict(seed_entities)
    assert people[ORIGINAL] == people["https://lemonde.example/afp/atacms"]
    assert "Joe Biden" in people["https://courier.example/world/atacms-decision"]
