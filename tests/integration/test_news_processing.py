"""A mixed-format feed through the real broker: formats, cleaning, wire semantics and entities in DuckDB."""
from __future__ import annotations

import html
import json
from pathlib import Path

from conftest import newswire
from tests.support.lake_checks import assert_lake_files_sound

from pipeline.news.clean import count_words
from pipeline.ops.demo import format_samples
from pipeline.ops.compose import produce
from pipeline.io.lake.query import connect

SEED_LINES = [
    line.strip()
    for line in (Path(__file__).resolve().parents[1] / "fixtures" / "seed_article.txt").read_text("utf-8").splitlines()
    if line.strip()
]
SEED_ID = "urn:newsml:afp.com:20241117:seed-atacms-republished"
CAPTION_LINES = [SEED_LINES[0], SEED_LINES[7]]  # the two photo captions of the republished AFP story


def ninjs2(uri: str, version: int, paragraphs: list[str], **fields) -> bytes:
    doc = {
        "uri": uri,
        "version": version,
        "type": "text",
        "language": "en",
        "firstcreated": "2026-11-24T18:02:11Z",
        "versioncreated": f"2026-11-24T{18 + version:02d}:00:00Z",
        "copyrightholder": "AFP",
        "headlines": [{"role": "main", "value": "Biden authorizes Ukraine to use long-range US missiles inside Russia"}],
        "bodies": [{"role": "main", "contenttype": "text/html",
                    "value": "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs)}],
        "people": [{"name": "Volodymyr Zelensky", "rel": "mentioned"}],
        "subjects": [{"name": "Ukraine-Russia war", "uri": "http://cv.iptc.org/newscodes/mediatopic/20000001"}],
    }
    doc.update(fields)
    return json.dumps(doc).encode()


def simple(uri: str, version: int, **fields) -> bytes:
    doc = {"uri": uri, "version": version, "headline": f"{uri} v{version}",
           "body_text": "Officials in Brussels met on Tuesday to discuss the plan.", "firstcreated": "2026-11-24T08:00:00Z"}
    doc.update(fields)
    return json.dumps(doc).encode()


def test_mixed_format_feed_lands_as_clean_current_stories_with_entities(kafka_bootstrap, topic, tmp_path):
    seed_v1 = ninjs2(SEED_ID, 1, SEED_LINES[:-1])
    seed_v2 = ninjs2(SEED_ID, 2, SEED_LINES)  # the update adds the last paragraph
    unknown = [b'{"feed": "not a story", "items": []}', b'<rss version="2.0"><channel><title>x</title></channel></rss>']
    doctype = b'<?xml version="1.0"?><!DOCTYPE newsItem [<!ENTITY x "boom">]><newsItem guid="urn:x">&x;</newsItem>'
    script_only = json.dumps({"uri": "urn:test:script-only", "body_html": "<script>track()</script>"}).encode()
    messages = [
        (b"seed", seed_v2, 0),  # version 2 arrives first...
        *((None, value, i % 3) for i, (_name, value) in enumerate(format_samples())),
        (b"killed", simple("urn:test:killed", 1), 1),
        (b"killed", simple("urn:test:killed", 2, pubstatus="canceled"), 1),
        (b"withheld", simple("urn:test:withheld", 1, pubstatus="withheld"), 2),
        (b"withheld", simple("urn:test:withheld", 2), 2),
        (b"embargo", simple("urn:test:embargoed", 1, embargoed="2099-01-01T00:00:00Z"), 0),
        (None, unknown[0], 0), (None, unknown[1], 1), (None, doctype, 2), (None, script_only, 0),
        (b"seed", seed_v1, 1),  # ...and version 1 later, on another partition
    ]
    offsets = produce(kafka_bootstrap, topic, messages)
    lake = tmp_path / "lake"
    result = newswire(
        "run", "--bootstrap-servers", kafka_bootstrap, "--topic", topic, "--lake", str(lake),
        "--group-id", "g-news", "--trigger-interval", "0.2", "--until-idle", "3", "--max-records-per-batch", "9",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert_lake_files_sound(lake)
    con = connect(lake)

    # --- formats: every input format landed; the unknown ones are dead letters with a clear code
    formats = {r[0] for r in con.execute("SELECT DISTINCT source_format FROM articles").fetchall()}
    assert formats == {"ninjs", "ninjs-3", "newsml-g2", "plain-json"}
    letters = con.execute('SELECT "partition", "offset", stage, error_code FROM dead_letters').fetchall()
    where = {offsets[i]: i for i in range(len(messages))}
    by_message = {where[(p, o)]: (stage, code) for p, o, stage, code in letters}
    n = len(messages)
    assert by_message == {
        n - 5: ("decode", "unknown_format"),
        n - 4: ("decode", "unknown_format"),
        n - 3: ("decode", "invalid_xml"),
        n - 2: ("clean", "no_content"),
    }

    # --- wire semantics: newest version wins whatever the arrival order; kills, withholds, embargoes
    stories = dict(con.execute("SELECT story_id, version FROM stories").fetchall())
    assert stories[SEED_ID] == 2
    assert stories["urn:test:withheld"] == 2
    assert "urn:test:killed" not in stories and "urn:test:embargoed" not in stories
    assert "tag:reuters.com,2026:newsml_L8N3ZLF7C" not in stories  # the withheld Reuters sample
    assert con.execute("SELECT count(*) FROM articles WHERE story_id IN ('urn:test:killed', 'urn:test:embargoed')"
                       ).fetchone() == (3,), "articles keeps every version for audit"

    # --- cleaning: captions and dateline out of the body, no sentence of the story lost
    dateline, captions, body, paragraphs, words = con.execute(
        "SELECT dateline, captions, body_text, paragraphs, word_count FROM stories WHERE story_id = ?", [SEED_ID]
    ).fetchone()
    assert dateline == "Washington"
    assert captions == CAPTION_LINES
    assert not any(caption in body for caption in CAPTION_LINES)
    story_lines = [line for line in SEED_LINES if line not in CAPTION_LINES]
    story_lines[0] = story_lines[0].removeprefix("Washington: ")
    assert body.split("\n\n") == story_lines
    assert paragraphs == len(story_lines) and words == count_words(body)

    # --- entities: canonical names per story, provider tags kept, the analyst's question answered
    seed_entities = {
        (c, label): count
        for c, label, count in con.execute(
            "SELECT canonical, label, count(*) FILTER (WHERE source = 'model') FROM story_entities "
            "WHERE story_id = ? GROUP BY ALL", [SEED_ID]
        ).fetchall()
    }
    for person in ("Volodymyr Zelensky", "Joe Biden", "Vladimir Putin", "Emmanuel Macron", "Keir Starmer"):
        assert seed_entities.get((person, "PERSON"), 0) >= 1, person
    assert seed_entities[("Joe Biden", "PERSON")] >= 3
    assert ("Ukraine-Russia war", "SUBJECT") in seed_entities
    assert not any(c.startswith(("US President", "President ")) for c, label in seed_entities if label == "PERSON")
    summary = con.execute(
        "SELECT entities FROM stories WHERE story_id = ?", [SEED_ID]
    ).fetchone()[0]
    assert {"canonical": "Joe Biden", "label": "PERSON", "count": seed_entities[("Joe Biden", "PERSON")]} in summary

    both = {r[0] for r in con.execute(
        "SELECT story_id FROM stories "
        "WHERE story_id IN (SELECT story_id FROM story_entities WHERE canonical ILIKE '%zelensk%') "
        "AND story_id IN (SELECT story_id FROM story_entities WHERE canonical = 'ATACMS')"
    ).fetchall()}
    assert SEED_ID in both
    assert "urn:test:withheld" not in both

    # offsets of model mentions index the stored body text
    for text, start, end, body_text in con.execute(
        "SELECT e.text, e.start_char, e.end_char, a.body_text FROM entities e "
        "JOIN articles a USING (story_id, version) WHERE e.source = 'model' LIMIT 200"
    ).fetchall():
        assert body_text[start:end] == text
    # entities of version 1 are kept for audit, but story_entities only shows the current version
    assert con.execute("SELECT count(DISTINCT version) FROM entities WHERE story_id = ?", [SEED_ID]).fetchone() == (2,)
    assert con.execute("SELECT DISTINCT version FROM story_entities WHERE story_id = ?", [SEED_ID]).fetchall() == [(2,)]
