"""Deterministic syndication feed for near-duplicate tests and ``bench/dedup_quality.py``.

Pure Python (no Kafka, no Beam). :func:`build_feed` returns story versions in arrival order, each
with its raw body as delivered and its ground truth:

* originals by AP / Reuters / AFP on a dozen topics. Several stories share a topic, names and
  vocabulary without being the same story: the same event written up by two or three agencies
  (they quote the same officials verbatim), follow-ups by one agency that reuse two to four
  background paragraphs of an earlier story, and template families (Fed decisions, market wraps,
  earnings reports written from one template with other numbers). The real AFP story of
  ``tests/fixtures/seed_article.txt`` and hand-written AP/Reuters stories on the same events are
  among them;
* syndicated copies under other story ids / outlets: a new dateline, photo captions, a byline,
  footers ("Read more: ...", "(Reporting by ...; Editing by ...)", copyright), curly quotes,
  HTML with <figure>; and edits: the last paragraph or the last two dropped (only when 80 % of
  the words stay), a word changed in every paragraph, both, an outlet paragraph added at the end,
  and heavy cuts keeping 45-70 % (beyond the 80 % goal, reported apart);
* new versions (a corrected word, a new lede on top, a "Developing story." flash followed by the
  full text), redeliveries of a version already sent, and originals that arrive after their copies.

Ground truth: ``true_cluster`` is the story_id of the original a copy was made from (follow-ups and
template siblings are originals of their own cluster); ``kept_fraction`` is the share of the
original's words the copy keeps. Same seed, same feed.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

from pipeline.news.clean import is_caption

__all__ = [
    "FeedItem",
    "HAND_WRITTEN",
    "SEED_ARTICLE",
    "build_feed",
    "seed_paragraphs",
    "light_edit",
    "curly_quotes",
]

SEED_ARTICLE = Path(__file__).resolve().parents[1] / "fixtures" / "seed_article.txt"
EPOCH = datetime(2024, 11, 17, tzinfo=timezone.utc)


@dataclass(frozen=True)
class FeedItem:
    story_id: str
    version: int
    outlet: str
    first_created_us: Optional[int]
    arrival_us: int
    body: str  # raw body as delivered (plain text or HTML)
    is_html: bool
    true_cluster: str
    kind: str  # original | followup | template | exact | drop_last | drop_two | light_edit | edit_drop | added_para | heavy_cut | redelivery
    kept_fraction: float
    topic: str


# ---------------------------------------------------------------------------
# Hand-written stories (paragraphs of clean text; the agency's dateline is added on delivery)
# ---------------------------------------------------------------------------


def seed_paragraphs() -> list[str]:
    """Story paragraphs of the real AFP seed story: captions and its "Washington:" dateline removed."""
    lines = [ln.strip() for ln in SEED_ARTICLE.read_text(encoding="utf-8").splitlines() if ln.strip()]
    paras = [ln for ln in lines if not is_caption(ln)]
    paras[0] = re.sub(r"^Washington:\s*", "", paras[0])
    return paras


AP_ATACMS = [
    "President Joe Biden has cleared Ukraine to fire U.S.-supplied long-range missiles at targets deep inside Russia, two U.S. officials and a person familiar with the decision said Sunday, reversing a policy Kyiv had lobbied against for months.",
    "The officials, who were not authorized to discuss the matter publicly and spoke on condition of anonymity, said the first strikes were likely to be carried out in the coming days and would probably be aimed at Russian and North Korean troops massing in the Kursk region.",
    "The shift comes two months before President-elect Donald Trump takes office. Trump has questioned the cost of the war to American taxpayers and has said he could end it within a day, without explaining how.",
    "Ukrainian President Volodymyr Zelenskyy reacted cautiously in his nightly video address. \"Today, there's a lot of talk in the media about us receiving permission for respective actions,\" he said. \"But strikes are not made with words. Such things are not announced. Missiles will speak for themselves.\"",
    "The Army Tactical Missile System, or ATACMS, has a range of up to 190 miles (300 kilometers). Ukraine has used the weapons since last year against Russian positions in occupied territory, but Washington had barred strikes across the border.",
    "The Kremlin has warned repeatedly that allowing Kyiv to hit Russian soil with Western weapons would be seen as a direct escalation. Russian President Vladimir Putin said in September that it would mean NATO countries were \"at war\" with Russia.",
    "Republican Sen. Lindsey Graham welcomed the decision but said it came too late. Some Trump allies criticized it, with one saying the outgoing administration was trying to tie the hands of the next president.",
    "Roughly 10,000 North Korean soldiers have been sent to Russia, according to U.S. and South Korean intelligence, and most have moved to the Kursk border area where Ukraine seized a strip of land in August.",
    "The decision followed one of the largest Russian aerial assaults of the war, which Ukrainian officials said involved about 120 missiles and 90 drones aimed largely at power plants and substations.",
    "Associated Press writers Illia Novikov in Kyiv and Aamer Madhani in Washington contributed to this report.",
]

REUTERS_ATACMS = [
    "U.S. President Joe Biden's administration has given Ukraine the green light to use U.S.-made weapons to strike deep into Russia, two U.S. officials and a source familiar with the decision said on Sunday, in a significant change in U.S. policy in the Ukraine-Russia conflict.",
    "Ukraine plans to conduct its first long-range attacks in the coming days, the sources said, without revealing details due to operational security concerns.",
    "The move comes two months before President-elect Donald Trump takes office on Jan. 20, and follows months of requests from Ukrainian President Volodymyr Zelenskiy to allow Ukraine's military to use U.S. weapons to hit Russian military targets far from its border.",
    "The change comes largely in response to Russia's deployment of North Korean ground troops to supplement its forces, a development that has caused alarm in Washington and Kyiv, one of the officials said.",
    "The White House and the Pentagon did not immediately respond to requests for comment. The Kremlin has previously warned that such a step would be a significant escalation.",
    "\"Today, many in the media are saying that we have received permission to take appropriate actions,\" Zelenskiy said in his evening address. \"But blows are not inflicted with words. Such things are not announced. The missiles will speak for themselves.\"",
    "Some European allies have also pressed for the restrictions to be lifted. Britain and France have supplied Storm Shadow and SCALP cruise missiles but have not allowed them to be fired into Russia without U.S. agreement.",
    "Russia launched its largest air attack in nearly three months on Sunday, causing serious damage to Ukraine's power generating facilities, officials said. Seven people were killed in the city of Mykolaiv, the regional governor said.",
    "Trump has criticised the scale of Western financial and military aid to Ukraine and has promised to end the war quickly, without saying how. Some of his allies have said the decision to loosen restrictions risked escalating the conflict.",
]

# Follow-up by the same agency a day later: new reporting plus three background paragraphs reused.
REUTERS_KREMLIN = [
    "The Kremlin said on Monday that Washington's decision to let Ukraine strike deep into Russia with U.S. missiles was adding \"fuel to the fire\" and would lead to a new spiral of tension, vowing a response if Kyiv carried out such attacks.",
    "Kremlin spokesman Dmitry Peskov told reporters that the outgoing Biden administration was taking steps that would escalate the conflict, and said Moscow's position had been clearly stated by President Vladimir Putin in September.",
    "\"It is obvious that the outgoing administration in Washington intends to take steps to continue to add fuel to the fire and further provoke an escalation of tension,\" Peskov said.",
    "Senior Russian lawmakers warned that the decision could lead to World War Three, while others said strikes on Russian territory would draw a \"swift and devastating\" response.",
    REUTERS_ATACMS[2],
    REUTERS_ATACMS[3],
    "Russian forces have been advancing in eastern Ukraine at the fastest pace since 2022, and Kyiv fears it will come under pressure to agree to a ceasefire on unfavourable terms after Trump takes office.",
    REUTERS_ATACMS[6],
    "Ukraine's foreign minister Andrii Sybiha said on Monday that Kyiv had not received official confirmation of the decision and declined to comment on any future strikes.",
]

AP_FED_SEPT = [
    "The Federal Reserve cut its key interest rate by an unusually large half-point on Wednesday, a dramatic shift after more than two years of high rates that helped tame inflation but also made borrowing painfully expensive for American consumers.",
    "The rate cut, which was announced after the Fed's latest policy meeting, reduced its benchmark rate to about 4.8%, down from a two-decade high of 5.3%.",
    "The Fed's policymakers also forecast two more rate reductions this year and four in 2025. Over time, the cuts should reduce borrowing costs for mortgages, auto loans, credit cards and business loans.",
    "Chair Jerome Powell said the larger-than-usual reduction reflected the Fed's determination to keep the job market healthy. \"The U.S. economy is in a good place, and our decision today is designed to keep it there,\" he said at a news conference.",
    "The vote was 11-1, with Michelle Bowman, a member of the Fed's Board of Governors, dissenting in favor of a quarter-point cut. It was the first dissent by a Fed governor since 2005.",
    "Inflation has fallen to 2.5% by the Fed's preferred measure, not far above its 2% target, while the unemployment rate has risen from a half-century low of 3.4% to 4.2%.",
    "The move comes weeks before a presidential election in which the economy has been a central issue. Former President Donald Trump has suggested that the Fed should not cut rates before the vote.",
    "Stocks swung after the announcement. The S&P 500 ended the day down 0.3%, after rising as much as 1% during Powell's news conference.",
]

REUTERS_FED_SEPT = [
    "The Federal Reserve kicked off what is expected to be a steady easing of monetary policy with an outsized half-percentage-point rate cut on Wednesday, a decision Fed Chair Jerome Powell said was meant to show policymakers' commitment to sustaining a low unemployment rate now that inflation has eased.",
    "\"We're trying to achieve a situation where we restore price stability without the kind of painful increase in unemployment that has come sometimes with this inflation,\" Powell said in a press conference after the end of the Fed's two-day meeting.",
    "The cut set the Fed's benchmark overnight interest rate in the 4.75%-5.00% range, and new quarterly projections showed policymakers expect a further half-point reduction by the end of the year.",
    "Fed Governor Michelle Bowman dissented in favor of a quarter-point cut, the first time a Fed governor has dissented on a rate decision since 2005.",
    "\"The U.S. economy is in a good place, and our decision today is designed to keep it there,\" Powell said, describing the labor market as solid but noting that it had cooled from its earlier overheated state.",
    "U.S. stocks closed modestly lower after a volatile session, while Treasury yields fell and then rebounded. Traders in futures markets increased their bets on another large cut in November.",
    "The decision was the Fed's first rate cut since March 2020, when the central bank slashed borrowing costs to near zero at the onset of the COVID-19 pandemic.",
]

HAND_WRITTEN = {
    "afp-atacms": ("AFP", "ukraine", "WASHINGTON", None),
    "ap-atacms": ("AP", "ukraine", "WASHINGTON", AP_ATACMS),
    "reuters-atacms": ("Reuters", "ukraine", "WASHINGTON", REUTERS_ATACMS),
    "reuters-kremlin": ("Reuters", "ukraine", "MOSCOW", REUTERS_KREMLIN),
    "ap-fed": ("AP", "fed", "WASHINGTON", AP_FED_SEPT),
    "reuters-fed": ("Reuters", "fed", "WASHINGTON", REUTERS_FED_SEPT),
}


# ---------------------------------------------------------------------------
# Topic grammar: different stories that share names, vocabulary and quotes
# ---------------------------------------------------------------------------

TOPICS: dict[str, dict[str, list]] = {
    "ukraine": {
        "people": [("Ukrainian President Volodymyr Zelensky", "Zelensky"), ("Russian President Vladimir Putin", "Putin"),
                   ("Kremlin spokesman Dmitry Peskov", "Peskov"), ("NATO Secretary General Mark Rutte", "Rutte"),
                   ("US Secretary of State Antony Blinken", "Blinken"), ("Ukrainian Foreign Minister Andrii Sybiha", "Sybiha"),
                   ("German Chancellor Olaf Scholz", "Scholz"), ("Russian Defence Minister Andrei Belousov", "Belousov")],
        "orgs": ["the Pentagon", "the Kremlin", "Ukraine's air force", "Russia's defence ministry", "the State Department",
                 "NATO allies", "the Ukrainian military", "Russian forces", "the European Union"],
        "places": ["Kyiv", "Kharkiv", "the Kursk region", "Odesa", "Zaporizhzhia", "the Donetsk region", "Moscow", "Sumy", "Pokrovsk"],
        "verbs": ["authorised", "condemned", "warned against", "welcomed", "pushed for", "rejected", "confirmed",
                  "criticised", "defended", "announced", "discussed", "sought"],
        "objects": ["the use of long-range missiles", "strikes deep inside Russia", "the ATACMS decision", "new sanctions on Moscow",
                    "a fresh military aid package", "more air defence systems", "the deployment of North Korean troops",
                    "a negotiated ceasefire", "attacks on the power grid", "Western military assistance", "a prisoner exchange",
                    "drone strikes on oil refineries", "the mobilisation of reservists", "security guarantees for Kyiv"],
        "events": ["a massive missile and drone attack", "an overnight drone strike", "a counteroffensive in the Kursk region",
                   "heavy fighting near Pokrovsk", "an attack on energy infrastructure", "the arrival of North Korean troops",
                   "a glide bomb strike on a residential building"],
        "results": ["killed at least {N} civilians", "left hundreds of thousands without power", "damaged a thermal power plant",
                    "forced the evacuation of {N} residents", "destroyed a grain warehouse"],
        "claims": ["the weapons would change the course of the war", "Moscow was escalating the conflict",
                   "Kyiv needed more support before winter", "the restrictions had cost Ukrainian lives"],
        "impacts": ["draw the West deeper into the war", "weaken Russia's supply lines", "push Kyiv towards negotiations",
                    "trigger a harsh Russian response", "shift the balance on the battlefield"],
        "units": ["drones", "missiles", "civilians"],
        "quotes": [
            "Missiles will speak for themselves, and such things are not announced in advance",
            "We need long-range capabilities to protect our cities and our energy system from Russian terror",
            "Any such decision would mean direct participation of NATO countries in the war",
            "Russia will respond in an appropriate and tangible way to this reckless escalation",
            "Ukraine must be in the strongest possible position going into the winter",
            "The outgoing administration is adding fuel to the fire and provoking further tension",
            "We will not be intimidated by threats from Moscow, and our support will continue",
            "Every day of delay means more destroyed homes and more lost lives in Ukraine",
            "North Korean troops on Russian soil are a dangerous expansion of this war",
        ],
    },
    "fed": {
        "people": [("Federal Reserve Chair Jerome Powell", "Powell"), ("Fed Governor Christopher Waller", "Waller"),
                   ("Treasury Secretary Janet Yellen", "Yellen"), ("Fed Governor Michelle Bowman", "Bowman"),
                   ("New York Fed President John Williams", "Williams"), ("Atlanta Fed President Raphael Bostic", "Bostic")],
        "orgs": ["the Federal Reserve", "the central bank", "Fed policymakers", "the Treasury", "bond traders", "Wall Street banks",
                 "the Labor Department", "the Commerce Department"],
        "places": ["Washington", "New York", "Jackson Hole", "Chicago", "San Francisco"],
        "verbs": ["signalled", "ruled out", "welcomed", "defended", "flagged", "played down", "backed", "questioned",
                  "highlighted", "weighed"],
        "objects": ["further rate cuts", "a pause in easing", "the strength of the labour market", "sticky services inflation",
                    "the path of borrowing costs", "the balance sheet runoff", "a soft landing", "tariff risks to prices",
                    "the neutral rate of interest", "consumer spending", "mortgage rates", "wage growth", "the dollar's rally"],
        "events": ["a hotter-than-expected inflation report", "a surprisingly weak jobs report", "the latest policy meeting",
                   "a sell-off in Treasury bonds", "the release of meeting minutes", "a jump in retail sales"],
        "results": ["sent two-year yields up {N} basis points", "pushed mortgage rates to their highest since July",
                    "lifted the dollar against major currencies", "wiped out early gains on Wall Street"],
        "claims": ["inflation was on a sustainable path to 2%", "policy remained restrictive",
                   "the economy was in a good place", "the job market had cooled but was still solid"],
        "impacts": ["slow the pace of cuts", "keep borrowing costs higher for longer", "reignite inflation",
                    "cool the housing market", "strengthen the dollar"],
        "units": ["jobs", "basis points", "economists"],
        "quotes": [
            "The U.S. economy is in a good place, and our decision today is designed to keep it there",
            "We are not on any preset course and will make our decisions meeting by meeting",
            "Inflation has come down a great deal but it is still running somewhat above our goal",
            "The labor market is solid, and we want to keep it that way",
            "We can afford to be a little more cautious as we try to find neutral",
            "The risks to achieving our employment and inflation goals are roughly in balance",
            "I would not read too much into a single month of data",
        ],
    },
    "election": {
        "people": [("President-elect Donald Trump", "Trump"), ("Vice President Kamala Harris", "Harris"),
                   ("Senate Majority Leader Chuck Schumer", "Schumer"), ("House Speaker Mike Johnson", "Johnson"),
                   ("Senator JD Vance", "Vance"), ("Pennsylvania Governor Josh Shapiro", "Shapiro")],
        "orgs": ["the Trump transition team", "Senate Republicans", "House Democrats", "the Harris campaign",
                 "election officials", "the Republican National Committee", "state canvassing boards"],
        "places": ["Pennsylvania", "Arizona", "Georgia", "Michigan", "Mar-a-Lago", "Capitol Hill", "Nevada"],
        "verbs": ["announced", "criticised", "defended", "backed", "unveiled", "questioned", "praised", "opposed", "floated"],
        "objects": ["his choice for attorney general", "the cabinet nominations", "a recount in two counties",
                    "plans for mass deportations", "the certification of results", "a government funding bill",
                    "new tariffs on imports", "the transition agreement", "recess appointments", "the Senate leadership race"],
        "events": ["a closed-door meeting", "a tense Senate hearing", "the final vote count", "a rally in Arizona",
                   "a concession call", "the first transition briefing"],
        "results": ["drew sharp criticism from Democrats", "surprised several Republican senators",
                    "left {N} races still undecided", "prompted calls for an investigation"],
        "claims": ["voters had delivered a clear mandate", "the nominee was unqualified", "the process had been fair",
                   "the party needed to rebuild its coalition"],
        "impacts": ["reshape the federal bureaucracy", "test Republican unity in the Senate", "delay key confirmations",
                    "deepen divisions within the party"],
        "units": ["ballots", "votes", "seats"],
        "quotes": [
            "The American people have given us an unprecedented and powerful mandate",
            "We must accept the results of this election and keep fighting for our values",
            "I look forward to working with the new administration on behalf of working families",
            "This nomination is a test of whether the Senate will do its constitutional duty",
            "We will have a peaceful transfer of power, and I will help make it happen",
        ],
    },
    "quake": {
        "people": [("Japanese Prime Minister Shigeru Ishiba", "Ishiba"), ("Chief Cabinet Secretary Yoshimasa Hayashi", "Hayashi"),
                   ("Ishikawa Governor Hiroshi Hase", "Hase"), ("fire official Kenji Sato", "Sato")],
        "orgs": ["the Japan Meteorological Agency", "the fire and disaster management agency", "local authorities",
                 "rescue teams", "the Self-Defense Forces", "Tokyo Electric Power", "the prefectural government"],
        "places": ["the Noto peninsula", "Wajima", "Suzu", "Kanazawa", "Ishikawa prefecture", "Niigata", "Toyama"],
        "verbs": ["issued", "lifted", "ordered", "confirmed", "reported", "expanded", "suspended", "requested"],
        "objects": ["a tsunami warning", "evacuation orders", "emergency relief supplies", "the search for survivors",
                    "bullet train services", "power to affected homes", "temporary shelters", "aftershock warnings",
                    "inspections at nuclear plants", "damage assessments"],
        "events": ["a magnitude 7.5 earthquake", "a strong aftershock", "landslides triggered by heavy rain",
                   "a fire in the old market district", "the collapse of a seven-storey building"],
        "results": ["killed at least {N} people", "left {N} homes without water", "cut off several coastal villages",
                    "damaged roads and bridges across the region"],
        "claims": ["the next 72 hours were critical", "aftershocks could continue for weeks", "no abnormalities were found at nuclear plants"],
        "impacts": ["hamper rescue efforts", "trigger further landslides", "delay the reconstruction"],
        "units": ["people", "homes", "aftershocks"],
        "quotes": [
            "Saving lives is our top priority and we are racing against time",
            "Please stay away from the coast and move to higher ground immediately",
            "The damage is extensive and access to the affected areas remains very difficult",
            "We have received many reports of people trapped under collapsed buildings",
        ],
    },
    "climate": {
        "people": [("UN Secretary-General Antonio Guterres", "Guterres"), ("COP29 President Mukhtar Babayev", "Babayev"),
                   ("EU climate commissioner Wopke Hoekstra", "Hoekstra"), ("US climate envoy John Podesta", "Podesta"),
                   ("Brazilian Environment Minister Marina Silva", "Silva")],
        "orgs": ["developing nations", "the European Union", "small island states", "oil-producing countries", "negotiators",
                 "climate activists", "the summit hosts", "the G77 bloc"],
        "places": ["Baku", "Belem", "Bonn", "Rio de Janeiro", "Dubai"],
        "verbs": ["rejected", "proposed", "demanded", "welcomed", "blocked", "criticised", "backed", "circulated"],
        "objects": ["a new climate finance goal", "the draft text", "a $250 billion annual target", "the phase-out of fossil fuels",
                    "carbon market rules", "loss and damage funding", "stronger emission cuts", "the transition away from coal",
                    "contributions from China", "adaptation finance"],
        "events": ["all-night negotiations", "a walkout by small island states", "the release of a new draft",
                   "a closed-door ministerial session", "protests outside the venue"],
        "results": ["left negotiators deeply divided", "pushed the talks into overtime", "drew anger from poorer nations"],
        "claims": ["the offer was an insult", "the deal was the best possible outcome", "rich countries had failed to deliver"],
        "impacts": ["derail the talks", "undermine trust between nations", "lock in dangerous warming"],
        "units": ["delegates", "countries", "billion dollars"],
        "quotes": [
            "The era of endless delay must end and the money must flow to those who need it most",
            "This is not charity, it is an investment in the safety of all of us",
            "We cannot accept a deal that abandons the most vulnerable countries",
            "Every fraction of a degree of warming avoided matters for millions of people",
        ],
    },
    "tech": {
        "people": [("Nvidia chief executive Jensen Huang", "Huang"), ("Apple CEO Tim Cook", "Cook"),
                   ("Microsoft CEO Satya Nadella", "Nadella"), ("OpenAI chief Sam Altman", "Altman"),
                   ("Meta CEO Mark Zuckerberg", "Zuckerberg"), ("Alphabet CEO Sundar Pichai", "Pichai")],
        "orgs": ["Nvidia", "the chipmaker", "Apple", "Microsoft", "regulators in Brussels", "the Justice Department",
                 "analysts", "investors", "the Federal Trade Commission"],
        "places": ["Santa Clara", "Cupertino", "Redmond", "Brussels", "Taipei", "San Francisco", "Seoul"],
        "verbs": ["reported", "forecast", "unveiled", "delayed", "launched", "warned about", "expanded", "cut"],
        "objects": ["quarterly revenue", "its data centre business", "a new artificial intelligence chip",
                    "spending on AI infrastructure", "the antitrust case", "export curbs on advanced chips",
                    "its smartphone line-up", "supply constraints", "gross margins", "a share buyback", "its cloud unit"],
        "events": ["an antitrust ruling", "the annual developer conference", "a fresh round of export restrictions",
                   "a record quarter", "a supply chain disruption"],
        "results": ["sent shares down {N}% in extended trading", "added billions of dollars to its market value",
                    "disappointed some investors"],
        "claims": ["demand for AI chips remained incredible", "the company was competing fairly",
                   "regulation would stifle innovation"],
        "impacts": ["slow the AI boom", "hurt sales in China", "reshape the smartphone market"],
        "units": ["units", "percent", "engineers"],
        "quotes": [
            "The age of AI is in full steam, and demand for our products remains incredible",
            "We are at the beginning of a new industrial revolution",
            "We will continue to invest aggressively to meet demand from our customers",
            "Our priority is to deliver products that people love while protecting their privacy",
        ],
    },
    "mideast": {
        "people": [("Israeli Prime Minister Benjamin Netanyahu", "Netanyahu"), ("Hezbollah leader Naim Qassem", "Qassem"),
                   ("US envoy Amos Hochstein", "Hochstein"), ("Lebanese caretaker Prime Minister Najib Mikati", "Mikati"),
                   ("Israeli Defence Minister Israel Katz", "Katz"), ("Qatar's Prime Minister Sheikh Mohammed bin Abdulrahman Al Thani", "Sheikh Mohammed")],
        "orgs": ["the Israeli military", "Hezbollah", "Hamas", "the Lebanese health ministry", "mediators", "the UN Security Council",
                 "the Gaza civil defence agency", "Israeli forces"],
        "places": ["Beirut", "Gaza City", "southern Lebanon", "Rafah", "Doha", "Jerusalem", "Tyre", "Khan Younis"],
        "verbs": ["rejected", "proposed", "accepted", "condemned", "confirmed", "resumed", "suspended", "discussed"],
        "objects": ["a ceasefire proposal", "the hostage deal", "air strikes on Beirut's southern suburbs",
                    "humanitarian aid deliveries", "the draft agreement", "the evacuation orders", "talks in Doha",
                    "rocket fire into northern Israel", "the withdrawal of troops", "a 60-day truce"],
        "events": ["an overnight air strike", "a wave of rocket fire", "a ground incursion", "a strike on a school shelter",
                   "a round of indirect talks"],
        "results": ["killed at least {N} people", "wounded dozens, including children", "flattened a residential block"],
        "claims": ["the proposal did not meet its demands", "military pressure was bringing results", "a deal was within reach"],
        "impacts": ["widen the regional conflict", "jeopardise the hostage talks", "worsen the humanitarian crisis"],
        "units": ["people", "rockets", "trucks"],
        "quotes": [
            "We will continue to act against any threat, wherever it comes from",
            "The window for a diplomatic solution is closing fast",
            "Civilians are paying an unbearable price for this war",
            "There is a real opportunity to reach an agreement in the coming days",
        ],
    },
    "football": {
        "people": [("Manchester City manager Pep Guardiola", "Guardiola"), ("Liverpool coach Arne Slot", "Slot"),
                   ("Real Madrid coach Carlo Ancelotti", "Ancelotti"), ("striker Erling Haaland", "Haaland"),
                   ("forward Mohamed Salah", "Salah"), ("Arsenal manager Mikel Arteta", "Arteta")],
        "orgs": ["Manchester City", "Liverpool", "Real Madrid", "the Premier League", "UEFA", "Arsenal", "Barcelona", "the visitors"],
        "places": ["Anfield", "the Etihad Stadium", "the Santiago Bernabeu", "Wembley", "the Emirates Stadium"],
        "verbs": ["extended", "conceded", "secured", "dominated", "suffered", "celebrated", "ended", "squandered"],
        "objects": ["their lead at the top of the table", "a late equaliser", "a fifth straight defeat", "the title race",
                    "a penalty in stoppage time", "their unbeaten run", "the opening goal", "a place in the last 16",
                    "a hamstring injury", "the derby"],
        "events": ["a dramatic comeback", "a red card before halftime", "a goalless first half", "a controversial VAR decision"],
        "results": ["left the champions {N} points adrift", "silenced the home crowd", "sent the fans into raptures"],
        "claims": ["the team had lost its confidence", "the title race was far from over", "the referee had made the wrong call"],
        "impacts": ["cost them the title", "reshape the race for Champions League places", "force changes in January"],
        "units": ["points", "goals", "matches"],
        "quotes": [
            "We have to stick together now and find a way out of this difficult moment",
            "It is a long season and nothing is decided in November",
            "The players gave everything and I am proud of their reaction",
        ],
    },
    "oil": {
        "people": [("Saudi Energy Minister Prince Abdulaziz bin Salman", "Prince Abdulaziz"), ("OPEC Secretary General Haitham al-Ghais", "al-Ghais"),
                   ("Russian Deputy Prime Minister Alexander Novak", "Novak"), ("IEA chief Fatih Birol", "Birol")],
        "orgs": ["OPEC+", "the International Energy Agency", "traders", "Brent crude futures", "US shale producers", "refiners"],
        "places": ["Riyadh", "Vienna", "London", "Houston", "Singapore"],
        "verbs": ["extended", "delayed", "signalled", "cut", "raised", "lowered", "weighed", "postponed"],
        "objects": ["output cuts", "its demand forecast", "the planned production increase", "inventories",
                    "exports from the Gulf", "the price outlook", "spare capacity", "voluntary reductions", "Chinese demand"],
        "events": ["the group's online meeting", "a surprise drawdown in US stocks", "a drone attack on a refinery",
                   "weak Chinese factory data"],
        "results": ["lifted Brent crude by {N} cents", "pushed prices to a two-week low", "left the market oversupplied"],
        "claims": ["the market was well balanced", "demand growth was slowing", "the group would act if needed"],
        "impacts": ["tighten supplies next year", "weigh on prices", "strain the group's unity"],
        "units": ["barrels", "cents", "tankers"],
        "quotes": [
            "We will remain proactive and pre-emptive to ensure market stability",
            "The world is heading for a comfortable supply cushion next year",
        ],
    },
    "health": {
        "people": [("WHO Director-General Tedros Adhanom Ghebreyesus", "Tedros"), ("US Health Secretary Xavier Becerra", "Becerra"),
                   ("CDC Director Mandy Cohen", "Cohen"), ("Africa CDC head Jean Kaseya", "Kaseya")],
        "orgs": ["the World Health Organization", "health authorities", "the CDC", "vaccine makers", "hospitals", "Africa CDC"],
        "places": ["Geneva", "Kinshasa", "Atlanta", "Kigali", "Kampala"],
        "verbs": ["confirmed", "reported", "approved", "shipped", "warned about", "tracked", "launched", "expanded"],
        "objects": ["new mpox cases", "a vaccination campaign", "emergency funding", "testing capacity", "the outbreak response",
                    "bird flu infections in dairy herds", "a new booster shot", "travel restrictions", "contact tracing"],
        "events": ["a new outbreak", "the first confirmed case", "a spike in hospital admissions", "an emergency committee meeting"],
        "results": ["infected at least {N} people", "strained local hospitals", "prompted school closures"],
        "claims": ["the risk to the public remained low", "more vaccines were urgently needed", "the outbreak could be contained"],
        "impacts": ["spread to neighbouring countries", "overwhelm health systems", "delay routine immunisation"],
        "units": ["cases", "doses", "deaths"],
        "quotes": [
            "The risk to the general public remains low, but we are watching this very closely",
            "We need vaccines to reach the people who need them most, and quickly",
        ],
    },
}

GENERIC = {
    "days": ["on Monday", "on Tuesday", "on Wednesday", "on Thursday", "on Friday", "on Saturday", "on Sunday",
             "late on Friday", "earlier this week", "last week", "overnight", "on Monday evening"],
    "attrib": ["officials said", "a spokesperson said", "according to a statement", "state media reported",
               "two sources familiar with the matter said", "the ministry said in a statement", "local authorities said",
               "a senior official told reporters", "according to people briefed on the plans", "the agency said"],
    "setting": ["in a statement", "at a news conference", "in an interview", "on social media", "in a televised address",
                "to reporters", "at a briefing"],
    "timerel": ["days after", "a week after", "shortly after", "hours after", "amid"],
    "conn": ["Meanwhile, ", "Separately, ", "Earlier, ", "In a statement, ", "Later, ", "", "", ""],
    "desc": ["a major escalation", "a turning point", "unacceptable", "long overdue", "a dangerous step", "premature",
             "a positive signal", "deeply concerning"],
    "outlets": ["The New York Times", "The Wall Street Journal", "Bloomberg", "Politico", "the Financial Times", "Axios"],
}

TEMPLATES = [
    "{S} {V} {X} {DAY}, {ATTRIB}.",
    "{S} {V} {X} {DAY}.",
    "{CONN}{S} {V} {X} in {L}.",
    "{E_CAP} in {L} {DAY} {RESULT}, {ATTRIB}.",
    "\"{Q},\" {PS} said {SETTING}.",
    "{PS} said {S2} had {V} {X}.",
    "The move comes {TIMEREL} {E} in {L}.",
    "{S_CAP} did not immediately respond to a request for comment.",
    "It was not immediately clear whether {S} had {V} {X}.",
    "{S} has repeatedly {V} {X}, saying {CLAIM}.",
    "Analysts say {X} could {IMPACT}.",
    "{S} {V} {X} after {E}, {ATTRIB}.",
    "At least {N} {UNIT} were reported {DAY}, {ATTRIB}.",
    "{PS} is expected to address {X} {DAY}.",
    "{S} and {S2} discussed {X} {DAY}, {ATTRIB}.",
    "In {L}, {S} {V} {X}.",
    "{S} warned that {X} could {IMPACT}.",
    "{S} described {X} as {DESC}.",
    "{X_CAP} was first reported by {OUTLET}.",
    "{PS} said {CLAIM}, and {ATTRIB2} that {X} could {IMPACT}.",
    "{E_CAP} {RESULT}, {ATTRIB}, {TIMEREL} {S} {V} {X}.",
    "Speaking in {L}, {PS} said {CLAIM}.",
]


TAILS = [
    " as {S3} {V3} {X3}",
    ", {TIMEREL3} {E3} in {L3}",
    " despite concerns about {X3}",
    ", in a sign of growing pressure over {X3}",
    ", {ATTRIB3}",
    " following {E3}",
    " while {S3} pressed for {X3}",
]


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


class _Writer:
    """Writes one story's sentences on a topic; full names on first mention, surnames after."""

    def __init__(self, rng: random.Random, topic: str, quotes: Optional[list[str]] = None) -> None:
        self.rng = rng
        self.t = TOPICS[topic]
        self.mentioned: set[str] = set()
        self.quotes = list(quotes) if quotes else []

    def person(self) -> str:
        full, short = self.rng.choice(self.t["people"])
        if full in self.mentioned:
            return short
        self.mentioned.add(full)
        return full

    def subject(self) -> str:
        return self.person() if self.rng.random() < 0.55 else self.rng.choice(self.t["orgs"])

    def quote(self) -> str:
        if self.quotes and self.rng.random() < 0.7:
            return self.quotes.pop(0)
        return self.rng.choice(self.t["quotes"])

    def sentence(self) -> str:
        r, t, g = self.rng, self.t, GENERIC
        tpl = r.choice(TEMPLATES)
        if tpl.endswith(".") and not tpl.endswith("comment.") and r.random() < 0.5:
            tpl = tpl[:-1] + r.choice(TAILS) + "."
        fill = {}
        for slot in re.findall(r"\{(\w+)\}", tpl):
            if slot in fill:
                continue
            base = slot.rstrip("0123456789") if slot != "ATTRIB2" else slot
            if base in ("S", "S2"):
                v = self.subject()
            elif base == "S_CAP":
                v = _cap(self.subject())
            elif base == "PS":
                v = self.person()
            elif base == "V":
                v = r.choice(t["verbs"])
            elif base in ("X", "X_CAP"):
                v = r.choice(t["objects"])
                v = _cap(v) if base == "X_CAP" else v
            elif base in ("E", "E_CAP"):
                v = r.choice(t["events"])
                v = _cap(v) if base == "E_CAP" else v
            elif base == "L":
                v = r.choice(t["places"])
            elif base == "RESULT":
                v = r.choice(t["results"]).replace("{N}", str(r.randint(2, 400)))
            elif base == "CLAIM":
                v = r.choice(t["claims"])
            elif base == "IMPACT":
                v = r.choice(t["impacts"])
            elif base == "UNIT":
                v = r.choice(t["units"])
            elif base == "N":
                v = str(r.randint(3, 900))
            elif base == "Q":
                v = self.quote()
            elif base == "DAY":
                v = r.choice(g["days"])
            elif base in ("ATTRIB", "ATTRIB2"):
                v = r.choice(g["attrib"])
                if base == "ATTRIB2":
                    v = v.replace(" said", " warned").replace(" reported", " warned").replace("according to", "warned")
            elif base == "SETTING":
                v = r.choice(g["setting"])
            elif base == "TIMEREL":
                v = r.choice(g["timerel"])
            elif base == "CONN":
                v = r.choice(g["conn"])
            elif base == "DESC":
                v = r.choice(g["desc"])
            elif base == "OUTLET":
                v = r.choice(g["outlets"])
            else:  # pragma: no cover - template typo
                raise KeyError(slot)
            fill[slot] = v
        out = tpl
        for k, v in fill.items():
            out = out.replace("{" + k + "}", v)
        return _cap(out)

    def paragraphs(self, n: int) -> list[str]:
        """Wire paragraphs: one to three sentences, ~30 words on average like AP/Reuters/AFP copy."""
        paras = []
        for _ in range(n):
            k = self.rng.choices([1, 2, 3], weights=[35, 55, 10])[0]
            paras.append(" ".join(self.sentence() for _ in range(k)))
        return paras


