"""Markdown text from untrusted values: one line, HTML and markdown syntax escaped."""

from __future__ import annotations

import re
from typing import Any

_PUNCTUATION = re.compile(r"([\\`*_{}\[\]#!|~$])")
_LEADING = re.compile(r"^([-+=])|^(\d+)([.)])(?=\s|$)")
_HEX = re.compile(r"[0-9a-fA-F]{8,128}")


def md(value: Any) -> str:
    """``value`` as inline markdown that shows exactly its text: whitespace collapsed to single spaces,
    ``&``, ``<`` and ``>`` as HTML entities (a card may carry raw HTML), markdown punctuation escaped."""
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _PUNCTUATION.sub(r"\\\1", text)
    # at the start of a line these would open a list, a heading underline or a numbered item
    return _LEADING.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", text)


def code(value: Any) -> str:
    """A hash as a code span; anything that is not plain hexadecimal is escaped text instead."""
    text = str(value)
    return f"`{text}`" if _HEX.fullmatch(text) else md(text)


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table; cells must already be markdown (see :func:`md`)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def bullets(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items)
