"""Wilson intervals, distributions and the success-by-budget curve."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from audit.robustness.metrics import attack_metrics, distribution, histogram, success_by_budget, wilson_interval


def test_wilson_known_values() -> None:
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson_interval(10, 10)
    assert hi == 1.0 and lo == pytest.approx(0.7225, abs=1e-4)
    assert wilson_interval(0, 0) == (None, None)
    with pytest.raises(ValueError, match="between 0 and n"):
        wilson_interval(11, 10)
    # wider at 99% than at 95%
    assert wilson_interval(3, 20, 0.99)[0] < wilson_interval(3, 20)[0]


def test_distribution_ignores_non_finite() -> None:
    d = distribution([1, 2, 3, 4, None, float("nan"), float("inf")])
    assert d["n"] == 4 and d["mean"] == 2.5 and d["median"] == 2.5 and d["max"] == 4
    assert distribution([])["mean"] is None
    h = histogram([0.55, 0.95, 1.0, 2.0], 0.5, 1.0, 5)
    assert sum(b["count"] for b in h) == 4 and h[-1]["count"] == 3


def test_success_by_budget_is_exact_and_monotone() -> None:
    curve = success_by_budget([5, 12, 30, 30, 480], n_attacked=10, max_budget=500)
    assert [p["budget"] for p in curve] == [10, 25, 50, 100, 200, 500]
    assert [p["successes"] for p in curve] == [1, 2, 4, 4, 4, 5]
    assert curve[-1]["success_rate"] == 0.5


def _rec(status, queries, qs=None, flags=(), sim=None):
    return SimpleNamespace(status=status, queries=queries, queries_at_success=qs, flags=list(flags),
                           words_changed_fraction=0.1 if status == "success" else None,
                           chars_changed_fraction=0.02 if status == "success" else None, similarity=sim)


def test_attack_metrics() -> None:
    recs = [_rec("skipped", 1), _rec("success", 20, 20, sim=0.9), _rec("success", 40, 40, ["antonym"], 0.95),
            _rec("failed", 100), _rec("unverified", 60)]
    m = attack_metrics(recs, n_total=5, max_queries=100)
    assert m["n_attacked"] == 4 and m["n_skipped"] == 1 and m["n_success"] == 2 and m["n_unverified"] == 1
    assert m["accuracy"] == 4 / 5 and m["accuracy_under_attack"] == 2 / 5
    assert m["success_rate"] == 0.5 and m["valid_success_rate"] == 0.25
    assert m["invalid_reasons"] == {"antonym": 1}
    assert m["queries_total"] == 220 and m["queries_per_success"] == 110
    assert m["queries"]["median"] == 50 and m["queries_of_successes"]["mean"] == 30
    assert m["similarity"]["mean"] == pytest.approx(0.925)
    assert all(not (isinstance(v, float) and math.isnan(v)) for v in m.values())
