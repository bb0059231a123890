"""Text perturbations: word segmentation, keyboard typos and single-character edits, case and
punctuation changes, contractions, and name / gender / nationality swaps.

Everything here is pure Python and deterministic given the ``random.Random`` passed in, so the
invariance tests and the attacks repeat exactly for a given seed.
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Sequence

from .wordlists import CONTRACTIONS, COUNTRIES, GENDER_PAIRS, NAMES, NATIONALITIES

#: A word: letters, optionally joined by apostrophes ("didn't", "Priya's"). Digits and
#: punctuation are not part of words and are never edited.
WORD_RE = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*")

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _keyboard() -> dict[str, str]:
    """QWERTY neighbours of each lower-case letter (left/right, and the staggered rows above/below)."""
    where = {c: (r, i) for r, row in enumerate(_ROWS) for i, c in enumerate(row)}
    out = {}
    for c, (r, i) in where.items():
        near = []
        for rr, ii in ((r, i - 1), (r, i + 1), (r - 1, i), (r - 1, i + 1), (r + 1, i - 1), (r + 1, i)):
            if 0 <= rr < len(_ROWS) and 0 <= ii < len(_ROWS[rr]):
                near.append(_ROWS[rr][ii])
        out[c] = "".join(near)
    return out


KEYBOARD_NEIGHBOURS: dict[str, str] = _keyboard()
CHAR_EDIT_KINDS = ("swap", "delete", "substitute", "insert")


def word_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the words of ``text`` (see :data:`WORD_RE`)."""
    return [m.span() for m in WORD_RE.finditer(text)]


def match_case(template: str, word: str) -> str:
    """``word`` written with the capitalisation pattern of ``template`` (upper, title or lower)."""
    if len(template) > 1 and template.isupper():
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


class WordView:
    """A text cut into alternating non-word / word pieces, so single words can be replaced."""

    def __init__(self, text: str) -> None:
        self.pieces: list[str] = []
        self.word_pieces: list[int] = []
        pos = 0
        for a, b in word_spans(text):
            self.pieces.append(text[pos:a])
            self.word_pieces.append(len(self.pieces))
            self.pieces.append(text[a:b])
            pos = b
        self.pieces.append(text[pos:])

    def __len__(self) -> int:
        return len(self.word_pieces)

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def word(self, j: int) -> str:
        return self.pieces[self.word_pieces[j]]

    def words(self) -> list[str]:
        return [self.pieces[k] for k in self.word_pieces]

    def span(self, j: int) -> tuple[int, int]:
        start = sum(len(p) for p in self.pieces[: self.word_pieces[j]])
        return start, start + len(self.word(j))

    def replaced(self, j: int, new: str) -> str:
        """The text with word ``j`` replaced by ``new`` (the view itself is unchanged)."""
        k = self.word_pieces[j]
        return "".join(self.pieces[:k]) + new + "".join(self.pieces[k + 1 :])

    def replace(self, j: int, new: str) -> None:
        self.pieces[self.word_pieces[j]] = new

    def copy(self) -> "WordView":
        other = WordView.__new__(WordView)
        other.pieces = list(self.pieces)
        other.word_pieces = list(self.word_pieces)
        return other


@dataclass(frozen=True)
class CharEdit:
    """One keyboard-typo edit of a word: ``kind`` at character ``position`` (``char`` for
    substitutions and insertions)."""

    kind: str
    position: int
    char: str = ""

    def apply(self, word: str) -> str:
        i = self.position
        if self.kind == "swap":
            return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        if self.kind == "delete":
            return word[:i] + word[i + 1 :]
        if self.kind == "substitute":
            return word[:i] + self.char + word[i + 1 :]
        if self.kind == "insert":
            return word[:i] + self.char + word[i:]
        raise ValueError(f"unknown character edit {self.kind!r}")


def _same_case(ref: str, c: str) -> str:
    return c.upper() if ref.isupper() else c


