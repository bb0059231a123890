"""The shipped synonym / antonym lexicon (derived from WordNet 3.0) and the polarity list.

The lexicon (``audit/resources/wordnet_lexicon.json.gz``, built by ``tools/build_lexicon.py``)
holds, for about 12,000 common English words, their synonyms per part of speech and their
antonyms. Inflected forms ("loved", "films", "boring") are looked up through their lemma and the
synonyms are inflected back. :meth:`Lexicon.flags` says why replacing one word by another
would change the meaning (antonym, polarity flip, polarity change, negation), which is how
adversarial examples such as good -> bad are kept out of the counts.
"""

from __future__ import annotations

import functools
import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .wordlists import NEGATIVE_WORDS, NEGATORS, POSITIVE_WORDS, STOPWORDS

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
LEXICON_PATH = RESOURCES / "wordnet_lexicon.json.gz"
POS_ORDER = ("a", "v", "n", "r")

#: Validity flags, from the most to the least severe.
FLAGS = ("antonym", "polarity_flip", "negation", "polarity_change")


def _plural(w: str) -> str:
    if w.endswith("y") and len(w) > 1 and w[-2] not in "aeiou":
        return w[:-1] + "ies"
    if w.endswith(("s", "x", "z", "ch", "sh")):
        return w + "es"
    return w + "s"


def _doubles(w: str) -> bool:
    """Short consonant-vowel-consonant verbs double the final consonant (stop -> stopped)."""
    v = "aeiou"
    return 2 < len(w) <= 4 and w[-1] not in v + "wxy" and w[-2] in v and w[-3] not in v


def _past(w: str) -> str:
    if _doubles(w):
        return w + w[-1] + "ed"
    if w.endswith("e"):
        return w + "d"
    if w.endswith("y") and len(w) > 1 and w[-2] not in "aeiou":
        return w[:-1] + "ied"
    return w + "ed"


def _gerund(w: str) -> str:
    if _doubles(w):
        return w + w[-1] + "ing"
    if w.endswith("ie"):
        return w[:-2] + "ying"
    if w.endswith("e") and not w.endswith(("ee", "ye", "oe")) and len(w) > 2:
        return w[:-1] + "ing"
    return w + "ing"


# (suffix, lemma rewrites, parts of speech, re-inflection)
_RULES: tuple[tuple[str, tuple[str, ...], tuple[str, ...], Any], ...] = (
    ("ies", ("y",), ("n", "v"), _plural),
    ("es", ("", "e"), ("n", "v"), _plural),
    ("s", ("",), ("n", "v"), _plural),
    ("ied", ("y",), ("v",), _past),
    ("ed", ("", "e", "<double>"), ("v",), _past),
    ("ing", ("", "e", "<double>"), ("v",), _gerund),
)


