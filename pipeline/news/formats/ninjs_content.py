"""Which headline and which body of a ninjs item the job keeps.

ninjs lets one item carry its text several times: ``body_text`` / ``body_html`` / ``body_xhtml``
(1.x), a ``bodies`` array of typed renditions (2.x, 3.x), the ``body`` / ``headline`` arrays of
the IPTC 2.0 examples (``[{"name": "xhtml", "value": ...}]``) and NITF documents. Providers fill
them unevenly: a plain rendition may lack the lead paragraph or flatten four paragraphs into one,
while the HTML or NITF rendition keeps them. So the richest faithful body wins: a marked-up one
(HTML, XHTML or NITF's ``body.content``) unless it holds clearly fewer words than the plain one.
Every field is still type-checked, whichever wins.
"""
from __future__ import annotations

from typing import Any, Optional

import lxml.html
from lxml import etree

from .fields import (
    clean_text, entry_dict, is_main_role, opt_list, opt_string, opt_string_named, prepared_html, wrong_type,
)
from .nitf import NITF_CONTENT_TYPES, nitf_body_html

__all__ = ["RICH_BODY_MIN_WORD_SHARE", "ninjs_body", "ninjs_headline"]

#: A marked-up body wins over the plain one unless it has fewer than this share of the plain words.
RICH_BODY_MIN_WORD_SHARE = 0.8

_PLAIN, _HTML, _NITF = "plain", "html", "nitf"
#: ``body[].name`` / ``bodies[].role`` words that say what a rendition is when no content type does.
_NAMED_KINDS = {"text": _PLAIN, "plain": _PLAIN, "html": _HTML, "xhtml": _HTML, "html5": _HTML, "nitf": _NITF}
#: Description roles that hold the story's own lead text (used only when there is no body at all).
_LEAD_ROLES = frozenset({"text", "lead", "summary", "description", "main"})


def ninjs_headline(obj: dict) -> Optional[str]:
    """``headline`` (a string, or the 2.0 examples' array), else ``headlines[]``: role main first."""
    raw = obj.get("headline")
    if isinstance(raw, list):
        headline = _pick_entry(raw, "headline", ("text", "value"))
    else:
        headline = opt_string(obj, "headline")
    listed = _pick_entry(opt_list(obj, "headlines"), "headlines", ("value", "text"))
    return headline or listed


def ninjs_body(obj: dict) -> tuple[Optional[str], bool]:
    """(body_raw, body_is_html): the richest faithful body; without any body, the item's lead text."""
    plain: list[tuple[bool, str]] = []
    rich: list[tuple[bool, str]] = []
    for kind, value, main in _body_candidates(obj):
        if kind == _PLAIN:
            prepared = clean_text(value)
            target = plain
        else:
            prepared = prepared_html(nitf_body_html(value) or "" if kind == _NITF else value)
            target = rich
        if prepared is not None:
            target.append((main, prepared))
    best_plain, best_rich = _best(plain), _best(rich)
    if best_rich is not None and (
        best_plain is None or _html_words(best_rich) >= RICH_BODY_MIN_WORD_SHARE * len(best_plain.split())
    ):
        return best_rich, True
    if best_plain is not None:
        return best_plain, False
    return _lead_text(obj)


def _best(found: list[tuple[bool, str]]) -> Optional[str]:
    """The first role-main candidate, else the first one."""
    for main, value in found:
        if main:
            return value
    return found[0][1] if found else None


def _html_words(html: str) -> int:
    try:
        return len(lxml.html.fromstring(html).text_content().split())
    except (etree.LxmlError, ValueError):
        return 0


def _pick_entry(entries: list, field: str, text_keys: tuple[str, ...]) -> Optional[str]:
    first: Optional[str] = None
    for i, entry in enumerate(entries):
        entry = entry_dict(entry, f"{field}[{i}]")
        texts = [opt_string_named(entry, key, f"{field}[{i}].{key}") for key in text_keys]
        role = opt_string_named(entry, "role", f"{field}[{i}].role") or opt_string_named(
            entry, "name", f"{field}[{i}].name"
        )
        text = next((t for t in texts if t is not None), None)
        if text is None:
            continue
        if is_main_role(role):
            return text
        first = first or text
    return first


def _body_candidates(obj: dict) -> list[tuple[str, str, bool]]:
    """(kind, raw value, role is main) for every body rendition, in the order providers rank them."""
    out: list[tuple[str, str, bool]] = []
    for key, kind in (("body_text", _PLAIN), ("body_html", _HTML), ("body_xhtml", _HTML), ("body_xml", _NITF)):
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise wrong_type(key, "string", value)
        if value:
            out.append((kind, value, False))
    for field in ("bodies", "body"):
        raw = obj.get(field)
        if field == "body" and not isinstance(raw, list):
            continue  # only the 2.0 examples' array form is a ninjs body
        for i, entry in enumerate(opt_list(obj, field)):
            entry = entry_dict(entry, f"{field}[{i}]")
            value = entry.get("value")
            if value is not None and not isinstance(value, str):
                raise wrong_type(f"{field}[{i}].value", "string", value)
            ctype = opt_string_named(entry, "contenttype", f"{field}[{i}].contenttype")
            ctype_camel = opt_string_named(entry, "contentType", f"{field}[{i}].contentType")
            role = opt_string_named(entry, "role", f"{field}[{i}].role")
            name = opt_string_named(entry, "name", f"{field}[{i}].name")
            kind = _rendition_kind(ctype or ctype_camel, role or name)
            if value and kind is not None:
                out.append((kind, value, is_main_role(role)))
    return out


def _rendition_kind(content_type: Optional[str], label: Optional[str]) -> Optional[str]:
    """plain / html / nitf from a content type (``text/html``, ``body_xhtml``), else from a name or role.

    A missing content type is plain text (ninjs 2.x requires one anyway); other types (markdown,
    provider XML such as TT's ``application/xml`` NITF dialect) are not read.
    """
    if content_type:
        mime = content_type.split(";", 1)[0].strip().lower()
        if mime == "text/plain":
            return _PLAIN
        if mime in NITF_CONTENT_TYPES:
            return _NITF
        if "html" in mime:
            return _HTML
        return None
    if label and label.strip().lower() in _NAMED_KINDS:
        return _NAMED_KINDS[label.strip().lower()]
    return _PLAIN


def _lead_text(obj: dict) -> tuple[Optional[str], bool]:
    """An item without any body (NTB sends its lead only as ``descriptions[]``): the lead as the body."""
    text = opt_string(obj, "description_text")
    if text is not None:
        return text, False
    html = obj.get("description_html")
    prepared = prepared_html(html) if isinstance(html, str) else None
    if prepared is not None:
        return prepared, True
    for i, entry in enumerate(opt_list(obj, "descriptions")):
        entry: Any = entry_dict(entry, f"descriptions[{i}]")
        value = opt_string_named(entry, "value", f"descriptions[{i}].value")
        role = (opt_string_named(entry, "role", f"descriptions[{i}].role") or "text").lower()
        ctype = opt_string_named(entry, "contenttype", f"descriptions[{i}].contenttype") or opt_string_named(
            entry, "contentType", f"descriptions[{i}].contentType"
        )
        if value is None or role not in _LEAD_ROLES:
            continue
        kind = _rendition_kind(ctype, None)
        if kind == _HTML:
            return prepared_html(value), True
        if kind == _PLAIN:
            return value, False
    return None, False
