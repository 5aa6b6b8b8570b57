"""Multi-format decoding: detection, ninjs 1.x/2.x/3.x, NewsML-G2, plain JSON, provider tags,
wire semantics (versions, pubstatus, embargo), input contracts and the sample/feed error codes.

Fixtures live in pipeline/samples/formats/ (the demo publishes them too); the contracts in schemas/.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import random
import time
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest
from lxml import etree

from pipeline.news.decode import (
    FORMAT_NEWSML_G2,
    FORMAT_NINJS,
    FORMAT_NINJS3,
    FORMAT_PLAIN_JSON,
    MAX_PROVIDER_TAGS,
    MAX_TAG_NAME_CHARS,
    SOURCE_FORMATS,
    decode_message,
    detect_format,
    looks_like_html,
    partition_date,
)
from pipeline.news.model import Article, DecodeError, ErrorCode, ProviderTag

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "pipeline" / "samples" / "formats"
SCHEMAS = ROOT / "schemas"
SAMPLES = ROOT / "pipeline" / "samples"
UTC = timezone.utc

NAR = "http://iptc.org/std/nar/2006-10-01/"
XHTML = "http://www.w3.org/1999/xhtml"

#: fixture file -> the source_format it must be detected as.
FIXTURE_FORMATS = {
    "ap_ninjs1.json": FORMAT_NINJS,
    "ap_embargoed_ninjs1.json": FORMAT_NINJS,
    "reuters_ninjs2.json": FORMAT_NINJS,
    "reuters_withheld_ninjs2.json": FORMAT_NINJS,
    "afp_ninjs3.json": FORMAT_NINJS3,
    "afp_newsml_g2.xml": FORMAT_NEWSML_G2,
    "afp_kill_newsml_g2.xml": FORMAT_NEWSML_G2,
    "inhouse_plain.json": FORMAT_PLAIN_JSON,
}
SCHEMA_FOR_FORMAT = {
    FORMAT_NINJS: "ninjs.input.schema.json",
    FORMAT_NINJS3: "ninjs3.input.schema.json",
    FORMAT_PLAIN_JSON: "plain.input.schema.json",
}


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def doc(name: str) -> dict:
    return json.loads(raw(name))


def fixture(name: str) -> Article:
    return decode_message(raw(name))


def encode(obj) -> bytes:
    return json.dumps(obj).encode("utf-8")


def decode(obj) -> Article:
    return decode_message(encode(obj))


def expect_error(value: bytes, code: str) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        decode_message(value)
    assert info.value.code == code, info.value.message
    assert len(info.value.message) <= 160, info.value.message
    return info.value


def expect_obj_error(obj, code: str) -> DecodeError:
    return expect_error(encode(obj), code)


def g2(
    *,
    guid: str | None = "urn:newsml:afp.com:20241117:test:1",
    version: str | None = "1",
    root_attrs: str = "",
    rights: str = "",
    item_meta: str = '<versionCreated>2024-11-17T10:00:00Z</versionCreated>',
    content_meta: str = "<headline>Headline</headline>",
    content_set: str = "",
    ns: str = NAR,
) -> bytes:
    """A minimal NewsML-G2 newsItem with the given parts."""
    attrs = f' xmlns="{ns}"' if ns else ""
    if guid is not None:
        attrs += f' guid="{guid}"'
    if version is not None:
        attrs += f' version="{version}"'
    cset = f"<contentSet>{content_set}</contentSet>" if content_set else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<newsItem{attrs} {root_attrs}>{rights}'
        f"<itemMeta>{item_meta}</itemMeta><contentMeta>{content_meta}</contentMeta>{cset}</newsItem>"
    ).encode("utf-8")


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize("name, fmt", sorted(FIXTURE_FORMATS.items()))
def test_fixtures_detected_and_decoded_as_their_format(name, fmt):
    assert detect_format(raw(name)) == fmt
    article = fixture(name)
    assert article.source_format == fmt
    assert article.body_text is None and article.content_hash == ""  # nothing cleaned in the decoder


def test_every_format_has_a_fixture():
    assert set(FIXTURE_FORMATS.values()) == set(SOURCE_FORMATS)
    assert SOURCE_FORMATS == ("ninjs", "ninjs-3", "newsml-g2", "plain-json")
    assert sorted(p.name for p in FIXTURES.iterdir()) == sorted(FIXTURE_FORMATS)


@pytest.mark.parametrize(
    "obj, fmt",
    [
        ({"uri": "u", "headline": "h"}, FORMAT_NINJS),
        ({"uri": "u", "headlines": [{"value": "h"}], "versioncreated": "2024-01-01"}, FORMAT_NINJS),
        ({"uri": "u", "versionCreated": "2024-01-01", "headline": "h"}, FORMAT_NINJS3),
        ({"uri": "u", "headline": "h", "pubStatus": "usable"}, FORMAT_NINJS3),
        ({"uri": "u", "headline": "h", "infoSources": []}, FORMAT_NINJS3),
        ({"uri": "u", "headline": "h", "altIds": []}, FORMAT_NINJS3),
        ({"uri": "u", "headline": "h", "standard": {"name": "ninjs", "version": "3.0"}}, FORMAT_NINJS3),
        ({"uri": "u", "headline": "h", "standard": {"version": "3.1"}}, FORMAT_NINJS3),
        ({"uri": "u", "headline": "h", "ninjsVersion": "3"}, FORMAT_NINJS3),
        ({"uri": "u", "headline": "h", "$schema": "http://www.iptc.org/std/ninjs/ninjs-schema_3.0.json"}, FORMAT_NINJS3),
        ({"uri": "u", "headline": "h", "standard": {"schema": "https://iptc.org/std/ninjs/ninjs-schema_3.2.json"}}, FORMAT_NINJS3),
        # A declared 1.x/2.x version wins over camelCase evidence.
        ({"uri": "u", "headline": "h", "standard": {"version": "2.1"}, "versionCreated": "2024-01-01"}, FORMAT_NINJS),
        ({"uri": "u", "headline": "h", "$schema": "http://www.iptc.org/std/ninjs/ninjs-schema_1.4.json", "pubStatus": "usable"}, FORMAT_NINJS),
        # Malformed declarations are not evidence; camelCase keys still are.
        ({"uri": "u", "headline": "h", "standard": "3.0"}, FORMAT_NINJS),
        ({"uri": "u", "headline": "h", "standard": {"version": 3}, "pubStatus": "usable"}, FORMAT_NINJS3),
        ({"uri": "u", "headline": "h", "ninjsVersion": "three"}, FORMAT_NINJS),
        # camelCase inside bodies[] is accepted by the 1.x/2.x decoder, not evidence of 3.x.
        ({"uri": "u", "bodies": [{"value": "x", "contentType": "text/plain"}]}, FORMAT_NINJS),
        # uri wins over plain-JSON markers; detection does not look at types.
        ({"uri": "u", "id": "x", "body": "b", "source": "s"}, FORMAT_NINJS),
        ({"uri": 5}, FORMAT_NINJS),
        ({"uri": None, "headline": "h"}, FORMAT_NINJS),
        # plain JSON: id and any of published_at / source / body, no uri.
        ({"id": "x", "published_at": "2024-01-01"}, FORMAT_PLAIN_JSON),
        ({"id": "x", "source": "Desk"}, FORMAT_PLAIN_JSON),
        ({"id": "x", "body": "text", "headline": "h"}, FORMAT_PLAIN_JSON),
        ({"id": None, "body": "text"}, FORMAT_PLAIN_JSON),
        # No uri but ninjs keys: ninjs that lost its uri (decoding says MISSING_URI).
        ({"headline": "h"}, FORMAT_NINJS),
        ({"id": "x", "headline": "h"}, FORMAT_NINJS),
        ({"bodies": []}, FORMAT_NINJS),
        ({"versionCreated": "2024-01-01"}, FORMAT_NINJS3),
    ],
)
def test_detect_format_json(obj, fmt):
    assert detect_format(encode(obj)) == fmt


@pytest.mark.parametrize(
    "value",
    [
        g2(),
        b"\xef\xbb\xbf" + g2(),
        b" \r\n\t" + g2(),
        b"\xef\xbb\xbf\n  " + g2(),
        g2().replace(b'<?xml version="1.0" encoding="UTF-8"?>\n', b""),
    ],
)
def test_detect_format_xml(value):
    assert detect_format(value) == FORMAT_NEWSML_G2
    assert decode_message(value).story_id == "urn:newsml:afp.com:20241117:test:1"


@pytest.mark.parametrize(
    "obj, shown",
    [
        ({}, "keys (none)"),
        ({"id": "x"}, "keys 'id'"),
        ({"id": "x", "title": "t"}, "keys 'id', 'title'"),
        ({"title": "Headline", "text": "Body"}, "keys 'text', 'title'"),
        ({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}, "keys 'a', 'b', 'c', 'd', ... (5 keys)"),
        ({"type": "text", "version": "1", "language": "en"}, "keys 'language', 'type', 'version'"),
    ],
)
def test_unknown_json_shape(obj, shown):
    err = expect_obj_error(obj, ErrorCode.UNKNOWN_FORMAT)
    assert err.message == f"message value: not ninjs, NewsML-G2 or plain JSON: {shown}"
    with pytest.raises(DecodeError) as info:
        detect_format(encode(obj))
    assert info.value.code == ErrorCode.UNKNOWN_FORMAT


def test_unknown_format_message_is_bounded_and_masks_controls():
    obj = {("K\x00" * 300) + str(i): i for i in range(50)}
    err = expect_obj_error(obj, ErrorCode.UNKNOWN_FORMAT)
    assert "\x00" not in err.message and "\\x00" not in err.message
    assert "K?K?" in err.message
    assert "K?" * 41 not in err.message


@pytest.mark.parametrize(
    "value, code",
    [
        (b"", ErrorCode.EMPTY_MESSAGE),
        (None, ErrorCode.EMPTY_MESSAGE),
        (b"[]", ErrorCode.NOT_AN_OBJECT),
        (b"{", ErrorCode.INVALID_JSON),
        (b"\xff{}", ErrorCode.INVALID_UTF8),
        (b"<newsItem>", ErrorCode.INVALID_XML),
        (b"<rss version='2.0'/>", ErrorCode.UNKNOWN_FORMAT),
    ],
)
def test_detect_format_raises_like_decode(value, code):
    with pytest.raises(DecodeError) as info:
        detect_format(value)
    assert info.value.code == code
    with pytest.raises(DecodeError) as info:
        decode_message(value)
    assert info.value.code == code


def test_detect_format_respects_size_limit():
    with pytest.raises(DecodeError) as info:
        detect_format(g2(), max_bytes=10)
    assert info.value.code == ErrorCode.TOO_LARGE


def test_detect_format_does_not_check_fields():
    assert detect_format(encode({"uri": 5, "headline": ["x"]})) == FORMAT_NINJS
    expect_obj_error({"uri": 5, "headline": ["x"]}, ErrorCode.WRONG_TYPE)


# --------------------------------------------------------------------------- ninjs 1.x (AP)


def test_ap_ninjs_1x_fixture():
    art = fixture("ap_ninjs1.json")
    assert art.source_format == "ninjs"
    assert art.story_id == "urn:publicid:ap.org:16c988da2030c988378ccd10058ee310"
    assert art.version == 2
    assert art.first_created == datetime(2026, 11, 23, 21, 30, tzinfo=UTC)
    assert art.version_created == datetime(2026, 11, 23, 22, 5, 41, tzinfo=UTC)
    assert art.pubstatus == "usable"
    assert art.embargoed_until is None
    assert art.headline == "Arizona certifies midterm results after recount confirms narrow House race"
    assert art.byline == "By Daniel Ortiz"
    assert art.located == "Phoenix"
    assert art.language == "en"
    assert art.provider == "The Associated Press"
    assert art.url is None
    assert art.body_is_html is False
    assert art.body_raw == doc("ap_ninjs1.json")["body_text"]
    assert art.body_raw.startswith("PHOENIX (AP) \u2014 Arizona officials on Monday certified")
    assert art.provider_tags == (
        ProviderTag("person", "Dana Whitlock", None),
        ProviderTag("person", "Luis Carranza", None),
        ProviderTag("organisation", "Arizona Secretary of State", "http://www.wikidata.org/entity/Q4791459"),
        ProviderTag("place", "Arizona", "US-AZ"),
        ProviderTag("place", "Phoenix", None),
        ProviderTag("subject", "Elections", "http://cv.iptc.org/newscodes/mediatopic/20000574"),
        ProviderTag("subject", "Government and politics", "medtop:11000000"),
    )


def test_ap_embargoed_ninjs_1x_fixture():
    art = fixture("ap_embargoed_ninjs1.json")
    assert art.source_format == "ninjs"
    assert art.version == 1
    assert art.pubstatus == "usable"
    assert art.embargoed_until == datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
    assert art.first_created == art.version_created == datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
    assert art.body_is_html is True
    expected_html = doc("ap_embargoed_ninjs1.json")["body_html"].replace("\r\n", "\n")
    assert art.body_raw == expected_html
    assert "\r" not in art.body_raw
    assert art.provider_tags == (
        ProviderTag("place", "Atlantic Ocean", None),
        ProviderTag("subject", "Weather", None),
        ProviderTag("subject", "Climate change", None),
    )


# --------------------------------------------------------------------------- ninjs 2.x (Reuters)


def test_reuters_ninjs_2x_fixture():
    art = fixture("reuters_ninjs2.json")
    source = doc("reuters_ninjs2.json")
    assert art.source_format == "ninjs"
    assert art.story_id == "tag:reuters.com,2026:newsml_L8N3ZLE76"
    assert art.version == 3
    assert art.first_created == datetime(2026, 11, 24, 20, 30, tzinfo=UTC)
    assert art.version_created == datetime(2026, 11, 24, 21, 12, 9, 500000, tzinfo=UTC)
    assert art.pubstatus == "usable"
    assert art.headline == "Brazil's Amazon deforestation falls for fourth straight year"
    assert art.byline == "Lisandra Paraguassu"
    assert art.located == "Bras\u00edlia"
    assert art.language == "en"
    assert art.provider == "Thomson Reuters"  # copyrightholder before infosources
    assert art.body_is_html is True
    assert art.body_raw == source["bodies"][0]["value"]
    assert "REUTERS/Adriano Machado</figcaption>" in art.body_raw
    assert art.provider_tags == (
        ProviderTag("person", "Luiz In\u00e1cio Lula da Silva", "http://www.wikidata.org/entity/Q37181"),
        ProviderTag("organisation", "INPE", "Instituto Nacional de Pesquisas Espaciais"),
        ProviderTag("place", "Brazil", "http://www.geonames.org/3469034"),
        ProviderTag("place", "Amazon rainforest", None),
        ProviderTag("subject", "Deforestation", "http://cv.iptc.org/newscodes/mediatopic/20000420"),
        ProviderTag("subject", "Environment", "http://cv.iptc.org/newscodes/mediatopic/06000000"),
    )


def test_reuters_withheld_fixture():
    art = fixture("reuters_withheld_ninjs2.json")
    assert art.pubstatus == "withheld"
    assert art.version == 4
    assert art.headline == "WITHHELD - Island nations say Antalya climate deal leaves them exposed"
    assert art.body_is_html is False
    assert art.body_raw == (
        'Reuters is temporarily withholding the story headlined "Island nations say Antalya climate deal '
        'leaves them exposed" while it checks a quote attributed to a Pacific negotiator.\n\n'
        "A corrected version will follow. Clients who have used the story are asked not to republish it."
    )
    assert art.provider_tags == ()


@pytest.mark.parametrize("status, expected", [("usable", "usable"), ("withheld", "withheld"),
                                              ("canceled", "canceled"), ("cancelled", "canceled"),
                                              ("embargoed", "embargoed")])
def test_ninjs_2x_pubstatus(status, expected):
    assert decode({"uri": "u", "headlines": [{"value": "h"}], "pubstatus": status}).pubstatus == expected


def test_ninjs_embargoed_field_all_versions():
    ts = "2024-11-19T06:00:00+01:00"
    expected = datetime(2024, 11, 19, 5, 0, tzinfo=UTC)
    assert decode({"uri": "u", "headline": "h", "embargoed": ts}).embargoed_until == expected
    assert decode({"uri": "u", "headlines": [{"value": "h"}], "embargoed": ts}).embargoed_until == expected
    assert decode({"uri": "u", "headlines": [{"value": "h"}], "versionCreated": ts, "embargoed": ts}).embargoed_until == expected
    assert decode({"uri": "u", "headline": "h", "embargoed": None}).embargoed_until is None


@pytest.mark.parametrize(
    "value, code",
    [(1700000000, ErrorCode.WRONG_TYPE), ({"t": 1}, ErrorCode.WRONG_TYPE), ("next week", ErrorCode.INVALID_TIMESTAMP)],
)
def test_ninjs_embargoed_invalid(value, code):
    err = expect_obj_error({"uri": "u", "headline": "h", "embargoed": value}, code)
    assert err.message.startswith("embargoed:")


# --------------------------------------------------------------------------- ninjs 3.x (AFP)


def test_afp_ninjs_3x_fixture():
    art = fixture("afp_ninjs3.json")
    source = doc("afp_ninjs3.json")
    assert art.source_format == "ninjs-3"
    assert art.story_id == "urn:newsml:afp.com:20241117:seed-atacms-ninjs3"
    assert art.version == 5
    assert art.first_created == datetime(2024, 11, 17, 18, 2, 11, tzinfo=UTC)
    assert art.version_created == datetime(2024, 11, 18, 7, 15, tzinfo=UTC)
    assert art.pubstatus == "usable"
    assert art.embargoed_until is None
    assert art.headline == "Biden authorizes Ukraine to use long-range US missiles inside Russia"
    assert art.byline == "Danny Kemp"
    assert art.located == "Washington"
    assert art.language == "en"
    assert art.provider == "AFP"
    assert art.body_is_html is True
    assert art.body_raw == source["bodies"][0]["value"]
    assert "(Photo by John Hamilton / DoD / AFP)</p>" in art.body_raw
    assert art.provider_tags == (
        ProviderTag("person", "Joe Biden", "http://www.wikidata.org/entity/Q6279"),
        ProviderTag("person", "Volodymyr Zelensky", "http://www.wikidata.org/entity/Q3874799"),
        ProviderTag("person", "Vladimir Putin", "http://www.wikidata.org/entity/Q7747"),
        ProviderTag("organisation", "NATO", "http://www.wikidata.org/entity/Q7184"),
        ProviderTag("organisation", "US Department of Defense", None),
        ProviderTag("place", "Ukraine", "http://www.geonames.org/690791"),
        ProviderTag("place", "Russia", "http://www.geonames.org/2017370"),
        ProviderTag("subject", "armed conflict", "http://cv.iptc.org/newscodes/mediatopic/16000000"),
        ProviderTag("subject", "diplomacy", "http://cv.iptc.org/newscodes/mediatopic/20000565"),
    )


def ninjs3(**fields) -> dict:
    base = {
        "uri": "urn:newsml:afp.com:20241118:n3",
        "standard": {"name": "ninjs", "version": "3.0"},
        "headlines": [{"value": "H", "role": "main"}],
    }
    base.update(fields)
    return base


@pytest.mark.parametrize("status, expected", [("usable", "usable"), ("withheld", "withheld"),
                                              ("canceled", "canceled"), ("Cancelled", "canceled")])
def test_ninjs_3x_pubstatus(status, expected):
    art = decode(ninjs3(pubStatus=status))
    assert art.source_format == "ninjs-3"
    assert art.pubstatus == expected


def test_ninjs_3x_embargo_and_timestamps():
    art = decode(ninjs3(firstCreated="2024-11-18T09:00:00Z", versionCreated="2024-11-18T10:00:00+01:00",
                        embargoed="2024-11-19T00:00:00Z", contentCreated="not even checked"))
    assert art.first_created == datetime(2024, 11, 18, 9, 0, tzinfo=UTC)
    assert art.version_created == datetime(2024, 11, 18, 9, 0, tzinfo=UTC)
    assert art.embargoed_until == datetime(2024, 11, 19, 0, 0, tzinfo=UTC)


def test_ninjs_3x_reads_lower_case_spelling_as_fallback():
    # A 3.x producer that kept 2.x spellings must not lose a kill or a timestamp.
    art = decode(ninjs3(pubstatus="canceled", versioncreated="2024-11-18T10:00:00Z", copyrightholder="AFP"))
    assert art.source_format == "ninjs-3"
    assert art.pubstatus == "canceled"
    assert art.version_created == datetime(2024, 11, 18, 10, 0, tzinfo=UTC)
    assert art.provider == "AFP"


def test_spelling_precedence_follows_the_detected_version():
    both = {"versionCreated": "2024-11-18T10:00:00Z", "versioncreated": "2024-11-18T11:00:00Z",
            "pubStatus": "withheld", "pubstatus": "usable"}
    three = decode(ninjs3(**both))
    assert (three.version_created.hour, three.pubstatus) == (10, "withheld")
    two = decode({"uri": "u", "headline": "h", "standard": {"version": "2.0"}, **both})
    assert two.source_format == "ninjs"
    assert (two.version_created.hour, two.pubstatus) == (11, "usable")


def test_ninjs_3x_provider_precedence():
    assert decode(ninjs3(copyrightHolder="AFP", infoSources=[{"name": "Reuters"}])).provider == "AFP"
    assert decode(ninjs3(infoSources=[{"name": " Reuters "}], provider="AP")).provider == "Reuters"
    assert decode(ninjs3(infoSources=[{"role": "x"}], provider={"name": "AP"})).provider == "AP"


def test_ninjs_3x_bodies_html_as_rich_as_plain_wins_and_headline_roles():
    art = decode(ninjs3(headlines=[{"value": "Sub", "role": "sub"}, {"value": "Main", "role": "main"}],
                        bodies=[{"value": "<p>html</p>", "contentType": "text/html", "role": "main"},
                                {"value": "plain", "contentType": "text/plain"}]))
    assert art.headline == "Main"
    assert (art.body_raw, art.body_is_html) == ("<p>html</p>", True)


@pytest.mark.parametrize(
    "fields, field_name",
    [
        ({"pubStatus": 1}, "pubStatus"),
        ({"versionCreated": 1700000000}, "versionCreated"),
        ({"firstCreated": ["2024"]}, "firstCreated"),
        ({"copyrightHolder": {"name": "AFP"}}, "copyrightHolder"),
        ({"infoSources": "AFP"}, "infoSources"),
        ({"infoSources": ["AFP"]}, "infoSources[0]"),
        ({"infoSources": [{"name": 1}]}, "infoSources[0].name"),
        ({"bodies": [{"value": "x", "contentType": 1}]}, "bodies[0].contentType"),
        ({"embargoed": 5}, "embargoed"),
        ({"by": 5}, "by"),
        ({"located": 5}, "located"),
        # the lower-case fallback spelling is checked too
        ({"pubstatus": 1}, "pubstatus"),
        ({"people": "Joe Biden"}, "people"),
        ({"places": [{"name": "Kyiv", "uri": 7}]}, "places[0].uri"),
    ],
)
def test_ninjs_3x_wrong_types(fields, field_name):
    err = expect_obj_error(ninjs3(**fields), ErrorCode.WRONG_TYPE)
    assert err.message.startswith(field_name + ":"), err.message


def test_ninjs_3x_bad_values():
    assert expect_obj_error(ninjs3(pubStatus="draft"), ErrorCode.INVALID_PUBSTATUS).message.startswith("pubStatus:")
    assert expect_obj_error(ninjs3(versionCreated="yesterday"), ErrorCode.INVALID_TIMESTAMP).message.startswith(
        "versionCreated:"
    )
    assert expect_obj_error(ninjs3(version="v2"), ErrorCode.INVALID_VERSION).message.startswith("version:")
    expect_obj_error({"versionCreated": "2024-01-01", "headlines": [{"value": "h"}]}, ErrorCode.MISSING_URI)
    expect_obj_error({"uri": "u", "versionCreated": "2024-01-01"}, ErrorCode.NO_CONTENT)


# --------------------------------------------------------------------------- provider tags (ninjs)


def tags_of(**fields) -> tuple[ProviderTag, ...]:
    return decode({"uri": "u", "headline": "h", **fields}).provider_tags


def test_tags_order_kinds_and_versions():
    tags = tags_of(
        subjects=[{"name": "s2"}], subject=[{"name": "s1"}],
        places=[{"name": "p2"}], place=[{"name": "p1"}],
        organisations=[{"name": "o2"}], organisation=[{"name": "o1"}],
        people=[{"name": "h2"}], person=[{"name": "h1"}],
    )
    assert [(t.kind, t.name) for t in tags] == [
        ("person", "h1"), ("person", "h2"), ("organisation", "o1"), ("organisation", "o2"),
        ("place", "p1"), ("place", "p2"), ("subject", "s1"), ("subject", "s2"),
    ]


def test_tags_strings_names_and_skips():
    tags = tags_of(people=["Joe Biden", {"uri": "x:no-name"}, {"name": "   "}, {"name": None}, " Kamala\n  Harris ",
                          {"name": "Cafe\u0301 Owner"}, {"literal": "only-literal"}, "\x00"])
    assert tags == (
        ProviderTag("person", "Joe Biden", None),
        ProviderTag("person", "Kamala Harris", None),
        ProviderTag("person", "Caf\u00e9 Owner", None),  # NFC
    )


def test_tags_deduplicated_per_kind_keeping_first():
    tags = tags_of(
        person=[{"name": "Joe Biden", "uri": "wd:Q6279"}],
        people=[{"name": "Joe  Biden", "uri": "other"}, {"name": "joe biden"}],
        subjects=[{"name": "Joe Biden"}],
    )
    assert tags == (
        ProviderTag("person", "Joe Biden", "wd:Q6279"),
        ProviderTag("person", "joe biden", None),
        ProviderTag("subject", "Joe Biden", None),
    )


@pytest.mark.parametrize(
    "entry, uri",
    [
        ({"name": "n", "uri": " http://x/1 "}, "http://x/1"),
        ({"name": "n", "uri": "http://x/1", "code": "c", "scheme": "s"}, "http://x/1"),
        ({"name": "n", "scheme": "http://cv.iptc.org/newscodes/mediatopic/", "code": "20000574"},
         "http://cv.iptc.org/newscodes/mediatopic/20000574"),
        ({"name": "n", "scheme": "medtop", "code": "20000574"}, "medtop:20000574"),
        ({"name": "n", "scheme": "medtop:", "code": "20000574"}, "medtop:20000574"),
        ({"name": "n", "code": "US-AZ"}, "US-AZ"),
        ({"name": "n", "scheme": "medtop"}, None),
        ({"name": "n", "literal": "lit"}, "lit"),
        ({"name": "n", "uri": "  ", "literal": "lit"}, "lit"),
        ({"name": "n", "uri": "http://x/\x00"}, None),  # unusable id dropped, tag kept
        ({"name": "n", "uri": "u" * 2049}, None),
        ({"name": "n"}, None),
    ],
)
def test_tag_ids(entry, uri):
    assert tags_of(subjects=[entry]) == (ProviderTag("subject", "n", uri),)


def test_tag_name_length_bound():
    ok = "N" * MAX_TAG_NAME_CHARS
    assert MAX_TAG_NAME_CHARS == 300
    assert tags_of(subjects=[ok, "N" * (MAX_TAG_NAME_CHARS + 1), "short"]) == (
        ProviderTag("subject", ok, None),
        ProviderTag("subject", "short", None),
    )


def test_tag_count_bound_keeps_first():
    assert MAX_PROVIDER_TAGS == 200
    tags = tags_of(people=[f"Person {i}" for i in range(150)], subjects=[f"Topic {i}" for i in range(150)])
    assert len(tags) == 200
    assert tags[0] == ProviderTag("person", "Person 0", None)
    assert tags[149] == ProviderTag("person", "Person 149", None)
    assert tags[-1] == ProviderTag("subject", "Topic 49", None)


def test_tag_types_checked_beyond_the_count_bound():
    err = expect_obj_error({"uri": "u", "headline": "h", "subjects": ["x"] * 300 + [5]}, ErrorCode.WRONG_TYPE)
    assert err.message == "subjects[300]: expected object or string, got number"


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"subjects": "politics"}, "subjects: expected array, got string"),
        ({"subject": {"name": "politics"}}, "subject: expected array, got object"),
        ({"people": [5]}, "people[0]: expected object or string, got number"),
        ({"person": [["Joe"]]}, "person[0]: expected object or string, got array"),
        ({"places": [None]}, "places[0]: expected object or string, got null"),
        ({"organisations": [{"name": 5}]}, "organisations[0].name: expected string, got number"),
        ({"organisation": [{"name": "x", "uri": ["u"]}]}, "organisation[0].uri: expected string, got array"),
        ({"place": [{"name": "x", "code": 1}]}, "place[0].code: expected string, got number"),
        ({"subject": [{"name": "x", "scheme": True}]}, "subject[0].scheme: expected string, got boolean"),
        ({"subjects": [{"name": "x", "literal": {}}]}, "subjects[0].literal: expected string, got object"),
    ],
)
def test_tag_wrong_types(fields, message):
    err = expect_obj_error({"uri": "u", "headline": "h", **fields}, ErrorCode.WRONG_TYPE)
    assert err.message == message


# --------------------------------------------------------------------------- NewsML-G2 (AFP)


AFP_G2_BODY = (
    "<p>KYIV, Ukraine \u2014 Russia pounded Ukraine on Sunday with a massive attack that killed 11 civilians "
    "across several regions and damaged the country's already fragile energy grid, officials said.</p>\n"
    "          <p>A firefighter works to put out a fire at a thermal power plant after a missile strike in the "
    "Lviv region on November 17, 2024. (AFP Photo / Yuriy Dyachyshyn)</p>\n"
    "          <p>Nationwide emergency power restrictions would be implemented on Monday ahead of a much-feared "
    "winter, the state grid operator <em>Ukrenergo</em> announced.</p>\n"
    '          <p>"This is one of the most massive attacks," President Volodymyr Zelensky said, adding that '
    "Russia had launched around 120 missiles &amp; 90 drones.</p>"
)


def test_afp_newsml_g2_fixture():
    art = fixture("afp_newsml_g2.xml")
    assert art.source_format == "newsml-g2"
    assert art.story_id == "urn:newsml:afp.com:20241117:CNG.8d3f1a2b9c.661:1"
    assert art.version == 3
    assert art.first_created == datetime(2024, 11, 17, 9, 2, tzinfo=UTC)
    assert art.version_created == datetime(2024, 11, 17, 14, 48, 5, tzinfo=UTC)
    assert art.pubstatus == "usable"
    assert art.embargoed_until is None
    assert art.provider == "AFP"
    assert art.headline == "Russia pounds Ukraine energy grid in massive strike"  # role main, not the first
    assert art.byline == "Dmytro GORSHKOV with Mary Sibierski in Paris"
    assert art.located == "Kyiv"  # the name in the item's language, not broader/name
    assert art.language == "en"
    assert art.url is None
    assert art.body_is_html is True
    assert art.body_raw == AFP_G2_BODY
    assert "xmlns" not in art.body_raw and "<title>" not in art.body_raw and "desk comment" not in art.body_raw
    assert art.provider_tags == (
        ProviderTag("subject", "conflict, war and peace", "medtop:16000000"),
        ProviderTag("person", "Volodymyr Zelensky", "http://www.wikidata.org/entity/Q3874799"),
        ProviderTag("organisation", "Ukrenergo", "afporg:UKRENERGO"),
        ProviderTag("place", "Ukraine", "iso3166-1a2:UA"),
        ProviderTag("place", "Burshtyn power plant", "afppoi:DTEK-BURSHTYN"),
        ProviderTag("subject", "Russian invasion of Ukraine", None),
    )


def test_afp_kill_in_news_message_fixture():
    art = fixture("afp_kill_newsml_g2.xml")
    assert art.source_format == "newsml-g2"
    assert art.story_id == "urn:newsml:afp.com:20241117:CNG.77aa01.112:1"  # the first newsItem only
    assert art.version == 4
    assert art.pubstatus == "canceled"
    assert art.first_created == datetime(2024, 11, 17, 9, 12, tzinfo=UTC)
    assert art.version_created == datetime(2024, 11, 17, 18, 30, tzinfo=UTC)
    assert art.provider == "AFP"
    assert art.headline == "KILL: Odesa port strike story withdrawn"
    assert art.located == "Odesa"
    assert art.byline is None
    assert art.language == "en-GB"  # @xml:lang when contentMeta has no language
    assert art.body_is_html is False
    assert art.body_raw == (
        'AFP is withdrawing the story slugged "Ukraine-Russia-conflict-Odesa" sent at 0912 GMT.\n'
        "The casualty figure attributed to regional officials could not be confirmed.\n\n"
        "Clients are asked not to use it. A new story will follow."
    )
    assert art.provider_tags == ()


def test_g2_defaults():
    art = decode_message(g2(version=None, item_meta=""))
    assert art.version == 1
    assert art.pubstatus == "usable"
    assert (art.first_created, art.version_created, art.embargoed_until) == (None, None, None)
    assert (art.provider, art.byline, art.located, art.language) == (None, None, None, None)
    assert (art.body_raw, art.body_is_html) == (None, False)
    assert art.headline == "Headline"


@pytest.mark.parametrize(
    "code, expected",
    [
        ("stat:usable", "usable"),
        ("stat:withheld", "withheld"),
        ("stat:canceled", "canceled"),
        ("STAT:Canceled", "canceled"),
        ("http://cv.iptc.org/newscodes/pubstatusg2/withheld", "withheld"),
    ],
)
def test_g2_pubstatus(code, expected):
    attr = "uri" if code.startswith("http") else "qcode"
    art = decode_message(g2(item_meta=f'<pubStatus {attr}="{code}"/>'))
    assert art.pubstatus == expected


@pytest.mark.parametrize("item_meta", ['<pubStatus qcode="stat:draft"/>', "<pubStatus/>", '<pubStatus qcode=" "/>'])
def test_g2_pubstatus_invalid(item_meta):
    err = expect_error(g2(item_meta=item_meta), ErrorCode.INVALID_PUBSTATUS)
    assert err.message.startswith("itemMeta/pubStatus:")


def test_g2_embargo_and_timestamps():
    art = decode_message(g2(item_meta=(
        "<versionCreated> 2024-11-17T16:48:05+02:00 </versionCreated>"
        "<firstCreated>2024-11-17T11:02:00Z</firstCreated>"
        "<embargoed>2024-11-18T00:00:00-05:00</embargoed>"
    )))
    assert art.version_created == datetime(2024, 11, 17, 14, 48, 5, tzinfo=UTC)
    assert art.first_created == datetime(2024, 11, 17, 11, 2, tzinfo=UTC)
    assert art.embargoed_until == datetime(2024, 11, 18, 5, 0, tzinfo=UTC)
    assert decode_message(g2(item_meta="<embargoed/>")).embargoed_until is None


@pytest.mark.parametrize("name", ["versionCreated", "firstCreated", "embargoed"])
def test_g2_invalid_timestamp(name):
    err = expect_error(g2(item_meta=f"<{name}>yesterday</{name}>"), ErrorCode.INVALID_TIMESTAMP)
    assert err.message.startswith(f"itemMeta/{name}:")


@pytest.mark.parametrize("version, expected", [("1", 1), ("12", 12), (" 7 ", 7), ("0", 0)])
def test_g2_version(version, expected):
    assert decode_message(g2(version=version)).version == expected


@pytest.mark.parametrize("version", ["v2", "1.5", "-1", "", "9" * 30])
def test_g2_version_invalid(version):
    err = expect_error(g2(version=version), ErrorCode.INVALID_VERSION)
    assert err.message.startswith("newsItem@version:")


@pytest.mark.parametrize(
    "guid, code",
    [(None, ErrorCode.MISSING_URI), ("", ErrorCode.MISSING_URI), ("   ", ErrorCode.MISSING_URI),
     ("urn:a&#10;b", ErrorCode.INVALID_URI), ("u" * 2049, ErrorCode.INVALID_URI)],
)
def test_g2_guid_errors(guid, code):
    err = expect_error(g2(guid=guid), code)
    assert err.message.startswith("newsItem@guid:")


def test_g2_guid_trimmed():
    assert decode_message(g2(guid="  urn:x  ")).story_id == "urn:x"


@pytest.mark.parametrize(
    "item_meta, rights, expected",
    [
        ('<provider literal=" AFP "/>', "", "AFP"),
        ('<provider qcode="nprov:AFP"/>', "", "AFP"),
        ('<provider qcode="nprov:REUTERS"><name>Reuters</name></provider>', "", "Reuters"),
        ('<provider literal="AP" qcode="nprov:X"><name>Y</name></provider>', "", "AP"),
        ('<provider uri="http://www.acmenews.com/about/"/>',
         '<rightsInfo><copyrightHolder uri="http://x"><name>Acme News</name></copyrightHolder></rightsInfo>',
         "Acme News"),
        ("", '<rightsInfo><copyrightHolder literal="dpa"/></rightsInfo>', "dpa"),
        ('<provider uri="http://www.acmenews.com/about/"/>', "", None),
    ],
)
def test_g2_provider(item_meta, rights, expected):
    assert decode_message(g2(item_meta=item_meta, rights=rights)).provider == expected


def test_g2_content_meta_fields():
    art = decode_message(g2(
        root_attrs='xml:lang="fr"',
        content_meta=(
            '<located literal="Paris-literal"><name xml:lang="fr">Paris</name></located>'
            '<language tag="en-GB"/>'
            "<by>  </by><by>By <span>Jane</span>\n  Doe</by>"
            "<headline>  </headline><headline>Fed to <span>halt</span>\n QE</headline>"
            '<headline role="hdl:sub">Sub</headline>'
        ),
    ))
    assert art.located == "Paris"
    assert art.language == "en-GB"  # contentMeta/language/@tag before @xml:lang
    assert art.byline == "By Jane Doe"
    assert art.headline == "Fed to halt QE"


def test_g2_located_literal_fallback_and_language_preference():
    art = decode_message(g2(root_attrs='xml:lang="de-DE"', content_meta=(
        "<headline>H</headline>"
        '<located literal="Kyiv"/>'
        '<subject type="cpnat:geoArea"><name xml:lang="en">Germany</name><name xml:lang="de">Deutschland</name></subject>'
    )))
    assert art.located == "Kyiv"
    assert art.provider_tags == (ProviderTag("place", "Deutschland", None),)


def test_g2_subject_kinds_names_and_ids():
    subjects = "".join([
        '<subject type="cpnat:person" qcode="p:1"><name>Person A</name></subject>',
        '<subject type="cpnat:organisation" uri="http://o/1" qcode="o:1"><name>Org B</name></subject>',
        '<subject type="cpnat:geoArea" qcode="g:1"><name>Place C</name></subject>',
        '<subject type="cpnat:poi"><name>Point D</name></subject>',
        '<subject type="cpnat:abstract" qcode="medtop:1"><name>Topic E</name></subject>',
        '<subject qcode="medtop:2"><name>Topic F</name></subject>',
        '<subject type="cpnat:event" literal="Event G"/>',
        '<subject type="cpnat:object"><name>  Thing\n H </name><broader qcode="x"><name>Broader</name></broader></subject>',
        '<subject type="cpnat:person" qcode="p:2"/>',
        '<subject type="cpnat:person"><name>Person A</name></subject>',
    ])
    art = decode_message(g2(content_meta="<headline>H</headline>" + subjects))
    assert art.provider_tags == (
        ProviderTag("person", "Person A", "p:1"),
        ProviderTag("organisation", "Org B", "http://o/1"),
        ProviderTag("place", "Place C", "g:1"),
        ProviderTag("place", "Point D", None),
        ProviderTag("subject", "Topic E", "medtop:1"),
        ProviderTag("subject", "Topic F", "medtop:2"),
        ProviderTag("subject", "Event G", None),
        ProviderTag("subject", "Thing H", None),
    )


def test_g2_subject_count_bound():
    subjects = "".join(f"<subject><name>Topic {i}</name></subject>" for i in range(250))
    tags = decode_message(g2(content_meta="<headline>H</headline>" + subjects)).provider_tags
    assert len(tags) == MAX_PROVIDER_TAGS
    assert tags[-1] == ProviderTag("subject", "Topic 199", None)


def test_g2_nitf_body_content_only():
    art = decode_message(g2(content_set=(
        '<inlineXML contenttype="application/nitf+xml"><nitf xmlns="http://iptc.org/std/NITF/2006-10-18/">'
        "<body><body.head><hedline><hl1>Not body</hl1></hedline></body.head>"
        "<body.content><p>One &amp; two.</p><p>Three.</p></body.content></body></nitf></inlineXML>"
    )))
    assert (art.body_raw, art.body_is_html) == ("<p>One &amp; two.</p><p>Three.</p>", True)


def test_g2_inline_xml_without_html_wrapper():
    art = decode_message(g2(content_set=(
        f'<inlineXML contenttype="application/xhtml+xml">lead text <p xmlns="{XHTML}" class="x">A<br/>B</p> tail</inlineXML>'
    )))
    assert art.body_raw == 'lead text <p class="x">A<br>B</p> tail'


def test_g2_blank_inline_xml_falls_back_to_inline_data():
    art = decode_message(g2(content_set=(
        f'<inlineXML><html xmlns="{XHTML}"><head><title>T</title></head><body>  </body></html></inlineXML>'
        '<inlineData contenttype="text/plain" encoding="base64">SGVsbG8=</inlineData>'
        '<inlineData contenttype="text/plain">  </inlineData>'
        '<inlineData contenttype="text/plain">Plain\r\nbody</inlineData>'
    )))
    assert (art.body_raw, art.body_is_html) == ("Plain\nbody", False)


def test_g2_inline_data_html():
    art = decode_message(g2(content_set='<inlineData contenttype="text/html; charset=utf-8">&lt;p&gt;Hi&lt;/p&gt;</inlineData>'))
    assert (art.body_raw, art.body_is_html) == ("<p>Hi</p>", True)


def test_g2_no_content():
    expect_error(g2(content_meta="<headline> </headline>"), ErrorCode.NO_CONTENT)
    expect_error(g2(content_meta="", content_set='<remoteContent href="http://x/y.jpg"/>'), ErrorCode.NO_CONTENT)
    body_only = decode_message(g2(content_meta="", content_set="<inlineData>Only a body</inlineData>"))
    assert (body_only.headline, body_only.body_raw) == (None, "Only a body")


def test_g2_without_namespace_is_read_the_same():
    art = decode_message(g2(ns="", item_meta='<pubStatus qcode="stat:withheld"/>'))
    assert (art.source_format, art.pubstatus, art.headline) == ("newsml-g2", "withheld", "Headline")


def test_g2_declared_latin1_encoding():
    value = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>'
        f'<newsItem xmlns="{NAR}" guid="g"><contentMeta><headline>Caf\u00e9 cr\u00e8me</headline></contentMeta></newsItem>'
    ).encode("latin-1")
    assert decode_message(value).headline == "Caf\u00e9 cr\u00e8me"


@pytest.mark.parametrize("encoding", ["UTF-16", "utf-32", "IBM037", "EBCDIC-US", "Shift_JIS", "x-unknown"])
def test_g2_unsupported_declared_encodings(encoding):
    value = f'<?xml version="1.0" encoding="{encoding}"?><newsItem guid="g"/>'.encode("ascii")
    err = expect_error(value, ErrorCode.INVALID_XML)
    assert "not supported" in err.message


@pytest.mark.parametrize("encoding", ["utf-8", "UTF8", "us-ascii", "ISO-8859-15", "latin1", "windows-1252", "cp1252"])
def test_g2_supported_declared_encodings(encoding):
    value = f'<?xml version="1.0" encoding="{encoding}"?><newsItem guid="g"><contentMeta><headline>H</headline></contentMeta></newsItem>'
    assert decode_message(value.encode("ascii")).headline == "H"


def test_g2_invalid_utf8():
    value = b"\xef\xbb\xbf\n" + g2().replace(b"Headline", b"Caf\xe9")
    err = expect_error(value, ErrorCode.INVALID_UTF8)
    assert err.message == f"message value: invalid UTF-8 at byte {value.index(b'Caf') + 3}"


# --------------------------------------------------------------------------- NewsML-G2: bad and hostile input


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<newsItem xmlns="http://iptc.org/std/nar/2006-10-01/" guid="g"><contentMeta><headline>&lol9;</headline></contentMeta></newsItem>
"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE newsItem [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<newsItem xmlns="http://iptc.org/std/nar/2006-10-01/" guid="g"><contentMeta><headline>&xxe;</headline></contentMeta></newsItem>
"""


