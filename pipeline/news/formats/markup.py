"""XML helpers the XML-carrying formats share: a secure parser and story markup as an HTML fragment."""
from __future__ import annotations

import copy
import html as html_lib
import re
from typing import Any, Optional

from lxml import etree

__all__ = ["XHTML_NS", "XML_DTD_RE", "local_name", "namespace", "secure_xml_parser", "story_markup_html"]

XHTML_NS = "http://www.w3.org/1999/xhtml"
#: A DOCTYPE or ENTITY declaration anywhere: refused before parsing (entity expansion, external entities).
XML_DTD_RE = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def secure_xml_parser() -> etree.XMLParser:
    # A fresh parser per message: lxml parsers are not safe to share across threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def local_name(el: Any) -> Optional[str]:
    """Local name of an element (None for comments, PIs, entities)."""
    return etree.QName(el).localname if isinstance(el.tag, str) else None


def namespace(el: Any) -> Optional[str]:
    return etree.QName(el).namespace if isinstance(el.tag, str) else None


def story_markup_html(el: etree._Element) -> str:
    """Serialise the story markup inside `el` (an inlineXML, a NITF document) as HTML without namespaces.

    Uses NITF ``body.content`` if present, else an (X)HTML ``body``, else the
    element's own children.
    """
    container = None
    for node in el.iter():
        if local_name(node) == "body.content":
            container = node
            break
    if container is None:
        for node in el.iter():
            if local_name(node) == "body" and namespace(node) in (XHTML_NS, None):
                container = node
                break
    if container is None:
        container = el
    parts: list[str] = []
    if container.text:
        parts.append(html_lib.escape(container.text, quote=False))
    for child in container:
        if isinstance(child.tag, str):
            node = copy.deepcopy(child)
            node.tail = None
            _strip_namespaces(node)
            parts.append(etree.tostring(node, method="html", encoding="unicode", with_tail=False))
        if child.tail:
            parts.append(html_lib.escape(child.tail, quote=False))
    return "".join(parts)


def _strip_namespaces(root: etree._Element) -> None:
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        node.tag = etree.QName(node).localname
        for key in [k for k in node.attrib if k.startswith("{")]:
            del node.attrib[key]
    etree.cleanup_namespaces(root)
