"""NER throughput: spaCy alone vs. the whole newswire job, on the same texts, in one run on this machine.

1. spaCy alone: the job's NER-only pipeline (``pipeline.ner.load_ner``) over exactly the cleaned
   body paragraphs the job runs NER on, ``nlp.pipe(texts, n_process=P, batch_size=B)`` with the
   same post-processing as ``pipeline.ner.extract`` (Mentions of KEPT_LABELS). The time includes
   starting the n_process workers (that is what ``nlp.pipe`` costs); model loading in this process
   is timed separately. ``n_process=1`` is reported for reference.
2. newswire end to end: a local broker on a free port, a 2-partition topic, N distinct ninjs
   stories (ninjs 1.x/2.x, text/HTML, several hundred words each, recombined from the sentences of
   ``tests/fixtures/seed_article.txt`` with invented names), then
   ``python -m pipeline.cli run ... --until-idle 2 --trigger-interval 0.5`` as a subprocess, timed
   from start to exit. The job's ``batch_committed ... seconds=X`` log lines give the time spent
   in batches; the idle wait is measured from the log (last batch_committed -> idle_stop).
3. Ratios e2e/spaCy-alone throughput (same texts, so = t_spacy / t_e2e), for wall time minus the
   idle wait and for the summed batch seconds. The goal is >= 0.85.

Usage: python bench/ner_throughput.py [--messages N] [--batch-size B] [--ner-processes P]
                                      [--max-records-per-batch M] [--seed S] [--keep]
Prints a table, then one JSON line with every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from pipeline import broker  # noqa: E402
from pipeline.clean import clean_article  # noqa: E402
from pipeline.cli import default_ner_processes  # noqa: E402
from pipeline.decode import decode_message  # noqa: E402
from pipeline.entities import KEPT_LABELS, Mention  # noqa: E402
from pipeline.jobs import ensure_topic, produce  # noqa: E402
from pipeline.ner import DEFAULT_BATCH_SIZE, DEFAULT_MODEL, load_ner, resolve_model_name  # noqa: E402

SEED_ARTICLE = REPO / "tests" / "fixtures" / "seed_article.txt"
PARTITIONS = 2
UNTIL_IDLE = 2.0
TRIGGER_INTERVAL = 0.5

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
         "a former official at", "the chief economist of")
VERBS = ("told reporters in", "said in a statement from", "told a news conference in", "wrote on social media from",
         "said during a visit to")
TEMPLATES = (
    "{p}, {role} {org}, {verb} {place} on {day} that the talks would resume within {n} days.",
    "\u201cWe are not there yet,\u201d {p} {verb} {place}, adding that {org} had been briefed.",
    "According to {p2}, {role} {org}, at least {n} people were evacuated from {place} overnight.",
    "{p} met {p2} in {place} on {day} to discuss a package worth ${n} billion.",
    "The proposal was drafted by {p} and backed by {org}, officials in {place} said.",
    "{org} said {n} shipments had reached {place} since {day}, a figure {p} called \u201cfar too low.\u201d",
)
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


def _recast(sentence: str, people: dict[str, str]) -> str:
    for seed, new in people.items():
        sentence = sentence.replace(seed, new).replace(seed.split()[-1], new.split()[-1])
    return sentence


def _html(paragraphs: list[str]) -> str:
    def esc(s: str) -> str:
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    return "".join(f"<p>{esc(p)}</p>" for p in paragraphs)


def build_stories(n: int, seed: int = 7) -> list[bytes]:
    """N distinct ninjs stories (version 1, no redeliveries), ~250-450 words, 5-12 paragraphs."""
    rng = random.Random(seed)
    sentences, captions = seed_sentences()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    seen: set[str] = set()
    out: list[bytes] = []
    i = 0
    while len(out) < n:
        people = {p: _person(rng) for p in SEED_PEOPLE}
        ctx = lambda: dict(p=_person(rng), p2=_person(rng), org=rng.choice(ORGS), place=rng.choice(PLACES),  # noqa: E731
                           role=rng.choice(ROLES), verb=rng.choice(VERBS), day=rng.choice(DAYS),
                           n=rng.randint(2, 900))
        pool = [_recast(s, people) for s in rng.sample(sentences, k=rng.randint(9, 14))]
        pool += [t.format(**ctx()) for t in rng.sample(TEMPLATES, k=rng.randint(2, 5))]
        rng.shuffle(pool)
        paragraphs: list[str] = []
        while pool:
            take = min(len(pool), rng.choice((1, 2, 2, 3)))
            paragraphs.append(" ".join(pool[:take]))
            del pool[:take]
        place = rng.choice(PLACES)
        holder, source = rng.choice(PROVIDERS)
        paragraphs[0] = f"{place.upper()} ({source}) \u2014 " + paragraphs[0]
        if rng.random() < 0.3:
            paragraphs.insert(rng.randint(0, 1), _recast(rng.choice(captions), people))
        body = "\n\n".join(paragraphs)
        if body in seen:
            continue
        seen.add(body)
        created = now - timedelta(minutes=rng.randint(5, 600))
        layout = rng.choice(("1x-text", "1x-html", "2x-text", "2x-html"))
        headline = f"{people['Volodymyr Zelensky']} presses {people['Joe Biden']} on long-range missiles in {place}"
        doc: dict = {"uri": f"urn:bench:ner:{i}", "type": "text", "version": "1",
                     "firstcreated": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "versioncreated": created.strftime("%Y-%m-%dT%H:%M:%SZ"), "pubstatus": "usable",
                     "language": "en", "copyrightholder": holder}
        if layout.startswith("1x"):
            doc["headline"] = headline
            doc["byline"] = f"By {_person(rng)}"
            doc["body_text" if layout == "1x-text" else "body_html"] = body if layout == "1x-text" else _html(paragraphs)
        else:
            doc["headlines"] = [{"value": headline, "role": "main"}]
            doc["by"] = _person(rng)
            doc["infosources"] = [{"name": source}]
            value = body if layout == "2x-text" else _html(paragraphs)
            doc["bodies"] = [{"value": value, "contenttype": "text/plain" if layout == "2x-text" else "text/html"}]
        out.append(json.dumps(doc, ensure_ascii=False).encode("utf-8"))
        i += 1
    return out


def ner_texts(values: list[bytes]) -> list[str]:
    """Exactly the paragraphs the job runs NER on: the cleaned body paragraphs of each story."""
    return [p for value in values for p in clean_article(decode_message(value)).paragraphs]


# --------------------------------------------------------------------------- CPU accounting


def _machine_busy_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _own_cpu_s(pids: tuple[int, ...] = ()) -> float:
    """CPU seconds of this process, its waited-for descendants and the given running processes (the broker)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return total


