"""Paragraphs of a wire body as its sender laid them out in plain text.

Agencies still send text the way teleprinters did, also inside XML and HTML containers:

* **indented paragraphs** (Reuters, ANSA): a paragraph starts on a line indented by a few spaces
  and runs on over lines that start flush left, hard-wrapped at ~65 columns;
* **hard-wrapped blocks**: paragraphs separated by blank lines, each wrapped over several lines;
* **one paragraph per line** (most feeds): every newline ends a paragraph.

Reading the first two as "every newline is a paragraph" breaks sentences mid-way; reading an HTML
``<p>`` that holds them with HTML's whitespace rules glues twenty paragraphs into one. The layout
is told from the text itself, by rules tight enough that ordinary text keeps its line breaks.
"""
from __future__ import annotations

import re

__all__ = ["block_paragraphs", "is_bullet", "text_paragraphs"]

_HSPACE = re.compile(r"[ \t\u00a0]+")
_HTML_WS = re.compile(r"[ \t\n\r\f]+")
_BLANK_LINE = re.compile(r"\n[ \t\r\f]*\n")
_BULLET = re.compile(r"^\s*(?:[*\u2022\u25cf]|-(?=\s))\s")
# A wrapped line ends mid-sentence: no terminal punctuation, closing quote or bracket.
_TERMINAL = re.compile(r"[.!?:;\"'\u201d\u2019\u00bb)\]]\s*$")

#: Indentation (spaces) that marks a paragraph start in the indented layout.
PARAGRAPH_INDENT = 2
_WRAP_MIN, _WRAP_MAX = 35, 100


def is_bullet(line: str) -> bool:
    """A list item ("* Spot gold may edge up", "• ...", "- ..."): in wire text it starts a paragraph."""
    return bool(_BULLET.match(line))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t\u00a0"))


def _is_indented_layout(lines: list[str]) -> bool:
    """Paragraph starts indented, continuation lines flush left: both kinds occur after the first line."""
    rest = [line for line in lines[1:] if line.strip()]
    indented = sum(1 for line in rest if _indent(line) >= PARAGRAPH_INDENT)
    flush = sum(1 for line in rest if _indent(line) == 0)
    return indented >= 2 and flush >= 1


def _is_hard_wrapped(lines: list[str]) -> bool:
    """Lines of similar width (35..100 chars) that mostly end mid-sentence, at least three in a row."""
    text_lines = [line.strip() for line in lines if line.strip()]
    if len(text_lines) < 3 or any(len(line) > _WRAP_MAX for line in text_lines):
        return False
    runs: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            runs[-1].append(line.strip())
        elif runs[-1]:
            runs.append([])
    wrapped = [line for run in runs for line in run[:-1]]  # every line but a paragraph's last
    if len(wrapped) < 2 or sum(len(line) >= _WRAP_MIN for line in wrapped) < 0.8 * len(wrapped):
        return False
    return sum(not _TERMINAL.search(line) for line in wrapped) >= 0.7 * len(wrapped)


def _join(lines: list[str], *, indented: bool) -> list[str]:
    paragraphs: list[list[str]] = []
    starts_next = True
    for line in lines:
        if not line.strip():
            starts_next = True
            continue
        if starts_next or (indented and (_indent(line) >= PARAGRAPH_INDENT or is_bullet(line))):
            paragraphs.append([])
        paragraphs[-1].append(line.strip())
        starts_next = False
    return [_HSPACE.sub(" ", " ".join(words)).strip() for words in paragraphs]


def text_paragraphs(text: str) -> list[str]:
    """The paragraphs of a plain-text body (see the module docstring); empty ones dropped."""
    lines = text.split("\n")
    if _is_indented_layout(lines):
        return _join(lines, indented=True)
    if _is_hard_wrapped(lines):
        return _join(lines, indented=False)
    return [p for p in (_HSPACE.sub(" ", line).strip() for line in lines) if p]


def block_paragraphs(raw: str) -> list[str]:
    """The paragraphs of one HTML text block: one, unless its text keeps a wire layout.

    A block whose raw text has blank lines, or indented paragraph starts over flush-left
    continuation lines, is split there; otherwise HTML whitespace rules apply (runs collapse).
    """
    if "\n" in raw:
        lines = raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        indented = _is_indented_layout(lines)
        if indented or _BLANK_LINE.search(raw.strip()):
            return [p for p in (_HTML_WS.sub(" ", part).strip() for part in _join(lines, indented=indented)) if p]
    text = _HTML_WS.sub(" ", raw).strip()
    return [text] if text else []
