"""Paired statistics of two models' outcomes on the same examples (B - A), with numpy and scipy."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (without continuity correction)."""
    from scipy.stats import norm

    if n <= 0:
        return 0.0, 1.0
    z = float(norm.ppf(0.5 + level / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_paired_interval(both: int, first_only: int, second_only: int, neither: int,
                             level: float = 0.95) -> tuple[float, float]:
    """Newcombe's hybrid score interval (1998, method 10) for p1 - p2 of paired proportions.

    ``first_only`` counts pairs where only the first member succeeds, ``second_only`` where only
    the second does. The Wilson intervals of both proportions are combined with the correlation
    of the pair (``phi``, with the usual correction towards 0 when it is positive).
    """
    n = both + first_only + second_only + neither
    if n == 0:
        return -1.0, 1.0
    k1, k2 = both + first_only, both + second_only
    p1, p2 = k1 / n, k2 / n
    l1, u1 = wilson_interval(k1, n, level)
    l2, u2 = wilson_interval(k2, n, level)
    margins = k1 * (n - k1) * k2 * (n - k2)
    phi = 0.0
    if margins > 0:
        cross = both * neither - first_only * second_only
        if cross > n / 2:
            phi = (cross - n / 2) / math.sqrt(margins)
        elif cross < 0:
            phi = cross / math.sqrt(margins)
    d = p1 - p2
    lower = d - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    upper = d + math.sqrt(max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2))
    return max(-1.0, lower), min(1.0, upper)


def mcnemar_exact_p(first_only: int, second_only: int) -> float:
    """Two-sided exact McNemar test: the discordant pairs against a fair coin."""
    from scipy.stats import binomtest

    m = first_only + second_only
    return 1.0 if m == 0 else float(binomtest(first_only, m, 0.5).pvalue)


def macro_f1(y: np.ndarray, pred: np.ndarray, k: int) -> float:
    """Macro-averaged F1 over ``k`` classes (a class never true nor predicted scores 0)."""
    cm = np.bincount(y * k + pred, minlength=k * k).reshape(k, k)
    tp = np.diag(cm).astype(np.float64)
    denom = cm.sum(0) + cm.sum(1)
    return float(np.mean(np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)))


