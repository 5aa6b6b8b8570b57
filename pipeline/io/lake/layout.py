"""Lake layout, Parquet writing and atomic publication.

Layout under the lake root::

    articles/date=YYYY-MM-DD/part-<topic>-<partition>-<first offset>.parquet
    dead_letters/date=YYYY-MM-DD/...
    _newswire/                 job metadata, never matched by the dataset globs
        offsets/<batch>.json   write-ahead log: the planned ranges of each batch
        commits/<batch>.json   commit log: what each batch made durable
        state/...              deduplication state (snapshots + per-batch deltas)
        staging/batch-<N>/     files being written; published by rename

Nothing under a dataset folder is ever partial: files are written and fsynced in staging
(same file system) and then renamed into place. A lake may also be an ``s3://``/``gs://`` prefix:
then the layout's ``storage`` (pipeline/io/lake/storage.py) stages locally and publishes by single uploads.
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path, PurePath
from typing import Any, Iterable, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.news.schema import TABLES

META_DIR = "_newswire"
PARQUET_COMPRESSION = "zstd"
_TOPIC_RE = re.compile(r"[A-Za-z0-9._-]{1,249}")
_FILE_RE = re.compile(r"part-(?P<topic>[A-Za-z0-9._-]{1,249})-(?P<partition>[0-9]{5})-(?P<offset>[0-9]{20})\.parquet")


def validate_topic(topic: str) -> str:
    """Kafka topic names are restricted to [A-Za-z0-9._-]; anything else never reaches a path."""
    if not isinstance(topic, str) or not _TOPIC_RE.fullmatch(topic) or topic in (".", ".."):
        raise ValueError(f"not a valid Kafka topic name: {topic!r}")
    return topic


def partition_dir_name(day: date) -> str:
    """Hive partition folder for a validated date (only a real ``date`` object is accepted)."""
    if type(day) is not date:
        raise TypeError("partition dates must be datetime.date values")
    return f"date={day.isoformat()}"


def data_file_name(topic: str, partition: int, first_offset: int) -> str:
    """Deterministic name: the same batch replayed writes the same names."""
    validate_topic(topic)
    if not (0 <= int(partition) < 100_000) or int(first_offset) < 0:
        raise ValueError("partition or offset out of range")
    return f"part-{topic}-{int(partition):05d}-{int(first_offset):020d}.parquet"


def parse_data_file_name(name: str) -> tuple[str, int, int]:
    """Inverse of :func:`data_file_name`."""
    m = _FILE_RE.fullmatch(name)
    if not m:
        raise ValueError(f"not a data file name: {name!r}")
    return m["topic"], int(m["partition"]), int(m["offset"])


@dataclass(frozen=True)
class LakeLayout:
    """Paths of one lake root, and the storage (local folder or object store) they live in."""

    root: PurePath
    storage: Any = field(default=None, compare=False, repr=False)  # pipeline.io.lake.storage.LakeStorage

    def __post_init__(self) -> None:
        if self.storage is None:
            from pipeline.io.lake.storage import LocalStorage  # lakefs builds on this module's durable writes

            object.__setattr__(self, "storage", LocalStorage(Path(self.root)))

    @property
    def location(self) -> str:
        """The lake as a user names it: a local path or an ``s3://``/``gs://`` URI."""
        return self.storage.location

    @property
    def meta(self) -> Path:
        return self.root / META_DIR

    def table_dir(self, table: str) -> Path:
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        return self.root / table

    def staging_dir(self, batch_id: int) -> Path:
        return self.storage.staging_root / f"batch-{batch_id:020d}"

    def ensure(self) -> None:
        self.storage.prepare(
            [self.table_dir(table) for table in TABLES] + [self.meta / sub for sub in ("offsets", "commits", "state", "staging")]
        )


def fsync_dir(path: Path) -> None:
    """Make a rename or a new directory entry durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def makedirs_durable(path: Path) -> None:
    """``mkdir -p`` that fsyncs every parent whose entries it changed."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir()
        except FileExistsError:
            pass
        fsync_dir(d.parent)


def write_parquet_durable(table: pa.Table, path: Path) -> None:
    """Write a zstd Parquet file and fsync it before anyone may rename it into view."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        pq.write_table(table, f, compression=PARQUET_COMPRESSION, write_statistics=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_json_durable(path: Path, text: str) -> None:
    """Atomically create or replace a small metadata file."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def staged_files(staging: Path) -> list[Path]:
    """Finished data files in a staging folder, relative to it, in a stable order."""
    if not staging.exists():
        return []
    found = []
    for table in TABLES:
        base = staging / table
        if base.exists():
            found.extend(p.relative_to(staging) for p in base.glob("date=*/*.parquet"))
    return sorted(found)


def publish_staged(layout: LakeLayout, staging: Path, relative_files: Sequence[Path]) -> None:
    """Rename staged files into the dataset folders; each rename is atomic for readers.

    Publishing the same batch twice (a replay after a crash) replaces files with identical ones.
    """
    if not layout.storage.is_local:
        from pipeline.io.lake.storage import publish_files

        publish_files(layout.storage, [(staging / rel, layout.root / rel) for rel in relative_files])
        return
    touched: set[Path] = set()
    for rel in relative_files:
        src = staging / rel
        dst = layout.root / rel
        if not src.exists():
            if dst.exists():
                continue  # published by an earlier attempt of this batch
            raise FileNotFoundError(f"staged file vanished: {src}")
        makedirs_durable(dst.parent)
        os.replace(src, dst)
        touched.add(dst.parent)
    for d in sorted(touched):
        fsync_dir(d)


def clear_dir(path: Path) -> None:
    """Remove a staging folder left by an earlier attempt."""
    shutil.rmtree(path, ignore_errors=True)


def dataset_files(layout: LakeLayout, table: str) -> list[Path]:
    """Published data files of a table."""
    return sorted(layout.table_dir(table).glob("date=*/*.parquet"))


def rows_to_table(rows: Iterable[dict], table: str) -> pa.Table:
    """Build an Arrow table in the contract schema (fails loudly on a mismatch).

    Arrow would silently truncate a float into an integer column, so integers are checked here.
    """
    rows = list(rows)
    schema = TABLES[table]
    int_fields = [f.name for f in schema if pa.types.is_integer(f.type)]
    for row in rows:
        for name in int_fields:
            value = row.get(name)
            if value is not None and (type(value) is not int):
                raise TypeError(f"{table}.{name} must be an int, got {type(value).__name__}")
    return pa.Table.from_pylist(rows, schema=schema)
