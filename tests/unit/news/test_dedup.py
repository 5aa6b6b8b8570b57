"""Unit tests for pipeline.news.dedup: fingerprints, near/exact rules, cluster assignment, index and NER cache."""
from __future__ import annotations

import itertools
import json
import os
import pickle
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[3]

from pipeline.news import dedup  # noqa: E402
from pipeline.news.clean import clean_body  # noqa: E402
from pipeline.news.dedup import (  # noqa: E402
    BANDS,
    ROWS_PER_BAND,
    MIN_EXACT_WORDS,
    MIN_SHINGLES,
    NO_FIRST_CREATED,
    NUM_PERM,
    PARAGRAPH_CACHE_SCHEMA,
    SIGNATURE_INDEX_SCHEMA,
    Assignment,
    BatchMember,
    Fingerprint,
    IndexEntry,
    ParagraphEntityCache,
    SignatureIndex,
    assign_clusters,
    band_keys,
    body_key,
    candidate_pairs_for_band,
    dedup_tokens,
    estimate_containment,
    estimate_jaccard,
    find_candidates,
    fingerprint,
    index_delta_table,
    is_exact_duplicate,
    minhash_signature,
    near_duplicate_similarity,
    paragraph_cache_delta_table,
    paragraph_key,
    shingle_hashes,
)
from pipeline.news.dedup import fingerprints  # noqa: E402
from tests.support.syndication_feed import (  # noqa: E402
    AP_ATACMS,
    AP_FED_SEPT,
    REUTERS_ATACMS,
    REUTERS_FED_SEPT,
    REUTERS_KREMLIN,
    build_feed,
    curly_quotes,
    seed_paragraphs,
)

SEED = seed_paragraphs()
SEED_RAW = (ROOT / "tests" / "fixtures" / "seed_article.txt").read_text(encoding="utf-8")
T0 = 1_731_800_000_000_000  # 2024-11-16T23:33:20Z in epoch microseconds
MIN = 60_000_000


def fp_of(paras: list[str]) -> Fingerprint:
    return fingerprint("\n\n".join(paras))


def cleaned(raw: str, **kw) -> str:
    return clean_body(raw, **kw).body_text


def true_jaccard(a: str, b: str) -> float:
    sa, sb = set(shingle_hashes(dedup_tokens(a)).tolist()), set(shingle_hashes(dedup_tokens(b)).tolist())
    return len(sa & sb) / len(sa | sb)


def change_word(paras: list[str], i: int, old: str, new: str) -> list[str]:
    out = list(paras)
    assert old in out[i]
    out[i] = out[i].replace(old, new, 1)
    return out


# ---------------------------------------------------------------------------
# Tokens and shingles
# ---------------------------------------------------------------------------


def test_tokens_ignore_punctuation_quotes_case_and_layout():
    a = 'Putin said that approval would mean NATO was "at war" -- a threat he has made before.'
    b = "PUTIN said  that approval would mean NATO was \u201cat war\u201d \u2014 a threat he has made before"
    c = "putin said, that approval would mean nato was 'at war': a threat...\nhe has made before!"
    assert dedup_tokens(a) == dedup_tokens(b) == dedup_tokens(c)
    assert dedup_tokens(a)[:3] == ["putin", "said", "that"]
    assert np.array_equal(shingle_hashes(dedup_tokens(a)), shingle_hashes(dedup_tokens(c)))


def test_tokens_of_empty_bodies():
    assert dedup_tokens("") == []
    assert dedup_tokens("  \n ") == []
    assert dedup_tokens("-- ... !") == []


def test_shingles_are_sorted_unique_uint64():
    toks = "a b c d e a b c d e a b c d e".split()
    sh = shingle_hashes(toks)
    assert sh.dtype == np.uint64
    assert list(sh) == sorted(set(sh.tolist()))
    assert sh.size == 5  # "a b c d e", "b c d e a", "c d e a b", "d e a b c", "e a b c d"


@pytest.mark.parametrize("n, expected", [(0, 0), (1, 1), (4, 1), (5, 1), (6, 2), (12, 8)])
def test_shingle_count_and_short_texts(n, expected):
    toks = [f"w{i}" for i in range(n)]
    assert shingle_hashes(toks).size == expected


def test_short_text_is_one_shingle_of_all_tokens_and_order_matters():
    assert not np.array_equal(shingle_hashes(["one", "two", "three"]), shingle_hashes(["one", "two"]))
    assert not np.array_equal(shingle_hashes("a b c d e f".split()), shingle_hashes("f e d c b a".split()))
    assert np.array_equal(shingle_hashes(["x", "y", "z"]), shingle_hashes(["x", "y", "z"]))


# ---------------------------------------------------------------------------
# MinHash signatures and bands
# ---------------------------------------------------------------------------


def brute_force_signature(shingles: np.ndarray) -> list[int]:
    """The documented definition with Python integers: min over x of ((a*x + b) mod 2**64) >> 32."""
    xs = [(int(s) ^ (int(s) >> 32)) & 0xFFFFFFFF for s in shingles]
    return [
        min(((int(a) * x + int(b)) % 2**64) >> 32 for x in xs)
        for a, b in zip(fingerprints._MINHASH_A, fingerprints._MINHASH_B)
    ]


@pytest.mark.parametrize("text", ["alpha beta", "one two three four five six seven", " ".join(SEED[:2])])
def test_signature_matches_brute_force(text):
    sh = shingle_hashes(dedup_tokens(text))
    sig = minhash_signature(sh)
    assert sig.dtype == np.uint32 and sig.shape == (NUM_PERM,)
    assert sig.tolist() == brute_force_signature(sh)