def char_edits(word: str, keep_ends: bool = False) -> list[CharEdit]:
    """Every single keyboard-typo edit of ``word``: swap two adjacent letters, delete a letter,
    substitute a QWERTY neighbour, or insert a neighbour of (or a copy of) an adjacent letter.

    With ``keep_ends`` the first and last letters are never touched (the threat model of
    typo-correcting readers). Edits that give back the same word are left out.
    """
    n = len(word)
    lo, hi = (1, n - 1) if keep_ends else (0, n)
    seen: set[str] = {word}
    out: list[CharEdit] = []

    def add(edit: CharEdit) -> None:
        new = edit.apply(word)
        if new not in seen and new:
            seen.add(new)
            out.append(edit)

    for i in range(lo, hi - 1):
        if word[i] != word[i + 1]:
            add(CharEdit("swap", i))
    for i in range(lo, hi):
        add(CharEdit("delete", i))
    for i in range(lo, hi):
        for c in KEYBOARD_NEIGHBOURS.get(word[i].lower(), ""):
            add(CharEdit("substitute", i, _same_case(word[i], c)))
    for i in range(max(lo, 1) if keep_ends else lo, (hi if keep_ends else n) + 1):
        near: list[str] = []
        for j in (i - 1, i):
            if 0 <= j < n:
                near.append(word[j].lower())
                near.extend(KEYBOARD_NEIGHBOURS.get(word[j].lower(), ""))
        ref = word[min(max(i - 1, 0), n - 1)]
        for c in dict.fromkeys(near):
            if c.isalpha():  # never insert an apostrophe: the word must stay one word
                add(CharEdit("insert", i, _same_case(ref, c)))
    return out


def sample_char_edits(word: str, k: int, rng: random.Random, keep_ends: bool = False) -> list[CharEdit]:
    """At most ``k`` edits of ``word``, spread over the four kinds (round robin over a seeded
    shuffle of each kind), so a small per-word budget still tries every kind of typo."""
    edits = char_edits(word, keep_ends)
    if len(edits) <= k:
        return edits
    by_kind = {kind: [e for e in edits if e.kind == kind] for kind in CHAR_EDIT_KINDS}
    for v in by_kind.values():
        rng.shuffle(v)
    out: list[CharEdit] = []
    while len(out) < k:
        for kind in CHAR_EDIT_KINDS:
            if by_kind[kind] and len(out) < k:
                out.append(by_kind[kind].pop())
    return out


def random_typo(word: str, rng: random.Random) -> str:
    """``word`` with one random keyboard typo (used by the typo invariance tests)."""
    edits = char_edits(word)
    return rng.choice(edits).apply(word) if edits else word


def add_typos(text: str, rate: float, rng: random.Random, min_word_length: int = 3) -> str:
    """``text`` with ``max(1, round(rate * letters))`` keyboard typos in distinct words.

    ``letters`` counts the letters of words of at least ``min_word_length`` letters; the rate is
    the share of those letters that get a typo. Returns the text unchanged when no word is long
    enough.
    """
    view = WordView(text)
    eligible = [j for j in range(len(view)) if len(view.word(j)) >= min_word_length]
    if not eligible:
        return text
    letters = sum(len(view.word(j)) for j in eligible)
    n = min(len(eligible), max(1, round(rate * letters)))
    for j in sorted(rng.sample(eligible, n)):
        view.replace(j, random_typo(view.word(j), rng))
    return view.text


# --- case and punctuation -----------------------------------------------------------------------


def title_case(text: str) -> str:
    """Every word capitalised, the rest of it lower case ("wasn't" -> "Wasn't")."""
    return WORD_RE.sub(lambda m: m.group()[0].upper() + m.group()[1:].lower(), text)


def strip_punctuation(text: str) -> str:
    """``text`` without punctuation (apostrophes inside words are kept); spaces collapsed."""
    keep = {m.start() + i for m in WORD_RE.finditer(text) for i, c in enumerate(m.group()) if c in "'\u2019"}
    out = "".join(c for i, c in enumerate(text) if i in keep or not unicodedata.category(c).startswith("P"))
    return re.sub(r"[ \t]{2,}", " ", out).strip()


# --- contractions ---------------------------------------------------------------------------------


def _phrase_re(phrase: str) -> re.Pattern[str]:
    parts = [re.escape(p).replace("'", "['\u2019]") for p in phrase.split()]
    return re.compile(r"(?<![\w'\u2019])" + r"\s+".join(parts) + r"(?![\w'\u2019])", re.IGNORECASE)


_CONTRACT = [(_phrase_re(long), short) for short, long in CONTRACTIONS]
_EXPAND = [(_phrase_re(short), long) for short, long in CONTRACTIONS]


def _sub_cased(pattern: re.Pattern[str], repl: str, text: str) -> str:
    def fix(m: re.Match[str]) -> str:
        src = m.group()
        out = repl
        if src[:1].isupper():
            out = out[:1].upper() + out[1:]
        if out.startswith("i ") or out.startswith("i'") or out == "i":
            out = "I" + out[1:]
        return out

    return pattern.sub(fix, text)


