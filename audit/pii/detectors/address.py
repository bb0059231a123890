"""Street addresses, where the writing makes them recognisable:

* number first, street type last — "415 Romero Skyway", "12 High St", "Flat 3, 22 Baker Street"
  (English street types, the USPS / Royal Mail vocabulary);
* street type first — "78, rue de Bailly", "Via Roma 12", "Calle de Alcalá, 23" (French,
  Spanish, Italian, Portuguese street types), with a house number before or after;
* a French street in lower case without a house number ("boulevard de Michel"), with a lower
  confidence;
* compound street names with the number after — "Hauptstraße 5", "Miasteeg 124",
  "Laurenz-Hölzenbecher-Weg 18" (German and Dutch endings).

A following postcode (US ZIP, UK, Dutch, or a five-digit European one, optionally after a town
and a US state) is included in the span and raises the confidence. Street types that are also
everyday words ("Park", "View", "Club") give a lower confidence than "Street" / "Road" / "Avenue".
"""

from __future__ import annotations

import re

from ..findings import ADDRESS, Finding
from . import gazetteer
from .base import Detector

STRONG_SUFFIXES = {"Street", "St", "Road", "Rd", "Avenue", "Ave", "Lane", "Ln", "Drive", "Dr", "Boulevard", "Blvd",
                   "Court", "Ct", "Place", "Pl", "Terrace", "Close", "Crescent", "Way", "Square", "Sq", "Highway",
                   "Hwy", "Parkway", "Pkwy", "Gardens", "Gdns", "Grove", "Mews", "Row"}
_WORD = r"[A-ZÀ-Ý][\w'’.-]*"
_PARTICLE = r"(?:de|del|della|delle|dei|di|da|du|des|la|le|les|los|las|el|do|dos|das|y|e|d'|l')"
_POSTCODE = (r"(?:\d{5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|\d{4} ?[A-Z]{2})")
_TAIL = rf"(?P<tail>,?\s+(?:{_WORD}\s+){{0,3}}?(?:{_WORD},?\s+)?(?:[A-Z]{{2}}\s+)?{_POSTCODE}(?![\w-]))?"
# French street types written in lower case name a street even without a house number ("rue de Bailly").
FRENCH_BARE = r"(?:rue|boulevard|avenue|chemin|allée|impasse|quai)(?=\s+(?:(?:de|du|des|de la|d')\s*)?[A-ZÀ-Ý])"
YEAR_LIST = re.compile(r"(?:19|20)\d\d(?:\s*-\s*(?:19|20)?\d\d)?,")
_UNIT = (r"(?:(?:Flat|Studio|Apt\.?|Apartment|Suite|Unit|Ste\.?|Piso|Puerta|Escalera|Bajo|Piano|Appartamento|Interno|"
         r"Scala|Wohnung|Etage|Bus)\s+\d+[A-Za-z]?)")


def _alternation(words) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


class AddressDetector(Detector):
    type = ADDRESS
    name = "street-pattern"

    def __init__(self):
        g = gazetteer.load()
        self.suffix_first = re.compile(
            rf"(?<![\w.,-])(?:(?:{_UNIT},?\s+)?\d{{1,5}}[A-Za-z]?(?:-\d{{1,4}})?|{_UNIT}),?\s+(?:{_WORD}\s+){{0,3}}"
            rf"(?P<suffix>{_alternation(g['street_suffixes'])})\b\.?(?:,?\s+{_UNIT})?{_TAIL}")
        self.prefix_first = re.compile(
            rf"(?:(?<![\w.,-])(?P<num>\d{{1,4}}(?:\s?(?:bis|ter))?),?\s+(?i:{_alternation(g['street_prefixes'])})"
            rf"|(?<![\w-])(?P<bare>{FRENCH_BARE})|(?<![\w-])(?:{_alternation(g['street_prefixes'])}|C\.))"
            rf"(?:\s+{_PARTICLE}\s*{_WORD}|\s+{_WORD}){{1,4}}"
            rf"(?:,?\s+(?P<after>\d{{1,4}}[A-Za-z]?(?:/\d{{1,4}})?)(?![\d%.,]\d|[%\w]))?(?:\s+{_UNIT})?{_TAIL}")
        endings = _alternation(g["street_endings"])
        self.compound = re.compile(
            rf"(?<![\w-])(?:(?:[A-ZÀ-Ý][\w'’.]*-)+(?i:{endings})|[A-ZÀ-Ý][\w'’]{{2,}}?(?i:{endings}))"
            rf"\s*(?<=[\s.])\d{{1,4}}[a-zA-Z]?(?:\s?[-/]\s?\d{{1,4}})?(?![\d%]|[.,]\d|\w)(?:\s+{_UNIT})?{_TAIL}")

    def might_contain(self, text: str) -> bool:
        return any(ch.isdigit() for ch in text)

    def find(self, text: str) -> list[Finding]:
        out = []
        for m in self.suffix_first.finditer(text):
            if YEAR_LIST.match(m.group()):
                continue  # "1994-1996, Thomas G. Lane": years before a name, not a house number
            strong = m.group("suffix").rstrip(".") in STRONG_SUFFIXES
            out.append(self._finding(m, 0.85 if strong else 0.6))
        for m in self.prefix_first.finditer(text):
            if m.group("num") or m.group("after"):
                out.append(self._finding(m, 0.8))
            elif m.group("bare"):
                out.append(self._finding(m, 0.55))
        for m in self.compound.finditer(text):
            out.append(self._finding(m, 0.8))
        return out

    def _finding(self, m: re.Match[str], confidence: float) -> Finding:
        if m.group("tail"):
            confidence += 0.1
        end = m.end()
        while end > m.start() and text_strip(m.string[end - 1]):
            end -= 1
        return self.finding(m.start(), end, confidence)


def text_strip(ch: str) -> bool:
    return ch in " ,\n\t"
