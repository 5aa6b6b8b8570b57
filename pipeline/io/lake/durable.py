"""Durable local writes: fsync before a rename makes a file visible, fsync of the folder after it."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

PARQUET_COMPRESSION = "zstd"


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


def clear_dir(path: Path) -> None:
    """Remove a staging folder left by an earlier attempt."""
    shutil.rmtree(path, ignore_errors=True)


def write_text_once(path: Path, text: str) -> None:
    """Create a small metadata file that must not exist yet: complete or absent, never replaced.

    The text is written and fsynced under a temporary name, then hard-linked to its name: the link
    fails with ``FileExistsError`` when the name exists (create-exclusive, atomic for readers).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
