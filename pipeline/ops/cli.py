"""Command line: parses arguments and hands over to the modules that do the work."""
from __future__ import annotations

import argparse
import logging
import sys
from datetime import timedelta
from pathlib import Path
from typing import Callable, Optional, Sequence

from pipeline.ops import compact_command
from pipeline.ops.arguments import (
    add_kafka_security_options,
    default_ner_processes,
    lake_location_arg,
    non_negative_float,
    port,
    positive_int,
)
from pipeline.news.decode import DEFAULT_MAX_MESSAGE_BYTES
from pipeline.ops.health import DEFAULT_MAX_MISSED_TRIGGERS
from pipeline.ops.logs import LOG_FORMATS, configure_logging
from pipeline.core.retry import RetryPolicy


# Beam notices that say nothing about the job: optional GCP client libraries are absent (irrelevant off
# Dataflow), and RunInference's memory probe is off because an optional import failed (it still runs).
_IRRELEVANT_BEAM_NOTICES = ("apitools not found", "Resource module is not available")


def _drop_irrelevant_beam_notices(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(_IRRELEVANT_BEAM_NOTICES)


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
    run.add_argument("--lake", type=lake_location_arg, required=True, help="a local folder, s3://bucket/prefix or gs://bucket/prefix")
    run.add_argument("--group-id", default="newswire")
    run.add_argument("--trigger-interval", type=non_negative_float, default=10.0, help="seconds (default 10)")
    run.add_argument("--max-records-per-batch", type=positive_int, default=None)
    run.add_argument("--until-idle", type=non_negative_float, default=None, help="stop after this many idle seconds")
    run.add_argument("--max-message-bytes", type=positive_int, default=DEFAULT_MAX_MESSAGE_BYTES)
    run.add_argument("--snapshot-every", type=positive_int, default=100, help="batches between state snapshots")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    run.add_argument(
        "--spacy-model",
        default="en_core_web_sm",
        help="installed spaCy pipeline for NER (en_core_web_sm, en_core_web_md/lg/trf); never downloaded",
    )
    run.add_argument(
        "--dedup-lookback-days",
        type=non_negative_float,
        default=7.0,
        help="how far back (by first_created) copies are matched to originals and entity results reused",
    )
    run.add_argument(
        "--retry-attempts",
        type=positive_int,
        default=RetryPolicy.attempts,
        help="failed batches in a row (Kafka unreachable, stalled reads) before the job exits with status 75 (default 20)",
    )
    run.add_argument(
        "--retry-max-backoff",
        type=non_negative_float,
        default=RetryPolicy.max_backoff,
        help="longest pause between retries in seconds; pauses double from 1 s up to it (default 60)",
    )
    run.add_argument(
        "--ner-processes",
        type=positive_int,
        default=default_ner_processes(),
        help="NER worker processes per job process, kept across batches (default: CPU count, at most 4)",
    )
    run.add_argument("--metrics-port", type=port, default=None, help="serve /metrics, /healthz and /readyz on this port")
    run.add_argument("--metrics-host", default="0.0.0.0", help="address the metrics port binds to (default 0.0.0.0)")
    run.add_argument(
        "--health-max-missed-triggers",
        type=positive_int,
        default=DEFAULT_MAX_MISSED_TRIGGERS,
        help=f"/healthz fails after this many triggers without a commit while lag is not decreasing "
        f"(default {DEFAULT_MAX_MISSED_TRIGGERS})",
    )

    compact_command.add_run_arguments(run)
    compact_command.add_compact_parser(sub)
    add_kafka_security_options(run)

    sql = sub.add_parser("sql", help="query the lake with DuckDB (views: articles, stories, entities, story_entities, dead_letters)")
    sql.add_argument("--lake", type=lake_location_arg, required=True, help="a local folder, s3://bucket/prefix or gs://bucket/prefix")
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sql.add_argument("query")

    views = sub.add_parser(
        "views", help="print the lake's views as SQL for the plain DuckDB CLI (duckdb -init views.sql)"
    )
    views.add_argument("--lake", type=lake_location_arg, required=True, help="a local lake folder")

    report = sub.add_parser("report", help="write a self-contained HTML page of charts about the lake")
    report.add_argument("--lake", type=lake_location_arg, required=True, help="a local folder, s3://bucket/prefix or gs://bucket/prefix")
    report.add_argument("--out", type=Path, default=Path("report.html"), help="HTML file to write (default report.html)")
    window = report.add_mutually_exclusive_group()
    window.add_argument("--since", help="UTC time or date, e.g. 2026-11-24 or 2026-11-24T06:00 (default: whole lake)")
    window.add_argument("--hours", type=non_negative_float, help="the last N hours")
    window.add_argument("--days", type=non_negative_float, help="the last N days")

    produce = sub.add_parser("produce", help="publish a JSON-lines file, one message per line, to a topic")
    produce.add_argument("--bootstrap-servers", required=True)
    produce.add_argument("--topic", required=True)
    produce.add_argument("--partitions", type=positive_int, default=3, help="when the topic must be created")
    produce_input = produce.add_mutually_exclusive_group(required=True)
    produce_input.add_argument("file", type=Path, nargs="?")
    produce_input.add_argument(
        "--samples", action="store_true", help="publish the demo's bundled sample feed instead of a file"
    )
    add_kafka_security_options(produce)

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

    return COMMANDS[args.command](args, list(extra), parser)


def _broker_command(args: argparse.Namespace, extra: list[str], parser: argparse.ArgumentParser) -> int:
    """``newswire broker start|stop|status``: the local development Kafka."""
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


def _run_command(args: argparse.Namespace, extra: list[str], parser: argparse.ArgumentParser) -> int:
    """``newswire run``: the job; every option that is not newswire's goes to Beam."""
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
        beam_args=extra,
        snapshot_every=args.snapshot_every,
        progress=args.progress,
        spacy_model=args.spacy_model,
        ner_processes=args.ner_processes,
        dedup_lookback=timedelta(days=args.dedup_lookback_days),
        compaction=compact_command.schedule_from_args(args),
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


def _compact_command(args: argparse.Namespace, extra: list[str], parser: argparse.ArgumentParser) -> int:
    """``newswire compact``: one compaction of a local lake."""
    return compact_command.run_compact(args)


def _sql_command(args: argparse.Namespace, extra: list[str], parser: argparse.ArgumentParser) -> int:
    """``newswire sql``: one query against the lake's views."""
    from pipeline.io.lake.query import run_query

    print(run_query(args.lake, args.query, args.format))
    return 0


def _views_command(args: argparse.Namespace, extra: list[str], parser: argparse.ArgumentParser) -> int:
    """``newswire views``: the views as one SQL file that needs neither Python nor newswire."""
    from pipeline.io.lake.layout import open_lake
    from pipeline.io.lake.plain_views import UnsupportedLakePath, plain_views_sql

    try:
        sys.stdout.write(plain_views_sql(open_lake(args.lake)))
    except UnsupportedLakePath as err:
        parser.error(str(err))
    return 0


def _report_command(args: argparse.Namespace, extra: list[str], parser: argparse.ArgumentParser) -> int:
    """``newswire report``: the HTML page of charts."""
    from pipeline.ops.report import ReportArgumentError, report_command

    try:
        return report_command(args.lake, args.out, args.since, args.hours, args.days)
    except ReportArgumentError as err:
        parser.error(str(err))


def _produce_command(args: argparse.Namespace, extra: list[str], parser: argparse.ArgumentParser) -> int:
    """``newswire produce``: a JSON-lines file (or the bundled samples) to a topic."""
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


def _demo_command(args: argparse.Namespace, extra: list[str], parser: argparse.ArgumentParser) -> int:
    """``newswire demo``: broker, samples, job and example queries in one go."""
    from pipeline.ops.demo import run_demo

    return run_demo(args.dir, args.port)


# One handler per subcommand: each hands its parsed arguments to the module that does the work.
COMMANDS: dict[str, Callable[[argparse.Namespace, list[str], argparse.ArgumentParser], int]] = {
    "broker": _broker_command,
    "run": _run_command,
    "compact": _compact_command,
    "sql": _sql_command,
    "views": _views_command,
    "report": _report_command,
    "produce": _produce_command,
    "demo": _demo_command,
}


if __name__ == "__main__":
    sys.exit(main())