def paired_bootstrap_f1(y: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, k: int, *, n_boot: int = 1000,
                        level: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Macro-F1 difference (B - A) with a percentile interval from resampling examples (pairs kept)."""
    rng = np.random.default_rng(seed)
    n = len(y)
    diffs = np.empty(n_boot)
    for r in range(n_boot):
        idx = rng.integers(0, n, n)
        diffs[r] = macro_f1(y[idx], pred_b[idx], k) - macro_f1(y[idx], pred_a[idx], k)
    lo, hi = np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2])
    return {"a": macro_f1(y, pred_a, k), "b": macro_f1(y, pred_b, k),
            "difference": macro_f1(y, pred_b, k) - macro_f1(y, pred_a, k), "ci": [float(lo), float(hi)],
            "ci_level": level, "method": f"paired bootstrap over examples ({n_boot} resamples, percentile interval)",
            "seed": seed}


def _outcomes(perf: dict[str, Any]) -> dict[str, Any] | None:
    rec = perf.get("per_example")
    if not isinstance(rec, dict) or not all(isinstance(rec.get(k), list) for k in ("ids", "true", "predicted")):
        return None
    if not len(rec["ids"]) == len(rec["true"]) == len(rec["predicted"]):
        return None
    return rec


def _align(rec_a: dict[str, Any], rec_b: dict[str, Any]) -> tuple[list[int], list[int]] | str:
    """Positions of the same examples in both records, or why they cannot be paired."""
    ids_a, ids_b = [str(i) for i in rec_a["ids"]], [str(i) for i in rec_b["ids"]]
    if ids_a == ids_b:
        order = list(range(len(ids_a)))
        pos_a, pos_b = order, order
    elif len(set(ids_a)) == len(ids_a) and len(set(ids_b)) == len(ids_b) and set(ids_a) == set(ids_b):
        where = {i: k for k, i in enumerate(ids_b)}
        pos_a, pos_b = list(range(len(ids_a))), [where[i] for i in ids_a]
    else:
        return "the two models' per-example records hold different example ids"
    for i, j in zip(pos_a, pos_b):
        if rec_a["true"][i] != rec_b["true"][j]:
            return f"example {ids_a[i]!r} has different true labels in the two records"
    return pos_a, pos_b


def _correct(rec: dict[str, Any], positions: list[int]) -> np.ndarray:
    true, pred = rec["true"], rec["predicted"]
    if any(isinstance(t, list) for t in true):  # multi-label: the exact label set
        return np.array([sorted(true[i]) == sorted(pred[i]) for i in positions], dtype=bool)
    return np.array([true[i] == pred[i] for i in positions], dtype=bool)


def paired_statistics(perf_a: dict[str, Any], perf_b: dict[str, Any], *, level: float = 0.95, n_boot: int = 1000,
                      seed: int = 0) -> dict[str, Any]:
    """Paired comparison of two models' outcomes on the same examples (B - A).

    The accuracy (for a multi-label model: subset accuracy) difference gets Newcombe's hybrid
    score interval and an exact McNemar p-value; a single-label model's macro-F1 difference a
    paired bootstrap interval. Returns ``{"skipped": reason}`` when the outcomes cannot be paired.
    """
    rec_a, rec_b = _outcomes(perf_a), _outcomes(perf_b)
    missing = [side for side, rec in (("A", rec_a), ("B", rec_b)) if rec is None]
    if missing:
        return {"skipped": f"the results of {' and '.join(missing)} hold no per-example outcomes "
                           "(performance.per_example); re-run the audit with this version to get paired statistics"}
    aligned = _align(rec_a, rec_b)
    if isinstance(aligned, str):
        return {"skipped": aligned}
    pos_a, pos_b = aligned
    ca, cb = _correct(rec_a, pos_a), _correct(rec_b, pos_b)
    n = int(len(ca))
    if n == 0:
        return {"skipped": "no evaluation examples"}
    both, a_only = int((ca & cb).sum()), int((ca & ~cb).sum())
    b_only, neither = int((~ca & cb).sum()), int((~ca & ~cb).sum())
    lo, hi = newcombe_paired_interval(both, b_only, a_only, neither, level)
    multi = any(isinstance(t, list) for t in rec_a["true"])
    out: dict[str, Any] = {
        "n": n, "metric": "subset_accuracy" if multi else "accuracy",
        "both_correct": both, "only_a_correct": a_only, "only_b_correct": b_only, "neither_correct": neither,
        "a": (both + a_only) / n, "b": (both + b_only) / n, "difference": (b_only - a_only) / n,
        "ci": [lo, hi], "ci_level": level,
        "interval": "Newcombe hybrid score interval for paired proportions (1998, method 10)",
        "mcnemar_p": mcnemar_exact_p(a_only, b_only),
        "test": "exact McNemar test (two-sided binomial test on the examples only one model gets right)",
    }
    out["significant"] = not (lo <= 0.0 <= hi)
    if not multi:
        y_raw = [rec_a["true"][i] for i in pos_a]
        pa_raw = [rec_a["predicted"][i] for i in pos_a]
        pb_raw = [rec_b["predicted"][j] for j in pos_b]
        if all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (*y_raw, *pa_raw, *pb_raw)):
            y, pa, pb = (np.asarray(v, dtype=int) for v in (y_raw, pa_raw, pb_raw))
            labels = perf_a.get("label_names")
            k = max(int(max(y.max(), pa.max(), pb.max())) + 1, len(labels) if isinstance(labels, list) else 0)
        else:  # labels saved as names (or other values): one class index per distinct value
            index = {v: i for i, v in enumerate(sorted({str(v) for v in (*y_raw, *pa_raw, *pb_raw)}))}
            y, pa, pb = (np.asarray([index[str(v)] for v in vals], dtype=int) for vals in (y_raw, pa_raw, pb_raw))
            k = len(index)
        out["f1_macro"] = paired_bootstrap_f1(y, pa, pb, k, n_boot=n_boot, level=level, seed=seed)
    return out
