"""IPTC NewsML-G2 ``newsItem`` (bare or in a ``newsMessage``): secure XML loading and field mapping."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Optional

from lxml import etree

from ..model import Article, DecodeError, ErrorCode, ProviderTag
from .fields import (
    FORMAT_NEWSML_G2, NON_STORY_KINDS, PUBSTATUS_CODES, URI_FORBIDDEN_RE, TagCollector, checked_story_id,
    checked_version, clean_text, inline_text, looks_like_html, parse_timestamp, prepared_html, preview,
    strip_bom_ws, undecoded_article,
)
from .markup import XHTML_NS, XML_DTD_RE, local_name, namespace, secure_xml_parser, story_markup_html

__all__ = ["NAR_NS", "XHTML_NS", "decode_newsml_g2", "load_news_item"]

NAR_NS = "http://iptc.org/std/nar/2006-10-01/"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_XML_ENCODING_RE = re.compile(rb"""<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
_UTF8_NAMES = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
#: Other declared encodings we let libxml2 decode: single-byte, ASCII-compatible ones only, so the
#: DOCTYPE/ENTITY byte scan below sees every declaration (UTF-16/32, EBCDIC etc. are refused).
_SINGLE_BYTE_XML_ENCODING_RE = re.compile(r"(?:iso[-_]?8859[-_]\d{1,2}|latin-?1|l1|(?:windows|cp)-?125\d)")
#: G2 subject @type (the part after the scheme alias, lower-cased) -> ProviderTag kind.
_G2_SUBJECT_KINDS = {
    "person": "person",
    "organisation": "organisation",
    "organization": "organisation",
    "geoarea": "place",
    "poi": "place",
}


