"""Unit tests for pipeline.news.decode: ninjs 1.x/2.x mapping, error codes, helpers.

The decoder no longer cleans: bodies are checked as ``body_raw``/``body_is_html``;
``body_text`` and ``content_hash`` stay empty until the cleaning stage. Other formats
(ninjs 3, NewsML-G2, plain JSON) and detection are covered in test_formats.py.
"""
from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline.news.decode import (
    DEFAULT_MAX_MESSAGE_BYTES,
    content_hash,
    decode_message,
    parse_timestamp,
    partition_date,
)
from pipeline.news.model import Article, DecodeError, ErrorCode

SEED_ARTICLE = Path(__file__).resolve().parents[2] / "fixtures" / "seed_article.txt"
UTC = timezone.utc


def encode(obj) -> bytes:
    return json.dumps(obj).encode("utf-8")


def decode(obj, **kwargs) -> Article:
    return decode_message(encode(obj), **kwargs)


def minimal(**fields) -> dict:
    base = {"uri": "urn:newsml:afp.com:20241117:abc", "headline": "Headline"}
    base.update(fields)
    return base


def expect_error(value: bytes | None, code: str, **kwargs) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        decode_message(value, **kwargs)
    assert info.value.code == code, info.value.message
    return info.value


def expect_obj_error(obj, code: str) -> DecodeError:
    return expect_error(encode(obj), code)


# --------------------------------------------------------------------------- ninjs 1.x


def test_ninjs_1x_full_mapping():
    article = decode(
        {
            "uri": "  urn:newsml:afp.com:20241117:abc  ",
            "version": "3",
            "firstcreated": "2024-11-17T08:00:00Z",
            "versioncreated": "2024-11-17T10:30:15+01:00",
            "pubstatus": "usable",
            "headline": "  Biden authorizes long-range missiles  ",
            "body_text": "First line.\nSecond line.",
            "byline": "John Doe",
            "located": "Washington",
            "language": "en",
            "copyrightholder": "AFP",
        }
    )
    assert article.story_id == "urn:newsml:afp.com:20241117:abc"
    assert article.version == 3
    assert article.first_created == datetime(2024, 11, 17, 8, 0, 0, tzinfo=UTC)
    assert article.version_created == datetime(2024, 11, 17, 9, 30, 15, tzinfo=UTC)
    assert article.pubstatus == "usable"
    assert article.headline == "Biden authorizes long-range missiles"
    assert article.body_raw == "First line.\nSecond line."
    assert article.body_is_html is False
    assert article.byline == "John Doe"
    assert article.located == "Washington"
    assert article.language == "en"
    assert article.provider == "AFP"
    assert article.source_format == "ninjs"
    assert article.extra == {}
    assert article.embargoed_until is None
    assert article.url is None
    assert article.provider_tags == ()
    # Cleaning happens later: nothing cleaned, nothing hashed yet.
    assert article.body_text is None
    assert article.content_hash == ""
    assert (article.paragraphs, article.captions, article.dateline, article.word_count) == ((), (), None, 0)


def test_ninjs_1x_body_html_used_when_no_body_text():
    article = decode(minimal(body_html="<p>One &amp; two</p><p>Three</p>"))
    assert article.body_raw == "<p>One &amp; two</p><p>Three</p>"  # raw: entities and markup kept
    assert article.body_is_html is True
    assert article.body_text is None


def test_body_text_preferred_over_body_html_and_bodies():
    article = decode(
        minimal(
            body_text="plain wins",
            body_html="<p>html</p>",
            bodies=[{"value": "2x", "contenttype": "text/plain"}],
        )
    )
    assert article.body_raw == "plain wins"
    assert article.body_is_html is False


def test_blank_body_text_falls_back_to_body_html():
    article = decode(minimal(body_text="   ", body_html="<p>from html</p>"))
    assert article.body_raw == "<p>from html</p>"
    assert article.body_is_html is True


def test_body_html_is_taken_even_if_it_has_no_text():
    # The decoder cannot tell whether HTML yields text any more: the first non-blank candidate wins.
    article = decode(minimal(body_html="<script>x()</script>", bodies=[{"value": "plain", "contenttype": "text/plain"}]))
    assert article.body_raw == "<script>x()</script>"
    assert article.body_is_html is True


def test_body_html_control_chars_and_line_ends_handled_markup_kept():
    article = decode(minimal(body_html="  <p>a\x00b</p>\r\n<p>c\fd \ud800</p>  "))
    assert article.body_raw == "<p>ab</p>\n<p>c d \ufffd</p>"
    article.body_raw.encode("utf-8")


