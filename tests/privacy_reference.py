"""Reference values for the privacy-audit tests, computed from the published definitions with SciPy only.

Nothing here imports :mod:`audit.privacy`: the tests compare what the audit reports with these
values, so a slip in the audit (a missing Bonferroni division, a sign, an ignored score) shows
up as a difference instead of being reproduced on both sides.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit, logsumexp
from scipy.stats import binom


def one_run_p_values(m: int, r: int, v: int, epsilons: np.ndarray, delta: float) -> np.ndarray:
    """Steinke, Nasr & Jagielski (2023), main theorem, at each ε: an upper bound on P[W >= v] under (ε, δ)-DP.

    P[W >= v] <= f(v) + 2·m·δ·max_{1 <= i <= v} (f(v - i) - f(v)) / i, with
    f(u) = P[Binomial(r, e^ε / (1 + e^ε)) >= u]; capped at 1.
    """
    q = expit(np.asarray(epsilons, dtype=np.float64).reshape(-1, 1))
    f_v = binom.sf(v - 1, r, q)[:, 0]
    if delta == 0.0 or v == 0:
        return np.minimum(f_v, 1.0)
    i = np.arange(1, v + 1)
    f_lower = binom.sf(v - i - 1, r, q)  # f(v - i) for every i, one row per ε
    gaps = (f_lower - f_v[:, None]) / i
    return np.minimum(f_v + 2.0 * m * delta * gaps.max(axis=1), 1.0)


def largest_rejected_epsilon(m: int, r: int, v: int, delta: float, level: float, *, eps_max: float = 10.0,
                             step: float = 0.01) -> float:
    """The largest ε whose p-value is at most ``level`` (0 when none is), by a fine scan and root refinement."""
    p = lambda e: float(one_run_p_values(m, r, v, np.array([e]), delta)[0])  # noqa: E731
    grid = np.arange(0.0, eps_max + 1e-9, step)
    ok = one_run_p_values(m, r, v, grid, delta) <= level
    if not ok.any():
        return 0.0
    last = int(np.flatnonzero(ok)[-1])
    if last == len(grid) - 1:
        raise ValueError(f"the bound reaches the scanned limit ε = {eps_max}; widen eps_max")
    return float(brentq(lambda e: p(e) - level, grid[last], grid[last + 1], xtol=1e-13))


def correct_guesses(scores: Sequence[float], included: Sequence[bool], n_in: int, n_out: int) -> int:
    """Correct guesses when the ``n_in`` highest scores are guessed "in" and the ``n_out`` lowest "out" (no ties)."""
    s = np.asarray(scores, dtype=np.float64)
    inc = np.asarray(included, dtype=bool)
    assert len(np.unique(s)) == s.size, "the reference assumes distinct scores"
    order = np.argsort(-s)
    return int(inc[order[:n_in]].sum() + (~inc[order[s.size - n_out:]]).sum()) if n_out else int(inc[order[:n_in]].sum())


def log_prob_of_label(logits: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """log softmax(logits)[label] per row."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=int)
    return z[np.arange(len(y)), y] - logsumexp(z, axis=1)


class PlantedScorer:
    """A classifier stand-in whose logits are a planted function of the text.

    ``logits(text)`` returns one row of logits; the audit sees an ordinary single-label model with
    ``predict_logits``, so everything it reports can be recomputed by hand from that function.
    """

    multi_label = False
    source = "planted scorer"
    device = "cpu"

    def __init__(self, logits: Callable[[str], Sequence[float]], label_names: Sequence[str] = ("neg", "pos")) -> None:
        self.logits = logits
        self.label_names = list(label_names)
        self.num_labels = len(self.label_names)

    def predict_logits(self, texts, batch_size=64, max_length=None):
        return np.array([np.asarray(self.logits(t), dtype=np.float64) for t in texts]).reshape(len(texts), self.num_labels)
