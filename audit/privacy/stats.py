"""Statistics of a membership-inference experiment: ROC, TPR at low FPR, bootstrap and exact intervals.

Convention everywhere in :mod:`audit.privacy`: a *score* is higher for records the attack thinks
were trained on ("members"). A threshold attack predicts "member" when ``score > t``.

Only NumPy and SciPy; no model code, so the functions can be used (and tested) on any scores.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

#: False-positive rates at which the true-positive rate is reported by default.
DEFAULT_FPRS: tuple[float, ...] = (0.01, 0.001)


def _as_scores(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    if a.size == 0:
        raise ValueError(f"{name}: no scores")
    if not np.all(np.isfinite(a)):
        bad = int(np.flatnonzero(~np.isfinite(a))[0])
        raise ValueError(f"{name}: score {bad} is not finite ({a[bad]})")
    return a


# ---------------------------------------------------------------------------------------------
# Exact binomial intervals
# ---------------------------------------------------------------------------------------------


def clopper_pearson_lower(k: int, n: int, alpha: float) -> float:
    """One-sided ``1 - alpha`` Clopper-Pearson lower bound of a binomial proportion (k of n)."""
    from scipy.stats import beta

    _check_count(k, n)
    if k == 0:
        return 0.0
    return float(beta.ppf(alpha, k, n - k + 1))


def clopper_pearson_upper(k: int, n: int, alpha: float) -> float:
    """One-sided ``1 - alpha`` Clopper-Pearson upper bound of a binomial proportion (k of n).

    For a threshold placed at the ``(k+1)``-th largest of ``n`` exchangeable scores, the true
    exceedance probability is Beta(k+1, n-k) distributed, so this bound is exact for it.
    """
    from scipy.stats import beta

    _check_count(k, n)
    if k >= n:
        return 1.0
    return float(beta.ppf(1.0 - alpha, k + 1, n - k))


def _check_count(k: int, n: int) -> None:
    if n < 1 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")


# ---------------------------------------------------------------------------------------------
# ROC and threshold metrics (vectorised over bootstrap replicates)
# ---------------------------------------------------------------------------------------------


def roc_curve(member: Sequence[float], nonmember: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The empirical ROC of the threshold attack: (fpr, tpr), from (0, 0) to (1, 1), one point per distinct score."""
    m = _as_scores(member, "member scores")
    o = _as_scores(nonmember, "non-member scores")
    scores = np.concatenate([m, o])
    is_member = np.concatenate([np.ones(m.size, bool), np.zeros(o.size, bool)])
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], is_member[order]
    tp = np.cumsum(y)
    fp = np.cumsum(~y)
    last_of_tie = np.append(s[1:] != s[:-1], True)  # a cut is only possible between distinct scores
    fpr = np.concatenate([[0.0], fp[last_of_tie] / o.size])
    tpr = np.concatenate([[0.0], tp[last_of_tie] / m.size])
    return fpr, tpr


def auc(member: Sequence[float], nonmember: Sequence[float]) -> float:
    """Area under the ROC curve: P(member score > non-member score), ties counting one half."""
    m = _as_scores(member, "member scores")
    o = _as_scores(nonmember, "non-member scores")
    return float(_auc_rows(m[None, :], o[None, :])[0])


