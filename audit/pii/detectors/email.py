"""E-mail addresses: the dot-atom form of RFC 5322 with a domain of labels and a letters-only top level."""

from __future__ import annotations

import re

from ..findings import EMAIL, Finding
from .base import Detector

_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
PATTERN = re.compile(rf"(?<![\w.@+-]){_LOCAL}@(?:{_LABEL}\.)+[A-Za-z]{{2,24}}(?![\w@-]|\.[A-Za-z0-9])")


class EmailDetector(Detector):
    type = EMAIL
    name = "email"

    def might_contain(self, text: str) -> bool:
        return "@" in text

    def find(self, text: str) -> list[Finding]:
        out = []
        for m in PATTERN.finditer(text):
            local = m.group().split("@", 1)[0]
            if len(local) > 64 or len(m.group()) > 254:
                continue
            out.append(self.finding(m.start(), m.end(), 0.95))
        return out
