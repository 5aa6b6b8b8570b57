"""NER throughput: spaCy alone vs. the whole newswire job, on the same texts, in one run on this machine.

1. spaCy alone: the job's NER-only pipeline with spaCy's own ops (``pipeline.io.ner.load_ner(
   numpy_matmul=False)``, i.e. what ``spacy.load`` builds) over exactly the paragraphs
   the job runs NER on (each distinct cleaned body paragraph once, as its paragraph cache does), ``nlp.pipe(texts, n_process=P, batch_size=B)`` with the
   same post-processing as ``pipeline.io.ner.extract`` (Mentions of KEPT_LABELS). The time includes
   starting the n_process workers (that is what ``nlp.pipe`` costs); model loading in this process
   is timed separately. ``n_process=1`` is reported for reference, and so is the job's loader
   (matrix products through numpy's OpenBLAS instead of blis; one BLAS thread per process throughout).
2. newswire end to end: a local broker on a free port, a 2-partition topic, N distinct ninjs
   stories (ninjs 1.x/2.x, text/HTML, several hundred words each, recombined from the sentences of
   ``tests/fixtures/seed_article.txt`` with invented names), then
   ``python -m pipeline.cli run ... --until-idle 2 --trigger-interval 0.5`` as a subprocess, timed
   from start to exit. The job's ``batch_committed ... seconds=X`` log lines give the time spent
   in batches; the idle wait is measured from the log (last batch_committed -> idle_stop).
   With ``--engine``, also the job's own NER pool (``pipeline.io.ner.NerEngine``, P spawned workers)
   without Beam, called with 256 paragraphs at a time (RunInference's largest batch).
3. Ratios e2e/spaCy-alone throughput (same texts, so = t_spacy / t_e2e), for wall time minus the
   idle wait and for the summed batch seconds. The goal is >= 0.85.

Usage (from the repository root): python -m bench.ner_throughput [--messages N] [--batch-size B] [--ner-processes P]
                                      [--max-records-per-batch M] [--seed S] [--engine] [--retries K] [--keep]
Prints a table, then one JSON line with every figure. Each phase also reports the cores this benchmark
used and the cores other processes used meanwhile (/proc/stat); on a shared machine ``--retries K``
re-measures a phase that other processes disturbed and keeps its least disturbed attempt.
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
from datetime import datetime, timedelta, timezone
from pathlib import Path

# One BLAS thread per process, as the job's NER workers run: nlp.pipe's workers are forked from here.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]

from pipeline.ops import broker  # noqa: E402
from pipeline.news.clean import clean_article  # noqa: E402
from pipeline.ops.cli import default_ner_processes  # noqa: E402
from pipeline.news.decode import decode_message  # noqa: E402
from pipeline.news.dedup import paragraph_key  # noqa: E402
from bench.benchjob import CpuMeter, run_newswire, spacy_pipe  # noqa: E402
from pipeline.core.contract import DEFAULT_MODEL  # noqa: E402
from pipeline.io.ner import DEFAULT_BATCH_SIZE, NerEngine, load_ner, resolve_model_name

SEED_ARTICLE = REPO / "tests" / "fixtures" / "seed_article.txt"
# RunInference's max batch in requests (= paragraphs), pipeline.beam.inference.MAX_BATCH_SIZE; not imported,
# so that the spawned pool workers, which import this module, do not import Beam.
RUNINFERENCE_MAX_BATCH = 256
PARTITIONS = 2

# --------------------------------------------------------------------------- the feed

# People named in the seed article, replaced per story by invented people (full name, then surname).
SEED_PEOPLE = ("Joe Biden", "Volodymyr Zelensky", "Vladimir Putin", "Donald Trump", "Emmanuel Macron",
               "Keir Starmer", "Olaf Scholz", "Mike Waltz", "John Hamilton")
FIRST = ("Marta", "Daniel", "Claire", "Peter", "Hannah", "Samuel", "Julia", "Tomás", "Ingrid", "Kenji", "Amira",
         "Lukas", "Sophie", "Ethan", "Priya", "Oleksandr", "Grace", "Mehmet", "Chloé", "Nathan", "Aisha", "Rafael",
         "Elena", "Viktor", "Noor", "Gareth", "Linnea", "Mateo", "Yuki", "Femi", "Bianca", "Dmitri", "Fiona")
LAST = ("Kovalenko", "Ortiz", "Duval", "Lindqvist", "Brooks", "Adeyemi", "Novak", "Herrera", "Solberg", "Watanabe",
        "Haddad", "Brenner", "Marchand", "Cole", "Raman", "Melnyk", "Whitfield", "Aydın", "Besson", "Price",
        "Okonkwo", "Castellano", "Petrova", "Hargreaves", "Nakamura", "Lindgren", "Moreau", "Szabo", "Delgado",
        "Fitzgerald", "Bauer", "Kowalski", "Abara")
ORGS = ("the Ministry of Defence", "the European Commission", "Reuters", "the United Nations", "NATO",
        "the International Monetary Fund", "Gazprom", "the Red Cross", "Amnesty International", "the Kremlin",
        "Lockheed Martin", "Rheinmetall", "the World Bank", "the Pentagon", "the State Department",
        "the Institute for the Study of War", "Ukrenergo", "the Bundestag", "the Foreign Office")
PLACES = ("Kyiv", "Kharkiv", "Odesa", "Berlin", "Paris", "London", "Warsaw", "Brussels", "Moscow", "Washington",
          "Vilnius", "Geneva", "Ankara", "Tokyo", "Seoul", "Bucharest", "Helsinki", "Rome", "Madrid", "Prague")
ROLES = ("a spokesperson for", "a senior adviser at", "an analyst at", "the deputy head of", "a researcher at",
         "a former official at", "the chief economist of", "a lawmaker close to", "the envoy of", "a director at")
# Generated sentences: subject + reporting verb + clause + tail, every part with random slots, so that
# two stories share few word 5-shingles (the job's syndication step must not see them as copies).
SUBJECTS = ("{p}, {role} {org},", "{org}", "Officials in {place}", "{p}", "A spokesperson for {org}",
            "{p}, who met {p2} in {place} last month,", "Diplomats in {place}", "{p2} of {org}")
REPORTS = ("said on {day} that", "told reporters in {place} that", "warned in a statement that",
           "confirmed late on {day} that", "wrote in a letter to {org} that", "told a news conference in {place} that",
           "said in an interview with {org} that", "posted on social media from {place} that")
CLAUSES = ("{n} {things} had been sent to {place} since {month}",
           "talks with {org} would resume in {place} in {month}",
           "{p2} would lead a delegation of {n} officials to {place}",
           "a package worth ${n} million had been approved by {org}",
           "at least {n} people had been evacuated from {place} overnight",
           "the plan drafted by {p2} was \u201cdead on arrival\u201d in {place}",
           "{org} had not been consulted before the decision in {place}",
           "{n} {things} were still waiting at the border near {place}",
           "the meeting between {p2} and {org} had been moved to {day}",
           "prices in {place} had risen {n} percent since {month}")
TAILS = ("", "", ", according to {org}", " ahead of a summit in {place}", " despite objections from {p2}",
         ", a claim {org} disputed", " after talks with {p2} in {place}", ", citing figures from {org}")
THINGS = ("air defence systems", "generators", "armoured vehicles", "tonnes of grain", "ambulances",
          "artillery shells", "transformers", "drones", "field hospitals", "fuel trucks")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
PROVIDERS = (("AFP", "AFP"), ("Reuters", "Reuters"), ("The Associated Press", "AP"))


def seed_sentences() -> tuple[list[str], list[str]]:
    """(sentences of story text, photo-caption paragraphs) from the seed article."""
    sentences: list[str] = []
    captions: list[str] = []
    for line in SEED_ARTICLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("Washington: "):
            line = line[len("Washington: "):]
        if len(line.split()) < 6:  # cross-heads such as 'Intensify the fighting'
            continue
        if re.search(r"\((?:Photo by|Reuters file photo)", line):
            captions.append(line)
            continue
        sentences.extend(s for s in re.split(r"(?:(?<=[.?!])|(?<=[.?!][\"\u201d]))\s+(?=[A-Z\"\u201c])", line) if s)
    return sentences, captions


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def _generated(rng: random.Random) -> str:
    ctx = dict(p=_person(rng), p2=_person(rng), org=rng.choice(ORGS), place=rng.choice(PLACES),
               role=rng.choice(ROLES), day=rng.choice(DAYS), month=rng.choice(MONTHS), things=rng.choice(THINGS),
               n=rng.randint(2, 950))
    text = " ".join((rng.choice(SUBJECTS), rng.choice(REPORTS), rng.choice(CLAUSES))) + rng.choice(TAILS) + "."
    text = text.format(**ctx)
    return text[0].upper() + text[1:]


def _recast(sentence: str, people: dict[str, str]) -> str:
    for seed, new in people.items():
        sentence = sentence.replace(seed, new).replace(seed.split()[-1], new.split()[-1])
    return sentence


def _html(paragraphs: list[str]) -> str:
    def esc(s: str) -> str:
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    return "".join(f"<p>{esc(p)}</p>" for p in paragraphs)


def build_stories(n: int, seed: int = 7) -> list[bytes]:
    """N distinct ninjs stories (version 1, no redeliveries), ~300-450 words in 6-10 paragraphs.

    Each story mixes 4-7 seed sentences (people renamed) with generated sentences; every paragraph
    holds at least one generated sentence, so no paragraph repeats across stories (the job runs NER
    once per distinct paragraph) and stories share few shingles (they are not syndicated copies).
    Layouts: ninjs 1.x and 2.x, plain text and HTML; some stories carry a photo caption paragraph.
    """
    rng = random.Random(seed)
    sentences, captions = seed_sentences()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    seen: set[str] = set()
    out: list[bytes] = []
    while len(out) < n:
        i = len(out)
        people = {p: _person(rng) for p in SEED_PEOPLE}
        seeds = [_recast(s, people) for s in rng.sample(sentences, k=rng.randint(4, 7))]
        paragraphs: list[str] = []
        for _ in range(rng.randint(6, 10)):
            parts = [_generated(rng)] + [_generated(rng) for _ in range(rng.choice((0, 0, 1)))]
            if seeds and rng.random() < 0.8:
                parts.insert(rng.randint(0, len(parts)), seeds.pop())
            paragraphs.append(" ".join(parts))
        if seeds:
            paragraphs[-1] += " " + " ".join(seeds)
        if any(p in seen for p in paragraphs):
            continue
        seen.update(paragraphs)
        place = rng.choice(PLACES)
        holder, source = rng.choice(PROVIDERS)
        paragraphs[0] = f"{place.upper()} ({source}) \u2014 " + paragraphs[0]
        if rng.random() < 0.3:
            paragraphs.insert(rng.randint(0, 1), _recast(rng.choice(captions), people))
        created = now - timedelta(minutes=rng.randint(5, 600))
        layout = rng.choice(("1x-text", "1x-html", "2x-text", "2x-html"))
        headline = f"{people['Volodymyr Zelensky']} presses {people['Joe Biden']} on long-range missiles in {place}"
        doc: dict = {"uri": f"urn:bench:ner:{i}", "type": "text", "version": "1",
                     "firstcreated": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "versioncreated": created.strftime("%Y-%m-%dT%H:%M:%SZ"), "pubstatus": "usable",
                     "language": "en", "copyrightholder": holder}
        text = "\n\n".join(paragraphs)
        if layout.startswith("1x"):
            doc["headline"] = headline
            doc["byline"] = f"By {_person(rng)}"
            doc["body_text" if layout == "1x-text" else "body_html"] = text if layout == "1x-text" else _html(paragraphs)
        else:
            doc["headlines"] = [{"value": headline, "role": "main"}]
            doc["by"] = _person(rng)
            doc["infosources"] = [{"name": source}]
            value = text if layout == "2x-text" else _html(paragraphs)
            doc["bodies"] = [{"value": value, "contenttype": "text/plain" if layout == "2x-text" else "text/html"}]
        out.append(json.dumps(doc, ensure_ascii=False).encode("utf-8"))
    return out


def ner_texts(values: list[bytes]) -> tuple[int, list[str]]:
    """(body paragraphs in all stories, exactly the paragraphs the job runs NER on).

    The job cleans each story, then runs NER once per distinct paragraph (``dedup.paragraph_key``)
    that its paragraph entity cache does not hold yet; the lake starts empty, so that is every
    distinct cleaned body paragraph, in first-seen order here.
    """
    total = 0
    seen: set[int] = set()
    texts: list[str] = []
    for value in values:
        for paragraph in clean_article(decode_message(value)).paragraphs:
            total += 1
            key = paragraph_key(paragraph)
            if key not in seen:
                seen.add(key)
                texts.append(paragraph)
    return total, texts


# --------------------------------------------------------------------------- CPU accounting


CONTENDED_CORES = 0.2  # other processes busier than this during a phase make its figure suspect


def least_contended(measure, retries: int, pids: tuple[int, ...] = ()):
    """``measure(attempt)``, repeated (at most ``retries`` more times) while other processes used more
    than CONTENDED_CORES; returns (result, CpuMeter, attempts) of the least contended attempt."""
    best = None
    for attempt in range(retries + 1):
        with CpuMeter(pids) as cpu:
            result = measure(attempt)
        if best is None or cpu.other_cores < best[1].other_cores:
            best = (result, cpu)
        if cpu.other_cores <= CONTENDED_CORES:
            break
    return best[0], best[1], attempt + 1


# --------------------------------------------------------------------------- spaCy alone


def engine_alone(model: str, processes: int, texts: list[str], per_call: int) -> tuple[float, float, int]:
    """The job's own NER pool (pipeline.io.ner.NerEngine) without Beam: (pool start s, extract s, mentions).

    Called like RunInference calls it (one request per paragraph), with its largest batch: ``per_call``
    paragraphs per ``extract``.
    """
    start = time.perf_counter()
    engine = NerEngine(model, processes)
    started = time.perf_counter() - start
    try:
        start = time.perf_counter()
        mentions = 0
        for i in range(0, len(texts), per_call):
            for found in engine.extract(texts[i:i + per_call]):
                mentions += len(found)
        return started, time.perf_counter() - start, mentions
    finally:
        engine.close()


# --------------------------------------------------------------------------- end to end

def check_lake(lake: Path) -> tuple[int, int]:
    from pipeline.io.lake.query import connect

    con = connect(lake)
    try:
        articles = con.execute("SELECT count(*) FROM articles").fetchone()[0]
        entity_rows = con.execute("SELECT count(*) FROM entities").fetchone()[0]
    finally:
        con.close()
    return articles, entity_rows


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                        help=f"nlp.pipe batch_size for spaCy alone (the job uses {DEFAULT_BATCH_SIZE})")
    parser.add_argument("--ner-processes", type=int, default=default_ner_processes(),
                        help="the job's --ner-processes and spaCy alone's n_process (default: the job's default)")
    parser.add_argument("--max-records-per-batch", type=int, default=1000)
    parser.add_argument("--spacy-model", default=DEFAULT_MODEL)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--engine", action="store_true",
                        help="also time the job's NerEngine pool alone (no Beam), in RunInference-sized calls")
    parser.add_argument("--retries", type=int, default=0,
                        help=f"re-measure a phase up to N more times while other processes use > {CONTENDED_CORES} "
                             f"cores, keeping the least contended attempt (default 0)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (lake, job log)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.ERROR)
    for handler in logging.getLogger().handlers:  # Beam's import-time notice about GCP clients
        handler.addFilter(lambda record: not str(record.msg).startswith("apitools not found"))

    values = build_stories(args.messages, args.seed)
    start = time.perf_counter()
    body_paragraphs, texts = ner_texts(values)
    decode_clean_s = time.perf_counter() - start
    words = sum(len(t.split()) for t in texts)
    chars = sum(len(t) for t in texts)

    resolved = resolve_model_name(args.spacy_model)
    start = time.perf_counter()
    nlp = load_ner(args.spacy_model, numpy_matmul=False)  # spaCy's own ops: what spacy.load gives
    load_s = time.perf_counter() - start
    list(nlp.pipe(texts[:50]))  # warm-up, not timed
    job_nlp = load_ner(args.spacy_model)
    list(job_nlp.pipe(texts[:50]))
    attempts = {}
    (par_s, par_mentions), cpu_par, attempts["spacy_parallel"] = least_contended(
        lambda _: spacy_pipe(nlp, texts, args.ner_processes, args.batch_size), args.retries)
    (one_s, one_mentions), cpu_one, attempts["spacy_single"] = least_contended(
        lambda _: spacy_pipe(nlp, texts, 1, args.batch_size), args.retries)
    (job_ops_s, job_ops_mentions), cpu_job_ops, attempts["spacy_numpy_matmul"] = least_contended(
        lambda _: spacy_pipe(job_nlp, texts, args.ner_processes, args.batch_size), args.retries)
    if job_ops_mentions != par_mentions:
        print(f"warning: mention counts differ: spaCy's ops {par_mentions}, numpy matmul {job_ops_mentions}",
              file=sys.stderr)
    engine = None
    if args.engine:
        engine, cpu_engine, attempts["engine"] = least_contended(
            lambda _: engine_alone(args.spacy_model, args.ner_processes, texts, RUNINFERENCE_MAX_BATCH), args.retries)
    if len({par_mentions, one_mentions, engine[2] if engine else par_mentions}) != 1:
        print(f"warning: mention counts differ: n_process={args.ner_processes} {par_mentions}, n_process=1 "
              f"{one_mentions}, engine {engine[2] if engine else '-'}", file=sys.stderr)

    from pipeline.ops.compose import ensure_topic, produce  # imports Beam; not needed (nor wanted) in pool workers

    work = Path(tempfile.mkdtemp(prefix="newswire-bench-ner-"))
    try:
        info = broker.start_broker(work / "broker", port=broker.free_port())
        try:
            topic = "bench-ner"
            ensure_topic(info.bootstrap, topic, PARTITIONS)
            start = time.perf_counter()
            produce(info.bootstrap, topic, [(None, v, i % PARTITIONS) for i, v in enumerate(values)])
            produce_s = time.perf_counter() - start
            # every attempt: a fresh lake (so it reads the topic from the start) and its own group
            e2e, cpu_e2e, attempts["e2e"] = least_contended(
                lambda n: run_newswire(info.bootstrap, topic, work / f"lake-{n}", f"bench-ner-{n}",
                                       args.max_records_per_batch, args.ner_processes, args.spacy_model,
                                       work / f"job-{n}.log"),
                args.retries, (info.pid,))
        finally:
            broker.stop_broker(work / "broker")
        articles, entity_rows = check_lake(Path(e2e["lake"]))
    finally:
        if args.keep:
            print(f"work directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if articles != args.messages or entity_rows <= 0:
        raise SystemExit(f"lake check failed: {articles} articles (expected {args.messages}), {entity_rows} entity rows")

    annotated = (sum(b["paragraphs_annotated"] for b in e2e["batches"])
                 if all("paragraphs_annotated" in b for b in e2e["batches"]) else None)
    if annotated is not None and annotated != len(texts):
        print(f"warning: the job ran NER on {annotated} paragraphs, spaCy alone on {len(texts)}", file=sys.stderr)
    wall_net = e2e["wall_s"] - e2e["idle_wait_s"]
    later = e2e["batches"][1:]
    later_s = sum(b["seconds"] for b in later)
    later_records = sum(b["records"] for b in later)
    rate = lambda seconds: len(texts) / seconds  # noqa: E731  paragraphs per second
    figures = {
        "date": datetime.now(timezone.utc).date().isoformat(), "cpus": os.cpu_count(),
        "model": resolved, "messages": args.messages, "body_paragraphs": body_paragraphs,
        "paragraphs": len(texts), "words": words, "chars": chars,
        "batch_size": args.batch_size, "ner_processes": args.ner_processes,
        "max_records_per_batch": args.max_records_per_batch,
        "decode_clean_s": round(decode_clean_s, 3), "model_load_s": round(load_s, 3),
        "spacy_parallel_s": round(par_s, 3), "spacy_single_s": round(one_s, 3), "mentions": par_mentions,
        "produce_s": round(produce_s, 3),
        "e2e_wall_s": round(e2e["wall_s"], 3), "e2e_idle_wait_s": round(e2e["idle_wait_s"], 3),
        "e2e_wall_minus_idle_s": round(wall_net, 3), "e2e_startup_s": round(e2e["startup_s"], 3),
        "e2e_between_batches_s": round(e2e["between_batches_s"], 3), "e2e_shutdown_s": round(e2e["shutdown_s"], 3),
        "e2e_batch_s": round(e2e["batch_s"], 3),
        "e2e_batches": e2e["batches"],
        "e2e_paragraphs_annotated": annotated,
        "lake_articles": articles, "lake_entity_rows": entity_rows,
        "ratio_wall_minus_idle": round(par_s / wall_net, 3),
        "ratio_batch_seconds": round(par_s / e2e["batch_s"], 3),
        "ratio_batch_seconds_after_first": (round(par_s * later_records / args.messages / later_s, 3)
                                            if later_s else None),
        "ratio_single_vs_parallel_spacy": round(par_s / one_s, 3),
        "spacy_parallel_numpy_matmul_s": round(job_ops_s, 3),
        "ratio_wall_minus_idle_vs_numpy_matmul": round(job_ops_s / wall_net, 3),
        "cpu_spacy_numpy_matmul": cpu_job_ops.figures(),
        "engine_pool_start_s": round(engine[0], 3) if engine else None,
        "engine_extract_s": round(engine[1], 3) if engine else None,
        "ratio_wall_minus_idle_vs_engine": round(engine[1] / wall_net, 3) if engine else None,
        "cpu_engine": cpu_engine.figures() if engine else None,
        "attempts": attempts,
        "cpu_spacy_parallel": cpu_par.figures(), "cpu_spacy_single": cpu_one.figures(), "cpu_e2e": cpu_e2e.figures(),
    }
    rows = [
        (f"spaCy alone, n_process={args.ner_processes}", par_s, cpu_par),
        ("spaCy alone, n_process=1", one_s, cpu_one),
        (f"spaCy alone, numpy matmul, n_process={args.ner_processes}", job_ops_s, cpu_job_ops),
        *([(f"NerEngine pool alone, {args.ner_processes} processes", engine[1], cpu_engine)] if engine else []),
        ("newswire wall (start to exit)", e2e["wall_s"], cpu_e2e),
        ("newswire wall minus idle wait", wall_net, None),
        ("newswire sum of batch seconds", e2e["batch_s"], None),
    ]
    print(f"{args.messages} stories, {len(texts)} distinct paragraphs for NER (job: "
          f"{annotated if annotated is not None else '?'}), {words} words; model {resolved}, "
          f"batch_size {args.batch_size}, {args.ner_processes} NER processes, "
          f"{len(e2e['batches'])} batches of <= {args.max_records_per_batch}")
    print(f"{'case':<40} {'seconds':>8} {'paragraphs/s':>13} {'words/s':>9} {'vs spaCy':>9}"
          f" {'own cores':>10} {'other cores':>12}")
    for name, seconds, cpu in rows:
        load = f" {cpu.own_cores:10.2f} {cpu.other_cores:12.2f}" if cpu else ""
        print(f"{name:<40} {seconds:8.2f} {rate(seconds):13.0f} {words / seconds:9.0f} {par_s / seconds:9.2f}{load}")
    print(f"  wall = startup {e2e['startup_s']:.2f} + batches {e2e['batch_s']:.2f} + between batches "
          f"{e2e['between_batches_s']:.2f} + idle wait {e2e['idle_wait_s']:.2f} + shutdown {e2e['shutdown_s']:.2f}; "
          f"batch seconds " + ", ".join(f"{b['seconds']:.2f}" for b in e2e["batches"]))
    print(f"  lake: {articles} articles, {entity_rows} entity rows; goal e2e >= 0.85 x spaCy alone: "
          f"{'met' if figures['ratio_wall_minus_idle'] >= 0.85 else 'NOT met'} (wall minus idle), "
          f"{'met' if figures['ratio_batch_seconds'] >= 0.85 else 'NOT met'} (batch seconds)")
    if any(n > 1 for n in attempts.values()):
        print("  attempts per phase (least contended kept): " + ", ".join(f"{k} {v}" for k, v in attempts.items()))
    busiest = max(c.other_cores for _, _, c in rows if c)
    if busiest > CONTENDED_CORES:
        print(f"  warning: other processes used up to {busiest:.2f} cores during a measurement; figures are "
              f"not clean (see 'other cores')", file=sys.stderr)
    print(json.dumps(figures, separators=(",", ":")))


if __name__ == "__main__":
    main()