# Template families: the same agency template filled with other numbers, names and dates.
FED_TEMPLATE = [
    "The Federal Reserve {action} its benchmark interest rate by {size} on {day}, bringing it to a range of {lo}% to {hi}%, as policymakers weighed {focus}.",
    "The decision, approved by a vote of {votes}, was widely expected by financial markets after {data}.",
    "In a statement released after its two-day meeting, the Fed said inflation had {infl_move} toward its 2% goal, while the unemployment rate stood at {unemp}%.",
    "Officials' new projections showed they expect {ncuts} more quarter-point cuts in {year}, {vs} than they had forecast in {prev_month}.",
    "\"{quote},\" Chair Jerome Powell said at a news conference after the decision.",
    "The Fed's preferred inflation gauge rose {pce}% in {data_month} from a year earlier, according to the Commerce Department.",
    "Mortgage rates, which are influenced by the Fed's moves but also by bond yields, averaged {mort}% last week, according to Freddie Mac.",
]
MARKETS_TEMPLATE = [
    "Wall Street stocks {moved} on {day} as investors {reaction} {catalyst}.",
    "The S&P 500 {dir} {sp}% to {sp_level}, the Dow Jones Industrial Average {dir2} {dow_pts} points, or {dow}%, to {dow_level}, and the Nasdaq Composite {dir3} {nq}% to {nq_level}.",
    "The yield on the 10-year Treasury note {ymove} to {y10}% from {y10_prev}% late {prev_day}.",
    "Shares of {company} {cmove} {cpct}% after the company {cnews}.",
    "Brent crude {omove} {opct}% to ${oil} a barrel, while gold {gmove} to ${gold} an ounce.",
    "In Asia, Japan's Nikkei 225 {nkmove} {nk}% and Hong Kong's Hang Seng {hsmove} {hs}%.",
]
EARNINGS_TEMPLATE = [
    "{company} on {day} reported {quarter} net income of ${net} million, {beat} Wall Street expectations.",
    "The {city}-based company said it had profit of {eps} cents per share. Earnings, adjusted for one-time gains and costs, were {adj} cents per share.",
    "The results {exceed} the average estimate of {n_analysts} analysts surveyed by Zacks Investment Research, which was for earnings of {est} cents per share.",
    "The {industry} posted revenue of ${rev} million in the period, {rev_beat} Street forecasts. {n_an2} analysts surveyed by Zacks expected ${rev_est} million.",
    "For the current quarter, {company_short} expects revenue in the range of ${g_lo} million to ${g_hi} million.",
    "{company_short} shares have {ytd_move} {ytd}% since the beginning of the year, while the S&P's 500 index has increased {spx}%.",
]
COMPANIES = [("Globex Industrial Corp.", "Globex", "Chicago", "maker of industrial pumps"),
             ("Initech Software Inc.", "Initech", "Austin, Texas", "software company"),
             ("Umbrella Health Systems", "Umbrella", "Nashville, Tennessee", "hospital operator"),
             ("Stark Components Ltd.", "Stark", "San Jose, California", "chip equipment maker"),
             ("Wayne Logistics Co.", "Wayne", "Memphis, Tennessee", "freight company"),
             ("Acme Foods Inc.", "Acme", "Minneapolis", "packaged food maker"),
             ("Soylent Energy Corp.", "Soylent", "Houston", "oil and gas producer"),
             ("Cyberdyne Robotics Inc.", "Cyberdyne", "Pittsburgh", "robotics maker")]


