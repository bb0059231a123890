"""International Bank Account Numbers, validated by ``stdnum.iban`` (country length and the mod-97 check).

Candidates are a country code and two check digits followed by blocks of letters and digits,
written compactly or in groups of four; a candidate that runs into a following upper-case word
is shortened block by block until it validates.
"""

from __future__ import annotations

import re

from stdnum import iban

from ..findings import IBAN, Finding
from .base import Detector

CANDIDATE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{1,4}){2,9}(?![a-z0-9])")
BLOCK_END = re.compile(r"[ ]?[A-Z0-9]{1,4}$")


class IbanDetector(Detector):
    type = IBAN
    name = "stdnum.iban"

    def find(self, text: str) -> list[Finding]:
        out = []
        for m in CANDIDATE.finditer(text):
            value = m.group()
            while len(value) >= 15:
                if iban.is_valid(value):
                    out.append(self.finding(m.start(), m.start() + len(value), 0.97, subtype=value[:2]))
                    break
                value = value[:BLOCK_END.search(value).start()] if " " in value else value[:-1]
        return out
