"""Empirical ε lower bound from one training run (Steinke, Nasr & Jagielski, NeurIPS 2023).

Protocol. ``m`` audit records are each included in the training set independently with
probability 1/2 (:func:`split_audit_records`). After training, every audit record gets a
membership score; the auditor guesses "in" for the ``n_in`` highest scores and "out" for the
``n_out`` lowest, abstaining on the rest, so it makes ``r = n_in + n_out`` guesses of which ``v``
are correct.

Their main theorem: if training is (ε, δ)-DP, then for every v

    P[W >= v] <= f(v) + 2·m·δ · max_{i = 1..v} (f(v - i) - f(v)) / i,
    f(u) = P[Binomial(r, e^ε / (1 + e^ε)) >= u],

where W is the number of correct guesses (for δ = 0: W is stochastically dominated by
Binomial(r, e^ε/(1+e^ε))). The right-hand side at the observed v is a p-value for the claim
"training is (ε, δ)-DP". Because (ε, δ)-DP implies (ε', δ)-DP for every ε' > ε, the claim is
rejected for every ε below the largest ε whose p-value is at most α; that largest ε is the
reported lower bound at confidence 1 - α. When several guess counts are tried, α is divided by
their number (Bonferroni).

A lower bound is only as strong as the attack and the number of guesses allow: even if every
one of r guesses is right, the bound cannot exceed the value where p reaches α (about 5.8 for
r = 1000, δ = 0, α = 0.05). That cap is reported next to the bound; a bound far below the
claimed ε is therefore not evidence that the claimed ε is tight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..data import TextDataset

#: Fractions of the audit records guessed on each side ("in" from the top, "out" from the bottom).
DEFAULT_GUESS_FRACTIONS: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.5)


# ---------------------------------------------------------------------------------------------
# The bound
# ---------------------------------------------------------------------------------------------


def _check_counts(m: int, r: int, v: int) -> None:
    if not (isinstance(m, (int, np.integer)) and isinstance(r, (int, np.integer)) and isinstance(v, (int, np.integer))):
        raise TypeError("m, r and v must be integers")
    if not 0 <= v <= r <= m:
        raise ValueError(f"need 0 <= correct guesses v <= guesses r <= audit records m, got v={v}, r={r}, m={m}")


def p_value(m: int, r: int, v: int, epsilon: float, delta: float) -> float:
    """P-value of "training is (ε, δ)-DP" after ``v`` correct of ``r`` guesses on ``m`` audit records."""
    return float(p_values(m, r, v, np.asarray([epsilon], dtype=np.float64), delta)[0])


def p_values(m: int, r: int, v: int, epsilons: np.ndarray, delta: float) -> np.ndarray:
    """:func:`p_value` for many ε at once."""
    from scipy.stats import binom

    _check_counts(m, r, v)
    eps = np.asarray(epsilons, dtype=np.float64).reshape(-1)
    if np.any(eps < 0) or not np.all(np.isfinite(eps)):
        raise ValueError("epsilon must be finite and >= 0")
    if not 0.0 <= delta <= 1.0:
        raise ValueError(f"delta must be in [0, 1], got {delta}")
    q = 1.0 / (1.0 + np.exp(-eps))  # success probability of ε-DP randomised response
    tail = binom.sf(v - 1, r, q)  # f(v) = P[Binomial(r, q) >= v]
    if delta == 0.0 or v == 0:
        return np.clip(tail, 0.0, 1.0)
    # (f(v - i) - f(v)) / i = P[v - i <= B <= v - 1] / i, for i = 1..v
    j = np.arange(v - 1, -1, -1)  # v-1, v-2, ..., 0
    pmf = binom.pmf(j[None, :], r, q[:, None])
    windows = np.cumsum(pmf, axis=1) / np.arange(1, v + 1)[None, :]
    return np.clip(tail + 2.0 * m * delta * windows.max(axis=1), 0.0, 1.0)


def epsilon_lower_bound(m: int, r: int, v: int, delta: float, alpha: float = 0.05, *, eps_max: float = 60.0) -> float:
    """The largest ε whose p-value is at most ``alpha`` (0 when none is): an ε lower bound at confidence 1 - α."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    _check_counts(m, r, v)
    if r == 0:
        return 0.0
    grid = np.linspace(0.0, eps_max, int(eps_max * 50) + 1)
    ok = p_values(m, r, v, grid, delta) <= alpha
    if not ok.any():
        return 0.0
    i = int(np.flatnonzero(ok)[-1])
    if i == len(grid) - 1:
        return float(grid[-1])
    lo, hi = float(grid[i]), float(grid[i + 1])  # p(lo) <= alpha < p(hi): refine the crossing
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if p_value(m, r, v, mid, delta) <= alpha:
            lo = mid
        else:
            hi = mid
    return lo


def max_certifiable_epsilon(m: int, r: int, delta: float, alpha: float = 0.05) -> float:
    """The bound the audit would give if all ``r`` guesses were right: the most it can ever certify."""
    return epsilon_lower_bound(m, r, r, delta, alpha)


# ---------------------------------------------------------------------------------------------
# Audit records
# ---------------------------------------------------------------------------------------------


