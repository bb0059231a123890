"""Small statistics used by the explanation-quality metrics (NumPy only, no SciPy at import time)."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np


def rankdata(x: Sequence[float]) -> np.ndarray:
    """Ranks starting at 1, ties get the average of their ranks."""
    from scipy.stats import rankdata as _rankdata

    return _rankdata(np.asarray(x, dtype=np.float64)).astype(np.float64)


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman rank correlation (Pearson on average ranks); None when either side is constant or n < 2."""
    if len(x) != len(y):
        raise ValueError(f"rank correlation of sequences of different lengths ({len(x)} and {len(y)})")
    if len(x) < 2:
        return None
    rx, ry = rankdata(x), rankdata(y)
    rx -= rx.mean()
    ry -= ry.mean()
    den = math.sqrt(float((rx * rx).sum()) * float((ry * ry).sum()))
    if den == 0:
        return None
    return float((rx * ry).sum() / den)


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b (ties corrected, as ``scipy.stats.kendalltau``); None when undefined."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(a) != len(b):
        raise ValueError(f"rank correlation of sequences of different lengths ({len(a)} and {len(b)})")
    if len(a) < 2:
        return None
    i, j = np.triu_indices(len(a), k=1)
    sa, sb = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
    num = float((sa * sb).sum())
    den = math.sqrt(float(np.count_nonzero(sa)) * float(np.count_nonzero(sb)))
    if den == 0:
        return None
    return num / den


def average_precision(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """Area under the precision-recall curve as average precision (tied scores form one threshold,
    as ``sklearn.metrics.average_precision_score``); None when there is no positive label."""
    y = np.asarray(labels, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    if len(y) != len(s):
        raise ValueError(f"{len(y)} labels for {len(s)} scores")
    n_pos = float(y.sum())
    if n_pos == 0:
        return None
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]  # end of each group of tied scores
    tp = np.cumsum(y)[last]
    precision = tp / (last + 1)
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def mean_ci(values: Sequence[float | None], *, level: float = 0.95, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Mean with a percentile-bootstrap confidence interval over examples; None entries are skipped.

    Returns ``{"mean", "ci_low", "ci_high", "n"}``; the interval is None with fewer than 2 values.
    """
    v = np.asarray([float(x) for x in values if x is not None and math.isfinite(float(x))], dtype=np.float64)
    out: dict[str, Any] = {"mean": float(v.mean()) if v.size else None, "ci_low": None, "ci_high": None, "n": int(v.size)}
    if v.size >= 2 and n_boot > 0:
        rng = np.random.default_rng(seed)
        means = np.empty(n_boot)
        for s in range(0, n_boot, 256):  # resample in blocks to bound memory for large n
            k = min(256, n_boot - s)
            means[s : s + k] = v[rng.integers(0, v.size, size=(k, v.size))].mean(1)
        alpha = (1.0 - level) / 2.0
        out["ci_low"], out["ci_high"] = (float(q) for q in np.quantile(means, [alpha, 1.0 - alpha]))
    return out
