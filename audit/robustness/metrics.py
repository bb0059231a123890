"""Summary statistics of the probes: Wilson intervals, distributions, attack metrics.

All functions return plain JSON-safe values (None instead of NaN).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np

DEFAULT_QUERY_BUDGETS = (10, 25, 50, 100, 200, 500, 1000, 2000, 5000)


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float | None, float | None]:
    """Wilson score interval for a proportion ``k / n``; (None, None) when ``n == 0``."""
    if n <= 0:
        return None, None
    if not 0 <= k <= n:
        raise ValueError(f"wilson_interval: k={k} must be between 0 and n={n}")
    z = _z(confidence)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


def _z(confidence: float) -> float:
    from statistics import NormalDist

    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def rate(k: int, n: int) -> float | None:
    return k / n if n > 0 else None


def distribution(values: Iterable[float]) -> dict[str, Any]:
    """n, mean, median, p10, p90, min, max of finite values (None when there are none)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return {"n": 0, "mean": None, "median": None, "p10": None, "p90": None, "min": None, "max": None}
    return {
        "n": int(v.size), "mean": float(v.mean()), "median": float(np.median(v)),
        "p10": float(np.percentile(v, 10)), "p90": float(np.percentile(v, 90)),
        "min": float(v.min()), "max": float(v.max()),
    }


def histogram(values: Iterable[float], lo: float, hi: float, bins: int = 10) -> list[dict[str, Any]]:
    """Counts of finite values in ``bins`` equal bins over [lo, hi] (values outside are clipped)."""
    v = np.clip(np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64), lo, hi)
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    return [{"lower": float(edges[i]), "upper": float(edges[i + 1]), "count": int(counts[i])} for i in range(bins)]


def success_by_budget(queries_at_success: Sequence[int | None], n_attacked: int, max_budget: int,
                      budgets: Sequence[int] = DEFAULT_QUERY_BUDGETS) -> list[dict[str, Any]]:
    """Attack success rate had the search stopped after ``B`` model queries, for each budget B.

    The search does not depend on the budget except for stopping, so one run at the largest
    budget gives every smaller one exactly: an example counts at budget B when it succeeded
    using at most B queries.
    """
    grid = sorted({int(b) for b in budgets if b < max_budget} | {int(max_budget)})
    q = [x for x in queries_at_success if x is not None]
    out = []
    for b in grid:
        k = sum(1 for x in q if x <= b)
        out.append({"budget": b, "successes": k, "success_rate": rate(k, n_attacked)})
    return out


def attack_metrics(records: Sequence[Any], *, n_total: int, max_queries: int) -> dict[str, Any]:
    """Metrics of one attack family from its per-example records (see ``search.AttackRecord``)."""
    attacked = [r for r in records if r.status != "skipped"]
    skipped = len(records) - len(attacked)
    success = [r for r in attacked if r.status == "success"]
    valid = [r for r in success if not r.flags]
    n_att = len(attacked)
    lo, hi = wilson_interval(len(success), n_att)
    vlo, vhi = wilson_interval(len(valid), n_att)
    queries = [r.queries for r in attacked]
    total_queries = int(sum(queries))
    return {
        "n": len(records),
        "n_attacked": n_att,
        "n_skipped": skipped,
        "n_success": len(success),
        "n_failed": sum(1 for r in attacked if r.status == "failed"),
        "n_unverified": sum(1 for r in attacked if r.status == "unverified"),
        "accuracy": rate(n_att, len(records)),
        "accuracy_under_attack": rate(n_att - len(success), len(records)),
        "success_rate": rate(len(success), n_att),
        "success_rate_ci95": [lo, hi],
        "valid_success_rate": rate(len(valid), n_att),
        "valid_success_rate_ci95": [vlo, vhi],
        "n_invalid": len(success) - len(valid),
        "invalid_reasons": _count(f for r in success for f in r.flags),
        "queries": distribution(queries),
        "queries_total": total_queries,
        "queries_per_success": (total_queries / len(success)) if success else None,
        "queries_of_successes": distribution([r.queries_at_success for r in success]),
        "words_changed_fraction": distribution([r.words_changed_fraction for r in success]),
        "chars_changed_fraction": distribution([r.chars_changed_fraction for r in success]),
        "similarity": distribution([r.similarity for r in success]),
        "similarity_histogram": histogram([r.similarity for r in success if r.similarity is not None], 0.5, 1.0, 10),
        "success_by_budget": success_by_budget([r.queries_at_success for r in success], n_att, max_queries),
        "n_total_eval": n_total,
    }


def _count(items: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


__all__ = ["wilson_interval", "distribution", "histogram", "success_by_budget", "attack_metrics", "rate",
           "DEFAULT_QUERY_BUDGETS"]
