"""Command line: parses arguments and hands over to the modules that do the work."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Optional, Sequence

from pipeline.ops import compact_command as compact_cli
from pipeline.news.decode import DEFAULT_MAX_MESSAGE_BYTES
from pipeline.ops.health import DEFAULT_MAX_MISSED_TRIGGERS
from pipeline.ops.logs import LOG_FORMATS, configure_logging
from pipeline.core.retry import RetryPolicy


def _positive_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError("must be a TCP port (1-65535)")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _lake_location(text: str):
    """A local folder, or an s3:// / gs:// URI (validated here so a typo fails before the job starts)."""
    from pipeline.io.lake.storage import lake_location

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


def _absolute_path(text: str) -> str:
    """Absolute, so that Beam workers with another working directory find the same file."""
    return os.path.abspath(text)


def _add_kafka_security_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kafka-config",
        type=_absolute_path,
        default=None,
        help="file of NEWSWIRE_KAFKA_* settings (SASL, TLS); see README, Security",
    )
    parser.add_argument(
        "--allow-plaintext",
        action="store_true",
        help="allow an unencrypted (PLAINTEXT, SASL_PLAINTEXT) connection to a non-loopback broker",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newswire", description="Wire-service news from Kafka to an exactly-once Parquet lake."
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    parser.add_argument(
        "--log-format", choices=LOG_FORMATS, default="text", help="text, or json: one JSON object per line (default text)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    broker = sub.add_parser("broker", help="a local Apache Kafka (KRaft) for development, tests and the demo")
    bsub = broker.add_subparsers(dest="broker_command", required=True)
    start = bsub.add_parser("start", help="start (idempotent) and print the bootstrap address")
    start.add_argument("--dir", type=Path, required=True)
    start.add_argument("--port", type=int, default=9092)
    start.add_argument("--timeout", type=float, default=90.0)
    start.add_argument(
        "--sasl-port",
        type=int,
        default=None,
        help="also listen with SASL_PLAINTEXT (PLAIN, SCRAM-SHA-256/512) for NEWSWIRE_KAFKA_SASL_USERNAME/PASSWORD",
    )
    start.add_argument("--kafka-config", default=None, help="file of NEWSWIRE_KAFKA_* settings naming the SASL user")
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
        "--retry-attempts",
        type=_positive_int,
        default=RetryPolicy.attempts,
        help="failed batches in a row (Kafka unreachable, stalled reads) before the job exits with status 75 (default 20)",
    )
    run.add_argument(
        "--retry-max-backoff",
        type=_positive_float,
        default=RetryPolicy.max_backoff,
        help="longest pause between retries in seconds; pauses double from 1 s up to it (default 60)",
    )
    run.add_argument(
        "--ner-processes",
        type=_positive_int,
        default=default_ner_processes(),
        help="NER worker processes per job process, kept across batches (default: CPU count, at most 4)",
    )
    run.add_argument("--metrics-port", type=_port, default=None, help="serve /metrics, /healthz and /readyz on this port")
    run.add_argument("--metrics-host", default="0.0.0.0", help="address the metrics port binds to (default 0.0.0.0)")
    run.add_argument(
        "--health-max-missed-triggers",
        type=_positive_int,
        default=DEFAULT_MAX_MISSED_TRIGGERS,
        help=f"/healthz fails after this many triggers without a commit while lag is not decreasing "
        f"(default {DEFAULT_MAX_MISSED_TRIGGERS})",
    )

    compact_cli.add_run_arguments(run)
    compact_cli.add_compact_parser(sub)
    _add_kafka_security_options(run)

    sql = sub.add_parser("sql", help="query the lake with DuckDB (views: articles, stories, entities, story_entities, dead_letters)")
    sql.add_argument("--lake", type=_lake_location, required=True, help="a local folder, s3://bucket/prefix or gs://bucket/prefix")
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sql.add_argument("query")

    report = sub.add_parser("report", help="write a self-contained HTML page of charts about the lake")
    report.add_argument("--lake", type=_lake_location, required=True, help="a local folder, s3://bucket/prefix or gs://bucket/prefix")
    report.add_argument("--out", type=Path, default=Path("report.html"), help="HTML file to write (default report.html)")
    window = report.add_mutually_exclusive_group()
    window.add_argument("--since", help="UTC time or date, e.g. 2026-11-24 or 2026-11-24T06:00 (default: whole lake)")
    window.add_argument("--hours", type=_positive_float, help="the last N hours")
    window.add_argument("--days", type=_positive_float, help="the last N days")

    produce = sub.add_parser("produce", help="publish a JSON-lines file, one message per line, to a topic")
    produce.add_argument("--bootstrap-servers", required=True)
    produce.add_argument("--topic", required=True)
    produce.add_argument("--partitions", type=_positive_int, default=3, help="when the topic must be created")
    produce_input = produce.add_mutually_exclusive_group(required=True)
    produce_input.add_argument("file", type=Path, nargs="?")
    produce_input.add_argument(
        "--samples", action="store_true", help="publish the demo's bundled sample feed instead of a file"
    )
    _add_kafka_security_options(produce)

    demo = sub.add_parser("demo", help="local broker + sample feed + job + example queries")
    demo.add_argument("--dir", type=Path, default=Path("demo-lake"), help="where the broker and lake live")
    demo.add_argument("--port", type=int, default=39092)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    configure_logging(args.log_level, args.log_format)
    # kafka-python logs every reconnect attempt of an outage at ERROR, many a second; the job logs its own
    # retries and failures (with kafka-python's error), so its lines are kept for --log-level DEBUG.
    if logging.getLogger().level > logging.DEBUG:
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_drop_irrelevant_beam_notices)
    from pipeline.core.redaction import install_log_redaction

    install_log_redaction()

    if args.command == "broker":
        from pipeline.ops import broker

        if args.broker_command == "start":
            sasl_user = None
            if args.sasl_port is not None:
                from pipeline.ops.broker.sasl import user_from_settings
                from pipeline.io.kafka.config import KafkaConfigError

                try:
                    sasl_user = user_from_settings(config_file=args.kafka_config)
                except KafkaConfigError as err:
                    print(f"newswire broker start: {err}", file=sys.stderr)
                    return 2
            info = broker.start_broker(
                args.dir, port=args.port, timeout=args.timeout, sasl_port=args.sasl_port, sasl_user=sasl_user
            )
            if info.sasl_bootstrap:
                print(f"SASL_PLAINTEXT {info.sasl_bootstrap} user {sasl_user.name}")
            print(info.bootstrap)
            return 0
        if args.broker_command == "stop":
            was_running = broker.stop_broker(args.dir)
            print("stopped" if was_running else "not running")
            return 0
        info = broker.broker_status(args.dir)
        sasl = f" SASL_PLAINTEXT {info.sasl_bootstrap}" if info and info.sasl_bootstrap else ""
        print(f"running {info.bootstrap}{sasl} pid {info.pid}" if info else "not running")
        return 0 if info else 1

    if args.command == "run":
        from pipeline.ops.compose import run_job
        from pipeline.job.driver import JobConfig
        from pipeline.io.kafka.security import run_with_kafka

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
            compaction=compact_cli.schedule_from_args(args),
            metrics_port=args.metrics_port,
            metrics_host=args.metrics_host,
            health_max_missed_triggers=args.health_max_missed_triggers,
            retry=RetryPolicy(attempts=args.retry_attempts, max_backoff=args.retry_max_backoff),
            kafka_config_file=args.kafka_config,
        )
        if config.compaction is not None and not isinstance(config.lake, Path):
            parser.error("--compact-every/--compact-interval need a local lake; object-store lakes are not compacted")
        return run_with_kafka(
            "run", args.bootstrap_servers, args.kafka_config, args.allow_plaintext, lambda: run_job(config)
        )

    if args.command == "compact":
        return compact_cli.run_compact(args)

    if args.command == "sql":
        from pipeline.io.lake.query import run_query

        print(run_query(args.lake, args.query, args.format))
        return 0

    if args.command == "report":
        from pipeline.ops.report import ReportArgumentError, report_command

        try:
            return report_command(args.lake, args.out, args.since, args.hours, args.days)
        except ReportArgumentError as err:
            parser.error(str(err))

    if args.command == "produce":
        from pipeline.io.kafka.security import run_with_kafka

        def publish() -> int:
            if args.samples:
                from pipeline.ops.demo import publish_samples

                count = publish_samples(args.bootstrap_servers, args.topic, args.partitions, args.kafka_config)
            else:
                from pipeline.ops.compose import produce_file

                count = produce_file(args.bootstrap_servers, args.topic, args.file, args.partitions, args.kafka_config)
            print(f"published {count} messages to {args.topic}")
            return 0

        return run_with_kafka("produce", args.bootstrap_servers, args.kafka_config, args.allow_plaintext, publish)

    if args.command == "demo":
        from pipeline.ops.demo import run_demo

        return run_demo(args.dir, args.port)
    parser.error("unknown command")
    return 2


if __name__ == "__main__":
    sys.exit(main())
