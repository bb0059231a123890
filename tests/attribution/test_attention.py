import numpy as np
import pytest
import torch

from audit.attribution import AttentionRollout, attention_maps, rollout
from audit.attribution.attention import eager_attention

TEXTS = ["the film was great", "a dull plot but a great cast, sadly", "ok"]


def test_rollout_rows_sum_to_one(tiny_bundle):
    maps = attention_maps(tiny_bundle, TEXTS)
    for m, text in zip(maps, TEXTS):
        n = len(m.tokens)
        cfg = tiny_bundle.model.config
        layers = getattr(cfg, "num_hidden_layers", None) or cfg.n_layers
        assert m.weights.shape[:2] == (layers, getattr(cfg, "num_attention_heads", None) or cfg.n_heads)
        assert m.weights.shape[2:] == (n, n)
        assert np.allclose(m.weights.sum(-1), 1.0, atol=1e-6)
        assert np.allclose(m.rollout.sum(-1), 1.0, atol=1e-9)
        assert (m.rollout >= 0).all()
    res = AttentionRollout().explain(tiny_bundle, TEXTS)
    for a in res:
        assert np.isclose(sum(a.token_scores), 1.0)


def test_rollout_formula():
    rng = np.random.default_rng(0)
    a = rng.random((3, 4, 4))
    a /= a.sum(-1, keepdims=True)
    expected = np.eye(4)
    for layer in a:
        expected = (0.5 * layer + 0.5 * np.eye(4)) @ expected
    assert np.allclose(rollout(a), expected)
    assert np.allclose(rollout(a, residual=0.0), a[2] @ a[1] @ a[0])


def test_padding_does_not_change_attention(tiny_bundle):
    """A text's maps are the same alone and in a padded batch with a longer text."""
    alone = attention_maps(tiny_bundle, [TEXTS[0]])[0]
    batched = attention_maps(tiny_bundle, TEXTS)[0]
    assert np.allclose(alone.weights, batched.weights, atol=1e-5)


def test_eager_switch_is_restored(backbone_bundle):
    model = backbone_bundle.model
    before = model.config._attn_implementation
    with eager_attention(model):
        assert model.config._attn_implementation == "eager"
        out = model(**backbone_bundle.tokenize(["hello world"]), output_attentions=True)
        assert out.attentions[0] is not None
    assert model.config._attn_implementation == before
