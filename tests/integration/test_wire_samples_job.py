"""The real agency files of ``shared/wire-samples`` through the real broker and job, read back with DuckDB.

Every text story becomes a row with its id, version, headline and dateline and a body free of markup
and credits; the files that are not one story are dead letters that keep their bytes.
"""
from __future__ import annotations

from datetime import datetime, timezone

from conftest import FIXTURE_LOOKBACK, newswire
from tests.support.lake_checks import assert_lake_files_sound
from tests.support.wire_samples import NOT_STORIES, STORIES, wire_samples_dir

from pipeline.io.lake.query import connect
from pipeline.ops.compose import produce


def test_real_agency_files_land_as_rows_and_clear_dead_letters(kafka_bootstrap, topic, tmp_path):
    samples = wire_samples_dir()
    names = sorted(STORIES) + sorted(NOT_STORIES)
    values = {name: (samples / name).read_bytes() for name in names}
    offsets = produce(kafka_bootstrap, topic, [(name.encode(), values[name], i % 3) for i, name in enumerate(names)])
    lake = tmp_path / "lake"
    result = newswire(
        "run", "--bootstrap-servers", kafka_bootstrap, "--topic", topic, "--lake", str(lake), "--group-id", "g-wire",
        "--trigger-interval", "0.2", "--until-idle", "3", "--max-records-per-batch", "10", "--ner-processes", "1",
        *FIXTURE_LOOKBACK, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert_lake_files_sound(lake)
    con = connect(lake)

    rows = {
        (r[0], r[1]): r[2:]
        for r in con.execute(
            "SELECT story_id, version, headline, dateline, byline, paragraphs, body_text, embargoed_until FROM articles"
        ).fetchall()
    }
    # two IPTC examples share an id and version (the 2.4 and 3.1 renditions of one story; the 2.0
    # simple text and the 3.0 simple text): one row each, as for any redelivery
    expected = {(want["id"], want["version"]) for want in STORIES.values()}
    assert set(rows) == expected
    for name, want in STORIES.items():
        headline, dateline, byline, paragraphs, body, _ = rows[(want["id"], want["version"])]
        assert (headline, dateline, byline) == (want["headline"], want["dateline"], want["byline"]), name
        if want["paragraphs"] is not None:
            assert paragraphs == want["paragraphs"], name
        if want["first"] is None:
            assert paragraphs == 0 and body is None, name
        else:
            assert body.startswith(want["first"]), name
            assert "<p" not in body and "(Reporting by" not in body and "Jan 30 (Reuters)" not in body, name

    embargoed = rows[(STORIES["ninjs_embargoed.json"]["id"], 11)][-1]
    assert embargoed.astimezone(timezone.utc) == datetime(2022, 6, 29, 2, 30, tzinfo=timezone.utc)
    visible = {r[0] for r in con.execute("SELECT story_id FROM stories").fetchall()}
    assert STORIES["ninjs_embargoed.json"]["id"] in visible  # the embargo has passed

    letters = con.execute('SELECT "partition", "offset", stage, error_code, error, raw FROM dead_letters').fetchall()
    by_name = {names[offsets.index((p, o))]: (stage, code, error, raw) for p, o, stage, code, error, raw in letters}
    assert set(by_name) == set(NOT_STORIES)
    for name, (code, phrase) in NOT_STORIES.items():
        stage, got_code, error, raw = by_name[name]
        assert (stage, got_code) == ("decode", code), name
        assert phrase in error and bytes(raw) == values[name], name