class AuditRecords:
    """Audit records with their random inclusion decisions (each included with probability 1/2).

    ``training_set(train)`` returns ``train`` plus the included records, to train on; after
    training, :func:`one_run_audit` scores all records and compares guesses with ``included``.
    The records are kept in memory only; :meth:`to_dict` describes them without their texts.
    """

    def __init__(self, records: TextDataset, included: Sequence[bool], *, seed: int, probability: float = 0.5,
                 label_flipped: Sequence[bool] | None = None) -> None:
        if len(included) != len(records):
            raise ValueError(f"{len(records)} audit records but {len(included)} inclusion flags")
        self.records = records
        self.included = np.asarray(included, dtype=bool)
        self.seed = int(seed)
        self.probability = float(probability)
        self.label_flipped = None if label_flipped is None else np.asarray(label_flipped, dtype=bool)

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return f"AuditRecords(m={len(self)}, included={int(self.included.sum())}, seed={self.seed})"

    def included_records(self) -> TextDataset:
        return self.records.subset(np.flatnonzero(self.included))

    def training_set(self, train: TextDataset) -> TextDataset:
        """``train`` with the included audit records appended (per-example metadata kept aligned)."""
        return append_rows(train, self.included_records(), fill="audit")

    def to_dict(self) -> dict[str, Any]:
        return {
            "m": len(self), "n_included": int(self.included.sum()), "inclusion_probability": self.probability,
            "seed": self.seed, "records_sha256": self.records.sha256,
            "labels_flipped": None if self.label_flipped is None else int(self.label_flipped.sum()),
        }


def split_audit_records(records: TextDataset, seed: int = 0, *, flip_labels: bool = False) -> AuditRecords:
    """Include each record independently with probability 1/2 (seeded).

    With ``flip_labels`` every record gets a different label (the next class): mislabelled records
    are memorised more visibly, which makes the audit stronger, at the cost of label noise in
    training. The records must not occur in the training or evaluation data.
    """
    if len(records) < 2:
        raise ValueError(f"need at least 2 audit records, got {len(records)}")
    if len(set(records.texts)) != len(records):
        raise ValueError("audit records must have distinct texts")
    rng = np.random.default_rng([seed, 0xA0D17])
    included = rng.random(len(records)) < 0.5
    flipped = None
    if flip_labels:
        k = records.num_labels
        if k < 2:
            raise ValueError("flip_labels needs at least two labels")
        records = TextDataset(
            texts=list(records.texts), labels=[(y + 1) % k for y in records.labels], label_names=list(records.label_names),
            ids=list(records.ids), groups=None if records.groups is None else list(records.groups),
            rationales=None, source=records.source,
            meta={k2: v for k2, v in records.meta.items()},
        )
        flipped = np.ones(len(records), dtype=bool)
    return AuditRecords(records, included, seed=seed, label_flipped=flipped)


def append_rows(base: TextDataset, extra: TextDataset, *, fill: str) -> TextDataset:
    """``base`` followed by ``extra`` (same label names), keeping optional columns and per-example meta aligned.

    Missing rationales become all-zero flags, missing groups ``None`` and missing per-example
    metadata ``fill``; ids that collide with ``base`` are an error.
    """
    if list(base.label_names) != list(extra.label_names):
        raise ValueError(f"label names differ: {base.label_names} vs {extra.label_names}")
    clash = set(base.ids) & set(extra.ids)
    if clash:
        raise ValueError(f"{len(clash)} ids occur in both datasets, e.g. {sorted(clash)[0]!r}; give the added records distinct ids")
    n_extra = len(extra)
    groups = None
    if base.groups is not None or extra.groups is not None:
        groups = list(base.groups or [None] * len(base)) + list(extra.groups or [None] * n_extra)
    rationales = None
    if base.rationales is not None:
        rationales = list(base.rationales) + (list(extra.rationales) if extra.rationales is not None
                                              else [[0] * len(t.split()) for t in extra.texts])
    meta = dict(base.meta)
    per_example = list(base.meta.get("per_example", ()))
    for key in per_example:
        theirs = extra.meta.get(key) if key in extra.meta.get("per_example", ()) else None
        meta[key] = list(base.meta[key]) + (list(theirs) if theirs is not None else [fill] * n_extra)
    return TextDataset(
        texts=list(base.texts) + list(extra.texts),
        labels=list(base.labels) + list(extra.labels),
        label_names=list(base.label_names),
        ids=list(base.ids) + list(extra.ids),
        groups=groups,
        rationales=rationales,
        source=base.source,
        meta=meta,
    )


# ---------------------------------------------------------------------------------------------
# The audit
# ---------------------------------------------------------------------------------------------