class CpuMeter:
    """Cores busy on the whole machine vs. cores used by this benchmark over a phase.

    ``others`` (machine minus ours) shows contention: anything else running makes every figure slower.
    """

    def __init__(self, pids: tuple[int, ...] = ()) -> None:
        self.pids = pids

    def __enter__(self) -> "CpuMeter":
        self._busy, self._total = _machine_busy_ticks()
        self._own = _own_cpu_s(self.pids)
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        busy, total = _machine_busy_ticks()
        wall = max(time.perf_counter() - self._wall, 1e-9)
        cpus = os.cpu_count() or 1
        self.machine_cores = (busy - self._busy) / max(total - self._total, 1) * cpus
        self.own_cores = (_own_cpu_s(self.pids) - self._own) / wall
        self.other_cores = max(0.0, self.machine_cores - self.own_cores)

    def figures(self) -> dict:
        return {"machine_cores": round(self.machine_cores, 2), "own_cores": round(self.own_cores, 2),
                "other_cores": round(self.other_cores, 2)}


# --------------------------------------------------------------------------- spaCy alone


def spacy_alone(nlp, texts: list[str], n_process: int, batch_size: int) -> tuple[float, int]:
    """Seconds for nlp.pipe over ``texts`` (incl. worker start) with extract()'s post-processing; mentions."""
    start = time.perf_counter()
    mentions = 0
    for doc in nlp.pipe(texts, n_process=n_process, batch_size=batch_size):
        mentions += len([Mention(e.text, e.label_, e.start_char, e.end_char) for e in doc.ents
                         if e.label_ in KEPT_LABELS])
    return time.perf_counter() - start, mentions


# --------------------------------------------------------------------------- end to end

_LOG_TIME = r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}) \S+ \S+ "
_BATCH = re.compile(_LOG_TIME + r"batch_committed batch=(\d+) .*?records=(\d+) rows=(\d+) entities=(\d+) .*?"
                    r"seconds=([\d.]+)", re.M)
