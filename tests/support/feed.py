"""Deterministic generator of a large, messy ninjs feed for integration tests.

Pure Python (no Kafka import; error codes from ``pipeline.news.model``): the integration test produces ``FeedMessage``s to
the partitions they name, records the offsets the broker assigned, then asks
``Feed.record_offsets`` which (partition, offset) pairs must end up as dead
letters and with which error code.

What the feed contains (``kind`` of each message):

* ``"valid"`` -- wire stories ``urn:test:story:{i}`` with versions 1..3, in
  ninjs 1.x (``headline`` + ``body_text``/``body_html``) or 2.x (``headlines`` +
  ``bodies``) layout.  A few stories end with a kill (``pubstatus`` canceled).
* ``"redelivery"`` -- about 10%: either the exact bytes of an earlier valid
  message (sometimes to a different partition), or the same content re-serialised
  with another key order / indentation / escaping.
* ``"bad:<error_code>"`` -- about 3%, one defect each, every code below, spread
  across partitions.  ``label`` names the variant (several per code).

Everything is derived from ``random.Random(seed)``: same arguments, same bytes.
"""
from __future__ import annotations

import json
import random
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Iterable, Optional, Sequence

from pipeline.news.model import ErrorCode

__all__ = [
    "BAD_CODES",
    "Feed",
    "FeedMessage",
    "build_feed",
    "error_code_of",
    "expected_pairs",
]

VALID = "valid"
REDELIVERY = "redelivery"
BAD_PREFIX = "bad:"

EMPTY_MESSAGE = ErrorCode.EMPTY_MESSAGE
INVALID_UTF8 = ErrorCode.INVALID_UTF8
INVALID_JSON = ErrorCode.INVALID_JSON
NOT_AN_OBJECT = ErrorCode.NOT_AN_OBJECT
MISSING_URI = ErrorCode.MISSING_URI
NO_CONTENT = ErrorCode.NO_CONTENT
WRONG_TYPE = ErrorCode.WRONG_TYPE
INVALID_VERSION = ErrorCode.INVALID_VERSION
INVALID_TIMESTAMP = ErrorCode.INVALID_TIMESTAMP
DATE_OUT_OF_RANGE = ErrorCode.DATE_OUT_OF_RANGE
INVALID_PUBSTATUS = ErrorCode.INVALID_PUBSTATUS
TOO_LARGE = ErrorCode.TOO_LARGE

#: Every error code the feed produces (12).
BAD_CODES = (
    EMPTY_MESSAGE,
    INVALID_UTF8,
    INVALID_JSON,
    NOT_AN_OBJECT,
    MISSING_URI,
    NO_CONTENT,
    WRONG_TYPE,
    INVALID_VERSION,
    INVALID_TIMESTAMP,
    DATE_OUT_OF_RANGE,
    INVALID_PUBSTATUS,
    TOO_LARGE,
)

REDELIVERY_RATE = 0.10
BAD_RATE = 0.03
#: too_large messages are ~max_message_bytes each; a handful is enough.
MAX_TOO_LARGE = 3
#: Valid stories are a few KB; below this the "valid" ones could themselves be too large.
MIN_MAX_MESSAGE_BYTES = 16 * 1024

WINDOW_START = datetime(2026, 11, 23, 0, 0, 0, tzinfo=timezone.utc)
WINDOW_END = datetime(2026, 11, 25, 23, 59, 59, tzinfo=timezone.utc)


@dataclass
class FeedMessage:
    partition: int
    key: Optional[bytes]
    value: bytes
    kind: str  # "valid", "redelivery", "bad:<error_code>"
    label: str = ""  # finer variant, e.g. "valid:update", "redelivery:relayout", "bad:wrong_type:headlines-string"

    @property
    def error_code(self) -> Optional[str]:
        return error_code_of(self.kind)

    @property
    def is_bad(self) -> bool:
        return self.kind.startswith(BAD_PREFIX)


@dataclass
class Feed:
    messages: list[FeedMessage]
    expected_versions: set[tuple[str, int]] = field(default_factory=set)
    #: (partition, offset, error_code), filled by ``record_offsets`` after producing.
    expected_bad: list[tuple[int, int, str]] = field(default_factory=list)

    @classmethod
    def build(cls, **kwargs) -> "Feed":
        """``build_feed(**kwargs)`` wrapped with its expected (uri, version) pairs."""
        messages = build_feed(**kwargs)
        return cls(messages=messages, expected_versions=expected_pairs(messages))

    def record_offsets(self, offsets: Sequence[int] | Sequence[tuple[int, int]]) -> list[tuple[int, int, str]]:
        """Fill ``expected_bad`` from the offsets the broker assigned.

        ``offsets[i]`` belongs to ``messages[i]``: either the offset alone (the
        message's own partition is used) or a ``(partition, offset)`` pair as
        returned in the producer's record metadata.
        """
        if len(offsets) != len(self.messages):
            raise ValueError(f"got {len(offsets)} offsets for {len(self.messages)} messages")
        bad: list[tuple[int, int, str]] = []
        for msg, off in zip(self.messages, offsets):
            code = msg.error_code
            if code is None:
                continue
            if isinstance(off, tuple):
                partition, offset = off
            else:
                partition, offset = msg.partition, off
            bad.append((int(partition), int(offset), code))
        bad.sort()
        self.expected_bad = bad
        return bad


def error_code_of(kind: str) -> Optional[str]:
    """``"bad:wrong_type"`` -> ``"wrong_type"``; None for valid and redelivery."""
    return kind[len(BAD_PREFIX):] if kind.startswith(BAD_PREFIX) else None


def expected_pairs(messages: Iterable[FeedMessage]) -> set[tuple[str, int]]:
    """Distinct (uri, version) of the valid messages (redeliveries add nothing new)."""
    pairs: set[tuple[str, int]] = set()
    for msg in messages:
        if msg.kind not in (VALID, REDELIVERY):
            continue
        doc = json.loads(msg.value.decode("utf-8"))
        pairs.add((doc["uri"], int(doc["version"])))
    return pairs


# ---------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------

