"""Unit tests for pipeline.news.clean: per-rule positive/negative cases plus whole stories."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.news.clean import (
    CleanedBody,
    clean_article,
    clean_body,
    count_words,
    html_to_blocks,
    html_to_paragraphs,
    is_boilerplate,
    is_caption,
    normalize_for_display,
    normalize_for_hashing,
    parse_byline,
    split_dateline,
    split_plain_paragraphs,
)
from pipeline.news.model import Article, DecodeError, ErrorCode

SEED_ARTICLE = Path(__file__).resolve().parents[2] / "fixtures" / "seed_article.txt"


# ---------------------------------------------------------------------------
# Captions
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "para",
    [
        "Soldiers fire a missile at the range in New Mexico. (Photo by John Hamilton / DoD / AFP)",
        "Biden meets Zelensky in the Oval Office, December 21, 2022. (Reuters file photo)",
        "Rescuers search the rubble in Gaziantep. (AFP Photo / Ozan Kose)",
        "President Joe Biden speaks at the White House. (AP Photo/Evan Vucci)",
        "Flood waters cover the road near Valencia. (Photo: EPA)",
        "Protesters gather outside parliament. (Getty Images)",
        "Protesters gather outside parliament. (John Moore/Getty Images)",
        "The ship sits in port. (File photo: Reuters)",
        "This handout photo courtesy of the US Department of Defense shows a launch.",
        "This photo taken on November 3, 2024 shows voters queueing in Atlanta.",
        "In this photo, firefighters battle a blaze in Los Angeles.",
        "In this undated handout photo, the suspect is seen in a car.",
        "This picture taken and released by the agency shows the summit.",
    ],
)
def test_is_caption_positive(para):
    assert is_caption(para)


@pytest.mark.parametrize(
    "para",
    [
        "The photo was taken by a soldier, officials said.",
        "This photo shows the scale of the disaster, the mayor told reporters.",
        "A photographer for the Associated Press was injured in the blast.",
        "Reuters could not independently verify the photo (which circulated online) on Sunday.",
        "Officials released a photo of the suspect (a man in his 30s).",
        "In this city, photos of the war are everywhere.",
        "",
    ],
)
def test_is_caption_negative(para):
    assert not is_caption(para)


def test_caption_removed_and_kept_in_order():
    text = (
        "First caption. (AP Photo/Jane Doe)\n"
        "WASHINGTON (AP) — The story starts here.\n"
        "The photo was taken by a soldier, officials said.\n"
        "Second caption. (Getty Images)\n"
        "The story ends here."
    )
    r = clean_body(text)
    assert r.captions == ["First caption. (AP Photo/Jane Doe)", "Second caption. (Getty Images)"]
    assert "The photo was taken by a soldier, officials said." in r.paragraphs
    assert "(AP Photo" not in r.body_text and "Getty" not in r.body_text


# ---------------------------------------------------------------------------
# Dateline
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "para, place, rest",
    [
        ("Washington: US President Joe Biden has authorized it.", "Washington", "US President Joe Biden has authorized it."),
        ("WASHINGTON (AP) — The Senate voted on Tuesday.", "WASHINGTON", "The Senate voted on Tuesday."),
        ("SYDNEY, Nov 17 (Reuters) - Australia said on Sunday.", "SYDNEY", "Australia said on Sunday."),
        ("KYIV, Ukraine — Russian drones struck overnight.", "KYIV, Ukraine", "Russian drones struck overnight."),
        ("PARIS (AFP) - France said on Monday.", "PARIS", "France said on Monday."),
        ("New Delhi: India on Friday said.", "New Delhi", "India on Friday said."),
        ("RIO DE JANEIRO, Brazil — Police raided the favela.", "RIO DE JANEIRO, Brazil", "Police raided the favela."),
        ("LONDON, Jan. 5 (Reuters) -- Shares fell.", "LONDON", "Shares fell."),
    ],
)
def test_split_dateline_positive(para, place, rest):
    assert split_dateline(para) == (place, rest)


@pytest.mark.parametrize(
    "para",
    [
        "Washington has long argued that Kyiv should not strike inside Russia.",
        "Note: this story has been updated.",
        "Update: the vote was postponed.",
        "Editor's note: names have been changed.",
        "Correction: an earlier version misspelled the name.",
        "Warning: graphic content.",
        "Biden — who leaves office in January — made the call.",
        "Officials in the city of the north-east region of the country: no comment.",
        "the mayor: nothing new.",
        "WASHINGTON",
    ],
)
def test_split_dateline_negative(para):
    assert split_dateline(para) == (None, para)


def test_located_wins_but_prefix_still_stripped():
    r = clean_body("WASHINGTON (AP) — The Senate voted.\nMore text.", located="Washington, D.C.")
    assert r.dateline == "Washington, D.C."
    assert r.paragraphs[0] == "The Senate voted."


def test_located_used_when_no_prefix():
    r = clean_body("Washington has long argued otherwise.", located="Washington")
    assert r.dateline == "Washington"
    assert r.paragraphs == ["Washington has long argued otherwise."]


def test_dateline_only_in_first_body_paragraph():
    r = clean_body("The story starts.\nPARIS (AFP) - Not a dateline position.")
    assert r.dateline is None
    assert r.paragraphs[1] == "PARIS (AFP) - Not a dateline position."


# ---------------------------------------------------------------------------
# Byline
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "para, names",
    [
        ("By Jane Doe", "Jane Doe"),
        ("By Jane Doe and John Roe, Associated Press", "Jane Doe and John Roe"),
        ("By JANE DOE", "Jane Doe"),
        ("By Jane Doe, Reuters", "Jane Doe"),
        ("BY JANE DOE AND JOHN ROE, REUTERS", "Jane Doe and John Roe"),
        ("By Mary O'Brien and Hans van der Berg, AFP", "Mary O'Brien and Hans van der Berg"),
        ("By Jane Doe, John Roe and Ann Poe", "Jane Doe, John Roe and Ann Poe"),
        ("By Jane Doe, Associated Press Writer", "Jane Doe"),
    ],
)
def test_parse_byline_positive(para, names):
    assert parse_byline(para) == names


@pytest.mark.parametrize(
    "para",
    [
        "By Monday, the talks had collapsed.",
        "By late Monday the talks had collapsed.",
        "By The Way, it rained.",
        "By then, the troops had left the city.",
        "By Jane Doe, who covered the war for a decade, this is a fine book.",
        "Bystanders said they heard shots.",
        "By",
        "Jane Doe",
    ],
)
def test_parse_byline_negative(para):
    assert parse_byline(para) is None


def test_byline_removed_from_body():
    r = clean_body("By Jane Doe and John Roe, Associated Press\nWASHINGTON (AP) — The story.")
    assert r.byline == "Jane Doe and John Roe"
    assert r.paragraphs == ["The story."]
    assert r.dateline == "WASHINGTON"


def test_byline_like_sentence_inside_story_stays():
    text = "PARIS (AFP) - Talks began.\nBy Monday, the talks had collapsed.\nBy Jane Doe"
    r = clean_body(text)
    assert r.byline is None
    assert r.paragraphs == ["Talks began.", "By Monday, the talks had collapsed.", "By Jane Doe"]


# ---------------------------------------------------------------------------
# Boilerplate
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "para",
    [
        "Read more: Ukraine war latest",
        "READ MORE: Biden's missile decision explained",
        "Follow us on Twitter and Facebook",
        "© 2024 AFP",
        "Copyright 2024 The Associated Press. All rights reserved.",
        "Copyright © 2024 Reuters",
        "(Reporting by Jane Doe in Sydney; Editing by John Roe)",
        "(Additional reporting by Ann Poe; Writing by Jane Doe; Editing by Bill Smith)",
        "Our Standards: The Thomson Reuters Trust Principles.",
        "3 Min Read",
        "12 min read",
    ],
)
def test_is_boilerplate_positive(para):
    assert is_boilerplate(para)


@pytest.mark.parametrize(
    "para",
    [
        "Teachers urged children to read more books over the summer.",
        "Read more carefully, the judge told the lawyers.",
        '"Follow us on this path," the general told his men.',
        "Copyright law has not kept up with AI, the lawyers argued.",
        "The 3 minute read was popular.",
        "(Reuters could not independently verify the report.)",
        "Reporting by Jane Doe showed the flaws, the editor said.",
        "",
    ],
)
def test_is_boilerplate_negative(para):
    assert not is_boilerplate(para)


# ---------------------------------------------------------------------------
# Whitespace / paragraphs / word count
# ---------------------------------------------------------------------------

def test_split_plain_paragraphs_single_newlines_and_blank_lines():
    assert split_plain_paragraphs("  One.  \n\n\n Two.\nThree.\n   \n") == ["One.", "Two.", "Three."]


def test_split_plain_paragraphs_no_break_without_newline():
    assert split_plain_paragraphs("One.  Two.\tThree.") == ["One. Two. Three."]


def test_count_words():
    assert count_words("Hello, world — it's 2024.") == 4
    assert count_words("") == 0
    assert count_words("— -- …") == 0


def test_clean_body_word_count_and_join():
    r = clean_body("One two three.\r\n\r\nFour five.")
    assert r.body_text == "One two three.\n\nFour five."
    assert r.word_count == 5


def test_clean_body_empty():
    r = clean_body("")
    assert r == CleanedBody("", [], [], None, None, [], 0)


# ---------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------

def test_normalize_for_display_repairs_mojibake_and_keeps_curly_quotes():
    broken = "â€œHelloâ€\x9d, he said"  # UTF-8 “Hello” decoded as cp1252
    assert normalize_for_display(broken) == "\u201cHello\u201d, he said"
    assert normalize_for_display("It\u2019s \u201cfine\u201d") == "It\u2019s \u201cfine\u201d"


def test_normalize_for_display_nfc_and_control_chars():
    decomposed = "Cafe\u0301"
    assert normalize_for_display(decomposed) == "Caf\u00e9"
    assert normalize_for_display("a\x00b\x07c\nd\te\r\nf") == "abc\nd e\nf"


def test_normalize_for_display_leaves_clean_text_alone():
    s = 'NATO was "at war" -- a threat, 500 kilometers (310 miles).'
    assert normalize_for_display(s) == s


def test_normalize_for_hashing():
    a = normalize_for_hashing("It\u2019s  \u201cFINE\u201d \u2014 really\n\nok")
    b = normalize_for_hashing("it's \"fine\" - really ok")
    assert a == b == "it's \"fine\" - really ok"
    assert normalize_for_hashing("a -- b") == normalize_for_hashing("a \u2013 b")
    assert normalize_for_hashing("Cafe\u0301") == normalize_for_hashing("caf\u00e9")


def test_normalize_for_hashing_distinguishes_real_differences():
    assert normalize_for_hashing("The talks collapsed.") != normalize_for_hashing("The talks resumed.")


# ---------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------

HTML_STORY = """<!DOCTYPE html>
<html><head><title>Page title</title><style>p { color: red; }</style></head>
<body>
<script>var tracking = "<p>not text</p>";</script>
<!-- an editor's comment -->
<p>WASHINGTON (AP) &mdash; Smith &amp; Jones said the <b>deal</b> was done.</p>
<p>Line one<br>Line two<br/>Line   three</p>
<div>A div paragraph &lt;with&gt; entities&nbsp;and &#8220;quotes&#8221;.</div>
<style>.x{}</style>
<p>   </p>
<p>Tail <!-- inline comment -->kept.</p>
</body></html>"""


def test_html_to_paragraphs():
    paras = html_to_paragraphs(HTML_STORY)
    assert paras == [
        "WASHINGTON (AP) \u2014 Smith & Jones said the deal was done.",
        "Line one",
        "Line two",
        "Line three",
        "A div paragraph <with> entities\u00a0and \u201cquotes\u201d.",
        "Tail kept.",
    ]
    joined = " ".join(paras)
    assert "tracking" not in joined and "color" not in joined and "comment" not in joined
    assert "Page title" not in joined


def test_html_to_paragraphs_fragment_and_empty():
    assert html_to_paragraphs("Just text &amp; more") == ["Just text & more"]
    assert html_to_paragraphs("") == []
    assert html_to_paragraphs("<!-- only a comment -->") == []
    assert html_to_paragraphs('<?xml version="1.0" encoding="utf-8"?><p>x</p>') == ["x"]


def test_html_inline_elements_do_not_break_paragraphs():
    assert html_to_paragraphs("<p>A <a href='#'>link</a> and <i>italic</i>.</p>") == ["A link and italic."]


def test_clean_body_html():
    html = (
        "<p>By Jane Doe, Associated Press</p>"
        + HTML_STORY
        + "<p>Flood waters rise. (AP Photo/Jane Doe)</p><p>Copyright 2024 The Associated Press. All rights reserved.</p>"
    )
    r = clean_body(html, is_html=True)
    assert r.byline == "Jane Doe"
    assert r.dateline == "WASHINGTON"
    assert r.paragraphs[0] == "Smith & Jones said the deal was done."
    assert r.captions == ["Flood waters rise. (AP Photo/Jane Doe)"]
    assert r.removed_boilerplate == ["Copyright 2024 The Associated Press. All rights reserved."]
    assert "Tail kept." in r.paragraphs


# ---------------------------------------------------------------------------
# Whole stories
# ---------------------------------------------------------------------------

def test_seed_article_afp():
    text = SEED_ARTICLE.read_text(encoding="utf-8")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    r = clean_body(text)

    caption1, caption2 = lines[0], next(ln for ln in lines if ln.endswith("(Reuters file photo)"))
    assert caption1.startswith("This handout photo courtesy of the US Department of Defense")
    assert caption1.endswith("(Photo by John Hamilton / DoD / AFP)")
    assert caption2.startswith("US President Joe Biden meets with")
    assert r.captions == [caption1, caption2]
    assert caption1 not in r.body_text and caption2 not in r.body_text

    assert r.dateline == "Washington"
    assert r.byline is None
    assert r.removed_boilerplate == []

    expected = [ln for ln in lines if ln not in (caption1, caption2)]
    assert expected[0].startswith("Washington: ")
    expected[0] = expected[0][len("Washington: "):]
    assert r.paragraphs == expected
    for ln in expected:
        assert ln in r.body_text
    assert "'Intensify the fighting'" in r.paragraphs
    assert r.body_text == "\n\n".join(expected)
    assert r.word_count == count_words(r.body_text)


AP_STORY = """By JANE DOE and JOHN ROE, Associated Press
WASHINGTON (AP) — The Senate on Tuesday passed a stopgap spending bill, averting a government shutdown hours before the deadline.
Lawmakers voted 77-19 after a day of negotiations.
Senate Majority Leader Chuck Schumer arrives at the Capitol, Tuesday, Nov. 14, 2023, in Washington. (AP Photo/J. Scott Applewhite)
By Monday, the talks had collapsed, and leaders scrambled to revive them.
“We got it done,” Schumer said.
Read more: How a shutdown would affect you