def test_defaults_when_optional_fields_absent():
    article = decode({"uri": "u1", "headline": "H"})
    assert article.version == 1
    assert article.pubstatus == "usable"
    assert article.body_raw is None
    assert article.body_is_html is False
    assert article.provider is None
    assert article.byline is None
    assert article.located is None
    assert article.language is None
    assert article.first_created is None
    assert article.version_created is None


def test_null_optional_fields_are_treated_as_absent():
    article = decode(
        minimal(version=None, pubstatus=None, body_text=None, byline=None, firstcreated=None, provider=None)
    )
    assert article.version == 1
    assert article.pubstatus == "usable"
    assert article.body_raw is None
    assert article.byline is None
    assert article.first_created is None
    assert article.provider is None


def test_body_only_without_headline_is_accepted():
    article = decode({"uri": "u1", "body_text": "Just a body"})
    assert article.headline is None
    assert article.body_raw == "Just a body"


# --------------------------------------------------------------------------- ninjs 2.x


def test_ninjs_2x_full_mapping():
    article = decode(
        {
            "uri": "http://example.com/story/1",
            "version": "12",
            "firstcreated": "2024-11-17T08:00:00.250Z",
            "versioncreated": "2024-11-17T09:00:00Z",
            "pubstatus": "withheld",
            "headlines": [
                {"value": "Sub headline", "role": "sub"},
                {"value": "Main headline", "role": "main"},
            ],
            "bodies": [
                {"value": "<p>HTML body</p>", "contenttype": "text/html"},
                {"value": "Plain body", "contenttype": "text/plain", "role": "main"},
            ],
            "by": "Jane Roe",
            "located": {"name": "Kyiv", "code": "UA"},
            "language": "en-GB",
            "infosources": [{"name": "AFP", "role": "source"}, {"name": "Reuters"}],
        }
    )
    assert article.story_id == "http://example.com/story/1"
    assert article.version == 12
    assert article.first_created == datetime(2024, 11, 17, 8, 0, 0, 250000, tzinfo=UTC)
    assert article.version_created == datetime(2024, 11, 17, 9, 0, tzinfo=UTC)
    assert article.pubstatus == "withheld"
    assert article.headline == "Main headline"
    assert article.body_raw == "<p>HTML body</p>"  # the marked-up rendition, as rich as the plain one
    assert article.body_is_html is True
    assert article.byline == "Jane Roe"
    assert article.located == "Kyiv"
    assert article.language == "en-GB"
    assert article.provider == "AFP"


def test_headlines_without_main_role_uses_first():
    article = decode({"uri": "u", "headlines": [{"value": "First"}, {"value": "Second", "role": "sub"}]})
    assert article.headline == "First"


def test_headlines_skip_empty_values():
    article = decode({"uri": "u", "headlines": [{"value": "  "}, {"value": "Real"}]})
    assert article.headline == "Real"


def test_headline_string_preferred_over_headlines():
    article = decode({"uri": "u", "headline": "1.x", "headlines": [{"value": "2.x", "role": "main"}]})
    assert article.headline == "1.x"


def test_bodies_html_used_when_no_plain():
    article = decode(
        {"uri": "u", "bodies": [{"value": "<p>A</p><p>B &lt;C&gt;</p>", "contenttype": "text/html"}]}
    )
    assert article.body_raw == "<p>A</p><p>B &lt;C&gt;</p>"
    assert article.body_is_html is True


def test_bodies_camelcase_content_type_and_parameters():
    article = decode(
        {
            "uri": "u",
            "bodies": [
                {"value": "<p>html</p>", "contentType": "text/html; charset=utf-8"},
                {"value": "plain", "contentType": "TEXT/PLAIN"},
            ],
        }
    )
    assert (article.body_raw, article.body_is_html) == ("<p>html</p>", True)
    assert article.source_format == "ninjs"  # camelCase inside bodies[] is not ninjs 3 evidence


def test_bodies_html_camelcase_only():
    article = decode({"uri": "u", "bodies": [{"value": "<div>x<br>y</div>", "contentType": "text/html"}]})
    assert article.body_raw == "<div>x<br>y</div>"
    assert article.body_is_html is True


def test_bodies_blank_after_control_chars_falls_through():
    article = decode(
        {
            "uri": "u",
            "bodies": [
                {"value": "\x00\x01", "contenttype": "text/plain", "role": "main"},
                {"value": "real text", "contenttype": "text/plain"},
            ],
        }
    )
    assert article.body_raw == "real text"