#: copyrightholder (1.x and 2.x) and infosources name (2.x), as in pipeline/samples/stories.jsonl.
PROVIDERS = {
    "AFP": {"holder": "AFP", "source": "AFP"},
    "Reuters": {"holder": "Reuters", "source": "Reuters"},
    "AP": {"holder": "The Associated Press", "source": "AP"},
}

#: Invented reporter names (no real journalists are credited with generated copy).
REPORTERS = [
    "Marta Kovalenko", "Daniel Ortiz", "Claire Duval", "Peter Lindqvist", "Hannah Brooks",
    "Samuel Adeyemi", "Julia Novak", "Tomás Herrera", "Ingrid Solberg", "Kenji Watanabe",
    "Amira Haddad", "Lukas Brenner", "Sophie Marchand", "Ethan Cole", "Priya Raman",
    "Oleksandr Melnyk", "Grace Whitfield", "Mehmet Aydın", "Chloé Besson", "Nathan Price",
]

#: Each topic: background sentences that fit any of its angles, plus angles, each a
#: headline + lead + specific sentences, with the places its dateline may carry.
#: Slots: per-story values from _story_ctx, plus the topic's own "slots".
TOPICS: dict[str, dict] = {
    "ukraine": {
        "slots": {
            "target": ["an ammunition depot", "a military airfield", "a fuel storage site", "a command post",
                       "an air defence radar site"],
            "region": ["Kursk", "Belgorod", "Bryansk", "Rostov", "Voronezh"],
            "ukcity": ["Kharkiv", "Dnipro", "Odesa", "Zaporizhzhia", "Sumy", "Kryvyi Rih"],
        },
        "background": [
            "Moscow did not immediately comment, and the claims could not be independently verified.",
            "The Army Tactical Missile System, known as ATACMS, has a range of up to 300 kilometres "
            "(190 miles).",
            "Western officials say Russia has been stockpiling missiles for a winter campaign against "
            "Ukraine's power network.",
            "The Kremlin has repeatedly warned that strikes deep inside Russia with Western weapons amount "
            "to direct involvement by NATO countries in the war.",
            "Air raid alerts sounded across much of Ukraine for more than {h} hours overnight.",
            "Kyiv has asked its partners for more Patriot batteries, saying existing systems cannot cover "
            "all of its major cities.",
        ],
        "angles": [
            {
                "places": [("Kyiv", "KYIV")],
                "headline": "Ukraine says ATACMS strike hit {target} in Russia's {region} region",
                "lead": "Ukraine's military said on {weekday} it had used US-supplied ATACMS missiles to "
                        "strike {target} in Russia's {region} region, the latest in a series of long-range "
                        "attacks.",
                "sentences": [
                    "The General Staff said the strike caused a large fire and secondary explosions, but "
                    "gave no details of casualties.",
                    "Russia's defence ministry said its air defences had shot down {k} ATACMS missiles over "
                    "the region, without mentioning any damage.",
                    "The acting governor of {region} said on Telegram that debris had fallen near a village "
                    "and that emergency crews were at the scene.",
                    "Satellite images published by a commercial provider later showed scorched ground at "
                    "the site, according to Ukrainian media.",
                    "A Ukrainian military spokesman said such strikes were aimed at disrupting Russian "
                    "logistics behind the front line.",
                ],
            },
            {
                "places": [("Moscow", "MOSCOW"), ("Kyiv", "KYIV")],
                "headline": "Russia says it downed {n} Ukrainian drones overnight; airports briefly shut",
                "lead": "Russia's defence ministry said on {weekday} its air defences had destroyed {n} "
                        "Ukrainian drones overnight, most of them over the {region} region.",
                "sentences": [
                    "Restrictions were briefly imposed at {k} airports, including in Moscow, the civil "
                    "aviation authority said.",
                    "The regional governor said debris from a downed drone damaged {n2} houses and a "
                    "school, and that nobody was hurt.",
                    "Ukraine's military did not comment directly, but said it targets facilities involved "
                    "in Russia's war effort.",
                    "Drone attacks on Russian refineries and depots have become a regular feature of the "
                    "war over the past year.",
                ],
            },
            {
                "places": [("Kyiv", "KYIV"), ("Kharkiv", "KHARKIV"), ("Odesa", "ODESA")],
                "headline": "Overnight Russian attack cuts power to {k} thousand homes in {ukcity}",
                "lead": "A Russian missile and drone attack overnight knocked out power to about {k},000 "
                        "homes in {ukcity}, regional officials said on {weekday}.",
                "sentences": [
                    "Emergency services in {ukcity} said {n2} people were taken to hospital with shrapnel "
                    "wounds.",
                    "Ukraine's energy ministry said repair crews were working to restore supplies and urged "
                    "residents to limit electricity use during evening peak hours.",
                    "The grid operator Ukrenergo said scheduled outages would apply in {k2} regions on "
                    "{weekday}.",
                    "Ukraine's air force said it had shot down {n} of the drones and {k2} missiles launched "
                    "during the attack.",
                    "The city's mayor said heating had been restored to most hospitals using backup "
                    "generators.",
                ],
            },
            {
                "places": [("Brussels", "BRUSSELS")],
                "headline": "NATO allies weigh new air defence package for Ukraine as winter nears",
                "lead": "NATO defence ministers on {weekday} discussed a fresh package of air defence systems "
                        "for Ukraine, with several allies pledging to speed up deliveries before the coldest "
                        "months.",
                "sentences": [
                    "Diplomats said at least {k2} countries had offered interceptor missiles or launchers.",
                    "The alliance's secretary-general told reporters that protecting Ukraine's energy "
                    "infrastructure was the most urgent priority.",
                    "European diplomats said a decision on a further sanctions package was expected before "
                    "the end of the year.",
                    "Ministers also discussed how to expand joint ammunition production in Europe.",
                ],
            },
        ],
    },
    "politics": {
        "slots": {
            "state": ["Arizona", "Georgia", "Pennsylvania", "Nevada", "Michigan", "Wisconsin"],
            "deadline": ["Dec. 11", "Dec. 18", "Dec. 19"],
        },
        "background": [
            "The new Congress will be sworn in on Jan. 3.",
            "Several lawmakers said they expected votes to slip into the week after Thanksgiving.",
            "The White House said it was reviewing the proposal and would work with both parties.",
        ],
        "angles": [
            {
                "places": [("Phoenix", "PHOENIX"), ("Atlanta", "ATLANTA"), ("Harrisburg", "HARRISBURG")],
                "headline": "{state} certifies midterm results after recount in one House district",
                "lead": "Election officials in {state} certified the results of the Nov. 3 midterm elections "
                        "on {weekday}, ending a weeks-long recount in a closely watched congressional "
                        "district.",
                "sentences": [
                    "The recount changed the margin by only {k} votes, the secretary of state's office "
                    "said.",
                    "County clerks completed the hand count ahead of the statutory deadline, officials said.",
                    "State officials said turnout reached {pct} percent, the highest for a "
                    "non-presidential year in decades.",
                    "The losing candidate conceded in a brief statement and thanked election workers.",
                    "A federal judge last week declined to halt certification, saying the challengers had "
                    "not shown irreparable harm.",
                ],
            },
            {
                "places": [("Washington", "WASHINGTON")],
                "headline": "Congress returns for lame-duck session facing {deadline} funding deadline",
                "lead": "Congress returned to Washington on {weekday} for a lame-duck session with little "
                        "time to pass a spending bill before the {deadline} deadline to avert a partial "
                        "government shutdown.",
                "sentences": [
                    "Aides said a short-term funding measure running into January was the most likely "
                    "outcome.",
                    "Budget hawks have objected to attaching emergency spending to a stopgap bill without "
                    "offsets.",
                    "Leaders of both parties met for about an hour but announced no agreement.",
                    "Agencies have begun preparing contingency plans, as they do before every funding "
                    "deadline.",
                ],
            },
            {
                "places": [("Washington", "WASHINGTON")],
                "headline": "Governors urge Congress to pass ${n} billion disaster aid before recess",
                "lead": "A bipartisan group of governors on {weekday} urged congressional leaders to approve "
                        "a disaster aid package worth about ${n} billion before lawmakers leave for the "
                        "holidays.",
                "sentences": [
                    "The request covers recovery from hurricanes, wildfires and floods in at least {k2} "
                    "states.",
                    "The governors said in a joint letter that communities could not wait until the new "
                    "Congress convenes.",
                    "Some conservatives have said any aid should be offset by cuts elsewhere.",
                    "The Federal Emergency Management Agency's disaster relief fund is expected to run low "
                    "early next year, officials have said.",
                ],
            },
            {
                "places": [("Washington", "WASHINGTON")],
                "headline": "Negotiators reach tentative deal on one-year farm bill extension",
                "lead": "Negotiators from both chambers reached a tentative agreement on {weekday} to extend "
                        "the expiring farm bill for another year, aides said.",
                "sentences": [
                    "Farm groups have warned that a lapse would create uncertainty for crop insurance and "
                    "dairy support programmes.",
                    "The extension would also keep nutrition assistance funding at current levels.",
                    "The agriculture committees are expected to take up a full rewrite of the law next "
                    "year.",
                ],
            },
        ],
    },
    "markets": {
        "slots": {
            "sector": ["banking", "technology", "energy", "healthcare", "luxury goods", "utilities"],
        },
        "background": [
            "Trading volumes were thinner than usual ahead of the holiday, with U.S. markets closed on "
            "Thursday and shutting early on Friday.",
            "Traders now price roughly a {pct} percent chance of a quarter-point rate cut at the Federal "
            "Reserve's December meeting, according to futures markets.",
            "Analysts said positioning was light going into year-end, which could amplify price moves.",
            "The dollar index was little changed, while the euro traded at ${fx}.",
        ],
        "angles": [
            {
                "places": [("New York", "NEW YORK")],
                "headline": "Wall Street ends {updown} as investors weigh Fed path before Thanksgiving",
                "lead": "U.S. stocks ended {updown} on {weekday} as investors weighed fresh economic data "
                        "and comments from Federal Reserve officials ahead of the Thanksgiving holiday.",
                "sentences": [
                    "The S&P 500 closed {pct_small}% {updown}, while the Nasdaq Composite moved "
                    "{pct_small2}%.",
                    "{Sector} shares were among the biggest movers, with the sector index ending "
                    "{pct_small3}% {updown}.",
                    "\"The market is looking for reassurance that the disinflation story is intact,\" said "
                    "a strategist at a New York wealth manager.",
                    "Retailers will be in focus later this week as the holiday shopping season gets under "
                    "way.",
                    "The benchmark 10-year Treasury yield was last at {yield_}%.",
                ],
            },
            {
                "places": [("London", "LONDON"), ("Singapore", "SINGAPORE")],
                "headline": "Oil {rises} as OPEC+ signals no rush to change output policy",
                "lead": "Oil prices {rose} on {weekday}, with Brent crude settling at ${price} a barrel, "
                        "after sources in the OPEC+ group said it was in no hurry to change its output "
                        "policy.",
                "sentences": [
                    "U.S. West Texas Intermediate crude futures settled at ${price2} a barrel.",
                    "The group is due to meet online early next month.",
                    "Analysts said weaker demand from China continued to weigh on the outlook for next "
                    "year.",
                    "U.S. crude inventories rose by about {k} million barrels last week, industry data "
                    "showed.",
                ],
            },
            {
                "places": [("London", "LONDON"), ("Frankfurt", "FRANKFURT")],
                "headline": "European shares {rise_short} as {sector} stocks lead",
                "lead": "European shares {rose} on {weekday}, with the pan-regional STOXX 600 index closing "
                        "{pct_small}% {updown} as {sector} stocks led the way.",
                "sentences": [
                    "Germany's DAX ended {pct_small2}% {updown}, while France's CAC 40 moved "
                    "{pct_small3}%.",
                    "Investors were also watching euro zone business activity surveys due later in the "
                    "week.",
                    "European Central Bank policymakers have signalled they are in no rush to cut rates "
                    "again.",
                ],
            },
            {
                "places": [("Tokyo", "TOKYO"), ("Singapore", "SINGAPORE")],
                "headline": "Asian stocks mixed as yen firms against the dollar",
                "lead": "Asian shares were mixed on {weekday} as the yen strengthened against the dollar and "
                        "investors looked ahead to U.S. inflation data.",
                "sentences": [
                    "Japan's Nikkei ended {pct_small}% {updown} and Hong Kong's Hang Seng moved "
                    "{pct_small2}%.",
                    "Gold rose {pct_small3}% to ${gold} an ounce.",
                    "Exporters' shares came under pressure as the stronger yen reduces the value of "
                    "overseas earnings.",
                ],
            },
        ],
    },
    "climate": {
        "slots": {
            "temp": ["2.3", "2.5", "2.6", "2.8"],
        },
        "background": [
            "Scientists say every tenth of a degree of additional warming increases the risk of extreme "
            "weather.",
            "Developing countries have long argued that adaptation funding is a fraction of what they need.",
            "The next round of national climate plans is due before the 2027 talks.",
        ],
        "angles": [
            {
                "places": [("Antalya", "ANTALYA")],
                "headline": "Climate talks in Antalya end with deal on adaptation finance",
                "lead": "Nearly 200 countries agreed a deal on {weekday} at the UN climate talks in Antalya, "
                        "Turkey, after negotiations ran more than a day past their scheduled close.",
                "sentences": [
                    "The agreement calls on wealthy countries to at least triple finance for adaptation by "
                    "2035.",
                    "Several delegations said language on transitioning away from fossil fuels had been "
                    "watered down in the final hours.",
                    "Negotiators worked through the night to bridge differences over how progress would be "
                    "measured.",
                    "Delegates from {k} countries spoke in the closing plenary.",
                    "The summit presidency said the deal kept the 1.5C goal of the Paris Agreement within "
                    "reach.",
                ],
            },
            {
                "places": [("Antalya", "ANTALYA"), ("Suva", "SUVA")],
                "headline": "Small island states say climate deal falls short on loss and damage",
                "lead": "Small island nations said on {weekday} the outcome of the UN climate summit did not "
                        "go far enough to protect the countries most exposed to rising seas.",
                "sentences": [
                    "Campaign groups described the result as a missed opportunity at a time of record "
                    "heat.",
                    "The group said contributions to the loss and damage fund remained far below what was "
                    "needed.",
                    "A negotiator for the group said island nations would push for stronger commitments "
                    "next year.",
                ],
            },
            {
                "places": [("Geneva", "GENEVA"), ("Nairobi", "NAIROBI")],
                "headline": "UN report finds climate plans put world on track for {temp}C of warming",
                "lead": "Current national climate plans would leave the world on course for about {temp} "
                        "degrees Celsius of warming this century, a UN assessment published on {weekday} "
                        "found.",
                "sentences": [
                    "The report said global emissions would need to fall by about {pct} percent by 2035 "
                    "to keep the 1.5C goal within reach.",
                    "It found that pledges submitted this year had narrowed the gap only slightly.",
                    "The authors said faster deployment of renewable power was the largest single lever "
                    "available.",
                ],
            },
            {
                "places": [("Antalya", "ANTALYA"), ("Brasília", "BRASÍLIA")],
                "headline": "Donors pledge ${n} billion for climate adaptation in poorer nations",
                "lead": "Donor governments pledged about ${n} billion to help developing countries adapt to "
                        "heatwaves, floods and droughts, organisers said on {weekday}.",
                "sentences": [
                    "The largest contributions came from European governments and multilateral development "
                    "banks.",
                    "Aid groups said much of the money would come as loans rather than grants.",
                    "Organisers said the funds would prioritise early warning systems and water "
                    "infrastructure.",
                ],
            },
        ],
    },
    "sport": {
        "slots": {
            "team": ["Arsenal", "Real Betis", "Bologna", "Celtic", "Feyenoord", "Brighton", "Lyon", "Sporting"],
            "team2": ["Everton", "Valencia", "Torino", "Hibernian", "Utrecht", "Fulham", "Nantes", "Braga"],
            "country": ["Italy", "Spain", "Australia", "Canada", "Germany", "Argentina"],
            "country2": ["the Netherlands", "Britain", "the United States", "Czech Republic", "France"],
        },
        "background": [
            "Tickets for the next home game sold out within hours.",
            "The coach said he expected two players to return from injury after the international break.",
        ],
        "angles": [
            {
                "places": [("London", "LONDON"), ("Madrid", "MADRID"), ("Glasgow", "GLASGOW")],
                "headline": "{team} come from behind to beat {team2} {score}",
                "lead": "{team} scored twice in the last {k} minutes to beat {team2} {score} on {weekday} "
                        "and move within {pts} points of the top of the table.",
                "sentences": [
                    "The visitors had led through a first-half penalty.",
                    "A crowd of {n},{k}00 watched the match in steady rain.",
                    "The winning goal came from a deflected shot in stoppage time.",
                    "Officials reviewed the goal for more than two minutes before it was allowed to stand.",
                ],
            },
            {
                "places": [("London", "LONDON"), ("Lyon", "LYON")],
                "headline": "{team} coach says injury list is 'not an excuse' after third straight loss",
                "lead": "The {team} coach insisted on {weekday} that a growing injury list was no excuse for "
                        "a run of three straight defeats.",
                "sentences": [
                    "The club has {k} first-team players sidelined, including both first-choice "
                    "centre-backs.",
                    "The captain said the squad had shown character in a difficult month.",
                    "They face a tough run of fixtures before the end of the year.",
                ],
            },
            {
                "places": [("Bologna", "BOLOGNA"), ("Málaga", "MÁLAGA")],
                "headline": "Davis Cup: {country} beat {country2} to reach semi-finals",
                "lead": "{country} reached the Davis Cup semi-finals on {weekday}, beating {country2} after "
                        "winning the deciding doubles in three tight sets.",
                "sentences": [
                    "The doubles pair saved {k} break points in the deciding set.",
                    "The singles rubbers were split, with both matches going to a final-set tiebreak.",
                    "The captain said the team's depth had been the difference over the week.",
                ],
            },
            {
                "places": [("Rotterdam", "ROTTERDAM"), ("Lisbon", "LISBON"), ("Brighton", "BRIGHTON")],
                "headline": "{team} extend unbeaten run to {n2} games",
                "lead": "{team} stretched their unbeaten run to {n2} matches in all competitions with a "
                        "comfortable {score2} win over {team2} on {weekday}.",
                "sentences": [
                    "Two of the goals came from set pieces.",
                    "The coach rotated {k} players with a European fixture coming up at the weekend.",
                    "The run is the club's longest since the 2010s.",
                ],
            },
        ],
    },
    "tech": {
        "slots": {
            "company": ["Halvorsen Semiconductor", "Nordmark Systems", "Ardent Micro", "Kestrel Devices"],
            "platform": ["Lumo", "Pintail", "Orbix", "Quillon"],
        },
        "background": [
            "Data-centre operators have continued to raise their spending plans for next year.",
            "Regulators on both sides of the Atlantic have stepped up scrutiny of large technology "
            "platforms.",
        ],
        "angles": [
            {
                "places": [("Brussels", "BRUSSELS")],
                "headline": "EU opens probe into {platform} app store fees under Digital Markets Act",
                "lead": "EU antitrust regulators on {weekday} opened an investigation into whether app store "
                        "fees charged by {platform} breach the bloc's Digital Markets Act.",
                "sentences": [
                    "Companies found in breach of the DMA face fines of up to 10% of their global annual "
                    "turnover.",
                    "{platform} said it would cooperate fully with the investigation.",
                    "The European Commission aims to reach a preliminary view within {k} months.",
                    "Developer groups welcomed the move and called for refunds of excess fees.",
                ],
            },
            {
                "places": [("San Francisco", "SAN FRANCISCO"), ("Taipei", "TAIPEI")],
                "headline": "{company} forecasts revenue above estimates on AI chip demand",
                "lead": "{company} forecast fourth-quarter revenue above Wall Street estimates on {weekday}, "
                        "citing strong demand for its data-centre processors.",
                "sentences": [
                    "Revenue rose {pct} percent from a year earlier, the company said.",
                    "Shares rose {pct_small}% in extended trading.",
                    "Analysts said advanced packaging capacity remained the main constraint on growth.",
                    "The company said gross margins would stay in a range of {pct2} to {pct3} percent.",
                ],
            },
            {
                "places": [("Seoul", "SEOUL")],
                "headline": "South Korea fines {platform} {n} billion won over data breach",
                "lead": "South Korea's privacy watchdog on {weekday} fined {platform} {n} billion won over a "
                        "breach that exposed the personal data of millions of users.",
                "sentences": [
                    "The watchdog said the company had failed to encrypt some personal data and reported "
                    "the breach late.",
                    "{platform} said it accepted the decision and had strengthened its security controls.",
                    "Consumer groups said affected users should be compensated directly.",
                ],
            },
            {
                "places": [("Washington", "WASHINGTON"), ("Zürich", "ZÜRICH"), ("Taipei", "TAIPEI")],
                "headline": "Chipmakers brace for new export curbs on advanced semiconductors",
                "lead": "Semiconductor companies are preparing for a fresh round of export restrictions on "
                        "advanced chips, industry officials said on {weekday}.",
                "sentences": [
                    "Industry groups warned that broad restrictions could push customers to rival "
                    "suppliers.",
                    "Officials said the rules were aimed at closing loopholes in existing controls.",
                    "Shares of equipment makers fell as much as {pct_small}% on the reports.",
                ],
            },
        ],
    },
}


