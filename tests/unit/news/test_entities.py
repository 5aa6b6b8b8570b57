"""Unit tests for pipeline.news.entities: every canonicalisation rule, positive and negative, on
hand-made mentions; plus the whole chain on the seed story with the real spaCy model."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.news.entities import (
    KEPT_LABELS,
    MODEL,
    PROVIDER,
    EntityMention,
    Mention,
    canonical_form,
    canonicalise,
    mentions_in_body,
    provider_entities,
    summarise,
)
from pipeline.news.model import ProviderTag

SEED_ARTICLE = Path(__file__).resolve().parents[2] / "fixtures" / "seed_article.txt"


def spans(text: str, *items: tuple[str, str]) -> list[Mention]:
    """Mentions for (surface, label) pairs, found left to right in ``text`` (real offsets)."""
    out, pos = [], 0
    for surface, label in items:
        start = text.index(surface, pos)
        out.append(Mention(surface, label, start, start + len(surface)))
        pos = start + len(surface)
    return out


def names(entity_mentions: list[EntityMention]) -> list[tuple[str, str, str]]:
    """(text, label, canonical) of the model mentions."""
    return [(e.text, e.label, e.canonical) for e in entity_mentions if e.source == MODEL]


# --------------------------------------------------------------------------- labels


def test_kept_labels_are_the_name_like_ontonotes_labels():
    assert KEPT_LABELS == {
        "PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE",
    }
    assert not KEPT_LABELS & {"DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL"}


def test_canonicalise_drops_numeric_labels():
    text = "Joe Biden spoke on Sunday about $6 billion."
    got = canonicalise(spans(text, ("Joe Biden", "PERSON"), ("Sunday", "DATE"), ("$6 billion", "MONEY")))
    assert names(got) == [("Joe Biden", "PERSON", "Joe Biden")]


# --------------------------------------------------------------------------- offsets


def test_mentions_in_body_shifts_offsets_to_the_joined_body():
    paragraphs = ["Joe Biden spoke.", "", "Then Vladimir Putin replied to Biden."]
    per_paragraph = [
        spans(paragraphs[0], ("Joe Biden", "PERSON")),
        [],
        spans(paragraphs[2], ("Vladimir Putin", "PERSON"), ("Biden", "PERSON")),
    ]
    body = "\n\n".join(paragraphs)
    got = mentions_in_body(paragraphs, per_paragraph)
    assert [m.text for m in got] == ["Joe Biden", "Vladimir Putin", "Biden"]
    assert all(body[m.start_char : m.end_char] == m.text for m in got)
    assert got[1].start_char == len("Joe Biden spoke.") + 2 + 2 + len("Then ")


def test_mentions_in_body_rejects_misaligned_input():
    with pytest.raises(ValueError):
        mentions_in_body(["one", "two"], [[]])


def test_mentions_in_body_of_nothing():
    assert mentions_in_body([], []) == []


# --------------------------------------------------------------------------- single-name rules


@pytest.mark.parametrize(
    "text, expected",
    [
        ("US President Joe Biden", "Joe Biden"),
        ("President Joe Biden", "Joe Biden"),
        ("President-elect Donald Trump", "Donald Trump"),
        ("former president Donald Trump", "Donald Trump"),
        ("Prime Minister Keir Starmer", "Keir Starmer"),
        ("German Chancellor Olaf Scholz", "Olaf Scholz"),
        ("Ukrainian President Volodymyr Zelensky", "Volodymyr Zelensky"),
        ("Ukraine's President Volodymyr Zelensky", "Volodymyr Zelensky"),
        ("Secretary of State Antony Blinken", "Antony Blinken"),
        ("North Korean leader Kim Jong Un", "Kim Jong Un"),
        ("Mr. Smith", "Smith"),
        ("Mrs Thatcher", "Thatcher"),
        ("Dr Anthony Fauci", "Anthony Fauci"),
        ("Sen. Chuck Grassley", "Chuck Grassley"),
        ("Gov. Gavin Newsom", "Gavin Newsom"),
        ("Rep. Nancy Pelosi", "Nancy Pelosi"),
        ("Gen. Mark Milley", "Mark Milley"),
        ("King Charles", "Charles"),
        ("Pope Francis", "Francis"),
        ("Sir Keir Starmer", "Keir Starmer"),
        ("First Lady Jill Biden", "Jill Biden"),
        ("President\u2011elect Donald Trump", "Donald Trump"),  # non-breaking hyphen
    ],
)
def test_person_titles_are_stripped(text, expected):
    assert canonical_form(text, "PERSON") == expected


@pytest.mark.parametrize(
    "text",
    [
        "President",  # title only: nothing would remain
        "US President",
        "Mr.",
        "Lady Gaga",  # "Lady" alone is not a title
        "Stephen King",  # a title word that is not leading
        "Brian Chancellor",
        "Joe Biden",
    ],
)
def test_person_names_without_a_leading_title_are_kept(text):
    assert canonical_form(text, "PERSON") == text


def test_titles_are_only_stripped_from_person_names():
    assert canonical_form("US Army", "ORG") == "US Army"
    assert canonical_form("President Hotel", "FAC") == "President Hotel"


@pytest.mark.parametrize(
    "text, label, expected",
    [
        ("Zelensky's", "PERSON", "Zelensky"),
        ("Trump\u2019s", "PERSON", "Trump"),  # curly apostrophe
        ("Ukraine's", "GPE", "Ukraine"),
        ("Reuters'", "ORG", "Reuters"),
        ("Russian President Vladimir Putin's", "PERSON", "Vladimir Putin"),
    ],
)
def test_possessives_are_stripped(text, label, expected):
    assert canonical_form(text, label) == expected


@pytest.mark.parametrize("text", ["Achilles", "Reuters", "Bass", "James"])
def test_names_ending_in_s_are_not_possessives(text):
    assert canonical_form(text, "PERSON") == text


@pytest.mark.parametrize("text", ["McDonald's", "Moody\u2019s", "Sainsbury's"])
def test_apostrophe_s_that_is_part_of_the_name_is_kept(text):
    assert canonical_form(text, "ORG") == text


@pytest.mark.parametrize(
    "text, label, expected",
    [
        ("the State Department", "ORG", "State Department"),
        ("The New York Times", "ORG", "New York Times"),
        ("the White House", "FAC", "White House"),
        ("the Olympic Games", "EVENT", "Olympic Games"),
        ("the Affordable Care Act", "LAW", "Affordable Care Act"),
        ("the US", "GPE", "US"),
        ("The Hague", "GPE", "The Hague"),  # "The" is part of the name
        ("The Godfather", "WORK_OF_ART", "The Godfather"),
        ("The", "ORG", "The"),
    ],
)
def test_leading_the(text, label, expected):
    assert canonical_form(text, label) == expected


def test_whitespace_and_outer_quotes_are_normalised():
    assert canonical_form("White\u00a0 House", "ORG") == "White House"
    assert canonical_form("\u201cStorm  Shadow\u201d", "PRODUCT") == "Storm Shadow"
    assert canonical_form(" Joe\nBiden ", "PERSON") == "Joe Biden"


# --------------------------------------------------------------------------- cross-mention mapping


def test_later_short_mentions_map_to_the_full_name():
    text = (
        "Ukrainian President Volodymyr Zelensky met Joe Biden. Russian President Vladimir Putin warned. "
        "Zelensky thanked Biden; Putin did not."
    )
    got = canonicalise(
        spans(
            text,
            ("Volodymyr Zelensky", "PERSON"), ("Joe Biden", "PERSON"), ("Vladimir Putin", "PERSON"),
            ("Zelensky", "PERSON"), ("Biden", "PERSON"), ("Putin", "PERSON"),
        )
    )
    assert [c for _t, _l, c in names(got)] == [
        "Volodymyr Zelensky", "Joe Biden", "Vladimir Putin", "Volodymyr Zelensky", "Joe Biden", "Vladimir Putin",
    ]


def test_titled_full_mention_is_the_anchor_and_text_and_offsets_are_preserved():
    text = "US President Joe Biden spoke. Later, Biden's aides left."
    mentions = spans(text, ("US President Joe Biden", "PERSON"), ("Biden's", "PERSON"))
    got = canonicalise(mentions)
    assert got == [
        EntityMention("US President Joe Biden", "PERSON", "Joe Biden", 0, 22, MODEL),
        EntityMention("Biden's", "PERSON", "Joe Biden", mentions[1].start_char, mentions[1].end_char, MODEL),
    ]
    assert all(text[e.start_char : e.end_char] == e.text for e in got)


def test_short_mention_before_any_full_one_keeps_its_own_name():
    text = "Biden said so. Joe Biden then left. Biden returned."
    got = canonicalise(spans(text, ("Biden", "PERSON"), ("Joe Biden", "PERSON"), ("Biden", "PERSON")))
    assert [c for _t, _l, c in names(got)] == ["Biden", "Joe Biden", "Joe Biden"]


def test_mentions_are_processed_in_document_order_whatever_the_input_order():
    text = "Joe Biden spoke. Biden left."
    got = canonicalise(list(reversed(spans(text, ("Joe Biden", "PERSON"), ("Biden", "PERSON")))))
    assert [(e.text, e.canonical, e.start_char) for e in got] == [("Joe Biden", "Joe Biden", 0), ("Biden", "Joe Biden", 17)]


def test_containment_is_by_whole_tokens():
    text = "Joe Biden spoke. Bidenomics failed. Bide waited."
    got = canonicalise(spans(text, ("Joe Biden", "PERSON"), ("Bidenomics", "PERSON"), ("Bide", "PERSON")))
    assert [c for _t, _l, c in names(got)] == ["Joe Biden", "Bidenomics", "Bide"]


def test_trump_maps_to_the_earliest_containing_mention_not_donald_trump_jr():
    text = "Donald Trump won. His son Donald Trump Jr. spoke. Trump said."
    got = canonicalise(
        spans(text, ("Donald Trump", "PERSON"), ("Donald Trump Jr.", "PERSON"), ("Trump", "PERSON"))
    )
    assert [c for _t, _l, c in names(got)] == ["Donald Trump", "Donald Trump Jr.", "Donald Trump"]


def test_a_generational_suffix_names_a_different_person():
    text = "Donald Trump Jr. posted. Donald Trump replied. Trump later said."
    got = canonicalise(
        spans(text, ("Donald Trump Jr.", "PERSON"), ("Donald Trump", "PERSON"), ("Trump", "PERSON"))
    )
    # "Donald Trump" is not "Donald Trump Jr."; a bare "Trump" follows the earliest containing
    # mention, which here is the son (the rule is positional, as documented).
    assert [c for _t, _l, c in names(got)] == ["Donald Trump Jr.", "Donald Trump", "Donald Trump Jr."]


def test_labels_must_be_compatible_georgia_the_place_is_not_georgia_smith():
    text = "Georgia Smith flew to Georgia."
    got = canonicalise(spans(text, ("Georgia Smith", "PERSON"), ("Georgia", "GPE")))
    assert names(got) == [("Georgia Smith", "PERSON", "Georgia Smith"), ("Georgia", "GPE", "Georgia")]


def test_place_labels_are_never_repaired_even_when_the_surface_is_also_a_person():
    text = "Georgia Smith flew to Georgia. Georgia said it was warm."
    got = canonicalise(spans(text, ("Georgia Smith", "PERSON"), ("Georgia", "GPE"), ("Georgia", "PERSON")))
    assert names(got) == [
        ("Georgia Smith", "PERSON", "Georgia Smith"),
        ("Georgia", "GPE", "Georgia"),
        ("Georgia", "PERSON", "Georgia Smith"),
    ]


def test_org_tagged_surname_is_repaired_to_the_person_when_also_tagged_person():
    text = "Volodymyr Zelensky spoke. Zelensky left. Later Zelensky returned."
    got = canonicalise(
        spans(text, ("Volodymyr Zelensky", "PERSON"), ("Zelensky", "ORG"), ("Zelensky", "PERSON"))
    )
    assert names(got) == [
        ("Volodymyr Zelensky", "PERSON", "Volodymyr Zelensky"),
        ("Zelensky", "PERSON", "Volodymyr Zelensky"),
        ("Zelensky", "PERSON", "Volodymyr Zelensky"),
    ]


def test_org_is_not_repaired_without_a_person_tag_for_the_same_string():
    text = "Harrison Ford starred. Ford sold more trucks."
    got = canonicalise(spans(text, ("Harrison Ford", "PERSON"), ("Ford", "ORG")))
    assert names(got) == [("Harrison Ford", "PERSON", "Harrison Ford"), ("Ford", "ORG", "Ford")]


def test_org_is_not_repaired_without_a_longer_person_name():
    text = "Dell said. Dell shares rose."
    got = canonicalise(spans(text, ("Dell", "PERSON"), ("Dell", "ORG")))
    assert names(got) == [("Dell", "PERSON", "Dell"), ("Dell", "ORG", "Dell")]


def test_org_short_mentions_map_within_org_only():
    text = "Goldman Sachs hired. Goldman said. Sachs Harbour is far away."
    got = canonicalise(spans(text, ("Goldman Sachs", "ORG"), ("Goldman", "ORG"), ("Sachs Harbour", "GPE")))
    assert [c for _t, _l, c in names(got)] == ["Goldman Sachs", "Goldman Sachs", "Sachs Harbour"]
    text = "Goldman Sachs hired. Goldman said."
    got = canonicalise(spans(text, ("Goldman Sachs", "ORG"), ("Goldman", "PERSON")))
    assert names(got)[1] == ("Goldman", "PERSON", "Goldman")


def test_generic_institution_words_do_not_map():
    text = "The White House said the House would vote."
    got = canonicalise(spans(text, ("White House", "ORG"), ("House", "ORG")))
    assert [c for _t, _l, c in names(got)] == ["White House", "House"]


def test_gpe_and_loc_are_one_group_and_take_the_anchor_label():
    text = "Strikes hit the Gaza Strip. In Gaza, people fled."
    got = canonicalise(spans(text, ("Gaza Strip", "GPE"), ("Gaza", "LOC")))
    assert names(got) == [("Gaza Strip", "GPE", "Gaza Strip"), ("Gaza", "GPE", "Gaza Strip")]


@pytest.mark.parametrize("full, short", [("New Mexico", "Mexico"), ("North Korea", "Korea"), ("South Sudan", "Sudan")])
def test_a_distinguishing_place_prefix_names_a_different_place(full, short):
    text = f"Troops in {full} and {short}."
    got = canonicalise(spans(text, (full, "GPE"), (short, "GPE")))
    assert [c for _t, _l, c in names(got)] == [full, short]


def test_other_labels_map_only_within_the_same_label():
    text = "North Korean troops. Korean food. The Korean War. Korean."
    got = canonicalise(
        spans(text, ("North Korean", "NORP"), ("Korean", "NORP"), ("Korean War", "EVENT"), ("Korean", "LANGUAGE"))
    )
    assert [c for _t, _l, c in names(got)] == ["North Korean", "North Korean", "Korean War", "Korean"]


# --------------------------------------------------------------------------- provider tags


def test_provider_entities_labels_and_no_offsets():
    tags = [
        ProviderTag("person", "Joe Biden", "http://cv.example/1"),
        ProviderTag("organisation", "NATO"),
        ProviderTag("place", "Ukraine"),
        ProviderTag("subject", "Politics"),
        ProviderTag("other", "Ignored"),
        ProviderTag("person", "  "),
    ]
    assert provider_entities(tags) == [
        EntityMention("Joe Biden", "PERSON", "Joe Biden", None, None, PROVIDER),
        EntityMention("NATO", "ORG", "NATO", None, None, PROVIDER),
        EntityMention("Ukraine", "GPE", "Ukraine", None, None, PROVIDER),
        EntityMention("Politics", "SUBJECT", "Politics", None, None, PROVIDER),
    ]


def test_provider_tag_anchors_a_short_mention_before_any_full_one():
    text = "Zelensky spoke. Volodymyr Zelensky left."
    tags = [ProviderTag("person", "Volodymyr Zelensky")]
    got = canonicalise(spans(text, ("Zelensky", "PERSON"), ("Volodymyr Zelensky", "PERSON")), tags)
    assert [c for _t, _l, c in names(got)] == ["Volodymyr Zelensky", "Volodymyr Zelensky"]
    assert all(e.source == MODEL for e in got)  # the tags themselves come from provider_entities


def test_provider_tag_spelling_wins_for_an_equal_name():
    text = "Strikes on UKRAINE."
    got = canonicalise(spans(text, ("UKRAINE", "GPE")), [ProviderTag("place", "Ukraine")])
    assert names(got) == [("UKRAINE", "GPE", "Ukraine")]


def test_provider_tag_must_be_of_the_matching_kind():
    text = "Georgia voted."
    tags = [ProviderTag("organisation", "Georgia Pacific"), ProviderTag("person", "Georgia Smith"), ProviderTag("subject", "Georgia")]
    got = canonicalise(spans(text, ("Georgia", "GPE")), tags)
    assert names(got) == [("Georgia", "GPE", "Georgia")]


def test_provider_tags_prefer_an_equal_name_then_tag_order():
    text = "Donald Trump spoke. Trump left."
    tags = [ProviderTag("person", "Donald Trump Jr."), ProviderTag("person", "Donald Trump")]
    got = canonicalise(spans(text, ("Donald Trump", "PERSON"), ("Trump", "PERSON")), tags)
    # The equal tag wins for "Donald Trump"; "Trump" takes the first containing tag in tag order.
    assert [c for _t, _l, c in names(got)] == ["Donald Trump", "Donald Trump Jr."]


def test_provider_place_tag_respects_the_place_prefix_guard():
    text = "Tests in Mexico."
    got = canonicalise(spans(text, ("Mexico", "GPE")), [ProviderTag("place", "New Mexico")])
    assert names(got) == [("Mexico", "GPE", "Mexico")]


def test_provider_person_tag_enables_label_repair():
    text = "Trump said. Trump left."
    got = canonicalise(spans(text, ("Trump", "PERSON"), ("Trump", "ORG")), [ProviderTag("person", "Donald Trump")])
    assert names(got) == [("Trump", "PERSON", "Donald Trump"), ("Trump", "PERSON", "Donald Trump")]


def test_unrelated_provider_spelling_is_not_merged():
    text = "Zelensky spoke."
    got = canonicalise(spans(text, ("Zelensky", "PERSON")), [ProviderTag("person", "Volodymyr Zelenskyy")])
    assert names(got) == [("Zelensky", "PERSON", "Zelensky")]


# --------------------------------------------------------------------------- summary


def test_summarise_counts_model_mentions_and_lists_provider_only_entities_with_zero():
    text = "Joe Biden met Vladimir Putin. Biden left. Putin stayed. Macron called."
    tags = [ProviderTag("person", "Joe Biden"), ProviderTag("subject", "Diplomacy"), ProviderTag("place", "Ukraine")]
    mentions = spans(
        text,
        ("Joe Biden", "PERSON"), ("Vladimir Putin", "PERSON"), ("Biden", "PERSON"), ("Putin", "PERSON"),
        ("Macron", "PERSON"),
    )
    assert summarise(canonicalise(mentions, tags) + provider_entities(tags)) == [
        {"canonical": "Joe Biden", "label": "PERSON", "count": 2},
        {"canonical": "Vladimir Putin", "label": "PERSON", "count": 2},
        {"canonical": "Macron", "label": "PERSON", "count": 1},
        {"canonical": "Diplomacy", "label": "SUBJECT", "count": 0},
        {"canonical": "Ukraine", "label": "GPE", "count": 0},
    ]


def test_summarise_keeps_labels_apart_and_is_empty_for_nothing():
    text = "The White House said. The White House lawn."
    got = canonicalise(spans(text, ("The White House", "ORG"), ("The White House", "FAC")))
    assert summarise(got) == [
        {"canonical": "White House", "label": "FAC", "count": 1},
        {"canonical": "White House", "label": "ORG", "count": 1},
    ]
    assert summarise([]) == []


# --------------------------------------------------------------------------- the seed story, real model


@pytest.fixture(scope="module")
def seed():
    """The seed story (every non-empty line a paragraph, captions included) through real spaCy."""
    from pipeline.io.ner import extract, load_ner

    paragraphs = [line.strip() for line in SEED_ARTICLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    mentions = mentions_in_body(paragraphs, extract(load_ner(), paragraphs))
    entity_mentions = canonicalise(mentions)
    return "\n\n".join(paragraphs), mentions, entity_mentions, summarise(entity_mentions)


def test_seed_offsets_point_into_the_body(seed):
    body, mentions, entity_mentions, _ = seed
    assert len(mentions) == len(entity_mentions) > 100
    assert all(body[e.start_char : e.end_char] == e.text for e in entity_mentions)


def test_seed_canonical_names(seed):
    _, _, entity_mentions, _ = seed
    canonicals = {e.canonical for e in entity_mentions}
    assert {
        "Volodymyr Zelensky", "Joe Biden", "Vladimir Putin", "Emmanuel Macron", "Keir Starmer", "Olaf Scholz",
        "Donald Trump", "Donald Trump Jr.",
    } <= canonicals
    # Every bare surname in the story maps to the full name; none is left on its own.
    assert not canonicals & {"Zelensky", "Biden", "Putin", "Macron", "Trump"}
    titles = {"us", "president", "president-elect", "prime", "chancellor", "german", "ukrainian", "russian", "french"}
    persons = {e.canonical for e in entity_mentions if e.label == "PERSON"}
    assert not [c for c in persons if c.split()[0].casefold() in titles]
    assert not any(c.startswith(("the ", "The ")) for c in canonicals)


def test_seed_person_counts(seed):
    *_, entity_mentions, summary = seed
    persons = {row["canonical"]: row["count"] for row in summary if row["label"] == "PERSON"}
    # Joe Biden: 3x "Joe Biden" (two in captions) + 3x "Biden" (one tagged ORG by spaCy, repaired).
    assert persons["Joe Biden"] == 6 >= 3
    # Donald Trump: "Donald Trump" + 4x "Trump" (three tagged ORG by spaCy, repaired); the son apart.
    assert persons["Donald Trump"] == 5
    assert persons["Donald Trump Jr."] == 1
    assert persons["Volodymyr Zelensky"] == 3
    assert persons["Vladimir Putin"] == 3
    assert persons["Emmanuel Macron"] == 2
    assert persons["Keir Starmer"] == persons["Olaf Scholz"] == persons["Mike Waltz"] == 1
    repaired = [e for e in entity_mentions if e.text in ("Biden", "Trump")]
    assert {e.label for e in repaired} == {"PERSON"}


def test_seed_summary_head(seed):
    *_, summary = seed
    assert summary[:5] == [
        {"canonical": "Ukraine", "label": "GPE", "count": 12},
        {"canonical": "US", "label": "GPE", "count": 9},
        {"canonical": "Joe Biden", "label": "PERSON", "count": 6},
        {"canonical": "Russia", "label": "GPE", "count": 6},
        {"canonical": "Donald Trump", "label": "PERSON", "count": 5},
    ]


def test_a_surname_tagged_org_becomes_the_provider_tagged_person():
    from pipeline.news.entities import Mention, canonicalise
    from pipeline.news.model import ProviderTag

    mentions = [Mention("Carranza", "ORG", 0, 8), Mention("Ford", "ORG", 20, 24)]
    tags = [ProviderTag("person", "Luis Carranza")]
    got = [(e.canonical, e.label) for e in canonicalise(mentions, tags)]
    assert got == [("Luis Carranza", "PERSON"), ("Ford", "ORG")]


def test_a_place_is_never_turned_into_a_provider_tagged_person():
    from pipeline.news.entities import Mention, canonicalise
    from pipeline.news.model import ProviderTag

    got = canonicalise([Mention("Georgia", "GPE", 0, 7)], [ProviderTag("person", "Georgia Smith")])
    assert [(e.canonical, e.label) for e in got] == [("Georgia", "GPE")]
