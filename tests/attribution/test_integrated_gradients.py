import numpy as np
import pytest
import torch
from captum.attr import LayerIntegratedGradients

from audit.attribution import IntegratedGradients
from audit.models import load_model

TEXTS = [
    "the film was great and the acting superb",
    "a dull plot but a great cast",
    "unbelievably disappointing",
    "ok",
    "I would never buy this again, not even on sale",
]


@pytest.fixture
def strong_bundle(tiny_dirs, request):
    return load_model(tiny_dirs[request.param], device="cpu")


@pytest.mark.parametrize("output", ["logit", "probability"])
@pytest.mark.parametrize("baseline", ["pad", "mask", "zero"])
def test_completeness_each_architecture(tiny_bundle, baseline, output):
    """sum(attributions) == f(x) - f(baseline) within 1% at sufficient steps.

    Run in float64 so that float32 rounding in the integrand (about 1e-5 absolute) cannot hide or
    fake an error on texts whose f(x) - f(baseline) is small.
    """
    tiny_bundle.model.double()
    res = IntegratedGradients(n_steps=1000, baseline=baseline, output=output, tolerance=0.01).explain(tiny_bundle, TEXTS)
    checked = 0
    for a in res:
        diff = a.info["f_x"] - a.info["f_baseline"]
        total = float(np.sum(a.token_scores))
        assert abs(total - diff - a.info["convergence_delta"]) < 1e-9
        if abs(diff) < 0.01:  # the relative error of a near-zero output change means nothing
            continue
        checked += 1
        assert abs(total - diff) <= 0.01 * abs(diff), (a.text, total, diff)
        assert not a.info["flagged"]
    assert checked >= 2


def test_completeness_in_float32(tiny_dirs):
    """The same property in the default precision on texts with a clear output change."""
    b = load_model(tiny_dirs["bert"], device="cpu")
    res = IntegratedGradients(n_steps=300).explain(b, TEXTS)
    checked = 0
    for a in res:
        diff = a.info["f_x"] - a.info["f_baseline"]
        if abs(diff) >= 0.02:
            checked += 1
            assert abs(sum(a.token_scores) - diff) <= 0.01 * abs(diff)
    assert checked >= 2


@pytest.mark.parametrize("method", ["gausslegendre", "adaptive_simpson"])
def test_reported_error_is_the_completeness_gap_measured_on_the_model(tiny_dirs, method):
    """f(x), f(baseline), the gap and the relative error come from the model, and the summary aggregates them.

    Few steps, so the gaps are far from zero. f(x) and f(baseline) are recomputed here with plain
    forward passes (the pad baseline keeps the special tokens and puts [PAD] everywhere else).
    """
    from audit.attribution import completeness_summary

    b = load_model(tiny_dirs["bert"], device="cpu")
    b.model.double()
    res = IntegratedGradients(n_steps=9 if method == "adaptive_simpson" else 3, method=method, output="probability",
                              tolerance=0.05).explain(b, TEXTS)
    tok, rel = b.tokenizer, []
    for a in res:
        enc = tok(a.text, return_tensors="pt", return_special_tokens_mask=True)
        ids, special = enc["input_ids"], enc["special_tokens_mask"].bool()
        base = torch.where(special, ids, torch.full_like(ids, tok.pad_token_id))
        with torch.no_grad():
            f_x = torch.softmax(b.model(input_ids=ids, attention_mask=enc["attention_mask"]).logits, -1)[0, a.target].item()
            f_b = torch.softmax(b.model(input_ids=base, attention_mask=enc["attention_mask"]).logits, -1)[0, a.target].item()
        assert a.info["f_x"] == pytest.approx(f_x, abs=1e-9) and a.info["f_baseline"] == pytest.approx(f_b, abs=1e-9)
        gap = float(np.sum(a.token_scores)) - (f_x - f_b)
        assert a.info["convergence_delta"] == pytest.approx(gap, abs=1e-9)
        rel.append(abs(gap) / abs(f_x - f_b))
        assert a.info["relative_error"] == pytest.approx(rel[-1], rel=1e-6)
        assert a.info["flagged"] == (abs(gap) > 0.05 * abs(f_x - f_b) and abs(gap) > 1e-4)  # the absolute floor
    assert max(rel) > 1e-3  # the coarse rule leaves a visible gap on some text
    summary = completeness_summary(res)
    assert summary["n"] == len(TEXTS) and summary["n_flagged"] == sum(a.info["flagged"] for a in res)
    assert summary["median_relative_error"] == pytest.approx(float(np.median(rel)), rel=1e-6)
    assert summary["max_relative_error"] == pytest.approx(max(rel), rel=1e-6)
    assert summary["mean_steps"] == pytest.approx(np.mean([a.info["n_steps"] for a in res]))