def load_news_item(data: bytes) -> etree._Element:
    """Parse XML securely and return the (first) NewsML-G2 newsItem element.

    A DOCTYPE or ENTITY declaration anywhere is refused before parsing (entity
    expansion and external entities are the classic XML attacks, and a news item
    never needs a DTD); the parser additionally resolves no entities, loads no
    DTD and touches no network.
    """
    skipped = len(data)
    data = strip_bom_ws(data)
    skipped -= len(data)
    m = _XML_ENCODING_RE.match(data)
    encoding = m.group(1).decode("ascii").lower() if m else "utf-8"
    if encoding in _UTF8_NAMES:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(
                ErrorCode.INVALID_UTF8, f"message value: invalid UTF-8 at byte {exc.start + skipped}"
            ) from None
    elif not _SINGLE_BYTE_XML_ENCODING_RE.fullmatch(encoding):
        raise DecodeError(ErrorCode.INVALID_XML, f"message value: XML encoding {encoding[:20]!r} not supported")
    if XML_DTD_RE.search(data):
        raise DecodeError(ErrorCode.INVALID_XML, "message value: XML with a DOCTYPE or ENTITY declaration is refused")
    try:
        root = etree.fromstring(data, parser=secure_xml_parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if isinstance(exc.lineno, int) else 0
        reason = URI_FORBIDDEN_RE.sub("?", str(exc.msg or "syntax error"))[:60]
        raise DecodeError(ErrorCode.INVALID_XML, f"message value: malformed XML: {reason} (line {line})") from None
    except (etree.LxmlError, ValueError, LookupError):
        raise DecodeError(ErrorCode.INVALID_XML, "message value: malformed XML") from None
    if root is None:
        raise DecodeError(ErrorCode.INVALID_XML, "message value: empty XML document")
    if root.getroottree().docinfo.doctype:
        raise DecodeError(ErrorCode.INVALID_XML, "message value: XML with a DOCTYPE declaration is refused")
    return _g2_news_item(root)


def _g2_news_item(root: etree._Element) -> etree._Element:
    local, ns = local_name(root), namespace(root)
    shown = preview(local or "")
    if ns not in (NAR_NS, None) or local not in ("newsItem", "newsMessage"):
        if local == "NewsML" and ns is None:
            raise DecodeError(
                ErrorCode.UNKNOWN_FORMAT, "message value: a NewsML 1.x document; only NewsML-G2 is read"
            )
        if ns == NAR_NS:
            raise DecodeError(ErrorCode.UNKNOWN_FORMAT, f"message value: NewsML-G2 {shown} is not a newsItem")
        raise DecodeError(
            ErrorCode.UNKNOWN_FORMAT, f"message value: XML root {shown} is not a NewsML-G2 newsItem or newsMessage"
        )
    if local == "newsItem":
        return root
    for item_set in _g2_children(root, "itemSet"):
        for child in _g2_children(item_set, "newsItem"):
            return child
    raise DecodeError(ErrorCode.UNKNOWN_FORMAT, "message value: newsMessage/itemSet holds no newsItem")


def _g2_children(el: etree._Element, name: str) -> list:
    """Child elements called `name` in the NAR namespace (or in none, for namespace-less items)."""
    return [c for c in el if local_name(c) == name and namespace(c) in (NAR_NS, None)]


def _g2_child(el: Optional[etree._Element], name: str) -> Optional[etree._Element]:
    if el is None:
        return None
    found = _g2_children(el, name)
    return found[0] if found else None


def _g2_text(el: Optional[etree._Element]) -> Optional[str]:
    """All text of an element (inline markup flattened), whitespace collapsed; blank -> None."""
    if el is None:
        return None
    return inline_text("".join(el.itertext()))


def _g2_name(el: etree._Element, language: Optional[str]) -> Optional[str]:
    """A concept's name: the `name` child in the item's language if there is one, else the first."""
    names = [(n.get(_XML_LANG), _g2_text(n)) for n in _g2_children(el, "name")]
    names = [(lang, text) for lang, text in names if text is not None]
    if language:
        wanted = language.lower()
        for lang, text in names:
            if lang and (lang.lower() == wanted or lang.lower().split("-")[0] == wanted.split("-")[0]):
                return text
    return names[0][1] if names else None


def _code_tail(code: str) -> str:
    """'stat:usable' -> 'usable'; 'http://cv.iptc.org/newscodes/pubstatusg2/usable' -> 'usable'."""
    return re.split(r"[:/#]", code.strip().rstrip("/"))[-1]


def _g2_timestamp(parent: Optional[etree._Element], name: str, path: str) -> Optional[datetime]:
    el = _g2_child(parent, name)
    if el is None:
        return None
    text = "".join(el.itertext()).strip()
    if not text:
        return None
    return parse_timestamp(text, field=path)


def _g2_pubstatus(item_meta: Optional[etree._Element]) -> str:
    el = _g2_child(item_meta, "pubStatus")
    if el is None:
        return "usable"
    code = el.get("qcode") or el.get("uri")
    if code is None or not code.strip():
        raise DecodeError(ErrorCode.INVALID_PUBSTATUS, "itemMeta/pubStatus: no qcode")
    status = PUBSTATUS_CODES.get(_code_tail(code).lower())
    if status is None:
        raise DecodeError(ErrorCode.INVALID_PUBSTATUS, f"itemMeta/pubStatus: unknown value {preview(code)}")
    return status


def _g2_party(el: Optional[etree._Element], language: Optional[str]) -> Optional[str]:
    """provider / copyrightHolder: @literal, else a name child, else the @qcode code (nprov:AFP -> AFP)."""
    if el is None:
        return None
    literal = inline_text(el.get("literal") or "")
    if literal:
        return literal
    name = _g2_name(el, language)
    if name:
        return name
    qcode = el.get("qcode")
    return inline_text(_code_tail(qcode)) if qcode else None


def _g2_body(content_set: Optional[etree._Element]) -> tuple[Optional[str], bool]:
    """First non-blank inlineXML (as an HTML string), else first non-blank inlineData."""
    if content_set is None:
        return None, False
    for el in _g2_children(content_set, "inlineXML"):
        raw = prepared_html(story_markup_html(el))
        if raw is not None:
            return raw, True
    for el in _g2_children(content_set, "inlineData"):
        if el.get("encoding"):
            continue  # e.g. base64: not text
        text = "".join(el.itertext())
        mime = (el.get("contenttype") or "text/plain").split(";", 1)[0].strip().lower()
        if mime in ("text/html", "application/xhtml+xml"):
            raw = prepared_html(text)
            if raw is not None:
                return raw, True
        elif looks_like_html(text):
            # text/plain that carries <p> tags (ANSA, Superdesk exports): the tags are markup, not prose
            raw = prepared_html(text)
            if raw is not None:
                return raw, True
        else:
            raw = clean_text(text)
            if raw is not None:
                return raw, False
    return None, False


def _g2_tags(content_meta: Optional[etree._Element], language: Optional[str]) -> tuple[ProviderTag, ...]:
    tags = TagCollector()
    if content_meta is None:
        return ()
    for subject in _g2_children(content_meta, "subject"):
        kind = _G2_SUBJECT_KINDS.get(_code_tail(subject.get("type") or "").lower(), "subject")
        name = _g2_name(subject, language) or inline_text(subject.get("literal") or "")
        tags.add(kind, name, subject.get("uri") or subject.get("qcode"))
    return tags.result()


def _g2_headline(content_meta: Optional[etree._Element]) -> Optional[str]:
    first: Optional[str] = None
    for el in _g2_children(content_meta, "headline") if content_meta is not None else []:
        text = _g2_text(el)
        if text is None:
            continue
        role = el.get("role")
        if role and _code_tail(role).lower() == "main":
            return text
        if first is None:
            first = text
    return first


def _g2_first_text(content_meta: Optional[etree._Element], name: str) -> Optional[str]:
    for el in _g2_children(content_meta, name) if content_meta is not None else []:
        text = _g2_text(el)
        if text is not None:
            return text
    return None


def _refuse_non_story(item_class: Optional[etree._Element]) -> None:
    """A picture, graphic, video or audio item (``icls:picture``, ``ninat:video``) is not a story."""
    code = item_class.get("qcode") or item_class.get("uri") if item_class is not None else None
    kind = _code_tail(code).lower() if code else None
    if kind in NON_STORY_KINDS:
        raise DecodeError(ErrorCode.NOT_A_STORY, f"itemMeta/itemClass: a {kind} item, not a text story")


def decode_newsml_g2(item: etree._Element) -> Article:
    story_id = checked_story_id(item.get("guid"), "newsItem@guid")
    version = checked_version(item.get("version"), "newsItem@version")
    item_meta = _g2_child(item, "itemMeta")
    _refuse_non_story(_g2_child(item_meta, "itemClass"))
    content_meta = _g2_child(item, "contentMeta")
    content_set = _g2_child(item, "contentSet")
    first_created = _g2_timestamp(item_meta, "firstCreated", "itemMeta/firstCreated")
    version_created = _g2_timestamp(item_meta, "versionCreated", "itemMeta/versionCreated")
    embargoed_until = _g2_timestamp(item_meta, "embargoed", "itemMeta/embargoed")
    pubstatus = _g2_pubstatus(item_meta)

    language = None
    for el in _g2_children(content_meta, "language") if content_meta is not None else []:
        language = inline_text(el.get("tag") or "")
        if language:
            break
    language = language or inline_text(item.get(_XML_LANG) or "")

    provider = _g2_party(_g2_child(item_meta, "provider"), language) or _g2_party(
        _g2_child(_g2_child(item, "rightsInfo"), "copyrightHolder"), language
    )
    headline = _g2_headline(content_meta)
    byline = _g2_first_text(content_meta, "by")
    located_el = _g2_child(content_meta, "located")
    located = None
    if located_el is not None:
        located = _g2_name(located_el, language) or inline_text(located_el.get("literal") or "")
    body_raw, body_is_html = _g2_body(content_set)
    tags = _g2_tags(content_meta, language)
    if headline is None and body_raw is None:
        raise DecodeError(ErrorCode.NO_CONTENT, "headline/body: newsItem has neither headline nor body")
    return undecoded_article(
        story_id=story_id,
        version=version,
        provider=provider,
        headline=headline,
        body_raw=body_raw,
        body_is_html=body_is_html,
        byline=byline,
        located=located,
        language=language,
        first_created=first_created,
        version_created=version_created,
        pubstatus=pubstatus,
        embargoed_until=embargoed_until,
        provider_tags=tags,
        source_format=FORMAT_NEWSML_G2,
    )
