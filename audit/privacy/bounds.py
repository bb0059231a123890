"""What a DP guarantee allows an attacker, and whether the measured leakage stays inside it.

A single (ε, δ) pair says little about low false-positive rates: (8, 1e-5)-DP still allows a
membership test with TPR 0.9997 at FPR 0.001. DP-SGD has a much stronger guarantee than that
one pair, described by its whole privacy curve δ(ε). We rebuild that curve from the training
ledger (sampling rate q, noise multiplier σ, number of steps) with an accountant independent of
the one used in training (the privacy-loss distribution of ``dp_accounting``: the Poisson
subsampled Gaussian, self-composed ``steps`` times, pessimistic discretisation), and turn it into
the largest TPR any membership test can have at each FPR:

    bound(FPR) = min over ε of  min( e^ε·FPR + δ(ε),  1 - e^-ε·(1 - δ(ε) - FPR) )

(both inequalities of (ε, δ(ε))-DP, for every ε at once). The bound is concave, so it also holds
for the average over records, i.e. for the ROC of an attack measured on a population.

The measured side is made conservative too: at each target FPR the threshold lets ``k`` of the
``n`` non-members through; the true FPR of that threshold is below the one-sided Clopper-Pearson
upper bound of k/n, and the true TPR is above the Clopper-Pearson lower bound of the members it
catches. A violation is declared only when that TPR lower bound exceeds the bound at the FPR
upper bound, with the error split between the two and Bonferroni-corrected over every (attack,
FPR) pair tested, so a correctly trained DP model raises a false alarm with probability at most
``alpha`` (records treated as independent trials).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .stats import allowed_false_positives, clopper_pearson_lower, clopper_pearson_upper

#: FPRs at which the measured TPR is compared with the DP bound.
DEFAULT_CHECK_FPRS: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1)

_ACCOUNTED_KEYS = ("sample_rate", "noise_multiplier", "steps", "delta")


class LedgerError(ValueError):
    """The privacy ledger is missing a field or holds an impossible value; the message names it."""


@dataclass(frozen=True)
class Ledger:
    """The fields of a DP-SGD training ledger the audit needs."""

    sample_rate: float
    noise_multiplier: float
    steps: int
    delta: float
    epsilon: float | None = None
    accountant: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Ledger":
        """Validate a ledger dict (as written by private training); errors name the field."""
        if not isinstance(d, Mapping):
            raise LedgerError(f"privacy ledger must be a dict, got {type(d).__name__}")
        missing = [k for k in _ACCOUNTED_KEYS if d.get(k) is None]
        if missing:
            raise LedgerError(f"privacy ledger is missing {', '.join(missing)} (needed to rebuild the privacy curve)")

        def num(key: str) -> float:
            v = d[key]
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(float(v)):
                raise LedgerError(f"privacy ledger: {key} must be a finite number, got {v!r}")
            return float(v)

        q, sigma, steps, delta = num("sample_rate"), num("noise_multiplier"), num("steps"), num("delta")
        if not 0.0 < q <= 1.0:
            raise LedgerError(f"privacy ledger: sample_rate must be in (0, 1], got {q}")
        if sigma <= 0.0:
            raise LedgerError(f"privacy ledger: noise_multiplier must be > 0, got {sigma} (a model trained without noise has no DP guarantee)")
        if steps < 1 or not float(steps).is_integer():
            raise LedgerError(f"privacy ledger: steps must be a positive integer, got {d['steps']!r}")
        if not 0.0 < delta < 1.0:
            raise LedgerError(f"privacy ledger: delta must be in (0, 1), got {delta}")
        eps = d.get("epsilon")
        if eps is not None:
            eps = num("epsilon")
            if eps < 0:
                raise LedgerError(f"privacy ledger: epsilon must be >= 0, got {eps}")
        acc = d.get("accountant")
        return cls(sample_rate=q, noise_multiplier=sigma, steps=int(steps), delta=delta, epsilon=eps,
                   accountant=None if acc is None else str(acc))

    def to_dict(self) -> dict[str, Any]:
        return {"sample_rate": self.sample_rate, "noise_multiplier": self.noise_multiplier, "steps": self.steps,
                "delta": self.delta, "epsilon": self.epsilon, "accountant": self.accountant}


class PrivacyCurve:
    """δ(ε) of Poisson-subsampled Gaussian DP-SGD, rebuilt from a ledger with ``dp_accounting`` PLD."""

    def __init__(self, ledger: Ledger | Mapping[str, Any], *, discretization: float = 1e-3, eps_step: float = 0.01) -> None:
        from dp_accounting.pld import privacy_loss_distribution as pld_lib

        self.ledger = ledger if isinstance(ledger, Ledger) else Ledger.from_dict(ledger)
        if not 0 < discretization <= 0.1:
            raise ValueError(f"discretization must be in (0, 0.1], got {discretization}")
        if not 0 < eps_step <= 0.1:
            raise ValueError(f"eps_step must be in (0, 0.1], got {eps_step}")
        self.discretization = discretization
        self._mu: float | None = None
        single = pld_lib.from_gaussian_mechanism(
            standard_deviation=self.ledger.noise_multiplier,
            sensitivity=1.0,
            sampling_prob=self.ledger.sample_rate,
            value_discretization_interval=discretization,
            pessimistic_estimate=True,
        )
        self._pld = single.self_compose(self.ledger.steps) if self.ledger.steps > 1 else single
        # ε grid up to where δ(ε) is negligible; the minimum over a grid over-estimates the bound
        # by at most a factor e^eps_step, in the safe direction.
        eps_max = min(60.0, max(1.0, 1.25 * float(self._pld.get_epsilon_for_delta(1e-12)) + 1.0))
        self.eps_grid = np.arange(0.0, eps_max + eps_step, eps_step)
        self.delta_grid = np.clip(np.asarray(self._pld.get_delta_for_epsilon(self.eps_grid), dtype=np.float64), 0.0, 1.0)

    def delta(self, epsilon: float) -> float:
        """δ at ``epsilon`` (an upper bound: pessimistic discretisation)."""
        return float(self._pld.get_delta_for_epsilon(float(epsilon)))

    def epsilon(self, delta: float) -> float:
        """ε at ``delta`` according to this (independent) accountant."""
        return float(self._pld.get_epsilon_for_delta(float(delta)))

    def tpr_bound(self, fpr: Any) -> np.ndarray:
        """The largest TPR any membership test may have at each FPR under the whole curve."""
        return tradeoff_bound(np.asarray(fpr, dtype=np.float64), self.eps_grid, self.delta_grid)

    def gaussian_mu(self) -> float:
        """The largest μ whose μ-GDP test (members N(μ,1) vs non-members N(0,1)) stays within the bound.

        Scores drawn that way are the strongest Gaussian attack the ledger permits: a test that
        raises alarms on them is wrong (used to check the check for false alarms).
        """
        from scipy.stats import norm

        if self._mu is not None:
            return self._mu
        f = np.unique(np.concatenate([np.geomspace(1e-7, 0.5, 1500), 1.0 - np.geomspace(1e-4, 0.5, 500)]))
        b = np.clip(self.tpr_bound(f), 0.0, 1.0 - 1e-15)
        # 0.1% below the grid minimum, so the Gaussian curve stays under the bound between grid points
        self._mu = float(max(0.0, 0.999 * np.min(norm.ppf(b) - norm.ppf(f))))
        return self._mu


def tradeoff_bound(fpr: np.ndarray, eps: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """min over the (ε, δ(ε)) pairs of both DP inequalities, as the largest TPR at each FPR."""
    f = np.clip(np.asarray(fpr, dtype=np.float64), 0.0, 1.0)
    e = np.asarray(eps, dtype=np.float64)[:, None]
    d = np.asarray(delta, dtype=np.float64)[:, None]
    a = np.exp(e) * f[None, :] + d
    b = 1.0 - np.exp(-e) * (1.0 - d - f[None, :])
    out = np.minimum(a, b).min(axis=0)
    return np.clip(np.maximum(out, f), 0.0, 1.0)


def single_pair_tpr_bound(fpr: Any, epsilon: float, delta: float) -> np.ndarray:
    """The largest TPR at each FPR allowed by one (ε, δ) pair alone (no curve)."""
    return tradeoff_bound(np.asarray(fpr, dtype=np.float64), np.asarray([epsilon]), np.asarray([delta]))


@dataclass
class BoundPoint:
    """One (experiment, FPR) comparison of the measured TPR with the DP bound."""

    experiment: str
    target_fpr: float
    n_members: int
    n_nonmembers: int
    allowed_false_positives: int
    fpr_upper: float
    true_positives: int
    tpr: float
    tpr_lower: float
    bound: float
    headroom: float  # bound - tpr_lower; negative means the guarantee is violated
    violated: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class DPBoundCheck:
    """The outcome of comparing measured membership leakage with the ledger's privacy curve."""

    status: str  # "pass" | "fail"
    ledger: dict[str, Any]
    independent_epsilon: float
    accountant: str
    alpha: float
    per_test_alpha: float
    points: list[BoundPoint]
    bound_curve: dict[str, list[float]]
    single_pair_curve: dict[str, list[float]] | None
    gaussian_mu: float
    notes: list[str] = field(default_factory=list)

    @property
    def violated(self) -> bool:
        return any(p.violated for p in self.points)

    @property
    def min_headroom(self) -> float | None:
        return min((p.headroom for p in self.points), default=None)

    def to_dict(self) -> dict[str, Any]:
        worst = min(self.points, key=lambda p: p.headroom) if self.points else None
        return {
            "status": self.status,
            "violated": self.violated,
            "message": ("measured leakage exceeds the DP guarantee: training is not private as claimed"
                        if self.violated else "measured leakage is within the DP guarantee of the ledger"),
            "ledger": self.ledger,
            "independent_epsilon": self.independent_epsilon,
            "accountant": self.accountant,
            "alpha": self.alpha,
            "per_test_alpha": self.per_test_alpha,
            "min_headroom": self.min_headroom,
            "worst": worst.to_dict() if worst else None,
            "points": [p.to_dict() for p in self.points],
            "bound_curve": self.bound_curve,
            "single_pair_curve": self.single_pair_curve,
            "gaussian_mu": self.gaussian_mu,
            "notes": list(self.notes),
        }


