"""Replace the personal data a scanner found: by typed placeholders, or by keyed pseudonyms.

Placeholder mode writes ``<EMAIL>``, ``<PHONE>``... in place of each value. Pseudonym mode writes
a surrogate of the same kind, derived with HMAC-SHA256 from the user's secret and the value, so

* the same value becomes the same surrogate everywhere in a file (and in every file anonymised
  with the same secret), which keeps co-occurrence patterns the model may need;
* without the secret nobody can recompute a surrogate from a guessed value or go back from a
  surrogate to the value (HMAC is a keyed one-way function);
* the surrogate keeps the shape that matters: a phone number keeps its digit count and
  separators, an e-mail stays an address (at ``example.invalid``, a domain that can never
  exist), an IP address moves into the ranges reserved for documentation, a name becomes a name.

Card numbers keep their length and grouping but are made to *fail* the Luhn check, and IBANs get
the check digits ``00``, which no real IBAN has: a surrogate can never be a real card or account.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from .findings import (ADDRESS, CREDIT_CARD, DATE_OF_BIRTH, EMAIL, IBAN, IP_ADDRESS, NATIONAL_ID, PERSON, PHONE, URL,
                       Finding)

MODES = ("placeholder", "pseudonym")
MIN_SECRET_BYTES = 16
SECRET_HELP = ("give a secret of at least 16 characters with --secret-file PATH (a file holding it) or the "
               "AUDIT_PII_SECRET environment variable")

FIRST_NAMES = ("Alex", "Robin", "Sam", "Jordan", "Morgan", "Casey", "Taylor", "Jamie", "Riley", "Quinn", "Avery",
               "Charlie", "Dana", "Emery", "Finley", "Harper", "Kai", "Logan", "Noel", "Parker", "Reese", "Rowan",
               "Sasha", "Skyler")
SURNAMES = ("Smith", "Garcia", "Novak", "Okafor", "Larsen", "Moreau", "Tanaka", "Kowalski", "Silva", "Fischer",
            "Nguyen", "Rossi", "Haddad", "Jensen", "Costa", "Murphy", "Ivanova", "Kim", "Mendes", "Brennan")
HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "herr", "frau", "mme", "mlle", "m", "sig",
                        "sig.ra", "sr", "sra", "srta", "dhr", "mevr"})
STREETS = ("Maple", "Station", "Church", "Mill", "Park", "Orchard", "Bridge", "Harbour", "Willow", "Chapel")
STREET_KINDS = ("Street", "Road", "Lane", "Avenue")
#: Address blocks reserved for documentation (RFC 5737, RFC 3849): never routed to anyone.
DOC_NETS_V4 = ("192.0.2", "198.51.100", "203.0.113")


def placeholder(kind: str) -> str:
    return f"<{kind}>"


def resolve_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """Non-overlapping findings in text order: where two overlap the earlier, then the longer,
    then the more confident one wins."""
    ordered = sorted(findings, key=lambda f: (f.start, -(f.end - f.start), -f.confidence))
    out: list[Finding] = []
    for f in ordered:
        if f.end <= f.start:
            continue
        if out and f.start < out[-1].end:
            continue
        out.append(f)
    return out


def mask(text: str, findings: Iterable[Finding]) -> str:
    """``text`` with every finding replaced by its typed placeholder."""
    return replace_spans(text, resolve_overlaps(findings), lambda f, value: placeholder(f.type))


def replace_spans(text: str, spans: Sequence[Finding], make: Any) -> str:
    parts, pos = [], 0
    for f in spans:
        parts.append(text[pos:f.start])
        parts.append(make(f, text[f.start:f.end]))
        pos = f.end
    parts.append(text[pos:])
    return "".join(parts)


def _as_key(secret: str | bytes | None) -> bytes | None:
    if secret is None:
        return None
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    key = key.strip()
    return key or None


@dataclass
class Anonymiser:
    """Rewrites texts given the scanner's findings. ``mode`` is ``"placeholder"`` or ``"pseudonym"``
    (the latter needs ``secret``: a str or bytes of at least :data:`MIN_SECRET_BYTES`)."""

    mode: str = "placeholder"
    secret: str | bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"anonymisation mode must be one of {MODES}, got {self.mode!r}")
        key = _as_key(self.secret)
        if self.mode == "pseudonym":
            if key is None:
                raise ValueError(f"pseudonym mode needs a secret: {SECRET_HELP}")
            if len(key) < MIN_SECRET_BYTES:
                raise ValueError(f"the pseudonym secret is {len(key)} bytes long; {SECRET_HELP}")
        self._key = key
        self._cache: dict[tuple[str, str], str] = {}

    def anonymise(self, text: str, findings: Iterable[Finding]) -> tuple[str, list[dict[str, Any]]]:
        """The new text and one change per replaced span (type, subtype, detector and the old and
        new positions; never the value)."""
        spans = resolve_overlaps(findings)
        changes: list[dict[str, Any]] = []
        offset = 0

        def make(f: Finding, value: str) -> str:
            nonlocal offset
            new = self.surrogate(f.type, value, f.subtype)
            start = f.start + offset
            changes.append({"type": f.type, "subtype": f.subtype, "detector": f.detector, "start": f.start, "end": f.end,
                            "new_start": start, "new_end": start + len(new)})
            offset += len(new) - (f.end - f.start)
            return new

        return replace_spans(text, spans, make), changes

    def surrogate(self, kind: str, value: str, subtype: str | None = None) -> str:
        """What ``value`` (personal data of type ``kind``) is replaced by."""
        if self.mode == "placeholder":
            return placeholder(kind)
        key = (kind, _normalise(kind, value))
        if key not in self._cache:
            self._cache[key] = self._pseudonym(kind, value, subtype, key[1])
        return self._cache[key]

    # -- pseudonyms --------------------------------------------------------------------------

    def _stream(self, kind: str, norm: str, attempt: int) -> bytes:
        """A keyed pseudo-random byte stream for one value (HMAC-SHA256 in counter mode)."""
        assert self._key is not None
        out = b""
        block = 0
        while len(out) < 64:
            msg = f"{kind}\x00{attempt}\x00{block}\x00{norm}".encode("utf-8")
            out += hmac.new(self._key, msg, hashlib.sha256).digest()
            block += 1
        return out

    def _pseudonym(self, kind: str, value: str, subtype: str | None, norm: str) -> str:
        for attempt in range(8):
            stream = self._stream(kind, norm, attempt)
            new = _MAKERS.get(kind, _other)(value, stream, subtype, kind)
            if _normalise(kind, new) != norm:  # never hand back the value itself
                return new
        return placeholder(kind)


def _normalise(kind: str, value: str) -> str:
    """The form under which two spellings of one value count as the same value."""
    v = value.strip()
    if kind in (PHONE, CREDIT_CARD):
        return re.sub(r"\D", "", v)
    if kind in (IBAN, NATIONAL_ID):
        return re.sub(r"[\s.-]", "", v).upper()
    if kind in (EMAIL, PERSON, URL, ADDRESS):
        return " ".join(v.casefold().split())
    return v


def _pick(seq: Sequence[str], stream: bytes, at: int) -> str:
    return seq[int.from_bytes(stream[at:at + 4], "big") % len(seq)]


def _reshape(value: str, stream: bytes, start: int = 0) -> str:
    """Every digit replaced by a keyed digit, every letter by a keyed letter of the same case; the
    rest (separators, '+', spaces) kept."""
    out = []
    for i, ch in enumerate(value):
        b = stream[(start + i) % len(stream)] ^ (i // len(stream))
        if ch.isdigit():
            out.append(str(b % 10))
        elif ch.isascii() and ch.isalpha():
            c = chr(ord("a") + b % 26)
            out.append(c.upper() if ch.isupper() else c)
        else:
            out.append(ch)
    return "".join(out)


def _email(value: str, stream: bytes, subtype: str | None, kind: str) -> str:
    return f"user-{stream[:3].hex()}@example.invalid"


def _phone(value: str, stream: bytes, subtype: str | None, kind: str) -> str:
    new = _reshape(value, stream)
    # keep a leading "+" or "0" as written: they say how the number is dialled, not who has it
    first = next((i for i, c in enumerate(value) if c.isdigit()), None)
    if first is not None and value[first] == "0":
        new = new[:first] + "0" + new[first + 1:]
    elif first is not None and new[first] == "0":
        new = new[:first] + str(1 + stream[40] % 9) + new[first + 1:]
    return new


def _luhn_check_digit(payload: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def _card(value: str, stream: bytes, subtype: str | None, kind: str) -> str:
    new = _reshape(value, stream)
    positions = [i for i, c in enumerate(new) if c.isdigit()]
    if not positions:
        return placeholder(kind)
    digits = "".join(new[i] for i in positions)
    valid = _luhn_check_digit(digits[:-1])
    wrong = (valid + 1 + stream[41] % 9) % 10  # any digit but the valid one: never a real card number
    last = positions[-1]
    return new[:last] + str(wrong) + new[last + 1:]


def _iban(value: str, stream: bytes, subtype: str | None, kind: str) -> str:
    new = list(_reshape(value, stream))
    letters = [i for i, c in enumerate(value) if c.isalnum()]
    # the country code stays; check digits "00" never pass the ISO 13616 check
    for j, i in enumerate(letters[:4]):
        new[i] = value[i] if j < 2 else "0"
    return "".join(new)


def _ip(value: str, stream: bytes, subtype: str | None, kind: str) -> str:
    if ":" in value:
        return f"2001:db8::{stream[0]:x}{stream[1]:02x}:{stream[2]:x}{stream[3]:02x}"
    return f"{_pick(DOC_NETS_V4, stream, 0)}.{1 + stream[4] % 254}"


def _url(value: str, stream: bytes, subtype: str | None, kind: str) -> str:
    scheme = "http" if value.lower().startswith("http://") else "https"
    return f"{scheme}://example.invalid/u-{stream[:4].hex()}"


def _national_id(value: str, stream: bytes, subtype: str | None, kind: str) -> str:
    new = _reshape(value, stream)
    if subtype == "US_SSN" and new[:1].isdigit():
        new = "9" + new[1:]  # area numbers 900-999 are never issued
    return new


def _date(value: str, stream: bytes, subtype: str | None, kind: str) -> str:
    """Numbers of the date redrawn within plausible ranges; words (month names) and separators kept."""
    runs = list(re.finditer(r"\d+", value))
    parts, pos = [], 0
    for k, m in enumerate(runs):
        s = m.group()
        b = int.from_bytes(stream[4 * k:4 * k + 4], "big")
        if len(s) == 4:
            new = str(1940 + b % 66)
        elif len(s) <= 2 and int(s) <= 12:
            new = str(1 + b % 12)
        elif len(s) <= 2:
            new = str(13 + b % 16)
        else:
            new = _reshape(s, stream, 4 * k)
        if len(s) == 2 and len(new) == 1:
            new = "0" + new
        parts.append(value[pos:m.start()])
        parts.append(new)
        pos = m.end()
    parts.append(value[pos:])
    return "".join(parts)


def _address(value: str, stream: bytes, subtype: str | None, kind: str) -> str:
    return f"{1 + stream[0] % 199} {_pick(STREETS, stream, 4)} {_pick(STREET_KINDS, stream, 8)}"


def _person(value: str, stream: bytes, subtype: str | None, kind: str) -> str:
    """A first name, then one surname per further word; a leading title ("Dr", "Mrs.") is kept."""
    words = value.split()
    titles = []
    while len(words) > 1 and words[0].rstrip(".").casefold() in HONORIFICS:
        titles.append(words.pop(0))
    names = [_pick(FIRST_NAMES, stream, 0)] + [_pick(SURNAMES, stream, 4 + 4 * i) for i in range(max(0, len(words) - 1))]
    if value.isupper() and len(value) > 1:
        names = [n.upper() for n in names]
    return " ".join(titles + names)


def _other(value: str, stream: bytes, subtype: str | None, kind: str) -> str:
    return f"<{kind}-{stream[:3].hex()}>"


_MAKERS = {EMAIL: _email, PHONE: _phone, CREDIT_CARD: _card, IBAN: _iban, IP_ADDRESS: _ip, URL: _url,
           NATIONAL_ID: _national_id, DATE_OF_BIRTH: _date, ADDRESS: _address, PERSON: _person}


def anonymise_texts(texts: Sequence[Any], scanner: Any, anonymiser: Anonymiser, *,
                    show_progress: bool = False) -> tuple[list[Any], dict[str, Any]]:
    """Scan and rewrite ``texts`` (non-strings pass through unchanged); the summary counts what
    changed per type and holds no value."""
    idx = [i for i, t in enumerate(texts) if isinstance(t, str) and t]
    found = scanner.scan_many([texts[i] for i in idx], show_progress=show_progress) if idx else []
    out = list(texts)
    counts: Counter[str] = Counter()
    rows = 0
    for i, findings in zip(idx, found):
        new, changes = anonymiser.anonymise(texts[i], findings)
        if changes:
            rows += 1
            counts.update(c["type"] for c in changes)
        out[i] = new
    return out, {"mode": anonymiser.mode, "n_texts": len(texts), "n_texts_changed": rows,
                 "replacements": dict(sorted(counts.items())), "n_replacements": sum(counts.values())}
