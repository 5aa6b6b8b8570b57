"""Near-duplicate clustering quality on the syndication fixture feed, and dedup state memory.

Runs the job's dedup path in micro-batches over ``tests/support/syndication_feed.py``: clean each body
(``pipeline.news.clean.clean_body``), drop versions already seen (as ``seen_versions`` does), fingerprint,
``find_candidates`` + ``assign_clusters`` against the ``SignatureIndex``, add the entries, apply the
remaps, and round-trip the index through Arrow every few batches. Then compares each story's final
cluster with the ground truth:

* pairwise precision / recall of cluster membership over all stories, and over originals plus
  copies keeping >= 80 % of the original's words;
* recall per copy kind (a copy counts as found when it ends in its original's cluster);
* the hardest negatives: the highest estimated Jaccard between stories of different true clusters,
  by relation (same event by other agencies, follow-up reusing background, template sibling);
* a sweep of the containment constants, which is how ``pipeline/news/dedup/`` was tuned, and a
  what-if with the 256 MinHash values banded as 32 x 8 (the common recommendation) instead of the
  chosen 64 x 4;
* memory: ``SignatureIndex.memory_bytes()`` and ``ParagraphEntityCache.memory_bytes()``
  extrapolated to 100k entries / 100k stories (~2M paragraphs).

Usage (from the repository root): python -m bench.dedup_quality [--seeds 7 11 23] [--originals 400] [--batch 100] [--no-sweep]

One run, 2 cores, ~17 s (seeds 7 11 23, 400 originals each, batches of 100), 2026-11-25:

| population                         | precision | recall |
| ---------------------------------- | --------- | ------ |
| originals + copies keeping >= 80 % | 1.000     | 0.995  |
| all stories (incl. 45-70 % cuts)   | 1.000     | 0.992  |
| >= 80 %, what-if 32 bands x 8 rows | 1.000     | 0.949-0.967 |

Candidate pairs per member 1.9 (90 % verify); SignatureIndex ~198 MiB per 100k entries;
ParagraphEntityCache ~72 MiB per 100k stories (a dict of tuples: ~540 MiB).
"""
from __future__ import annotations

import argparse
import itertools
import json
import random
import time
import tracemalloc
from collections import Counter, defaultdict

import numpy as np

from pipeline.news import dedup  # noqa: E402
from pipeline.news.clean import clean_body  # noqa: E402
from pipeline.news.dedup import fingerprints  # noqa: E402  (the module whose constants the what-ifs patch)
from pipeline.news.dedup import (  # noqa: E402
    NUM_PERM,
    BatchMember,
    IndexEntry,
    ParagraphEntityCache,
    SignatureIndex,
    assign_clusters,
    find_candidates,
    fingerprint,
    is_exact_duplicate,
    near_duplicate_similarity,
)
from tests.support.syndication_feed import build_feed  # noqa: E402

ORIGINAL_KINDS = {"original", "followup", "template"}


def fingerprint_feed(feed):
    """(items kept after version dedup, fingerprints, redeliveries dropped)."""
    seen, kept, fps, dropped = set(), [], [], 0
    for it in feed:
        key = (it.story_id, it.version)
        if key in seen:
            dropped += 1
            continue
        seen.add(key)
        kept.append(it)
        fps.append(fingerprint(clean_body(it.body, is_html=it.is_html).body_text))
    return kept, fps, dropped


def dup_pair(a, b) -> bool:
    return is_exact_duplicate(a, b) or near_duplicate_similarity(a, b) is not None


def run_job(items, fps, batch_size: int, roundtrip_every: int = 5, count_verified: bool = False):
    """The job's dedup path over micro-batches; returns (index, stats)."""
    index = SignatureIndex()
    stats = Counter()
    for b, start in enumerate(range(0, len(items), batch_size)):
        members = [
            BatchMember(it.story_id, it.version, it.first_created_us, fp)
            for it, fp in zip(items[start : start + batch_size], fps[start : start + batch_size])
        ]
        pairs, icands = find_candidates(members, index)
        if count_verified:
            for i, j in pairs:
                stats["verified"] += dup_pair(members[i].fingerprint, members[j].fingerprint)
            for i, e in icands:
                stats["verified"] += dup_pair(members[i].fingerprint, index.entry(e).fingerprint)
        stats["members"] += len(members)
        stats["batch_pairs"] += len(pairs)
        stats["index_pairs"] += len(icands)
        assignments, remaps, entries = assign_clusters(members, index, pairs, icands)
        stats["remaps"] += len(remaps)
        stats.update(a.dup_kind for a in assignments.values())
        index.add(entries)
        index.apply_remaps(remaps)
        if roundtrip_every and b % roundtrip_every == roundtrip_every - 1:
            fresh = SignatureIndex()
            fresh.apply_table(index.to_table(b))
            index = fresh
    return index, stats


