"""The interface every detector follows, and small helpers they share."""

from __future__ import annotations

import re

from ..findings import Finding


class Detector:
    """Finds one kind of personal data. Subclasses set ``type`` and ``name`` and implement ``find``.

    ``might_contain(text)`` is a cheap test the scanner runs first: when it is False, ``find`` is
    skipped (e.g. a phone number needs at least seven digits).
    """

    type: str = ""
    name: str = ""

    def might_contain(self, text: str) -> bool:
        return True

    def find(self, text: str) -> list[Finding]:
        raise NotImplementedError

    def finding(self, start: int, end: int, confidence: float, subtype: str | None = None) -> Finding:
        return Finding(type=self.type, start=start, end=end, detector=self.name,
                       confidence=round(min(1.0, max(0.0, confidence)), 3), subtype=subtype)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(type={self.type!r}, name={self.name!r})"


def count_digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def preceding(text: str, start: int, width: int = 40) -> str:
    """The lower-cased ``width`` characters before ``start`` (the context a label sits in)."""
    return text[max(0, start - width):start].lower()


def has_context(text: str, start: int, end: int, pattern: re.Pattern[str], before: int = 40, after: int = 0) -> bool:
    """Whether ``pattern`` occurs in the text shortly before (or, with ``after``, after) a span."""
    window = text[max(0, start - before):start]
    if after:
        window += " " + text[end:end + after]
    return pattern.search(window) is not None
