"""Syndication throughput: the whole newswire job vs. spaCy on every message, on a realistic feed.

The feed (``tests/support/syndication_feed.py``, same seed, same feed): about 65 % distinct originals and
35 % messages a wire desk sees again in another form -- redeliveries of a version already sent, new
versions of a story (one-word corrections, a new lede on top, a flash followed by the full text)
and syndicated copies under other story ids (new dateline, captions, byline, footers, curly quotes,
HTML, cut paragraphs, a word changed per paragraph, an outlet paragraph added). Originals are the
generator's originals (incl. follow-ups and template siblings); versions and copies are a seeded
sample of the generator's versions and copies of those originals; redeliveries are the generator's
redeliveries of selected messages, topped up by the generator's own recipe (the same bytes again,
minutes to hours later). Times are shifted so the feed ends now (inside the 7-day lookback).
Messages are ninjs 1.x/2.x JSON keyed by story id (a story's versions stay in one partition).

1. spaCy on every message: what a naive pipeline does -- the job's NER-only pipeline with spaCy's
   own ops (``pipeline.io.ner.load_ner(numpy_matmul=False)``, i.e. what ``spacy.load`` builds) over
   the cleaned body paragraphs of EVERY message, redeliveries
   included (``clean_article(decode_message(value)).paragraphs``), ``nlp.pipe(texts,
   n_process=P, batch_size=B)`` with ``pipeline.io.ner.extract``'s post-processing. The time includes
   starting the n_process workers (that is what ``nlp.pipe`` costs); ``n_process=1`` for reference.
   Also spaCy on each distinct paragraph once (quotes straightened, as the job's paragraph cache
   keys them): the floor of any pipeline that reuses NER results, i.e. the NER work the feed allows.
   For reference, spaCy on every message once more with the job's loader (matrix products through
   numpy's OpenBLAS instead of blis; one BLAS thread per process throughout).
2. newswire end to end: a local broker on a free port, a 2-partition topic, the messages produced
   once, then for each ``--max-records-per-batch`` value a fresh lake and
   ``python -m pipeline.cli run ... --until-idle 2 --trigger-interval 0.5`` as a subprocess, timed
   from start to exit. ``batch_committed`` log lines give the batch seconds and the paragraphs
   annotated / reused; the idle wait is measured from the log (last batch_committed -> idle_stop).
   Each lake is checked: articles == distinct (story_id, version) pairs of the feed, clusters with
   more than one member > 0, and how many copies ended in their original's cluster.
3. Ratio = spaCy-on-every-message seconds / newswire seconds (wall minus idle wait, and sum of batch
   seconds), for the best batch size. The goal is >= 1.3.
4. With ``--stages``: where the time goes -- the job once more, in-process at the best batch size,
   with timers around its steps (decode, clean, fingerprint, NER, ...) and CPU of the job process
   vs. the NER workers.
5. Memory of the lake's state after the run, loaded as the job loads it
   (``STATE_CACHE.get_section``): ``SignatureIndex.memory_bytes()`` and
   ``ParagraphEntityCache.memory_bytes()``, extrapolated per 100k entries and per 100k stories.

Usage (from the repository root): python -m bench.syndication_throughput [--messages N] [--seed S]
           [--redeliveries F] [--versions F] [--copies F] [--max-records-per-batch M [M ...]]
           [--batch-size B] [--ner-processes P] [--stages] [--keep]
Prints the mix, a table, then one JSON line with every figure.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import shutil
import sys
import tempfile
import time
import zlib
from collections import Counter
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

# One BLAS thread per process, as the job's NER workers run: nlp.pipe's workers are forked from here.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]

# No Beam import at module level: spaCy's n_process workers may re-import this module.
from pipeline.ops import broker  # noqa: E402
from pipeline.news.clean import clean_article  # noqa: E402
from pipeline.ops.cli import default_ner_processes  # noqa: E402
from pipeline.news.decode import decode_message  # noqa: E402
from pipeline.news.dedup import paragraph_key  # noqa: E402
from bench.benchjob import CpuMeter, proc_cpu_s, run_newswire, spacy_pipe  # noqa: E402
from pipeline.core.contract import DEFAULT_MODEL  # noqa: E402
from pipeline.io.ner import DEFAULT_BATCH_SIZE, load_ner, resolve_model_name
from tests.support.syndication_feed import FeedItem, build_feed  # noqa: E402

PARTITIONS = 2
ORIGINAL_KINDS = ("original", "followup", "template")
COPY_KINDS = ("exact", "drop_last", "drop_two", "light_edit", "edit_drop", "added_para", "heavy_cut")
GOAL = 1.3

# --------------------------------------------------------------------------- the feed


def group_of(kind: str) -> str:
    if kind in ORIGINAL_KINDS:
        return "original"
    if kind in COPY_KINDS:
        return "copy"
    return kind  # version | redelivery


def select_feed(n: int, seed: int, shares: dict[str, float]) -> list[FeedItem]:
    """N feed items in arrival order: round(n * share) redeliveries / versions / copies, the rest originals."""
    rng = random.Random(seed * 1_000_003 + n)
    want = {g: round(n * s) for g, s in shares.items()}
    want["original"] = n - sum(want.values())
    feed = build_feed(seed=seed, n_originals=want["original"], copies_per_original=1.5)
    originals = [it for it in feed if it.kind in ORIGINAL_KINDS]
    if len(originals) < want["original"]:
        raise SystemExit(f"feed has only {len(originals)} originals, {want['original']} wanted")
    chosen = set(rng.sample(range(len(originals)), want["original"]))
    kept_stories = {it.story_id for i, it in enumerate(originals) if i in chosen}
    selected = [it for it in originals if it.story_id in kept_stories]
    for group in ("version", "copy"):
        pool = [it for it in feed if group_of(it.kind) == group and it.true_cluster in kept_stories]
        if len(pool) < want[group]:
            raise SystemExit(f"feed has only {len(pool)} eligible {group} items, {want[group]} wanted")
        selected += rng.sample(pool, want[group])
    sent = {(it.story_id, it.version) for it in selected}
    redeliveries = [it for it in feed if it.kind == "redelivery" and (it.story_id, it.version) in sent]
    redeliveries = rng.sample(redeliveries, min(len(redeliveries), want["redelivery"]))
    # Top up with the generator's own recipe: a version already sent, again, 1 minute to 6 hours later.
    for it in rng.sample(selected, want["redelivery"] - len(redeliveries)):
        redeliveries.append(replace(it, arrival_us=it.arrival_us + rng.randint(60, 6 * 3600) * 1_000_000,
                                    kind="redelivery"))
    selected += redeliveries
    selected.sort(key=lambda it: (it.arrival_us, it.story_id, it.version))
    return selected


_DATELINE = re.compile(r"^[^()\n]{0,60}\((?:AP|Reuters|AFP)\)\s*[-\u2014]\s*")
_TAGS = re.compile(r"<[^>]+>")


def _headline(body: str) -> str:
    first = next((line for line in _TAGS.sub("\n", body).splitlines() if len(line.split()) >= 6), body)
    words = _DATELINE.sub("", first.strip()).split()
    return " ".join(words[:12]).rstrip(",.;:") or "Untitled"


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_messages(items: list[FeedItem], seed: int) -> list[tuple[bytes, bytes, int]]:
    """(key, ninjs value, partition) per item; a redelivery is the same bytes as the first delivery."""
    rng = random.Random(seed)
    shift = int(time.time() * 1e6) - 300_000_000 - max(it.arrival_us for it in items)  # feed ends 5 min ago
    latest = {}
    for it in items:  # a story's headline: from its latest full version; copies keep the original's
        if it.story_id == it.true_cluster and len(it.body) > len(latest.get(it.story_id, "")):
            latest[it.story_id] = it.body
    sent: dict[tuple[str, int], bytes] = {}
    out = []
    for it in items:
        key = (it.story_id, it.version)
        value = sent.get(key)
        if value is None:
            headline = _headline(latest.get(it.true_cluster, it.body))
            doc: dict = {"uri": it.story_id, "type": "text", "version": str(it.version), "pubstatus": "usable",
                         "language": "en", "versioncreated": _iso(it.arrival_us + shift)}
            if it.first_created_us is not None:
                doc["firstcreated"] = _iso(it.first_created_us + shift)
            if rng.random() < 0.5:  # ninjs 1.x
                doc["headline"] = headline
                doc["copyrightholder"] = it.outlet
                doc["body_html" if it.is_html else "body_text"] = it.body
            else:  # ninjs 2.x
                doc["headlines"] = [{"value": headline, "role": "main"}]
                doc["infosources"] = [{"name": it.outlet}]
                doc["bodies"] = [{"value": it.body, "contenttype": "text/html" if it.is_html else "text/plain"}]
            value = sent[key] = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        out.append((it.story_id.encode("utf-8"), value, zlib.crc32(it.story_id.encode("utf-8")) % PARTITIONS))
    return out


# --------------------------------------------------------------------------- end to end

def stage_timeline(bootstrap: str, topic: str, lake: Path, max_records: int, args) -> dict:
    """``--stages``: the job in-process (driver + DirectRunner, as ``newswire run``) with timers around its steps.

    Each timed function reports calls, seconds inside it and when it was first/last active (seconds
    since the first batch started); the gaps are Beam's own work. Main-process CPU and NER worker CPU
    are measured apart. The functions are wrapped here, in the benchmark, and restored afterwards.
    """
    from apache_beam.runners.worker import statecache

    from pipeline.news import clean, dedup, entities
    from pipeline.beam import inference, syndication, transforms
    from pipeline.io import ner
    from pipeline.beam.runner import make_batch_runner
    from pipeline.job.driver import JobConfig, MicroBatchDriver
    from pipeline.io.kafka.offsets import KafkaOffsetSource

    timings: dict[str, list] = {}
    saved = []

    def wrap(owner, name: str, label: str) -> None:
        fn = getattr(owner, name)
        saved.append((owner, name, fn))

        def timed(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                t1 = time.perf_counter()
                entry = timings.setdefault(label, [0, 0.0, t0, t1])
                entry[0] += 1
                entry[1] += t1 - t0
                entry[3] = t1

        setattr(owner, name, timed)

    for owner, name, label in (
        (transforms.decode, "decode_message", "decode"), (clean, "clean_article", "clean"),
        (dedup, "fingerprint", "MinHash fingerprint"), (dedup, "assign_clusters", "assign clusters"),
        (ner.NerEngine, "extract", "NER (NerEngine.extract)"), (entities, "canonicalise", "canonicalise entities"),
        (transforms, "write_parquet_durable", "write Parquet"), (syndication, "write_parquet_durable", "write state"),
        (statecache, "get_deep_size", "Beam side-input sizing"),
    ):
        wrap(owner, name, label)
    source = KafkaOffsetSource(bootstrap, f"bench-synd-stages-{max_records}")
    try:
        start = time.perf_counter()
        engine = inference.get_engine(args.spacy_model, args.ner_processes)
        pool_s = time.perf_counter() - start
        workers = engine.worker_pids()
        workers_cpu = sum(proc_cpu_s(p) for p in workers)
        config = JobConfig(bootstrap_servers=bootstrap, topics=[topic], lake=lake, trigger_interval=0,
                           max_records_per_batch=max_records, ner_processes=args.ner_processes,
                           spacy_model=args.spacy_model)
        driver = MicroBatchDriver(config, source, make_batch_runner([]))
        cpu0, t0 = time.process_time(), time.perf_counter()
        batches = []
        while (result := driver.run_once()) is not None:
            batches.append(round(result.seconds, 3))
        wall, main_cpu = time.perf_counter() - t0, time.process_time() - cpu0
        workers_cpu = sum(proc_cpu_s(p) for p in workers) - workers_cpu
    finally:
        for owner, name, fn in saved:
            setattr(owner, name, fn)
        source.close()
        for engine in list(ner._ENGINES.values()):
            engine.close()
    steps = [{"step": label, "calls": n, "seconds": round(sec, 3), "from_s": round(a - t0, 2), "to_s": round(b - t0, 2)}
             for label, (n, sec, a, b) in sorted(timings.items(), key=lambda kv: kv[1][2])]
    return {"max_records_per_batch": max_records, "pool_start_s": round(pool_s, 3), "batch_s": batches,
            "wall_s": round(wall, 3), "main_cpu_s": round(main_cpu, 3), "ner_workers_cpu_s": round(workers_cpu, 3),
            "steps": steps}


def check_lake(lake: Path, items: list[FeedItem]) -> dict:
    from pipeline.io.lake.query import connect

    con = connect(lake)
    try:
        q = lambda sql: con.execute(sql).fetchall()  # noqa: E731
        articles = q("SELECT count(*) FROM articles")[0][0]
        distinct = q("SELECT count(*) FROM (SELECT DISTINCT story_id, version FROM articles)")[0][0]
        multi = q("SELECT count(*), coalesce(sum(members), 0) FROM clusters WHERE members > 1")[0]
        entity_rows = q("SELECT count(*) FROM entities")[0][0]
        dead = q("SELECT count(*) FROM dead_letters")[0][0]
        cluster = dict(q("SELECT story_id, arg_max(cluster_id, version) FROM articles GROUP BY story_id"))
    finally:
        con.close()
    copies = {it.story_id: it.true_cluster for it in items if group_of(it.kind) == "copy"}
    return {
        "articles": articles, "distinct_story_versions": distinct,
        "expected_story_versions": len({(it.story_id, it.version) for it in items}),
        "clusters_multi": multi[0], "clustered_stories": int(multi[1]), "entity_rows": entity_rows,
        "dead_letters": dead, "copies": len(copies),
        "copies_in_original_cluster": sum(1 for s, t in copies.items()
                                          if s in cluster and cluster[s] == cluster.get(t)),
    }


def state_memory(lake: Path) -> dict:
    """Memory of the committed signature index and paragraph cache, loaded as the job loads them."""
    from pipeline.io.lake.commitlog import CommitLog
    from pipeline.io.lake.layout import LakeLayout
    from pipeline.io.lake.state import PARAGRAPHS_SECTION, SIGNATURES_SECTION, STATE_CACHE, STATE_SECTIONS

    layout = LakeLayout(lake)
    last = CommitLog(layout).batch_ids()[-1]
    index = STATE_CACHE.get_section(layout, STATE_SECTIONS[SIGNATURES_SECTION], last, None)
    cache = STATE_CACHE.get_section(layout, STATE_SECTIONS[PARAGRAPHS_SECTION], last, None)
    n_index, index_bytes = len(index), index.memory_bytes()
    # memory_bytes() counts allocated capacity (grown by doubling); without the unused rows:
    capacity = len(index._version)
    row_bytes = sum(getattr(index, name)[:1].nbytes for name in index._NUMERIC)
    index_used = index_bytes - (capacity - n_index) * row_bytes
    n_cache, cache_bytes = len(cache), cache.memory_bytes()
    stories = len(index._by_story)
    per = lambda total, count: total / max(count, 1) * 100_000 / 2**20  # noqa: E731  MiB per 100k
    return {
        "index_entries": n_index, "index_stories": stories, "index_capacity": capacity,
        "index_bytes": index_bytes, "index_used_bytes": index_used,
        "index_mib_per_100k_entries": round(per(index_used, n_index), 1),
        "index_mib_per_100k_entries_with_capacity": round(per(index_bytes, n_index), 1),
        "paragraph_cache_entries": n_cache, "paragraph_cache_bytes": cache_bytes,
        "paragraph_cache_mib_per_100k_entries": round(per(cache_bytes, n_cache), 2),
        "paragraph_cache_mib_per_100k_stories": round(per(cache_bytes, stories), 1),
    }


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--redeliveries", type=float, default=0.05, help="share of messages (default 0.05)")
    parser.add_argument("--versions", type=float, default=0.10, help="share of messages (default 0.10)")
    parser.add_argument("--copies", type=float, default=0.20, help="share of messages (default 0.20)")
    parser.add_argument("--max-records-per-batch", type=int, nargs="+", default=[500, 1000, 2000])
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                        help=f"nlp.pipe batch_size for spaCy on every message (the job uses {DEFAULT_BATCH_SIZE})")
    parser.add_argument("--ner-processes", type=int, default=default_ner_processes(),
                        help="the job's --ner-processes and spaCy's n_process (default: the job's default)")
    parser.add_argument("--spacy-model", default=DEFAULT_MODEL)
    parser.add_argument("--stages", action="store_true",
                        help="also run the job in-process at the best batch size with timers around its steps")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (lakes, job logs)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.ERROR)

    shares = {"redelivery": args.redeliveries, "version": args.versions, "copy": args.copies}
    items = select_feed(args.messages, args.seed, shares)
    messages = to_messages(items, args.seed)
    values = [v for _, v, _ in messages]
    start = time.perf_counter()
    per_message = [clean_article(decode_message(v)).paragraphs for v in values]
    decode_clean_s = time.perf_counter() - start
    texts = [p for paras in per_message for p in paras]
    words = sum(len(t.split()) for t in texts)
    # The least NER work any pipeline can do: distinct paragraphs (quotes straightened) of first deliveries.
    # Per kind of message: paragraphs, and paragraphs not in any earlier message (in arrival order).
    first, distinct = set(), set()
    mix, kinds, paras_by_group, novel_by_group = Counter(), Counter(), Counter(), Counter()
    paras_by_kind, novel_by_kind = Counter(), Counter()
    for it, paras in zip(items, per_message):
        group = group_of(it.kind)
        mix[group] += 1
        kinds[it.kind] += 1
        paras_by_group[group] += len(paras)
        paras_by_kind[it.kind] += len(paras)
        if (it.story_id, it.version) not in first:
            first.add((it.story_id, it.version))
            keys = {paragraph_key(p) for p in paras}
            novel_by_group[group] += len(keys - distinct)
            novel_by_kind[it.kind] += len(keys - distinct)
            distinct |= keys
    print(f"feed: {len(items)} messages, {len(texts)} paragraphs, {words} words; "
          f"{len(distinct)} distinct paragraphs in {len(first)} distinct (story_id, version) pairs")
    print("mix: " + ", ".join(f"{g} {mix[g]} ({mix[g] / len(items):.1%}; {paras_by_group[g]} paragraphs, "
                              f"{novel_by_group[g]} new)" for g in ("original", "redelivery", "version", "copy")))
    print("kinds (messages, new paragraphs/paragraphs): " + ", ".join(
        f"{k} {n} ({novel_by_kind[k] / max(paras_by_kind[k], 1):.0%})"
        for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])))

    resolved = resolve_model_name(args.spacy_model)
    start = time.perf_counter()
    nlp = load_ner(args.spacy_model, numpy_matmul=False)  # spaCy's own ops: what spacy.load gives
    load_s = time.perf_counter() - start
    job_nlp = load_ner(args.spacy_model)
    list(job_nlp.pipe(texts[:50]))
    list(nlp.pipe(texts[:50]))  # warm-up, not timed
    with CpuMeter() as cpu_par:
        par_s, par_mentions = spacy_pipe(nlp, texts, args.ner_processes, args.batch_size)
    with CpuMeter() as cpu_one:
        one_s, one_mentions = spacy_pipe(nlp, texts, 1, args.batch_size)
    # The floor of any dedup pipeline: spaCy on each distinct paragraph once, nothing else.
    floor_texts = list({paragraph_key(t): t for t in texts}.values())
    with CpuMeter() as cpu_floor:
        floor_s, _ = spacy_pipe(nlp, floor_texts, args.ner_processes, args.batch_size)
    with CpuMeter() as cpu_job_ops:
        job_ops_s, job_ops_mentions = spacy_pipe(job_nlp, texts, args.ner_processes, args.batch_size)
    if len({par_mentions, one_mentions, job_ops_mentions}) != 1:
        print(f"warning: mention counts differ: {par_mentions}, {one_mentions}, {job_ops_mentions} (numpy matmul)",
              file=sys.stderr)

    from pipeline.ops.compose import ensure_topic, produce  # imports Beam; not wanted in spaCy's workers

    work = Path(tempfile.mkdtemp(prefix="newswire-bench-synd-"))
    runs, checks, cpus, stages = [], [], [], None
    try:
        info = broker.start_broker(work / "broker", port=broker.free_port())
        try:
            topic = "bench-syndication"
            ensure_topic(info.bootstrap, topic, PARTITIONS)
            start = time.perf_counter()
            produce(info.bootstrap, topic, messages)
            produce_s = time.perf_counter() - start
            for m in args.max_records_per_batch:
                lake = work / f"lake-{m}"
                with CpuMeter((info.pid,)) as cpu:
                    runs.append(run_newswire(info.bootstrap, topic, lake, f"bench-synd-{m}", m, args.ner_processes,
                                             args.spacy_model, work / f"job-{m}.log"))
                cpus.append(cpu)
                checks.append(check_lake(lake, items))
            best_i = min(range(len(runs)), key=lambda i: runs[i]["wall_minus_idle_s"])
            if args.stages:
                m = args.max_records_per_batch[best_i]
                stages = stage_timeline(info.bootstrap, topic, work / f"lake-stages-{m}", m, args)
        finally:
            broker.stop_broker(work / "broker")
        memory = state_memory(work / f"lake-{args.max_records_per_batch[best_i]}")
    finally:
        if args.keep:
            print(f"work directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    failed = [c for c in checks if c["articles"] != c["expected_story_versions"]
              or c["distinct_story_versions"] != c["articles"] or c["clusters_multi"] <= 0 or c["dead_letters"]]
    best, check = runs[best_i], checks[best_i]

    rows = [(f"spaCy on every message, n_process={args.ner_processes}", par_s, cpu_par, None),
            ("spaCy on every message, n_process=1", one_s, cpu_one, None),
            (f"spaCy on distinct paragraphs only, n_process={args.ner_processes}", floor_s, cpu_floor, None),
            (f"spaCy on every message, numpy matmul, n_process={args.ner_processes}", job_ops_s, cpu_job_ops, None)]
    for r, c in zip(runs, cpus):
        tag = f"newswire M={r['max_records_per_batch']}"
        rows += [(f"{tag}, wall (start to exit)", r["wall_s"], c, r),
                 (f"{tag}, wall minus idle wait", r["wall_minus_idle_s"], None, None),
                 (f"{tag}, sum of batch seconds", r["batch_s"], None, None)]
    print(f"\nmodel {resolved}, nlp.pipe batch_size {args.batch_size}, {args.ner_processes} NER processes, "
          f"{os.cpu_count()} cores; {len(texts)} paragraphs in {len(items)} messages")
    print(f"{'case':<50} {'seconds':>8} {'messages/s':>11} {'speed-up':>9} {'own cores':>10} {'other cores':>12}")
    for name, seconds, cpu, _ in rows:
        load = f" {cpu.own_cores:10.2f} {cpu.other_cores:12.2f}" if cpu else ""
        print(f"{name:<50} {seconds:8.2f} {len(items) / seconds:11.1f} {par_s / seconds:9.2f}{load}")
    for r in runs:
        print(f"  M={r['max_records_per_batch']}: wall = startup {r['startup_s']:.2f} + batches {r['batch_s']:.2f} + "
              f"between {r['between_batches_s']:.2f} + idle {r['idle_wait_s']:.2f} + shutdown {r['shutdown_s']:.2f}; "
              f"batches " + ", ".join(f"{b['records']}r/{b['paragraphs_annotated']}a/{b['seconds']:.2f}s"
                                      for b in r["batches"])
              + f"; paragraphs annotated {r['paragraphs_annotated']}, reused {r['paragraphs_reused']}, "
              f"redeliveries skipped {r['redeliveries_skipped']}")
    ratio_wall = par_s / best["wall_minus_idle_s"]
    ratio_batch = par_s / best["batch_s"]
    print(f"best M={best['max_records_per_batch']}: speed-up {ratio_wall:.2f} x (wall minus idle), "
          f"{ratio_batch:.2f} x (batch seconds); goal >= {GOAL} x: "
          f"{'met' if ratio_wall >= GOAL else 'NOT met'} / {'met' if ratio_batch >= GOAL else 'NOT met'}")
    print(f"NER work: spaCy on every message {len(texts)} paragraphs, newswire {best['paragraphs_annotated']} "
          f"({best['paragraphs_annotated'] / len(texts):.1%}; least possible {len(distinct)})")
    print(f"lake: {check['articles']} articles (expected {check['expected_story_versions']}), "
          f"{check['clusters_multi']} clusters with > 1 member ({check['clustered_stories']} stories), "
          f"{check['copies_in_original_cluster']}/{check['copies']} copies in their original's cluster, "
          f"{check['entity_rows']} entity rows, {check['dead_letters']} dead letters")
    print(f"state: SignatureIndex {memory['index_entries']} entries, {memory['index_used_bytes'] / 2**20:.1f} MiB "
          f"-> {memory['index_mib_per_100k_entries']:.0f} MiB per 100k entries "
          f"({memory['index_mib_per_100k_entries_with_capacity']:.0f} MiB counting unused capacity); "
          f"ParagraphEntityCache {memory['paragraph_cache_entries']} paragraphs, "
          f"{memory['paragraph_cache_bytes'] / 2**20:.2f} MiB -> "
          f"{memory['paragraph_cache_mib_per_100k_entries']:.1f} MiB per 100k paragraphs, "
          f"{memory['paragraph_cache_mib_per_100k_stories']:.1f} MiB per 100k stories")
    print(f"bounds: NER work alone allows {len(texts) / len(distinct):.2f} x (paragraphs / distinct paragraphs); "
          f"spaCy on distinct paragraphs only is {par_s / floor_s:.2f} x faster than on every message; newswire "
          f"(wall minus idle) spends {best['wall_minus_idle_s'] - floor_s:.2f} s beyond that floor")
    if stages:
        print(f"stages, in-process, M={stages['max_records_per_batch']}: "
              f"NER pool start {stages['pool_start_s']:.2f} s, "
              f"batches {', '.join(f'{b:.2f}' for b in stages['batch_s'])} s; "
              f"CPU: job process {stages['main_cpu_s']:.1f} s, NER workers {stages['ner_workers_cpu_s']:.1f} s")
        for step in stages["steps"]:
            print(f"  {step['step']:<26} {step['calls']:>6} calls {step['seconds']:7.2f} s   "
                  f"active {step['from_s']:6.2f} .. {step['to_s']:6.2f} s")
    print(f"with the job's loader (numpy matmul) spaCy on every message takes {job_ops_s:.2f} s: newswire is "
          f"{job_ops_s / best['wall_minus_idle_s']:.2f} x faster than that (wall minus idle)")
    busiest = max(c.other_cores for c in [cpu_par, cpu_one, cpu_floor, cpu_job_ops, *cpus])
    if busiest > 0.2:
        print(f"warning: other processes used up to {busiest:.2f} cores during a measurement; figures are not clean",
              file=sys.stderr)
    figures = {
        "date": datetime.now(timezone.utc).date().isoformat(), "cpus": os.cpu_count(), "model": resolved,
        "messages": len(items), "seed": args.seed,
        "mix": {g: mix[g] for g in ("original", "redelivery", "version", "copy")},
        "kinds": dict(sorted(kinds.items())), "paragraphs": len(texts), "words": words,
        "paragraphs_by_group": dict(paras_by_group), "new_paragraphs_by_group": dict(novel_by_group),
        "paragraphs_by_kind": dict(paras_by_kind), "new_paragraphs_by_kind": dict(novel_by_kind),
        "distinct_paragraphs": len(distinct), "distinct_story_versions": len(first),
        "batch_size": args.batch_size, "ner_processes": args.ner_processes,
        "decode_clean_s": round(decode_clean_s, 3), "model_load_s": round(load_s, 3), "produce_s": round(produce_s, 3),
        "spacy_parallel_s": round(par_s, 3), "spacy_single_s": round(one_s, 3), "mentions": par_mentions,
        "spacy_distinct_only_s": round(floor_s, 3), "ner_work_bound": round(len(texts) / len(distinct), 3),
        "ratio_floor": round(par_s / floor_s, 3),
        "spacy_parallel_numpy_matmul_s": round(job_ops_s, 3),
        "ratio_wall_minus_idle_vs_numpy_matmul": round(job_ops_s / best["wall_minus_idle_s"], 3),
        "e2e": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in runs],
        "lake_checks": checks,
        "best_max_records_per_batch": best["max_records_per_batch"],
        "ratio_wall_minus_idle": round(ratio_wall, 3), "ratio_batch_seconds": round(ratio_batch, 3),
        "goal": GOAL, "memory": memory, "stages": stages,
        "cpu_other_cores": {"spacy_parallel": round(cpu_par.other_cores, 2), "spacy_single": round(cpu_one.other_cores, 2),
                            "spacy_distinct_only": round(cpu_floor.other_cores, 2),
                            "spacy_numpy_matmul": round(cpu_job_ops.other_cores, 2),
                            "e2e": [round(c.other_cores, 2) for c in cpus]},
    }
    print(json.dumps(figures, separators=(",", ":")))
    if failed:
        raise SystemExit(f"lake check failed: {failed}")


if __name__ == "__main__":
    main()
