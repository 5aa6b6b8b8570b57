"""IPTC ninjs 1.x, 2.x and 3.x JSON: field spellings of each generation mapped onto the shared rules."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..model import Article, DecodeError, ErrorCode, ProviderTag
from .fields import (
    FORMAT_NINJS3, NON_STORY_KINDS, TagCollector, checked_story_id, checked_version, clean_text, entry_dict,
    first_present, opt_list, opt_string, opt_string_named, opt_timestamp, opt_timestamp_any, pubstatus_any,
    undecoded_article, wrong_type,
)
from .ninjs_content import ninjs_body, ninjs_headline

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
    # Superdesk exports name the sending service in a non-standard "source" field
    sender = clean_text(obj["source"]) if isinstance(obj.get("source"), str) else None
    return first_present(*holders) or source or provider or sender


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


def _refuse_non_story(obj: dict) -> None:
    kind = obj.get("type")
    if isinstance(kind, str) and kind.strip().lower() in NON_STORY_KINDS:
        raise DecodeError(ErrorCode.NOT_A_STORY, f"type: a {kind.strip().lower()[:20]} item, not a text story")


def decode_ninjs(obj: dict, fmt: str) -> Article:
    names = _NINJS3_NAMES if fmt == FORMAT_NINJS3 else _NINJS_NAMES
    _refuse_non_story(obj)
    # Superdesk-based senders identify the item by guid and send no uri
    if obj.get("uri") is None and obj.get("guid") is not None:
        story_id = checked_story_id(obj.get("guid"), "guid")
    else:
        story_id = checked_story_id(obj.get("uri"), "uri")
    version = checked_version(obj.get("version"))
    first_created = opt_timestamp_any(obj, names.firstcreated)
    version_created = opt_timestamp_any(obj, names.versioncreated)
    embargoed_until = opt_timestamp(obj, "embargoed")
    pubstatus = pubstatus_any(obj, names.pubstatus)
    headline = ninjs_headline(obj)
    body_raw, body_is_html = ninjs_body(obj)
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