@dataclass
class Lexicon:
    """Synonyms, antonyms and polarity of common English words."""

    words: dict[str, dict[str, list[str]]]
    positive: frozenset[str]
    negative: frozenset[str]
    source: str = ""

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Lexicon":
        """Read a lexicon file (gzip JSON); the shipped one by default."""
        return _load(str(path or LEXICON_PATH))

    def __contains__(self, word: str) -> bool:
        return self.is_word(word)

    def _lemmas(self, word: str) -> list[tuple[str, tuple[str, ...], Any]]:
        """(lemma, parts of speech, re-inflection) for ``word`` (lower case)."""
        w = word.lower()
        out: list[tuple[str, tuple[str, ...], Any]] = [(w, POS_ORDER, None)] if w in self.words else []
        for suffix, rewrites, pos, inflect in _RULES:
            if not w.endswith(suffix) or len(w) <= len(suffix) + 1:
                continue
            stem = w[: -len(suffix)]
            for r in rewrites:
                lemma = stem[:-1] if r == "<double>" and len(stem) > 2 and stem[-1] == stem[-2] else stem + r
                ok = r != "<double>" or len(stem) > 2 and stem[-1] == stem[-2]
                ok = ok and lemma in self.words and inflect(lemma) == w
                if ok and lemma != w:
                    out.append((lemma, pos, inflect))
            if len(out) > (1 if w in self.words else 0):
                break
        return out

    def is_word(self, word: str) -> bool:
        """Whether ``word`` (or its lemma) is a known English word (lexicon or polarity list)."""
        w = word.lower()
        return (w in self.words or w in self.positive or w in self.negative or w in NEGATORS or w in STOPWORDS
                or bool(self._lemmas(w)))

    def synonyms(self, word: str, limit: int | None = None) -> list[str]:
        """Synonyms of ``word`` (lower case), adjectives first, inflected like ``word``."""
        out: list[str] = []
        for lemma, pos, inflect in self._lemmas(word):
            entry = self.words.get(lemma, {})
            for p in POS_ORDER:
                if p not in pos:
                    continue
                for s in entry.get(p, ()):
                    s = inflect(s) if inflect else s
                    if s != word.lower() and s not in out:
                        out.append(s)
        return out[:limit] if limit else out

    def antonyms(self, word: str) -> set[str]:
        """Antonyms of ``word`` and of its lemma (lower case), inflected forms included."""
        out: set[str] = set()
        for lemma, _pos, inflect in self._lemmas(word):
            for a in self.words.get(lemma, {}).get("ant", ()):
                out.add(a)
                if inflect:
                    out.add(inflect(a))
        return out

    def polarity(self, word: str) -> int:
        """+1 for a listed positive word, -1 for a negative one, 0 otherwise."""
        w = word.lower()
        if w in self.positive:
            return 1
        if w in self.negative:
            return -1
        for lemma, _pos, _inflect in self._lemmas(w):
            if lemma in self.positive:
                return 1
            if lemma in self.negative:
                return -1
        return 0

    def flags(self, original: str, replacement: str, replacement_is_word: bool | None = None) -> list[str]:
        """Why replacing ``original`` by ``replacement`` changes the meaning (empty: no reason known).

        * ``antonym``: the words are antonyms (either direction, through lemmas);
        * ``polarity_flip``: a positive word became a negative one or the reverse;
        * ``negation``: a negator ("not", "never", "didn't", ...) was added or removed;
        * ``polarity_change``: a sentiment word became a known word without sentiment or the
          reverse (e.g. great -> large). Misspellings (not words) never get this flag.

        ``replacement_is_word`` says that the replacement is a real word (as for candidates taken
        from a word list or a vocabulary) when the lexicon itself does not know it.
        """
        a, b = original.lower(), replacement.lower()
        if a == b:
            return []
        out = []
        if b in self.antonyms(a) or a in self.antonyms(b):
            out.append("antonym")
        pa, pb = self.polarity(a), self.polarity(b)
        if pa * pb == -1:
            out.append("polarity_flip")
        if (a in NEGATORS) != (b in NEGATORS) or (a in NEGATORS and b in NEGATORS):
            out.append("negation")
        b_is_word = self.is_word(b) or bool(replacement_is_word)
        if (pa != 0) != (pb != 0) and self.is_word(a) and b_is_word:
            out.append("polarity_change")
        return out

    def info(self) -> dict[str, Any]:
        return {"source": self.source, "n_words": len(self.words), "n_positive": len(self.positive),
                "n_negative": len(self.negative)}


@functools.lru_cache(maxsize=4)
def _load(path: str) -> Lexicon:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: the lexicon file is missing; reinstall the package or run tools/build_lexicon.py")
    try:
        with gzip.open(p, "rt", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{p}: not a readable lexicon (gzip JSON): {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("words"), dict):
        raise ValueError(f"{p}: not a lexicon: the 'words' table is missing")
    return Lexicon(words=data["words"], positive=frozenset(POSITIVE_WORDS), negative=frozenset(NEGATIVE_WORDS),
                   source=str(data.get("source", p.name)))


__all__ = ["Lexicon", "FLAGS", "LEXICON_PATH"]
