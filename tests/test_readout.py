"""The logits-only forward (last layer computes the first position only) equals the full forward."""

from __future__ import annotations

import pytest
import torch
from tiny_models import ARCHS, make_tiny

import audit._readout as readout
from audit._readout import first_position_readout, readout_available

TEXTS = ["the film was great and the acting was superb", "a dull plot", "not bad at all, really enjoyable but slow"]


def _last_layer_ffn(model):
    layers = readout._layers(model)
    last = layers[-1]
    return last, (last.intermediate if hasattr(last, "intermediate") else last.ffn)


@pytest.mark.parametrize("arch", ARCHS)
def test_readout_equals_full_forward_and_skips_the_other_positions(arch):
    model, tok = make_tiny(arch, seed=3)
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    assert int(enc["attention_mask"].sum()) < enc["attention_mask"].numel()  # the batch is padded
    last, ffn = _last_layer_ffn(model)
    assert readout_available(model)  # the one-time check against the full forward runs here
    rows: list[int] = []
    hook = ffn.register_forward_hook(lambda m, args, out: rows.append(args[0].shape[1]))
    try:
        with torch.inference_mode():
            full = model(**enc).logits
            assert rows == [enc["input_ids"].shape[1]]
            rows.clear()
            with first_position_readout(model) as used:
                fast = model(**enc).logits
            assert used
            assert rows == [1]  # the last feed-forward block ran on the first position only
            rows.clear()
            again = model(**enc).logits  # the full forward is back after the block
            assert rows == [enc["input_ids"].shape[1]]
    finally:
        hook.remove()
    assert "forward" not in vars(last)
    torch.testing.assert_close(fast, full, rtol=0, atol=1e-5)
    torch.testing.assert_close(again, full, rtol=0, atol=0)


def test_readout_restores_the_layer_after_an_error():
    model, tok = make_tiny("bert", seed=4)
    last, _ = _last_layer_ffn(model)
    with pytest.raises(RuntimeError, match="boom"):
        with first_position_readout(model) as used:
            assert used and "forward" in vars(last)
            raise RuntimeError("boom")
    assert "forward" not in vars(last)


def test_a_readout_that_disagrees_with_the_full_forward_is_not_used(monkeypatch):
    model, tok = make_tiny("distilbert", seed=5)
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    real = readout._attend
    monkeypatch.setattr(readout, "_attend", lambda q, k, v, mask, n, scale: real(q, k, v, mask, n, scale) * 1.5)
    assert not readout_available(model)
    with torch.inference_mode():
        full = model(**enc).logits
        with first_position_readout(model) as used:
            out = model(**enc).logits
    assert not used
    torch.testing.assert_close(out, full, rtol=0, atol=0)


def test_models_of_other_shapes_and_the_opt_out_keep_the_full_forward(monkeypatch):
    from transformers import GPT2Config, GPT2ForSequenceClassification

    gpt2 = GPT2ForSequenceClassification(GPT2Config(vocab_size=50, n_embd=16, n_layer=2, n_head=2, n_positions=32,
                                                     pad_token_id=0)).eval()
    with first_position_readout(gpt2) as used:  # reads the last token, not the first
        assert not used
    model, _ = make_tiny("roberta", seed=6)
    monkeypatch.setenv("AUDIT_FULL_FORWARD", "1")
    with first_position_readout(model) as used:
        assert not used
    monkeypatch.delenv("AUDIT_FULL_FORWARD")
    with first_position_readout(model) as used:
        assert used
        with first_position_readout(model) as nested:  # already short: nothing more to swap
            assert not nested
        assert "forward" in vars(_last_layer_ffn(model)[0])


def test_backbone_scores_agree_with_and_without_the_readout(backbone_bundle, monkeypatch):
    from audit.attribution.base import encode_texts, score_sequences

    encs = encode_texts(backbone_bundle, TEXTS * 3)
    seqs = [e.input_ids[: len(e.input_ids) - k] + e.input_ids[-1:] for k, e in zip(range(1, 10), encs)]
    targets = [i % 2 for i in range(len(seqs))]
    fast = score_sequences(backbone_bundle, seqs, targets, output="logit")
    assert readout_available(backbone_bundle.model)
    monkeypatch.setenv("AUDIT_FULL_FORWARD", "1")
    full = score_sequences(backbone_bundle, seqs, targets, output="logit")
    assert abs(fast - full).max() < 1e-5