def dp_bound_check(
    curve: PrivacyCurve,
    experiments: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    fprs: Sequence[float] = DEFAULT_CHECK_FPRS,
    alpha: float = 0.05,
) -> DPBoundCheck:
    """Compare each experiment's (member scores, non-member scores) ROC with the DP bound.

    For every experiment and FPR: threshold at the (k+1)-th largest non-member score with
    ``k = floor(FPR·n)``; FPR upper bound and TPR lower bound are one-sided Clopper-Pearson
    bounds at ``alpha / (2·tests)`` each; violated when ``TPR_lower > bound(FPR_upper)``.
    """
    if not experiments:
        raise ValueError("dp_bound_check needs at least one experiment (member and non-member scores)")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    fprs = [float(f) for f in fprs]
    for f in fprs:
        allowed_false_positives(f, 1)  # validates the range
    n_tests = len(experiments) * len(fprs)
    a = alpha / (2 * n_tests)
    points: list[BoundPoint] = []
    for name, (member, nonmember) in experiments.items():
        m = np.asarray(member, dtype=np.float64)
        o = np.asarray(nonmember, dtype=np.float64)
        if m.size == 0 or o.size == 0 or not (np.all(np.isfinite(m)) and np.all(np.isfinite(o))):
            raise ValueError(f"experiment {name!r}: needs finite member and non-member scores")
        o_desc = np.sort(o)[::-1]
        for f in fprs:
            k = allowed_false_positives(f, o.size)
            t = -np.inf if k >= o.size else o_desc[k]
            tp = int(np.sum(m > t))
            fpr_hi = clopper_pearson_upper(k, o.size, a)
            tpr_lo = clopper_pearson_lower(tp, m.size, a)
            bound = float(curve.tpr_bound([fpr_hi])[0])
            points.append(BoundPoint(
                experiment=str(name), target_fpr=f, n_members=int(m.size), n_nonmembers=int(o.size),
                allowed_false_positives=k, fpr_upper=fpr_hi, true_positives=tp, tpr=tp / m.size,
                tpr_lower=tpr_lo, bound=bound, headroom=bound - tpr_lo, violated=tpr_lo > bound,
            ))
    grid = np.unique(np.concatenate([np.geomspace(1e-5, 1.0, 61), np.linspace(0.0, 1.0, 41)]))
    ledger = curve.ledger
    single = None
    if ledger.epsilon is not None:
        single = {"fpr": _r(grid), "tpr": _r(single_pair_tpr_bound(grid, ledger.epsilon, ledger.delta))}
    independent = curve.epsilon(ledger.delta)
    notes = []
    if ledger.epsilon is not None and independent > ledger.epsilon * 1.05 + 0.05:
        notes.append(
            f"the ledger claims ε = {ledger.epsilon:.3g} at δ = {ledger.delta:.2g}, but an independent accountant "
            f"(PLD) gives ε = {independent:.3g} for the same noise, sampling rate and steps"
        )
    status = "fail" if any(p.violated for p in points) else "pass"
    return DPBoundCheck(
        status=status,
        ledger=ledger.to_dict(),
        independent_epsilon=independent,
        accountant=f"dp_accounting PLD, Poisson-subsampled Gaussian, add/remove neighbours, pessimistic, discretisation {curve.discretization:g}",
        alpha=alpha,
        per_test_alpha=a,
        points=points,
        bound_curve={"fpr": _r(grid), "tpr": _r(curve.tpr_bound(grid))},
        single_pair_curve=single,
        gaussian_mu=curve.gaussian_mu(),
        notes=notes,
    )


def _r(x: Any) -> list[float]:
    return [round(float(v), 8) for v in np.asarray(x).reshape(-1)]
