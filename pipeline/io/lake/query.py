"""DuckDB access to the lake: the views in ``schemas/views.sql`` over the published Parquet files."""
from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from typing import Optional

import duckdb
import pyarrow as pa

from pipeline.io.lake.manifest import live_files
from pipeline.io.lake.layout import dataset_files
from pipeline.io.lake.layout import open_lake
from pipeline.io.lake.location import LakeLocation
from pipeline.news.schema import SCHEMAS_DIR, TABLES, view_schema

VIEWS_FILE = SCHEMAS_DIR / "views.sql"
LIVE_FILES_FUNCTION = "newswire_live_files"


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def connect(lake: LakeLocation, con: Optional[duckdb.DuckDBPyConnection] = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the lake's views.

    Every query asks ``pipeline.io.lake.manifest.live_files`` for each table's files when it starts, so new
    batches show up and a compaction running meanwhile is invisible (see pipeline/io/lake/compaction.py). An
    object-store lake is read as of its latest commit when connecting (see pipeline/io/lake/reader.py).
    """
    con = con or duckdb.connect()
    layout = open_lake(lake)
    if not layout.storage.is_local:
        from pipeline.io.lake.reader import register_tables

        con.execute(VIEWS_FILE.read_text(encoding="utf-8").format(**register_tables(con, layout)))
        return con
    try:
        con.remove_function(LIVE_FILES_FUNCTION)
    except duckdb.InvalidInputException:
        pass  # a fresh connection
    con.create_function(
        LIVE_FILES_FUNCTION, lambda table: live_files(layout, table), ["VARCHAR"], "VARCHAR[]", side_effects=True
    )
    sources = {}
    for table in TABLES:
        if dataset_files(layout, table):
            files = f"{LIVE_FILES_FUNCTION}({_sql_string(table)})"
            sources[table] = f"read_parquet({files}, hive_partitioning = true, union_by_name = true)"
        else:
            empty = pa.Table.from_batches([], schema=view_schema(table))
            con.register(f"_empty_{table}", empty)
            sources[table] = f"_empty_{table}"
    con.execute(VIEWS_FILE.read_text(encoding="utf-8").format(**sources))
    return con


def _plain(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def run_query(lake: LakeLocation, query: str, fmt: str = "table", max_width: int = 60) -> str:
    """Run one query against the lake's views and render the result."""
    con = connect(lake)
    cursor = con.execute(query)
    if cursor.description is None:
        return ""
    columns = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    if fmt == "json":
        return json.dumps([{c: _plain(v) for c, v in zip(columns, r)} for r in rows], ensure_ascii=False, indent=1)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        writer.writerows([[_plain(v) for v in r] for r in rows])
        return out.getvalue()
    return render_table(columns, rows, max_width)


def render_table(columns: list[str], rows: list[tuple], max_width: int = 60) -> str:
    """A plain-text table for terminals; long cells are cut with an ellipsis."""

    def cell(v) -> str:
        text = "NULL" if v is None else str(_plain(v)).replace("\n", " ")
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    body = [[cell(v) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in body]) for i, c in enumerate(columns)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [line, "| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths)) + " |", line]
    out += ["| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |" for r in body]
    out.append(line)
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)