def _auc_rows(m: np.ndarray, o: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    n1, n0 = m.shape[1], o.shape[1]
    ranks = rankdata(np.concatenate([m, o], axis=1), axis=1)
    return (ranks[:, :n1].sum(axis=1) - n1 * (n1 + 1) / 2.0) / (n1 * n0)


def allowed_false_positives(fpr: float, n_nonmembers: int) -> int:
    """How many non-members may score above the threshold for an FPR of at most ``fpr``."""
    if not 0.0 < fpr <= 1.0:
        raise ValueError(f"false-positive rate must be in (0, 1], got {fpr}")
    return int(math.floor(fpr * n_nonmembers + 1e-9))


def _threshold_rows(o_sorted_desc: np.ndarray, k: int) -> np.ndarray:
    """Per row, the threshold that lets at most ``k`` non-members through (the (k+1)-th largest score)."""
    if k >= o_sorted_desc.shape[1]:
        return np.full(o_sorted_desc.shape[0], -np.inf)
    return o_sorted_desc[:, k]


def tpr_at_fpr(member: Sequence[float], nonmember: Sequence[float], fpr: float) -> tuple[float, int, float]:
    """TPR of the threshold that lets at most ``floor(fpr * n)`` non-members score above it.

    Returns (tpr, k, threshold) with ``k`` the number of false positives allowed. With ``k = 0``
    the threshold is the largest non-member score: the attack may not make a single false claim.
    """
    m = _as_scores(member, "member scores")
    o = _as_scores(nonmember, "non-member scores")
    k = allowed_false_positives(fpr, o.size)
    t = float(_threshold_rows(np.sort(o)[::-1][None, :], k)[0])
    return float(np.mean(m > t)), k, t


def _youden_rows(m: np.ndarray, o: np.ndarray) -> np.ndarray:
    """Per row, max over thresholds of TPR - FPR (0 for the trivial threshold)."""
    n1, n0 = m.shape[1], o.shape[1]
    scores = np.concatenate([m, o], axis=1)
    labels = np.concatenate([np.ones_like(m, dtype=bool), np.zeros_like(o, dtype=bool)], axis=1)
    order = np.argsort(-scores, axis=1, kind="mergesort")
    s = np.take_along_axis(scores, order, axis=1)
    y = np.take_along_axis(labels, order, axis=1)
    j = np.cumsum(y, axis=1) / n1 - np.cumsum(~y, axis=1) / n0
    valid = np.ones_like(s, dtype=bool)
    valid[:, :-1] = s[:, 1:] != s[:, :-1]
    j = np.where(valid, j, -np.inf)
    return np.maximum(j.max(axis=1), 0.0)


def best_balanced_accuracy(member: Sequence[float], nonmember: Sequence[float]) -> float:
    """Balanced accuracy (TPR + TNR) / 2 at the best threshold; 2·BA - 1 is the membership advantage."""
    m = _as_scores(member, "member scores")
    o = _as_scores(nonmember, "non-member scores")
    return float(0.5 + 0.5 * _youden_rows(m[None, :], o[None, :])[0])


def downsample_roc(fpr: np.ndarray, tpr: np.ndarray, n_nonmembers: int, n_log: int = 48, n_lin: int = 41) -> dict[str, list[float]]:
    """A compact ROC for storage: the step curve read at log-spaced and evenly spaced FPRs.

    At each grid FPR the stored TPR is the best TPR reachable with at most that FPR, so the
    stored curve never claims more than the full one. Log spacing starts at ``1/n_nonmembers``,
    the smallest FPR the experiment can resolve, so the log-log plot shows the low-FPR regime.
    """
    lo = 1.0 / max(1, n_nonmembers)
    grid = np.unique(np.concatenate([[0.0], np.geomspace(lo, 1.0, n_log), np.linspace(0.0, 1.0, n_lin)]))
    idx = np.searchsorted(fpr, grid + 1e-12, side="right") - 1
    best = np.maximum.accumulate(tpr)
    out_t = best[np.clip(idx, 0, len(best) - 1)]
    return {"fpr": [round(float(x), 8) for x in grid], "tpr": [round(float(x), 8) for x in out_t]}


# ---------------------------------------------------------------------------------------------
# One attack's metrics with bootstrap confidence intervals
# ---------------------------------------------------------------------------------------------


@dataclass
class Estimate:
    """A point estimate with a two-sided bootstrap percentile interval."""

    value: float | None
    ci: tuple[float | None, float | None] = (None, None)

    def to_dict(self) -> dict[str, Any]:
        return {"value": _f(self.value), "ci": [_f(self.ci[0]), _f(self.ci[1])]}


@dataclass
class TprAtFpr:
    """TPR at a fixed FPR, with the number of false positives that FPR allows on this data."""

    fpr: float
    value: float
    ci: tuple[float, float]
    allowed_false_positives: int
    resolvable: bool  # False when fpr * n_nonmembers < 1: the threshold admits no false positive at all

    def to_dict(self) -> dict[str, Any]:
        return {"fpr": self.fpr, "value": _f(self.value), "ci": [_f(self.ci[0]), _f(self.ci[1])],
                "allowed_false_positives": self.allowed_false_positives, "resolvable": self.resolvable}


@dataclass
class AttackMetrics:
    """ROC-AUC, best balanced accuracy and TPR at low FPR, each with a bootstrap interval, plus the ROC."""

    n_members: int
    n_nonmembers: int
    auc: Estimate
    balanced_accuracy: Estimate
    tpr_at_fpr: list[TprAtFpr]
    roc: dict[str, list[float]]
    n_bootstrap: int
    ci_level: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_members": self.n_members,
            "n_nonmembers": self.n_nonmembers,
            "auc": self.auc.to_dict(),
            "balanced_accuracy": self.balanced_accuracy.to_dict(),
            "advantage": _f(2 * self.balanced_accuracy.value - 1) if self.balanced_accuracy.value is not None else None,
            "tpr_at_fpr": [t.to_dict() for t in self.tpr_at_fpr],
            "roc": self.roc,
            "bootstrap": {"replicates": self.n_bootstrap, "ci_level": self.ci_level, "method": "percentile, members and non-members resampled separately"},
            **self.extra,
        }


