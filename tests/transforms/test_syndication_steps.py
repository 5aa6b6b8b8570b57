"""TestPipeline tests of the syndication and entity-reuse steps on their own."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.news import dedup
from pipeline.io.lake.state import STATE_CACHE
from pipeline.beam.syndication import AnnotateEntities, AssignClusters

UTC = timezone.utc
PLANNED_AT = datetime(2026, 11, 25, 6, 30, tzinfo=UTC)
SEED = [
    line.strip()
    for line in (Path(__file__).resolve().parent.parent / "fixtures" / "seed_article.txt").read_text("utf-8").splitlines()
    if line.strip()
]
STORY = [line for i, line in enumerate(SEED) if i not in (0, 7)]


def row(story_id: str, paragraphs: list[str], first_created: datetime, offset: int) -> dict:
    return {
        "story_id": story_id, "version": 1, "body_text": "\n\n".join(paragraphs), "first_created": first_created,
        "ingested_at": PLANNED_AT, "topic": "wire", "partition": 0, "offset": offset, "batch_id": 3,
        "cluster_id": story_id, "duplicate_of": None, "dup_kind": "original", "similarity": None,
        "_paragraphs": tuple(paragraphs), "_paragraph_keys": tuple(map(dedup.paragraph_key, paragraphs)),
        "_provider_tags": (), "_date": first_created.date(),
    }


def setup_function(_fn) -> None:
    STATE_CACHE.clear()


def test_assign_clusters_in_one_batch_whatever_the_arrival_order(tmp_path):
    t0 = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
    rows_in = [
        row("urn:copy", STORY[:-1], t0 + timedelta(minutes=40), 0),  # arrives first, published later
        row("urn:exact", STORY, t0 + timedelta(minutes=20), 1),
        row("urn:original", STORY, t0, 2),
        row("urn:other", STORY[3:5] + ["A different closing sentence about something else entirely."], t0, 3),
    ]
    with BeamTestPipeline() as p:
        out = p | beam.Create(rows_in) | AssignClusters(
            str(tmp_path / "lake"), -1, PLANNED_AT, timedelta(days=7), 3, str(tmp_path / "staging")
        )
        assert_that(
            out | beam.Map(lambda r: (r["story_id"], r["cluster_id"], r["dup_kind"], r["duplicate_of"],
                                      "_fingerprint" in r)),
            equal_to([
                ("urn:original", "urn:original", "original", None, False),
                ("urn:exact", "urn:original", "exact", "urn:original", False),
                ("urn:copy", "urn:original", "near", "urn:original", False),
                ("urn:other", "urn:other", "original", None, False),
            ]),
        )
    delta = pq.read_table(tmp_path / "staging" / "_state" / "signatures.parquet")
    assert sorted(delta.column("story_id").to_pylist()) == ["urn:copy", "urn:exact", "urn:original", "urn:other"]
    assert set(delta.column("batch_id").to_pylist()) == {3}


def test_a_story_republished_by_hundreds_of_outlets_is_one_class_not_a_pair_per_two_copies(tmp_path):
    """400 identical copies in one batch: band groups hold at most two body classes, one pair."""
    from pipeline.beam.syndication import _CandidatesInGroupFn, match_keys

    t0 = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
    rows_in = [row("urn:original", STORY, t0, 0), row("urn:cut", STORY[:-1], t0 + timedelta(minutes=5), 1)]
    rows_in += [row(f"urn:outlet-{n:03d}", STORY, t0 + timedelta(minutes=10 + n), 2 + n) for n in range(400)]
    fingerprinted = [{**r, "_fingerprint": dedup.fingerprint(r["body_text"])} for r in rows_in]
    with BeamTestPipeline() as p:
        candidates = (
            p | "Rows" >> beam.Create(fingerprinted) | beam.FlatMap(match_keys) | beam.GroupByKey()
            | beam.ParDo(_CandidatesInGroupFn(str(tmp_path / "lake"), -1, 0))
        )
        pairs = candidates | beam.Filter(lambda c: c[0] == "pair") | beam.Map(lambda c: c[1])
        # one pair per bundle: it was ~80,000 per shared band (every two of 402 members)
        assert_that(pairs, equal_to([(("urn:cut", 1), ("urn:original", 1))]), label="OnePair")
        out = p | "Batch" >> beam.Create(rows_in) | AssignClusters(
            str(tmp_path / "lake"), -1, PLANNED_AT, timedelta(days=7), 3, str(tmp_path / "staging")
        )
        summary = (
            out | beam.Map(lambda r: ((r["cluster_id"], r["dup_kind"], r["duplicate_of"]), 1))
            | beam.CombinePerKey(sum)
        )
        assert_that(summary, equal_to([
            (("urn:original", "original", None), 1),
            (("urn:original", "exact", "urn:original"), 400),
            (("urn:original", "near", "urn:original"), 1),
        ]), label="CheckClusters")


def test_entities_run_once_per_distinct_paragraph_and_are_shared(tmp_path):
    t0 = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
    original = row("urn:original", STORY, t0, 0)
    copy = row("urn:copy", [p.replace('"', "\u201c", 1).replace('"', "\u201d", 1) for p in STORY], t0, 1)
    staging = tmp_path / "staging"
    with BeamTestPipeline() as p:
        out = p | beam.Create([original, copy]) | AnnotateEntities(
            str(tmp_path / "lake"), -1, str(staging), 3, "en_core_web_sm", 1
        )
        assert_that(
            out.articles | beam.Map(lambda r: (r["story_id"], tuple((e["canonical"], e["count"]) for e in r["entities"]))),
            equal_to([
                ("urn:original", tuple((e["canonical"], e["count"]) for e in _expected_summary())),
                ("urn:copy", tuple((e["canonical"], e["count"]) for e in _expected_summary())),
            ]),
        )
    cache = pq.read_table(staging / "_state" / "paragraph_entities.parquet")
    # curly and straight quotes share a key, so each paragraph was sent to spaCy once
    assert cache.num_rows == len({dedup.paragraph_key(p) for p in STORY}) == len(STORY)


def _expected_summary() -> list[dict]:
    from pipeline.news import entities
    from pipeline.io.ner import extract, load_ner, resolve_model_name

    nlp = load_ner(resolve_model_name())
    per_paragraph = extract(nlp, STORY)
    mentions = entities.mentions_in_body(STORY, per_paragraph)
    return entities.summarise(entities.canonicalise(mentions))
