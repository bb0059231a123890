"""Plausibility against rationales, and agreement between methods."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from audit.attribution._stats import average_precision, kendall_tau_b, mean_ci, spearman
from audit.attribution.agreement import method_agreement
from audit.attribution.base import Attribution
from audit.attribution.plausibility import evaluate_plausibility, rationale_for_spans, token_f1


def attr(text, spans, scores, method="m"):
    return Attribution(method, text, 1, [], [], spans, list(scores))


def words_of(text):
    import re

    return [m.span() for m in re.finditer(r"\w+|[^\w\s]", text)]


def test_rationale_maps_to_tokenizer_words_by_offsets():
    text = "The plot was great. Really!"
    spans = words_of(text)  # The plot was great . Really !
    assert rationale_for_spans(text, [0, 0, 0, 1, 1], spans) == [0, 0, 0, 1, 1, 1, 1]
    with pytest.raises(ValueError, match="5 whitespace"):
        rationale_for_spans(text, [0, 1], spans)


def test_average_precision_matches_sklearn():
    rng = np.random.default_rng(0)
    for _ in range(100):
        n = int(rng.integers(2, 20))
        y = rng.integers(0, 2, n)
        s = rng.integers(0, 5, n).astype(float)  # many ties
        if y.sum() == 0:
            assert average_precision(y, s) is None
            continue
        assert average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_token_f1():
    assert token_f1([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.0], 2) == 1.0
    assert token_f1([0, 1, 1, 0], [0.9, 0.1, 0.8, 0.0], 2) == pytest.approx(0.5)
    assert token_f1([0, 1, 0, 0], [0.9, 0.1, 0.8, 0.0], 1) == 0.0


def test_plausibility_of_perfect_random_and_inverted_scores():
    text = "the acting was superb but the plot was dull"
    spans = words_of(text)
    rationale = [0, 0, 0, 0, 1, 0, 0, 0, 1]  # "but" ... "dull"
    flags = rationale_for_spans(text, rationale, spans)
    perfect = attr(text, spans, flags)
    inverted = attr(text, spans, [-f for f in flags])
    out = evaluate_plausibility({"perfect": [perfect] * 3, "inverted": [inverted] * 3}, [rationale] * 3, n_boot=100)
    assert out["summary"]["perfect"]["auprc"]["mean"] == 1.0
    assert out["summary"]["perfect"]["token_f1"]["mean"] == 1.0
    assert out["summary"]["inverted"]["auprc"]["mean"] < out["chance"]["auprc"]["mean"]
    h = sum(1 / k for k in range(1, 10))
    assert out["chance"]["auprc"]["mean"] == pytest.approx((h + (9 - h) / 8) / 9)  # 2 flagged of 9 words
    rng = np.random.default_rng(0)
    rand = [attr(text, spans, rng.normal(size=len(spans))) for _ in range(2000)]
    r = evaluate_plausibility({"random": rand}, [rationale] * 2000, n_boot=100)
    for key in ("auprc", "token_f1"):  # random scores sit at the exact chance level
        assert r["summary"]["random"][key]["mean"] == pytest.approx(r["chance"][key]["mean"], abs=0.02)


def test_agreement_identical_opposite_and_unrelated():
    text = "one two three four five six"
    spans = words_of(text)
    rng = np.random.default_rng(1)
    base = [attr(text, spans, rng.normal(size=6)) for _ in range(50)]
    same = [attr(text, spans, [2 * s + 1 for s in a.word_scores]) for a in base]
    opposite = [attr(text, spans, [-s for s in a.word_scores]) for a in base]
    other = [attr(text, spans, rng.normal(size=6)) for _ in range(50)]
    out = method_agreement({"a": base, "same": same, "opposite": opposite, "other": other}, n_boot=100)
    by_pair = {tuple(p["methods"]): p for p in out["pairs"]}
    assert by_pair[("a", "same")]["mean"] == pytest.approx(1.0)
    assert by_pair[("a", "opposite")]["mean"] == pytest.approx(-1.0)
    assert abs(by_pair[("a", "other")]["mean"]) < 0.2
    assert len(out["pairs"]) == 6 and len(by_pair[("a", "same")]["per_example"]) == 50
    with pytest.raises(ValueError, match="different texts"):
        method_agreement({"a": base[:1], "b": [attr("x", [(0, 1)], [1.0])]})


def test_rank_correlations_and_ci():
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1)
    assert spearman([1, 1, 1], [1, 2, 3]) is None
    assert kendall_tau_b([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(4 / 6)
    ci = mean_ci([0.0] * 50 + [1.0] * 50, n_boot=500, seed=0)
    assert ci["mean"] == 0.5 and ci["ci_low"] < 0.5 < ci["ci_high"] and 0.35 < ci["ci_low"] and ci["ci_high"] < 0.65
    assert mean_ci([None, float("nan")])["mean"] is None
