"""Faithfulness aggregates recomputed from the per-example numbers they are built from."""

import numpy as np
import pytest

from audit.attribution.base import Attribution, encode_texts
from audit.attribution.faithfulness import Protocol, evaluate_faithfulness, unit_scores
from audit.attribution._stats import kendall_tau_b, spearman

from _attr_models import token_weight_bundle

WEIGHTS = {"good": 1.5, "fun": 0.8, "long": -1.1, "bit": 0.3, "plot": -0.4, "friends": 0.6}
TEXTS = ["the film was good but a bit long", "fun to watch with friends and a good plot",
         "very long plot but fun acting", "a good film with friends"]


@pytest.fixture(scope="module")
def bundle_and_attributions():
    b = token_weight_bundle(WEIGHTS, bias=-0.2)
    b.model.double()
    rng = np.random.default_rng(4)
    attrs = []
    for text, e in zip(TEXTS, encode_texts(b, TEXTS)):
        ts = np.where(e.special, 0.0, rng.normal(size=len(e)))
        attrs.append(Attribution("m", text, 1, e.tokens, ts.tolist(), e.word_spans(), e.merge_to_words(ts)))
    return b, attrs


@pytest.mark.parametrize("correlation,reference", [("spearman", spearman), ("kendall", kendall_tau_b)])
def test_loo_correlation_uses_the_chosen_rank_correlation(bundle_and_attributions, correlation, reference):
    b, attrs = bundle_and_attributions
    res = evaluate_faithfulness(b, {"m": attrs}, Protocol(correlation=correlation, curve_steps=4), n_boot=0)
    encs = encode_texts(b, TEXTS)
    for i, (a, e) in enumerate(zip(attrs, encs)):
        expected = reference(unit_scores(a, e, "token"), res.leave_one_out[i])
        assert res.per_example["m"]["loo_correlation"][i] == pytest.approx(expected, abs=1e-12)
    # The two correlations differ on these examples, so the choice is visible in the result.
    other = kendall_tau_b if reference is spearman else spearman
    assert any(abs(other(unit_scores(a, e, "token"), res.leave_one_out[i]) - res.per_example["m"]["loo_correlation"][i])
               > 1e-3 for i, (a, e) in enumerate(zip(attrs, encs)))


def test_mean_curves_are_the_means_of_the_per_example_curves(bundle_and_attributions):
    b, attrs = bundle_and_attributions
    res = evaluate_faithfulness(b, {"m": attrs}, Protocol(curve_steps=4), n_boot=0)
    curves = res.curves["m"]
    assert curves["fractions"] == pytest.approx([0, 0.25, 0.5, 0.75, 1])
    for kind in ("deletion", "insertion"):
        per_example = np.asarray(res.per_example["m"][f"{kind}_curve"])
        assert per_example.shape == (len(TEXTS), 5)
        assert curves[kind] == pytest.approx(per_example.mean(axis=0).tolist(), abs=1e-12)