def _story_ctx(rng: random.Random, topic: dict, first_created: datetime) -> dict:
    """Per-story slot values, drawn once so headline, lead and body agree."""
    up = rng.random() < 0.5
    ctx = {name: rng.choice(choices) for name, choices in topic["slots"].items()}
    if "team" in ctx and "team2" in ctx and ctx["team"] == ctx["team2"]:
        ctx["team2"] = "Everton"
    if "sector" in ctx:
        ctx["Sector"] = ctx["sector"][0].upper() + ctx["sector"][1:]
    pct = rng.randint(12, 74)
    ctx.update(
        weekday=first_created.strftime("%A"),
        updown="higher" if up else "lower",
        rises="rises" if up else "falls",
        rise_short="rise" if up else "slip",
        rose=rng.choice(("rose", "edged up")) if up else rng.choice(("fell", "slipped")),
        n=rng.randint(12, 95), n2=rng.randint(3, 40),
        k=rng.randint(2, 12), k2=rng.randint(2, 9), h=rng.randint(2, 9), pts=rng.randint(1, 6),
        pct=pct, pct2=pct % 30 + 40, pct3=pct % 30 + 43,
        pct_small=f"{rng.uniform(0.05, 1.9):.2f}", pct_small2=f"{rng.uniform(0.05, 1.9):.2f}",
        pct_small3=f"{rng.uniform(0.05, 1.9):.2f}",
        price=f"{rng.uniform(58, 79):.2f}", price2=f"{rng.uniform(55, 75):.2f}",
        fx=f"{rng.uniform(1.02, 1.19):.4f}", gold=f"{rng.uniform(2400, 4300):,.2f}",
        yield_=f"{rng.uniform(3.6, 4.9):.3f}",
        score=f"{rng.randint(2, 4)}-1", score2=f"{rng.randint(2, 4)}-0",
    )
    return ctx


