"""Payment card numbers: a digit run of card length whose issuer prefix (IIN) fits a card network
and whose check digit passes the Luhn algorithm (``stdnum.luhn``).

Candidates are a single run of 12-19 digits or the groupings printed on cards (4-4-4-4[-3],
Amex 4-6-5, Diners 4-6-4) separated by spaces or hyphens. A number labelled as another kind of
identifier ("order #...", "invoice", "tracking", "ISBN", "ref") is not reported even when it is
Luhn-valid: about one random number in ten passes Luhn, so such labels decide. A card word nearby
("card", "visa", "cc", ...) raises the confidence.
"""

from __future__ import annotations

import re

from stdnum import luhn

from ..findings import CREDIT_CARD, Finding
from .base import Detector, count_digits

CANDIDATE = re.compile(
    r"(?<![\w#.,/-])(?:\d{12,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?|\d{4}([ -])\d{6}\2\d{4,5})(?![\w/-]|[.,]\d)"
)
CARD_CONTEXT = re.compile(r"\b(?:card|credit|debit|visa|master ?card|amex|american express|discover|jcb|diners|"
                          r"maestro|cc|cvv|expir\w*|paid with|payment|karte|carte|tarjeta|carta)\b", re.I)
OTHER_LABEL = re.compile(r"(?:order|invoice|tracking|shipment|parcel|isbn(?:-1[03])?|ean|upc|ref(?:erence)?|serial|sku|"
                         r"item|part|ticket|booking|confirmation|account|acct|customer|member)\s*(?:no\.?|nr\.?|number|id)?"
                         r"\s*[:#]?\s*$|#\s*$", re.I)

# (network, prefix ranges as (low, high) over the first digits, allowed lengths)
NETWORKS = (
    ("VISA", ((4, 4),), (13, 16, 19)),
    ("MASTERCARD", ((51, 55), (2221, 2720)), (16,)),
    ("AMEX", ((34, 34), (37, 37)), (15,)),
    ("DISCOVER", ((6011, 6011), (644, 649), (65, 65), (622126, 622925)), (16, 17, 18, 19)),
    ("JCB", ((3528, 3589),), (16, 17, 18, 19)),
    ("DINERS", ((300, 305), (36, 36), (38, 39)), (14, 15, 16, 17, 18, 19)),
    ("UNIONPAY", ((62, 62),), (16, 17, 18, 19)),
    ("MAESTRO", ((50, 50), (56, 69)), (12, 13, 14, 15, 16, 17, 18, 19)),
)


def network(digits: str) -> str | None:
    """The card network whose IIN ranges and lengths fit ``digits``, or None."""
    for name, ranges, lengths in NETWORKS:
        if len(digits) not in lengths:
            continue
        for low, high in ranges:
            width = len(str(low))
            if low <= int(digits[:width]) <= high:
                return name
    return None


class CardDetector(Detector):
    type = CREDIT_CARD
    name = "luhn+iin"

    def might_contain(self, text: str) -> bool:
        return count_digits(text) >= 12

    def find(self, text: str) -> list[Finding]:
        out = []
        for m in CANDIDATE.finditer(text):
            digits = re.sub(r"\D", "", m.group())
            kind = network(digits)
            if kind is None or not luhn.is_valid(digits):
                continue
            before = text[max(0, m.start() - 30):m.start()]
            if OTHER_LABEL.search(before):
                continue
            confidence = 0.85 if m.group(1) or m.group(2) else 0.7
            if CARD_CONTEXT.search(text[max(0, m.start() - 40):m.start()]):
                confidence = 0.97
            out.append(self.finding(m.start(), m.end(), confidence, subtype=kind))
        return out
