"""Telephone numbers, found and validated by libphonenumber (the ``phonenumbers`` package).

A cheap regex first picks digit runs that could be a number (seven or more digits with the usual
separators); only those windows go through ``PhoneNumberMatcher`` with leniency ``VALID``:
numbers written with an international prefix (``+CC`` or ``00CC``) are accepted for any
country, national numbers are tried against ``regions`` in order and the first region that
validates the number wins (``subtype`` is the region of the number).
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher

from ..findings import PHONE, Finding
from .base import Detector, count_digits, has_context

DEFAULT_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "IN", "BR", "JP", "AU")
CANDIDATE = re.compile(r"(?<![\w+])(?:\+|00)?\(?\d[\d \t().\-/]{5,22}\d")
PHONE_CONTEXT = re.compile(r"\b(?:tel|phone|call|cell|mobile|mob|whats ?app|fax|sms|text|ring|reach|contact|"
                           r"telefon|téléphone|portable|móvil|telefono|cellulare|bel)\w*", re.I)
# Numbers labelled as something other than a phone number are not reported.
OTHER_LABEL = re.compile(r"(?:(?:isbn(?:-1[03])?|order|invoice|tracking|ref(?:erence)?|serial|sku|item|part|"
                         r"account|acct|iban|card|ticket|booking|customer|build|version|release)(?:\s*(?:no\.?|nr\.?|number|id))?|no\.|nr\.?|#)"
                         r"\s*[:#]?\s*$", re.I)
EXTENSION = re.compile(r"[ \t]*(?:x|ext\.?|extension|#)[ \t]*\d{1,6}(?!\d)", re.I)
ZIP4 = re.compile(r"\d{5}-\d{4}")
DOTTED_QUAD = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


class PhoneDetector(Detector):
    type = PHONE
    name = "phonenumbers"

    def __init__(self, regions: tuple[str, ...] = DEFAULT_REGIONS):
        unknown = [r for r in regions if r not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(f"phone regions not known to libphonenumber: {unknown}")
        self.regions = tuple(regions)
        self._shapes = {r: _RegionShape(r) for r in self.regions}

    def might_contain(self, text: str) -> bool:
        return count_digits(text) >= 7

    def find(self, text: str) -> list[Finding]:
        out: list[Finding] = []
        for m in CANDIDATE.finditer(text):
            if count_digits(m.group()) < 7 or OTHER_LABEL.search(text[max(0, m.start() - 24):m.start()]):
                continue
            if DOTTED_QUAD.fullmatch(m.group().strip()) or ZIP4.fullmatch(m.group().strip()):
                continue  # an IPv4 address or a US ZIP+4 code, not a phone number
            out.extend(self._match_window(text, m.start(), m.end()))
        return out

    def _match_window(self, text: str, start: int, end: int) -> list[Finding]:
        # A little context on each side lets the matcher reject timestamps, dates and numbers glued to letters.
        ext = EXTENSION.match(text, end)
        lo, hi = max(0, start - 2), min(len(text), (ext.end() if ext else end) + 4)
        window = text[lo:hi]
        if text[start] == "+":
            return [f for f, _ in self._matches(text, window, lo, start, end, "ZZ")]
        # A national number may be valid in several regions: prefer the reading that covers most of
        # the digits, then a region whose own way of writing it matches the digit groups in the text
        # ("06 27 63 17 06" is French, not German), then the earlier region.
        digits = _NON_DIGITS.sub("", text[start:end])
        best, best_key = [], None
        for rank, region in enumerate(self.regions):
            if not self._shapes[region].fits(digits):
                continue
            found = self._matches(text, window, lo, start, end, region)
            if not found:
                continue
            key = (sum(f.end - f.start for f, _ in found), _grouped_as_written(text, found, region), -rank)
            if best_key is None or key > best_key:
                best, best_key = [f for f, _ in found], key
        return best

    def _matches(self, text, window, lo, start, end, region):
        return [
            (self._to_finding(text, lo + m.start, lo + m.end, m.number), m.number)
            for m in PhoneNumberMatcher(window, region, leniency=Leniency.VALID)
            if lo + m.start < end and lo + m.end > start and not _inside_dotted_number(text, lo + m.start)
        ]

    def _to_finding(self, text: str, start: int, end: int, number) -> Finding:
        if text[start] == "(" and ")" not in text[start:end]:
            start += 1  # an opening bracket of the sentence, not of an area code
        confidence = 0.9 if text[start] == "+" else 0.8
        if has_context(text, start, end, PHONE_CONTEXT, before=30):
            confidence += 0.08
        return self.finding(start, end, confidence, subtype=phonenumbers.region_code_for_number(number))


_NON_DIGITS = re.compile(r"\D+")


def _inside_dotted_number(text: str, start: int) -> bool:
    """Whether a match starts right after "<digit>." or "<digit>," (the tail of 10.0.16869 or 1,234)."""
    return start >= 2 and text[start - 1] in ".," and text[start - 2].isdigit()


class _RegionShape:
    """A quick test, from libphonenumber's own metadata, of whether a digit string can be a
    national number of a region (its lengths and number pattern, after the trunk prefix), so the
    full matcher runs only for regions where it can succeed."""

    def __init__(self, region: str):
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        self.prefix = meta.national_prefix or ""
        self.lengths = set(meta.general_desc.possible_length)
        self.pattern = re.compile(meta.general_desc.national_number_pattern)
        self.idd = re.compile(meta.international_prefix) if meta.international_prefix else None

    def fits(self, digits: str) -> bool:
        if self.idd is not None and self.idd.match(digits):
            return True  # an international call prefix: leave it to the matcher
        options = [digits]
        if self.prefix and digits.startswith(self.prefix):
            options.append(digits[len(self.prefix):])
        return any(len(d) in self.lengths and self.pattern.fullmatch(d) for d in options)


def _grouped_as_written(text: str, found, region: str) -> bool:
    """Whether the region's national format of the number splits its digits as the text does."""
    finding, number = found[0]
    if text[finding.start] == "+":
        return True
    written = _NON_DIGITS.split(text[finding.start:finding.end].strip("()"))
    formatted = _NON_DIGITS.split(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL).strip("()"))
    return [g for g in written if g] == [g for g in formatted if g]
