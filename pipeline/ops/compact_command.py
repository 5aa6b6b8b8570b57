"""``newswire compact`` and the ``newswire run --compact-*`` options (argument parsing only; the work is in pipeline.io.lake.compaction)."""
from __future__ import annotations

import argparse
from datetime import timedelta

from pipeline.ops.arguments import lake_location_arg, non_negative_float, positive_int


def add_run_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument("--compact-every", type=positive_int, default=None, metavar="N",
                     help="compact closed partitions after every N batches (see `newswire compact`)")
    run.add_argument("--compact-interval", type=non_negative_float, default=None, metavar="SECONDS",
                     help="compact closed partitions between batches at most this often")
    run.add_argument("--compact-open", action="store_true", help="scheduled compaction includes today's partitions")
    run.add_argument("--compact-grace", type=non_negative_float, default=None, metavar="SECONDS",
                     help="keep superseded files this long for queries already running (default 3600)")


def add_compact_parser(sub) -> None:
    compact = sub.add_parser("compact", help="merge the small files of committed batches into large sorted files")
    compact.add_argument("--lake", type=lake_location_arg, required=True)
    compact.add_argument("--date", action="append", metavar="YYYY-MM-DD",
                         help="only this partition date, open or closed; repeatable")
    compact.add_argument("--table", action="append", help="only this table; repeatable (default: every table)")
    compact.add_argument("--include-open", action="store_true", help="also today's and later partitions (UTC)")
    compact.add_argument("--grace", type=non_negative_float, default=None, metavar="SECONDS",
                         help="keep superseded files this long for queries already running (default 3600)")
    compact.add_argument("--row-group-rows", type=positive_int, default=None, help="rows per row group (default 122880)")
    compact.add_argument("--max-file-mb", type=positive_int, default=None, help="largest output file in MiB (default 512)")


def schedule_from_args(args: argparse.Namespace):
    """``run --compact-*`` as a schedule, or None when compaction is not scheduled."""
    from pipeline.io.lake.compaction import DEFAULT_GRACE_SECONDS, CompactionSchedule

    if args.compact_every is None and not args.compact_interval:
        return None
    return CompactionSchedule(
        every_batches=args.compact_every or 0,
        every_seconds=args.compact_interval or 0.0,
        include_open=args.compact_open,
        grace_seconds=DEFAULT_GRACE_SECONDS if args.compact_grace is None else args.compact_grace,
    )


def run_compact(args: argparse.Namespace) -> int:
    """``newswire compact``: one compaction, a line per compacted partition and the file counts."""
    from datetime import date

    from pipeline.io.lake.compaction import CompactionOptions, NotALake, compact_lake
    from pipeline.io.lake.location import LocalLakeRequired
    from pipeline.news.schema import TABLES

    defaults = CompactionOptions()
    for table in args.table or ():
        if table not in TABLES:
            raise SystemExit(f"newswire compact: unknown table {table!r} (tables: {', '.join(TABLES)})")
    try:
        dates = frozenset(date.fromisoformat(d) for d in args.date) if args.date else None
    except ValueError as err:
        raise SystemExit(f"newswire compact: --date {err}") from None
    options = CompactionOptions(
        tables=tuple(dict.fromkeys(args.table)) if args.table else defaults.tables,
        dates=dates,
        include_open=args.include_open,
        grace=defaults.grace if args.grace is None else timedelta(seconds=args.grace),
        row_group_rows=args.row_group_rows or defaults.row_group_rows,
        max_file_bytes=args.max_file_mb * 1024 * 1024 if args.max_file_mb else defaults.max_file_bytes,
    )
    try:
        report = compact_lake(args.lake, options)
    except (NotALake, LocalLakeRequired) as err:
        raise SystemExit(f"newswire compact: {err}") from None
    for line in report.lines():
        print(line)
    return 0
