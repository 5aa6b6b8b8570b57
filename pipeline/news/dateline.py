"""The opening dateline of a wire story: where (and by whom) it was filed, split off the first paragraph.

Shapes read, each anchored at the paragraph start and ending in a dash (or a colon):

* ``SYDNEY, Nov 17 (Reuters) -``, ``WASHINGTON (AP) --``, ``London (dpa) -``: place, optional date, agency;
* ``Jan 30 (Reuters) -``, ``Jan 3 (OPTA) -``: date and agency, no place;
* ``(ANSA) - Rome, October 11 -``: agency first, then place and date;
* ``KYIV, Ukraine —``: an ALL-CAPS place (AP style) and a spaced long dash;
* ``Washington:``: a place and a colon.

Agencies are a known list (not any word in brackets), so "Apple (AAPL) - shares rose" keeps its
opening. Pure: standard library only.
"""
from __future__ import annotations

import re

__all__ = ["WIRE_AGENCIES", "split_dateline"]

#: Agencies and data services whose name appears in brackets in a dateline (matched case-insensitively).
WIRE_AGENCIES = (
    "AP", "Reuters", "AFP", "UPI", "dpa", "Xinhua", "Bloomberg", "EFE", "ANSA", "Kyodo", "Yonhap", "PTI",
    "IANS", "ANI", "OPTA", "AAP", "APA", "Belga", "ANP", "CTK", "PAP", "MTI", "Lusa", "STT", "NTB", "TT",
    "Ritzau", "SDA", "Keystone-SDA", "KNA", "epd", "dts", "AFX", "IFR", "Reuters Breakingviews", "CP",
    "Canadian Press", "PA", "Press Association", "Agencia Brasil", "TASS", "Interfax", "Ukrinform",
    "Anadolu", "Bernama", "Antara", "Kyodo News", "NHK", "KCNA", "WAFA", "MENA", "SPA", "IRNA",
)
_SPACED = "|".join(sorted((re.escape(a).replace(r"\ ", r"\s+") for a in WIRE_AGENCIES), key=len, reverse=True))
_AGENCY = r"\(\s*(?i:" + _SPACED + r")\s*\)"

_DATELINE_STOP = frozenset(
    """note notes update updated editor editors correction corrections warning clarification
    advisory breaking exclusive analysis opinion watch read related source sources photo
    video live factbox explainer disclaimer summary background context important urgent
    alert flash bulletin q a by listen subscribe share""".split()
)
_MONTHS = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_DATE = _MONTHS + r"\s+\d{1,2}"
_PLACE_WORD = r"[A-Z][\w.'’\-]*"
_PLACE = _PLACE_WORD + r"(?:\s+(?:" + _PLACE_WORD + r"|de|da|del|do|dos|la|le|el|al|of|es|sur|am))*"
_UPPER_WORD = r"[A-Z][A-Z.'’\-]+"
_UPPER_PLACE = _UPPER_WORD + r"(?:\s+(?:" + _UPPER_WORD + r"|DE|DA|DEL|LA|LE|EL|AL|OF))*"
_DASH = r"(?:—|–|--|-)"

# "SYDNEY, Nov 17 (Reuters) - ", "WASHINGTON (AP) — ", "London (dpa) - "
_DL_WIRE = re.compile(
    r"^(?P<place>" + _PLACE + r"(?:,\s*" + _PLACE + r")?)"
    r"(?:,\s*" + _DATE + r")?"
    r"\s*" + _AGENCY + r"\s*" + _DASH + r"\s*"
)
# "Jan 30 (Reuters) - ": no place
_DL_DATE_AGENCY = re.compile(r"^" + _DATE + r"\s*" + _AGENCY + r"\s*" + _DASH + r"\s*")
# "(ANSA) - Rome, October 11 - "
_DL_AGENCY_FIRST = re.compile(
    r"^" + _AGENCY + r"\s*" + _DASH + r"\s*(?P<place>" + _PLACE + r")(?:,\s*" + _DATE + r")?\s*" + _DASH + r"\s+"
)
# "KYIV, Ukraine — ", "WASHINGTON — ": only an ALL-CAPS place (AP style) with a spaced
# long dash, so that "Biden — who ... —" is never taken for a dateline.
_DL_DASH = re.compile(
    r"^(?P<place>" + _UPPER_PLACE + r"(?:,\s*" + _PLACE + r")?)"
    r"(?:,\s*" + _DATE + r")?"
    r"\s+(?:—|–|--)\s+"
)
# "Washington: ", "New Delhi: "
_DL_COLON = re.compile(r"^(?P<place>" + _PLACE + r"(?:,\s*" + _PLACE + r")?)\s*:\s+")


def _place_ok(place: str) -> bool:
    words = place.replace(",", " ").split()
    if not 1 <= len(words) <= 4:
        return False
    first = re.sub(r"['’]s$", "", words[0].lower()).strip(".'’")
    return first not in _DATELINE_STOP


def split_dateline(paragraph: str) -> tuple[str | None, str]:
    """Split a leading dateline off a paragraph: returns (place, rest).

    A dateline without a place ("Jan 30 (Reuters) - ") returns (None, rest) with the opening gone;
    when no dateline is recognised, (None, paragraph) unchanged.
    """
    m = _DL_DATE_AGENCY.match(paragraph)
    if m and paragraph[m.end():].strip():
        return None, paragraph[m.end():].strip()
    for rx in (_DL_WIRE, _DL_AGENCY_FIRST, _DL_DASH, _DL_COLON):
        m = rx.match(paragraph)
        if not m:
            continue
        place = m.group("place").strip()
        rest = paragraph[m.end():].strip()
        if not _place_ok(place) or not rest:
            continue
        return place, rest
    return None, paragraph