def test_bodies_prefer_main_role_within_kind():
    article = decode(
        {
            "uri": "u",
            "bodies": [
                {"value": "summary", "contenttype": "text/plain", "role": "abstract"},
                {"value": "full story", "contenttype": "text/plain", "role": "main"},
            ],
        }
    )
    assert article.body_raw == "full story"


def test_bodies_unknown_content_type_ignored():
    article = decode(
        {
            "uri": "u",
            "headline": "H",
            "bodies": [{"value": "# md", "contenttype": "text/markdown"}],
        }
    )
    assert article.body_raw is None


def test_located_string_and_dict_forms():
    assert decode(minimal(located=" Paris ")).located == "Paris"
    assert decode(minimal(located={"name": "Berlin"})).located == "Berlin"
    assert decode(minimal(located={"code": "DE"})).located is None


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"copyrightholder": " AFP "}, "AFP"),
        ({"infosources": [{"name": "Reuters"}]}, "Reuters"),
        ({"provider": "AP"}, "AP"),
        ({"provider": {"name": " dpa "}}, "dpa"),
        ({"copyrightholder": "AFP", "infosources": [{"name": "Reuters"}], "provider": "AP"}, "AFP"),
        ({"infosources": [{"name": "Reuters"}], "provider": "AP"}, "Reuters"),
        ({"copyrightholder": "  ", "provider": "AP"}, "AP"),
        ({"infosources": [], "provider": {"name": "AP"}}, "AP"),
        ({}, None),
    ],
)
def test_provider_precedence(fields, expected):
    assert decode(minimal(**fields)).provider == expected


def test_byline_1x_preferred_over_by():
    assert decode(minimal(byline="A", by="B")).byline == "A"
    assert decode(minimal(by=" B ")).byline == "B"


# --------------------------------------------------------------------------- version / pubstatus


@pytest.mark.parametrize("raw, expected", [(0, 0), (5, 5), ("7", 7), (" 8 ", 8), (2.0, 2), ("0012", 12)])
def test_version_accepted(raw, expected):
    assert decode(minimal(version=raw)).version == expected


@pytest.mark.parametrize(
    "raw", [-1, "-1", True, False, 1.5, "1.0", "abc", "", "1e3", "\u0663", 2**63, "9" * 30]
)
def test_version_invalid(raw):
    expect_obj_error(minimal(version=raw), ErrorCode.INVALID_VERSION)


def test_version_wrong_type():
    err = expect_obj_error(minimal(version=[1]), ErrorCode.WRONG_TYPE)
    assert "version" in err.message


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("usable", "usable"),
        ("USABLE", "usable"),
        ("withheld", "withheld"),
        ("canceled", "canceled"),
        ("Cancelled", "canceled"),
        ("embargoed", "embargoed"),
    ],
)
def test_pubstatus_accepted(raw, expected):
    assert decode(minimal(pubstatus=raw)).pubstatus == expected


@pytest.mark.parametrize("raw", ["deleted", "", "usable!"])
def test_pubstatus_invalid(raw):
    err = expect_obj_error(minimal(pubstatus=raw), ErrorCode.INVALID_PUBSTATUS)
    assert "pubstatus" in err.message


# --------------------------------------------------------------------------- error codes


def test_empty_message():
    expect_error(None, ErrorCode.EMPTY_MESSAGE)
    expect_error(b"", ErrorCode.EMPTY_MESSAGE)


def test_too_large_checked_before_decoding():
    # Invalid UTF-8 that is also too large must be reported as too large.
    err = expect_error(b"\xff" * 101, ErrorCode.TOO_LARGE, max_bytes=100)
    assert "100" in err.message


def test_too_large_default_limit():
    payload = encode(minimal(body_text="x" * DEFAULT_MAX_MESSAGE_BYTES))
    expect_error(payload, ErrorCode.TOO_LARGE)


def test_exactly_max_bytes_is_accepted():
    payload = encode(minimal())
    assert decode_message(payload, max_bytes=len(payload)).headline == "Headline"


def test_invalid_utf8():
    err = expect_error(b'{"uri": "u", "headline": "caf\xe9"}', ErrorCode.INVALID_UTF8)
    assert "UTF-8" in err.message


def test_utf8_bom_tolerated():
    article = decode_message(b"\xef\xbb\xbf" + encode(minimal()))
    assert article.headline == "Headline"


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"not json",
        b"   ",
        b'{"uri": "u", "headline": "h",}',
        b'{"uri": "u", "headline": "h", "version": NaN}',
        b'{"uri": "u", "headline": "h", "version": Infinity}',
        b'{"uri": "u", "headline": "h", "version": -Infinity}',
    ],
)
def test_invalid_json(raw):
    expect_error(raw, ErrorCode.INVALID_JSON)