def _captum_loop(bundle, text, target, n_steps, baseline="pad"):
    tok = bundle.tokenizer
    enc = tok(text, return_tensors="pt", return_special_tokens_mask=True)
    ids, special = enc["input_ids"], enc["special_tokens_mask"].bool()
    fill = tok.pad_token_id if baseline == "pad" else tok.mask_token_id
    base = torch.where(special, ids, torch.full_like(ids, fill))

    def fwd(i, m):
        return torch.softmax(bundle.model(input_ids=i, attention_mask=m).logits, -1)

    lig = LayerIntegratedGradients(fwd, bundle.model.get_input_embeddings())
    attr = lig.attribute(ids, baselines=base, target=target, additional_forward_args=(enc["attention_mask"],), n_steps=n_steps)
    return attr.sum(-1)[0].detach().double().numpy()


@pytest.mark.parametrize("baseline", ["pad", "mask"])
def test_matches_captum_layer_integrated_gradients(tiny_bundle, baseline):
    """Batched engine == captum's LayerIntegratedGradients on the embedding layer, per example."""
    res = IntegratedGradients(n_steps=32, baseline=baseline, output="probability").explain(tiny_bundle, TEXTS)
    for a in res:
        ref = _captum_loop(tiny_bundle, a.text, a.target, 32, baseline)
        got = np.asarray(a.token_scores)
        assert np.linalg.norm(got - ref) <= 1e-5 * np.linalg.norm(ref) + 1e-9


def test_batching_does_not_change_results(tiny_dirs):
    b = load_model(tiny_dirs["bert"], device="cpu")
    together = IntegratedGradients(n_steps=20).explain(b, TEXTS)
    alone = [IntegratedGradients(n_steps=20).explain(b, [t])[0] for t in TEXTS]
    for x, y in zip(together, alone):
        assert np.allclose(x.token_scores, y.token_scores, rtol=1e-4, atol=1e-7)


def test_target_choice_and_flagging(tiny_dirs):
    b = load_model(tiny_dirs["bert"], device="cpu")
    pred = b.predict_proba(TEXTS).argmax(1)
    default = IntegratedGradients(n_steps=20, output="probability").explain(b, TEXTS)
    assert [a.target for a in default] == pred.tolist()
    other = IntegratedGradients(n_steps=20, output="probability").explain(b, TEXTS, targets=1 - pred)
    assert [a.target for a in other] == (1 - pred).tolist()
    for a, o in zip(default, other):  # with probabilities of 2 classes, attributions are exact negatives
        assert np.allclose(a.token_scores, -np.asarray(o.token_scores), atol=1e-6)
    coarse = IntegratedGradients(n_steps=2, method="riemann_left", tolerance=1e-6).explain(b, TEXTS)
    assert any(a.info["flagged"] for a in coarse)


def test_words_merge_subword_tokens(tiny_dirs):
    b = load_model(tiny_dirs["bert"], device="cpu")
    text = "unbelievably disappointing, Mxyzptlk!"
    (a,) = IntegratedGradients(n_steps=10).explain(b, [text])
    assert len(a.tokens) > len(a.word_spans) + 2  # sub-words were merged
    assert a.words == ["unbelievably", "disappointing,", "Mxyzptlk!"]  # whitespace-separated words
    special = [i for i, t in enumerate(a.tokens) if t in ("[CLS]", "[SEP]")]
    assert np.isclose(sum(a.word_scores), sum(a.token_scores) - sum(a.token_scores[i] for i in special))


def test_bad_options():
    with pytest.raises(ValueError, match="baseline"):
        IntegratedGradients(baseline="noise")
    with pytest.raises(ValueError, match="output"):
        IntegratedGradients(output="loss")