def contract(text: str) -> str:
    """Replace expanded forms by contractions ("was not" -> "wasn't")."""
    for pattern, short in _CONTRACT:
        text = _sub_cased(pattern, short, text)
    return text


def expand(text: str) -> str:
    """Replace contractions by their expanded forms ("wasn't" -> "was not")."""
    for pattern, long in _EXPAND:
        text = _sub_cased(pattern, long, text)
    return text


# --- names, gender, nationality -------------------------------------------------------------------

NAME_INDEX: dict[str, tuple[str, str]] = {
    name: (gender, origin) for gender, by_origin in NAMES.items() for origin, names in by_origin.items() for name in names
}
_GENDER_SWAP: dict[str, str] = {}
for _a, _b in GENDER_PAIRS:
    _GENDER_SWAP.setdefault(_a, _b)
    _GENDER_SWAP.setdefault(_b, _a)


def _split_possessive(word: str) -> tuple[str, str]:
    for suffix in ("'s", "\u2019s"):
        if word.endswith(suffix) and len(word) > len(suffix):
            return word[: -len(suffix)], word[-len(suffix) :]
    return word, ""


def find_names(text: str) -> list[tuple[int, str, str, str]]:
    """(word index, name, gender, origin) of every shipped person name in ``text``."""
    out = []
    for j, w in enumerate(WordView(text).words()):
        base, _ = _split_possessive(w)
        if base in NAME_INDEX:
            out.append((j, base, *NAME_INDEX[base]))
    return out


def _swap_names(text: str, pick: "callable", rng: random.Random) -> str | None:
    view = WordView(text)
    found = find_names(text)
    if not found:
        return None
    chosen: dict[str, str] = {}
    for j, name, gender, origin in found:
        if name not in chosen:
            chosen[name] = pick(name, gender, origin, rng)
        _, suffix = _split_possessive(view.word(j))
        view.replace(j, chosen[name] + suffix)
    return view.text


def _names(gender: str | None = None, origin: str | None = None, not_origin: str | None = None) -> list[str]:
    return [n for n, (g, o) in NAME_INDEX.items()
            if (gender is None or g == gender) and (origin is None or o == origin) and (not_origin is None or o != not_origin)]


def swap_name(text: str, rng: random.Random) -> str | None:
    """Each person name replaced by another shipped name (any gender, any origin)."""
    return _swap_names(text, lambda name, g, o, r: r.choice([n for n in _names() if n != name]), rng)


def swap_origin(text: str, rng: random.Random) -> str | None:
    """Each person name replaced by a name of the same gender from another cultural origin."""
    return _swap_names(text, lambda name, g, o, r: r.choice(_names(gender=g, not_origin=o)), rng)


def swap_gender(text: str, rng: random.Random) -> str | None:
    """Names replaced by a name of the other gender and the same origin; gendered words swapped
    (he <-> she, husband <-> wife, ...). ``None`` when the text has neither."""
    other = {"female": "male", "male": "female"}
    swapped = _swap_names(text, lambda name, g, o, r: r.choice(_names(gender=other[g], origin=o)), rng)
    view = WordView(swapped if swapped is not None else text)
    changed = swapped is not None
    for j, w in enumerate(view.words()):
        base, suffix = _split_possessive(w)
        new = _GENDER_SWAP.get(base.lower())
        if new is not None:
            view.replace(j, match_case(base, new) + suffix)
            changed = True
    return view.text if changed else None


def swap_nationality(text: str, rng: random.Random) -> str | None:
    """Nationality adjectives and country names replaced by another of the same kind."""
    view = WordView(text)
    changed = False
    for j, w in enumerate(view.words()):
        base, suffix = _split_possessive(w)
        for pool in (NATIONALITIES, COUNTRIES):
            if base in pool:
                view.replace(j, rng.choice([x for x in pool if x != base]) + suffix)
                changed = True
                break
    return view.text if changed else None


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions) between two strings."""
    if a == b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def changed_words(a: Sequence[str], b: Sequence[str]) -> int:
    """Number of positions where two equally long word lists differ."""
    return sum(x != y for x, y in zip(a, b)) + abs(len(a) - len(b))


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


__all__ = [
    "WORD_RE", "KEYBOARD_NEIGHBOURS", "CHAR_EDIT_KINDS", "WordView", "CharEdit", "word_spans", "match_case",
    "char_edits", "sample_char_edits", "random_typo", "add_typos", "title_case", "strip_punctuation",
    "contract", "expand", "find_names", "swap_name", "swap_origin", "swap_gender", "swap_nationality",
    "levenshtein", "changed_words", "NAME_INDEX",
]