@pytest.mark.parametrize("raw", [b"[]", b'"string"', b"42", b"null", b"true", b'[{"uri": "u"}]'])
def test_not_an_object(raw):
    expect_error(raw, ErrorCode.NOT_AN_OBJECT)


def test_missing_uri():
    expect_obj_error({"headline": "h"}, ErrorCode.MISSING_URI)
    expect_obj_error({"uri": None, "headline": "h"}, ErrorCode.MISSING_URI)
    expect_obj_error({"uri": "   ", "headline": "h"}, ErrorCode.MISSING_URI)


def test_invalid_uri():
    expect_obj_error({"uri": "u" * 2049, "headline": "h"}, ErrorCode.INVALID_URI)
    expect_obj_error({"uri": "urn:a\x00b", "headline": "h"}, ErrorCode.INVALID_URI)
    expect_obj_error({"uri": "urn:a\nb", "headline": "h"}, ErrorCode.INVALID_URI)
    assert decode({"uri": "u" * 2048, "headline": "h"}).story_id == "u" * 2048


def test_uri_wrong_type():
    err = expect_obj_error({"uri": 123, "headline": "h"}, ErrorCode.WRONG_TYPE)
    assert "uri" in err.message


def test_no_content():
    expect_obj_error({"uri": "u"}, ErrorCode.NO_CONTENT)
    expect_obj_error({"uri": "u", "headline": "  ", "body_text": "\n\t"}, ErrorCode.NO_CONTENT)
    expect_obj_error({"uri": "u", "body_html": " \r\n\x00 "}, ErrorCode.NO_CONTENT)
    expect_obj_error({"uri": "u", "headlines": [], "bodies": [{"value": ""}]}, ErrorCode.NO_CONTENT)
    expect_obj_error({"uri": "u", "bodies": [{"value": "<p>x</p>", "contenttype": "text/markdown"}]}, ErrorCode.NO_CONTENT)


def test_html_without_text_is_no_longer_no_content():
    # Whether HTML yields text is decided by the cleaning stage now; the decoder passes it on.
    article = decode({"uri": "u", "body_html": "<script>x()</script><!-- c -->"})
    assert article.body_raw == "<script>x()</script><!-- c -->"
    assert article.body_is_html is True


@pytest.mark.parametrize(
    "fields, field_name",
    [
        ({"headline": 42}, "headline"),
        ({"headlines": "H"}, "headlines"),
        ({"headlines": ["H"]}, "headlines[0]"),
        ({"headlines": [{"value": 1}]}, "headlines[0].value"),
        ({"headlines": [{"value": "H", "role": 3}]}, "headlines[0].role"),
        ({"body_text": ["x"]}, "body_text"),
        ({"body_html": {"p": "x"}}, "body_html"),
        ({"bodies": {"value": "x"}}, "bodies"),
        ({"bodies": ["x"]}, "bodies[0]"),
        ({"bodies": [{"value": 5}]}, "bodies[0].value"),
        ({"bodies": [{"value": "x", "contenttype": 5}]}, "bodies[0].contenttype"),
        ({"byline": 1}, "byline"),
        ({"by": ["a"]}, "by"),
        ({"located": 5}, "located"),
        ({"located": {"name": 5}}, "located.name"),
        ({"language": 1}, "language"),
        ({"copyrightholder": 1}, "copyrightholder"),
        ({"infosources": {"name": "x"}}, "infosources"),
        ({"infosources": ["AFP"]}, "infosources[0]"),
        ({"infosources": [{"name": 1}]}, "infosources[0].name"),
        ({"provider": 7}, "provider"),
        ({"provider": {"name": []}}, "provider.name"),
        ({"firstcreated": 1700000000}, "firstcreated"),
        ({"versioncreated": {"t": 1}}, "versioncreated"),
        ({"pubstatus": 1}, "pubstatus"),
    ],
)
def test_wrong_type_names_field(fields, field_name):
    err = expect_obj_error(minimal(**fields), ErrorCode.WRONG_TYPE)
    assert err.message.startswith(field_name + ":"), err.message


def test_wrong_type_in_unused_fallback_field_still_rejected():
    # headline is present, but a malformed headlines list is still a contract violation.
    expect_obj_error(minimal(headlines=5), ErrorCode.WRONG_TYPE)