def _fill(template: str, ctx: dict) -> str:
    return template.format(**ctx)


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dateline(provider: str, place: tuple[str, str], dt: datetime) -> str:
    city, caps = place
    if provider == "Reuters":
        return f"{caps}, Nov {dt.day} (Reuters) - "
    if provider == "AP":
        return f"{caps} (AP) \u2014 "
    return f"{city} (AFP) - "


@dataclass
class _Story:
    index: int
    uri: str
    provider: str
    layout: str  # "1x-text", "1x-html", "2x-text", "2x-html"
    topic: str
    place: tuple[str, str]
    byline: Optional[str]
    language: str
    urgency: Optional[int]
    first_created: datetime
    headline: str
    paragraphs: list[str]
    ctx: dict = field(default_factory=dict)
    spare: list[str] = field(default_factory=list)  # unused sentences, for later versions


def _make_story(rng: random.Random, index: int, uri: str, first_created: datetime) -> _Story:
    topic_name = rng.choice(sorted(TOPICS))
    topic = TOPICS[topic_name]
    angle = rng.choice(topic["angles"])
    provider = rng.choice(sorted(PROVIDERS))
    place = rng.choice(angle["places"])
    ctx = _story_ctx(rng, topic, first_created)
    headline = _fill(angle["headline"], ctx)
    lead = _dateline(provider, place, first_created) + _fill(angle["lead"], ctx)
    specific = list(angle["sentences"])
    background = list(topic["background"])
    rng.shuffle(specific)
    rng.shuffle(background)
    # Specific facts first, background towards the end, as in real wire copy.
    pool = specific + background
    n_paragraphs = rng.randint(3, 8)
    paragraphs = [lead]
    while len(paragraphs) < n_paragraphs and pool:
        take = min(len(pool), rng.choice((1, 1, 2)))
        paragraphs.append(" ".join(_fill(pool.pop(0), ctx) for _ in range(take)))
    byline = None if rng.random() < 0.15 else rng.choice(REPORTERS)
    return _Story(
        index=index,
        uri=uri,
        provider=provider,
        layout=rng.choice(("1x-text", "1x-html", "2x-text", "2x-html")),
        topic=topic_name,
        place=place,
        byline=byline,
        language="en",
        urgency=rng.choice((None, 3, 4, 5)),
        first_created=first_created,
        headline=headline,
        paragraphs=paragraphs,
        ctx=ctx,
        spare=[_fill(t, ctx) for t in pool],
    )


