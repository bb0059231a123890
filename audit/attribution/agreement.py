"""Agreement between attribution methods: per text, the rank correlation of two methods' word scores.

Methods that explain the same prediction faithfully need not agree (they answer different
questions), but methods that disagree everywhere cannot all be right about which words matter.
The report shows the mean Spearman correlation of every pair over the explained texts, with a
bootstrap confidence interval.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any, Mapping, Sequence

from ._stats import kendall_tau_b, mean_ci, spearman
from .base import Attribution


def method_agreement(attributions: Mapping[str, Sequence[Attribution]], *, correlation: str = "spearman",
                     seed: int = 0, n_boot: int = 1000) -> dict[str, Any]:
    """Pairwise rank correlation of word scores between methods, per text and summarised."""
    if correlation not in ("spearman", "kendall"):
        raise ValueError(f"correlation must be 'spearman' or 'kendall', got {correlation!r}")
    corr = spearman if correlation == "spearman" else kendall_tau_b
    methods = list(attributions)
    pairs = []
    for a, b in combinations(methods, 2):
        if len(attributions[a]) != len(attributions[b]):
            raise ValueError(f"{a} and {b} explain different numbers of texts")
        values = []
        for x, y in zip(attributions[a], attributions[b]):
            if x.text != y.text:
                raise ValueError(f"{a} and {b} explain different texts")
            values.append(corr(x.word_scores, y.word_scores) if len(x.word_scores) >= 2 else None)
        pairs.append({"methods": [a, b], "per_example": values} | mean_ci(values, seed=seed, n_boot=n_boot))
    means = [p["mean"] for p in pairs if p["mean"] is not None]
    return {
        "correlation": correlation,
        "unit": "words",
        "methods": methods,
        "pairs": pairs,
        "mean_over_pairs": sum(means) / len(means) if means else None,
    }


__all__ = ["method_agreement"]