@pytest.mark.parametrize("field", ["firstcreated", "versioncreated"])
def test_invalid_timestamp_field(field):
    err = expect_obj_error(minimal(**{field: "yesterday"}), ErrorCode.INVALID_TIMESTAMP)
    assert field in err.message


def test_date_out_of_range_code_from_partition_date():
    article = decode(minimal(firstcreated="1970-01-01T00:00:00Z"))
    with pytest.raises(DecodeError) as info:
        partition_date(article, datetime(2024, 1, 1, tzinfo=UTC))
    assert info.value.code == ErrorCode.DATE_OUT_OF_RANGE


def test_non_bytes_value_raises_decode_error():
    with pytest.raises(DecodeError) as info:
        decode_message('{"uri": "u", "headline": "h"}')  # type: ignore[arg-type]
    assert info.value.code == ErrorCode.WRONG_TYPE


def test_unexpected_failure_becomes_internal_decode_error(monkeypatch):
    import pipeline.news.formats.ninjs_content as ninjs_module

    def boom(html: str) -> str:
        raise RuntimeError("secret input " + html)

    monkeypatch.setattr(ninjs_module, "prepared_html", boom)
    err = expect_obj_error({"uri": "u", "body_html": "<p>private</p>"}, ErrorCode.INTERNAL)
    assert "RuntimeError" in err.message
    assert "private" not in err.message


def test_bytearray_and_memoryview_accepted():
    raw = encode(minimal())
    assert decode_message(bytearray(raw)).headline == "Headline"
    assert decode_message(memoryview(raw)).headline == "Headline"


# --------------------------------------------------------------------------- error message hygiene


LONG = "Z" * 5000


@pytest.mark.parametrize(
    "obj",
    [
        {"uri": "u" + LONG},
        {"uri": "u\x00" + LONG},
        minimal(version=LONG),
        minimal(version="9" * 5000),
        minimal(pubstatus=LONG),
        minimal(firstcreated=LONG),
        minimal(firstcreated="2024-" + LONG),
        minimal(headline=[LONG]),
    ],
)
def test_error_messages_short_and_do_not_echo_input(obj):
    with pytest.raises(DecodeError) as info:
        decode(obj)
    message = info.value.message
    assert len(message) <= 160
    assert "Z" * 81 not in message
    assert "9" * 81 not in message
    assert "u" * 81 not in message
    assert str(info.value) == message


def test_invalid_json_message_does_not_echo_input():
    with pytest.raises(DecodeError) as info:
        decode_message(b'{"uri": "' + b"A" * 5000 + b'", oops}')
    assert info.value.code == ErrorCode.INVALID_JSON
    assert "A" * 81 not in info.value.message
    assert len(info.value.message) <= 160


# --------------------------------------------------------------------------- text cleaning


def test_control_characters_removed_from_text_fields():
    article = decode(
        {
            "uri": "u",
            "headline": "Head\x00line\x07",
            "body_text": "Line\x001\tx\nLine\x1b2",
            "byline": "By\x0bline",
            "located": "Par\x00is",
            "language": "e\x01n",
            "copyrightholder": "A\x1fFP",
        }
    )
    assert article.headline == "Headline"
    assert article.body_raw == "Line1\tx\nLine2"
    assert article.byline == "Byline"
    assert article.located == "Paris"
    assert article.language == "en"
    assert article.provider == "AFP"


def test_crlf_normalised_to_newline():
    article = decode(minimal(body_text="a\r\nb\rc"))
    assert article.body_raw == "a\nb\nc"


def test_lone_surrogates_replaced():
    article = decode_message(b'{"uri": "u", "headline": "bad \\ud800 char"}')
    assert article.headline == "bad \ufffd char"
    article.headline.encode("utf-8")  # must be writable as UTF-8


def test_unicode_escapes_decoded():
    article = decode_message(b'{"uri": "u", "headline": "caf\\u00e9"}')
    assert article.headline == "caf\u00e9"


def test_seed_article_body_keeps_all_lines():
    text = SEED_ARTICLE.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) >= 20
    article = decode(
        {
            "uri": "urn:newsml:afp.com:20241117:seed",
            "version": "1",
            "headline": "Biden authorizes Ukraine to use long-range US missiles inside Russia",
            "body_text": text,
            "language": "en",
            "copyrightholder": "AFP",
        }
    )
    assert article.body_raw is not None
    assert article.body_is_html is False
    assert article.body_raw.splitlines() == text.strip().splitlines()
    for line in lines:
        assert line in article.body_raw
    assert article.body_raw.startswith("This handout photo courtesy")
    assert article.body_raw.endswith("the state grid operator announced.")