_IDLE = re.compile(_LOG_TIME + r"idle_stop ", re.M)


def _log_time(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()  # local time, as logging writes it


def run_job(bootstrap: str, topic: str, lake: Path, args, log_path: Path) -> dict:
    cmd = [sys.executable, "-m", "pipeline.cli", "run", "--bootstrap-servers", bootstrap, "--topic", topic,
           "--lake", str(lake), "--group-id", "bench-ner", "--until-idle", str(UNTIL_IDLE),
           "--trigger-interval", str(TRIGGER_INTERVAL), "--max-records-per-batch", str(args.max_records_per_batch),
           "--ner-processes", str(args.ner_processes), "--spacy-model", args.spacy_model, "--no-progress"]
    with open(log_path, "w", encoding="utf-8") as err:
        started_at = time.time()
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err, timeout=1800)
        wall = time.perf_counter() - start
    log = log_path.read_text(encoding="utf-8")
    if proc.returncode != 0:
        raise RuntimeError(f"job exited {proc.returncode}; log {log_path}:\n{log[-3000:]}")
    batches = [dict(at=_log_time(m[1]), batch=int(m[2]), records=int(m[3]), rows=int(m[4]), entities=int(m[5]),
                    seconds=float(m[6])) for m in _BATCH.finditer(log)]
    if not batches:
        raise RuntimeError(f"no batch_committed lines in {log_path}")
    idle = _IDLE.search(log)
    idle_at = _log_time(idle[1]) if idle else batches[-1]["at"] + UNTIL_IDLE
    first_start = batches[0]["at"] - batches[0]["seconds"]
    batch_seconds = sum(b["seconds"] for b in batches)
    return {
        "wall_s": wall,
        "startup_s": first_start - started_at,  # interpreter, imports, driver; before the first batch starts
        "batch_s": batch_seconds,
        "between_batches_s": batches[-1]["at"] - first_start - batch_seconds,  # planning, trigger waits
        "idle_wait_s": idle_at - batches[-1]["at"],
        "shutdown_s": started_at + wall - idle_at,  # pool shutdown and interpreter exit
        "batches": batches,
    }