def _fill_template(rng: random.Random, template: list[str], topic: str) -> list[str]:
    r = rng
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
    months = ["January", "March", "May", "June", "July", "September", "October", "December"]
    comp = r.choice(COMPANIES)
    vals = {
        "action": r.choice(["cut", "lowered", "reduced"]), "size": r.choice(["a quarter point", "half a percentage point", "25 basis points"]),
        "day": r.choice(days), "lo": f"{r.choice([3.5, 3.75, 4.0, 4.25, 4.5, 4.75]):.2f}", "hi": f"{r.choice([3.75, 4.0, 4.25, 4.5, 4.75, 5.0]):.2f}",
        "focus": r.choice(["signs of a cooling labour market", "stubborn price pressures", "the outlook for tariffs", "slowing consumer spending"]),
        "votes": r.choice(["11-1", "12-0", "10-2"]), "data": r.choice(["a soft jobs report", "a benign inflation reading", "weeks of signals from officials"]),
        "infl_move": r.choice(["made further progress", "moved sideways", "eased", "edged up"]), "unemp": f"{r.uniform(3.8, 4.6):.1f}",
        "ncuts": r.choice(["two", "three", "four"]), "year": r.choice(["2025", "2026"]), "vs": r.choice(["fewer", "more", "one fewer"]),
        "prev_month": r.choice(months), "quote": r.choice(TOPICS["fed"]["quotes"]), "pce": f"{r.uniform(2.0, 3.0):.1f}",
        "data_month": r.choice(months), "mort": f"{r.uniform(6.0, 7.3):.2f}",
        "moved": r.choice(["rose", "fell", "drifted higher", "slumped", "rallied"]), "reaction": r.choice(["cheered", "weighed", "digested", "shrugged off"]),
        "catalyst": r.choice(["fresh inflation data", "comments from Fed officials", "a batch of corporate earnings", "tariff headlines", "a drop in bond yields"]),
        "dir": r.choice(["rose", "fell", "gained", "slipped"]), "dir2": r.choice(["added", "lost", "gained", "shed"]), "dir3": r.choice(["rose", "fell", "climbed", "dropped"]),
        "sp": f"{r.uniform(0.1, 2.0):.1f}", "sp_level": f"{r.uniform(5600, 6100):,.2f}", "dow_pts": f"{r.uniform(20, 700):.2f}",
        "dow": f"{r.uniform(0.1, 1.8):.1f}", "dow_level": f"{r.uniform(41000, 45000):,.2f}", "nq": f"{r.uniform(0.1, 2.5):.1f}",
        "nq_level": f"{r.uniform(17500, 19900):,.2f}", "ymove": r.choice(["rose", "fell", "eased", "climbed"]),
        "y10": f"{r.uniform(3.9, 4.6):.2f}", "y10_prev": f"{r.uniform(3.9, 4.6):.2f}", "prev_day": r.choice(days),
        "company": comp[0], "company_short": comp[1], "city": comp[2], "industry": comp[3],
        "cmove": r.choice(["jumped", "sank", "rose", "fell"]), "cpct": f"{r.uniform(1, 15):.1f}",
        "cnews": r.choice(["raised its annual forecast", "missed sales estimates", "announced a buyback", "named a new chief executive"]),
        "omove": r.choice(["rose", "fell"]), "opct": f"{r.uniform(0.1, 3):.1f}", "oil": f"{r.uniform(68, 80):.2f}",
        "gmove": r.choice(["rose", "fell", "edged up"]), "gold": f"{r.uniform(2500, 2800):,.2f}",
        "nkmove": r.choice(["rose", "fell"]), "nk": f"{r.uniform(0.1, 2):.1f}", "hsmove": r.choice(["rose", "fell"]), "hs": f"{r.uniform(0.1, 2.5):.1f}",
        "quarter": r.choice(["first-quarter", "second-quarter", "third-quarter", "fiscal fourth-quarter"]),
        "net": f"{r.uniform(5, 900):.1f}", "beat": r.choice(["beating", "missing", "topping"]), "eps": str(r.randint(10, 350)),
        "adj": str(r.randint(10, 350)), "exceed": r.choice(["beat", "missed", "topped", "fell short of"]), "n_analysts": str(r.randint(3, 14)),
        "est": str(r.randint(10, 350)), "rev": f"{r.uniform(50, 5000):.1f}", "rev_beat": r.choice(["also beating", "falling short of", "topping"]),
        "n_an2": _cap(r.choice(["three", "four", "five", "six", "seven", "eight"])), "rev_est": f"{r.uniform(50, 5000):.1f}",
        "g_lo": str(r.randint(100, 2000)), "g_hi": str(r.randint(2000, 4000)), "ytd_move": r.choice(["increased", "decreased", "climbed"]),
        "ytd": str(r.randint(2, 60)), "spx": str(r.randint(5, 25)),
    }
    return [p.format(**vals) for p in template]


