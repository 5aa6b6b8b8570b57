"""Command line: parses arguments and hands over to the modules that do the work."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Optional, Sequence

from pipeline.decode import DEFAULT_MAX_MESSAGE_BYTES


def _positive_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _lake_location(text: str):
    """A local folder, or an s3:// / gs:// URI (validated here so a typo fails before the job starts)."""
    from pipeline.lakefs import lake_location

    try:
        return lake_location(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


# Beam notices that say nothing about the job: optional GCP client libraries are absent (irrelevant off
# Dataflow), and RunInference's memory probe is off because an optional import failed (it still runs).
_IRRELEVANT_BEAM_NOTICES = ("apitools not found", "Resource module is not available")


def _drop_irrelevant_beam_notices(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(_IRRELEVANT_BEAM_NOTICES)


def default_ner_processes() -> int:
    """One NER process per core (DirectRunner runs the graph in one process), capped for memory."""
    return max(1, min(os.cpu_count() or 1, 4))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newswire", description="Wire-service news from Kafka to an exactly-once Parquet lake."
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    sub = parser.add_subparsers(dest="command", required=True)

    broker = sub.add_parser("broker", help="a local Apache Kafka (KRaft) for development, tests and the demo")
    bsub = broker.add_subparsers(dest="broker_command", required=True)
    start = bsub.add_parser("start", help="start (idempotent) and print the bootstrap address")
    start.add_argument("--dir", type=Path, required=True)
    start.add_argument("--port", type=int, default=9092)
    start.add_argument("--timeout", type=float, default=90.0)
    for name in ("stop", "status"):
        b = bsub.add_parser(name)
        b.add_argument("--dir", type=Path, required=True)

    run = sub.add_parser(
        "run",
        help="run the streaming job (unknown options are passed to Beam, e.g. --runner, --direct_num_workers)",
    )
    run.add_argument("--bootstrap-servers", required=True)
    run.add_argument("--topic", action="append", required=True, help="repeat for several topics")
    run.add_argument("--lake", type=_lake_location, required=True, help="a local folder, s3://bucket/prefix or gs://bucket/prefix")
    run.add_argument("--group-id", default="newswire")
    run.add_argument("--trigger-interval", type=_positive_float, default=10.0, help="seconds (default 10)")
    run.add_argument("--max-records-per-batch", type=_positive_int, default=None)
    run.add_argument("--until-idle", type=_positive_float, default=None, help="stop after this many idle seconds")
    run.add_argument("--max-message-bytes", type=_positive_int, default=DEFAULT_MAX_MESSAGE_BYTES)
    run.add_argument("--snapshot-every", type=_positive_int, default=100, help="batches between state snapshots")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    run.add_argument(
        "--spacy-model",
        default="en_core_web_sm",
        help="installed spaCy pipeline for NER (en_core_web_sm, en_core_web_md/lg/trf); never downloaded",
    )
    run.add_argument(
        "--dedup-lookback-days",
        type=_positive_float,
        default=7.0,
        help="how far back (by first_created) copies are matched to originals and entity results reused",
    )
    run.add_argument(
        "--ner-processes",
        type=_positive_int,
        default=default_ner_processes(),
        help="NER worker processes per job process, kept across batches (default: CPU count, at most 4)",
    )

    sql = sub.add_parser("sql", help="query the lake with DuckDB (views: articles, stories, entities, story_entities, dead_letters)")
    sql.add_argument("--lake", type=_lake_location, required=True, help="a local folder, s3://bucket/prefix or gs://bucket/prefix")
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sql.add_argument("query")

    produce = sub.add_parser("produce", help="publish a JSON-lines file, one message per line, to a topic")
    produce.add_argument("--bootstrap-servers", required=True)
    produce.add_argument("--topic", required=True)
    produce.add_argument("--partitions", type=_positive_int, default=3, help="when the topic must be created")
    produce.add_argument("file", type=Path)

    demo = sub.add_parser("demo", help="local broker + sample feed + job + example queries")
    demo.add_argument("--dir", type=Path, default=Path("demo-lake"), help="where the broker and lake live")
    demo.add_argument("--port", type=int, default=39092)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    # kafka-python warns on every routine coordinator move; the job logs its own retries and failures.
    logging.getLogger("kafka").setLevel(logging.ERROR)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_drop_irrelevant_beam_notices)

    if args.command == "broker":
        from pipeline import broker

        if args.broker_command == "start":
            info = broker.start_broker(args.dir, port=args.port, timeout=args.timeout)
            print(info.bootstrap)
            return 0
        if args.broker_command == "stop":
            was_running = broker.stop_broker(args.dir)
            print("stopped" if was_running else "not running")
            return 0
        info = broker.broker_status(args.dir)
        print(f"running {info.bootstrap} pid {info.pid}" if info else "not running")
        return 0 if info else 1

    if args.command == "run":
        from pipeline.jobs import run_job
        from pipeline.driver import JobConfig

        config = JobConfig(
            bootstrap_servers=args.bootstrap_servers,
            topics=args.topic,
            lake=args.lake,
            group_id=args.group_id,
            trigger_interval=args.trigger_interval,
            max_records_per_batch=args.max_records_per_batch,
            until_idle=args.until_idle,
            max_message_bytes=args.max_message_bytes,
            beam_args=list(extra),
            snapshot_every=args.snapshot_every,
            progress=args.progress,
            spacy_model=args.spacy_model,
            ner_processes=args.ner_processes,
            dedup_lookback=timedelta(days=args.dedup_lookback_days),
        )
        return run_job(config)

    if args.command == "sql":
        from pipeline.sql import run_query

        print(run_query(args.lake, args.query, args.format))
        return 0

    if args.command == "produce":
        from pipeline.jobs import produce_file

        count = produce_file(args.bootstrap_servers, args.topic, args.file, args.partitions)
        print(f"published {count} messages to {args.topic}")
        return 0

    if args.command == "demo":
        from pipeline.demo import run_demo

        return run_demo(args.dir, args.port)
    parser.error("unknown command")
    return 2


if __name__ == "__main__":
    sys.exit(main())