def test_seed_article_as_html_paragraphs_keeps_all_lines():
    text = SEED_ARTICLE.read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    html = "".join(f"<p>{line.replace('&', '&amp;').replace('<', '&lt;')}</p>" for line in lines)
    article = decode({"uri": "u", "bodies": [{"value": html, "contenttype": "text/html"}]})
    assert article.body_raw == html
    assert article.body_is_html is True


# --------------------------------------------------------------------------- parse_timestamp


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("2024-11-17T08:00:00Z", datetime(2024, 11, 17, 8, 0, 0, tzinfo=UTC)),
        ("2024-11-17T08:00:00z", datetime(2024, 11, 17, 8, 0, 0, tzinfo=UTC)),
        ("2024-11-17t08:00:00Z", datetime(2024, 11, 17, 8, 0, 0, tzinfo=UTC)),
        ("2024-11-17 08:00:00Z", datetime(2024, 11, 17, 8, 0, 0, tzinfo=UTC)),
        ("2024-11-17T08:00:00+01:00", datetime(2024, 11, 17, 7, 0, 0, tzinfo=UTC)),
        ("2024-11-17T08:00:00-05:30", datetime(2024, 11, 17, 13, 30, 0, tzinfo=UTC)),
        ("2024-11-17T08:00:00+0100", datetime(2024, 11, 17, 7, 0, 0, tzinfo=UTC)),
        ("2024-11-17T08:00:00+01", datetime(2024, 11, 17, 7, 0, 0, tzinfo=UTC)),
        ("2024-11-17T08:00:00-00:00", datetime(2024, 11, 17, 8, 0, 0, tzinfo=UTC)),
        ("2024-11-17T08:00:00.5Z", datetime(2024, 11, 17, 8, 0, 0, 500000, tzinfo=UTC)),
        ("2024-11-17T08:00:00.123456Z", datetime(2024, 11, 17, 8, 0, 0, 123456, tzinfo=UTC)),
        ("2024-11-17T08:00:00.123456789Z", datetime(2024, 11, 17, 8, 0, 0, 123456, tzinfo=UTC)),
        ("2024-11-17T08:00:00,25Z", datetime(2024, 11, 17, 8, 0, 0, 250000, tzinfo=UTC)),
        ("2024-11-17T08:00Z", datetime(2024, 11, 17, 8, 0, tzinfo=UTC)),
        ("2024-11-17T08:00:00", datetime(2024, 11, 17, 8, 0, 0, tzinfo=UTC)),  # naive -> UTC
        ("2024-11-17", datetime(2024, 11, 17, tzinfo=UTC)),
        ("  2024-11-17T08:00:00Z ", datetime(2024, 11, 17, 8, 0, 0, tzinfo=UTC)),
        ("2024-01-01T00:30:00+01:00", datetime(2023, 12, 31, 23, 30, tzinfo=UTC)),
        ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC)),  # leap second
    ],
)
def test_parse_timestamp_variants(raw, expected):
    parsed = parse_timestamp(raw)
    assert parsed == expected
    assert parsed.tzinfo == UTC
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "yesterday",
        "2024-13-01",
        "2024-02-30",
        "2024-11-17T25:00:00Z",
        "2024-11-17T08:61:00Z",
        "2024-11-17T08:00:00+24:00",
        "2024-11-17T08:00:00+01:60",
        "0000-01-01",
        "0001-01-01T00:00:00+01:00",  # before datetime.min once converted to UTC
        "9999-12-31T23:00:00-05:00",  # after datetime.max once converted to UTC
        "17/11/2024",
        "2024-11-17T08:00:00Q",
        "\u0662\u0660\u0662\u0664-01-01",  # non-ASCII digits
        "2024-11-17T08:00:00Z" + "0" * 100,
        "1700000000",
    ],
)
def test_parse_timestamp_invalid(raw):
    with pytest.raises(DecodeError) as info:
        parse_timestamp(raw)
    assert info.value.code == ErrorCode.INVALID_TIMESTAMP
    assert len(info.value.message) <= 160


def test_parse_timestamp_non_string():
    with pytest.raises(DecodeError) as info:
        parse_timestamp(12345)  # type: ignore[arg-type]
    assert info.value.code == ErrorCode.INVALID_TIMESTAMP


def test_parse_timestamp_names_field():
    with pytest.raises(DecodeError) as info:
        parse_timestamp("nope", field="versioncreated")
    assert info.value.message.startswith("versioncreated:")


# --------------------------------------------------------------------------- partition_date


INGESTED = datetime(2024, 11, 18, 12, 0, tzinfo=UTC)