TEMPLATE_FAMILIES = {"fed": FED_TEMPLATE, "markets": MARKETS_TEMPLATE, "earnings": EARNINGS_TEMPLATE}


# ---------------------------------------------------------------------------
# Copy transformations
# ---------------------------------------------------------------------------

_SWAPS = {
    "said": "stated", "authorized": "authorised", "authorised": "authorized", "defense": "defence", "defence": "defense",
    "percent": "per cent", "Monday": "Monday's", "officials": "authorities", "missiles": "rockets", "also": "further",
    "major": "significant", "large": "big", "people": "persons", "United States": "US", "US": "United States",
    "told": "informed", "reported": "said", "expected": "anticipated", "warned": "cautioned", "about": "around",
}


def light_edit(paragraph: str, rng: random.Random) -> str:
    """One word changed: a synonym/spelling swap when one applies, else a word dropped."""
    words = paragraph.split(" ")
    swappable = [i for i, w in enumerate(words) if w.strip(".,\"'") in _SWAPS and i > 0]
    if swappable:
        i = rng.choice(swappable)
        core = words[i].strip(".,\"'")
        words[i] = words[i].replace(core, _SWAPS[core], 1)
        return " ".join(words)
    droppable = [i for i, w in enumerate(words) if i > 0 and w.isalpha() and w.islower() and len(w) > 2]
    if droppable:
        del words[rng.choice(droppable)]
    return " ".join(words)