Copyright 2024 The Associated Press. All rights reserved."""


def test_ap_story():
    r = clean_body(AP_STORY)
    assert r.byline == "Jane Doe and John Roe"
    assert r.dateline == "WASHINGTON"
    assert r.captions == [
        "Senate Majority Leader Chuck Schumer arrives at the Capitol, Tuesday, Nov. 14, 2023, in Washington. (AP Photo/J. Scott Applewhite)"
    ]
    assert r.removed_boilerplate == [
        "Read more: How a shutdown would affect you",
        "Copyright 2024 The Associated Press. All rights reserved.",
    ]
    assert r.paragraphs == [
        "The Senate on Tuesday passed a stopgap spending bill, averting a government shutdown hours before the deadline.",
        "Lawmakers voted 77-19 after a day of negotiations.",
        "By Monday, the talks had collapsed, and leaders scrambled to revive them.",
        "\u201cWe got it done,\u201d Schumer said.",
    ]
    assert "\u201c" in r.body_text  # curly quotes kept for display


REUTERS_STORY = """3 Min Read
SYDNEY, Nov 17 (Reuters) - Australia's central bank held interest rates steady on Tuesday, as expected.
Governor Michele Bullock said inflation remained "too high" and the board would "do what is necessary".
Teachers urged parents to have children read more books during the holidays, a separate survey found.
Follow us on Twitter for the latest updates
(Reporting by Jane Doe in Sydney; Editing by John Roe)
Our Standards: The Thomson Reuters Trust Principles."""


def test_reuters_story():
    r = clean_body(REUTERS_STORY)
    assert r.dateline == "SYDNEY"
    assert r.byline is None
    assert r.captions == []
    assert r.removed_boilerplate == [
        "3 Min Read",
        "Follow us on Twitter for the latest updates",
        "(Reporting by Jane Doe in Sydney; Editing by John Roe)",
        "Our Standards: The Thomson Reuters Trust Principles.",
    ]
    assert r.paragraphs == [
        "Australia's central bank held interest rates steady on Tuesday, as expected.",
        'Governor Michele Bullock said inflation remained "too high" and the board would "do what is necessary".',
        "Teachers urged parents to have children read more books during the holidays, a separate survey found.",
    ]
    assert r.word_count == count_words(r.body_text)


def test_kyiv_story_with_located_and_note_first_line():
    r = clean_body("KYIV, Ukraine — Drones struck the capital overnight.\nNote: the toll may rise.")
    assert r.dateline == "KYIV, Ukraine"
    assert r.paragraphs == ["Drones struck the capital overnight.", "Note: the toll may rise."]


def test_result_is_frozen():
    r = clean_body("Text.")
    with pytest.raises(Exception):
        r.body_text = "x"  # type: ignore[misc]


# ---------------------------------------------------------------------------
# html_to_paragraphs: parser edge cases
# ---------------------------------------------------------------------------


def test_html_blocks_and_line_breaks():
    html = (
        "<h1>Title</h1><p>First  para\n spans\tlines.</p><div>Div text</div>"
        "<blockquote>Quote</blockquote><ul><li>One</li><li>Two</li></ul>"
        "<h3>Sub</h3>Line a<br>Line b<br/>Line c"
    )
    assert html_to_paragraphs(html) == [
        "Title", "First para spans lines.", "Div text", "Quote", "One", "Two", "Sub", "Line a", "Line b", "Line c",
    ]


def test_html_tail_after_dropped_element_kept():
    assert html_to_paragraphs("<p>before<script>x()</script>after</p>") == ["beforeafter"]
    assert html_to_paragraphs("<div><style>a{}</style>kept tail</div>") == ["kept tail"]
    assert html_to_paragraphs("<p>a<svg><text>chart</text></svg>b</p>") == ["ab"]


def test_html_entities_decoded():
    paras = html_to_paragraphs("<p>AT&amp;T &lt;tag&gt; &quot;q&quot; &eacute;t&eacute; &#8364;5 &#x41;</p>")
    assert paras == ['AT&T <tag> "q" \u00e9t\u00e9 \u20ac5 A']


def test_html_nbsp_kept_by_parser_and_collapsed_by_cleaning():
    assert html_to_paragraphs("<p>a&nbsp;&nbsp; b</p>") == ["a\u00a0\u00a0 b"]
    assert clean_body("<p>a&nbsp;&nbsp; b</p>", is_html=True).body_text == "a b"


@pytest.mark.parametrize("html", ["", "   ", "<!-- only a comment -->", "<script>x</script>", "<p> </p><div></div>"])
def test_html_without_text_is_empty(html):
    assert html_to_paragraphs(html) == []


def test_html_full_document_head_dropped():
    html = "<html><head><title>Page title</title><style>x{}</style></head><body><p>Body</p></body></html>"
    assert html_to_paragraphs(html) == ["Body"]


def test_html_with_xml_declaration_nul_and_control_chars():
    assert html_to_paragraphs('<?xml version="1.0" encoding="utf-8"?><p>a\x00b\x07c</p>') == ["abc"]


def test_html_carriage_return_and_form_feed_are_whitespace():
    assert html_to_paragraphs("<p>one\r\ntwo\rthree\ffour</p>") == ["one two three four"]


def test_html_unclosed_tags():
    assert html_to_paragraphs("<p>one<p>two<div>three") == ["one", "two", "three"]


def test_html_deep_nesting_keeps_text_without_recursion():
    html = "<div>" * 1000 + "deep" + "</div>" * 1000 + "<p>after</p>"
    assert html_to_paragraphs(html) == ["deep", "after"]


def test_html_lone_surrogate_replaced():
    assert html_to_paragraphs("<p>a\ud800b</p>") == ["a\ufffdb"]


# ---------------------------------------------------------------------------
# clean_article: the decoded story -> cleaned fields
# ---------------------------------------------------------------------------


def _raw_article(body: str | None, *, is_html: bool = False, **fields) -> Article:
    base = dict(
        story_id="urn:test:1", version=1, provider="AFP", headline="  Biden  OKs\n missiles ",
        body_text=None, byline=None, located=None, language="en", first_created=None,
        version_created=None, pubstatus="usable", content_hash="", body_raw=body, body_is_html=is_html,
    )
    base.update(fields)
    return Article(**base)


def test_clean_article_fills_cleaned_fields_from_seed():
    text = SEED_ARTICLE.read_text(encoding="utf-8")
    article = clean_article(_raw_article(text))
    assert article.headline == "Biden OKs missiles"
    assert article.dateline == "Washington"
    assert len(article.captions) == 2
    assert article.captions[1].endswith("(Reuters file photo)")
    assert article.body_text == "\n\n".join(article.paragraphs)
    assert article.paragraphs[0].startswith("US President Joe Biden has authorized Ukraine")
    assert article.word_count == count_words(article.body_text)
    assert article.body_raw is None
    assert len(article.content_hash) == 64


def test_clean_article_structured_byline_and_located_win():
    body = "By Jane Doe, Associated Press\nWASHINGTON (AP) \u2014 The vote passed."
    article = clean_article(_raw_article(body, byline="Staff Reporter", located="Washington, D.C."))
    assert article.byline == "Staff Reporter"
    assert article.dateline == "Washington, D.C."
    assert article.body_text == "The vote passed."


def test_clean_article_byline_from_body_when_not_structured():
    article = clean_article(_raw_article("By Jane Doe and John Roe, Associated Press\nThe vote passed."))
    assert article.byline == "Jane Doe and John Roe"


def test_clean_article_html_body():
    article = clean_article(_raw_article("<p>KYIV, Ukraine \u2014 Sirens sounded.</p><p>(AFP Photo / Sergei Supinsky)</p>", is_html=True))
    assert article.dateline == "KYIV, Ukraine"
    assert article.body_text == "Sirens sounded."
    assert article.captions == ("(AFP Photo / Sergei Supinsky)",)


def test_clean_article_hash_ignores_captions_quotes_and_layout():
    original = clean_article(_raw_article("He said \u201cno.\u201d\n\nIt rained."))
    republished = clean_article(
        _raw_article("He said \"no.\"\nA man walks by. (Reuters file photo)\n   It rained.  \nRead more: example.com")
    )
    assert original.content_hash == republished.content_hash
    assert "\u201c" in original.body_text


def test_clean_article_hash_sees_real_changes():
    assert clean_article(_raw_article("It rained.")).content_hash != clean_article(_raw_article("It snowed.")).content_hash


def test_clean_article_caption_only_body_with_headline_keeps_headline():
    article = clean_article(_raw_article("(AP Photo/Evan Vucci)"))
    assert article.body_text is None
    assert article.paragraphs == ()
    assert article.captions == ("(AP Photo/Evan Vucci)",)


def test_clean_article_nothing_left_is_no_content():
    with pytest.raises(DecodeError) as info:
        clean_article(_raw_article("(AP Photo/Evan Vucci)", headline="   "))
    assert info.value.code == ErrorCode.NO_CONTENT


def test_figcaption_text_is_a_caption_whatever_it_says():
    html = (
        "<p>LONDON, Nov 17 (Reuters) - Markets fell.</p>"
        "<figure><img src='x.jpg'><figcaption>Traders work on the floor. REUTERS/Adriano Machado</figcaption></figure>"
        "<p>Shares recovered later.</p>"
    )
    assert html_to_blocks(html) == [
        ("LONDON, Nov 17 (Reuters) - Markets fell.", False),
        ("Traders work on the floor. REUTERS/Adriano Machado", True),
        ("Shares recovered later.", False),
    ]
    r = clean_body(html, is_html=True)
    assert r.captions == ["Traders work on the floor. REUTERS/Adriano Machado"]
    assert r.paragraphs == ["Markets fell.", "Shares recovered later."]


def test_figure_without_figcaption_keeps_its_text_in_the_body():
    r = clean_body("<figure><blockquote>A quoted sentence stays.</blockquote></figure>", is_html=True)
    assert r.paragraphs == ["A quoted sentence stays."] and r.captions == []


def test_clean_article_structured_byline_loses_its_by_prefix():
    assert clean_article(_raw_article("Text.", byline="By Jane Doe, Associated Press")).byline == "Jane Doe"
    assert clean_article(_raw_article("Text.", byline="AFP Staff")).byline == "AFP Staff"
