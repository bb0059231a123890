"""Personal data in training text: find it (:class:`PIIScanner`), measure it (:func:`scan_dataset`,
the ``personal_data`` section of results.json) and replace it (:class:`Anonymiser`).

See docs/personal-data.md for what is detected, the raw-value opt-in and the anonymisation modes.
"""

from __future__ import annotations

from typing import Any

from .analysis import check, library_versions, scan_dataset, scanner_config
from .anonymise import MODES, Anonymiser, anonymise_texts, mask, resolve_overlaps
from .findings import (ADDRESS, CREDIT_CARD, DATE_OF_BIRTH, EMAIL, IBAN, IP_ADDRESS, NATIONAL_ID, PERSON, PHONE, TYPES, URL,
                       Finding)

__all__ = [
    "PIIScanner", "Finding", "TYPES", "EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "IP_ADDRESS", "URL", "NATIONAL_ID",
    "DATE_OF_BIRTH", "ADDRESS", "PERSON", "scan_dataset", "scanner_config", "library_versions", "check",
    "Anonymiser", "MODES", "anonymise_texts", "mask", "resolve_overlaps",
]


def __getattr__(name: str) -> Any:  # the scanner loads its detectors' libraries only when asked for
    if name == "PIIScanner":
        from .scanner import PIIScanner

        return PIIScanner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