def curly_quotes(text: str) -> str:
    out, open_ = [], True
    for ch in text:
        if ch == '"':
            out.append("\u201c" if open_ else "\u201d")
            open_ = not open_
        elif ch == "'":
            out.append("\u2019")
        else:
            out.append(ch)
    return "".join(out)


AGENCY_DATELINE = {
    "AP": "{PLACE} (AP) \u2014 ",
    "Reuters": "{Place}, Nov {d} (Reuters) - ",
    "AFP": "{Place} (AFP) - ",
}
OUTLETS = ["straitstimes", "france24", "barrons", "yahoonews", "thehindu", "alarabiya", "dailysabah", "abcnews",
           "usnews", "marketscreener", "japantoday", "kyivindependent", "euronews", "channelnewsasia"]
CAPTIONS = [
    "A man walks past a damaged building in the city centre. (AP Photo/Efrem Lukatsky)",
    "Officials speak to reporters on Sunday. (Reuters file photo)",
    "In this file photo, supporters gather outside the venue ahead of the announcement.",
    "People queue for water at a distribution point. (Photo by Sergei Supinsky / AFP)",
    "This handout photo released by the ministry shows the aftermath of the strike.",
]
FOOTERS = [
    "Read more: The latest news and analysis from our correspondents",
    "(Reporting by Idrees Ali and Phil Stewart; Editing by Don Durfee and Diane Craft)",
    "Copyright 2024 The Associated Press. All rights reserved.",
    "Follow us on Twitter and Facebook for the latest updates",
    "(Additional reporting by Tom Balmforth in London; Writing by Lidia Kelly; Editing by Christopher Cushing)",
]
ADDED_PARAS = [
    "The embassy in the capital said it was monitoring the situation closely and advised citizens to follow local news.",
    "Our correspondent said residents were anxious about what the decision would mean for the region in the coming weeks.",
    "Local business groups said they were studying the announcement and would issue a fuller response later in the week.",
]


