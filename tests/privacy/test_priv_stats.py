"""ROC metrics, TPR at low FPR, bootstrap intervals and exact binomial bounds."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import binom

from audit.privacy.stats import (allowed_false_positives, as_plain, attack_metrics, auc, best_balanced_accuracy,
                                 clopper_pearson_lower, clopper_pearson_upper, downsample_roc, roc_curve, tpr_at_fpr)


def _scores(n1=300, n0=300, shift=1.0, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    m, o = rng.normal(shift, 1, n1), rng.normal(0, 1, n0)
    if ties:
        m, o = np.round(m, 1), np.round(o, 1)
    return m, o


@pytest.mark.parametrize("ties", [False, True])
def test_auc_and_roc_match_sklearn(ties):
    from sklearn.metrics import roc_auc_score
    from sklearn.metrics import roc_curve as sk_roc

    m, o = _scores(ties=ties)
    y = np.r_[np.ones(m.size), np.zeros(o.size)]
    s = np.r_[m, o]
    assert auc(m, o) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    fpr, tpr = roc_curve(m, o)
    sk_fpr, sk_tpr, _ = sk_roc(y, s, drop_intermediate=False)
    # sklearn prepends (0, 0) via an infinite threshold just like ours
    assert np.allclose(fpr, sk_fpr) and np.allclose(tpr, sk_tpr)


def test_tpr_at_fpr_counts_false_positives_exactly():
    nonmember = np.arange(100, dtype=float)  # 0..99
    member = np.array([97.5, 98.5, 99.5, 50.0])
    # FPR 1%: one non-member (99) may score above the threshold, so the threshold is 98
    tpr, k, t = tpr_at_fpr(member, nonmember, 0.01)
    assert (k, t) == (1, 98.0) and tpr == pytest.approx(2 / 4)
    # FPR 0.1% on 100 non-members: no false positive allowed, threshold = the largest non-member
    tpr, k, t = tpr_at_fpr(member, nonmember, 0.001)
    assert (k, t) == (0, 99.0) and tpr == pytest.approx(1 / 4)
    assert allowed_false_positives(0.1, 1000) == 100 and allowed_false_positives(0.0001, 1000) == 0


def test_balanced_accuracy_extremes():
    assert best_balanced_accuracy([5, 6, 7], [1, 2, 3]) == 1.0
    assert best_balanced_accuracy([1, 1, 1], [1, 1, 1]) == 0.5  # ties: no threshold separates anything
    m, o = _scores(2000, 2000, shift=0.0, seed=3)
    assert 0.5 <= best_balanced_accuracy(m, o) < 0.55


def test_bootstrap_intervals_cover_and_shrink():
    small = attack_metrics(*_scores(100, 100, seed=1), n_bootstrap=200, seed=0)
    large = attack_metrics(*_scores(2000, 2000, seed=1), n_bootstrap=200, seed=0)
    for r in (small, large):
        lo, hi = r.auc.ci
        assert lo <= r.auc.value <= hi
        lo, hi = r.balanced_accuracy.ci
        assert lo <= r.balanced_accuracy.value <= hi
    width = lambda r: r.auc.ci[1] - r.auc.ci[0]  # noqa: E731
    assert width(large) < width(small) / 2
    # AUC of N(1,1) vs N(0,1) is Phi(1/sqrt 2) = 0.7602
    lo, hi = large.auc.ci
    assert lo < 0.7602 < hi
    again = attack_metrics(*_scores(100, 100, seed=1), n_bootstrap=200, seed=0)
    assert again.to_dict() == small.to_dict()  # seeded


def test_auc_interval_has_its_stated_coverage_by_simulation():
    """400 seeded experiments, members N(1, 1) and non-members N(0, 1), 100 each: true AUC Phi(1/sqrt 2).

    The interval reported at 95% must cover the true AUC in 95% of experiments (within binomial
    tolerance), and its half-width must be z_0.975 = 1.96 times the estimator's exact standard
    error (Mann-Whitney variance with the bivariate-normal orthant probability); a 90% interval
    is 1.645 standard errors wide and covers about 90%.
    """
    from scipy.stats import multivariate_normal, norm

    n, draws, shift = 100, 400, 1.0
    true_auc = norm.cdf(shift / np.sqrt(2))
    # P(X1 > Y, X2 > Y) = P(X > Y1, X > Y2): two differences N(shift, 2) with correlation 1/2
    q = multivariate_normal(mean=[0.0, 0.0], cov=[[1.0, 0.5], [0.5, 1.0]]).cdf([shift / np.sqrt(2)] * 2)
    se = np.sqrt((true_auc * (1 - true_auc) + 2 * (n - 1) * (q - true_auc ** 2)) / n ** 2)
    covered, half_widths, points = 0, [], []
    for draw in range(draws):
        rng = np.random.default_rng([20, draw])
        r = attack_metrics(rng.normal(shift, 1, n), rng.normal(0, 1, n), fprs=(), n_bootstrap=200, seed=draw)
        lo, hi = r.auc.ci
        covered += lo <= true_auc <= hi
        half_widths.append((hi - lo) / 2)
        points.append(r.auc.value)
    level = r.ci_level
    assert level == 0.95 and r.to_dict()["bootstrap"]["ci_level"] == 0.95
    coverage = covered / draws
    assert abs(coverage - level) <= 3 * np.sqrt(level * (1 - level) / draws), coverage  # 0.917 .. 0.983
    assert np.std(points) == pytest.approx(se, rel=0.15)  # the reference standard error is right
    # 1.96 (1.91 measured: the bootstrap spread is slightly narrow at n = 100), not 1.645
    assert np.mean(half_widths) / se == pytest.approx(norm.ppf(0.5 + level / 2), rel=0.05)


def test_tpr_resolvability_is_reported():
    r = attack_metrics(*_scores(300, 300), fprs=(0.01, 0.001), n_bootstrap=20)
    one, tenth = r.tpr_at_fpr
    assert one.allowed_false_positives == 3 and one.resolvable
    assert tenth.allowed_false_positives == 0 and not tenth.resolvable


def test_downsampled_roc_never_exceeds_the_full_curve():
    m, o = _scores(500, 400, seed=4)
    fpr, tpr = roc_curve(m, o)
    small = downsample_roc(fpr, tpr, o.size)
    assert len(small["fpr"]) <= 100
    for f, t in zip(small["fpr"], small["tpr"]):
        best = tpr[fpr <= f + 1e-12].max()
        assert t == pytest.approx(best, abs=1e-8)
    assert small["fpr"][0] == 0.0 and small["fpr"][-1] == 1.0 and small["tpr"][-1] == 1.0
    assert min(f for f in small["fpr"] if f > 0) == pytest.approx(1 / 400)


def test_clopper_pearson_closed_forms_and_coverage():
    n, a = 50, 0.05
    assert clopper_pearson_upper(0, n, a) == pytest.approx(1 - a ** (1 / n))
    assert clopper_pearson_lower(n, n, a) == pytest.approx(a ** (1 / n))
    assert clopper_pearson_lower(0, n, a) == 0.0 and clopper_pearson_upper(n, n, a) == 1.0
    # exact coverage: P(lower bound > p) <= a for the true p
    for p in (0.03, 0.2, 0.5):
        ks = np.arange(n + 1)
        miss = sum(binom.pmf(k, n, p) for k in ks if clopper_pearson_lower(int(k), n, a) > p)
        assert miss <= a
        miss = sum(binom.pmf(k, n, p) for k in ks if clopper_pearson_upper(int(k), n, a) < p)
        assert miss <= a


def test_bad_scores_are_rejected_with_a_reason():
    with pytest.raises(ValueError, match="not finite"):
        auc([1.0, float("nan")], [0.0])
    with pytest.raises(ValueError, match="no scores"):
        attack_metrics([], [1.0])
    with pytest.raises(ValueError, match="false-positive rate"):
        tpr_at_fpr([1.0], [0.0], 0.0)
    with pytest.raises(ValueError, match="k <= n"):
        clopper_pearson_lower(5, 3, 0.05)


def test_results_are_strict_json():
    d = attack_metrics(*_scores(50, 50), n_bootstrap=10).to_dict()
    json.dumps(d, allow_nan=False)
    assert as_plain({"x": float("nan"), "y": np.float32(1.5), "z": np.arange(2)}) == {"x": None, "y": 1.5, "z": [0, 1]}