def test_signature_blocks_do_not_change_the_result(monkeypatch):
    sh = shingle_hashes(dedup_tokens(" ".join(SEED)))
    whole = minhash_signature(sh)
    monkeypatch.setattr(fingerprints, "_MINHASH_BLOCK", 7)
    assert np.array_equal(minhash_signature(sh), whole)


def test_empty_signature_is_all_max():
    sig = minhash_signature(np.empty(0, dtype=np.uint64))
    assert sig.dtype == np.uint32 and (sig == 0xFFFFFFFF).all()


def test_estimated_jaccard_tracks_true_jaccard():
    a = "\n\n".join(SEED)
    variants = [
        "\n\n".join(SEED[:-3]),
        "\n\n".join(change_word(change_word(SEED, 2, "confirmed", "said"), 7, "missiles", "weapons")),
        "\n\n".join(SEED[:10]),
    ]
    for b in variants:
        est = estimate_jaccard(fingerprint(a).signature, fingerprint(b).signature)
        assert abs(est - true_jaccard(a, b)) < 0.08


def test_band_keys_mix_the_band_index():
    same = np.full(NUM_PERM, 12345, dtype=np.uint32)
    keys = band_keys(same)
    assert keys.dtype == np.uint64 and keys.shape == (BANDS,)
    assert len(set(keys.tolist())) == BANDS  # equal rows in different bands never collide


def test_band_keys_of_a_matrix_are_the_rows_keys():
    sigs = np.stack([fp_of(SEED).signature, fp_of(AP_ATACMS).signature])
    assert np.array_equal(band_keys(sigs), np.stack([band_keys(sigs[0]), band_keys(sigs[1])]))


def test_band_keys_change_with_any_row_value():
    sig = fp_of(SEED).signature.copy()
    before = band_keys(sig)
    sig[17] ^= 1  # band 2
    after = band_keys(sig)
    assert (before != after).tolist() == [i == 17 // ROWS_PER_BAND for i in range(BANDS)]


# ---------------------------------------------------------------------------
# Keys, fingerprints, determinism
# ---------------------------------------------------------------------------


def test_body_key_is_stable_unsigned_and_layout_insensitive():
    a = body_key(dedup_tokens("Biden authorised the strikes. \u201cIt is done,\u201d he said."))
    b = body_key(dedup_tokens('BIDEN authorised the strikes -- "it is done" he said'))
    c = body_key(dedup_tokens("Biden authorized the strikes. It is done, he said."))
    assert a == b != c
    assert 0 <= a < 2**64
    assert body_key([]) == body_key([])


def test_fingerprint_pickles_and_compares():
    fp = fp_of(SEED)
    again = pickle.loads(pickle.dumps(fp))
    assert again == fp and hash(again) == hash(fp)
    assert fp != fp_of(SEED[:-1])
    member = BatchMember("s", 1, T0, fp)
    assert pickle.loads(pickle.dumps(member)) == member


def test_short_bodies_have_no_signature():
    fp = fingerprint("Developing story.")
    assert fp.n_words == 2 and fp.signature is None and fp.bands is None
    assert fingerprint(None).n_words == 0 and fingerprint(None).n_shingles == 0
    enough = MIN_SHINGLES + dedup.SHINGLE_WORDS - 1  # words giving MIN_SHINGLES shingles
    assert fingerprint(" ".join(f"w{i}" for i in range(enough))).signature is not None
    assert fingerprint(" ".join(f"w{i}" for i in range(enough - 1))).signature is None


# Pinned values: changing any hash invalidates every signature stored in the lake.
GOLDEN_TEXT = "US President Joe Biden has authorized Ukraine to use long-range American missiles against military targets inside Russia."


def _golden() -> dict:
    fp = fingerprint(GOLDEN_TEXT)
    return {"body_key": fp.body_key, "sig": fp.signature[:4].tolist() if fp.signature is not None else None,
            "shingles": shingle_hashes(dedup_tokens(GOLDEN_TEXT))[:2].tolist(), "para": paragraph_key(GOLDEN_TEXT),
            "bands": band_keys(np.arange(NUM_PERM, dtype=np.uint32))[:2].tolist(),
            "seed_sig": fp_of(SEED).signature[:3].tolist()}


def test_fingerprints_are_deterministic_across_interpreters():
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]);"
        "from tests.unit.news.test_dedup import _golden; print(json.dumps(_golden()))"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)],
                         capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout) == json.loads(json.dumps(_golden()))


def test_golden_values_are_pinned():
    g = _golden()
    assert g["body_key"] == body_key(GOLDEN_TEXT.casefold().replace(".", "").replace("-", " ").split())
    assert g["sig"] is None  # 18 words: too short for a signature
    assert g == GOLDEN


GOLDEN = {
    "body_key": 13656069008384299984,
    "sig": None,
    "shingles": [90856371235029376, 2230107074648275758],
    "para": 2251797051923229004,
    "bands": [13701453996350506664, 10096696095784899174],
    "seed_sig": [20104378, 10188635, 7587727],
}


# ---------------------------------------------------------------------------
# LSH candidates and the near/exact rules
# ---------------------------------------------------------------------------


def syndicated_copy(paras: list[str]) -> str:
    """The seed as an outlet republishes it: own dateline, a caption, a footer, curly quotes."""
    body = ["WASHINGTON (AFP) - " + paras[0], "A man walks past a damaged building. (AP Photo/Efrem Lukatsky)"]
    body += paras[1:] + ["Read more: Ukraine war latest", "(Reporting by Idrees Ali; Editing by Don Durfee)"]
    return curly_quotes("\n".join(body))