def _html(paragraphs: Sequence[str]) -> str:
    def esc(s: str) -> str:
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    return "".join(f"<p>{esc(p)}</p>" for p in paragraphs)


def _ninjs(story: _Story, version: int, version_created: datetime, pubstatus: str,
           headline: str, paragraphs: Sequence[str]) -> dict:
    """Render one version of a story in the story's ninjs layout."""
    prov = PROVIDERS[story.provider]
    doc: dict = {"uri": story.uri, "type": "text", "version": str(version)}
    doc["firstcreated"] = _iso(story.first_created)
    doc["versioncreated"] = _iso(version_created)
    doc["pubstatus"] = pubstatus
    if story.urgency is not None:
        doc["urgency"] = story.urgency
    doc["language"] = story.language
    if story.layout.startswith("1x"):
        doc["headline"] = headline
        if story.byline:
            doc["byline"] = f"By {story.byline}"
        if story.layout == "1x-text":
            doc["body_text"] = "\n\n".join(paragraphs)
        else:
            doc["body_html"] = _html(paragraphs)
        doc["located"] = story.place[0]
        doc["copyrightholder"] = prov["holder"]
    else:
        doc["headlines"] = [{"value": headline, "role": "main"}]
        if story.byline:
            doc["by"] = story.byline
        if story.layout == "2x-text":
            doc["bodies"] = [{"value": "\n\n".join(paragraphs), "contenttype": "text/plain"}]
        else:
            doc["bodies"] = [{"value": _html(paragraphs), "contenttype": "text/html"}]
        doc["located"] = story.place[0]
        doc["infosources"] = [{"name": prov["source"]}]
        doc["copyrightholder"] = prov["holder"]
    return doc


