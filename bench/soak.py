"""Soak: a steady feed into a running job; produce-to-queryable latency every minute, resident memory every 10 s.

A real broker (the project's own ``newswire broker``), a real ``newswire run`` with its NER workers,
and a producer sending distinct stories (``bench/ner_throughput.py``'s generator: 6-10 paragraphs,
~300-450 words) at a fixed rate. A story counts as queryable when the commit-log entry of the batch
holding its offset exists: by then its files are published and durable, so a DuckDB reader sees it.
Resident memory is the job's process plus every descendant (the NER workers), from /proc.

At the end the lake is checked with DuckDB: every produced story is there, once.

Usage (from the repository root): python -m bench.soak [--minutes 30] [--rate 8] [--trigger-interval 2]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from bench.ner_throughput import build_stories
from pipeline.core.contract import DEFAULT_MODEL
from pipeline.io.lake.commitlog import CommitLog
from pipeline.io.lake.layout import LakeLayout
from pipeline.ops import broker

REPO = Path(__file__).resolve().parents[1]
PARTITIONS = 2
TOPIC = "bench-soak"


def tree_rss_mb(pid: int) -> float:
    """Resident MB of a process and all its descendants."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    total_kb, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            pass
        todo.extend(children.get(current, []))
    return total_kb / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def slope_mb_per_10min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of RSS over time, in MB per 10 minutes."""
    if len(samples) < 2:
        return 0.0
    ts, ys = [t for t, _ in samples], [y for _, y in samples]
    mt, my = statistics.fmean(ts), statistics.fmean(ys)
    var = sum((t - mt) ** 2 for t in ts)
    return 600 * sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / var if var else 0.0


class Soak:
    def __init__(self, bootstrap: str, lake: Path, args: argparse.Namespace) -> None:
        self.bootstrap, self.lake, self.args = bootstrap, lake, args
        self.sent: dict[tuple[int, int], float] = {}  # (partition, offset) -> send time
        self.latency: dict[tuple[int, int], float] = {}
        self.pending: dict[tuple[int, int], float] = {}  # sent, not yet queryable
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.rss: list[tuple[float, float]] = []
        self.produced = 0

    def produce(self, values: list[bytes]) -> None:
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=0, acks="all")
        start = time.monotonic()
        for i, value in enumerate(values):
            due = start + i / self.args.rate
            if self.stop.is_set() or due > self.t0 + self.args.minutes * 60:
                break
            time.sleep(max(0.0, due - time.monotonic()))
            sent_at = time.monotonic()

            def record(meta, sent_at=sent_at) -> None:
                with self.lock:
                    self.sent[(meta.partition, meta.offset)] = sent_at
                    self.pending[(meta.partition, meta.offset)] = sent_at

            producer.send(TOPIC, value, partition=i % PARTITIONS).add_callback(record)
            self.produced += 1
        producer.flush()
        producer.close()

    def watch(self) -> None:
        log = CommitLog(LakeLayout(self.lake))
        seen: set[int] = set()
        while not self.stop.is_set():
            try:
                new = [b for b in log.batch_ids() if b not in seen]
            except OSError:
                new = []
            now = time.monotonic()
            for batch_id in new:
                ends = {p: o for (_, p), o in log.commit(batch_id).end_offsets.items()}
                seen.add(batch_id)
                with self.lock:
                    for key in [k for k in self.pending if k[1] < ends.get(k[0], -1)]:
                        self.latency[key] = now - self.pending.pop(key)
            time.sleep(0.1)

    def sample_rss(self, pid: int) -> None:
        while not self.stop.is_set():
            self.rss.append((time.monotonic() - self.t0, tree_rss_mb(pid)))
            self.stop.wait(10)

    def run(self) -> dict:
        args = self.args
        values = build_stories(int(args.minutes * 60 * args.rate) + 10, seed=args.seed)
        cmd = [sys.executable, "-m", "pipeline.cli", "run", "--bootstrap-servers", self.bootstrap, "--topic", TOPIC,
               "--lake", str(self.lake), "--group-id", "bench-soak", "--trigger-interval", str(args.trigger_interval),
               "--ner-processes", str(args.ner_processes), "--spacy-model", args.spacy_model, "--no-progress"]
        log_path = self.lake.parent / "job.log"
        with open(log_path, "w", encoding="utf-8") as log_file:
            job = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=log_file)
        try:
            self.t0 = time.monotonic()
            threads = [threading.Thread(target=self.watch, daemon=True),
                       threading.Thread(target=self.sample_rss, args=(job.pid,), daemon=True)]
            for t in threads:
                t.start()
            producer = threading.Thread(target=self.produce, args=(values,), daemon=True)
            producer.start()
            minutes = []
            for minute in range(1, int(args.minutes) + 1):
                self.stop.wait(max(0.0, self.t0 + minute * 60 - time.monotonic()))
                minutes.append(self.report_minute(minute))
            producer.join()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and len(self.latency) < self.produced:
                time.sleep(0.5)
        finally:
            self.stop.set()
            job.send_signal(signal.SIGTERM)
            try:
                job.wait(timeout=120)
            except subprocess.TimeoutExpired:
                job.kill()
        return self.summary(minutes)

    def report_minute(self, minute: int) -> dict:
        lo, hi = self.t0 + (minute - 1) * 60, self.t0 + minute * 60
        with self.lock:
            window = [self.latency[k] for k, t in self.sent.items() if lo <= t < hi and k in self.latency]
            produced = sum(1 for t in self.sent.values() if lo <= t < hi)
        rss = self.rss[-1][1] if self.rss else 0.0
        row = {"minute": minute, "produced": produced, "queryable": len(window), "rss_mb": round(rss, 1)}
        if window:
            row.update(p50_s=round(percentile(window, 0.5), 2), p95_s=round(percentile(window, 0.95), 2),
                       max_s=round(max(window), 2))
        print(json.dumps(row), flush=True)
        return row

    def summary(self, minutes: list[dict]) -> dict:
        from pipeline.io.lake.query import connect

        latencies = list(self.latency.values())
        con = connect(self.lake)
        rows, distinct = con.execute("SELECT count(*), count(DISTINCT story_id) FROM articles").fetchone()
        after_first = [(t, y) for t, y in self.rss if t >= 60]
        return {
            "date": datetime.now(timezone.utc).date().isoformat(), "cpus": os.cpu_count(),
            "minutes": self.args.minutes, "rate": self.args.rate, "trigger_interval_s": self.args.trigger_interval,
            "ner_processes": self.args.ner_processes, "produced": self.produced, "queryable": len(latencies),
            "lake_rows": rows, "lake_distinct_stories": distinct,
            "latency_s": {"p50": round(percentile(latencies, 0.5), 2), "p95": round(percentile(latencies, 0.95), 2),
                          "max": round(max(latencies), 2)} if latencies else None,
            "rss_mb": {"first_minute_end": after_first[0][1] if after_first else None,
                       "end": self.rss[-1][1] if self.rss else None,
                       "peak": max((y for _, y in self.rss), default=None),
                       "trend_mb_per_10min_after_first_minute": round(slope_mb_per_10min(after_first), 1)},
            "rss_samples": [(round(t), round(y, 1)) for t, y in self.rss],
            "per_minute": minutes,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=8, help="stories per second")
    parser.add_argument("--trigger-interval", type=float, default=2)
    parser.add_argument("--ner-processes", type=int, default=2)
    parser.add_argument("--spacy-model", default=DEFAULT_MODEL)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    from pipeline.ops.compose import ensure_topic

    work = Path(tempfile.mkdtemp(prefix="newswire-bench-soak-"))
    info = broker.start_broker(work / "broker", port=broker.free_port())
    try:
        ensure_topic(info.bootstrap, TOPIC, PARTITIONS)
        result = Soak(info.bootstrap, work / "lake", args).run()
    finally:
        broker.stop_broker(work / "broker")
    ok = result["produced"] == result["queryable"] == result["lake_rows"] == result["lake_distinct_stories"]
    print(f"produced {result['produced']}, queryable {result['queryable']}, lake rows {result['lake_rows']} "
          f"({result['lake_distinct_stories']} distinct): {'all there, once' if ok else 'MISMATCH'}")
    print(f"latency {result['latency_s']}; RSS {result['rss_mb']}")
    print(json.dumps(result))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
