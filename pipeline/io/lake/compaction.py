"""Compaction: the small files of committed batches merged into large sorted files, published by a manifest flip.

Every micro-batch writes its own file per (table, date, topic partition), so a lake that runs for months
holds hundreds of files per day and DuckDB opens every one of them on every query. ``compact_lake``
merges them, per partition, into files of up to ``max_file_bytes`` with row groups of
``row_group_rows`` rows, sorted by the table's sort key.

Why not a glob: DuckDB expands a glob when a query is bound (recent versions lazily, folder by folder,
while it scans) and opens the files it listed later, by path. Publishing the merged file and then
deleting the small ones exposes both copies in between; deleting (or renaming away) a listed file
fails the query that listed it; and a directory or symlink swap changes what an already listed path
resolves to. No order of renames over one folder switches many files for one atomically.

How readers stay exact while files change (the views in ``pipeline.io.lake.query`` do this on every query):

* The set of live files of a table is never a glob. At the start of each query DuckDB calls
  :func:`live_files` (registered as a scalar function and passed to ``read_parquet``): it reads the
  table's manifest (``_newswire/compaction/<table>.json``) FIRST and lists the partition folders
  AFTER. Live = every batch file (``part-*.parquet``) the manifest does not name as replaced, plus
  the compacted files of the partition's current generation, named explicitly by the manifest.
* A compaction writes the new generation's files under names the views ignore until the manifest
  names them, then replaces the manifest atomically (the flip). A query that read the old manifest
  gets the old files; one that read the new manifest gets the new ones and never the replaced ones.
  Either way each partition contributes exactly one complete copy of its rows.
* Files leave a manifest's live set only at a flip, and are deleted no sooner than ``grace`` after
  it. A query is handed only files of the manifest it read, so a query that finishes (bind to last
  fetched row) within ``grace`` never opens a deleted file.
* Only files of committed batches are merged: a batch file's rows all carry its ``batch_id``, and a
  file whose ``batch_id`` is above the last commit belongs to a batch that may still be replayed
  (which rewrites it under the same name); those stay as they are. A committed batch is never
  replayed, and batch file names are derived from Kafka offsets a later batch never reads again, so
  a replaced name is never written again.
* A crash leaves the lake readable: before the flip the new files are ignored (and deleted by the
  next run, which writes the same generation again); after it the old files are merely waiting for
  deletion, which the next run finishes.

One compaction runs at a time (a lock file); it may run while the job runs, because it never
touches a file the job may still write.
"""
from __future__ import annotations

import fcntl
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Optional, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.io.lake.commitlog import CommitLog
from pipeline.io.lake.durable import PARQUET_COMPRESSION, clear_dir, fsync_dir, write_json_durable
from pipeline.io.lake.layout import LakeLayout
from pipeline.io.lake.manifest import (
    PartitionEntry,
    RetiredFile,
    compacted_file_name,
    compacted_generation,
    compaction_dir,
    is_batch_file,
    live_files,
    load_manifest,
    manifest_path,
    parquet_names,
    partition_day,
    partition_dirs,
)
from pipeline.io.lake.layout import open_lake
from pipeline.io.lake.location import LocalLakeRequired
from pipeline.news.schema import TABLES

log = logging.getLogger("newswire.compact")

# DuckDB's own row group size: each row group is one unit of parallel scanning.
DEFAULT_ROW_GROUP_ROWS = 122_880
DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024
DEFAULT_GRACE_SECONDS = 3600.0
FAULT_POINTS = ("planned", "written", "published", "deleted", "cleaned")


# Rows that are read together sit together: a story's versions (the `stories` view ranks them), a
# story's entity mentions in text order, dead letters in log order, remaps in the order they happened.
SORT_KEYS: dict[str, tuple[str, ...]] = {
    "articles": ("story_id", "version", "topic", "partition", "offset"),
    "entities": ("story_id", "version", "source", "start_char", "end_char", "text", "topic", "partition", "offset"),
    "cluster_remaps": ("batch_id", "cluster_from"),
    "dead_letters": ("topic", "partition", "offset"),
}


class LakeBusy(RuntimeError):
    """Another compaction holds the lake's compaction lock."""


class NotALake(ValueError):
    """The folder has no ``_newswire`` metadata: compaction never creates a lake."""


# -- planning (pure) -------------------------------------------------------------------------


@dataclass(frozen=True)
class DataFile:
    """What planning needs to know about one live file of a partition."""

    name: str
    rows: int
    bytes: int
    max_batch: Optional[int]  # highest batch_id in the file; None when unknown
    compacted: bool

    def committed(self, last_committed: int) -> bool:
        return self.compacted or (self.rows > 0 and self.max_batch is not None and self.max_batch <= last_committed)

    def large(self, row_group_rows: int, max_file_bytes: int) -> bool:
        return self.rows >= row_group_rows or self.bytes >= max_file_bytes // 2


