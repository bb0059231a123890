"""Best balanced accuracy against an independent ROC, on overlapping and tied scores."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_curve as sk_roc

from audit.privacy.stats import attack_metrics, best_balanced_accuracy


@pytest.mark.parametrize("n1,n0,seed", [(60, 200, 0), (300, 40, 1), (150, 150, 2)])
def test_best_balanced_accuracy_is_half_plus_half_the_largest_tpr_minus_fpr(n1, n0, seed):
    # Unequal group sizes and rounded (tied) scores: TPR and FPR must each be divided by their own
    # group size and a threshold may only fall between distinct scores.
    rng = np.random.default_rng(seed)
    m, o = np.round(rng.normal(0.7, 1, n1), 1), np.round(rng.normal(0, 1, n0), 1)
    fpr, tpr, _ = sk_roc(np.r_[np.ones(n1), np.zeros(n0)], np.r_[m, o], drop_intermediate=False)
    expected = 0.5 + 0.5 * max(0.0, float(np.max(tpr - fpr)))
    assert best_balanced_accuracy(m, o) == pytest.approx(expected, abs=1e-12)
    assert attack_metrics(m, o, n_bootstrap=0).balanced_accuracy.value == pytest.approx(expected, abs=1e-12)


def test_interval_level_must_be_strictly_between_0_and_1():
    m, o = np.arange(10.0), np.arange(10.0) - 3
    for level in (0.0, 1.0):
        with pytest.raises(ValueError, match="ci_level"):
            attack_metrics(m, o, n_bootstrap=10, ci_level=level)