@pytest.mark.parametrize(
    "value",
    [
        BILLION_LAUGHS,
        XXE,
        b'<!DOCTYPE newsItem SYSTEM "http://attacker.example/g2.dtd"><newsItem guid="g"/>',
        b'<?xml version="1.0"?><!doctype newsItem><newsItem guid="g"/>',
        b'<?xml version="1.0"?>\n<!DOCTYPE  newsItem PUBLIC "-//x//y" "http://x/y.dtd">\n<newsItem guid="g"/>',
    ],
    ids=["billion-laughs", "xxe-file", "external-dtd", "lowercase-doctype", "public-dtd"],
)
def test_g2_doctype_and_entities_refused(value):
    started = time.monotonic()
    err = expect_error(value, ErrorCode.INVALID_XML)
    assert time.monotonic() - started < 1.0
    assert "DOCTYPE" in err.message
    assert "root:" not in err.message


@pytest.mark.parametrize(
    "value",
    [
        b"<",
        b"<newsItem",
        b'<newsItem guid="g"><itemMeta></newsItem>',
        b'<newsItem guid="g">&nbsp;</newsItem>',  # undefined entity: no DTD, no HTML entities
        b'<newsItem guid="g"/><newsItem guid="h"/>',
        b'<newsItem guid="g" guid="h"/>',
        b"<p>plain HTML<br></p>",
        g2()[: len(g2()) // 2],
        b"<" + b"a" * 300 + b">",
        b"<newsItem>" + b"<x>" * 5000 + b"</x>" * 5000 + b"</newsItem>",  # deeper than libxml2's safe limit
    ],
    ids=["lt", "unclosed-tag", "mismatch", "undefined-entity", "two-roots", "duplicate-attr", "html",
         "truncated", "long-name", "deep"],
)
def test_g2_malformed_xml(value):
    err = expect_error(value, ErrorCode.INVALID_XML)
    assert "a" * 81 not in err.message


@pytest.mark.parametrize(
    "value, fragment",
    [
        (b"<html><body><p>Story</p></body></html>", "XML root 'html' is not a NewsML-G2 newsItem or newsMessage"),
        (b'<rss version="2.0"><channel/></rss>', "XML root 'rss'"),
        (f'<packageItem xmlns="{NAR}" guid="g"/>'.encode(), "NewsML-G2 'packageItem' is not a newsItem"),
        (f'<newsMessage xmlns="{NAR}"><header/><itemSet/></newsMessage>'.encode(), "newsMessage/itemSet holds no newsItem"),
        (f'<newsMessage xmlns="{NAR}"><itemSet><packageItem guid="g"/></itemSet></newsMessage>'.encode(), "holds no newsItem"),
        (b'<newsItem xmlns="urn:not-g2" guid="g"><contentMeta><headline>H</headline></contentMeta></newsItem>', "XML root 'newsItem'"),
        (b"<" + b"x" * 5000 + b"/>", "XML root"),
    ],
)
def test_g2_unknown_xml_root(value, fragment):
    err = expect_error(value, ErrorCode.UNKNOWN_FORMAT)
    assert fragment in err.message
    assert "x" * 81 not in err.message


def test_g2_too_large_before_parsing():
    value = g2(content_set="<inlineData>" + "x" * 2000 + "</inlineData>")
    with pytest.raises(DecodeError) as info:
        decode_message(value, max_bytes=1000)
    assert info.value.code == ErrorCode.TOO_LARGE


def test_g2_mutations_never_escape_the_safety_net():
    rng = random.Random(7)
    base = raw("afp_newsml_g2.xml")
    outcomes = set()
    for _ in range(300):
        data = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            pos = rng.randrange(len(data))
            if op < 0.4:
                data[pos] = rng.choice(b"<>&\"'/=x\x00\xff ;!?")
            elif op < 0.7:
                del data[pos:pos + rng.randint(1, 40)]
            else:
                data = data[:pos]
        try:
            article = decode_message(bytes(data))
        except DecodeError as exc:
            assert exc.code != ErrorCode.INTERNAL, (bytes(data[:120]), exc.message)
            assert len(exc.message) <= 200
            outcomes.add(exc.code)
        else:
            assert isinstance(article, Article)
            outcomes.add("ok")
    assert ErrorCode.INVALID_XML in outcomes


# --------------------------------------------------------------------------- plain JSON (in-house)


def test_inhouse_plain_fixture():
    art = fixture("inhouse_plain.json")
    assert art.source_format == "plain-json"
    assert art.story_id == "newswire:desk:2024-11-18:ukraine-grid-explainer"
    assert art.version == 2
    assert art.provider == "Newswire Desk"
    assert art.headline == "Explainer: why Ukraine's power grid is so hard to protect this winter"
    assert art.first_created == datetime(2024, 11, 18, 6, 30, tzinfo=UTC)
    assert art.version_created == datetime(2024, 11, 18, 9, 45, 12, tzinfo=UTC)
    assert art.url == "https://newswire.example/stories/2024/11/18/ukraine-grid-explainer"
    assert art.language == "en"
    assert art.pubstatus == "usable"
    assert art.body_is_html is False
    assert art.body_raw == doc("inhouse_plain.json")["body"]
    assert (art.byline, art.located, art.embargoed_until, art.provider_tags) == (None, None, None, ())


def plain(**fields) -> dict:
    base = {"id": "newswire:1", "source": "Desk", "headline": "H", "published_at": "2024-11-18T06:30:00Z"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


def test_plain_defaults_and_published_only():
    art = decode(plain())
    assert art.version == 1
    assert art.first_created == art.version_created == datetime(2024, 11, 18, 6, 30, tzinfo=UTC)
    assert (art.body_raw, art.body_is_html, art.url, art.language) == (None, False, None, None)


def test_plain_html_body():
    art = decode(plain(body="<p>First &amp; foremost.</p>\r\n<p>Second.</p>"))
    assert (art.body_raw, art.body_is_html) == ("<p>First &amp; foremost.</p>\n<p>Second.</p>", True)


def test_plain_text_body_with_entity_stays_plain():
    art = decode(plain(body="  AT&amp;T said 3 < 5.\r\n\r\nSecond paragraph.  "))
    assert (art.body_raw, art.body_is_html) == ("AT&amp;T said 3 < 5.\n\nSecond paragraph.", False)


def test_plain_structured_only_fields_are_not_read():
    art = decode(plain(byline="By Someone", located="Paris", body="Text"))
    assert (art.byline, art.located) == (None, None)


@pytest.mark.parametrize("status, expected", [("canceled", "canceled"), ("withheld", "withheld"), (None, "usable")])
def test_plain_pubstatus(status, expected):
    assert decode(plain(pubstatus=status)).pubstatus == expected


@pytest.mark.parametrize(
    "fields, code, prefix",
    [
        ({"id": 123}, ErrorCode.WRONG_TYPE, "id:"),
        ({"id": None}, ErrorCode.MISSING_URI, "id:"),
        ({"id": "   "}, ErrorCode.MISSING_URI, "id:"),
        ({"id": "a\x00b"}, ErrorCode.INVALID_URI, "id:"),
        ({"id": "i" * 2049}, ErrorCode.INVALID_URI, "id:"),
        ({"source": 5}, ErrorCode.WRONG_TYPE, "source:"),
        ({"headline": ["H"]}, ErrorCode.WRONG_TYPE, "headline:"),
        ({"body": {"html": "<p>x</p>"}}, ErrorCode.WRONG_TYPE, "body:"),
        ({"language": 1}, ErrorCode.WRONG_TYPE, "language:"),
        ({"published_at": 1731911400}, ErrorCode.WRONG_TYPE, "published_at:"),
        ({"published_at": "yesterday"}, ErrorCode.INVALID_TIMESTAMP, "published_at:"),
        ({"updated_at": "2024-13-01"}, ErrorCode.INVALID_TIMESTAMP, "updated_at:"),
        ({"version": "v2"}, ErrorCode.INVALID_VERSION, "version:"),
        ({"pubstatus": "draft"}, ErrorCode.INVALID_PUBSTATUS, "pubstatus:"),
        ({"url": 5}, ErrorCode.WRONG_TYPE, "url:"),
        ({"url": "ftp://newswire.example/x"}, ErrorCode.INVALID_URI, "url:"),
        ({"url": "/stories/1"}, ErrorCode.INVALID_URI, "url:"),
        ({"url": "https://a b"}, ErrorCode.INVALID_URI, "url:"),
        ({"url": "https://x/" + "a" * 2048}, ErrorCode.INVALID_URI, "url:"),
        ({"headline": " ", "body": "\n"}, ErrorCode.NO_CONTENT, "headline/body:"),
        ({"headline": ...}, ErrorCode.NO_CONTENT, "headline/body:"),
    ],
)
def test_plain_errors(fields, code, prefix):
    err = expect_obj_error(plain(**fields), code)
    assert err.message.startswith(prefix), err.message


def test_plain_updated_at_wins_for_version_created():
    art = decode(plain(updated_at="2024-11-18T07:00:00+01:00"))
    assert art.first_created == datetime(2024, 11, 18, 6, 30, tzinfo=UTC)
    assert art.version_created == datetime(2024, 11, 18, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "<p>Paragraph</p>",
        "  <div class='story'>x</div>",
        "<!-- cms --> text",
        "<!DOCTYPE html><html><body>x</body></html>",
        "Line one<br>Line two",
        "Line one<br/>Line two",
        "Line one<BR />Line two",
        "Some <b>bold</b> text",
        "See <a href=\"https://x\">this</a>.",
        "Text</p>",
        "<custom-element>x</custom-element>",
        "Intro\n\n<p>Then HTML</p>",
        "<h2>Sub</h2>",
    ],
)
def test_looks_like_html_true(text):
    assert looks_like_html(text) is True


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Plain text.\n\nSecond paragraph.",
        "AT&amp;T &nbsp; entities alone",
        "3 < 5 and 7 > 2",
        "Revenue rose <10% in Q3",
        "He said <grin> and left",
        "Mail <desk@newswire.example> for corrections",
        "a<b and c>d",
        "<3 hearts",
        "x <= y",
        "<<not a tag>>",
    ],
)
def test_looks_like_html_false(text):
    assert looks_like_html(text) is False