def plan_partition(
    files: Sequence[DataFile],
    last_committed: int,
    row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> list[list[str]]:
    """The files to merge, one list per output file, in a deterministic order; [] leaves the partition alone.

    Candidates are committed files that are not large yet (at least a row group or half the maximum
    size). Nothing happens unless at least two candidates exist and one of them is a batch file, so
    a compacted partition without new batch files is a fixed point. Candidates go, in name order,
    into outputs of up to ``max_file_bytes`` (input bytes); a last output of one file joins the one
    before it, so every candidate is merged.
    """
    candidates = sorted(
        (f for f in files if f.committed(last_committed) and not f.large(row_group_rows, max_file_bytes)),
        key=lambda f: f.name,
    )
    if len(candidates) < 2 or all(f.compacted for f in candidates):
        return []
    groups: list[list[DataFile]] = [[]]
    size = 0
    for f in candidates:
        if groups[-1] and size + f.bytes > max_file_bytes:
            groups.append([])
            size = 0
        groups[-1].append(f)
        size += f.bytes
    if len(groups) > 1 and len(groups[-1]) == 1:
        groups[-2].extend(groups.pop())
    return [[f.name for f in g] for g in groups]


def is_open_partition(day: date, today: date) -> bool:
    """Today's and later partitions still receive most of their rows; earlier ones are closed."""
    return day >= today


# -- execution -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompactionOptions:
    tables: tuple[str, ...] = tuple(TABLES)
    dates: Optional[frozenset[date]] = None  # only these partitions (open or not); None: every closed one
    include_open: bool = False
    grace: timedelta = timedelta(seconds=DEFAULT_GRACE_SECONDS)
    row_group_rows: int = DEFAULT_ROW_GROUP_ROWS
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES

    def selects(self, day: date, today: date) -> bool:
        if self.dates is not None:
            return day in self.dates
        return self.include_open or not is_open_partition(day, today)


@dataclass(frozen=True)
class PartitionResult:
    table: str
    partition: str
    files_before: int
    files_after: int
    rows: int
    generation: int


@dataclass
class CompactionReport:
    partitions: list[PartitionResult] = field(default_factory=list)
    live_files_before: dict[str, int] = field(default_factory=dict)
    live_files_after: dict[str, int] = field(default_factory=dict)
    deleted: int = 0
    waiting: int = 0  # superseded files kept for the grace period
    stopped: bool = False

    def lines(self) -> list[str]:
        out = [
            f"{p.table} {p.partition}: {p.files_before} files -> {p.files_after} (generation {p.generation}, {p.rows} rows)"
            for p in self.partitions
        ]
        for table in self.live_files_before:
            out.append(f"{table}: {self.live_files_before[table]} live files -> {self.live_files_after.get(table, 0)}")
        out.append(f"deleted {self.deleted} superseded files; {self.waiting} wait for the grace period")
        if self.stopped:
            out.append("stopped early on request; run again to continue")
        return out


FaultHook = Callable[[str], None]


class _CompactionLock:
    """An exclusive flock on ``_newswire/compaction/lock`` (released by the kernel if the process dies)."""

    def __init__(self, layout: LakeLayout, wait: bool) -> None:
        self.path = compaction_dir(layout) / "lock"
        self.wait = wait
        self.fd: Optional[int] = None

    def __enter__(self) -> "_CompactionLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(self.fd)
            self.fd = None
            raise LakeBusy(f"another compaction holds {self.path}") from None
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _max_batch(meta: pq.FileMetaData, path: Path) -> Optional[int]:
    """Highest batch_id of a file, from the column statistics (read from the column if they are missing)."""
    names = meta.schema.names
    if meta.num_rows == 0 or "batch_id" not in names:
        return None
    idx = names.index("batch_id")
    highest = None
    for rg in range(meta.num_row_groups):
        stats = meta.row_group(rg).column(idx).statistics
        if stats is None or not stats.has_min_max:
            column = pq.ParquetFile(path).read(columns=["batch_id"]).column(0)
            return int(pc.max(column).as_py())
        highest = stats.max if highest is None else max(highest, stats.max)
    return int(highest)


def _describe(folder: Path, name: str) -> DataFile:
    path = folder / name
    meta = pq.read_metadata(path)
    return DataFile(
        name=name,
        rows=meta.num_rows,
        bytes=path.stat().st_size,
        max_batch=_max_batch(meta, path),
        compacted=compacted_generation(name) is not None,
    )


def _merge(folder: Path, names: Sequence[str], table: str) -> pa.Table:
    """The rows of ``names`` (read in name order), sorted stably by the table's sort key."""
    parts = [pq.ParquetFile(folder / name).read() for name in names]
    merged = pa.concat_tables(parts, promote_options="permissive")
    keys = [k for k in SORT_KEYS.get(table, ()) if k in merged.column_names]
    return merged.sort_by([(k, "ascending") for k in keys]) if keys else merged


def _write_compacted(rows: pa.Table, path: Path, row_group_rows: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pq.write_table(rows, f, compression=PARQUET_COMPRESSION, write_statistics=True, row_group_size=row_group_rows)
        f.flush()
        os.fsync(f.fileno())


@dataclass
class _TableCompaction:
    """Compaction of one table: one manifest, flipped once per partition."""

    layout: LakeLayout
    table: str
    options: CompactionOptions
    last_committed: int
    clock: Callable[[], datetime]
    fault: FaultHook
    report: CompactionReport

    def __post_init__(self) -> None:
        self.table_dir = self.layout.table_dir(self.table)
        self.staging = compaction_dir(self.layout) / "staging" / self.table
        self.manifest = load_manifest(self.layout, self.table)

    def save(self) -> None:
        write_json_durable(manifest_path(self.layout, self.table), self.manifest.to_json())

    def live_names(self, part: str) -> list[str]:
        entry = self.manifest.partitions.get(part)
        hidden = set(entry.replaced) if entry else set()
        batch = [n for n in parquet_names(self.table_dir / part) if compacted_generation(n) is None and n not in hidden]
        return sorted(batch + (list(entry.files) if entry else []))

    def remove_unpublished(self, part: str) -> None:
        """Delete compacted files of a generation that was written but never published (a crashed run)."""
        entry = self.manifest.partitions.get(part)
        current = entry.generation if entry else 0
        folder = self.table_dir / part
        removed = False
        for name in parquet_names(folder):
            generation = compacted_generation(name)
            if generation is None or generation <= current:
                continue
            if generation > current + 1:
                raise RuntimeError(
                    f"{folder / name} is newer than generation {current + 1}: the compaction manifest "
                    f"{manifest_path(self.layout, self.table)} does not match the lake"
                )
            (folder / name).unlink()
            removed = True
        if removed:
            fsync_dir(folder)

    def compact_partition(self, part: str) -> None:
        folder = self.table_dir / part
        names = self.live_names(part)
        files = [_describe(folder, n) for n in names if compacted_generation(n) is not None or is_batch_file(n)]
        groups = plan_partition(files, self.last_committed, self.options.row_group_rows, self.options.max_file_bytes)
        if not groups:
            return
        self.fault("planned")
        entry = self.manifest.partitions.get(part) or PartitionEntry(0, [], [])
        generation = entry.generation + 1
        outputs: list[str] = []
        total_rows = 0
        clear_dir(self.staging)
        rows_of = {f.name: f.rows for f in files}
        for seq, group in enumerate(groups):
            rows = _merge(folder, group, self.table)
            expected = sum(rows_of[n] for n in group)
            if rows.num_rows != expected:
                raise RuntimeError(f"{self.table}/{part}: merged {rows.num_rows} rows, inputs hold {expected}")
            name = compacted_file_name(generation, seq)
            staged = self.staging / part / name
            _write_compacted(rows, staged, self.options.row_group_rows)
            os.replace(staged, folder / name)
            outputs.append(name)
            total_rows += rows.num_rows
        fsync_dir(folder)
        clear_dir(self.staging)
        self.fault("written")

        merged = {n for g in groups for n in g}
        now = self.clock()
        self.manifest.partitions[part] = PartitionEntry(
            generation=generation,
            files=sorted([n for n in entry.files if n not in merged] + outputs),
            replaced=sorted(set(entry.replaced) | {n for n in merged if compacted_generation(n) is None}),
        )
        self.manifest.retired.extend(RetiredFile(f"{part}/{n}", now) for n in sorted(merged))
        self.save()
        self.fault("published")
        self.report.partitions.append(
            PartitionResult(self.table, part, len(names), len(names) - len(merged) + len(outputs), total_rows, generation)
        )

    def collect_garbage(self) -> None:
        """Delete superseded files whose grace period is over, then forget them."""
        now = self.clock()
        due = [r for r in self.manifest.retired if now - r.retired_at >= self.options.grace]
        self.report.waiting += len(self.manifest.retired) - len(due)
        if not due:
            return
        folders = set()
        for r in due:
            path = self.table_dir / r.path
            path.unlink(missing_ok=True)
            folders.add(path.parent)
        for folder in sorted(folders):
            if folder.exists():
                fsync_dir(folder)
        self.fault("deleted")
        gone = {r.path for r in due}
        self.manifest.retired = [r for r in self.manifest.retired if r.path not in gone]
        for part, entry in self.manifest.partitions.items():
            entry.replaced = [n for n in entry.replaced if f"{part}/{n}" not in gone]
        self.save()
        self.report.deleted += len(due)
        self.fault("cleaned")


def compact_lake(
    lake: Path | LakeLayout,
    options: CompactionOptions = CompactionOptions(),
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    fault_hook: Optional[FaultHook] = None,
    should_stop: Callable[[], bool] = lambda: False,
    wait_for_lock: bool = True,
) -> CompactionReport:
    """Compact the selected partitions of the selected tables and delete what the grace period released.

    Raises :class:`LakeBusy` when another compaction runs and ``wait_for_lock`` is false.
    ``fault_hook`` is called at each of :data:`FAULT_POINTS` (crash tests kill the process there).
    """
    layout = lake if isinstance(lake, LakeLayout) else open_lake(lake)
    if not layout.storage.is_local:
        raise LocalLakeRequired(f"{layout.location}: compaction works on local lakes only (it swaps files by "
                                "rename under a lock file; object-store lakes are not compacted)")
    if not layout.meta.is_dir():
        raise NotALake(f"{layout.root} is not a newswire lake (no {layout.meta.name} folder)")
    fault = fault_hook or (lambda point: None)
    report = CompactionReport()
    with _CompactionLock(layout, wait_for_lock):
        commits = CommitLog(layout).batch_ids()
        last_committed = commits[-1] if commits else -1
        today = clock().astimezone(timezone.utc).date()
        for table in options.tables:
            job = _TableCompaction(layout, table, options, last_committed, clock, fault, report)
            parts = [
                p for p in partition_dirs(job.table_dir)
                if (day := partition_day(p)) is not None and options.selects(day, today)
            ]
            report.live_files_before[table] = len(live_files(layout, table))
            for part in partition_dirs(job.table_dir):  # also where this run compacts nothing
                job.remove_unpublished(part)
            for part in parts:
                if should_stop():
                    report.stopped = True
                    break
                job.compact_partition(part)
            job.collect_garbage()
            report.live_files_after[table] = len(live_files(layout, table))
            if report.stopped:
                break
    return report


# -- the job's schedule ------------------------------------------------------------------------


@dataclass(frozen=True)
class CompactionSchedule:
    """``newswire run --compact-every N`` / ``--compact-interval S``: compaction between batches."""

    every_batches: int = 0
    every_seconds: float = 0.0
    include_open: bool = False
    grace_seconds: float = DEFAULT_GRACE_SECONDS

    @property
    def enabled(self) -> bool:
        return self.every_batches > 0 or self.every_seconds > 0


class ScheduledCompaction:
    """Runs compaction in the driver's thread, so never while a batch publishes; failures are logged, not fatal."""

    def __init__(self, schedule: CompactionSchedule, layout: LakeLayout, clock: Callable[[], datetime],
                 should_stop: Callable[[], bool]) -> None:
        self.schedule = schedule
        self.layout = layout
        self.clock = clock
        self.should_stop = should_stop
        self.batches_since = 0
        self.last_run = time.monotonic()

    def after_batch(self) -> Optional[CompactionReport]:
        self.batches_since += 1
        return self._run_if_due()

    def when_idle(self) -> Optional[CompactionReport]:
        return self._run_if_due()

    def _due(self) -> bool:
        s = self.schedule
        by_batches = s.every_batches > 0 and self.batches_since >= s.every_batches
        by_time = s.every_seconds > 0 and time.monotonic() - self.last_run >= s.every_seconds
        return by_batches or by_time

    def _run_if_due(self) -> Optional[CompactionReport]:
        if not self._due():
            return None
        self.batches_since = 0
        self.last_run = time.monotonic()
        options = CompactionOptions(
            include_open=self.schedule.include_open, grace=timedelta(seconds=self.schedule.grace_seconds)
        )
        try:
            report = compact_lake(self.layout, options, clock=self.clock, should_stop=self.should_stop,
                                  wait_for_lock=False)
        except LakeBusy:
            log.info("compaction_skipped reason=another_compaction_running")
            return None
        except Exception as err:  # the job keeps running; the next run starts over where this one stopped
            log.error("compaction_failed error=%s: %s", type(err).__name__, err)
            return None
        log.info(
            "compaction_done partitions=%d live_files_before=%d live_files_after=%d deleted=%d waiting=%d",
            len(report.partitions),
            sum(report.live_files_before.values()),
            sum(report.live_files_after.values()),
            report.deleted,
            report.waiting,
        )
        return report
