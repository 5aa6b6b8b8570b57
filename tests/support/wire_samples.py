"""Where the real provider files live: ``shared/wire-samples`` beside the repository (never copied into it).

Looked up, in order: ``$NEWSWIRE_WIRE_SAMPLES``; ``shared/wire-samples`` next to this checkout or any
of its parents; next to the repository a clean clone was made from (its ``origin``), which is how
CI's clone finds them.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pipeline.news.model import ErrorCode

REPO = Path(__file__).resolve().parents[2]


def wire_samples_dir() -> Path:
    """The folder of real wire files; raises (never skips) when it cannot be found."""
    given = os.environ.get("NEWSWIRE_WIRE_SAMPLES")
    candidates = [Path(given)] if given else []
    candidates += [parent / "shared" / "wire-samples" for parent in REPO.parents]
    origin = subprocess.run(["git", "config", "--get", "remote.origin.url"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()
    if origin and Path(origin).is_dir():
        candidates += [parent / "shared" / "wire-samples" for parent in Path(origin).resolve().parents]
    for candidate in candidates:
        if candidate.is_dir() and any(candidate.iterdir()):
            return candidate
    raise FileNotFoundError(
        "shared/wire-samples not found beside the checkout or its origin; set NEWSWIRE_WIRE_SAMPLES"
    )


# Per-file expectations, read from the files themselves.
COSTA_FIRST = "The trial of the captain of the shipwrecked Costa Concordia cruise liner has begun"
COSTA_HEADLINE = "Captain of wrecked cruise ship on trial in Italy"
COSTA_BYLINE = "Paulo Santalucia and Frances d'Emilio"


def _costa_concordia(item: str, source_format: str, dateline: str) -> dict:
    """The IPTC examples: one AP story in several ninjs generations and renditions."""
    return dict(id=f"http://ninjs.example.com/newsitems/{item}", version=1, format=source_format,
                headline=COSTA_HEADLINE, dateline=dateline, byline=COSTA_BYLINE, first=COSTA_FIRST, paragraphs=4,
                provider=None)


# file -> what must hold for the cleaned article: id, version, headline, dateline, byline, the start of
# the first paragraph and the paragraph count; None where the file carries no such thing.
STORIES = {
    "ansa-newsmlg2-text.xml": dict(
        id="tag:ansa.it,2017-10-11:40e5fb1034e7e2b21942ea09718fc85a", version=1, format="newsml-g2",
        headline="Catalan independence declaration unacceptable - Alfano", dateline="Rome", byline=None,
        first="Italian Foreign Minister Angelino Alfano has said that the Catalan independence declaration is "
              "unacceptable.",
        paragraphs=4, provider="ansa.it",
    ),
    "reuters_newsml_L4N1FL0N0_1132689232.xml": dict(
        id="tag:reuters.com,0000:newsml_L4N1FL0N0", version=1132689232, format="newsml-g2",
        headline="PRECIOUS-Gold rises as Trump policy fuels safe haven demand", dateline=None,
        byline="Arpan Varghese", first="* Spot gold may edge up to $1,205 per ounce- technicals", paragraphs=15,
        provider="reuters.com",
    ),
    "reuters_newsml_MTZXEE13ZXCZES_2.xml": dict(
        id="tag:reuters.com,2018:newsml_MTZXEE13ZXCZES", version=2, format="newsml-g2",
        headline="UPDATE 2-Primeira Liga Results", dateline=None, byline=None,
        first="Results and fixtures for the Primeira Liga on Wednesday", paragraphs=2, provider="reuters.com",
    ),
    "dpa.xml": dict(
        id="urn:newsml:dpa.com:20090101:221011-930-4303", version=1, format="newsml-g2",
        headline="Eintracht in London: Hintereggers Tränen und Attacke auf Reporter", dateline="London",
        byline=None, first="2019 gab es bittere Tränen in der Kurve", paragraphs=3,
        provider="Deutsche Presse-Agentur GmbH",
    ),
    "iptc_listing1_newsml_g2_news_item.xml": dict(
        id="urn:newsml:acmenews.com:20161018:US-FINANCE-FED", version=9, format="newsml-g2",
        headline='Fed to halt QE to avert "bubble"', dateline="Berlin", byline=None, first=None, paragraphs=0,
        provider="REUTERS",
    ),
    "stt_newsml_test.xml": dict(
        id="urn:newsml:stt.fi:20171219:101801633", version=4, format="newsml-g2",
        headline="Parliament passed the Alcohol Act and the government gained confidence", dateline="Helsinki",
        byline=None, first="Also the unemployment law went through", paragraphs=None, provider="STT",
    ),
    "ninjs-1.6_ninjsExComplex2.json": _costa_concordia("20130709cplx456", "ninjs", "Grossetto, Italy"),
    "ninjs-2.0_ninjsExComplex1.json": _costa_concordia("20130709cplx123", "ninjs", "Grossetto, Italy"),
    "ninjs-2.0_ninjsExSimpleText1.json": _costa_concordia("20130709simp123", "ninjs", "GROSSETO, Italy"),
    "ninjs-2.4_doc_005_complex_text_article.json": _costa_concordia("20130709med123", "ninjs", "Grossetto, Italy"),
    "ninjs-3.0_doc_004_simple_text_article.json": _costa_concordia("20130709simp123", "ninjs-3", "GROSSETO, Italy"),
    "ninjs-3.1_doc_005_complex_text_article.json": _costa_concordia("20130709med123", "ninjs-3", "Grossetto, Italy"),
    "ninjs-2.0_dpa_text.json": dict(
        id="urn:newsml:dpa.com:20090101:190510-99-167362", version=2, format="ninjs",
        headline="Faktencheck Derby-Elfmeter: Hat Schiedsrichter Zwayer recht?", dateline=None,
        byline="Christian Hollmann", first="Für Lucien Favre war es «der größte Skandal im Fußball seit Jahren».",
        paragraphs=9, provider="dpa",
    ),
    "ninjs-2.0_ntb_text.json": dict(
        id="8d19cf88-b3ab-4972-8fec-1207599f2872", version=6, format="ninjs",
        headline="Google har kjøpt giganttomt i Skien", dateline=None, byline="NTB",
        first="IT-giganten Google har kjøpt en tomt på nærmere 2.000 mål i Skien", paragraphs=1, provider="NTB",
    ),
    "ninjs-2.0_tt_text_image_2.json": dict(
        id="http://tt.se/media/text/210526-militarovning-a0f2d045", version=1, format="ninjs",
        headline="Militärövning i jätteformat hålls 2023", dateline=None, byline=None,
        first="Pandemin satte stopp för den stora internationella militärövningen Aurora 2020", paragraphs=4,
        provider="TT",
    ),
    "ninjs-2.2_anti-doping-tour-down-under-addb-ninjs-nitf.json": dict(
        id="https://antidopingdatabase.com/news/anti-doping-measures-at-the-tour-down-under-will-be-the-toughest-ever",
        version=2, format="ninjs", headline="Anti-doping measures at the 'Tour Down Under' will be the toughest ever",
        dateline="Oslo, Norway", byline="Trond Husø, The Anti-Doping Database",
        first="The Australian Sports Anti-Doping Authority (ASADA) today announced", paragraphs=18, provider=None,
    ),
    "ninjs1.json": dict(
        id="urn:newsml:localhost:2017-08-24T14:37:19.783611:c044162e-7f40-4d04-b700-49b6a66e652c", version=2,
        format="ninjs", headline="headline", dateline="Milton Keynes", byline="Peter and Jane",
        first="The story so far.", paragraphs=1, provider="Australian Associated Press",
    ),
    "ninjs2.json": dict(
        id="tag:localhost:2017:7ca07622-3b19-4d61-8daf-18500412d46b", version=4, format="ninjs",
        headline="Oil prices edge up on first drop in US drilling in months", dateline="Singapore",
        byline="Henning Gloystein",
        first="Oil prices edged up on Monday, supported by the first autumn in US drilling activity in months, "
              "although rising output from OPEC despite a pledge to cut supplies capped gains.",
        paragraphs=None, provider="Australian Associated Press",
    ),
    "ninjs_embargoed.json": dict(
        id="fd8e441b-a698-4411-9246-7d5de21cced9", version=11, format="ninjs",
        headline="Trouble is brewing for the future of beer", dateline="Aaron J. Staples, Michigan",
        byline="Aaron J. Staples, Michigan State University", first="What does torched earth taste like?",
        paragraphs=None, provider="360info",
    ),
    "ap_media_text_item.json": dict(
        id="https://d.e.f/media/v/content/5ee9b4b40ea5fe9c9ca60f890fb2e1d9", version=0, format="ninjs",
        headline="BC-BBN--Top Ten", dateline=None, byline=None, first=None, paragraphs=0, provider="AP",
    ),
}

# file -> (error code, a phrase the dead letter's message must contain)
NOT_STORIES = {
    "afp20.xml": (ErrorCode.UNKNOWN_FORMAT, "NewsML 1.x"),
    "ap_media_item.json": (ErrorCode.NOT_A_STORY, "picture"),
    "ninjs3.json": (ErrorCode.NOT_A_STORY, "picture"),
    "bbc-ninjs-text-test.json": (ErrorCode.UNKNOWN_FORMAT, "feed list"),
}

