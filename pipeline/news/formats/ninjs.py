"""IPTC ninjs 1.x, 2.x and 3.x JSON: field spellings of each generation mapped onto the shared rules."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..model import Article, DecodeError, ErrorCode, ProviderTag
from .fields import (
    FORMAT_NINJS3, TagCollector, checked_story_id, checked_version, clean_text, entry_dict, first_present,
    is_main_role, opt_list, opt_string, opt_string_named, opt_timestamp, opt_timestamp_any, prepared_html,
    pubstatus_any, undecoded_article, wrong_type,
)

__all__ = ["decode_ninjs"]


@dataclass(frozen=True)
class _NinjsNames:
    """Field spellings, preferred first; the other generation's spelling is the fallback."""

    firstcreated: tuple[str, ...]
    versioncreated: tuple[str, ...]
    pubstatus: tuple[str, ...]
    copyrightholder: tuple[str, ...]
    infosources: tuple[str, ...]


_NINJS_NAMES = _NinjsNames(
    firstcreated=("firstcreated", "firstCreated"),
    versioncreated=("versioncreated", "versionCreated"),
    pubstatus=("pubstatus", "pubStatus"),
    copyrightholder=("copyrightholder", "copyrightHolder"),
    infosources=("infosources", "infoSources"),
)
_NINJS3_NAMES = _NinjsNames(
    firstcreated=("firstCreated", "firstcreated"),
    versioncreated=("versionCreated", "versioncreated"),
    pubstatus=("pubStatus", "pubstatus"),
    copyrightholder=("copyrightHolder", "copyrightholder"),
    infosources=("infoSources", "infosources"),
)

#: (key, kind) in output order: ninjs 1.x singular keys, then 2.x/3.x plural keys, per kind.
_NINJS_TAG_FIELDS = (
    ("person", "person"),
    ("people", "person"),
    ("organisation", "organisation"),
    ("organisations", "organisation"),
    ("place", "place"),
    ("places", "place"),
    ("subject", "subject"),
    ("subjects", "subject"),
)


# Every mapped field is type-checked even when a fallback is not needed, so the
# same malformed message is rejected the same way whichever fields it carries.


def _headline(obj: dict) -> Optional[str]:
    headline = opt_string(obj, "headline")
    first: Optional[str] = None
    main: Optional[str] = None
    for i, entry in enumerate(opt_list(obj, "headlines")):
        entry = entry_dict(entry, f"headlines[{i}]")
        text = opt_string_named(entry, "value", f"headlines[{i}].value")
        role = opt_string_named(entry, "role", f"headlines[{i}].role")
        if text is None:
            continue
        if first is None:
            first = text
        if main is None and is_main_role(role):
            main = text
    return headline or main or first


def _bodies_candidates(obj: dict) -> dict[str, str]:
    """ninjs 2.x/3.x bodies[]: best prepared raw value per kind ("plain"/"html"), role main first."""
    best: dict[str, tuple[bool, str]] = {}
    for i, entry in enumerate(opt_list(obj, "bodies")):
        entry = entry_dict(entry, f"bodies[{i}]")
        value = entry.get("value")
        if value is not None and not isinstance(value, str):
            raise wrong_type(f"bodies[{i}].value", "string", value)
        ctype = opt_string_named(entry, "contenttype", f"bodies[{i}].contenttype")
        ctype_camel = opt_string_named(entry, "contentType", f"bodies[{i}].contentType")
        role = opt_string_named(entry, "role", f"bodies[{i}].role")
        if not value:
            continue
        # A missing content type is read as plain text (ninjs 2.x requires it anyway).
        mime = (ctype or ctype_camel or "text/plain").split(";", 1)[0].strip().lower()
        if mime == "text/plain":
            kind, prepared = "plain", clean_text(value)
        elif mime in ("text/html", "application/xhtml+xml"):
            kind, prepared = "html", prepared_html(value)
        else:
            continue  # e.g. text/markdown or structured formats: not handled yet
        if prepared is None:
            continue
        main = is_main_role(role)
        if kind not in best or (main and not best[kind][0]):
            best[kind] = (main, prepared)
    return {kind: value for kind, (_, value) in best.items()}