def _dumps(doc) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


#: Appended by an update when the story has no unused sentence left.
_UPDATE_SENTENCES = [
    "Officials were expected to give further details later on {day}.",
    "More details were not immediately available.",
    "Further comment was being sought.",
]

_KILL_NOTE = (
    "KILL: This story has been withdrawn. Editors are asked not to use it and to remove it from any "
    "archives. There will be no substitute story."
)


def _story_versions(rng: random.Random, story: _Story, n_versions: int, with_kill: bool) -> list[FeedMessage]:
    """Versions 1..n of a story; if with_kill, the last one is a kill (pubstatus canceled)."""
    out: list[FeedMessage] = []
    headline = story.headline
    paragraphs = list(story.paragraphs)
    created = story.first_created
    for version in range(1, n_versions + 1):
        pubstatus = "usable"
        label = "valid:v1"
        if version > 1:
            created = created + timedelta(minutes=rng.randint(5, 90), seconds=rng.randint(0, 59))
            if with_kill and version == n_versions:
                pubstatus = "canceled"
                label = "valid:kill"
                headline = f"KILL - {story.headline}"
                paragraphs = [_KILL_NOTE]
            else:
                label = "valid:update"
                if story.provider == "Reuters":  # Reuters numbers its updates in the headline
                    headline = f"UPDATE {version - 1}-{story.headline}"
                if story.spare:
                    extra = story.spare.pop(0)
                else:
                    extra = rng.choice(_UPDATE_SENTENCES).format(day=created.strftime("%A"))
                paragraphs = paragraphs + [extra]
        doc = _ninjs(story, version, created, pubstatus, headline, paragraphs)
        out.append(FeedMessage(partition=-1, key=story.uri.encode("utf-8"), value=_dumps(doc),
                               kind=VALID, label=label))
    return out


def _relayout(rng: random.Random, value: bytes) -> bytes:
    """Same JSON content, different bytes: key order, whitespace and escaping change."""
    doc = json.loads(value.decode("utf-8"))

    def reorder(obj):
        if isinstance(obj, dict):
            items = list(obj.items())
            rng.shuffle(items)
            return {k: reorder(v) for k, v in items}
        if isinstance(obj, list):
            return [reorder(v) for v in obj]
        return obj

    style = rng.randrange(3)
    if style == 0:
        out = json.dumps(reorder(doc), indent=2, ensure_ascii=False)
    elif style == 1:
        out = json.dumps(reorder(doc), separators=(",", ":"), ensure_ascii=True)
    else:
        out = json.dumps(dict(reversed(list(doc.items()))), indent="\t", ensure_ascii=True) + "\n"
    data = out.encode("utf-8")
    if data == value:  # pragma: no cover - only if shuffling happened to be a no-op
        data = json.dumps(doc, indent=4).encode("utf-8")
    return data


# ---------------------------------------------------------------------------
# Bad messages: each builder returns (value, key_uri_or_None); one defect each.
# ---------------------------------------------------------------------------

