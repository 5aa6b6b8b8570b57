"""What a reader sees of an object-store lake: the data files of committed batches, as pyarrow datasets.

DuckDB reads ``s3://``/``gs://`` only through its httpfs extension, which it downloads at run time from
DuckDB's own extension host (no PyPI build matches the pinned DuckDB, and air-gapped deployments have
no such host). So ``newswire sql`` lists the lake with the same pyarrow filesystem the job writes
with (same credentials and endpoint settings) and registers one pyarrow dataset per table into
DuckDB, which scans it with projection and filter pushdown.

Object stores cannot publish a batch's files atomically, so a listing may include files of a batch
whose commit-log entry is not written yet. Those are left out: every data file is named
``part-<topic>-<partition>-<first offset>`` and a batch only covers offsets at or above the previous
commit's end offsets, so a file belongs to a committed batch exactly when its first offset is below
the latest commit's end offset of its topic-partition (``cluster_remaps`` files are named by batch id
instead). The latest commit is read BEFORE listing: every file of that commit was uploaded before
the commit entry and S3/GCS list after write consistently, so a connection sees exactly the lake as
of one commit, however many batches land while it is open.
"""
from __future__ import annotations

from typing import Optional

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from pipeline.io.lake.commitlog import BatchCommit, CommitLog
from pipeline.io.lake.layout import LakeLayout
from pipeline.io.lake.names import parse_data_file_name
from pipeline.news.schema import TABLES, view_schema

DATE_PARTITIONING = ds.partitioning(pa.schema([pa.field("date", pa.date32())]), flavor="hive")


def is_committed(table: str, file_name: str, latest: Optional[BatchCommit]) -> bool:
    """Whether a data file belongs to a batch at or before ``latest`` (unknown names are not shown)."""
    if latest is None:
        return False
    try:
        topic, partition, first = parse_data_file_name(file_name)
    except ValueError:
        return False
    if table == "cluster_remaps":  # one file per batch, named by the batch id (names.REMAP_TOPIC)
        return first <= latest.batch_id
    return first < latest.end_offsets.get((topic, partition), 0)


def committed_files(layout: LakeLayout) -> dict[str, list[str]]:
    """Filesystem paths of every committed data file, per table."""
    latest = CommitLog(layout).latest_commit()
    found: dict[str, list[str]] = {}
    for table in TABLES:
        paths = layout.storage.list_files(layout.table_dir(table))
        found[table] = [
            p for p in paths
            if p.rsplit("/", 2)[-2].startswith("date=") and is_committed(table, p.rsplit("/", 1)[-1], latest)
        ]
    return found


def register_tables(con: duckdb.DuckDBPyConnection, layout: LakeLayout) -> dict[str, str]:
    """Register each table's committed files into ``con``; returns the view sources by table."""
    sources = {}
    for table, paths in committed_files(layout).items():
        schema = view_schema(table)
        if paths:
            data = ds.dataset(paths, schema=schema, format="parquet", filesystem=layout.storage.fs,
                              partitioning=DATE_PARTITIONING, partition_base_dir=str(layout.table_dir(table)))
        else:
            data = pa.Table.from_batches([], schema=schema)
        name = f"_lake_{table}"
        con.register(name, data)
        sources[table] = name
    return sources