def _render(paragraphs: list[str], rng: random.Random, *, dateline: Optional[str], wrap: bool) -> tuple[str, bool]:
    """Deliver paragraphs as a raw body: dateline, optional captions/byline/footers, quotes, HTML."""
    paras = list(paragraphs)
    if dateline and paras:
        paras[0] = dateline + paras[0]
    is_html = False
    if wrap:
        if rng.random() < 0.4:
            paras.insert(0, rng.choice(["By Jane Doe, Associated Press", "By Lidia Kelly and Tom Balmforth", "By SAMYA KULLAB"]))
        for _ in range(rng.choice([0, 1, 1, 2])):
            paras.insert(rng.randint(0, len(paras)), rng.choice(CAPTIONS))
        for _ in range(rng.choice([0, 1, 2])):
            paras.append(rng.choice(FOOTERS))
        if rng.random() < 0.5:
            paras = [curly_quotes(p) for p in paras]
        if rng.random() < 0.3:
            is_html = True
            parts = []
            for p in paras:
                if p in CAPTIONS and rng.random() < 0.5:
                    parts.append(f"<figure><img src=\"x.jpg\"><figcaption>{p}</figcaption></figure>")
                else:
                    parts.append(f"<p>{p.replace('&', '&amp;')}</p>")
            return "\n".join(parts), True
    return "\n".join(paras), is_html


