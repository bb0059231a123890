"""Faithfulness metrics on models whose true explanation is known."""

import math

import numpy as np
import pytest

from audit.attribution import RandomAttribution
from audit.attribution.base import Attribution, encode_texts, score_sequences
from audit.attribution.faithfulness import METRICS, Protocol, evaluate_faithfulness, rank_methods, trapezoid
from audit.models import load_model

from _attr_models import token_weight_bundle

KEY_WEIGHT, BIAS = 4.0, -2.0
P_WITH = 1 / (1 + math.exp(-(KEY_WEIGHT + BIAS)))  # P(positive) with the key token
P_WITHOUT = 1 / (1 + math.exp(-BIAS))
DELTA = P_WITH - P_WITHOUT  # the largest drop any removal can cause
VOCAB = "the film was good plot acting and a bit long but very fun to watch with friends".split()


def key_texts(n, seed=0):
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(n):
        words = list(rng.choice(VOCAB, size=int(rng.integers(6, 16))))
        words.insert(int(rng.integers(0, len(words) + 1)), "superb")
        texts.append(" ".join(words))
    return texts


@pytest.fixture(scope="module")
def key_model():
    """Predicts 'positive' exactly when the token 'superb' is present; nothing else matters."""
    b = token_weight_bundle({"superb": KEY_WEIGHT}, bias=BIAS)
    b.model.double()
    return b


def oracle(bundle, texts, key="superb"):
    encs = encode_texts(bundle, texts)
    out = []
    for e in encs:
        ts = np.array([1.0 if t == key else 0.0 for t in e.tokens])
        out.append(Attribution("oracle", e.text, 1, e.tokens, ts.tolist(), e.word_spans(), e.merge_to_words(ts)))
    return out


def reversed_oracle(bundle, texts):
    return [Attribution("worst", a.text, 1, a.tokens, [-s for s in a.token_scores], a.word_spans,
                        [-s for s in a.word_scores]) for a in oracle(bundle, texts)]


@pytest.mark.parametrize("removal", ["delete", "mask"])
def test_oracle_is_maximally_comprehensive_and_sufficient(key_model, removal):
    texts = key_texts(30)
    res = evaluate_faithfulness(key_model, {"oracle": oracle(key_model, texts), "worst": reversed_oracle(key_model, texts),
                                            "random": RandomAttribution(seed=1).explain(key_model, texts, [1] * 30)},
                                Protocol(removal=removal), n_boot=200)
    rows = res.per_example["oracle"]
    for comp, suff in zip(rows["comprehensiveness"], rows["sufficiency"]):
        assert comp == pytest.approx([DELTA] * 5, abs=1e-12)  # removing the key token is the largest possible drop
        assert suff == pytest.approx([0.0] * 5, abs=1e-12)  # the key token alone keeps the prediction
    s = res.summary
    assert s["oracle"]["comprehensiveness_aopc"]["mean"] == pytest.approx(DELTA * 5 / 6)  # ERASER: sum / (bins + 1)
    assert s["oracle"]["loo_correlation"]["mean"] == pytest.approx(1.0)
    for other in ("worst", "random"):
        for key, (_, better) in METRICS.items():
            o, w = s["oracle"][key]["mean"], s[other][key]["mean"]
            assert (o >= w) if better == "higher" else (o <= w), (other, key)
    assert s["worst"]["comprehensiveness_aopc"]["mean"] < s["oracle"]["comprehensiveness_aopc"]["mean"] / 2
    assert rank_methods(s)[0]["method"] == "oracle"


def test_random_attribution_sits_at_chance(key_model):
    """For a random ranking, comprehensiveness at k is DELTA * P(key among the m removed) = DELTA m / n."""
    texts = key_texts(300, seed=1)
    rand = RandomAttribution(seed=2).explain(key_model, texts, [1] * len(texts))
    proto = Protocol()
    res = evaluate_faithfulness(key_model, {"random": rand}, proto, n_boot=200)
    encs = encode_texts(key_model, texts)
    rows = res.per_example["random"]
    expected = np.zeros(len(proto.bins))
    for e, a, comp in zip(encs, rand, rows["comprehensiveness"]):
        free = [p for p, sp in enumerate(e.special) if not sp]
        n = len(free)
        order = np.argsort(-np.asarray(a.token_scores)[free], kind="stable")
        key_rank = int(np.flatnonzero(np.asarray(e.tokens)[free][order] == "superb")[0])
        for j, b in enumerate(proto.bins):
            m = proto.count(b, n)
            assert comp[j] == pytest.approx(DELTA if key_rank < m else 0.0, abs=1e-12)  # exact per text
            expected[j] += DELTA * m / n / len(texts)
    got = np.mean(np.asarray(rows["comprehensiveness"], dtype=float), axis=0)
    assert np.allclose(got, expected, atol=0.06)  # near chance on average (300 texts)
    assert abs(res.summary["random"]["loo_correlation"]["mean"]) < 0.1
    # the key token is inserted exactly when it is not deleted: the two curves mirror each other
    for d, i in zip(rows["deletion_curve"], rows["insertion_curve"]):
        assert np.allclose(np.add(d, i), P_WITH + P_WITHOUT, atol=1e-12)
    fr = np.linspace(0, 1, proto.curve_steps + 1)
    chance_ins = np.mean([P_WITHOUT + DELTA * trapezoid([proto.count(f, len(e) - 2, "ceil") / (len(e) - 2) for f in fr], fr)
                          for e in encs])
    assert res.summary["random"]["insertion_auc"]["mean"] == pytest.approx(chance_ins, abs=0.04)