def article_with(first=None, version=None) -> Article:
    base = decode(minimal())
    return replace(base, first_created=first, version_created=version)


def test_partition_date_uses_first_created():
    art = article_with(datetime(2024, 11, 17, 8, tzinfo=UTC), datetime(2024, 11, 18, 8, tzinfo=UTC))
    result = partition_date(art, INGESTED)
    assert result == date(2024, 11, 17)
    assert type(result) is date


def test_partition_date_falls_back_to_version_created():
    result = partition_date(article_with(None, datetime(2024, 11, 16, 8, tzinfo=UTC)), INGESTED)
    assert result == date(2024, 11, 16)
    assert type(result) is date


def test_partition_date_falls_back_to_ingested_at():
    result = partition_date(article_with(), INGESTED)
    assert result == date(2024, 11, 18)
    assert type(result) is date


def test_partition_date_uses_utc_day_of_offset_timestamps():
    first = parse_timestamp("2024-11-17T00:30:00+02:00")  # 2024-11-16 22:30 UTC
    assert partition_date(article_with(first), INGESTED) == date(2024, 11, 16)
    non_utc = datetime(2024, 11, 17, 1, 0, tzinfo=timezone(timedelta(hours=5)))
    assert partition_date(article_with(non_utc), INGESTED) == date(2024, 11, 16)


def test_partition_date_naive_ingested_at_is_utc():
    assert partition_date(article_with(), datetime(2024, 11, 18, 23, 59)) == date(2024, 11, 18)


def test_partition_date_lower_bound_inclusive():
    art = article_with(datetime(1990, 1, 1, tzinfo=UTC))
    assert partition_date(art, INGESTED) == date(1990, 1, 1)


def test_partition_date_before_1990_rejected():
    art = article_with(datetime(1989, 12, 31, 23, 59, 59, tzinfo=UTC))
    with pytest.raises(DecodeError) as info:
        partition_date(art, INGESTED)
    assert info.value.code == ErrorCode.DATE_OUT_OF_RANGE
    assert "first_created" in info.value.message


def test_partition_date_upper_bound_inclusive():
    art = article_with(None, datetime(2024, 11, 20, 23, 59, 59, tzinfo=UTC))
    assert partition_date(art, INGESTED) == date(2024, 11, 20)


def test_partition_date_too_far_in_future_rejected():
    art = article_with(None, datetime(2024, 11, 21, 0, 0, tzinfo=UTC))
    with pytest.raises(DecodeError) as info:
        partition_date(art, INGESTED)
    assert info.value.code == ErrorCode.DATE_OUT_OF_RANGE
    assert "version_created" in info.value.message


def test_partition_date_invalid_first_created_does_not_fall_back():
    art = article_with(datetime(1970, 1, 1, tzinfo=UTC), datetime(2024, 11, 17, tzinfo=UTC))
    with pytest.raises(DecodeError) as info:
        partition_date(art, INGESTED)
    assert info.value.code == ErrorCode.DATE_OUT_OF_RANGE


def test_partition_date_ingested_at_out_of_range():
    with pytest.raises(DecodeError) as info:
        partition_date(article_with(), datetime(1980, 1, 1, tzinfo=UTC))
    assert info.value.code == ErrorCode.DATE_OUT_OF_RANGE


def test_partition_date_ingested_near_max_does_not_overflow():
    far = datetime(9999, 12, 31, 12, tzinfo=UTC)
    assert partition_date(article_with(), far) == date(9999, 12, 31)


def test_partition_date_requires_datetime_ingested_at():
    with pytest.raises(TypeError):
        partition_date(article_with(), date(2024, 11, 18))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- content_hash


def test_content_hash_is_sha256_hex_of_normalized_form():
    import hashlib

    expected = hashlib.sha256("Head line\n\nBody text".encode()).hexdigest()
    assert content_hash("  Head   line ", "Body\n\n text  ") == expected
    assert len(expected) == 64


def test_content_hash_same_for_different_json_layouts():
    # The decoder leaves content_hash to the cleaning stage, which hashes the cleaned body with
    # this function; the layouts below already agree on headline and plain body after decoding.
    a = b'{"uri":"u","headline":"It\xe2\x80\x99s \xe2\x80\x9cdone\xe2\x80\x9d","body_text":"Caf\xc3\xa9 opens.\\nMore."}'
    b = (
        b'{\n  "body_text" : "Cafe\\u0301 opens.\\r\\n\\n More.  ",\n'
        b'  "headline" : "It\\u0027s \\"done\\"",\n  "uri" : "u",\n  "version": "2"\n}'
    )
    c = encode({"uri": "u", "headlines": [{"value": "It\u2019s \u201cdone\u201d", "role": "main"}],
                "bodies": [{"value": "Caf\u00e9 opens.\nMore.", "contenttype": "text/plain"}]})
    articles = [decode_message(raw) for raw in (a, b, c)]
    assert {art.content_hash for art in articles} == {""}
    assert len({content_hash(art.headline, art.body_raw) for art in articles}) == 1


