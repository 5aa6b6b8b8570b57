"""Named entities of one story: raw model spans -> body offsets -> canonical names -> summary.

Pure module: no spaCy, no Beam import. :mod:`pipeline.io.ner` produces :class:`Mention` lists per
paragraph; this module places them in the stored body, gives every mention a canonical name within
its document and counts them.

Canonicalisation rules (all within one document, in document order):

* the name is cleaned: whitespace collapsed, outer quotes/brackets trimmed, a trailing possessive
  ("'s", "’s", "s'"; not in names like "McDonald's") and a leading "the" dropped ("The Hague"/"The Gambia" and WORK_OF_ART keep it);
* PERSON names lose leading titles ("US President", "German Chancellor", "Secretary of State",
  "Mr.", "Sen.", "King", "Pope", ...) as long as a name remains, so a title-only mention stays;
* label repair: spaCy's small models often tag a bare surname ORG ("Biden prepares ...").
  A mention whose cleaned name is also tagged PERSON elsewhere in the document, and which is part of
  a longer PERSON name (model or provider person tag), becomes PERSON. Place labels (GPE, LOC) and
  NORP are never repaired: "Georgia" the country stays GPE next to a PERSON "Georgia Smith";
* a provider tag of the matching kind that contains the name (whole tokens) is its canonical name;
  provider tags are trusted, so this also applies before any full mention appears;
* otherwise a mention that is part of a longer, EARLIER mention of a compatible label (PERSON with
  PERSON, ORG with ORG, GPE with LOC, any other label with itself) takes the canonical name and
  label of the earliest such mention; a short mention seen before any full one keeps its own name.
  Three guards keep different entities apart: a generational suffix ("Donald Trump" is not
  "Donald Trump Jr."), a distinguishing place prefix ("Mexico" is not "New Mexico", "Sudan" is not
  "South Sudan") and generic institution words ("House" is not "White House").

A document's entity mentions are ``canonicalise(mentions, tags) + provider_entities(tags)``.
Counting (:func:`summarise`): ``count`` is the number of model mentions of an entity; entities known
only from provider tags are listed with count 0.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Optional, Sequence

from pipeline.news.model import ProviderTag

MODEL = "model"
PROVIDER = "provider"
PARAGRAPH_SEPARATOR = "\n\n"  # the stored body is the paragraphs joined by this

# Name-like OntoNotes labels; numeric ones (DATE, TIME, PERCENT, MONEY, QUANTITY, ORDINAL,
# CARDINAL) are not entities an analyst groups stories by.
KEPT_LABELS = frozenset(
    {"PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE"}
)
SUBJECT = "SUBJECT"
TAG_KIND_LABELS = {"person": "PERSON", "organisation": "ORG", "place": "GPE", "subject": SUBJECT}

# Labels that may stand for the same entity (a short mention maps to a full one only within a group).
_GROUP = {"PERSON": "person", "ORG": "org", "GPE": "place", "LOC": "place"}
_TAG_GROUP = {"person": "person", "organisation": "org", "place": "place"}
# Labels never repaired to PERSON: places named like people (Georgia, Washington, Jordan).
_STABLE_LABELS = frozenset({"GPE", "LOC", "NORP", "PERSON"})
_KEEPS_THE = frozenset({"WORK_OF_ART"})
_THE_NAMES = frozenset({"the hague", "the gambia"})

_TITLES = frozenset(
    """
    president president-elect vice-president premier chancellor minister secretary
    mr mrs ms mx dr prof professor sen senator gov governor rep representative congressman
    congresswoman lawmaker mp mep gen general lt col colonel maj capt captain sgt sergeant adm admiral
    cmdr commander marshal brig king queen prince princess emperor empress crown pope cardinal
    archbishop bishop patriarch rabbi imam ayatollah sheikh emir sultan sir dame lord rev reverend
    judge justice mayor speaker ambassador envoy spokesman spokeswoman spokesperson chairman
    chairwoman chair ceo cfo coo chief leader director commissioner attorney prosecutor
    """.split()
)
# Words that may precede or join a title ("US", "German", "former", "Secretary of State").
_QUALIFIERS = frozenset(
    """
    us u.s. usa uk u.k. un u.n. eu e.u. nato
    former then ex acting outgoing incoming interim late elect deputy vice first second top senior
    junior assistant associate executive supreme grand high royal foreign defence defense interior
    home finance economy economic trade health justice energy state national security homeland
    treasury commerce labor labour education transport environment agriculture culture military
    army navy air force opposition party majority minority republican democratic democrat gop
    conservative liberal socialist general prime federal regional provincial district county city
    of for the and & affairs house senate white
    """.split()
)
_DEMONYMS = frozenset(
    """
    afghan albanian algerian american angolan argentine argentinian armenian australian austrian
    azerbaijani bahraini bangladeshi belarusian belgian bolivian bosnian brazilian british bulgarian
    burmese cambodian cameroonian canadian chadian chilean chinese colombian congolese croatian cuban
    cypriot czech danish dutch ecuadorian egyptian emirati english eritrean estonian ethiopian
    european filipino finnish french georgian german ghanaian greek guatemalan haitian honduran
    hungarian icelandic indian indonesian iranian iraqi irish israeli italian ivorian jamaican
    japanese jordanian kazakh kenyan korean kosovar kuwaiti kyrgyz lao latvian lebanese liberian
    libyan lithuanian malaysian malian maltese mexican moldovan mongolian montenegrin moroccan
    mozambican namibian nepalese nicaraguan nigerian nigerien norwegian omani pakistani palestinian
    panamanian paraguayan peruvian polish portuguese qatari romanian russian rwandan salvadoran
    saudi scottish senegalese serbian singaporean slovak slovenian somali spanish sudanese swedish
    swiss syrian taiwanese tajik tanzanian thai tunisian turkish turkmen ugandan ukrainian uruguayan
    uzbek venezuelan vietnamese welsh yemeni zambian zimbabwean
    north south east west african asian arab latin
    """.split()
)
# Names whose "'s" is part of the name, not a possessive.
_APOSTROPHE_S_NAMES = frozenset(
    """
    mcdonald's moody's macy's sainsbury's lloyd's kellogg's wendy's domino's denny's christie's
    sotheby's hershey's kohl's dillard's lowe's harrah's
    """.split()
)
_GENERATIONAL = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"})
_PLACE_PREFIXES = frozenset(
    """
    north south east west northern southern eastern western new upper lower central equatorial
    """.split()
)
_GENERIC_ORG = frozenset(
    """
    house senate congress parliament assembly government army navy court council party department
    ministry times post committee
    """.split()
)

_OPEN = "\"“‘'«(["
_CLOSE = "\"”»)],;:"
_DASHES = str.maketrans({c: "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2212"})
_APOSTROPHES = str.maketrans({c: "'" for c in "\u2019\u2018\u02bc\u2032`"})
_POSSESSIVE = re.compile(r"(?:['\u2019\u02bc]s|(?<=s)['\u2019\u02bc])$")


@dataclass(frozen=True)
class Mention:
    """A raw model span. Offsets are into the text the model saw (a paragraph, or the body)."""

    text: str
    label: str
    start_char: int
    end_char: int


@dataclass(frozen=True)
class EntityMention:
    """A mention with its canonical name within the document.

    ``source`` is ``"model"`` (offsets into the stored body) or ``"provider"`` (a provider tag;
    offsets are None). ``text`` is the span as written, ``canonical`` the name it is counted under.
    """

    text: str
    label: str
    canonical: str
    start_char: Optional[int]
    end_char: Optional[int]
    source: str


# --------------------------------------------------------------------------- offsets


def mentions_in_body(
    paragraphs: Sequence[str], per_paragraph_mentions: Sequence[Sequence[Mention]]
) -> list[Mention]:
    """Shift per-paragraph offsets to offsets into ``"\\n\\n".join(paragraphs)`` (the stored body).

    NER runs per paragraph so that batches are small and a sentence never spans two paragraphs.
    """
    if len(paragraphs) != len(per_paragraph_mentions):
        raise ValueError(f"{len(paragraphs)} paragraphs but {len(per_paragraph_mentions)} mention lists")
    out: list[Mention] = []
    base = 0
    for paragraph, mentions in zip(paragraphs, per_paragraph_mentions):
        for m in mentions:
            out.append(Mention(m.text, m.label, m.start_char + base, m.end_char + base))
        base += len(paragraph) + len(PARAGRAPH_SEPARATOR)
    return out


# --------------------------------------------------------------------------- names


@lru_cache(maxsize=1 << 16)  # pure; names and tokens repeat across a feed
def _token_key(token: str) -> str:
    """Comparison form of one token: casefolded, unified dashes/apostrophes, no trailing comma."""
    return token.translate(_DASHES).translate(_APOSTROPHES).casefold().rstrip(",")


@lru_cache(maxsize=1 << 16)  # called several times per mention by canonicalise; names repeat
def _keys(name: str) -> tuple[str, ...]:
    return tuple(map(_token_key, name.split()))


@lru_cache(maxsize=1 << 16)
def clean_name(text: str, label: str) -> str:
    """Whitespace, outer quotes, trailing possessive and a leading "the" removed (any label)."""
    name = " ".join(text.split()).lstrip(_OPEN).rstrip(_CLOSE)
    stripped = _POSSESSIVE.sub("", name)
    if stripped.strip() and _token_key(name.split()[-1]) not in _APOSTROPHE_S_NAMES:
        name = stripped.rstrip()
    tokens = name.split()
    if (
        len(tokens) > 1
        and tokens[0].casefold() == "the"
        and label not in _KEEPS_THE
        and name.casefold() not in _THE_NAMES
    ):
        name = " ".join(tokens[1:])
    return name or " ".join(text.split())


def _is_possessive(token: str) -> bool:
    return bool(_POSSESSIVE.search(token.translate(_APOSTROPHES)))


@lru_cache(maxsize=1 << 16)
def _title_part(token: str) -> tuple[bool, bool]:
    """(may be part of a title prefix, is a title word) for one token; hyphen parts checked each."""
    if _is_possessive(token) and len(token) > 2:  # "Ukraine's President ..."
        return True, False
    parts = [p.rstrip(".") for p in _token_key(token).split("-") if p]
    if not parts:
        return False, False
    is_title = any(p in _TITLES for p in parts)
    eligible = all(p in _TITLES or p in _QUALIFIERS or p in _DEMONYMS for p in parts)
    return eligible, is_title and eligible


@lru_cache(maxsize=1 << 16)
def strip_titles(name: str) -> str:
    """Drop a leading title phrase ("US President", "Prime Minister", "Sen.") if a name remains.

    The longest leading run of title, qualifier, nationality and possessive words is removed when
    it contains a title word; "US Army" or a title-only mention ("President") is left alone.
    """
    tokens = name.split()
    prefix = 0
    has_title = False
    for i, token in enumerate(tokens):
        eligible, is_title = _title_part(token)
        if _token_key(token) == "lady" and i and _token_key(tokens[i - 1]) == "first":
            eligible = is_title = True  # "First Lady", but not "Lady Gaga"
        if not eligible:
            break
        prefix += 1
        has_title = has_title or is_title
    if not has_title or prefix >= len(tokens):
        return name
    return " ".join(tokens[prefix:])


def canonical_form(text: str, label: str) -> str:
    """The name a single mention would have on its own (before cross-mention mapping)."""
    name = clean_name(text, label)
    return strip_titles(name) if label == "PERSON" else name


# --------------------------------------------------------------------------- cross-mention mapping


def _contains(full: tuple[str, ...], short: tuple[str, ...]) -> bool:
    """True when ``short`` is a contiguous run of whole tokens inside a strictly longer ``full``."""
    n = len(short)
    if n == 0 or n >= len(full):
        return False
    return any(full[i : i + n] == short for i in range(len(full) - n + 1))


def _may_map(short: tuple[str, ...], full: tuple[str, ...], group: Optional[str]) -> bool:
    """``short`` is part of ``full`` and does not name a different entity (see module docstring)."""
    if not _contains(full, short):
        return False
    n = len(short)
    if group == "person" and full[:n] == short and all(t in _GENERATIONAL for t in full[n:]):
        return False  # "Donald Trump" vs "Donald Trump Jr."
    if group == "place" and full[-n:] == short and all(t in _PLACE_PREFIXES for t in full[:-n]):
        return False  # "Mexico" vs "New Mexico"
    if group == "org" and n == 1 and short[0] in _GENERIC_ORG:
        return False  # "House" vs "White House"
    return True


def _group(label: str) -> str:
    return _GROUP.get(label, label)


def provider_entities(tags: Iterable[ProviderTag]) -> list[EntityMention]:
    """Provider tags as entities (source ``provider``, no offsets); unknown tag kinds are skipped."""
    out = []
    for tag in tags:
        label = TAG_KIND_LABELS.get(tag.kind)
        name = " ".join(tag.name.split()) if tag.name else ""
        if label is None or not name:
            continue
        out.append(EntityMention(tag.name, label, name, None, None, PROVIDER))
    return out


def _repair_labels(
    person_forms: list[str],
    labels: list[str],
    person_fulls: list[tuple[str, ...]],
    tagged_people: list[tuple[str, ...]] = (),
) -> list[str]:
    """ORG/other -> PERSON for a name also tagged PERSON and part of a longer PERSON name, or part of
    a provider's person tag (trusted: "Carranza" tagged ORG next to the tag "Luis Carranza")."""
    tagged_person = {_keys(n) for n, lab in zip(person_forms, labels) if lab == "PERSON"}
    out = []
    for name, label in zip(person_forms, labels):
        keys = _keys(name)
        if label not in _STABLE_LABELS and (
            (keys in tagged_person and any(_may_map(keys, full, "person") for full in person_fulls))
            or any(keys == tag or _may_map(keys, tag, "person") for tag in tagged_people)
        ):
            label = "PERSON"
        out.append(label)
    return out


