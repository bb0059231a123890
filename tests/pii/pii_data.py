"""A small labelled file with personal data planted at known rows, for the scan and anonymise tests."""

from __future__ import annotations

import csv
from pathlib import Path

EMAILS = ["maria.keller@example.com", "j.okafor@mailbox.org", "maria.keller@example.com"]
PHONES = ["+44 20 7946 0958", "+1 415-555-2671"]
CARD = "4111 1111 1111 1111"  # Luhn-valid test number
IBAN_VALUE = "GB82 WEST 1234 5698 7654 32"

ROWS = [
    (f"Great service, write to me at {EMAILS[0]} anytime.", "positive", "ok"),
    ("The product broke after two days.", "negative", "ok"),
    (f"Call me on {PHONES[0]} about the refund.", "negative", f"contact {EMAILS[1]}"),
    (f"Paid with card {CARD} and it worked.", "positive", "ok"),
    ("Lovely colours and fast delivery.", "positive", "ok"),
    (f"Refund to {IBAN_VALUE} please, it was awful.", "negative", "ok"),
    (f"Same person again: {EMAILS[2]} or {PHONES[1]}.", "positive", "ok"),
    ("Nothing personal in this one at all.", "negative", "ok"),
]
#: What the text column holds, by type (the note column holds one more e-mail).
PLANTED = {"EMAIL": 2, "PHONE": 2, "CREDIT_CARD": 1, "IBAN": 1}
PLANTED_ROWS = 5
TEXT_VALUES = [EMAILS[0]] + PHONES + [CARD, IBAN_VALUE]
RAW_VALUES = TEXT_VALUES + [EMAILS[1]]


def write_csv(path: Path, rows=ROWS) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label", "note"])
        w.writerows(rows)
    return path


def raw_fragments(value: str) -> list[str]:
    """The value and its digits-only form (a value may be re-spaced but must not reappear)."""
    digits = "".join(c for c in value if c.isdigit())
    return [value] + ([digits] if len(digits) >= 7 else [])
