"""SHAP, occlusion and gradient x input behind the common interface, on every tiny architecture."""

import numpy as np
import pytest
import torch

from audit.attribution import METHODS, GradientXInput, IntegratedGradients, Occlusion, RandomAttribution, SHAPText
from audit.attribution.base import encode_texts, score_sequences, word_token_positions
from audit.models import load_model

from _attr_models import token_weight_bundle

TEXTS = ["the film was great", "a dull plot but a great cast, sadly", "ok", "unbelievably disappointing"]


def test_registered_and_constructible_the_pipeline_way():
    for name in ("shap", "occlusion", "gradient_x_input", "integrated_gradients", "attention_rollout"):
        m = METHODS[name](max_length=64, show_progress=False)
        assert m.name == name
        assert isinstance(m.config(), dict)


@pytest.mark.parametrize("method", [Occlusion, GradientXInput, lambda: SHAPText(max_evals=20), RandomAttribution])
def test_common_shape(tiny_bundle, method):
    m = method()
    pred = tiny_bundle.predict_proba(TEXTS).argmax(1)
    res = m.explain(tiny_bundle, TEXTS, None if m.name != "random" else pred)
    encs = encode_texts(tiny_bundle, TEXTS)
    for a, e, p in zip(res, encs, pred):
        assert a.target == p
        assert a.tokens == e.tokens and len(a.token_scores) == len(e)
        assert a.word_spans == e.word_spans()
        assert np.allclose(a.word_scores, e.merge_to_words(np.asarray(a.token_scores)))
        assert all(s == 0 for s, sp in zip(a.token_scores, e.special) if sp)  # special tokens are never removed
        assert np.all(np.isfinite(a.token_scores))


def test_occlusion_is_the_drop_when_each_word_is_removed(tiny_dirs):
    b = load_model(tiny_dirs["bert"], device="cpu")
    text = "a dull plot but a great cast"
    for removal in ("mask", "delete"):
        (a,) = Occlusion(removal=removal, output="probability").explain(b, [text], targets=1)
        (e,) = encode_texts(b, [text])
        fill = b.tokenizer.mask_token_id
        full = score_sequences(b, [e.input_ids], [1])[0]
        for positions, score in zip(word_token_positions(e), a.word_scores):
            if removal == "mask":
                ids = [fill if p in positions else t for p, t in enumerate(e.input_ids)]
            else:
                ids = [t for p, t in enumerate(e.input_ids) if p not in positions]
            enc = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
            with torch.no_grad():
                p1 = torch.softmax(b.model(**enc).logits, -1)[0, 1].item()
            assert abs(score - (full - p1)) < 1e-6


def test_gradient_x_input_is_exact_on_a_model_linear_in_the_embeddings():
    b = token_weight_bundle({"great": 2.0, "dull": -1.5, "plot": 0.25}, bias=0.1)
    (a,) = GradientXInput().explain(b, ["a dull plot but a great cast"], targets=1)
    assert dict(zip(a.words, a.word_scores)) == pytest.approx(
        {"a": 0.0, "dull": -1.5, "plot": 0.25, "but": 0.0, "great": 2.0, "cast": 0.0})
    (ig,) = IntegratedGradients(n_steps=9, method="adaptive_simpson", baseline="zero").explain(b, [a.text], targets=1)
    assert np.allclose(ig.word_scores, a.word_scores, atol=1e-6)  # IG of a linear model is gradient x input


def test_gradient_x_input_matches_autograd(tiny_dirs):
    b = load_model(tiny_dirs["roberta"], device="cpu")
    (a,) = GradientXInput(output="probability").explain(b, ["the battery died"], targets=0)
    (e,) = encode_texts(b, ["the battery died"])
    ids = torch.tensor([e.input_ids])
    x = b.model.get_input_embeddings()(ids).detach().requires_grad_(True)
    p = torch.softmax(b.model(inputs_embeds=x, attention_mask=torch.ones_like(ids)).logits, -1)[0, 0]
    (g,) = torch.autograd.grad(p, x)
    want = (g * x).sum(-1)[0].detach().numpy()
    want[np.asarray(e.special)] = 0
    assert np.allclose(a.token_scores, want, atol=1e-6)


@pytest.mark.parametrize("method", [Occlusion, GradientXInput])
def test_batching_does_not_change_results(tiny_dirs, method):
    b = load_model(tiny_dirs["distilbert"], device="cpu")
    together = method().explain(b, TEXTS)
    alone = [method().explain(b, [t])[0] for t in TEXTS]
    for x, y in zip(together, alone):
        assert np.allclose(x.token_scores, y.token_scores, rtol=1e-4, atol=1e-6)


def test_random_reference_is_seeded():
    b = token_weight_bundle({"great": 1.0})
    a = RandomAttribution(seed=3).explain(b, TEXTS, [1] * 4)
    c = RandomAttribution(seed=3).explain(b, TEXTS, [1] * 4)
    d = RandomAttribution(seed=4).explain(b, TEXTS, [1] * 4)
    assert [x.token_scores for x in a] == [x.token_scores for x in c]
    assert [x.token_scores for x in a] != [x.token_scores for x in d]


def test_bad_options():
    with pytest.raises(ValueError, match="removal"):
        Occlusion(removal="blur")
    with pytest.raises(ValueError, match="output"):
        GradientXInput(output="loss")
    with pytest.raises(ValueError, match="baseline"):
        GradientXInput(baseline="noise")
    with pytest.raises(ValueError, match="algorithm"):
        SHAPText(algorithm="kernel")
    with pytest.raises(ValueError, match="max_evals"):
        SHAPText(max_evals=2)
    with pytest.raises(ValueError, match="targets"):
        Occlusion().explain(token_weight_bundle({"great": 1.0}), TEXTS, [0, 1])