def pair_counts(labels_pred: dict, labels_true: dict, population) -> tuple[int, int, int]:
    """(true positive pairs, predicted pairs, true pairs) over the population of stories."""
    cells, pred, true = Counter(), Counter(), Counter()
    for s in population:
        cells[(labels_pred[s], labels_true[s])] += 1
        pred[labels_pred[s]] += 1
        true[labels_true[s]] += 1
    c2 = lambda n: n * (n - 1) // 2  # noqa: E731
    return sum(map(c2, cells.values())), sum(map(c2, pred.values())), sum(map(c2, true.values()))


def prf(tp: int, pp: int, tt: int) -> tuple[float, float]:
    return (tp / pp if pp else 1.0), (tp / tt if tt else 1.0)


def evaluate(items, index):
    """Precision/recall overall and for >= 80 % copies, plus recall per copy kind."""
    first = {}
    for it in items:
        first.setdefault(it.story_id, it)
    pred = {s: index.story_cluster(s)[0] for s in first}
    true = {s: it.true_cluster for s, it in first.items()}
    everyone = list(first)
    core = [s for s, it in first.items() if it.kind in ORIGINAL_KINDS or it.kept_fraction >= 0.8]
    out = {}
    for name, pop in (("all", everyone), ("copies>=80%", core)):
        tp, pp, tt = pair_counts(pred, true, pop)
        p, r = prf(tp, pp, tt)
        out[name] = {"precision": p, "recall": r, "stories": len(pop), "true_pairs": tt, "predicted_pairs": pp}
    by_kind = defaultdict(lambda: [0, 0])
    for s, it in first.items():
        if it.kind in ORIGINAL_KINDS:
            continue
        by_kind[it.kind][1] += 1
        by_kind[it.kind][0] += pred[s] == pred[it.true_cluster]
    out["recall_by_kind"] = {k: round(v[0] / v[1], 4) for k, v in sorted(by_kind.items())}
    out["copies_by_kind"] = {k: v[1] for k, v in sorted(by_kind.items())}
    return out


def hardest_negatives(items, fps):
    """Highest estimated Jaccard between stories of different true clusters, by relation."""
    rows = [(it, fp) for it, fp in zip(items, fps) if fp.signature is not None and it.version == 1]
    sigs = np.stack([fp.signature for _, fp in rows])
    true = np.array([it.true_cluster for it, _ in rows])
    kind = {it.story_id: it.kind for it, _ in rows}
    best: dict[str, float] = defaultdict(float)
    dup_min = 1.0
    for i, (it, fp) in enumerate(rows):
        j = (sigs[i + 1 :] == sigs[i]).mean(axis=1)
        other = np.arange(i + 1, len(rows))
        diff = true[i + 1 :] != true[i]
        for o, jj in zip(other[diff], j[diff]):
            a, b = rows[o][0], it
            kinds = {kind[a.true_cluster] if a.true_cluster in kind else "?", kind[b.true_cluster] if b.true_cluster in kind else "?"}
            rel = "template sibling" if "template" in kinds else "follow-up" if "followup" in kinds else (
                "same topic" if a.topic == b.topic else "other topic")
            best[rel] = max(best[rel], float(jj))
        if it.kind not in ORIGINAL_KINDS and it.kept_fraction >= 0.8:
            orig = np.flatnonzero((true == it.true_cluster) & np.array([r[0].kind in ORIGINAL_KINDS for r in rows]))
            if orig.size:
                dup_min = min(dup_min, float((sigs[orig[0]] == sigs[i]).mean()))
    return dict(best), dup_min


def sweep(items, fps, batch_size: int):
    """P/R (>= 80 % population and all) for containment constants around the chosen ones."""
    saved = (fingerprints.NEAR_CONTAINMENT, fingerprints.CONTAINMENT_JACCARD_FLOOR)
    results = []
    try:
        for cont, floor in itertools.product((0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 1.01), (0.4, 0.5, 0.6)):
            fingerprints.NEAR_CONTAINMENT, fingerprints.CONTAINMENT_JACCARD_FLOOR = cont, floor
            index, _ = run_job(items, fps, batch_size, roundtrip_every=0)
            ev = evaluate(items, index)
            results.append((cont, floor, ev["copies>=80%"]["precision"], ev["copies>=80%"]["recall"], ev["all"]["precision"], ev["all"]["recall"]))
    finally:
        fingerprints.NEAR_CONTAINMENT, fingerprints.CONTAINMENT_JACCARD_FLOOR = saved
    return results


