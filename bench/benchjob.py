"""What the end-to-end benchmarks share: CPU accounting, spaCy alone, and `newswire run` with its batch log parsed."""
from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from pipeline.news.entities import KEPT_LABELS, Mention

REPO = Path(__file__).resolve().parents[1]
UNTIL_IDLE = 2.0
TRIGGER_INTERVAL = 0.5

# --------------------------------------------------------------------------- CPU accounting


def machine_busy_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def proc_cpu_s(pid: int) -> float:
    """CPU seconds a running process has used so far (0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def own_cpu_s(pids: tuple[int, ...] = ()) -> float:
    """CPU seconds of this process, its waited-for descendants and the given running processes (the broker)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total + sum(proc_cpu_s(pid) for pid in pids)


class CpuMeter:
    """Cores busy on the whole machine vs. cores used by this benchmark over a phase.

    ``other_cores`` (machine minus ours) shows contention: anything else running makes every figure slower.
    """

    def __init__(self, pids: tuple[int, ...] = ()) -> None:
        self.pids = pids

    def __enter__(self) -> "CpuMeter":
        self._busy, self._total = machine_busy_ticks()
        self._own = own_cpu_s(self.pids)
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        busy, total = machine_busy_ticks()
        wall = max(time.perf_counter() - self._wall, 1e-9)
        cpus = os.cpu_count() or 1
        self.machine_cores = (busy - self._busy) / max(total - self._total, 1) * cpus
        self.own_cores = (own_cpu_s(self.pids) - self._own) / wall
        self.other_cores = max(0.0, self.machine_cores - self.own_cores)
        self.own_cpu_s = self.own_cores * wall

    def figures(self) -> dict:
        return {"machine_cores": round(self.machine_cores, 2), "own_cores": round(self.own_cores, 2),
                "other_cores": round(self.other_cores, 2), "own_cpu_s": round(self.own_cpu_s, 1)}


# --------------------------------------------------------------------------- spaCy alone


def spacy_pipe(nlp, texts: list[str], n_process: int, batch_size: int) -> tuple[float, int]:
    """Seconds for nlp.pipe over ``texts`` (incl. worker start) with extract()'s post-processing; mentions."""
    start = time.perf_counter()
    mentions = 0
    for doc in nlp.pipe(texts, n_process=n_process, batch_size=batch_size):
        mentions += len([Mention(e.text, e.label_, e.start_char, e.end_char) for e in doc.ents
                         if e.label_ in KEPT_LABELS])
    return time.perf_counter() - start, mentions


# --------------------------------------------------------------------------- the job end to end

_LOG_TIME = r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}) \S+ \S+ "
_BATCH = re.compile(_LOG_TIME + r"batch_committed (.*)$", re.M)
_IDLE = re.compile(_LOG_TIME + r"idle_stop ", re.M)
_STAT = re.compile(r"(\w+)=(\d+)(?= |$)")


def _log_time(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()  # local time, as logging writes it


def run_newswire(bootstrap: str, topic: str, lake: Path, group: str, max_records: int, ner_processes: int,
                 spacy_model: str, log_path: Path) -> dict:
    """``newswire run ... --until-idle`` as a subprocess: wall time split into its phases, per-batch stats.

    Every integer stat of the ``batch_committed`` lines is kept per batch and summed over the run.
    """
    cmd = [sys.executable, "-m", "pipeline.cli", "run", "--bootstrap-servers", bootstrap, "--topic", topic,
           "--lake", str(lake), "--group-id", group, "--until-idle", str(UNTIL_IDLE),
           "--trigger-interval", str(TRIGGER_INTERVAL), "--max-records-per-batch", str(max_records),
           "--ner-processes", str(ner_processes), "--spacy-model", spacy_model, "--no-progress"]
    with open(log_path, "w", encoding="utf-8") as err:
        started_at = time.time()
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err, timeout=1800)
        wall = time.perf_counter() - start
    log = log_path.read_text(encoding="utf-8")
    if proc.returncode != 0:
        raise RuntimeError(f"job exited {proc.returncode}; log {log_path}:\n{log[-3000:]}")
    batches, ends = [], []
    for m in _BATCH.finditer(log):
        seconds = float(re.search(r" seconds=([\d.]+)", m[2])[1])
        batches.append({**{k: int(v) for k, v in _STAT.findall(m[2])}, "seconds": seconds})
        ends.append(_log_time(m[1]))
    if not batches:
        raise RuntimeError(f"no batch_committed lines in {log_path}")
    idle = _IDLE.search(log)
    idle_at = _log_time(idle[1]) if idle else ends[-1] + UNTIL_IDLE
    first_start = ends[0] - batches[0]["seconds"]
    batch_s = sum(b["seconds"] for b in batches)
    totals = {name: sum(b.get(name, 0) for b in batches) for name in batches[0] if name not in ("batch", "seconds")}
    return {
        "max_records_per_batch": max_records,
        "wall_s": wall,
        "idle_wait_s": idle_at - ends[-1],
        "wall_minus_idle_s": wall - (idle_at - ends[-1]),
        "batch_s": batch_s,
        "startup_s": first_start - started_at,  # interpreter, imports, NER pool start: before the first batch
        "between_batches_s": ends[-1] - first_start - batch_s,  # planning, trigger waits
        "shutdown_s": started_at + wall - idle_at,  # pool shutdown and interpreter exit
        "batches": batches,
        **totals,
        "lake": str(lake),
    }
