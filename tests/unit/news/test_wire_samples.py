"""Real files from news agencies and standards bodies (``shared/wire-samples``), decoded and cleaned.

The expectations are read from the files themselves: the id and version each one declares, its
headline, where its story text starts, and what an editor would not count as story text (markup,
header blocks, bylines, reporting credits, opening datelines).
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import jsonschema
import pytest

from pipeline.news.clean import clean_article
from pipeline.news.decode import decode_message, detect_format, unwrap_envelope
from pipeline.news.model import Article, DecodeError
from pipeline.news.schema import SCHEMAS_DIR
from tests.support.wire_samples import NOT_STORIES, STORIES, wire_samples_dir

SAMPLES = wire_samples_dir()
UTC = timezone.utc

# What never belongs in a story's paragraphs, whichever agency sent it.
NOT_STORY_TEXT = [
    re.compile(r"</?[a-z][a-z0-9]*[\s>/]", re.I),  # markup
    re.compile(r"^\((?:ANSA|Reuters|AP|dpa|OPTA)\)|^[A-Z][a-z]{2} \d{1,2} \((?:Reuters|OPTA)\)"),  # opening datelines
    re.compile(r"^[A-Z][\w ,]*\((?:AP|dpa|ANSA)\)\s*(?:-|--|—)"),
    re.compile(r"^By [A-Z]"),  # bylines
    re.compile(r"^\((?:Reporting|Editing|Writing) by", re.I),  # credits
    re.compile(r"^\((?:Adds|Updates) "),  # editorial notes
    re.compile(r"^\*\*\* .* \*\*\*$"),  # sender notices
]


def load(name: str) -> Article:
    return clean_article(decode_message((SAMPLES / name).read_bytes()))


def test_every_sample_file_is_covered():
    assert sorted(p.name for p in SAMPLES.iterdir()) == sorted(set(STORIES) | set(NOT_STORIES))


@pytest.mark.parametrize("name", sorted(STORIES))
def test_real_story_lands_as_an_editor_reads_it(name):
    want = STORIES[name]
    article = load(name)
    assert (article.story_id, article.version, article.source_format) == (want["id"], want["version"], want["format"])
    assert article.headline == want["headline"]
    assert article.dateline == want["dateline"]
    assert article.byline == want["byline"]
    assert article.provider == want["provider"]
    if want["first"] is None:
        assert article.paragraphs == () and article.body_text is None
    else:
        assert article.paragraphs[0].startswith(want["first"])
    if want["paragraphs"] is not None:
        assert len(article.paragraphs) == want["paragraphs"], article.paragraphs
    for paragraph in article.paragraphs:
        for pattern in NOT_STORY_TEXT:
            assert not pattern.search(paragraph), (pattern.pattern, paragraph)
    if article.headline and len(article.paragraphs) > 1:
        assert article.paragraphs[0] != article.headline  # a header block repeating the headline is gone


@pytest.mark.parametrize("name", sorted(NOT_STORIES))
def test_files_that_are_not_one_story_are_clear_dead_letters(name):
    code, phrase = NOT_STORIES[name]
    with pytest.raises(DecodeError) as info:
        decode_message((SAMPLES / name).read_bytes())
    assert info.value.code == code
    assert phrase in info.value.message


def test_hard_wrapped_ansa_text_keeps_whole_sentences():
    paragraphs = load("ansa-newsmlg2-text.xml").paragraphs
    assert paragraphs[1] == ('"Unacceptable Catalan unilateral independence declaration," Alfano said via his '
                             "@angealfa Twitter account.")
    assert all(p.endswith((".", '."', '".')) for p in paragraphs)


def test_reuters_indented_paragraphs_split_and_credits_leave():
    article = load("reuters_newsml_L4N1FL0N0_1132689232.xml")
    assert article.paragraphs[3].startswith("Gold rose on Tuesday on increased safe haven demand as U.S. President")
    assert article.paragraphs[-1] == "Palladium rose 0.7 percent, to $745.40 per ounce."
    assert "Reporting by" not in article.body_text and "Jan 30" not in article.body_text


def test_dpa_header_block_and_dateline_leave_the_body():
    article = load("dpa.xml")
    assert not any(p in ("Fußball", "Deutschland", "Extra", "11.10.2022 11:14") for p in article.paragraphs)
    assert "(dpa)" not in article.body_text


def test_richest_body_wins():
    # the NITF body keeps the lead paragraph its plain body lacks
    assert len(load("ninjs-2.2_anti-doping-tour-down-under-addb-ninjs-nitf.json").paragraphs) == 18
    # the XHTML body has four paragraphs where the plain one has one
    assert len(load("ninjs-1.6_ninjsExComplex2.json").paragraphs) == 4
    # TT: the HTML body without the repeated headline and the "Försvar TT" line; the picture credit
    # and caption of its figure are captions
    tt = load("ninjs-2.0_tt_text_image_2.json")
    assert tt.paragraphs[0].startswith("Pandemin") and not {"Försvar TT", "FörsvarTT"} & set(tt.paragraphs)
    assert "Karl Melander/TT" in tt.captions


def test_superdesk_embargo_is_read():
    article = load("ninjs_embargoed.json")
    assert article.embargoed_until == datetime(2022, 6, 29, 2, 30, tzinfo=UTC)
    assert article.pubstatus == "usable"
    assert article.first_created == datetime(2022, 6, 20, 23, 20, 35, tzinfo=UTC)


def test_stt_double_escaped_quotes_are_read_as_quotes():
    body = load("stt_newsml_test.xml").body_text
    assert "&quot;" not in body and "&#39;" not in body
    assert "Alko's monopoly" in body


@pytest.mark.parametrize("name", sorted(n for n in STORIES if n.endswith(".json")))
def test_real_json_stories_validate_against_the_input_contract(name):
    value = (SAMPLES / name).read_bytes()
    schema_name = {"ninjs": "ninjs.input.schema.json", "ninjs-3": "ninjs3.input.schema.json"}[detect_format(value)]
    schema = json.loads((SCHEMAS_DIR / schema_name).read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = [e.message for e in validator.iter_errors(unwrap_envelope(json.loads(value)))]
    assert not errors, errors
