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

from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Iterable, Optional, Sequence

import pyarrow as pa

from pipeline.io.lake.location import LakeLocation, is_object_store_uri, looks_like_uri, parse_object_store_uri
from pipeline.io.lake.names import META_DIR
from pipeline.io.lake.storage import LakeStorage, LocalStorage, ObjectStorage
from pipeline.news.schema import TABLES


@dataclass(frozen=True)
class LakeLayout:
    """Paths of one lake root, and the storage (local folder or object store) they live in."""

    root: PurePath
    storage: Optional[LakeStorage] = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.storage is None:
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
    """Publish staged files to the same relative paths in the lake, through the lake's storage.

    Publishing the same batch twice (a replay after a crash) replaces files with identical ones.
    """
    layout.storage.publish([(staging / rel, layout.root / rel) for rel in relative_files])


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


def open_lake(location: LakeLocation) -> LakeLayout:
    """The layout of a lake given as a local path or an ``s3://``/``gs://`` URI."""
    if is_object_store_uri(location):
        uri = parse_object_store_uri(str(location))
        return LakeLayout(uri.root, storage=ObjectStorage(uri))
    if looks_like_uri(location):
        parse_object_store_uri(location)  # raises the explanatory error for other schemes
    return LakeLayout(Path(location))