def attack_metrics(
    member: Sequence[float],
    nonmember: Sequence[float],
    *,
    fprs: Sequence[float] = DEFAULT_FPRS,
    n_bootstrap: int = 200,
    ci_level: float = 0.95,
    seed: int = 0,
) -> AttackMetrics:
    """Metrics of a threshold attack from member and non-member scores (higher = member).

    Confidence intervals: stratified bootstrap (members and non-members resampled separately,
    ``n_bootstrap`` replicates, percentile interval at ``ci_level``). The balanced accuracy is
    taken at the best threshold of each (re)sample, so it is optimistic by construction.
    """
    m = _as_scores(member, "member scores")
    o = _as_scores(nonmember, "non-member scores")
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    if not 0.0 < ci_level < 1.0:
        raise ValueError(f"ci_level must be in (0, 1), got {ci_level}")
    point_auc = float(_auc_rows(m[None, :], o[None, :])[0])
    point_ba = float(0.5 + 0.5 * _youden_rows(m[None, :], o[None, :])[0])
    o_desc = np.sort(o)[::-1][None, :]
    ks = [allowed_false_positives(f, o.size) for f in fprs]
    point_tpr = [float(np.mean(m > _threshold_rows(o_desc, k)[0])) for k in ks]

    lo_q, hi_q = (1 - ci_level) / 2, 1 - (1 - ci_level) / 2
    ci = lambda v: (float(np.quantile(v, lo_q)), float(np.quantile(v, hi_q))) if len(v) else (None, None)  # noqa: E731
    b_auc = b_ba = np.empty(0)
    b_tpr: list[np.ndarray] = [np.empty(0) for _ in ks]
    if n_bootstrap:
        rng = np.random.default_rng([seed, 0x5EED])
        chunks = []
        for start in range(0, n_bootstrap, 50):  # bounded memory for large experiments
            b = min(50, n_bootstrap - start)
            mb = m[rng.integers(0, m.size, (b, m.size))]
            ob = o[rng.integers(0, o.size, (b, o.size))]
            ob_desc = -np.sort(-ob, axis=1)
            chunks.append((_auc_rows(mb, ob), 0.5 + 0.5 * _youden_rows(mb, ob),
                           [np.mean(mb > _threshold_rows(ob_desc, k)[:, None], axis=1) for k in ks]))
        b_auc = np.concatenate([c[0] for c in chunks])
        b_ba = np.concatenate([c[1] for c in chunks])
        b_tpr = [np.concatenate([c[2][i] for c in chunks]) for i in range(len(ks))]
    fpr_full, tpr_full = roc_curve(m, o)
    return AttackMetrics(
        n_members=int(m.size),
        n_nonmembers=int(o.size),
        auc=Estimate(point_auc, ci(b_auc)),
        balanced_accuracy=Estimate(point_ba, ci(b_ba)),
        tpr_at_fpr=[
            TprAtFpr(fpr=float(f), value=t, ci=ci(bt), allowed_false_positives=k, resolvable=f * o.size >= 1.0)
            for f, t, bt, k in zip(fprs, point_tpr, b_tpr, ks)
        ],
        roc=downsample_roc(fpr_full, tpr_full, o.size),
        n_bootstrap=int(n_bootstrap),
        ci_level=float(ci_level),
    )


def _f(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def as_plain(obj: Any) -> Any:
    """Dataclasses and NumPy values to strict-JSON-safe plain data (NaN/inf become None)."""
    if hasattr(obj, "to_dict") and not isinstance(obj, type):
        return as_plain(obj.to_dict())
    if isinstance(obj, dict):
        return {str(k): as_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [as_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return as_plain(obj.tolist())
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _f(obj)
    if hasattr(obj, "__dataclass_fields__"):
        return as_plain(asdict(obj))
    return obj