def test_syndicated_copy_is_an_exact_duplicate():
    original = fingerprint(cleaned(SEED_RAW))
    copy = fingerprint(cleaned(syndicated_copy(SEED)))
    assert is_exact_duplicate(original, copy)
    assert near_duplicate_similarity(original, copy) == 1.0


def test_copy_without_caption_and_one_word_changed_is_a_candidate_and_near():
    original = fingerprint(cleaned(SEED_RAW))
    edited = change_word(SEED, 3, "consistently pushed", "repeatedly pushed")
    copy = fingerprint(cleaned("\n".join(edited)))
    assert not is_exact_duplicate(original, copy)
    assert set(original.bands.tolist()) & set(copy.bands.tolist())
    assert near_duplicate_similarity(original, copy) >= dedup.NEAR_JACCARD


@pytest.mark.parametrize("other", [AP_ATACMS, REUTERS_ATACMS, REUTERS_KREMLIN])
def test_other_story_on_the_same_event_is_neither_candidate_nor_near(other):
    a, b = fp_of(SEED), fp_of(other)
    assert not set(a.bands.tolist()) & set(b.bands.tolist())
    assert near_duplicate_similarity(a, b) is None
    assert not is_exact_duplicate(a, b)


def test_follow_up_reusing_background_paragraphs_is_not_near():
    a, b = fp_of(REUTERS_ATACMS), fp_of(REUTERS_KREMLIN)  # three paragraphs in common
    j = estimate_jaccard(a.signature, b.signature)
    assert 0.1 < j < dedup.CONTAINMENT_JACCARD_FLOOR
    assert near_duplicate_similarity(a, b) is None


def test_two_agencies_on_the_same_fed_decision_share_a_quote_but_are_distinct():
    a, b = fp_of(AP_FED_SEPT), fp_of(REUTERS_FED_SEPT)
    assert "the u s economy is in a good place" in " ".join(dedup_tokens(" ".join(REUTERS_FED_SEPT)))
    assert near_duplicate_similarity(a, b) is None


def test_short_identical_bodies_are_not_exact_duplicates():
    a, b = fingerprint("This is a developing story. Check back for updates."), fingerprint("This is a developing story. Check back for updates.")
    assert a.body_key == b.body_key and a.n_words < MIN_EXACT_WORDS
    assert not is_exact_duplicate(a, b)
    assert near_duplicate_similarity(a, b) is None


def test_containment_estimate():
    assert estimate_containment(1 / 3, 100, 100) == pytest.approx(0.5)
    assert estimate_containment(0.5, 100, 50) == pytest.approx(1.0)  # B inside A, half its size
    assert estimate_containment(0.0, 100, 100) == 0.0
    assert estimate_containment(0.9, 0, 100) == 0.0
    assert estimate_containment(0.99, 100, 10) == 1.0  # clipped


def test_copy_that_dropped_the_last_paragraphs_is_near():
    original = fp_of(SEED)
    for kept in (SEED[:-1], SEED[:-2], SEED[:-3]):
        copy = fp_of(kept)
        assert near_duplicate_similarity(original, copy) is not None
        j = estimate_jaccard(original.signature, copy.signature)
        assert estimate_containment(j, original.n_shingles, copy.n_shingles) > 0.9


def test_containment_rule_accepts_what_plain_jaccard_misses():
    original = fp_of(SEED)
    kept = SEED[:13]  # two thirds of the words: J ~ 0.66 < NEAR_JACCARD, containment ~ 1
    copy = fp_of(kept)
    j = estimate_jaccard(original.signature, copy.signature)
    assert j < dedup.NEAR_JACCARD
    assert near_duplicate_similarity(original, copy) == j


def test_heavy_cut_below_the_floor_is_not_near():
    copy = fp_of(SEED[:7])  # about a third
    assert estimate_jaccard(fp_of(SEED).signature, copy.signature) < dedup.CONTAINMENT_JACCARD_FLOOR
    assert near_duplicate_similarity(fp_of(SEED), copy) is None


def test_light_edit_in_every_paragraph_is_near():
    rng = random.Random(3)
    from tests.support.syndication_feed import light_edit

    copy = fp_of([light_edit(p, rng) for p in SEED])
    assert near_duplicate_similarity(fp_of(SEED), copy) is not None


# ---------------------------------------------------------------------------
# Cluster assignment
# ---------------------------------------------------------------------------


def member(sid: str, paras, created, version: int = 1) -> BatchMember:
    fp = paras if isinstance(paras, Fingerprint) else fp_of(paras)
    return BatchMember(sid, version, created, fp)


def all_candidates(members, index):
    pairs = {(i, j) for i in range(len(members)) for j in range(i + 1, len(members))}
    return pairs, {(i, e) for i in range(len(members)) for e in range(len(index))}


def run_batch(index: SignatureIndex, members, candidates="lsh"):
    pairs, icands = find_candidates(members, index) if candidates == "lsh" else all_candidates(members, index)
    result = assign_clusters(members, index, pairs, icands)
    assignments, remaps, entries = result
    index.add(entries)
    index.apply_remaps(remaps)
    return result


