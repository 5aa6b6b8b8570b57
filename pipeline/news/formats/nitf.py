"""IPTC NITF bodies (as ninjs ``body_xml`` / ``bodies[]`` of type NITF carry them): the story markup as HTML.

A NITF document holds its prose in ``body/body.content``; the ``head`` and ``body.head`` around it
(title, docdata, hedline, byline) are metadata the other ninjs fields already carry. The XML is
parsed as securely as a NewsML-G2 item: no DTD, no entities, no network.
"""
from __future__ import annotations

import re
from typing import Optional

from lxml import etree

from .markup import XML_DTD_RE, secure_xml_parser, story_markup_html

__all__ = ["NITF_CONTENT_TYPES", "nitf_body_html"]

#: Content types under which providers send NITF (lower-cased, parameters stripped).
NITF_CONTENT_TYPES = frozenset(
    {"text/vnd.iptc.nitf", "application/nitf+xml", "text/nitf", "application/vnd.iptc.nitf+xml", "nitf"}
)
_XML_DECLARATION_RE = re.compile(r"^\s*<\?xml[^>]*\?>")


def nitf_body_html(text: str) -> Optional[str]:
    """The ``body.content`` of a NITF document as an HTML fragment; None when there is none.

    A NITF value that does not parse, declares a DTD or has no body content yields None, so the
    caller falls back to the item's other bodies instead of dead-lettering a readable story.
    """
    if not text:
        return None
    data = _XML_DECLARATION_RE.sub("", text, count=1).encode("utf-8")
    if XML_DTD_RE.search(data):
        return None
    try:
        root = etree.fromstring(data, parser=secure_xml_parser())
    except (etree.LxmlError, ValueError):
        return None
    if root is None or not isinstance(root.tag, str) or etree.QName(root).localname != "nitf":
        return None
    for node in root.iter():
        if isinstance(node.tag, str) and etree.QName(node).localname == "body.content":
            html = story_markup_html(node).strip()
            return html or None
    return None
