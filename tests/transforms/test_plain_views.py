"""`newswire views`: the views as one SQL file for plain DuckDB, exact before, during and after compaction.

The file is read by a separate Python process that imports duckdb and nothing of newswire (as the
DuckDB CLI or a notebook would), and every view is compared row for row with ``newswire sql``'s views.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import timedelta

import pytest

from pipeline.io.lake.compaction import FAULT_POINTS, CompactionOptions, compact_lake
from pipeline.io.lake.layout import LakeLayout
from pipeline.io.lake.plain_views import UnsupportedLakePath, plain_views_sql
from pipeline.ops.cli import main
from test_compaction_lake import Clock, base, copy_of  # noqa: F401  (the module-scoped lake fixture)
from tests.support.lake_views import VIEWS, view_contents

PLAIN_READER = r"""
import json, sys
import duckdb
assert not any(m.startswith("pipeline") for m in sys.modules)
con = duckdb.connect()
con.execute(open(sys.argv[1], encoding="utf-8").read())
out = {}
for view in json.loads(sys.argv[2]):
    cur = con.execute(f"SELECT * FROM {view}")
    out[view] = [[[d[0], str(d[1])] for d in cur.description], sorted((repr(r) for r in cur.fetchall()))]
assert not any(m.startswith("pipeline") for m in sys.modules), "newswire was imported"
print(json.dumps(out))
"""


def plain_contents(sql_file) -> dict:
    done = subprocess.run([sys.executable, "-c", PLAIN_READER, str(sql_file), json.dumps(VIEWS)],
                          capture_output=True, text=True, timeout=120, cwd="/")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def as_plain(contents: dict) -> dict:
    """``view_contents`` in the plain reader's form (rows by repr, columns as name/type pairs)."""
    return {v: [[list(c) for c in cols], sorted(repr(r) for r in rows)] for v, (cols, rows) in contents.items()}


def write_views(root, path):
    path.write_text(plain_views_sql(LakeLayout(root)), encoding="utf-8")
    return path


def test_plain_views_match_the_python_views_row_for_row(base, tmp_path):  # noqa: F811
    root = copy_of(base, tmp_path)
    expected = as_plain(view_contents(root))
    assert sum(len(rows) for _cols, rows in expected.values()) > 50
    assert plain_contents(write_views(root, tmp_path / "views.sql")) == expected


@pytest.mark.parametrize("point", FAULT_POINTS)
def test_plain_views_stay_exact_while_a_compaction_runs(base, tmp_path, point):  # noqa: F811
    """Paused at each step of a compaction, a file read then (and one read before it started) is exact.

    Replaced files are deleted only after the grace period; to reach the deleting steps this run uses
    no grace, and then a snapshot read before the flip is rightly gone, so only the fresh one is checked.
    """
    root = copy_of(base, tmp_path)
    expected = as_plain(view_contents(root))
    deletes = point in ("deleted", "cleaned")
    early = write_views(root, tmp_path / "read-before.sql")  # a session that read the file before compacting
    paused, resume = threading.Event(), threading.Event()

    def pause(name: str) -> None:
        if name == point:
            paused.set()
            assert resume.wait(120)

    options = CompactionOptions(include_open=True, grace=timedelta(0) if deletes else timedelta(hours=1))
    worker = threading.Thread(target=compact_lake, args=(root, options), kwargs={"clock": Clock(), "fault_hook": pause})
    worker.start()
    try:
        assert paused.wait(120), f"compaction never reached {point}"
        assert plain_contents(write_views(root, tmp_path / "read-during.sql")) == expected
        if not deletes:
            assert plain_contents(early) == expected
    finally:
        resume.set()
        worker.join(120)
    assert plain_contents(write_views(root, tmp_path / "read-after.sql")) == expected
    if not deletes:
        assert plain_contents(early) == expected, "files of an earlier snapshot stay for the grace period"


def test_empty_lake_and_command_line(tmp_path, capsys):
    lake = tmp_path / "lake"
    LakeLayout(lake).ensure()
    assert main(["views", "--lake", str(lake)]) == 0
    sql = capsys.readouterr().out
    (tmp_path / "views.sql").write_text(sql, encoding="utf-8")
    contents = plain_contents(tmp_path / "views.sql")
    assert set(contents) == set(VIEWS) and all(rows == [] for _cols, rows in contents.values())
    assert contents["articles"][0] == as_plain(view_contents(lake))["articles"][0]  # same columns and types


def test_lake_paths_duckdb_would_read_as_a_pattern_are_refused(tmp_path):
    lake = tmp_path / "lake[1]"
    LakeLayout(lake).ensure()
    with pytest.raises(UnsupportedLakePath, match="glob characters"):
        plain_views_sql(LakeLayout(lake))