def _dateline(agency: str, place: str, rng: random.Random) -> str:
    tpl = AGENCY_DATELINE.get(agency, "{PLACE} \u2014 ")
    return tpl.replace("{PLACE}", place.upper()).replace("{Place}", place.title()).replace("{d}", str(rng.randint(1, 28)))


def _words(paras: list[str]) -> int:
    return sum(len(p.split()) for p in paras)


# ---------------------------------------------------------------------------
# The feed
# ---------------------------------------------------------------------------


@dataclass
class _Story:
    story_id: str
    agency: str
    topic: str
    place: str
    versions: list[tuple[int, list[str]]]  # (version, paragraphs) in order
    created: datetime
    kind: str


def _us(t: datetime) -> int:
    return int(t.timestamp() * 1_000_000)


def build_feed(seed: int = 7, n_originals: int = 400, copies_per_original: float = 2.5) -> list[FeedItem]:
    """Story versions in arrival order; see the module docstring for what the feed holds."""
    rng = random.Random(seed)
    agencies = ["AP", "Reuters", "AFP"]
    stories: list[_Story] = []
    counter = [0]

    def new_id(agency: str) -> str:
        counter[0] += 1
        return f"urn:{agency.lower()}:story:{seed}-{counter[0]:05d}"

    span = timedelta(days=3)

    def when() -> datetime:
        return EPOCH + timedelta(seconds=rng.randint(0, int(span.total_seconds())))

    # hand-written stories
    for name, (agency, topic, place, paras) in HAND_WRITTEN.items():
        paras = seed_paragraphs() if paras is None else list(paras)
        stories.append(_Story(new_id(agency), agency, topic, place, [(1, paras)], EPOCH + timedelta(hours=rng.randint(1, 20)),
                              "followup" if name == "reuters-kremlin" else "original"))

    topics = list(TOPICS)
    while len(stories) < n_originals:
        roll = rng.random()
        if roll < 0.12:  # template family member
            fam = rng.choice(list(TEMPLATE_FAMILIES))
            topic = {"fed": "fed", "markets": "fed", "earnings": "tech"}[fam]
            w = _Writer(rng, topic)
            paras = _fill_template(rng, TEMPLATE_FAMILIES[fam], topic) + w.paragraphs(rng.randint(0, 4))
            stories.append(_Story(new_id("AP"), "AP", topic, "NEW YORK", [(1, paras)], when(), "template"))
            continue
        if roll < 0.22 and stories:  # follow-up reusing background paragraphs of an earlier story by the agency
            base = rng.choice([s for s in stories if len(s.versions[0][1]) >= 6])
            bg = base.versions[0][1]
            reuse = rng.sample(range(1, len(bg)), k=min(len(bg) - 1, rng.randint(2, 4)))
            w = _Writer(rng, base.topic)
            paras = w.paragraphs(rng.randint(5, 10))
            for i in sorted(reuse):
                paras.insert(rng.randint(2, len(paras)), bg[i])
            stories.append(_Story(new_id(base.agency), base.agency, base.topic, base.place, [(1, paras)],
                                  base.created + timedelta(hours=rng.randint(3, 30)), "followup"))
            continue
        topic = rng.choice(topics)
        place = rng.choice(TOPICS[topic]["places"]).replace("the ", "")
        created = when()
        if roll < 0.42:  # the same event by two or three agencies: shared quotes, own wording
            quotes = rng.sample(TOPICS[topic]["quotes"], k=min(3, len(TOPICS[topic]["quotes"])))
            for agency in rng.sample(agencies, k=rng.choice([2, 3])):
                w = _Writer(rng, topic, quotes)
                n = rng.randint(5, 16)
                stories.append(_Story(new_id(agency), agency, topic, place, [(1, w.paragraphs(n))],
                                      created + timedelta(minutes=rng.randint(0, 90)), "original"))
            continue
        agency = rng.choice(agencies)
        w = _Writer(rng, topic)
        n = rng.choice([2, 3]) if rng.random() < 0.1 else rng.randint(4, 18)  # some short briefs
        stories.append(_Story(new_id(agency), agency, topic, place, [(1, w.paragraphs(n))], created, "original"))

    # new versions
    for s in stories:
        r = rng.random()
        paras = s.versions[0][1]
        if r < 0.08:  # flash first, full text as v2
            s.versions = [(1, [rng.choice(["Developing story.", "This is a developing story. Check back for updates.", "More to follow."])]),
                          (2, paras)]
        elif r < 0.2:  # correction: one word
            s.versions.append((2, [light_edit(p, rng) if i == 1 else p for i, p in enumerate(paras)]))
        elif r < 0.3 and len(paras) >= 4:  # update: a new lede on top
            w = _Writer(rng, s.topic)
            s.versions.append((2, w.paragraphs(rng.randint(1, 2)) + paras))

    items: list[FeedItem] = []
    late_originals = set(rng.sample(range(len(stories)), k=len(stories) // 20))
    for idx, s in enumerate(stories):
        base_us = _us(s.created)
        for vi, (version, paras) in enumerate(s.versions):
            created_us = base_us
            arrival = base_us + vi * rng.randint(600, 7200) * 1_000_000 + rng.randint(0, 120) * 1_000_000
            if idx in late_originals:
                arrival += 12 * 3600 * 1_000_000
            body, is_html = _render(paras, rng, dateline=_dateline(s.agency, s.place, rng), wrap=False)
            items.append(FeedItem(s.story_id, version, s.agency, created_us, arrival, body, is_html,
                                  s.story_id, s.kind if vi == 0 else "version", 1.0, s.topic))
        # syndicated copies of the latest (or first) full version
        full = s.versions[-1][1]
        n_copies = min(8, int(rng.expovariate(1.0 / copies_per_original)))
        if _words(full) < 20:
            n_copies = 0
        for _ in range(n_copies):
            total = _words(full)
            allowed = {"exact": 32, "light_edit": 15, "added_para": 8}
            if len(full) >= 3 and _words(full[:-1]) >= 0.8 * total:
                allowed.update(drop_last=16, edit_drop=9)
            if len(full) >= 4 and _words(full[:-2]) >= 0.8 * total:
                allowed["drop_two"] = 12
            if len(full) >= 4:
                allowed["heavy_cut"] = 8
            kind = rng.choices(list(allowed), weights=list(allowed.values()))[0]
            paras = list(full)
            if kind in ("drop_last", "edit_drop"):
                paras = paras[:-1]
            elif kind == "drop_two":
                paras = paras[:-2]
            elif kind == "heavy_cut":
                keep = rng.uniform(0.45, 0.7)
                acc, cut = 0, []
                for p in paras:
                    if acc >= keep * total:
                        break
                    cut.append(p)
                    acc += len(p.split())
                paras = cut
            kept = _words(paras) / total
            if kind in ("light_edit", "edit_drop"):
                paras = [light_edit(p, rng) for p in paras]
            if kind == "added_para":
                paras.append(rng.choice(ADDED_PARAS))
            outlet = rng.choice(OUTLETS)
            sid = f"urn:{outlet}:article:{seed}-{rng.randrange(16**8):08x}"
            created = _us(s.created) + rng.randint(5 * 60, 8 * 3600) * 1_000_000
            dl = _dateline(s.agency, s.place, rng) if rng.random() < 0.7 else None
            body, is_html = _render(paras, rng, dateline=dl, wrap=True)
            items.append(FeedItem(sid, 1, outlet, created if rng.random() > 0.03 else None,
                                  created + rng.randint(0, 120) * 1_000_000, body, is_html, s.story_id, kind, kept, s.topic))
    # redeliveries of versions already sent
    for it in rng.sample(items, k=len(items) // 25):
        items.append(FeedItem(it.story_id, it.version, it.outlet, it.first_created_us,
                              it.arrival_us + rng.randint(60, 6 * 3600) * 1_000_000, it.body, it.is_html,
                              it.true_cluster, "redelivery", it.kept_fraction, it.topic))
    items.sort(key=lambda it: (it.arrival_us, it.story_id, it.version))
    return items