def lsh_whatif(items, fps, batch_size: int, bands: int, rows: int):
    """Evaluate with another banding of the same 256 MinHash values (module constants patched, then restored)."""
    saved = (fingerprints.BANDS, fingerprints.ROWS_PER_BAND, fingerprints._BAND_SEEDS)
    try:
        fingerprints.BANDS, fingerprints.ROWS_PER_BAND = bands, rows
        fingerprints._BAND_SEEDS = fingerprints._mix64(fingerprints._params("band-seed", bands))
        refp = [
            dedup.Fingerprint(f.body_key, f.n_words, f.n_shingles, f.signature,
                              None if f.signature is None else dedup.band_keys(f.signature))
            for f in fps
        ]
        index, stats = run_job(items, refp, batch_size, roundtrip_every=0)
        return evaluate(items, index), stats
    finally:
        fingerprints.BANDS, fingerprints.ROWS_PER_BAND, fingerprints._BAND_SEEDS = saved


def index_memory(n: int = 20_000) -> int:
    """memory_bytes() of an index of n entries with realistic ids (content does not change the size)."""
    rng = np.random.default_rng(0)
    index = SignatureIndex()
    entries = []
    for i in range(n):
        sid = f"urn:publicid:ap.org:{rng.integers(1 << 62):016x}{i:06d}"
        cluster = sid if i % 3 == 0 else entries[-1].cluster_id
        entries.append(IndexEntry(
            story_id=sid, version=1, cluster_id=cluster, cluster_rank=i, first_created_us=i, body_key=int(rng.integers(1 << 63)),
            n_words=500, n_shingles=490, signature=rng.integers(0, 1 << 32, NUM_PERM, dtype=np.uint64).astype(np.uint32),
            dup_kind="original" if i % 3 == 0 else "near", duplicate_of=None if i % 3 == 0 else cluster,
            similarity=None if i % 3 == 0 else 0.9,
        ))
    index.add(entries)
    return index.memory_bytes()


