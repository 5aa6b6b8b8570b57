"""Contract test: the code's schemas, the documented ``schemas/`` files and the DuckDB views stay in step."""
from __future__ import annotations

import json
import re
import string
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipeline.news import rows
from pipeline.io.lake import query as sql
from pipeline.news.clean import clean_article
from pipeline.news.decode import decode_message, partition_date
from pipeline.io.lake.durable import write_parquet_durable
from pipeline.io.lake.layout import LakeLayout, rows_to_table
from pipeline.io.lake.names import data_file_name
from pipeline.news.model import ErrorCode, KafkaRecord
from pipeline.news.schema import SCHEMAS_DIR, TABLES, load_contract, schema_to_json

UTC = timezone.utc
VIEWS = ["articles", "cluster_remaps", "clusters", "dead_letters", "entities", "stories", "story_entities", "unique_stories"]
INGESTED_AT = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)

# Arrow type (as written in schemas/*.arrow.json) -> the type DuckDB shows for it.
DUCKDB_TYPES = {
    "string": "VARCHAR",
    "int64": "BIGINT",
    "int32": "INTEGER",
    "timestamp[us, tz=UTC]": "TIMESTAMP WITH TIME ZONE",
    "binary": "BLOB",
    "list<item: string>": "VARCHAR[]",
    "double": "DOUBLE",
    "list<item: struct<canonical: string not null, label: string not null, count: int32 not null>>": (
        'STRUCT(canonical VARCHAR, "label" VARCHAR, count INTEGER)[]'
    ),
}


def contract_columns(table: str) -> list[str]:
    return [f["name"] for f in load_contract(table)]


def describe(con: duckdb.DuckDBPyConnection, view: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(f"DESCRIBE {view}").fetchall()]


def expected_described(table: str) -> list[tuple[str, str]]:
    return [(f["name"], DUCKDB_TYPES[f["type"]]) for f in load_contract(table)] + [("date", "DATE")]


def views_sql_text() -> str:
    return (SCHEMAS_DIR / "views.sql").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- schemas/ vs code


@pytest.mark.parametrize("table", sorted(TABLES))
def test_code_schema_equals_contract_file(table):
    assert schema_to_json(TABLES[table]) == load_contract(table)


@pytest.mark.parametrize("table", sorted(TABLES))
def test_contract_file_metadata(table):
    doc = json.loads((SCHEMAS_DIR / f"{table}.arrow.json").read_text(encoding="utf-8"))
    assert doc["table"] == table
    assert doc["partitioning"] == ["date"]
    assert isinstance(doc.get("description"), str) and doc["description"].strip()
    names = [f["name"] for f in doc["fields"]]
    assert len(names) == len(set(names)), "duplicate column in contract"
    assert "date" not in names, "the partition column is not stored in the files"


def test_every_contract_file_belongs_to_a_table():
    files = sorted(p.name for p in SCHEMAS_DIR.glob("*.arrow.json"))
    assert files == sorted(f"{t}.arrow.json" for t in TABLES)


def test_every_contract_type_has_a_known_duckdb_type():
    for table in TABLES:
        unknown = {f["type"] for f in load_contract(table)} - set(DUCKDB_TYPES)
        assert not unknown, f"{table}: no DuckDB type mapping for {unknown}; extend DUCKDB_TYPES"


