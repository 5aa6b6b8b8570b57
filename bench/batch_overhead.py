"""Per-batch overhead of the micro-batch driver, measured in one run on this machine.

Figures (medians over repetitions):
  idle trigger   : planning when nothing is new (end-offset lookup, no pipeline)
  empty batch    : one bounded Beam pipeline over zero records (the fixed cost of a batch)
  1 message      : a full batch (plan, WAL, pipeline, publish, commit, group offsets) of one message
  1,000 messages : the same with 1,000 small messages
Usage (from the repository root): python -m bench.batch_overhead [--repeat N]
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from pipeline.ops import broker
from pipeline.beam.runner import make_batch_runner
from pipeline.job.driver import JobConfig, MicroBatchDriver
from pipeline.core.contract import BatchSpec
from pipeline.ops.compose import ensure_topic, produce
from pipeline.io.kafka.offsets import KafkaOffsetSource


def small_story(i: int) -> bytes:
    return json.dumps({
        "uri": f"urn:bench:{i}", "version": 1, "headline": f"Bench story {i}",
        "body_text": "A short paragraph of wire copy. " * 6, "firstcreated": "2026-11-24T10:00:00Z",
    }).encode()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="newswire-bench-"))
    info = broker.start_broker(work / "broker", port=broker.free_port())
    try:
        topic = "bench"
        ensure_topic(info.bootstrap, topic, 3)
        config = JobConfig(bootstrap_servers=info.bootstrap, topics=[topic], lake=work / "lake", trigger_interval=0)
        source = KafkaOffsetSource(info.bootstrap, "bench")
        runner = make_batch_runner([])
        driver = MicroBatchDriver(config, source, runner)
        results: dict[str, list[float]] = {"idle_trigger": [], "empty_batch": [], "one_message": [], "thousand_messages": []}
        counter = 0
        # warm-up: first pipeline pays imports and Kafka connections
        produce(info.bootstrap, topic, [(None, small_story(-1), 0)])
        driver.run_once()
        for _ in range(args.repeat):
            results["idle_trigger"].append(timed(lambda: driver.next_plan()))
            empty = BatchSpec(10**9, -1, (), datetime.now(timezone.utc), info.bootstrap, str(config.lake),
                              str(work / "empty-staging"), 1 << 20)
            results["empty_batch"].append(timed(lambda: runner(empty)))
            counter += 1
            produce(info.bootstrap, topic, [(None, small_story(counter * 10_000), 0)])
            results["one_message"].append(timed(lambda: driver.run_once()))
            produce(info.bootstrap, topic, [(None, small_story(counter * 10_000 + j), j % 3) for j in range(1, 1001)])
            results["thousand_messages"].append(timed(lambda: driver.run_once()))
        source.close()
        medians = {k: round(statistics.median(v), 3) for k, v in results.items()}
        per_msg = (medians["thousand_messages"] - medians["one_message"]) / 999
        print(json.dumps({"seconds_median": medians, "repeat": args.repeat,
                          "marginal_ms_per_message": round(per_msg * 1000, 3),
                          "ratio_1000_vs_empty": round(medians["thousand_messages"] / medians["empty_batch"], 2)}, indent=1))
    finally:
        broker.stop_broker(work / "broker")


if __name__ == "__main__":
    main()
