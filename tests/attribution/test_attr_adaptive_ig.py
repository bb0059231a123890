"""Adaptive integrated gradients: quadrature rules, per-text step choice, completeness."""

import numpy as np
import pytest

from audit.attribution import IntegratedGradients
from audit.attribution.integrated_gradients import _AdaptiveSimpson, clenshaw_curtis
from audit.models import load_model

from _attr_models import token_weight_bundle

TEXTS = [
    "the film was great and the acting superb",
    "a dull plot but a great cast",
    "unbelievably disappointing",
    "ok",
    "I would never buy this again, not even on sale",
]


def test_clenshaw_curtis_is_exact_for_polynomials_and_nested():
    for n in (2, 4, 8, 16):
        x, w = clenshaw_curtis(n)
        assert np.isclose(w.sum(), 1.0)
        for d in range(n + 1):
            assert abs((w * x**d).sum() - 1 / (d + 1)) < 1e-13, (n, d)
        x2, _ = clenshaw_curtis(2 * n)
        assert np.allclose(x2[::2], x)  # doubling reuses every node


def test_adaptive_simpson_refines_only_where_the_integrand_is_sharp():
    """On f(a) = tanh(60 (a - 0.7)), panels near 0.7 are refined and the local errors meet the tolerance."""
    plan = _AdaptiveSimpson(min_points=5, max_points=400, tolerance=1e-4)
    f = lambda a: np.tanh(60 * (a - 0.7))  # noqa: E731
    g = lambda a: 60 / np.cosh(60 * (a - 0.7)) ** 2  # noqa: E731
    plan.start(f(1.0), f(0.0))
    while True:
        for key, a in plan.needed():
            plan.record(key, np.array([g(a) * 0.25, g(a) * 0.75]), f(a))  # two "tokens" sharing the derivative
        if plan.advance():
            break
    total = plan.attribution()
    assert abs(total.sum() - (f(1.0) - f(0.0))) <= 1e-4 * abs(f(1.0) - f(0.0))
    assert np.isclose(total[1], 3 * total[0])
    widths = {(b - a) for a, b in plan.panels}
    near = [b - a for a, b in plan.panels if a <= (0.7 * (1 << 30)) <= b]
    assert min(near) == min(widths) < max(widths)  # finest panels sit on the sharp transition
    assert plan.n_points < 400


def test_adaptive_meets_tolerance_with_fewer_steps_than_the_cap(tiny_dirs):
    b = load_model(tiny_dirs["bert"], device="cpu")
    b.model.double()
    res = IntegratedGradients(n_steps=257, method="adaptive_simpson", tolerance=1e-3).explain(b, TEXTS)
    ref = IntegratedGradients(n_steps=300, method="gausslegendre").explain(b, TEXTS)
    for a, r in zip(res, ref):
        diff = a.info["f_x"] - a.info["f_baseline"]
        assert abs(sum(a.token_scores) - diff) <= max(1e-3 * abs(diff), 1e-4) + 1e-12
        assert not a.info["flagged"]
        assert 9 <= a.info["n_steps"] < 257
        assert a.info["local_error_bound"] >= abs(a.info["convergence_delta"]) - 1e-12  # bounds the global error
        assert np.allclose(a.token_scores, r.token_scores, atol=5e-3 * max(1.0, np.abs(r.token_scores).max()))


def test_adaptive_uses_more_steps_for_a_tighter_tolerance(tiny_dirs):
    b = load_model(tiny_dirs["bert"], device="cpu")
    b.model.double()
    loose = IntegratedGradients(n_steps=129, method="adaptive_simpson", tolerance=1e-2).explain(b, TEXTS)
    tight = IntegratedGradients(n_steps=129, method="adaptive_simpson", tolerance=1e-5).explain(b, TEXTS)
    assert sum(a.info["n_steps"] for a in tight) > sum(a.info["n_steps"] for a in loose)
    assert np.median([a.info["relative_error"] for a in tight]) <= np.median([a.info["relative_error"] for a in loose])


def test_adaptive_batching_does_not_change_results(tiny_dirs):
    b = load_model(tiny_dirs["bert"], device="cpu")
    ig = IntegratedGradients(n_steps=33, method="adaptive_simpson", tolerance=1e-3)
    together = ig.explain(b, TEXTS)
    alone = [ig.explain(b, [t])[0] for t in TEXTS]
    for x, y in zip(together, alone):
        assert x.info["n_steps"] == y.info["n_steps"]
        assert np.allclose(x.token_scores, y.token_scores, rtol=1e-4, atol=1e-6)


def test_cap_is_respected_and_flags_when_not_converged(tiny_dirs):
    b = load_model(tiny_dirs["bert"], device="cpu")
    res = IntegratedGradients(n_steps=9, method="adaptive_simpson", tolerance=1e-9).explain(b, TEXTS)
    assert all(a.info["n_steps"] <= 9 for a in res)
    assert any(a.info["flagged"] for a in res)


def test_fixed_clenshaw_curtis_on_a_smooth_path():
    """Probability of a model linear in the embeddings: a sigmoid along the path, which 17
    Chebyshev points integrate to 1e-9; every token gets its weight's share of the same integral."""
    b = token_weight_bundle({"great": 1.5, "dull": -0.5, "plot": 0.75}, bias=-0.2)
    b.model.double()
    (a,) = IntegratedGradients(n_steps=17, method="clenshaw_curtis", output="probability", baseline="zero").explain(
        b, ["a dull plot but a great cast"], targets=1)
    assert a.info["n_steps"] == 17
    assert abs(a.info["convergence_delta"]) < 1e-9
    s = dict(zip(a.words, a.word_scores))
    assert s["great"] / s["plot"] == pytest.approx(2.0) and s["dull"] / s["plot"] == pytest.approx(-2 / 3)
    assert s["a"] == s["but"] == s["cast"] == 0.0


def test_adaptive_options():
    with pytest.raises(ValueError, match="min_steps"):
        IntegratedGradients(n_steps=3, method="adaptive_simpson")
    cfg = IntegratedGradients(n_steps=33, method="adaptive_simpson").config()
    assert cfg["adaptive"] is True and cfg["method"] == "adaptive_simpson" and cfg["n_steps"] == 33
    assert IntegratedGradients(method="gausslegendre").config()["adaptive"] is False
    with pytest.raises(ValueError, match="method"):
        IntegratedGradients(method="simpson")