def _ninjs_body(obj: dict) -> tuple[Optional[str], bool]:
    """(body_raw, body_is_html): body_text > body_html > bodies[] plain > bodies[] html.

    The first non-blank candidate wins; whether an HTML body yields any text is
    for the cleaning stage to find out.
    """
    body_text = opt_string(obj, "body_text")
    raw_html = obj.get("body_html")
    if raw_html is not None and not isinstance(raw_html, str):
        raise wrong_type("body_html", "string", raw_html)
    body_html = prepared_html(raw_html) if raw_html is not None else None
    bodies = _bodies_candidates(obj)
    candidates = [
        (body_text, False),
        (body_html, True),
        (bodies.get("plain"), False),
        (bodies.get("html"), True),
    ]
    for raw, is_html in candidates:
        if raw is not None:
            return raw, is_html
    return None, False


def _located(obj: dict) -> Optional[str]:
    raw = obj.get("located")
    if raw is None:
        return None
    if isinstance(raw, str):
        return clean_text(raw)
    if isinstance(raw, dict):
        return opt_string_named(raw, "name", "located.name")
    raise wrong_type("located", "string or object", raw)


def _provider(obj: dict, names: _NinjsNames) -> Optional[str]:
    holders = [opt_string(obj, key) for key in names.copyrightholder]
    source: Optional[str] = None
    for key in names.infosources:
        for i, entry in enumerate(opt_list(obj, key)):
            entry = entry_dict(entry, f"{key}[{i}]")
            name = opt_string_named(entry, "name", f"{key}[{i}].name")
            if source is None:
                source = name
    raw = obj.get("provider")
    if raw is None:
        provider = None
    elif isinstance(raw, str):
        provider = clean_text(raw)
    elif isinstance(raw, dict):
        provider = opt_string_named(raw, "name", "provider.name")
    else:
        raise wrong_type("provider", "string or object", raw)
    return first_present(*holders) or source or provider


def _ninjs_tags(obj: dict) -> tuple[ProviderTag, ...]:
    tags = TagCollector()
    for key, kind in _NINJS_TAG_FIELDS:
        for i, entry in enumerate(opt_list(obj, key)):
            field = f"{key}[{i}]"
            if isinstance(entry, str):
                tags.add(kind, entry, None)
                continue
            if not isinstance(entry, dict):
                raise wrong_type(field, "object or string", entry)
            name, uri, code, scheme, literal = (
                _opt_raw(entry, part, f"{field}.{part}") for part in ("name", "uri", "code", "scheme", "literal")
            )
            tags.add(kind, name, _ninjs_tag_id(uri, scheme, code, literal))
    return tags.result()


def _opt_raw(obj: dict, key: str, field: str) -> Optional[str]:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise wrong_type(field, "string", value)
    return value


def _ninjs_tag_id(uri: Optional[str], scheme: Optional[str], code: Optional[str], literal: Optional[str]) -> Optional[str]:
    """uri; else scheme + code (a qcode "medtop:20000621" or a URL "http://cv.../20000621"); else code; else literal."""
    if uri and uri.strip():
        return uri
    code = code.strip() if code else None
    scheme = scheme.strip() if scheme else None
    if code and scheme:
        return scheme + code if scheme.endswith(("/", "#", ":")) else f"{scheme}:{code}"
    return code or (literal.strip() if literal and literal.strip() else None)


def decode_ninjs(obj: dict, fmt: str) -> Article:
    names = _NINJS3_NAMES if fmt == FORMAT_NINJS3 else _NINJS_NAMES
    story_id = checked_story_id(obj.get("uri"), "uri")
    version = checked_version(obj.get("version"))
    first_created = opt_timestamp_any(obj, names.firstcreated)
    version_created = opt_timestamp_any(obj, names.versioncreated)
    embargoed_until = opt_timestamp(obj, "embargoed")
    pubstatus = pubstatus_any(obj, names.pubstatus)
    headline = _headline(obj)
    body_raw, body_is_html = _ninjs_body(obj)
    byline = opt_string(obj, "byline")
    by = opt_string(obj, "by")
    located = _located(obj)
    language = opt_string(obj, "language")
    provider = _provider(obj, names)
    tags = _ninjs_tags(obj)
    if headline is None and body_raw is None:
        raise DecodeError(ErrorCode.NO_CONTENT, "headline/body: message has neither headline nor body")
    return undecoded_article(
        story_id=story_id,
        version=version,
        provider=provider,
        headline=headline,
        body_raw=body_raw,
        body_is_html=body_is_html,
        byline=byline or by,
        located=located,
        language=language,
        first_created=first_created,
        version_created=version_created,
        pubstatus=pubstatus,
        embargoed_until=embargoed_until,
        provider_tags=tags,
        source_format=fmt,
    )
