"""Plausibility: do the attributions point at the words a person marked as deciding the label?

Rationales are given per whitespace-separated word of the text (``TextDataset.rationales``: one
0/1 flag per ``text.split()`` word). They are mapped onto each method's words
(:attr:`Attribution.word_spans`, the same whitespace-separated words for every tokenizer) by
character offsets: a method word takes the flag of the whitespace word it starts in, so attributions
whose words were cut differently still line up. Scores are the signed word scores towards the
explained class. Per text (ERASER, DeYoung et al. 2020):

* **AUPRC**: area under the precision-recall curve of the scores against the flags (average
  precision; texts without a flagged word are skipped);
* **token F1**: F1 of the top-k words, k = the average rationale share of the evaluated texts
  times the text's word count (rounded, at least 1), against the flags.

The chance level of both is their exact expectation under a uniformly random ranking of the words
of each text (for AUPRC, (H_n + (n - H_n)(r - 1)/(n - 1)) / n with r flagged of n words and H_n the
n-th harmonic number; for token F1, 2kr / (n(k + r))); on short texts it is well above the share of
flagged words.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

import numpy as np

from ._stats import average_precision, mean_ci
from .base import Attribution

_WORD = re.compile(r"\S+")


def rationale_for_spans(text: str, rationale: Sequence[int], spans: Sequence[tuple[int, int]]) -> list[int]:
    """One 0/1 flag per character span: the flag of the whitespace word the span starts in."""
    words = [m.span() for m in _WORD.finditer(text)]
    if len(words) != len(rationale):
        raise ValueError(f"the rationale has {len(rationale)} flags but the text has {len(words)} whitespace-separated "
                         f"words: {text[:60]!r}")
    out = []
    j = 0
    for a, _ in spans:
        while j < len(words) and words[j][1] <= a:
            j += 1
        out.append(int(rationale[j]) if j < len(words) and words[j][0] <= a else 0)
    return out


def chance_average_precision(n: int, r: int) -> float:
    """Expected average precision of a uniformly random ranking of ``n`` items with ``r`` positives."""
    if r <= 0 or n <= 0:
        raise ValueError("chance average precision needs at least one item and one positive")
    if n == 1:
        return 1.0
    h = sum(1.0 / k for k in range(1, n + 1))
    return (h + (n - h) * (r - 1) / (n - 1)) / n


def token_f1(labels: Sequence[int], scores: Sequence[float], k: int) -> float:
    """F1 of the ``k`` highest-scoring units (ties keep text order) against 0/1 ``labels``."""
    y = np.asarray(labels, dtype=np.int64)
    if not len(y):
        return 0.0
    k = max(1, min(int(k), len(y)))
    top = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:k]
    tp = int(y[top].sum())
    if tp == 0:
        return 0.0
    precision, recall = tp / k, tp / int(y.sum())
    return 2 * precision * recall / (precision + recall)


def _chance_f1(n: int, r: int, k: int) -> float:
    return 2.0 * k * r / (n * (k + r))


def evaluate_plausibility(attributions: Mapping[str, Sequence[Attribution]], rationales: Sequence[Sequence[int]],
                          *, seed: int = 0, n_boot: int = 1000) -> dict[str, Any]:
    """AUPRC and token F1 of every method against the rationales (one per explained text)."""
    methods = list(attributions)
    if not methods:
        raise ValueError("no attributions to evaluate")
    first = attributions[methods[0]]
    if len(rationales) != len(first):
        raise ValueError(f"{len(rationales)} rationales for {len(first)} explained texts")
    labels = [rationale_for_spans(a.text, r, a.word_spans) for a, r in zip(first, rationales)]
    shares = [np.mean(y) for y in labels if len(y)]
    share = float(np.mean(shares)) if shares else 0.0
    out: dict[str, Any] = {
        "protocol": {
            "unit": "tokenizer words (rationale flags mapped by character offsets)",
            "scores": "signed word scores towards the explained (predicted) class",
            "auprc": "average precision per text; texts without a flagged word skipped",
            "token_f1_k": "round(mean rationale share x words), at least 1",
            "mean_rationale_share": share,
        },
        "methods": methods,
        "summary": {},
        "per_example": {},
        "chance": {
            "auprc": mean_ci([chance_average_precision(len(y), sum(y)) if any(y) else None for y in labels], seed=seed, n_boot=n_boot),
            "token_f1": mean_ci([_chance_f1(len(y), sum(y), max(1, min(round(share * len(y)), len(y)))) if any(y) else None
                                 for y in labels], seed=seed, n_boot=n_boot),
        },
    }
    for m in methods:
        auprc, f1 = [], []
        if len(attributions[m]) != len(first):
            raise ValueError(f"{m}: {len(attributions[m])} attributions for {len(first)} texts")
        for a, ref, y in zip(attributions[m], first, labels):
            if a.text != ref.text:
                raise ValueError(f"{m}: attributions are not for the same texts as {methods[0]}")
            scores = np.asarray(a.word_scores, dtype=np.float64)
            if len(scores) != len(y):
                raise ValueError(f"{m}: {len(scores)} word scores for {len(y)} words; explain the same texts with the same tokenizer")
            has = len(y) > 0 and any(y)
            auprc.append(average_precision(y, scores) if has else None)
            f1.append(token_f1(y, scores, round(share * len(y))) if has else None)
        out["per_example"][m] = {"auprc": auprc, "token_f1": f1}
        out["summary"][m] = {"auprc": mean_ci(auprc, seed=seed, n_boot=n_boot), "token_f1": mean_ci(f1, seed=seed, n_boot=n_boot)}
    return out


__all__ = ["chance_average_precision", "evaluate_plausibility", "rationale_for_spans", "token_f1"]
