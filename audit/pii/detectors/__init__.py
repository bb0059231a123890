"""One detector per kind of personal data, all behind the interface of ``base.Detector``
(``type``, ``name``, ``might_contain(text)``, ``find(text) -> list[Finding]``).

``DETECTORS`` maps each finding type to the class of its pattern detector; ``build(types)``
returns fresh instances. The optional model-based detector (``NerDetector``) is added by the
scanner when a model directory is given.
"""

from __future__ import annotations

from ..findings import (ADDRESS, CREDIT_CARD, DATE_OF_BIRTH, EMAIL, IBAN, IP_ADDRESS, NATIONAL_ID, PERSON, PHONE,
                        TYPES, URL)
from .address import AddressDetector
from .base import Detector
from .card import CardDetector
from .dob import DobDetector
from .email import EmailDetector
from .iban import IbanDetector
from .ip import IpDetector
from .national_id import NationalIdDetector
from .ner import NerDetector
from .person import PersonDetector
from .phone import PhoneDetector
from .url import UrlDetector

DETECTORS: dict[str, type[Detector]] = {
    EMAIL: EmailDetector,
    PHONE: PhoneDetector,
    CREDIT_CARD: CardDetector,
    IBAN: IbanDetector,
    IP_ADDRESS: IpDetector,
    URL: UrlDetector,
    NATIONAL_ID: NationalIdDetector,
    DATE_OF_BIRTH: DobDetector,
    ADDRESS: AddressDetector,
    PERSON: PersonDetector,
}
assert set(DETECTORS) == set(TYPES)


def build(types=None) -> list[Detector]:
    """Fresh detectors for ``types`` (all when None); an unknown type is an error naming the known ones."""
    wanted = list(TYPES) if types is None else list(types)
    unknown = [t for t in wanted if t not in DETECTORS]
    if unknown:
        raise ValueError(f"unknown personal-data types {unknown}; known: {list(TYPES)}")
    return [DETECTORS[t]() for t in dict.fromkeys(wanted)]


__all__ = ["DETECTORS", "Detector", "NerDetector", "build"]