@pytest.mark.parametrize("path", sorted(SCHEMAS_DIR.glob("*.json")), ids=lambda p: p.name)
def test_schema_json_files_are_valid_json(path):
    """Covers schemas/*.arrow.json and, when present, schemas/ninjs.input.schema.json."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict), f"{path.name}: top level must be an object"


NINJS_INPUT_SCHEMA = SCHEMAS_DIR / "ninjs.input.schema.json"

if NINJS_INPUT_SCHEMA.exists():  # documented input contract; only tested where the file is shipped

    def test_ninjs_input_schema_is_valid_json():
        def reject(name):
            raise ValueError(f"non-standard JSON constant {name}")

        doc = json.loads(NINJS_INPUT_SCHEMA.read_text(encoding="utf-8"), parse_constant=reject)
        assert isinstance(doc, dict)
        assert isinstance(doc.get("$schema"), str) and doc["$schema"].startswith("https://json-schema.org/")
        assert doc.get("type") == "object"


# --------------------------------------------------------------------------- views.sql


def test_views_sql_defines_exactly_the_views():
    text = re.sub(r"--[^\n]*", "", views_sql_text())
    defined = re.findall(r"\bCREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+([A-Za-z_][A-Za-z0-9_]*)", text, flags=re.IGNORECASE)
    assert sorted(defined) == VIEWS
    assert len(re.findall(r"\bCREATE\b", text, flags=re.IGNORECASE)) == len(VIEWS), "only views are created"


def test_views_sql_placeholders_are_exactly_the_tables():
    fields = {name for _, name, _, _ in string.Formatter().parse(views_sql_text()) if name is not None}
    assert fields == set(TABLES)


# --------------------------------------------------------------------------- DuckDB views


def user_views(con: duckdb.DuckDBPyConnection) -> set[str]:
    names = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    return {n for n in names if not n.startswith("_empty_")}  # the registered empty sources


def test_empty_lake_has_all_views_with_contract_columns(tmp_path):
    lake = tmp_path / "lake"
    LakeLayout(lake).ensure()
    con = sql.connect(lake)
    assert user_views(con) == set(VIEWS)
    for table in TABLES:
        assert [c for c, _ in describe(con, table)] == contract_columns(table) + ["date"]
        assert describe(con, table) == expected_described(table)
        assert con.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
    assert describe(con, "stories") == describe(con, "articles"), "stories must not add or drop columns"
    assert con.execute("SELECT count(*) FROM stories").fetchone() == (0,)


def test_lake_without_any_folder_still_connects(tmp_path):
    con = sql.connect(tmp_path / "never-created")
    assert user_views(con) == set(VIEWS)


# --------------------------------------------------------------------------- real files


def ninjs(
    story: str,
    version: int,
    pubstatus: str = "usable",
    firstcreated: str = "2026-11-23T08:00:00Z",
    versioncreated: str | None = None,
    embargoed: str | None = None,
) -> bytes:
    doc = {
        "uri": story,
        "version": version,
        "firstcreated": firstcreated,
        "versioncreated": versioncreated or f"2026-11-24T{version % 24:02d}:00:00Z",
        "pubstatus": pubstatus,
        "headline": f"{story} v{version} ({pubstatus})",
        "body_text": "Body.",
        "language": "en",
    }
    if embargoed is not None:
        doc["embargoed"] = embargoed
    return json.dumps(doc).encode()


def article_rows(messages: list[bytes], partition: int = 0, first_offset: int = 0) -> dict[date, list[dict]]:
    """Decoded rows grouped by partition date, as the pipeline would write them."""
    by_day: dict[date, list[dict]] = {}
    for i, value in enumerate(messages):
        rec = KafkaRecord("wire", partition, first_offset + i, b"k", value, 1_795_000_000_000)
        article = clean_article(decode_message(value))
        day = partition_date(article, INGESTED_AT)
        row = rows.article_row(article, rec, day, INGESTED_AT, 3)
        by_day.setdefault(row.pop("_date"), []).append(row)
    return by_day


def write_articles(lake: Path, messages: list[bytes], partition: int = 0, first_offset: int = 0) -> None:
    for day, day_rows in article_rows(messages, partition, first_offset).items():
        name = data_file_name("wire", partition, day_rows[0]["offset"])
        write_parquet_durable(rows_to_table(day_rows, "articles"), lake / "articles" / f"date={day.isoformat()}" / name)


def write_dead_letter(lake: Path) -> bytes:
    raw = b"\xff\x00 not a story"
    letter = rows.dead_letter(KafkaRecord("wire", 1, 9, b"key", raw, None), "decode", ErrorCode.INVALID_UTF8, "bad")
    row = rows.dead_letter_row(letter, INGESTED_AT, 3)
    day = row.pop("_date")
    write_parquet_durable(
        rows_to_table([row], "dead_letters"),
        lake / "dead_letters" / f"date={day.isoformat()}" / data_file_name("wire", 1, 9),
    )
    return raw


def test_articles_view_types_over_real_parquet_file(tmp_path):
    lake = tmp_path / "lake"
    rows_ = [
        {
            "story_id": "urn:x",
            "version": 1,
            "provider": "AFP",
            "headline": "Headline",
            "body_text": "Body",
            "paragraphs": 1,
            "word_count": 1,
            "captions": ["(AFP Photo / Jane Doe)"],
            "dateline": "PARIS",
            "byline": None,
            "located": "Paris",
            "language": "fr",
            "url": None,
            "first_created": datetime(2026, 11, 24, 7, 0, tzinfo=UTC),
            "version_created": datetime(2026, 11, 24, 7, 5, tzinfo=UTC),
            "pubstatus": "usable",
            "embargoed_until": None,
            "entities": [{"canonical": "Paris", "label": "GPE", "count": 2}],
            "cluster_id": "urn:x",
            "duplicate_of": None,
            "dup_kind": "original",
            "similarity": None,
            "content_hash": "0" * 64,
            "source_format": "ninjs",
            "topic": "wire",
            "partition": 2,
            "offset": 41,
            "kafka_timestamp": None,
            "ingested_at": INGESTED_AT,
            "batch_id": 3,
        }
    ]
    path = lake / "articles" / "date=2026-11-24" / data_file_name("wire", 2, 41)
    write_parquet_durable(rows_to_table(rows_, "articles"), path)
    raw = write_dead_letter(lake)
    assert pq.read_table(path).schema.equals(TABLES["articles"])

    con = sql.connect(lake)
    assert user_views(con) == set(VIEWS)
    for table in TABLES:
        assert describe(con, table) == expected_described(table), table
    assert describe(con, "stories") == describe(con, "articles")

    got = con.execute('SELECT story_id, version, "partition", "offset", first_created, date FROM articles').fetchall()
    assert got == [("urn:x", 1, 2, 41, datetime(2026, 11, 24, 7, 0, tzinfo=UTC), date(2026, 11, 24))]
    nested = con.execute("SELECT captions, entities[1].canonical, entities[1].count FROM articles").fetchall()
    assert nested == [(["(AFP Photo / Jane Doe)"], "Paris", 2)]
    dead = con.execute('SELECT "offset", key, raw, error_code, date FROM dead_letters').fetchall()
    assert dead == [(9, b"key", raw, "invalid_utf8", date(2026, 11, 25))]


def test_stories_view_shows_latest_version_and_hides_canceled(tmp_path):
    lake = tmp_path / "lake"
    messages = [
        ninjs("urn:updated", 1),
        ninjs("urn:updated", 2),
        ninjs("urn:killed", 1),
        ninjs("urn:killed", 2, pubstatus="canceled"),
        ninjs("urn:killed-then-updated", 1, pubstatus="canceled"),
        ninjs("urn:killed-then-updated", 2),
        ninjs("urn:numeric", 10),  # numeric order: 10 is newer than 9
        ninjs("urn:single", 1, firstcreated="2026-11-24T01:00:00Z"),
    ]
    write_articles(lake, messages)
    # a later version, delivered on another partition and earlier in it, in another date folder
    write_articles(lake, [ninjs("urn:updated", 3, firstcreated="2026-11-24T08:00:00Z"), ninjs("urn:numeric", 9)],
                   partition=1, first_offset=0)
    con = sql.connect(lake)

    stories = con.execute("SELECT story_id, version, pubstatus FROM stories ORDER BY story_id").fetchall()
    assert stories == [
        ("urn:numeric", 10, "usable"),
        ("urn:single", 1, "usable"),
        ("urn:updated", 3, "usable"),
    ]

    articles = con.execute("SELECT story_id, version FROM articles ORDER BY story_id, version").fetchall()
    assert articles == [
        ("urn:killed", 1),
        ("urn:killed", 2),
        ("urn:killed-then-updated", 1),
        ("urn:killed-then-updated", 2),
        ("urn:numeric", 9),
        ("urn:numeric", 10),
        ("urn:single", 1),
        ("urn:updated", 1),
        ("urn:updated", 2),
        ("urn:updated", 3),
    ]
    assert con.execute("SELECT count(*) FROM articles WHERE pubstatus = 'canceled'").fetchone() == (2,)
    dates = dict(con.execute("SELECT story_id || '/' || version, date FROM articles").fetchall())
    assert dates["urn:updated/3"] == date(2026, 11, 24) and dates["urn:updated/1"] == date(2026, 11, 23)
    assert con.execute("SELECT count(DISTINCT date) FROM stories").fetchone() == (2,)


def test_stories_view_withheld_embargo_and_arrival_order(tmp_path):
    lake = tmp_path / "lake"
    past, future = "2020-01-01T00:00:00Z", "2099-01-01T00:00:00Z"
    write_articles(lake, [
        ninjs("urn:withheld", 1),
        ninjs("urn:withheld", 2, pubstatus="withheld"),
        ninjs("urn:withheld-then-fixed", 1, pubstatus="withheld"),
        ninjs("urn:withheld-then-fixed", 2),
        ninjs("urn:embargo-future", 1, embargoed=future),
        ninjs("urn:embargo-past", 1, pubstatus="embargoed", embargoed=past),
        ninjs("urn:embargo-no-time", 1, pubstatus="embargoed"),
        ninjs("urn:embargo-lifted-by-update", 1, embargoed=future),
        ninjs("urn:embargo-lifted-by-update", 2),
    ])
    # version 2 arrived before version 1, on another partition
    write_articles(lake, [ninjs("urn:reordered", 2)], partition=1)
    write_articles(lake, [ninjs("urn:reordered", 1)], partition=2)
    con = sql.connect(lake)
    stories = dict(con.execute("SELECT story_id, version FROM stories").fetchall())
    assert stories == {
        "urn:withheld-then-fixed": 2,
        "urn:embargo-past": 1,
        "urn:embargo-lifted-by-update": 2,
        "urn:reordered": 2,
    }
    assert con.execute("SELECT count(*) FROM articles").fetchone() == (11,)


def write_remap(lake: Path, cluster_from: str, cluster_to: str, batch_id: int) -> None:
    row = {"cluster_from": cluster_from, "cluster_to": cluster_to, "batch_id": batch_id, "remapped_at": INGESTED_AT}
    write_parquet_durable(
        rows_to_table([row], "cluster_remaps"),
        lake / "cluster_remaps" / "date=2026-11-25" / data_file_name("clusters", 0, batch_id),
    )


def test_cluster_views_resolve_merges_and_measure_republication(tmp_path):
    lake = tmp_path / "lake"
    by_day = article_rows([
        ninjs("urn:a", 1, firstcreated="2026-11-24T08:00:00Z"),
        ninjs("urn:b", 1, firstcreated="2026-11-24T08:30:00Z"),
        ninjs("urn:c", 1, firstcreated="2026-11-24T07:00:00Z"),
        ninjs("urn:lone", 1, firstcreated="2026-11-24T09:00:00Z"),
    ])
    [day_rows] = by_day.values()
    rows_by_id = {r["story_id"]: r for r in day_rows}
    rows_by_id["urn:a"]["provider"] = "AFP"
    rows_by_id["urn:b"].update(cluster_id="urn:a", duplicate_of="urn:a", dup_kind="exact", similarity=1.0, provider="Le Monde")
    rows_by_id["urn:c"]["provider"] = "AFP"
    write_parquet_durable(rows_to_table(day_rows, "articles"),
                          lake / "articles" / "date=2026-11-24" / data_file_name("wire", 0, 0))
    write_remap(lake, "urn:a", "urn:other", 4)  # an older remap of the same id...
    write_remap(lake, "urn:a", "urn:c", 5)  # ...replaced by the latest: urn:c arrived later but is earlier
    con = sql.connect(lake)

    got = con.execute("SELECT story_id, cluster_id, dup_kind, duplicate_of, similarity FROM articles ORDER BY story_id").fetchall()
    assert got == [
        ("urn:a", "urn:c", "near", "urn:c", None),
        ("urn:b", "urn:c", "exact", "urn:a", 1.0),
        ("urn:c", "urn:c", "original", None, None),
        ("urn:lone", "urn:lone", "original", None, None),
    ]
    clusters = con.execute(
        "SELECT cluster_id, members, exact_copies, near_copies, providers, republication_delays_s, copies "
        "FROM clusters ORDER BY cluster_id"
    ).fetchall()
    assert clusters == [
        ("urn:c", 3, 1, 1, ["AFP", "Le Monde"], [3600.0, 5400.0], ["urn:a", "urn:b"]),
        ("urn:lone", 1, 0, 0, [], [], []),
    ]
    unique = con.execute("SELECT story_id, cluster_members FROM unique_stories ORDER BY story_id").fetchall()
    assert unique == [("urn:c", 3), ("urn:lone", 1)]
