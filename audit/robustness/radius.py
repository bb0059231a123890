"""Exhaustive radius-1 check: is the prediction unchanged by *every* single edit?

For each short input, every single-word substitution from the word attack's candidate set
(lexicon synonyms and embedding neighbours, optionally masked-LM proposals) and every single
keyboard-typo edit of every attackable word are scored, in large batches. Edits the lexicon flags
as meaning-changing (antonym, polarity flip or change, negation) are left out by default, so the
neighbourhood holds the edits that should not change the label. An example is *certified*
within that neighbourhood when no neighbour changes the predicted label. This is a certificate
for the stated finite neighbourhood only — not for all meaning-preserving edits — and no
sentence-similarity filter is applied (the neighbourhood is the full candidate set).

The scan of an example stops at the first neighbour that flips it (``early_stop``), so
non-robust examples cost little; the number of neighbours checked is reported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from .candidates import CandidateGenerator, attackable
from .lexicon import Lexicon
from .metrics import distribution, rate, wilson_interval
from .perturbations import WordView, char_edits
from .search import run_searches
from .victim import Victim, word_saliency


@dataclass
class RadiusRecord:
    """The radius-1 result for one example and one neighbourhood."""

    index: int
    id: str
    text: str
    label: int
    prediction: int
    neighbourhood: str  # "word" or "char"
    n_neighbours: int
    n_checked: int
    certified: bool
    counterexample: str | None = None
    counterexample_prediction: int | None = None
    counterexample_probabilities: list[float] | None = None
    edit: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Radius1Check:
    """Certify short inputs against every single word substitution and every single typo."""

    max_words: int = 16
    chunk: int = 64
    early_stop: bool = True
    valid_only: bool = True  # leave out edits the lexicon flags as meaning-changing
    min_char_word_length: int = 3
    keep_ends: bool = False
    parallel: int = 16
    show_progress: bool = False
    neighbourhoods: tuple[str, ...] = field(default=("word", "char"))

    def config(self, candidates: CandidateGenerator | None) -> dict[str, Any]:
        return {
            "max_words": self.max_words, "neighbourhoods": list(self.neighbourhoods),
            "word_neighbourhood": "every single-word substitution from the word attack's candidate set "
                                  "(no similarity filter)",
            "char_neighbourhood": "every single keyboard-typo edit (adjacent swap, deletion, QWERTY substitution, "
                                  "neighbour/copy insertion) of every attackable word",
            "valid_only": self.valid_only,
            "excluded": "edits flagged as antonym, polarity flip, negation or polarity change"
                        if self.valid_only else None,
            "order": "words by gradient saliency (most salient first), so counterexamples are usually found early",
            "candidates": candidates.info() if candidates is not None else None,
            "min_char_word_length": self.min_char_word_length, "keep_first_last_letter": self.keep_ends,
            "early_stop": self.early_stop, "batch_chunk": self.chunk,
        }

    def neighbours(self, text: str, kind: str, word_cands: dict[int, list[Any]] | None = None,
                   order: Sequence[int] | None = None, lexicon: Any = None) -> list[tuple[str, dict[str, Any]]]:
        """Every radius-1 neighbour of ``text`` of the given kind, with a description of its edit,
        words visited in ``order`` (default: left to right)."""
        view = WordView(text)
        positions = list(order) if order is not None else list(range(len(view)))
        positions += [j for j in range(len(view)) if j not in set(positions)]
        out: list[tuple[str, dict[str, Any]]] = []
        seen = {text}
        if kind == "word":
            cands = word_cands or {}
            for j in positions:
                for c in cands.get(j, ()):
                    if self.valid_only and c.flags:
                        continue
                    t = view.replaced(j, c.word)
                    if t not in seen:
                        seen.add(t)
                        out.append((t, {"word_index": j, "original": view.word(j), "replacement": c.word,
                                        "sources": list(c.sources), "flags": list(c.flags)}))
        elif kind == "char":
            for j in positions:
                w = view.word(j)
                if not attackable(w, self.min_char_word_length):
                    continue
                for e in char_edits(w, self.keep_ends):
                    new = e.apply(w)
                    if self.valid_only and lexicon is not None and lexicon.flags(w, new):
                        continue
                    t = view.replaced(j, new)
                    if t not in seen:
                        seen.add(t)
                        out.append((t, {"word_index": j, "original": w, "replacement": new, "kind": e.kind}))
        else:
            raise ValueError(f"unknown neighbourhood {kind!r}; choose 'word' or 'char'")
        return out

    def _scan(self, text: str, neighbours: list[tuple[str, dict[str, Any]]], pred: int):
        checked = 0
        hit = None
        for s in range(0, len(neighbours), self.chunk):
            part = neighbours[s : s + self.chunk]
            P = yield ("probs", [t for t, _ in part])
            checked += len(part)
            flips = np.flatnonzero(P.argmax(1) != pred)
            if flips.size and hit is None:
                f = int(flips[np.argmin(P[flips, pred])])
                hit = (part[f][0], part[f][1], P[f])
                if self.early_stop:
                    break
        return checked, hit

    def run(self, victim: Victim, texts: Sequence[str], labels: Sequence[int], *, ids: Sequence[str] | None = None,
            indices: Sequence[int] | None = None, candidates: CandidateGenerator | None = None) -> list[RadiusRecord]:
        """Radius-1 records for every text and neighbourhood (texts longer than ``max_words`` are
        the caller's to leave out)."""
        texts, labels = list(texts), [int(y) for y in labels]
        ids = list(ids) if ids is not None else [str(i) for i in range(len(texts))]
        indices = list(indices) if indices is not None else list(range(len(texts)))
        preds = victim.probs(texts).argmax(1)
        sal = word_saliency(victim.bundle, texts, [int(p) for p in preds], max_length=victim.max_length)
        orders = [sorted(range(len(s)), key=lambda j: (-(s[j] if np.isfinite(s[j]) else -1.0), j)) for s in sal]
        lexicon = candidates.lexicon if candidates is not None else Lexicon.load()
        records: list[RadiusRecord] = []
        for kind in self.neighbourhoods:
            if kind == "word":
                if candidates is None:
                    raise ValueError("the word neighbourhood needs a candidate generator")
                positions = [[j for j, w in enumerate(WordView(t).words()) if attackable(w, candidates.min_word_length)]
                             for t in texts]
                cands = candidates.for_texts(texts, positions)
            else:
                cands = [None] * len(texts)
            neigh = [self.neighbours(t, kind, c, o, lexicon) for t, c, o in zip(texts, cands, orders)]

            def scans():
                for t, nb, p in zip(texts, neigh, preds):
                    yield self._scan(t, nb, int(p))

            results = run_searches(list(scans()), victim, parallel=self.parallel, cache=False,
                                   desc=f"radius-1 ({kind})", show_progress=self.show_progress)
            for n, (checked, hit) in enumerate(results):
                rec = RadiusRecord(index=indices[n], id=ids[n], text=texts[n], label=labels[n], prediction=int(preds[n]),
                                   neighbourhood=kind, n_neighbours=len(neigh[n]), n_checked=checked, certified=hit is None)
                if hit is not None:
                    rec.counterexample, rec.edit = hit[0], hit[1]
                    rec.counterexample_probabilities = [float(x) for x in hit[2]]
                    rec.counterexample_prediction = int(np.argmax(hit[2]))
                records.append(rec)
        _verify_counterexamples(records, victim)
        return records


def _verify_counterexamples(records: Sequence[RadiusRecord], victim: Victim) -> None:
    """Re-score every counterexample from scratch; one that does not reproduce is dropped and
    the example counted as certified only if its scan was complete."""
    todo = [r for r in records if r.counterexample is not None]
    if not todo:
        return
    p = victim.verify([r.counterexample for r in todo])
    for r, q in zip(todo, p):
        r.counterexample_probabilities = [float(x) for x in q]
        r.counterexample_prediction = int(np.argmax(q))
        if r.counterexample_prediction == r.prediction:  # borderline flip that did not reproduce
            r.counterexample = None
            r.edit = None
            r.counterexample_prediction = None
            r.counterexample_probabilities = None
            r.certified = r.n_checked >= r.n_neighbours


def radius_summary(records: Sequence[RadiusRecord], kinds: Sequence[str]) -> dict[str, Any]:
    """Certified fractions per neighbourhood and for both together, over all and over correct examples."""
    out: dict[str, Any] = {}
    by_id: dict[int, dict[str, RadiusRecord]] = {}
    for r in records:
        by_id.setdefault(r.index, {})[r.neighbourhood] = r
    for kind in [*kinds, "all"]:
        rows = []
        for per in by_id.values():
            if kind == "all":
                if not all(k in per for k in kinds):
                    continue
                first = next(iter(per.values()))
                rows.append((first.label == first.prediction, all(per[k].certified for k in kinds),
                             sum(per[k].n_neighbours for k in kinds), sum(per[k].n_checked for k in kinds)))
            elif kind in per:
                r = per[kind]
                rows.append((r.label == r.prediction, r.certified, r.n_neighbours, r.n_checked))
        n = len(rows)
        n_correct = sum(1 for c, *_ in rows if c)
        cert = sum(1 for _, z, *_ in rows if z)
        cert_correct = sum(1 for c, z, *_ in rows if c and z)
        lo, hi = wilson_interval(cert_correct, n_correct)
        out[kind] = {
            "n": n, "n_correct": n_correct, "n_certified": cert,
            "certified_fraction": rate(cert, n),
            "certified_fraction_of_correct": rate(cert_correct, n_correct),
            "certified_fraction_of_correct_ci95": [lo, hi],
            "certified_accuracy": rate(cert_correct, n),
            "neighbours": distribution([x for *_, x, _ in rows]),
            "checked": distribution([x for *_, x in rows]),
        }
    return out


__all__ = ["Radius1Check", "RadiusRecord", "radius_summary"]
