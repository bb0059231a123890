"""Rank correlations and the bootstrap mean interval at their edges, against independent references.

The agreement, sanity and plausibility sections report these numbers for every method, so the
small-sample cases (two examples, one example, constant or tied scores) and the stated interval
level must hold exactly, not only on typical inputs.
"""

import warnings

import numpy as np
import pytest
from scipy.stats import kendalltau, norm, spearmanr

from audit.attribution._stats import kendall_tau_b, mean_ci, spearman


def test_two_examples_already_have_a_rank_correlation():
    assert spearman([1.0, 2.0], [3.0, 5.0]) == pytest.approx(1.0)
    assert spearman([1.0, 2.0], [5.0, 3.0]) == pytest.approx(-1.0)
    assert kendall_tau_b([1.0, 2.0], [3.0, 5.0]) == pytest.approx(1.0)
    assert kendall_tau_b([1.0, 2.0], [5.0, 3.0]) == pytest.approx(-1.0)
    assert spearman([1.0], [2.0]) is None and kendall_tau_b([1.0], [2.0]) is None


def test_kendall_with_ties_on_either_side_matches_scipy_and_constant_input_is_undefined():
    rng = np.random.default_rng(3)
    for _ in range(50):
        n = int(rng.integers(3, 12))
        x = rng.integers(0, 3, n).astype(float)  # many ties in both
        y = rng.integers(0, 3, n).astype(float)
        with warnings.catch_warnings():  # SciPy warns on constant input, where both sides are undefined
            warnings.simplefilter("ignore")
            ref = kendalltau(x, y).statistic  # tau-b
            ref_s = spearmanr(x, y).statistic
        got = kendall_tau_b(x, y)
        if np.isnan(ref):
            assert got is None
        else:
            assert got == pytest.approx(ref, abs=1e-12)
        got_s = spearman(x, y)
        assert got_s is None if np.isnan(ref_s) else got_s == pytest.approx(ref_s, abs=1e-12)
    assert kendall_tau_b([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]) is None
    assert kendall_tau_b([1.0, 2.0, 3.0], [4.0, 4.0, 4.0]) is None


def test_mean_ci_needs_two_values_and_replicates_and_always_reports_every_field():
    one = mean_ci([0.7, None, float("nan")], n_boot=100)
    assert one == {"mean": pytest.approx(0.7), "ci_low": None, "ci_high": None, "n": 1}
    two = mean_ci([0.0, 1.0], n_boot=400, seed=0)
    assert two["n"] == 2 and two["ci_low"] is not None
    no_boot = mean_ci([0.0, 1.0, 2.0], n_boot=0)
    assert no_boot == {"mean": pytest.approx(1.0), "ci_low": None, "ci_high": None, "n": 3}


def test_bootstrap_draws_every_example():
    # Resampling two values: the bootstrap means are 0, 0.5 and 1 with probabilities 1/4, 1/2, 1/4,
    # so with 2000 replicates the 2.5% and 97.5% quantiles are the extremes.
    ci = mean_ci([0.0, 1.0], n_boot=2000, seed=1)
    assert ci["ci_low"] == 0.0 and ci["ci_high"] == 1.0


def test_same_seed_same_interval_other_seed_other_interval():
    v = list(np.random.default_rng(5).normal(size=30))
    assert mean_ci(v, seed=7) == mean_ci(v, seed=7)
    assert mean_ci(v, seed=7)["ci_low"] != mean_ci(v, seed=8)["ci_low"]


@pytest.mark.parametrize("level", [0.8, 0.95])
def test_interval_width_matches_the_stated_level(level):
    # For the mean of 400 normal values the percentile-bootstrap interval is the normal-theory
    # interval mean ± z·sd/√n up to bootstrap noise (about 2% here); a wrong level is off by 8% or more.
    v = np.random.default_rng(11).normal(size=400)
    ci = mean_ci(v, level=level, n_boot=8000, seed=0)
    half = norm.ppf(0.5 + level / 2) * v.std(ddof=1) / np.sqrt(v.size)
    assert (ci["ci_high"] - ci["ci_low"]) / (2 * half) == pytest.approx(1.0, abs=0.04)
    assert (ci["ci_high"] + ci["ci_low"]) / 2 == pytest.approx(v.mean(), abs=0.1 * half)