def check_lake(lake: Path) -> tuple[int, int]:
    from pipeline.sql import connect

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
    parser.add_argument("--keep", action="store_true", help="keep the work directory (lake, job log)")
    args = parser.parse_args()

    values = build_stories(args.messages, args.seed)
    start = time.perf_counter()
    texts = ner_texts(values)
    decode_clean_s = time.perf_counter() - start
    words = sum(len(t.split()) for t in texts)
    chars = sum(len(t) for t in texts)

    resolved = resolve_model_name(args.spacy_model)
    start = time.perf_counter()
    nlp = load_ner(args.spacy_model)
    load_s = time.perf_counter() - start
    list(nlp.pipe(texts[:50]))  # warm-up, not timed
    with CpuMeter() as cpu_par:
        par_s, par_mentions = spacy_alone(nlp, texts, args.ner_processes, args.batch_size)
    with CpuMeter() as cpu_one:
        one_s, one_mentions = spacy_alone(nlp, texts, 1, args.batch_size)
    if par_mentions != one_mentions:
        print(f"warning: mentions differ n_process={args.ner_processes}: {par_mentions} vs 1: {one_mentions}",
              file=sys.stderr)

    work = Path(tempfile.mkdtemp(prefix="newswire-bench-ner-"))
    try:
        info = broker.start_broker(work / "broker", port=broker.free_port())
        try:
            topic = "bench-ner"
            ensure_topic(info.bootstrap, topic, PARTITIONS)
            start = time.perf_counter()
            produce(info.bootstrap, topic, [(None, v, i % PARTITIONS) for i, v in enumerate(values)])
            produce_s = time.perf_counter() - start
            with CpuMeter((info.pid,)) as cpu_e2e:
                e2e = run_job(info.bootstrap, topic, work / "lake", args, work / "job.log")
        finally:
            broker.stop_broker(work / "broker")
        articles, entity_rows = check_lake(work / "lake")
    finally:
        if args.keep:
            print(f"work directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if articles != args.messages or entity_rows <= 0:
        raise SystemExit(f"lake check failed: {articles} articles (expected {args.messages}), {entity_rows} entity rows")

    wall_net = e2e["wall_s"] - e2e["idle_wait_s"]
    later = e2e["batches"][1:]
    later_s = sum(b["seconds"] for b in later)
    later_records = sum(b["records"] for b in later)
    rate = lambda seconds: len(texts) / seconds  # noqa: E731  paragraphs per second
    figures = {
        "date": datetime.now(timezone.utc).date().isoformat(), "cpus": os.cpu_count(),
        "model": resolved, "messages": args.messages, "paragraphs": len(texts), "words": words, "chars": chars,
        "batch_size": args.batch_size, "ner_processes": args.ner_processes,
        "max_records_per_batch": args.max_records_per_batch,
        "decode_clean_s": round(decode_clean_s, 3), "model_load_s": round(load_s, 3),
        "spacy_parallel_s": round(par_s, 3), "spacy_single_s": round(one_s, 3), "mentions": par_mentions,
        "produce_s": round(produce_s, 3),
        "e2e_wall_s": round(e2e["wall_s"], 3), "e2e_idle_wait_s": round(e2e["idle_wait_s"], 3),
        "e2e_wall_minus_idle_s": round(wall_net, 3), "e2e_startup_s": round(e2e["startup_s"], 3),
        "e2e_between_batches_s": round(e2e["between_batches_s"], 3), "e2e_shutdown_s": round(e2e["shutdown_s"], 3),
        "e2e_batch_s": round(e2e["batch_s"], 3),
        "e2e_batches": [{k: b[k] for k in ("batch", "records", "rows", "entities", "seconds")} for b in e2e["batches"]],
        "lake_articles": articles, "lake_entity_rows": entity_rows,
        "ratio_wall_minus_idle": round(par_s / wall_net, 3),
        "ratio_batch_seconds": round(par_s / e2e["batch_s"], 3),
        "ratio_batch_seconds_after_first": (round(par_s * later_records / args.messages / later_s, 3)
                                            if later_s else None),
        "ratio_single_vs_parallel_spacy": round(par_s / one_s, 3),
        "cpu_spacy_parallel": cpu_par.figures(), "cpu_spacy_single": cpu_one.figures(), "cpu_e2e": cpu_e2e.figures(),
    }
    rows = [
        (f"spaCy alone, n_process={args.ner_processes}", par_s, cpu_par),
        ("spaCy alone, n_process=1", one_s, cpu_one),
        ("newswire wall (start to exit)", e2e["wall_s"], cpu_e2e),
        ("newswire wall minus idle wait", wall_net, None),
        ("newswire sum of batch seconds", e2e["batch_s"], None),
    ]
    print(f"{args.messages} stories, {len(texts)} paragraphs, {words} words; model {resolved}, "
          f"batch_size {args.batch_size}, {args.ner_processes} NER processes, "
          f"{len(e2e['batches'])} batches of <= {args.max_records_per_batch}")
    print(f"{'case':<36} {'seconds':>8} {'paragraphs/s':>13} {'words/s':>9} {'vs spaCy':>9}"
          f" {'own cores':>10} {'other cores':>12}")
    for name, seconds, cpu in rows:
        load = f" {cpu.own_cores:10.2f} {cpu.other_cores:12.2f}" if cpu else ""
        print(f"{name:<36} {seconds:8.2f} {rate(seconds):13.0f} {words / seconds:9.0f} {par_s / seconds:9.2f}{load}")
    print(f"  wall = startup {e2e['startup_s']:.2f} + batches {e2e['batch_s']:.2f} + between batches "
          f"{e2e['between_batches_s']:.2f} + idle wait {e2e['idle_wait_s']:.2f} + shutdown {e2e['shutdown_s']:.2f}; "
          f"batch seconds " + ", ".join(f"{b['seconds']:.2f}" for b in e2e["batches"]))
    print(f"  lake: {articles} articles, {entity_rows} entity rows; goal e2e >= 0.85 x spaCy alone: "
          f"{'met' if figures['ratio_wall_minus_idle'] >= 0.85 else 'NOT met'} (wall minus idle), "
          f"{'met' if figures['ratio_batch_seconds'] >= 0.85 else 'NOT met'} (batch seconds)")
    busiest = max(c.other_cores for _, _, c in rows if c)
    if busiest > 0.2:
        print(f"  warning: other processes used up to {busiest:.2f} cores during a measurement; figures are "
              f"not clean (see 'other cores')", file=sys.stderr)
    print(json.dumps(figures, separators=(",", ":")))


if __name__ == "__main__":
    main()