def test_copy_in_the_same_batch_joins_the_original():
    index = SignatureIndex()
    members = [member("copy", fingerprint(cleaned(syndicated_copy(SEED))), T0 + 30 * MIN), member("afp", SEED, T0)]
    got, remaps, entries = run_batch(index, members)
    assert got[("afp", 1)] == Assignment("afp", None, "original", None, T0)
    assert got[("copy", 1)] == Assignment("afp", "afp", "exact", 1.0, T0)
    assert remaps == []
    assert [(e.story_id, e.cluster_id, e.dup_kind) for e in entries] == [("afp", "afp", "original"), ("copy", "afp", "exact")]


def test_near_copy_in_a_later_batch_joins_through_the_index():
    index = SignatureIndex()
    run_batch(index, [member("afp", SEED, T0)])
    got, remaps, _ = run_batch(index, [member("outlet", SEED[:-1], T0 + 5 * MIN)])
    a = got[("outlet", 1)]
    assert (a.cluster_id, a.duplicate_of, a.dup_kind, a.cluster_rank) == ("afp", "afp", "near", T0)
    assert 0.8 < a.similarity < 1.0
    assert remaps == []
    assert index.story_cluster("outlet") == ("afp", T0)


def test_unrelated_stories_are_originals_of_their_own_clusters():
    index = SignatureIndex()
    got, _, _ = run_batch(index, [member("afp", SEED, T0), member("ap", AP_ATACMS, T0 + MIN), member("rtr", REUTERS_ATACMS, None)])
    assert got[("afp", 1)].cluster_id == "afp"
    assert got[("ap", 1)] == Assignment("ap", None, "original", None, T0 + MIN)
    assert got[("rtr", 1)] == Assignment("rtr", None, "original", None, NO_FIRST_CREATED)


def test_missing_first_created_uses_the_fallback_for_expiry():
    index = SignatureIndex()
    m = [member("rtr", REUTERS_ATACMS, None)]
    _, _, entries = assign_clusters(m, index, [], [], fallback_created_us=T0)
    assert entries[0].first_created_us == T0 and entries[0].cluster_rank == NO_FIRST_CREATED
    _, _, entries = assign_clusters(m, index, [], [])
    assert entries[0].first_created_us == NO_FIRST_CREATED


def test_earlier_original_arriving_after_its_copy_renames_the_cluster():
    index = SignatureIndex()
    run_batch(index, [member("copy", SEED, T0 + 20 * MIN), member("copy2", SEED[:-1], T0 + 40 * MIN)])
    assert index.story_cluster("copy2") == ("copy", T0 + 20 * MIN)
    got, remaps, entries = run_batch(index, [member("afp", SEED, T0)])
    a = got[("afp", 1)]
    assert (a.cluster_id, a.cluster_rank, a.dup_kind, a.duplicate_of) == ("afp", T0, "exact", "copy")
    assert remaps == [("copy", "afp", T0)]
    assert index.story_cluster("copy") == index.story_cluster("copy2") == ("afp", T0)


def test_earlier_original_later_in_the_same_batch_is_processed_first():
    index = SignatureIndex()
    got, remaps, _ = run_batch(index, [member("copy", SEED, T0 + 20 * MIN), member("afp", SEED, T0)])
    assert got[("afp", 1)].dup_kind == "original"
    assert got[("copy", 1)] == Assignment("afp", "afp", "exact", 1.0, T0)
    assert remaps == []