def test_content_hash_changes_with_body():
    assert content_hash("H", "The minister resigned.") != content_hash("H", "The minister did not resign.")


def test_content_hash_changes_with_headline():
    assert content_hash("A", "body") != content_hash("B", "body")


def test_content_hash_separates_headline_and_body():
    assert content_hash("a b", "c") != content_hash("a", "b c")
    assert content_hash(None, "x") != content_hash("x", None)


def test_content_hash_none_equals_empty():
    assert content_hash(None, None) == content_hash("", "  ")


def test_content_hash_handles_lone_surrogate():
    assert len(content_hash("\ud800", "x")) == 64


# --------------------------------------------------------------------------- robustness


def _fuzz_inputs() -> list[bytes]:
    rng = random.Random(1234)
    inputs = [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300))) for _ in range(200)]
    inputs += [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"uri": "u", "headline": "h", "version": ' + b"9" * 5000 + b"}",
        b'{"uri": "u", "headline": "h", "version": 1e999}',
        b'{"uri": "u", "headline": "h", "version": -1e999}',
        b'{"uri": "u", "headline": "h", "version": 1e300}',
        b'{"uri": "u", "headline": "h", "firstcreated": "9999-12-31T23:59:59-23:59"}',
        b'{"uri": "u", "headline": {"value": [[[[[]]]]]}}',
        b'{"uri": "u", "headlines": [[[[[]]]]]}',
        b'{"uri": "u", "bodies": [{"value": "' + b"<div>" * 10_000 + b'x"}]}',
        b'{"uri": "u", "body_html": "<p>\\u0000\\ud800</p>", "headline": null}',
        b'{"uri": "\\ud800"}',
        b'{"uri": "u", "headline": "h", "located": {"name": {"name": "x"}}}',
        b'{"uri": "u", "headline": "h", "provider": {}}',
        b"\xef\xbb\xbf",
        b"\x00" * 64,
        b'{"uri": "u", "headline": "h"}' + b"\x00",
        b'{"uri":"u","headline":"h","uri":5}',
    ]
    return inputs


def test_decode_never_raises_other_exceptions():
    outcomes = {"ok": 0, "error": 0}
    for raw in _fuzz_inputs():
        try:
            article = decode_message(raw)
        except DecodeError as exc:
            assert exc.code != ErrorCode.INTERNAL, (raw[:80], exc.message)
            assert isinstance(exc.message, str) and len(exc.message) <= 200
            outcomes["error"] += 1
        else:
            assert isinstance(article, Article)
            outcomes["ok"] += 1
    assert outcomes["error"] > 200


@pytest.mark.parametrize(
    "raw, code",
    [
        (b"[" * 100_000 + b"]" * 100_000, ErrorCode.INVALID_JSON),  # nesting too deep
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, ErrorCode.INVALID_JSON),
        (b'{"uri": "u", "headline": "h", "version": ' + b"9" * 5000 + b"}", ErrorCode.INVALID_JSON),
        (b'{"uri": "u", "headline": "h", "version": 1e999}', ErrorCode.INVALID_VERSION),
        (b'{"uri": "u", "headline": "h", "version": 1e300}', ErrorCode.INVALID_VERSION),
        (b'{"uri": "u", "headline": "h", "x": ' + b"1" * 4000 + b"}", None),
        (b'{"uri": "u", "headline": "h", "firstcreated": "9999-12-31T23:59:59-23:59"}', ErrorCode.INVALID_TIMESTAMP),
        (b'{"uri": "\\ud800", "headline": "h"}', ErrorCode.INVALID_URI),
        (b"\xef\xbb\xbf", ErrorCode.INVALID_JSON),
        (b'{"uri": "u", "headline": "h"}\x00', ErrorCode.INVALID_JSON),
        (b'{"uri":"u","headline":"h","uri":5}', ErrorCode.WRONG_TYPE),  # duplicate key: last wins
    ],
)
def test_hostile_inputs_specific_outcomes(raw, code):
    if code is None:
        assert decode_message(raw).headline == "h"
    else:
        expect_error(raw, code)