def test_comprehensiveness_and_sufficiency_by_hand(tiny_dirs):
    """One text, a given ranking: each bin's perturbed input rebuilt by hand and scored by the model."""
    b = load_model(tiny_dirs["bert"], device="cpu")
    text = "a dull plot but a great cast and a slow ending"
    (e,) = encode_texts(b, [text])
    free = [p for p, sp in enumerate(e.special) if not sp]
    rng = np.random.default_rng(0)
    ts = np.zeros(len(e))
    ts[free] = rng.normal(size=len(free))
    a = Attribution("m", text, 1, e.tokens, ts.tolist(), e.word_spans(), e.merge_to_words(ts))
    for removal in ("delete", "mask"):
        proto = Protocol(removal=removal, bins=(0.1, 0.3, 0.5), curve_steps=4)
        res = evaluate_faithfulness(b, {"m": [a]}, proto, n_boot=0)
        ranked = [free[i] for i in np.argsort(-ts[free], kind="stable")]
        fill = b.tokenizer.mask_token_id

        def without(drop, removal=removal, fill=fill):
            if removal == "delete":
                return [t for p, t in enumerate(e.input_ids) if p not in drop]
            return [fill if p in drop else t for p, t in enumerate(e.input_ids)]

        f_x = score_sequences(b, [e.input_ids], [1])[0]
        for j, k in enumerate(proto.bins):
            m = math.ceil(k * len(free))
            top = set(ranked[:m])
            comp = f_x - score_sequences(b, [without(top)], [1])[0]
            suff = f_x - score_sequences(b, [without(set(free) - top)], [1])[0]
            assert res.per_example["m"]["comprehensiveness"][0][j] == pytest.approx(comp, abs=1e-6)
            assert res.per_example["m"]["sufficiency"][0][j] == pytest.approx(suff, abs=1e-6)
        curve = res.per_example["m"]["deletion_curve"][0]
        assert curve[0] == pytest.approx(f_x, abs=1e-6) and len(curve) == 5
        assert res.per_example["m"]["deletion_auc"][0] == pytest.approx(trapezoid(curve, [0, 0.25, 0.5, 0.75, 1]))
        assert res.n_unique_sequences < res.n_sequences  # shared perturbations are scored once


def test_word_unit_and_ferret_style_protocol(key_model):
    texts = key_texts(10)
    orc = oracle(key_model, texts)
    word = evaluate_faithfulness(key_model, {"oracle": orc}, Protocol(unit="word"), n_boot=0)
    assert word.summary["oracle"]["comprehensiveness_aopc"]["mean"] == pytest.approx(DELTA * 5 / 6)
    # ferret: floor counts, positive scores only, repeated sets skipped, AOPC = mean of the bins evaluated
    ferret = Protocol(bins=tuple(np.arange(0.1, 1.1, 0.1)), rounding="floor", positive_only=True, skip_repeats=True, aopc="mean")
    res = evaluate_faithfulness(key_model, {"oracle": orc}, ferret, n_boot=0)
    for comp in res.per_example["oracle"]["comprehensiveness"]:
        used = [c for c in comp if c is not None]
        assert len(used) == 1 and used[0] == pytest.approx(DELTA)  # only the key token is positive: one distinct set
    assert res.summary["oracle"]["comprehensiveness_aopc"]["mean"] == pytest.approx(DELTA)


def test_protocol_validation_and_counts():
    p = Protocol()
    assert [p.count(b, 30) for b in p.bins] == [1, 2, 3, 6, 15]
    assert [p.count(b, 7) for b in p.bins] == [1, 1, 1, 2, 4]
    assert Protocol(rounding="floor").count(0.1, 7) == 0
    d = p.to_dict()
    assert d["bins"] == [0.01, 0.05, 0.1, 0.2, 0.5] and d["removal"] == "delete" and "deleted" in d["description"]
    for bad in ({"bins": (0.0, 0.5)}, {"bins": ()}, {"removal": "blur"}, {"unit": "char"}, {"output": "loss"},
                {"aopc": "median"}, {"curve_steps": 0}, {"rounding": "nearest"}):
        with pytest.raises(ValueError):
            Protocol(**bad)


def test_mismatched_attributions_are_refused(key_model):
    texts = key_texts(3)
    a = oracle(key_model, texts)
    with pytest.raises(ValueError, match="same texts"):
        evaluate_faithfulness(key_model, {"a": a, "b": oracle(key_model, key_texts(3, seed=5))})
    with pytest.raises(ValueError, match="token scores"):
        evaluate_faithfulness(key_model, {"a": [Attribution("x", t.text, 1, t.tokens, [0.0], t.word_spans, t.word_scores) for t in a]})
    with pytest.raises(ValueError, match="no attributions"):
        evaluate_faithfulness(key_model, {})


def test_rank_methods_orders_by_mean_rank():
    def s(c, su, d, i, loo):
        vals = dict(zip(METRICS, (c, su, d, i, loo)))
        return {k: {"mean": v} for k, v in vals.items()}

    ranked = rank_methods({"a": s(0.5, 0.1, 0.2, 0.8, 0.9), "b": s(0.4, 0.2, 0.3, 0.7, 0.5),
                           "c": s(0.6, 0.3, 0.25, 0.6, None), "random": s(9, -9, -9, 9, 9)})
    assert [r["method"] for r in ranked] == ["a", "c", "b"]
    assert ranked[0]["n_best"] == 4 and ranked[0]["ranks"]["comprehensiveness_aopc"] == 2.0
