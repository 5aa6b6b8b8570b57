"""The flat JSON our in-house producers write (``id``, ``source``, ``body``, ``published_at``...)."""
from __future__ import annotations

import re
from typing import Optional

from ..model import Article, DecodeError, ErrorCode
from .fields import (
    FORMAT_PLAIN_JSON, MAX_URI_CHARS, SURROGATE_RE, URI_FORBIDDEN_RE, checked_story_id, checked_version,
    clean_text, looks_like_html, opt_string, opt_timestamp, prepared_html, preview, pubstatus_value,
    undecoded_article, wrong_type,
)

__all__ = ["decode_plain_json"]

_HTTP_URL_RE = re.compile(r"https?://[^\s]+", re.IGNORECASE)


def _url(obj: dict) -> Optional[str]:
    raw = opt_string(obj, "url")
    if raw is None:
        return None
    if len(raw) > MAX_URI_CHARS:
        raise DecodeError(ErrorCode.INVALID_URI, f"url: {len(raw)} chars, limit {MAX_URI_CHARS}")
    if not _HTTP_URL_RE.fullmatch(raw) or URI_FORBIDDEN_RE.search(raw) or SURROGATE_RE.search(raw):
        raise DecodeError(ErrorCode.INVALID_URI, f"url: not an absolute http(s) URL: {preview(raw)}")
    return raw


def decode_plain_json(obj: dict) -> Article:
    """In-house flat JSON: id, source, headline, body, published_at[, updated_at, url, version, language, pubstatus]."""
    story_id = checked_story_id(obj.get("id"), "id")
    version = checked_version(obj.get("version"))
    published_at = opt_timestamp(obj, "published_at")
    updated_at = opt_timestamp(obj, "updated_at")
    pubstatus = pubstatus_value(obj.get("pubstatus"), "pubstatus") or "usable"
    headline = opt_string(obj, "headline")
    raw_body = obj.get("body")
    if raw_body is not None and not isinstance(raw_body, str):
        raise wrong_type("body", "string", raw_body)
    body_is_html = raw_body is not None and looks_like_html(raw_body)
    if raw_body is None:
        body_raw = None
    else:
        body_raw = prepared_html(raw_body) if body_is_html else clean_text(raw_body)
    provider = opt_string(obj, "source")
    language = opt_string(obj, "language")
    url = _url(obj)
    if headline is None and body_raw is None:
        raise DecodeError(ErrorCode.NO_CONTENT, "headline/body: message has neither headline nor body")
    return undecoded_article(
        story_id=story_id,
        version=version,
        provider=provider,
        headline=headline,
        body_raw=body_raw,
        body_is_html=body_is_html and body_raw is not None,
        byline=None,
        located=None,
        language=language,
        first_created=published_at,
        version_created=updated_at or published_at,
        pubstatus=pubstatus,
        url=url,
        source_format=FORMAT_PLAIN_JSON,
    )