def paragraph_cache_memory(n: int = 200_000) -> tuple[int, int]:
    """(ParagraphEntityCache.memory_bytes(), traced bytes of a dict-of-tuples) for n paragraphs, ~1.6 mentions each."""
    rng = random.Random(0)
    labels = ["PERSON", "ORG", "GPE", "NORP", "LOC"]
    items = []
    for i in range(n):
        k = rng.choice([0, 1, 1, 2, 2, 3])
        items.append((rng.getrandbits(64), tuple((j * 20, j * 20 + 12, rng.choice(labels)) for j in range(k)), 1_700_000_000_000_000 + i))
    cache = ParagraphEntityCache()
    cache.add(items)
    cache_bytes = cache.memory_bytes()
    tracemalloc.start()
    d = {key: (mentions, created) for key, mentions, created in ((k, tuple((int(s) + 0, int(e) + 0, l) for s, e, l in m), c + 0) for k, m, c in items)}
    dict_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del d
    return cache_bytes, dict_bytes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 11, 23])
    parser.add_argument("--originals", type=int, default=400)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--no-sweep", action="store_true")
    args = parser.parse_args()
    t0 = time.perf_counter()

    per_seed = []
    all_items, all_fps = [], []
    totals = Counter()
    for seed in args.seeds:
        feed = build_feed(seed=seed, n_originals=args.originals)
        items, fps, dropped = fingerprint_feed(feed)
        index, stats = run_job(items, fps, args.batch, count_verified=True)
        stats["redeliveries_dropped"] = dropped
        ev = evaluate(items, index)
        per_seed.append((seed, ev, stats))
        totals.update(stats)
        all_items.append(items)
        all_fps.append(fps)
    t_run = time.perf_counter() - t0

    print(f"{'seed':>5} {'population':<12} {'stories':>7} {'true pairs':>10} {'precision':>9} {'recall':>7}")
    for seed, ev, _ in per_seed:
        for name in ("all", "copies>=80%"):
            e = ev[name]
            print(f"{seed:>5} {name:<12} {e['stories']:>7} {e['true_pairs']:>10} {e['precision']:>9.4f} {e['recall']:>7.4f}")
    kinds = Counter()
    found = Counter()
    for _, ev, _ in per_seed:
        for k, n in ev["copies_by_kind"].items():
            kinds[k] += n
            found[k] += round(ev["recall_by_kind"][k] * n)
    print("\nrecall per copy kind (all seeds): " + ", ".join(f"{k} {found[k] / kinds[k]:.3f} (n={kinds[k]})" for k in sorted(kinds)))
    cand = (totals["batch_pairs"] + totals["index_pairs"]) / totals["members"]
    verified = totals["verified"] / max(1, totals["batch_pairs"] + totals["index_pairs"])
    print(f"candidate pairs per member: {cand:.2f} ({totals['batch_pairs']} in-batch, {totals['index_pairs']} with the index,"
          f" {totals['members']} members; {verified:.1%} verify as duplicates); assignments: original {totals['original']},"
          f" exact {totals['exact']}, near {totals['near']}; remaps {totals['remaps']}; redeliveries dropped {totals['redeliveries_dropped']}")

    neg, dup_min = hardest_negatives(all_items[0], all_fps[0])
    print("hardest negatives (max est. Jaccard across different true clusters, seed %d): %s" % (
        args.seeds[0], ", ".join(f"{k} {v:.3f}" for k, v in sorted(neg.items()))))
    print(f"lowest est. Jaccard of a >=80% copy with its original: {dup_min:.3f}")

    sweep_rows = []
    if not args.no_sweep:
        print("\nsweep (seed %d): NEAR_CONTAINMENT, JACCARD_FLOOR -> P/R >=80%% | P/R all" % args.seeds[0])
        sweep_rows = sweep(all_items[0], all_fps[0], args.batch)
        for cont, floor, p8, r8, pa_, ra in sweep_rows:
            mark = " <- chosen" if (cont, floor) == (dedup.NEAR_CONTAINMENT, dedup.CONTAINMENT_JACCARD_FLOOR) else ""
            print(f"  {cont:4.2f} {floor:4.2f} -> {p8:.4f}/{r8:.4f} | {pa_:.4f}/{ra:.4f}{mark}")

    whatif = []
    if not args.no_sweep:
        print("\nwhat-if BANDS=32, ROWS_PER_BAND=8 (same signatures, chosen containment constants):")
        for seed, items, fps in zip(args.seeds, all_items, all_fps):
            ev, st = lsh_whatif(items, fps, args.batch, 32, 8)
            c = (st["batch_pairs"] + st["index_pairs"]) / st["members"]
            whatif.append((seed, ev, c))
            print(f"  seed {seed}: all P/R {ev['all']['precision']:.4f}/{ev['all']['recall']:.4f},"
                  f" >=80% P/R {ev['copies>=80%']['precision']:.4f}/{ev['copies>=80%']['recall']:.4f},"
                  f" light_edit {ev['recall_by_kind'].get('light_edit', 1):.3f}, edit_drop {ev['recall_by_kind'].get('edit_drop', 1):.3f},"
                  f" candidates/member {c:.2f}")

    idx_bytes = index_memory(20_000)
    cache_bytes, dict_bytes = paragraph_cache_memory(200_000)
    idx_100k = idx_bytes * 5
    cache_2m = cache_bytes * 10
    print(f"\nSignatureIndex memory: {idx_bytes / 2**20:.1f} MiB for 20k entries -> {idx_100k / 2**20:.0f} MiB per 100k entries")
    print(f"ParagraphEntityCache memory: {cache_bytes / 2**20:.1f} MiB for 200k paragraphs -> {cache_2m / 2**20:.0f} MiB per 100k stories"
          f" (~2M paragraphs); a dict of tuples would take {dict_bytes * 10 / 2**20:.0f} MiB")

    def agg(name):
        tp = pp = tt = 0
        for _, ev, _ in per_seed:
            e = ev[name]
            tp += round(e["precision"] * e["predicted_pairs"]) if e["predicted_pairs"] else 0
            pp += e["predicted_pairs"]
            tt += e["true_pairs"]
        return prf(tp, pp, tt)

    p_all, r_all = agg("all")
    p_80, r_80 = agg("copies>=80%")
    elapsed = time.perf_counter() - t0
    print(json.dumps({
        "seeds": args.seeds, "originals_per_seed": args.originals,
        "precision_all": round(p_all, 4), "recall_all": round(r_all, 4),
        "precision_80": round(p_80, 4), "recall_80": round(r_80, 4),
        "recall_by_kind": {k: round(found[k] / kinds[k], 4) for k in sorted(kinds)},
        "candidate_pairs_per_member": round(cand, 3), "candidate_verified_share": round(verified, 3),
        "whatif_32x8_recall_80": [round(ev["copies>=80%"]["recall"], 4) for _, ev, _ in whatif],
        "whatif_32x8_precision_80": [round(ev["copies>=80%"]["precision"], 4) for _, ev, _ in whatif],
        "hardest_negative_jaccard": {k: round(v, 3) for k, v in neg.items()},
        "index_mib_per_100k_entries": round(idx_100k / 2**20, 1),
        "paragraph_cache_mib_per_100k_stories": round(cache_2m / 2**20, 1),
        "seconds": round(elapsed, 1), "seconds_main_runs": round(t_run, 1),
    }))


if __name__ == "__main__":
    main()


