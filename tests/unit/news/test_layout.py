"""Unit tests for pipeline.news.layout (wire text layouts) and pipeline.news.dateline (opening datelines)."""
from __future__ import annotations

import pytest

from pipeline.news.clean import clean_body
from pipeline.news.dateline import split_dateline
from pipeline.news.layout import block_paragraphs, text_paragraphs

REUTERS = (
    "(Adds comments, detail)\n"
    "    * Spot gold may edge up\n"
    "    * Dollar index down 0.1 percent\n"
    "\n"
    "    By Arpan Varghese\n"
    "    Jan 30 (Reuters) - Gold rose on Tuesday on increased safe\n"
    "haven demand as markets were rattled, with prices finding further\n"
    "support from a weaker dollar.\n"
    "    Traders were also awaiting the U.S. Federal Reserve's\n"
    "two-day meeting.\n"
    "\n"
    " (Reporting by Arpan Varghese in Bengaluru; Editing by Joseph\n"
    "Radford)"
)


def test_indented_paragraphs_with_flush_continuation_lines_are_joined():
    assert text_paragraphs(REUTERS) == [
        "(Adds comments, detail)",
        "* Spot gold may edge up",
        "* Dollar index down 0.1 percent",
        "By Arpan Varghese",
        "Jan 30 (Reuters) - Gold rose on Tuesday on increased safe haven demand as markets were rattled, with "
        "prices finding further support from a weaker dollar.",
        "Traders were also awaiting the U.S. Federal Reserve's two-day meeting.",
        "(Reporting by Arpan Varghese in Bengaluru; Editing by Joseph Radford)",
    ]


def test_reuters_layout_cleans_to_byline_bullets_and_prose():
    cleaned = clean_body(REUTERS)
    assert cleaned.byline == "Arpan Varghese"
    assert cleaned.paragraphs == [
        "* Spot gold may edge up",
        "* Dollar index down 0.1 percent",
        "Gold rose on Tuesday on increased safe haven demand as markets were rattled, with prices finding further "
        "support from a weaker dollar.",
        "Traders were also awaiting the U.S. Federal Reserve's two-day meeting.",
    ]
    assert cleaned.removed_boilerplate == [
        "(Adds comments, detail)", "(Reporting by Arpan Varghese in Bengaluru; Editing by Joseph Radford)",
    ]


def test_hard_wrapped_blocks_are_joined_at_blank_lines():
    text = (
        "The committee said on Monday that the new rules would apply\n"
        "to every member state from the start of next year, and that\n"
        "exceptions would be rare.\n"
        "\n"
        "Critics said the timetable was too short for smaller countries\n"
        "to adapt their own laws in time."
    )
    assert text_paragraphs(text) == [
        "The committee said on Monday that the new rules would apply to every member state from the start of "
        "next year, and that exceptions would be rare.",
        "Critics said the timetable was too short for smaller countries to adapt their own laws in time.",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "First paragraph.\nSecond paragraph.\nThird paragraph.",
        "Results:\nAves 1 Moreirense 2\nMaritimo 1 Chaves 2\nPorto 3 Braga 0",  # short lines stay lines
        "One line per paragraph, each a full sentence that ends properly here.\n"
        "Another paragraph that is also a complete sentence and ends with a stop.\n"
        "A third one, which again ends the way a paragraph ends.",
    ],
)
def test_one_paragraph_per_line_stays(text):
    assert text_paragraphs(text) == text.split("\n")


def test_pretty_printed_html_block_collapses_as_html():
    assert block_paragraphs("\n      Some text that the\n      serializer indented\n   ") == [
        "Some text that the serializer indented"
    ]


def test_html_block_with_a_wire_layout_is_split():
    raw = "\n   (ANSA) - Rome, October 11 - The minister\nsaid it.\n   He added more\nlater.\n"
    assert block_paragraphs(raw) == ["(ANSA) - Rome, October 11 - The minister said it.", "He added more later."]


def test_html_block_blank_line_is_a_paragraph_break():
    assert block_paragraphs("Results on Wednesday\n  Aves 1 Moreirense 2\n\n\n  Thursday fixtures") == [
        "Results on Wednesday Aves 1 Moreirense 2", "Thursday fixtures",
    ]


@pytest.mark.parametrize(
    "paragraph, place, rest",
    [
        ("SYDNEY, Nov 17 (Reuters) - Shares fell.", "SYDNEY", "Shares fell."),
        ("Jan 30 (Reuters) - Gold rose on Tuesday.", None, "Gold rose on Tuesday."),
        ("Jan 3 (OPTA) - Results and fixtures.", None, "Results and fixtures."),
        ("(ANSA) - Rome, October 11 - Italian Foreign Minister spoke.", "Rome", "Italian Foreign Minister spoke."),
        ("London (dpa) - 2019 gab es Tränen.", "London", "2019 gab es Tränen."),
        ("GROSSETO, Italy (AP) -- The trial began.", "GROSSETO, Italy", "The trial began."),
        ("Helsinki (STT) - Parliament voted.", "Helsinki", "Parliament voted."),
        ("KYIV, Ukraine — Air raid sirens sounded.", "KYIV, Ukraine", "Air raid sirens sounded."),
    ],
)
def test_opening_datelines_of_every_common_wire_shape(paragraph, place, rest):
    assert split_dateline(paragraph) == (place, rest)


@pytest.mark.parametrize(
    "paragraph",
    [
        "Apple (AAPL) - shares rose 3% on Monday.",  # a ticker in brackets is not an agency
        "Jan 30 was a Tuesday, and it rained.",
        "(Reuters) - a bare agency with no place and no date.",
        "Biden — who spoke late — said little.",
    ],
)
def test_openings_that_are_not_datelines_stay(paragraph):
    assert split_dateline(paragraph) == (None, paragraph)


def test_header_lines_before_the_story_leave_the_body():
    cleaned = clean_body(
        "Militärövning i jätteformat hålls 2023\nFörsvar TT\nPandemin satte stopp för övningen.",
        headline="Militärövning i jätteformat hålls 2023", provider="TT",
    )
    assert cleaned.paragraphs == ["Pandemin satte stopp för övningen."]


def test_a_paragraph_equal_to_the_headline_later_in_the_story_stays():
    cleaned = clean_body("Story text starts here.\nRepeat\nMore text.", headline="Repeat", provider="TT")
    assert cleaned.paragraphs == ["Story text starts here.", "Repeat", "More text."]


def test_media_figure_text_is_caption_but_a_quote_figure_stays():
    cleaned = clean_body(
        '<p>Story.</p><figure><img src="x.jpg"/><div class="byline">Karl Melander/TT</div>'
        "<figcaption>A caption.</figcaption></figure><figure><blockquote>A pull quote.</blockquote></figure>",
        is_html=True,
    )
    assert cleaned.paragraphs == ["Story.", "A pull quote."]
    assert cleaned.captions == ["Karl Melander/TT", "A caption."]
