"""National identity numbers; ``subtype`` names which scheme.

Every candidate is validated by ``python-stdnum`` where the scheme has a check:

* ``US_SSN`` — ``stdnum.us.ssn`` (rejects area 000, 666 and 900-999, group 00, serial 0000 and
  the well-known advertising numbers); written 123-45-6789 / 123 45 6789, or nine plain digits
  next to "SSN" / "social security";
* ``UK_NINO`` — National Insurance number: no check digit exists, so the HMRC format rules are
  applied (allowed prefix letters, the reserved prefixes BG GB KN NK NT TN ZZ, suffix A-D);
* ``FR_NIR`` — ``stdnum.fr.nir`` (the 97-modulus key); ``IT_CF`` — ``stdnum.it.codicefiscale``;
  ``ES_DNI`` / ``ES_NIE`` — ``stdnum.es.dni`` / ``stdnum.es.nie`` (check letter);
* ``NL_BSN`` — ``stdnum.nl.bsn`` (11-test) and ``DE_IDNR`` — ``stdnum.de.idnr`` (ISO 7064):
  plain nine / eleven digit runs pass these checks too often by chance, so they are reported
  only next to their name ("BSN", "Steuer-ID", ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.us import ssn

from ..findings import NATIONAL_ID, Finding
from .base import Detector

_NINO_RESERVED = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}
_CF_DIGIT = "[0-9LMNPQRSTUV]"


def _nino_valid(value: str) -> bool:
    compact = value.replace(" ", "").upper()
    return compact[:2] not in _NINO_RESERVED


@dataclass(frozen=True)
class Scheme:
    subtype: str
    pattern: re.Pattern[str]
    is_valid: Callable[[str], bool]
    confidence: float
    context: re.Pattern[str] | None = None  # required nearby when set
    boost: re.Pattern[str] | None = None  # raises the confidence when nearby


def _b(body: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-])(?:{body})(?![\w-]|[.,]\d)")


SSN_WORDS = re.compile(r"\b(?:ssn|social security|soc\.? sec\.?)\b", re.I)
SCHEMES = (
    Scheme("US_SSN", _b(r"\d{3}([- ])\d{2}\1\d{4}"), ssn.is_valid, 0.85, boost=SSN_WORDS),
    Scheme("US_SSN", _b(r"\d{9}"), ssn.is_valid, 0.9, context=SSN_WORDS),
    Scheme("UK_NINO", _b(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]"), _nino_valid, 0.9,
           boost=re.compile(r"\b(?:ni|nino|national insurance)\b", re.I)),
    Scheme("FR_NIR", _b(r"[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}"), nir.is_valid, 0.9),
    Scheme("IT_CF", _b(rf"[A-Z]{{6}}{_CF_DIGIT}{{2}}[A-EHLMPR-T]{_CF_DIGIT}{{2}}[A-Z]{_CF_DIGIT}{{3}}[A-Z]"),
           codicefiscale.is_valid, 0.95),
    Scheme("ES_DNI", _b(r"\d{8}-?[A-Z]"), dni.is_valid, 0.9),
    Scheme("ES_NIE", _b(r"[XYZ]-?\d{7}-?[A-Z]"), nie.is_valid, 0.9),
    Scheme("NL_BSN", _b(r"\d{4}\.?\d{2}\.?\d{3}|\d{9}"), bsn.is_valid, 0.9,
           context=re.compile(r"\b(?:bsn|burgerservicenummer|sofi-?nummer|citizen service number)\b", re.I)),
    Scheme("DE_IDNR", _b(r"\d{2} ?\d{3} ?\d{3} ?\d{3}"), idnr.is_valid, 0.9,
           context=re.compile(r"(?:steuer-?\s?id|steuerliche identifikationsnummer|identifikationsnummer|\bidnr\b|"
                              r"tax id(?:entification)? (?:number|no)?)", re.I)),
)


def _labelled(window: str, label: re.Pattern[str]) -> bool:
    """Whether the last label before a number labels it: no other number stands between them."""
    last = None
    for last in label.finditer(window):
        pass
    return last is not None and not any(ch.isdigit() for ch in window[last.end():])


class NationalIdDetector(Detector):
    type = NATIONAL_ID
    name = "stdnum"

    def find(self, text: str) -> list[Finding]:
        out: list[Finding] = []
        for scheme in SCHEMES:
            for m in scheme.pattern.finditer(text):
                window = text[max(0, m.start() - 40):m.start()]
                if scheme.context is not None and not _labelled(window, scheme.context):
                    continue
                try:
                    valid = scheme.is_valid(m.group())
                except Exception:  # a validator that rejects the format by raising
                    valid = False
                if not valid:
                    continue
                confidence = scheme.confidence
                if scheme.boost is not None and scheme.boost.search(window):
                    confidence = 0.97
                out.append(self.finding(m.start(), m.end(), confidence, subtype=scheme.subtype))
        return out
