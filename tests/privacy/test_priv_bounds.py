"""The DP bound: privacy curve from a ledger, the TPR it allows, and the check against measured scores."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy.stats import norm

from audit.privacy.bounds import Ledger, LedgerError, PrivacyCurve, dp_bound_check, single_pair_tpr_bound

# A ledger that claims sigma = 1.0 (the kind of claim a model trained without noise might carry).
CLAIM = {"epsilon": 1.07, "delta": 1e-5, "noise_multiplier": 1.0, "sample_rate": 0.01, "steps": 300, "accountant": "prv"}


@pytest.fixture(scope="module")
def curve() -> PrivacyCurve:
    return PrivacyCurve(CLAIM)


def test_single_pair_is_vacuous_at_epsilon_8():
    # (8, 1e-5)-DP alone allows TPR 0.9997 at FPR 0.001
    assert single_pair_tpr_bound([1e-3], 8.0, 1e-5)[0] == pytest.approx(0.99966, abs=5e-5)


@pytest.mark.parametrize("sigma", [0.7, 1.0, 2.0])
def test_gaussian_mechanism_bound_is_the_exact_tradeoff(sigma):
    # One unsampled Gaussian step: the optimal test has TPR = Phi(Phi^-1(FPR) + 1/sigma)
    c = PrivacyCurve({"sample_rate": 1.0, "noise_multiplier": sigma, "steps": 1, "delta": 1e-5})
    f = np.array([1e-4, 1e-3, 1e-2, 0.1, 0.5, 0.9])
    exact = norm.cdf(norm.ppf(f) + 1.0 / sigma)
    b = c.tpr_bound(f)
    assert np.all(b >= exact - 1e-9)  # never tighter than the truth
    assert np.allclose(b, exact, rtol=0.02, atol=2e-4)
    assert c.gaussian_mu() == pytest.approx(1.0 / sigma, rel=0.01)


def test_independent_accountant_agrees_with_opacus():
    from opacus.accountants import PRVAccountant

    for q, sigma, steps in ((0.0167, 0.55, 120), (0.01, 1.0, 300)):
        acc = PRVAccountant()
        acc.history = [(sigma, q, steps)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = acc.get_epsilon(1e-5)
        ours = PrivacyCurve({"sample_rate": q, "noise_multiplier": sigma, "steps": steps, "delta": 1e-5}).epsilon(1e-5)
        assert ours == pytest.approx(theirs, rel=0.03)


def test_whole_curve_is_far_tighter_than_the_single_pair():
    ledger = {"sample_rate": 0.0167, "noise_multiplier": 0.55, "steps": 120, "delta": 1e-5}
    c = PrivacyCurve(ledger)
    eps = c.epsilon(1e-5)
    assert 6.5 < eps < 7.5
    curve_b, pair_b = c.tpr_bound([1e-3])[0], single_pair_tpr_bound([1e-3], eps, 1e-5)[0]
    assert pair_b > 0.99 and curve_b < 0.05


def test_ledger_validation_names_the_field():
    with pytest.raises(LedgerError, match="sample_rate"):
        Ledger.from_dict({k: v for k, v in CLAIM.items() if k != "sample_rate"})
    with pytest.raises(LedgerError, match="noise_multiplier"):
        Ledger.from_dict({**CLAIM, "noise_multiplier": 0.0})
    with pytest.raises(LedgerError, match="sample_rate"):
        Ledger.from_dict({**CLAIM, "sample_rate": 1.5})
    with pytest.raises(LedgerError, match="steps"):
        Ledger.from_dict({**CLAIM, "steps": 2.5})
    with pytest.raises(LedgerError, match="delta"):
        Ledger.from_dict({**CLAIM, "delta": float("nan")})
    with pytest.raises(LedgerError, match="dict"):
        Ledger.from_dict([1, 2])


def test_flags_a_memorising_model_labelled_private(curve):
    rng = np.random.default_rng(0)
    members, nonmembers = rng.normal(6.0, 1.0, 500), rng.normal(0.0, 1.0, 500)
    res = dp_bound_check(curve, {"loss": (members, nonmembers)})
    assert res.status == "fail" and res.violated
    assert res.min_headroom < 0
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["message"] == "measured leakage exceeds the DP guarantee: training is not private as claimed"
    # every tested FPR on this clearly separated data is a violation, except where the bound is 1
    assert all(p["violated"] for p in d["points"] if p["bound"] < 0.9)


def test_passes_scores_inside_the_guarantee(curve):
    rng = np.random.default_rng(1)
    res = dp_bound_check(curve, {"loss": (rng.normal(0.05, 1, 500), rng.normal(0, 1, 500))})
    assert res.status == "pass" and res.min_headroom > 0
    assert res.independent_epsilon == pytest.approx(1.07, rel=0.05)
    assert not res.notes  # the ledger's epsilon matches the independent accountant


def test_no_false_alarms_for_the_strongest_attack_the_ledger_allows(curve):
    """Scores from the worst-case Gaussian-DP pair the ledger permits: members N(mu*, 1), non-members N(0, 1).

    mu* is the largest mu whose ROC stays under the bound, so these are as leaky as the claim allows.
    The check is built to alarm with probability at most alpha = 5% (Bonferroni over the 4 FPRs,
    one-sided Clopper-Pearson for TPR and FPR); with 200 seeds we allow at most 5% alarms, and in
    practice see none because the bounds are conservative.
    """
    mu = curve.gaussian_mu()
    assert 0.15 < mu < 0.35  # CLT approximation: q*sqrt(T(e^(1/s^2)-1)) = 0.22
    f = np.geomspace(1e-6, 0.9, 200)
    assert np.all(norm.cdf(norm.ppf(f) + mu) <= curve.tpr_bound(f) + 1e-9)
    alarms = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        res = dp_bound_check(curve, {"worst case": (rng.normal(mu, 1, 1000), rng.normal(0, 1, 1000))})
        alarms += res.violated
    assert alarms <= 10  # <= 5% of 200
    # ...while three times the allowed signal is caught most of the time
    caught = sum(dp_bound_check(curve, {"x": (np.random.default_rng(s).normal(3 * mu + 1.0, 1, 1000),
                                              np.random.default_rng(s + 999).normal(0, 1, 1000))}).violated for s in range(20))
    assert caught >= 15


def _planted_experiment(true_positives: int, n: int = 200):
    """Non-members score 0..n-1; ``true_positives`` members score above every non-member, the rest below."""
    members = np.r_[1000.0 + np.arange(true_positives), -1000.0 - np.arange(n - true_positives)]
    return members, np.arange(n, dtype=float)


@pytest.fixture(scope="module")
def one_gaussian_step() -> PrivacyCurve:
    """One unsampled Gaussian step with sigma = 1 (a curve that is quick to build)."""
    return PrivacyCurve({"sample_rate": 1.0, "noise_multiplier": 1.0, "steps": 1, "delta": 1e-5})


@pytest.mark.parametrize("true_positives, status", [(112, "pass"), (130, "fail")])
def test_check_splits_alpha_over_every_test_on_a_planted_case(one_gaussian_step, true_positives, status):
    """Two FPRs of one experiment are two tests: each Clopper-Pearson bound is taken at alpha / (2 * 2).

    The planted ROC catches 112 of 200 members at FPR 10% (20 of 200 non-members above the
    threshold). At the per-test level 0.0125 the TPR lower bound stays under the DP bound, so the
    check passes; at the undivided 0.05 it would exceed it (computed below). 130 members fail at both.
    """
    from scipy.stats import beta

    curve = one_gaussian_step
    members, nonmembers = _planted_experiment(true_positives)
    res = dp_bound_check(curve, {"planted": (members, nonmembers)}, fprs=(0.1, 0.2), alpha=0.05)
    a = 0.05 / (2 * 2)
    assert res.per_test_alpha == pytest.approx(a)

    def reference(k: int, tp: int, level: float) -> tuple[float, float, float, bool]:
        fpr_upper = beta.ppf(1 - level, k + 1, 200 - k)  # one-sided Clopper-Pearson bounds from the Beta quantiles
        tpr_lower = beta.ppf(level, tp, 200 - tp + 1)
        bound = float(curve.tpr_bound([fpr_upper])[0])
        return fpr_upper, tpr_lower, bound, tpr_lower > bound

    for point, k in zip(res.points, (20, 40)):
        fpr_upper, tpr_lower, bound, violated = reference(k, true_positives, a)
        assert point.allowed_false_positives == k and point.true_positives == true_positives
        assert point.fpr_upper == pytest.approx(fpr_upper, rel=1e-9)
        assert point.tpr_lower == pytest.approx(tpr_lower, rel=1e-9)
        assert point.bound == pytest.approx(bound, rel=1e-9) and point.violated == violated
    assert res.status == status
    # the planted case separates the two levels: at the undivided alpha the first point would be a violation
    assert reference(20, true_positives, 0.05)[3]
    assert reference(20, true_positives, a)[3] == (status == "fail")


def test_ledger_underreporting_epsilon_is_noted():
    res = dp_bound_check(PrivacyCurve({**CLAIM, "epsilon": 0.3}), {"x": ([0.1, 0.2, 0.3], [0.0, 0.1, 0.2])})
    assert res.notes and "independent accountant" in res.notes[0]


def test_check_needs_experiments(curve):
    with pytest.raises(ValueError, match="experiment"):
        dp_bound_check(curve, {})
    with pytest.raises(ValueError, match="finite"):
        dp_bound_check(curve, {"x": ([float("nan")], [0.0])})