def _match_tag(
    keys: tuple[str, ...], group: str, anchors: list[tuple[str, str, str, tuple[str, ...]]]
) -> Optional[tuple[str, str]]:
    """(name, label) of the provider tag naming this mention: an equal name first, else the first
    tag (in tag order) that contains it. Anchors are (group, label, name, name keys)."""
    candidates = [(name, label, tag_keys) for tag_group, label, name, tag_keys in anchors if tag_group == group]
    for name, label, tag_keys in candidates:
        if tag_keys == keys:
            return name, label
    for name, label, tag_keys in candidates:
        if _may_map(keys, tag_keys, group):
            return name, label
    return None


def _sub_runs(keys: tuple[str, ...]) -> set[tuple[str, ...]]:
    """Every contiguous run of whole tokens strictly shorter than ``keys`` (what may map to it)."""
    n = len(keys)
    return {keys[s : s + length] for length in range(1, n) for s in range(n - length + 1)}


def canonicalise(
    mentions: Iterable[Mention], provider_tags: Iterable[ProviderTag] = ()
) -> list[EntityMention]:
    """Canonical names for one document's model mentions (source ``model``), in document order.

    Text and offsets are kept as given; the label may be repaired to PERSON or taken from the
    entity the mention maps to; mentions with a label outside KEPT_LABELS are dropped. Provider tags
    only anchor names here: add ``provider_entities(provider_tags)`` for the tags themselves. See
    the module docstring for the rules.
    """
    ordered = sorted((m for m in mentions if m.label in KEPT_LABELS), key=lambda m: (m.start_char, m.end_char))
    anchors = [
        (_TAG_GROUP[t.kind], TAG_KIND_LABELS[t.kind], name, _keys(name))
        for t in provider_tags
        if t.kind in _TAG_GROUP and t.name and t.name.strip()
        for name in (" ".join(t.name.split()),)
    ]

    cleaned = [clean_name(m.text, m.label) for m in ordered]
    person_forms = [strip_titles(n) for n in cleaned]
    person_fulls = [_keys(n) for n, m in zip(person_forms, ordered) if m.label == "PERSON"]
    tagged_people = [tag_keys for group, _label, _name, tag_keys in anchors if group == "person"]
    person_fulls += tagged_people
    labels = _repair_labels(person_forms, [m.label for m in ordered], person_fulls, tagged_people)
    names = [pf if lab == "PERSON" else n for n, pf, lab in zip(cleaned, person_forms, labels)]

    resolved: list[tuple[str, str]] = []  # (canonical, label) per ordered mention
    name_keys = [_keys(n) for n in names]
    # Per label group: each proper sub-run of an earlier mention's name -> those mentions, earliest
    # first, so a mention finds the full mentions it may map to without comparing against all of them.
    containing: dict[str, dict[tuple[str, ...], list[int]]] = {}
    for i, (name, label) in enumerate(zip(names, labels)):
        group = _group(label)
        keys = name_keys[i]
        runs = containing.setdefault(group, {})
        target = _match_tag(keys, group, anchors)
        if target is None:
            target = next(
                (resolved[j] for j in runs.get(keys, ()) if _may_map(keys, name_keys[j], group)),
                (name, label),
            )
        resolved.append(target)
        for run in _sub_runs(keys):
            runs.setdefault(run, []).append(i)

    return [
        EntityMention(m.text, label, canonical, m.start_char, m.end_char, MODEL)
        for m, (canonical, label) in zip(ordered, resolved)
    ]


# --------------------------------------------------------------------------- summary


def summarise(entity_mentions: Iterable[EntityMention]) -> list[dict]:
    """``[{"canonical", "label", "count"}]`` per entity, by count desc, then canonical, then label.

    ``count`` is the number of model mentions; an entity seen only in provider tags has count 0.
    """
    counts: dict[tuple[str, str], int] = {}
    for em in entity_mentions:
        key = (em.canonical, em.label)
        counts[key] = counts.get(key, 0) + (1 if em.source == MODEL else 0)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0][0], item[0][1]))
    return [{"canonical": c, "label": lab, "count": n} for (c, lab), n in ordered]
