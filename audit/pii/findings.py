"""A piece of personal data found in a text: its type, where it is, and who found it how surely."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: The kinds of personal data the scanner reports.
EMAIL = "EMAIL"
PHONE = "PHONE"
CREDIT_CARD = "CREDIT_CARD"
IBAN = "IBAN"
IP_ADDRESS = "IP_ADDRESS"
URL = "URL"  # a URL whose path or query names a person or an account
NATIONAL_ID = "NATIONAL_ID"  # US SSN, UK NINO, EU identity numbers (the detector names which)
DATE_OF_BIRTH = "DATE_OF_BIRTH"
ADDRESS = "ADDRESS"
PERSON = "PERSON"

TYPES = (EMAIL, PHONE, CREDIT_CARD, IBAN, IP_ADDRESS, URL, NATIONAL_ID, DATE_OF_BIRTH, ADDRESS, PERSON)


@dataclass(frozen=True)
class Finding:
    """``text[start:end]`` is personal data of ``type``, found by ``detector`` with ``confidence`` in [0, 1]."""

    type: str
    start: int
    end: int
    detector: str
    confidence: float
    subtype: str | None = None  # e.g. "US_SSN", "UK_NINO", "DE_ID" for NATIONAL_ID; a phone's region

    def to_dict(self, text: str | None = None, *, raw: bool = False) -> dict[str, Any]:
        """Plain data; the matched characters are included only with ``raw=True`` (an explicit opt-in)."""
        d = asdict(self)
        if raw and text is not None:
            d["value"] = text[self.start:self.end]
        return d