def _bad_base(rng: random.Random, j: int, layout: Optional[str] = None) -> tuple[_Story, dict]:
    fc = WINDOW_START + timedelta(days=rng.randint(0, 2), minutes=rng.randint(5 * 60, 22 * 60))
    story = _make_story(rng, -1, f"urn:test:bad:{j}", fc)
    if layout is not None:
        story.layout = layout
    vc = fc + timedelta(minutes=rng.randint(0, 30))
    return story, _ninjs(story, 1, vc, "usable", story.headline, story.paragraphs)


def _b_empty(rng, j, max_bytes):
    return b"", None


def _b_cp1252(rng, j, max_bytes):
    """A story with accented text, encoded by a misconfigured producer as Windows-1252."""
    story, _ = _bad_base(rng, j, layout=rng.choice(("1x-text", "2x-text")))
    story.place = ("Zürich", "ZÜRICH")
    story.provider = "Reuters"
    story.byline = rng.choice([r for r in REPORTERS if r.encode("cp1252", errors="ignore").decode("cp1252") == r])
    story.headline = "Cafés in Zürich and Genève raise prices as coffee costs soar"
    story.paragraphs = [
        f"ZÜRICH, Nov {story.first_created.day} (Reuters) - Café chains in Zürich and Genève are raising the "
        f"price of an espresso by up to {rng.randint(20, 60)} centimes, blaming a surge in arabica futures.",
        "Owners said they had absorbed higher costs for most of the year but could no longer do so.",
        f"A typical cappuccino now costs about {rng.randint(5, 7)}.{rng.choice(('20', '50', '80'))} francs "
        "in central Zürich, according to a survey by a consumer group.",
    ]
    doc = _ninjs(story, 1, story.first_created, "usable", story.headline, story.paragraphs)
    return json.dumps(doc, ensure_ascii=False).encode("cp1252"), doc["uri"]


def _b_cut_multibyte(rng, j, max_bytes):
    story, doc = _bad_base(rng, j, layout="1x-text")
    doc["located"] = "Brasília"
    doc["headline"] = "Brasília hosts ministers ahead of BRICS finance meeting"
    data = _dumps(doc)
    pos = data.index("í".encode("utf-8"))
    return data[:pos + 1] + data[pos + 2:], doc["uri"]  # lead byte kept, continuation byte dropped


def _ascii_cut(data: bytes, frac: float) -> bytes:
    pos = int(len(data) * frac)
    while pos > 1 and (data[pos - 1] >= 0x80 or data[pos] >= 0x80):
        pos -= 1
    return data[:pos]


def _b_truncated(rng, j, max_bytes):
    _, doc = _bad_base(rng, j)
    return _ascii_cut(_dumps(doc), rng.uniform(0.3, 0.9)), doc["uri"]


def _b_python_repr(rng, j, max_bytes):
    _, doc = _bad_base(rng, j)
    return repr(doc).encode("utf-8"), doc["uri"]


def _b_array(rng, j, max_bytes):
    _, doc = _bad_base(rng, j)
    return _dumps([doc]), None


def _b_missing_uri(rng, j, max_bytes):
    _, doc = _bad_base(rng, j)
    del doc["uri"]
    return _dumps(doc), None


def _b_no_content(rng, j, max_bytes):
    _, doc = _bad_base(rng, j)
    for name in ("headline", "headlines", "body_text", "body_html", "bodies"):
        doc.pop(name, None)
    return _dumps(doc), doc["uri"]


def _b_headline_number(rng, j, max_bytes):
    _, doc = _bad_base(rng, j, layout="1x-text")
    doc["headline"] = rng.randint(1, 99999)
    return _dumps(doc), doc["uri"]


def _b_headlines_string(rng, j, max_bytes):
    story, doc = _bad_base(rng, j, layout="2x-text")
    doc["headlines"] = story.headline
    return _dumps(doc), doc["uri"]


def _b_bodies_not_dicts(rng, j, max_bytes):
    story, doc = _bad_base(rng, j, layout="2x-text")
    doc["bodies"] = list(story.paragraphs)
    return _dumps(doc), doc["uri"]


def _b_version(rng, j, max_bytes):
    _, doc = _bad_base(rng, j)
    doc["version"] = "v2"
    return _dumps(doc), doc["uri"]


def _b_timestamp(rng, j, max_bytes):
    _, doc = _bad_base(rng, j)
    doc["versioncreated"] = "yesterday"
    return _dumps(doc), doc["uri"]


def _b_date_range(rng, j, max_bytes):
    _, doc = _bad_base(rng, j)
    doc["firstcreated"] = "1850-01-01T00:00:00Z"
    return _dumps(doc), doc["uri"]


def _b_pubstatus(rng, j, max_bytes):
    _, doc = _bad_base(rng, j)
    doc["pubstatus"] = "draft"
    return _dumps(doc), doc["uri"]


