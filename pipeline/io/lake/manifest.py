"""The compaction manifest, and what a reader must do with it to see each row exactly once.

A table's manifest (``_newswire/compaction/<table>.json``) names, per partition folder, the live
compacted files and the batch files they replaced. :func:`live_files` is the reader's side of the
protocol: it reads the manifest FIRST and lists the folders AFTER, so a file the manifest hides or does
not name yet is never returned, and every file returned stays on disk for the grace period after a
later manifest stops naming it (see :mod:`pipeline.io.lake.compaction` for the writer's side).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Optional

from pipeline.io.lake.layout import LakeLayout
from pipeline.io.lake.names import parse_data_file_name
from pipeline.news.schema import TABLES

MANIFEST_FORMAT = 1
_PARTITION_RE = re.compile(r"date=(?P<day>[0-9]{4}-[0-9]{2}-[0-9]{2})")
_COMPACTED_RE = re.compile(r"compacted-(?P<generation>[0-9]{6})-(?P<seq>[0-9]{4})\.parquet")


def compacted_file_name(generation: int, seq: int) -> str:
    if not (0 < generation < 1_000_000 and 0 <= seq < 10_000):
        raise ValueError("generation or sequence out of range")
    return f"compacted-{generation:06d}-{seq:04d}.parquet"


def compacted_generation(name: str) -> Optional[int]:
    """The generation of a compacted file name, None for any other name."""
    m = _COMPACTED_RE.fullmatch(name)
    return int(m["generation"]) if m else None


def is_batch_file(name: str) -> bool:
    try:
        parse_data_file_name(name)
    except ValueError:
        return False
    return True


def partition_day(dir_name: str) -> Optional[date]:
    m = _PARTITION_RE.fullmatch(dir_name)
    if not m:
        return None
    try:
        return date.fromisoformat(m["day"])
    except ValueError:
        return None


# -- the manifest ---------------------------------------------------------------------------


@dataclass
class PartitionEntry:
    """The compacted state of one partition folder."""

    generation: int
    files: list[str]  # live compacted files (any generation up to ``generation``)
    replaced: list[str]  # batch files whose rows are in ``files``; hidden until deleted


@dataclass(frozen=True)
class RetiredFile:
    path: str  # relative to the table folder: date=.../name
    retired_at: datetime


@dataclass
class Manifest:
    """Which compacted files are live and which files wait for deletion, for one table."""

    table: str
    partitions: dict[str, PartitionEntry] = field(default_factory=dict)
    retired: list[RetiredFile] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": MANIFEST_FORMAT,
                "table": self.table,
                "partitions": {
                    name: {"generation": e.generation, "files": sorted(e.files), "replaced": sorted(e.replaced)}
                    for name, e in sorted(self.partitions.items())
                },
                "retired": [
                    {"path": r.path, "retired_at": r.retired_at.isoformat()}
                    for r in sorted(self.retired, key=lambda r: (r.path, r.retired_at))
                ],
            },
            indent=1,
        )

    @staticmethod
    def from_json(text: str) -> "Manifest":
        obj = json.loads(text)
        if obj.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"unsupported compaction manifest format {obj.get('format')!r}")
        return Manifest(
            table=str(obj["table"]),
            partitions={
                str(name): PartitionEntry(int(e["generation"]), list(e["files"]), list(e["replaced"]))
                for name, e in obj["partitions"].items()
            },
            retired=[RetiredFile(str(r["path"]), datetime.fromisoformat(r["retired_at"])) for r in obj["retired"]],
        )


def compaction_dir(layout: LakeLayout) -> Path:
    return layout.meta / "compaction"


def manifest_path(layout: LakeLayout, table: str) -> Path:
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}")
    return compaction_dir(layout) / f"{table}.json"


def load_manifest(layout: LakeLayout, table: str) -> Manifest:
    path = manifest_path(layout, table)
    try:
        return Manifest.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Manifest(table=table)


# -- what readers read -----------------------------------------------------------------------


def partition_dirs(table_dir: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(table_dir) if e.is_dir() and _PARTITION_RE.fullmatch(e.name))
    except FileNotFoundError:
        return []


def parquet_names(folder: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(folder) if e.name.endswith(".parquet") and not e.name.startswith("."))
    except FileNotFoundError:
        return []


def live_files(layout: LakeLayout, table: str) -> list[str]:
    """Absolute paths of the files that hold ``table``'s rows right now, each row exactly once.

    The manifest is read before the folders are listed: a file the manifest hides or does not name
    yet is never returned, and every file returned stays on disk for the grace period after a later
    manifest stops naming it.
    """
    manifest = load_manifest(layout, table)
    table_dir = layout.table_dir(table)
    out: list[str] = []
    for part in sorted(set(partition_dirs(table_dir)) | set(manifest.partitions)):
        entry = manifest.partitions.get(part)
        hidden = set(entry.replaced) if entry else set()
        folder = table_dir / part
        for name in parquet_names(folder):
            if compacted_generation(name) is None and name not in hidden:
                out.append(str(folder / name))
        if entry:
            out.extend(str(folder / name) for name in sorted(entry.files))
    return out