def _two_overlapping_parts():
    """A = first 70 % of the seed, B = last 70 %, C = all: C matches both, A and B do not match."""
    n = len(SEED)
    a, b = SEED[: n * 7 // 10], SEED[n * 3 // 10 :]
    assert near_duplicate_similarity(fp_of(a), fp_of(b)) is None
    assert near_duplicate_similarity(fp_of(a), fp_of(SEED)) is not None
    assert near_duplicate_similarity(fp_of(b), fp_of(SEED)) is not None
    return a, b


def test_transitive_merge_keeps_the_earliest_cluster_and_returns_remaps():
    a, b = _two_overlapping_parts()
    index = SignatureIndex()
    run_batch(index, [member("A", a, T0 + 10 * MIN), member("B", b, T0 + 5 * MIN)], candidates="all")
    assert index.story_cluster("A") == ("A", T0 + 10 * MIN)
    assert index.story_cluster("B") == ("B", T0 + 5 * MIN)
    run_batch(index, [member("A2", a, T0 + 50 * MIN)], candidates="all")  # a copy of A
    got, remaps, entries = run_batch(index, [member("C", SEED, T0 + 30 * MIN)], candidates="all")
    assert got[("C", 1)].cluster_id == "B" and got[("C", 1)].cluster_rank == T0 + 5 * MIN
    assert remaps == [("A", "B", T0 + 5 * MIN)]
    assert {s: index.story_cluster(s) for s in ("A", "A2", "B", "C")} == {s: ("B", T0 + 5 * MIN) for s in ("A", "A2", "B", "C")}


def test_transitive_merge_named_after_a_new_earliest_member():
    a, b = _two_overlapping_parts()
    index = SignatureIndex()
    run_batch(index, [member("A", a, T0 + 10 * MIN), member("B", b, T0 + 5 * MIN)], candidates="all")
    got, remaps, _ = run_batch(index, [member("C", SEED, T0)], candidates="all")
    assert got[("C", 1)].cluster_id == "C" and got[("C", 1)].dup_kind == "near"
    assert sorted(remaps) == [("A", "C", T0), ("B", "C", T0)]
    assert all(index.story_cluster(s) == ("C", T0) for s in "ABC")


def test_merge_inside_one_batch_needs_no_remap():
    a, b = _two_overlapping_parts()
    index = SignatureIndex()
    got, remaps, entries = run_batch(
        index, [member("C", SEED, T0 + 30 * MIN), member("A", a, T0 + 10 * MIN), member("B", b, T0 + 5 * MIN)], candidates="all"
    )
    assert remaps == []
    assert {k[0]: v.cluster_id for k, v in got.items()} == {"A": "B", "B": "B", "C": "B"}
    assert got[("A", 1)].dup_kind == "original"  # A was processed before C joined it to B
    assert {e.cluster_id for e in entries} == {"B"}


def test_best_match_prefers_exact_then_similarity_then_earliest():
    index = SignatureIndex()
    run_batch(index, [member("near", SEED[:-1], T0), member("exact_late", SEED, T0 + 9 * MIN), member("exact_early", SEED, T0 + 3 * MIN)], candidates="all")
    # "near" is the earliest and everything joined its cluster; the new copy is exact with two stories
    got, _, _ = run_batch(index, [member("new", SEED, T0 + 60 * MIN)], candidates="all")
    assert got[("new", 1)].duplicate_of == "exact_early" and got[("new", 1)].dup_kind == "exact"


def test_versions_stay_in_their_cluster_and_inherit():
    index = SignatureIndex()
    run_batch(index, [member("afp", SEED, T0), member("outlet", SEED[:-1], T0 + 10 * MIN)])
    before = index.story_cluster("outlet")
    # v2 of the copy is rewritten into an unrelated text: it stays and inherits
    got, remaps, _ = run_batch(index, [member("outlet", AP_FED_SEPT, T0 + 10 * MIN, version=2)])
    a = got[("outlet", 2)]
    assert (a.cluster_id, a.cluster_rank) == before
    assert a.dup_kind == "near" and a.duplicate_of == "afp"
    assert remaps == []
    assert index.story_cluster("outlet") == before


def test_versions_in_the_same_batch_follow_the_first():
    index = SignatureIndex()
    got, _, entries = run_batch(index, [
        member("ap", AP_ATACMS, T0, version=2), member("ap", AP_ATACMS[:-1], T0, version=1),
        member("copy", AP_ATACMS[:-1], T0 + MIN),
    ])
    assert got[("ap", 1)] == got[("ap", 2)] == Assignment("ap", None, "original", None, T0)
    assert got[("copy", 1)].cluster_id == "ap"
    assert [(e.story_id, e.version) for e in entries] == [("ap", 1), ("ap", 2), ("copy", 1)]


def test_new_version_merges_the_clusters_it_matches():
    index = SignatureIndex()
    run_batch(index, [member("afp", ["Developing story."], T0)])
    run_batch(index, [member("copy1", SEED, T0 + 30 * MIN), member("copy2", SEED[:-1], T0 + 35 * MIN)])
    assert index.story_cluster("copy2") == ("copy1", T0 + 30 * MIN)
    got, remaps, _ = run_batch(index, [member("afp", SEED, T0, version=2)])
    assert got[("afp", 2)] == Assignment("afp", None, "original", None, T0)
    assert remaps == [("copy1", "afp", T0)]
    assert index.story_cluster("copy2") == ("afp", T0)


def test_short_bodies_never_cluster_even_as_candidates():
    index = SignatureIndex()
    flash = ["This is a developing story. Check back for updates."]
    got, _, _ = run_batch(index, [member("a", flash, T0), member("b", flash, T0 + MIN)], candidates="all")
    assert got[("a", 1)].cluster_id == "a" and got[("b", 1)].cluster_id == "b"


def test_redelivered_version_in_a_batch_gives_one_entry():
    index = SignatureIndex()
    got, _, entries = run_batch(index, [member("ap", AP_ATACMS, T0), member("ap", AP_ATACMS, T0)])
    assert len(got) == 1 and len(entries) == 1


def _mixed_batch():
    a, b = _two_overlapping_parts()
    return [
        member("C", SEED, T0 + 30 * MIN), member("A", a, T0 + 10 * MIN), member("B", b, T0 + 5 * MIN),
        member("ap", AP_ATACMS, T0 + MIN), member("ap-copy", AP_ATACMS[:-1], T0 + 2 * MIN),
        member("ap-copy2", AP_ATACMS, T0 + 2 * MIN), member("ap", AP_ATACMS[1:], T0 + MIN, version=2),
        member("fed", AP_FED_SEPT, None), member("fed-copy", AP_FED_SEPT, None), member("rtr", REUTERS_FED_SEPT, T0 + 2 * MIN),
        member("flash1", ["Developing story."], T0), member("flash2", ["Developing story."], T0),
    ]


def test_assignment_is_invariant_under_permutations():
    index = SignatureIndex()
    run_batch(index, [member("old-fed", AP_FED_SEPT[:-1], T0 + 3 * MIN), member("old-ap", AP_ATACMS, T0 + 20 * MIN)])
    members = _mixed_batch()
    pairs, icands = all_candidates(members, index)
    expected = assign_clusters(members, index, pairs, icands)
    rng = random.Random(5)
    for _ in range(12):
        perm = list(range(len(members)))
        rng.shuffle(perm)  # new position p holds old member perm[p]
        where = {old: new for new, old in enumerate(perm)}
        shuffled = [members[i] for i in perm]
        p2 = [(where[j], where[i]) if rng.random() < 0.5 else (where[i], where[j]) for i, j in pairs]
        i2 = [(where[i], e) for i, e in icands]
        rng.shuffle(p2)
        rng.shuffle(i2)
        assert assign_clusters(shuffled, index, p2 + p2[:3], i2) == expected
    got, remaps, _ = expected
    assert got[("fed-copy", 1)].cluster_id == "old-fed" and got[("fed", 1)].cluster_id == "old-fed"
    assert got[("ap", 1)].cluster_id == "ap" and ("old-ap", "ap", T0 + MIN) in remaps


def test_identical_bodies_match_as_one_class_with_the_same_result_as_every_pair():
    """A flood of copies (with versions and a near copy) against an index: the class-level search
    pairs only the first member of each body, and clusters come out as if every pair were checked."""
    index = SignatureIndex()
    run_batch(index, [member("afp", SEED, T0), member("ap", AP_ATACMS, T0 + MIN)])
    members = [member(f"outlet-{n:02d}", SEED, T0 + (n % 7) * MIN) for n in range(60)]
    members += [member("outlet-03", SEED[:-1], T0 + 3 * MIN, version=2), member("cut", SEED[:-1], T0 + 2 * MIN),
                member("afp", SEED, T0, version=2), member("ap-copy", AP_ATACMS, None)]
    pairs, icands = find_candidates(members, index)
    every_pair, _ = all_candidates(members, index)
    every_index = {(i, e) for i, e in all_candidates(members, index)[1] if members[i].story_id != index._story_ids[e]}
    assert len(pairs) <= 3 and len(every_pair) > 2000
    class_level = assign_clusters(members, index, pairs, icands)
    assert class_level == assign_clusters(members, index, sorted(every_pair), sorted(every_index))
    got = class_level[0]
    assert {got[(f"outlet-{n:02d}", 1)] for n in range(60)} == {Assignment("afp", "afp", "exact", 1.0, T0)}
    assert got[("cut", 1)].cluster_id == got[("outlet-03", 2)].cluster_id == "afp"
    assert got[("ap-copy", 1)] == Assignment("ap", "ap", "exact", 1.0, T0 + MIN)


def test_find_candidates_agrees_with_band_groups():
    index = SignatureIndex()
    run_batch(index, [member("afp", SEED, T0)])
    members = [member("copy", SEED[:-1], T0 + MIN), member("copy2", SEED, T0 + MIN), member("ap", AP_ATACMS, T0)]
    pairs, icands = find_candidates(members, index)
    assert pairs == {(0, 1)}
    assert icands == {(0, 0), (1, 0)}
    assert candidate_pairs_for_band([3, 1, 2, 1], [9]) == ([(1, 2), (1, 3), (2, 3)], [(1, 9), (2, 9), (3, 9)])


# ---------------------------------------------------------------------------
# Signature index
# ---------------------------------------------------------------------------


def entry(sid: str, paras, created: int, version: int = 1, cluster: str | None = None, **kw) -> IndexEntry:
    fp = fp_of(paras)
    return IndexEntry(sid, version, cluster or sid, created, created, fp.body_key, fp.n_words, fp.n_shingles, fp.signature, **kw)


def test_index_lookups():
    index = SignatureIndex()
    index.add([entry("afp", SEED, T0), entry("ap", AP_ATACMS, T0 + MIN), entry("flash", ["Developing story."], T0)])
    assert len(index) == 3
    assert index.candidates(fp_of(SEED[:-1]).bands) == {0}
    assert index.candidates(fp_of(REUTERS_FED_SEPT).bands) == set()
    assert index.exact_matches(fp_of(AP_ATACMS).body_key) == [1]
    bands = np.concatenate([fp_of(SEED[:-1]).bands, fp_of(AP_ATACMS).bands, fp_of(REUTERS_FED_SEPT).bands])
    per_key = index.candidates_per_key(bands)
    assert len(per_key) == len(bands)
    assert [set(hits) for hits in per_key] == [index.candidates(np.asarray([b], dtype=np.uint64)) for b in bands.tolist()]
    assert set().union(*map(set, per_key)) == {0, 1}
    assert index.candidates_per_key(np.asarray([], dtype=np.uint64)) == []
    assert index.exact_matches(fp_of(["Developing story."]).body_key) == []  # too short to be posted
    assert index.entry(2).signature is None and index.entry(2).bands is None
    assert index.entry(0) == entry("afp", SEED, T0)
    assert index.story_cluster("nobody") is None


def test_entry_accessors_and_replace_cluster():
    index = SignatureIndex()
    index.add([entry("a", SEED, T0, cluster="x"), entry("b", AP_ATACMS, T0 + 5, cluster="y"), entry("c", REUTERS_ATACMS, T0, cluster="x")])
    assert index.story_version(1) == ("b", 1) and index.cluster_of(1) == "y" and index.first_created_us(1) == T0 + 5
    assert index.entries_in_clusters({"x": ("z", 1)}) == [0, 2]
    assert index.entries_in_clusters([]) == []
    moved = dedup.replace_cluster(index.entry(0), "z", 1)
    assert (moved.cluster_id, moved.cluster_rank, moved.story_id) == ("z", 1, "a")
    index.add([moved])
    assert len(index) == 3 and index.story_cluster("a") == ("z", 1)


def test_story_cluster_follows_the_latest_version():
    index = SignatureIndex()
    index.add([entry("s", SEED, T0, version=2, cluster="x"), entry("s", SEED, T0, version=1, cluster="y")])
    assert index.story_cluster("s") == ("x", T0)
    assert index.find("s", 1) == 1 and index.find("s", 3) is None


def test_adding_a_version_again_replaces_it():
    index = SignatureIndex()
    index.add([entry("s", SEED, T0), entry("t", AP_ATACMS, T0)])
    index.add([entry("s", REUTERS_FED_SEPT, T0, cluster="other")])
    assert len(index) == 2
    assert index.candidates(fp_of(SEED).bands) == set()
    assert index.candidates(fp_of(REUTERS_FED_SEPT).bands) == {0}
    assert index.exact_matches(fp_of(SEED).body_key) == []
    assert index.story_cluster("s") == ("other", T0)


def test_expire_drops_old_entries_and_renumbers():
    index = SignatureIndex()
    index.add([entry("old", SEED, T0), entry("new", AP_ATACMS, T0 + 10 * MIN), entry("new2", REUTERS_ATACMS, T0 + 20 * MIN)])
    assert index.expire(T0 + 5 * MIN) == 1
    assert index.expire(T0 + 5 * MIN) == 0
    assert len(index) == 2
    assert index.candidates(fp_of(SEED).bands) == set()
    assert index.candidates(fp_of(AP_ATACMS).bands) == {0}
    assert index.candidates(fp_of(REUTERS_ATACMS).bands) == {1}
    assert index.exact_matches(fp_of(REUTERS_ATACMS).body_key) == [1]
    assert index.story_cluster("old") is None and index.entry(1).story_id == "new2"
    index.add([entry("later", SEED, T0 + 30 * MIN)])
    assert index.candidates(fp_of(SEED).bands) == {2}


def test_apply_remaps_moves_whole_clusters_and_follows_chains():
    index = SignatureIndex()
    index.add([entry("a", SEED, T0 + 5), entry("b", AP_ATACMS, T0 + 7, cluster="a"), entry("c", REUTERS_ATACMS, T0 + 9)])
    index.apply_remaps([("a", "c", T0 + 1)])
    assert index.story_cluster("b") == ("c", T0 + 1) and index.story_cluster("c") == ("c", T0 + 9)
    index.apply_remaps([("c", "z", T0), ("x", "c", T0)])
    assert {index.story_cluster(s)[0] for s in "abc"} == {"z"}
    index.apply_remaps([("p", "q", 1), ("q", "r", 2)])  # chains are flattened
    index.add([entry("d", SEED[:3], T0, cluster="p")])
    index.apply_remaps([("p", "q", 1), ("q", "r", 2)])
    assert index.story_cluster("d") == ("r", 2)


def _index_with_everything() -> SignatureIndex:
    index = SignatureIndex()
    run_batch(index, [member("copy", SEED, T0 + 20 * MIN), member("flash", ["Developing story."], None)])
    run_batch(index, [member("afp", SEED, T0), member("ap", AP_ATACMS, T0 + MIN), member("ap-copy", AP_ATACMS[:-1], T0 + 3 * MIN)])
    run_batch(index, [member("ap", AP_ATACMS[1:], T0 + MIN, version=2)])
    return index


def test_index_arrow_round_trip(tmp_path):
    index = _index_with_everything()
    table = index.to_table(7)
    assert table.schema == SIGNATURE_INDEX_SCHEMA
    assert table.column("story_id").to_pylist() == sorted(table.column("story_id").to_pylist())
    assert set(table.column("batch_id").to_pylist()) == {7}
    path = tmp_path / "snapshot.parquet"
    pq.write_table(table, path)
    again = SignatureIndex()
    again.apply_table(pq.read_table(path))
    assert again.to_table(7).equals(table)
    assert [again.entry(i) for i in range(len(again))] == sorted(
        (index.entry(i) for i in range(len(index))), key=lambda e: (e.story_id, e.version))
    assert again.candidates(fp_of(SEED).bands) == {again.find("afp", 1), again.find("copy", 1)}
    flash = again.entry(again.find("flash", 1))
    assert flash.signature is None and flash.similarity is None and flash.duplicate_of is None


def test_delta_tables_fold_in_order_and_later_rows_win():
    e1 = entry("s", SEED, T0, cluster="old")
    e2 = entry("s", SEED, T0, cluster="new", dup_kind="near", duplicate_of="x", similarity=0.9)
    delta = index_delta_table([entry("t", AP_ATACMS, T0), e1], 1)
    assert delta.column("story_id").to_pylist() == ["s", "t"]
    index = SignatureIndex()
    index.apply_table(delta)
    index.apply_table(index_delta_table([e2], 2))
    assert len(index) == 2 and index.entry(index.find("s", 1)) == e2
    both = pa.concat_tables([index_delta_table([e1], 3), index_delta_table([e2], 4)])
    fresh = SignatureIndex()
    fresh.apply_table(both)
    assert fresh.entry(0) == e2


def test_entries_remaps_and_deltas_commute():
    """Applying a batch's entry delta before or after its remaps gives the same index."""
    base = _index_with_everything()
    members = [member("early", SEED, T0 - MIN)]
    pairs, icands = find_candidates(members, base)
    _, remaps, entries = assign_clusters(members, base, pairs, icands)
    assert remaps
    one, two = SignatureIndex(), SignatureIndex()
    for idx in (one, two):
        idx.apply_table(base.to_table(1))
    one.apply_table(index_delta_table(entries, 2))
    one.apply_remaps(remaps)
    two.apply_remaps(remaps)
    two.apply_table(index_delta_table(entries, 2))
    assert one.to_table(2).equals(two.to_table(2))


def test_memory_bytes_counts_arrays_and_strings():
    index = _index_with_everything()
    small = index.memory_bytes()
    assert small > len(index) * NUM_PERM * 4
    fps = [fp_of(SEED[k:]) for k in range(5)]
    index.add([IndexEntry(f"s{i}", 1, f"s{i}", T0, T0, fps[i % 5].body_key, fps[i % 5].n_words, fps[i % 5].n_shingles,
                          fps[i % 5].signature) for i in range(2000)])
    per_entry = NUM_PERM * 4 + BANDS * 12 + 8 * 8  # signature, band postings, scalar columns
    assert index.memory_bytes() > len(index) * per_entry + 2000 * 60  # + an id string each


# ---------------------------------------------------------------------------
# Paragraph NER cache
# ---------------------------------------------------------------------------


def test_paragraph_key_ignores_only_quote_style():
    p = 'Macron said Putin "does not want peace" and that "it\'s clear."'
    curly = curly_quotes(p)
    assert len(curly) == len(p)
    assert paragraph_key(p) == paragraph_key(curly)
    assert paragraph_key(p) != paragraph_key(p.upper())
    assert paragraph_key(p) != paragraph_key(p.replace(" and", "  and"))
    assert paragraph_key("a -- b") != paragraph_key("a \u2014 b")
    assert 0 <= paragraph_key(p) < 2**64


def test_paragraph_cache_get_add_expire():
    cache = ParagraphEntityCache()
    k1, k2, k3 = paragraph_key(SEED[0]), paragraph_key(SEED[1]), paragraph_key(SEED[2])
    cache.add([(k1, [(0, 2, "GPE"), (3, 18, "PERSON")], T0), (k2, [], T0 + MIN)])
    assert cache.get(k1) == ((0, 2, "GPE"), (3, 18, "PERSON"))
    assert cache.get(k2) == ()  # cached, no entities
    assert cache.get(k3) is None
    cache._compact()
    assert cache.get(k1) == ((0, 2, "GPE"), (3, 18, "PERSON")) and cache.get(k2) == ()
    cache.add([(k1, [(0, 2, "GPE")], T0 - MIN)])  # newest mentions, latest time kept
    assert cache.get(k1) == ((0, 2, "GPE"),)
    assert cache.expire(T0 + 1) == 1  # k1 kept T0 (the max of T0 and T0 - MIN); k2 is at T0 + MIN
    assert cache.get(k1) is None and cache.get(k2) == ()
    assert len(cache) == 1


def test_paragraph_cache_compaction_keeps_everything(monkeypatch):
    monkeypatch.setattr(ParagraphEntityCache, "_COMPACT_AT", 3)
    rng = random.Random(1)
    items = [(rng.getrandbits(64), [(i, i + 5, rng.choice(["ORG", "GPE"]))] * (i % 3), T0 + i) for i in range(40)]
    cache = ParagraphEntityCache()
    for it in items:
        cache.add([it])
    for key, mentions, _ in items:
        assert cache.get(key) == tuple(tuple(m) for m in mentions)
    assert len(cache) == 40


def test_paragraph_cache_arrow_round_trip(tmp_path):
    rng = random.Random(2)
    items = [(rng.getrandbits(64), [(j, j + 4, rng.choice(["PERSON", "ORG", "GPE"])) for j in range(i % 4)], T0 + i) for i in range(300)]
    cache = ParagraphEntityCache()
    cache.add(items[:150])
    cache.apply_table(paragraph_cache_delta_table(items[150:], 4))
    table = cache.to_table(4)
    assert table.schema == PARAGRAPH_CACHE_SCHEMA and table.num_rows == 300
    assert table.column("paragraph_key").to_pylist() == sorted(k for k, _, _ in items)
    path = tmp_path / "cache.parquet"
    pq.write_table(table, path)
    again = ParagraphEntityCache()
    again.apply_table(pq.read_table(path))
    assert again.to_table(4).equals(table)
    for key, mentions, _ in items:
        assert again.get(key) == tuple(tuple(m) for m in mentions)
    assert again.memory_bytes() > 0
    sliced = ParagraphEntityCache()
    sliced.apply_table(table.slice(100, 50))
    assert len(sliced) == 50 and sliced.get(table.column("paragraph_key")[120].as_py()) == again.get(table.column("paragraph_key")[120].as_py())


def test_paragraph_cache_delta_is_deterministic():
    k = paragraph_key(SEED[0])
    items = [(k, [(0, 5, "ORG")], T0), (k, [(0, 2, "GPE")], T0 + MIN), (7, [], T0)]
    first = paragraph_cache_delta_table(items, 1)
    for perm in itertools.permutations(items):
        assert paragraph_cache_delta_table(list(perm), 1).equals(first)
    assert first.column("paragraph_key").to_pylist() == [7, k]
    assert first.column("first_created_us").to_pylist() == [T0, T0 + MIN]
    assert first.column("mentions").to_pylist()[1] == [{"start": 0, "end": 2, "label": "GPE"}]


# ---------------------------------------------------------------------------
# The fixture feed end to end (small)
# ---------------------------------------------------------------------------


def test_feed_is_deterministic_and_has_every_kind():
    a, b = build_feed(seed=3, n_originals=60), build_feed(seed=3, n_originals=60)
    assert a == b
    kinds = {it.kind for it in build_feed(seed=3, n_originals=150)}
    assert {"original", "followup", "template", "exact", "drop_last", "drop_two", "light_edit", "edit_drop",
            "added_para", "heavy_cut", "version", "redelivery"} <= kinds


def test_small_feed_quality():
    from bench.dedup_quality import evaluate, fingerprint_feed, run_job
    items, fps, _ = fingerprint_feed(build_feed(seed=5, n_originals=150))
    index, _ = run_job(items, fps, batch_size=40, roundtrip_every=3)
    ev = evaluate(items, index)
    assert ev["all"]["precision"] >= 0.99
    assert ev["copies>=80%"]["recall"] >= 0.9