def _b_too_large(rng, j, max_bytes):
    """A plausible story whose body_html inlines a huge base64 photo."""
    import base64

    story, doc = _bad_base(rng, j, layout="1x-html")
    target = max_bytes + rng.randint(1, 4096)
    head = _html(story.paragraphs[:1]) + '<figure><img src="data:image/jpeg;base64,'
    tail = '"/><figcaption>Handout photo.</figcaption></figure>' + _html(story.paragraphs[1:])
    doc["body_html"] = head + tail
    overhead = len(_dumps(doc))
    n_chars = max(4, target - overhead)
    payload = base64.b64encode(rng.randbytes(n_chars * 3 // 4 + 3)).decode("ascii")[:n_chars]
    doc["body_html"] = head + payload + tail
    data = _dumps(doc)
    assert len(data) > max_bytes
    return data, doc["uri"]


#: (error_code, variant, builder). Several variants share a code.
BAD_VARIANTS = [
    (EMPTY_MESSAGE, "empty", _b_empty),
    (INVALID_UTF8, "cp1252", _b_cp1252),
    (INVALID_UTF8, "cut-multibyte", _b_cut_multibyte),
    (INVALID_JSON, "truncated", _b_truncated),
    (INVALID_JSON, "python-repr", _b_python_repr),
    (NOT_AN_OBJECT, "array", _b_array),
    (MISSING_URI, "no-uri", _b_missing_uri),
    (NO_CONTENT, "no-headline-no-body", _b_no_content),
    (WRONG_TYPE, "headline-number", _b_headline_number),
    (WRONG_TYPE, "headlines-string", _b_headlines_string),
    (WRONG_TYPE, "bodies-not-dicts", _b_bodies_not_dicts),
    (INVALID_VERSION, "v2", _b_version),
    (INVALID_TIMESTAMP, "yesterday", _b_timestamp),
    (DATE_OUT_OF_RANGE, "year-1850", _b_date_range),
    (INVALID_PUBSTATUS, "draft", _b_pubstatus),
    (TOO_LARGE, "inline-image", _b_too_large),
]


def _plan_bad(n_bad: int) -> list[int]:
    """Indices into BAD_VARIANTS, round-robin, too_large capped at MAX_TOO_LARGE."""
    plan: list[int] = []
    too_large = 0
    i = 0
    while len(plan) < n_bad:
        idx = i % len(BAD_VARIANTS)
        i += 1
        if BAD_VARIANTS[idx][0] == TOO_LARGE:
            if too_large >= MAX_TOO_LARGE:
                continue
            too_large += 1
        plan.append(idx)
    return plan


def _partition_for(key: bytes, partitions: int) -> int:
    return zlib.crc32(key) % partitions


def build_feed(n_messages: int = 5000, partitions: int = 3, seed: int = 7,
               max_message_bytes: int = 1024 * 1024) -> list[FeedMessage]:
    """Build ``n_messages`` messages, deterministic for a given set of arguments."""
    if partitions < 1:
        raise ValueError("partitions must be >= 1")
    if max_message_bytes < MIN_MAX_MESSAGE_BYTES:
        raise ValueError(f"max_message_bytes must be >= {MIN_MAX_MESSAGE_BYTES}")
    n_bad = max(len(BAD_VARIANTS), round(n_messages * BAD_RATE))
    n_red = round(n_messages * REDELIVERY_RATE)
    n_valid = n_messages - n_bad - n_red
    if n_valid < 10:
        raise ValueError(f"n_messages={n_messages} is too small (need room for {n_bad} bad messages)")

    rng = random.Random(seed)

    # 1. Valid stories, versions 1..3, ordered by versioncreated like a real wire.
    valid: list[tuple[datetime, int, FeedMessage]] = []
    seen_content: set[tuple[str, tuple[str, ...]]] = set()
    i = 0
    while len(valid) < n_valid:
        n_versions = min(rng.choices((1, 2, 3), weights=(60, 28, 12))[0], n_valid - len(valid))
        with_kill = n_versions >= 2 and rng.random() < 0.02
        # Filed between 05:00 and 20:00 UTC on one of the three days; updates follow within ~3 hours,
        # so every timestamp stays inside 2026-11-23..2026-11-25.
        fc = WINDOW_START + timedelta(days=rng.randint(0, 2), minutes=rng.randint(5 * 60, 20 * 60),
                                      seconds=rng.randint(0, 59))
        story = _make_story(rng, i, f"urn:test:story:{i}", fc)
        while (story.headline, tuple(story.paragraphs)) in seen_content:  # bodies must differ
            story = _make_story(rng, i, f"urn:test:story:{i}", fc)
        seen_content.add((story.headline, tuple(story.paragraphs)))
        for msg in _story_versions(rng, story, n_versions, with_kill):
            msg.partition = _partition_for(msg.key, partitions)
            vc = json.loads(msg.value)["versioncreated"]
            valid.append((datetime.strptime(vc, "%Y-%m-%dT%H:%M:%SZ"), len(valid), msg))
        i += 1
    valid.sort(key=lambda t: (t[0], t[1]))
    valid_iter = iter(m for _, _, m in valid)

    # 2. Interleave valid, redelivered and bad messages.
    slots = ["V"] * n_valid + ["R"] * n_red + ["B"] * n_bad
    rng.shuffle(slots)
    first_v = slots.index("V")
    slots[0], slots[first_v] = slots[first_v], slots[0]

    bad_plan = _plan_bad(n_bad)
    bad_seen_per_variant: dict[int, int] = {}
    out: list[FeedMessage] = []
    emitted_valid: list[FeedMessage] = []
    for slot in slots:
        if slot == "V":
            msg = next(valid_iter)
            out.append(msg)
            emitted_valid.append(msg)
        elif slot == "R":
            # Redeliveries mostly replay a recent window (consumer restart, producer retry).
            window = emitted_valid[-300:]
            orig = rng.choice(window)
            r = rng.random()
            if r < 0.25:
                value, label, partition = _relayout(rng, orig.value), "redelivery:relayout", orig.partition
            else:
                value, label, partition = orig.value, "redelivery:exact", orig.partition
                if partitions > 1 and r > 0.80:
                    partition = (orig.partition + rng.randint(1, partitions - 1)) % partitions
                    label = "redelivery:exact-other-partition"
            out.append(FeedMessage(partition=partition, key=orig.key, value=value, kind=REDELIVERY,
                                   label=label))
        else:
            j = len(out)
            variant_idx = bad_plan.pop(0)
            code, variant, builder = BAD_VARIANTS[variant_idx]
            value, uri = builder(rng, j, max_message_bytes)
            seen = bad_seen_per_variant.get(variant_idx, 0)
            bad_seen_per_variant[variant_idx] = seen + 1
            partition = (variant_idx + seen) % partitions
            key = uri.encode("utf-8") if uri is not None and rng.random() < 0.6 else None
            out.append(FeedMessage(partition=partition, key=key, value=value, kind=BAD_PREFIX + code,
                                   label=f"bad:{code}:{variant}"))

    for msg in out:
        if not msg.is_bad and len(msg.value) > max_message_bytes:  # pragma: no cover - sanity
            raise ValueError(f"valid message larger than max_message_bytes: {msg.label}")
    assert len(out) == n_messages
    return out


if __name__ == "__main__":  # pragma: no cover - quick look at the feed
    from collections import Counter

    msgs = build_feed()
    print(Counter(m.kind for m in msgs))
    print(Counter(m.label for m in msgs))
    print(len(expected_pairs(msgs)), "distinct (uri, version)")