def test_looks_like_html_non_string():
    assert looks_like_html(None) is False  # type: ignore[arg-type]


# --------------------------------------------------------------------------- contracts


def load_schema(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = load_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("name", sorted(SCHEMA_FOR_FORMAT.values()))
def test_input_schemas_are_valid_and_name_their_format(name):
    schema = load_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA_FOR_FORMAT[schema["x-source-format"]] == name
    article_fields = {f.name for f in dataclasses.fields(Article)}
    named = {p["x-article-field"] for p in schema["properties"].values() if "x-article-field" in p}
    assert named <= article_fields
    assert {"story_id", "version", "headline", "body_raw", "first_created", "version_created", "provider"} <= named


@pytest.mark.parametrize("name", sorted(n for n in FIXTURE_FORMATS if n.endswith(".json")))
def test_json_fixtures_validate_against_their_schema(name):
    schema_name = SCHEMA_FOR_FORMAT[FIXTURE_FORMATS[name]]
    errors = sorted(validator(schema_name).iter_errors(doc(name)), key=str)
    assert not errors, [e.message for e in errors]


@pytest.mark.parametrize(
    "schema_name, instance",
    [
        ("ninjs.input.schema.json", {"headline": "h"}),
        ("ninjs.input.schema.json", {"uri": "u", "pubstatus": "draft", "headline": "h"}),
        ("ninjs.input.schema.json", {"uri": "u", "headline": "h", "subjects": "politics"}),
        ("ninjs.input.schema.json", {"uri": "u", "headline": "h", "people": [5]}),
        ("ninjs.input.schema.json", {"uri": "u", "version": "v2"}),
        ("ninjs3.input.schema.json", {"uri": "u", "headlines": [{"value": "h"}], "pubStatus": "draft"}),
        ("ninjs3.input.schema.json", {"uri": "u", "headlines": [{"value": "h"}], "places": [{"name": 5}]}),
        ("ninjs3.input.schema.json", {"uri": "u"}),
        ("plain.input.schema.json", {"source": "Desk", "body": "x"}),
        ("plain.input.schema.json", {"id": "x", "body": 5}),
        ("plain.input.schema.json", {"id": "x", "body": "b", "url": "ftp://x"}),
    ],
)
def test_schemas_reject_what_the_decoder_rejects(schema_name, instance):
    assert not validator(schema_name).is_valid(instance)
    with pytest.raises(DecodeError):
        decode(instance)


G2_MAPPING = SCHEMAS / "newsml-g2.input.json"


def fields_set(article: Article) -> set[str]:
    """Article fields holding something other than their empty/default value."""
    out = set()
    for f in dataclasses.fields(Article):
        value = getattr(article, f.name)
        if f.default is not dataclasses.MISSING:
            empty = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            empty = f.default_factory()  # type: ignore[misc]
        else:
            empty = None
        if value not in (empty, None, "", ()):
            out.add(f.name)
    # body_is_html False and source_format are set by the decoder even when they equal the default
    return out | {"source_format", "body_is_html"}


def test_g2_mapping_document():
    mapping_doc = json.loads(G2_MAPPING.read_text(encoding="utf-8"))
    assert mapping_doc["source_format"] == "newsml-g2"
    assert mapping_doc["namespaces"]["nar"] == NAR
    assert mapping_doc["xsd"]["namespace"] == NAR
    assert mapping_doc["xsd"]["url"].startswith("http://www.iptc.org/std/NewsML-G2/2.")
    assert mapping_doc["xsd"]["url"].endswith("-spec-All-Power.xsd")
    article_fields = {f.name for f in dataclasses.fields(Article)}
    mapped = set(mapping_doc["mapping"])
    unmapped = set(mapping_doc["not_set_by_decoder"])
    assert mapped <= article_fields
    assert mapped.isdisjoint(unmapped)
    assert mapped | unmapped == article_fields
    decoded = [fixture("afp_newsml_g2.xml"), fixture("afp_kill_newsml_g2.xml"),
               decode_message(g2(item_meta="<embargoed>2024-11-18T00:00:00Z</embargoed>"))]
    for art in decoded:
        assert fields_set(art) <= mapped, fields_set(art) - mapped
    assert {"body_text", "content_hash"} <= unmapped


def test_g2_mapping_xpaths_compile_and_find_the_fixture_values():
    mapping_doc = json.loads(G2_MAPPING.read_text(encoding="utf-8"))
    namespaces = {"nar": NAR}
    item = etree.fromstring(raw("afp_newsml_g2.xml"))
    article = fixture("afp_newsml_g2.xml")
    set_here = fields_set(article) - {"source_format", "body_is_html"}
    for field, spec in mapping_doc["mapping"].items():
        if "value" in spec:
            assert getattr(article, field) == spec["value"]
            continue
        hits = [etree.XPath(xpath, namespaces=namespaces)(item) for xpath in spec["xpath"]]
        if field in set_here:
            assert any(hits), field


# --------------------------------------------------------------------------- samples and the feed agree with the decoder


INGESTED_AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def outcome(value: bytes, max_bytes: int = 1024 * 1024) -> str:
    """'ok' or the dead-letter code the pipeline would give (decode, then partition date)."""
    try:
        article = decode_message(value, max_bytes=max_bytes)
        partition_date(article, INGESTED_AT)
    except DecodeError as exc:
        return exc.code
    return "ok"


def test_bad_messages_sample_codes_match_the_decoder():
    lines = (SAMPLES / "bad_messages.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines
    for line in lines:
        entry = json.loads(line)
        value = base64.b64decode(entry["value_b64"], validate=True)
        assert outcome(value) == entry["expected_error_code"], entry["label"]


def test_stories_sample_all_decode_as_ninjs():
    lines = (SAMPLES / "stories.jsonl").read_text(encoding="utf-8").splitlines()
    for line in lines:
        value = line.encode("utf-8")
        assert outcome(value) == "ok"
        article = decode_message(value)
        assert article.source_format == "ninjs"
        assert article.body_raw is not None


def _feed_module():
    from tests.support import feed  # noqa: PLC0415
    return feed


def test_integration_feed_codes_match_the_decoder():
    feedmod = _feed_module()
    max_bytes = 64 * 1024
    messages = feedmod.build_feed(n_messages=400, partitions=3, seed=5, max_message_bytes=max_bytes)
    seen = set()
    for m in messages:
        got = outcome(m.value, max_bytes)
        if m.is_bad:
            assert got == m.error_code, m.label
            seen.add(m.error_code)
        else:
            assert got == "ok", m.label
    assert seen == set(feedmod.BAD_CODES)