@dataclass
class GuessTrial:
    """One guessing rule (how many "in" and "out" guesses) and what it certifies."""

    n_in: int
    n_out: int
    guesses: int
    correct: int
    epsilon_lower_bound: float
    max_certifiable_epsilon: float
    p_value_at_claimed: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class OneRunAudit:
    """Result of the one-run audit: the best lower bound over the trials, with its context."""

    m: int
    n_included: int
    delta: float
    alpha: float
    confidence: float
    bonferroni: int
    epsilon_lower_bound: float
    best: GuessTrial | None
    max_certifiable_epsilon: float
    trials: list[GuessTrial]
    claimed_epsilon: float | None = None
    score: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def contradicts_claim(self) -> bool:
        return self.claimed_epsilon is not None and self.epsilon_lower_bound > self.claimed_epsilon

    def to_dict(self) -> dict[str, Any]:
        return {
            "epsilon_lower_bound": self.epsilon_lower_bound,
            "confidence": self.confidence,
            "claimed_epsilon": self.claimed_epsilon,
            "delta": self.delta,
            "max_certifiable_epsilon": self.max_certifiable_epsilon,
            "contradicts_claim": self.contradicts_claim,
            "m": self.m,
            "n_included": self.n_included,
            "alpha": self.alpha,
            "bonferroni": self.bonferroni,
            "score": self.score,
            "best": self.best.to_dict() if self.best else None,
            "trials": [t.to_dict() for t in self.trials],
            "method": "Steinke, Nasr & Jagielski (2023), one training run, (ε, δ) p-value, largest ε with p <= α/trials",
            "notes": list(self.notes),
        }


def guess_counts(m: int, fractions: Sequence[float] = DEFAULT_GUESS_FRACTIONS, two_sided: bool = True) -> list[tuple[int, int]]:
    """(n_in, n_out) pairs: each fraction of the records guessed "in" (and as many "out" when two-sided)."""
    out: list[tuple[int, int]] = []
    for f in fractions:
        if not 0.0 < f <= 1.0:
            raise ValueError(f"guess fractions must be in (0, 1], got {f}")
        k = max(1, int(round(f * m)))
        k = min(k, m // 2) if two_sided else min(k, m)
        pair = (k, k if two_sided else 0)
        if k >= 1 and pair not in out:
            out.append(pair)
    return out


def one_run_audit(
    scores: Sequence[float],
    included: Sequence[bool],
    *,
    delta: float,
    alpha: float = 0.05,
    guesses: Sequence[tuple[int, int]] | None = None,
    claimed_epsilon: float | None = None,
    score_name: str = "",
    seed: int = 0,
) -> OneRunAudit:
    """Guess membership of the audit records from their scores and bound ε from below.

    ``guesses``: (n_in, n_out) pairs to try, default :func:`guess_counts`; the level is split
    over them (Bonferroni). Ties in the scores are broken at random (seeded), never by position.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    inc = np.asarray(included, dtype=bool).reshape(-1)
    m = s.size
    if inc.size != m:
        raise ValueError(f"{m} scores but {inc.size} inclusion flags")
    if m < 2 or not np.all(np.isfinite(s)):
        raise ValueError("need at least 2 finite audit scores")
    if not 0.0 <= delta < 1.0:
        raise ValueError(f"delta must be in [0, 1), got {delta}")
    pairs = list(guesses) if guesses is not None else guess_counts(m)
    for a, b in pairs:
        if a < 0 or b < 0 or a + b == 0 or a + b > m:
            raise ValueError(f"guess counts (n_in={a}, n_out={b}) must be >= 0, not both 0, and at most m={m} together")
    if not pairs:
        raise ValueError("no guess counts to try")
    rng = np.random.default_rng([seed, 0x57E1])
    order = np.lexsort((rng.random(m), -s))  # highest score first, random among ties
    level = alpha / len(pairs)
    trials = []
    for n_in, n_out in pairs:
        guess_in = order[:n_in]
        guess_out = order[m - n_out:] if n_out else order[:0]
        correct = int(inc[guess_in].sum() + (~inc[guess_out]).sum())
        r = n_in + n_out
        trials.append(GuessTrial(
            n_in=n_in, n_out=n_out, guesses=r, correct=correct,
            epsilon_lower_bound=epsilon_lower_bound(m, r, correct, delta, level),
            max_certifiable_epsilon=max_certifiable_epsilon(m, r, delta, level),
            p_value_at_claimed=p_value(m, r, correct, claimed_epsilon, delta) if claimed_epsilon is not None else None,
        ))
    best = max(trials, key=lambda t: (t.epsilon_lower_bound, -t.guesses))
    notes = []
    cap = max(t.max_certifiable_epsilon for t in trials)
    if claimed_epsilon is not None and cap < claimed_epsilon:
        notes.append(
            f"with {m} audit records this audit cannot certify more than ε = {cap:.2f} even if every guess is right, "
            f"which is below the claimed ε = {claimed_epsilon:.3g}: a low lower bound says nothing about whether the claim is tight"
        )
    return OneRunAudit(
        m=m, n_included=int(inc.sum()), delta=float(delta), alpha=float(alpha), confidence=1.0 - alpha,
        bonferroni=len(pairs), epsilon_lower_bound=best.epsilon_lower_bound if best.epsilon_lower_bound > 0 else 0.0,
        best=best if best.epsilon_lower_bound > 0 else None, max_certifiable_epsilon=cap, trials=trials,
        claimed_epsilon=claimed_epsilon, score=score_name, notes=notes,
    )
