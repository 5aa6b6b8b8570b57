"""What compaction tests compare: every view's full contents and the files the views read."""
from __future__ import annotations

from pathlib import Path

from pipeline.io.lake.manifest import live_files
from pipeline.io.lake.layout import LakeLayout, dataset_files
from pipeline.news.schema import TABLES
from pipeline.io.lake.query import connect

VIEWS = ("articles", "cluster_remaps", "clusters", "dead_letters", "entities", "stories", "story_entities", "unique_stories")


def view_contents(lake: Path) -> dict[str, tuple[list, list]]:
    """Per view: column names and types, and every row (in a canonical order)."""
    con = connect(lake)
    out = {}
    for view in VIEWS:
        cur = con.execute(f"SELECT * FROM {view}")
        out[view] = ([(d[0], str(d[1])) for d in cur.description], sorted(cur.fetchall(), key=repr))
    return out


def live_layout(lake: Path) -> dict[str, bytes]:
    """Path (relative to the lake) -> bytes of every file the views read."""
    layout = LakeLayout(lake)
    return {str(Path(p).relative_to(lake)): Path(p).read_bytes() for t in TABLES for p in live_files(layout, t)}


def all_data_files(lake: Path) -> set[str]:
    """Every Parquet file under the table folders, live or not."""
    layout = LakeLayout(lake)
    return {str(p.relative_to(lake)) for t in TABLES for p in dataset_files(layout, t)}
