import numpy as np
import pytest
from sklearn import metrics as skm

from audit.metrics import compute_metrics, expected_calibration_error, roc_auc_binary


def _random_case(k, n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, p


@pytest.mark.parametrize("k", [2, 3, 5])
def test_metrics_match_scikit_learn(k):
    y, p = _random_case(k, seed=k)
    m = compute_metrics(y, p, [f"c{i}" for i in range(k)])
    pred = p.argmax(1)
    assert m.accuracy == pytest.approx(skm.accuracy_score(y, pred))
    assert m.precision_macro == pytest.approx(skm.precision_score(y, pred, average="macro", zero_division=0))
    assert m.recall_macro == pytest.approx(skm.recall_score(y, pred, average="macro", zero_division=0))
    assert m.f1_macro == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0))
    assert np.array_equal(np.array(m.confusion_matrix), skm.confusion_matrix(y, pred, labels=range(k)))
    ref_auc = skm.roc_auc_score(y, p[:, 1]) if k == 2 else skm.roc_auc_score(y, p, multi_class="ovr", average="macro")
    assert m.roc_auc == pytest.approx(ref_auc)
    assert m.roc_auc_kind == ("binary" if k == 2 else "macro_ovr")


def test_auc_with_ties_and_missing_class():
    assert roc_auc_binary(np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.5, 0.5])) == pytest.approx(0.5)
    assert roc_auc_binary(np.array([1, 1]), np.array([0.2, 0.3])) is None


def test_ece_perfect_and_overconfident():
    y = np.array([0, 1] * 50)
    p = np.eye(2)[y]
    ece, _ = expected_calibration_error(y, p)
    assert ece == pytest.approx(0.0)
    p_bad = np.tile([0.99, 0.01], (100, 1))  # always says class 0 with 99%: right half the time
    ece, table = expected_calibration_error(y, p_bad)
    assert ece == pytest.approx(0.49)
    assert sum(b["count"] for b in table) == 100


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        compute_metrics([0, 1], np.ones((3, 2)) / 2, ["a", "b"])
