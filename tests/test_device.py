"""Batches sized for the device: the shared limits, results that do not depend on them, one transfer per batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import audit._device as device
from audit._device import MAX_ROWS, MAX_TOKENS, BatchLimits, HostRows, batch_limits, bytes_per_token
from audit.attribution import GradientXInput, IntegratedGradients
from audit.attribution.base import encode_texts, score_sequences
from audit.models import load_model
from audit.robustness.victim import word_saliency
from model_zoo import make_model

GiB = 2**30
TEXTS = ["The film was great, really great!", "dull", "a dull plot but a great cast overall, really, and more words here",
         "not bad at all", "Café crème: naïve résumé, bad", "terrible terrible terrible film, I would not watch it again"]
LABELS = [1, 0, 0, 1, 0, 0]


def _bundle(name: str):
    model, tok = make_model(name, label_names=["negative", "positive"])
    return load_model((model, tok), device="cpu")


class _OnGpu:
    """A bundle stand-in on a CUDA device (only its device, model config and length limit are read)."""

    def __init__(self, bundle):
        self.model, self.max_length, self.device = bundle.model, bundle.max_length, "cuda:0"


def test_cpu_gets_the_callers_sizes_and_gpu_sizes_follow_memory():
    b = _bundle("bert+wordpiece")
    assert batch_limits(b, 64, 1024) == BatchLimits(64, 1024)
    gpu = _OnGpu(b)
    sizes = [batch_limits(gpu, 64, 1024, available=a * GiB, max_length=64).tokens for a in (0, 1, 8, 64, 1024)]
    assert sizes[0] == 1024  # nothing free: never below the CPU size
    assert sizes == sorted(sizes) and sizes[-1] == MAX_TOKENS["forward"]  # more memory, more tokens, up to the ceiling
    assert batch_limits(gpu, 64, 1024, available=GiB, max_length=64).rows == MAX_ROWS
    mid = 2 * 2**20
    forward = batch_limits(gpu, 16, 1024, kind="forward", available=mid, max_length=32).tokens
    gradient = batch_limits(gpu, 16, 1024, kind="gradient", available=mid * 64, max_length=32).tokens
    assert bytes_per_token(b.model, 32, "gradient") > bytes_per_token(b.model, 32, "forward")
    assert bytes_per_token(b.model, 128) > bytes_per_token(b.model, 32)  # attention grows with the length
    assert 1024 <= forward and 1024 <= gradient
    with pytest.raises(ValueError, match="kind must be one of"):
        batch_limits(b, 1, 1, kind="backward")


def test_host_rows_defer_to_one_transfer_with_the_same_result():
    now, later = HostRows((5, 2), "cpu"), HostRows((5, 2), "cpu", defer=True)
    parts = [([3, 0], torch.tensor([[1.0, 2.0], [3.0, 4.0]])), ([4, 1, 2], torch.arange(6.0).reshape(3, 2))]
    for idx, v in parts:
        now.add(idx, v)
        later.add(idx, v)
    assert later.out.sum() == 0  # nothing copied before result()
    np.testing.assert_array_equal(now.result(), later.result())
    np.testing.assert_array_equal(later.out[3], [1.0, 2.0])


def _limits(rows: int, tokens: int):
    def fixed(bundle, cpu_rows, cpu_tokens, **kw):
        return BatchLimits(rows, tokens)

    return fixed


@pytest.mark.parametrize("name", ["bert+wordpiece", "llama+sp-bpe"])
def test_results_do_not_depend_on_the_batch_limits(monkeypatch, name):
    """One text per pass versus everything in one pass (what a large GPU gets): the same numbers."""
    b = _bundle(name)
    encs = encode_texts(b, TEXTS)
    seqs = [e.input_ids[: max(1, len(e) // 2)] for e in encs] + [e.input_ids for e in encs]

    def run():
        return {
            "logits": b.predict_logits(TEXTS),
            "scores": score_sequences(b, seqs, [1] * len(seqs), output="logit"),
            "ig": [a.token_scores for a in IntegratedGradients(n_steps=16).explain(b, TEXTS)],
            "ig_fixed": [a.token_scores for a in IntegratedGradients(n_steps=8, method="gausslegendre").explain(b, TEXTS)],
            "gxi": [a.token_scores for a in GradientXInput().explain(b, TEXTS)],
            "saliency": word_saliency(b, TEXTS, LABELS),
        }

    monkeypatch.setattr(device, "batch_limits", _limits(1, 8))
    small = run()
    monkeypatch.setattr(device, "batch_limits", _limits(MAX_ROWS, 10**6))
    large = run()
    monkeypatch.setattr(device, "HostRows", lambda shape, dev: HostRows(shape, dev, defer=True))
    deferred = run()
    for key in small:
        for x, y, z in zip(small[key], large[key], deferred[key]):
            np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6, err_msg=key)
            np.testing.assert_allclose(y, z, rtol=0, atol=0, err_msg=key)


def test_no_per_example_transfers_in_the_hot_loops(monkeypatch):
    """Host transfers (``.cpu()``, ``.item()``, ``.tolist()``, ``float(tensor)``) per batch, not per text:
    a batch of 6 texts (of one length, so one batch) makes as many as a batch of 3."""
    b = _bundle("bert+wordpiece")
    monkeypatch.setattr(device, "batch_limits", _limits(MAX_ROWS, 10**6))
    calls = []
    for name in ("cpu", "item", "tolist", "__float__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *a, _original=original, **k):
            calls.append(1)
            return _original(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, counted)

    def transfers(fn, texts):
        calls.clear()
        fn(texts)
        return len(calls)

    fixed = IntegratedGradients(n_steps=8, method="gausslegendre")
    nested = IntegratedGradients(n_steps=16)
    for fn in (b.predict_logits, lambda t: fixed.explain(b, t), lambda t: nested.explain(b, t),
               lambda t: GradientXInput().explain(b, t), lambda t: word_saliency(b, t, [0] * len(t))):
        fn(TEXTS[:1])  # per-model probes that run once and are cached
        assert transfers(fn, [TEXTS[0]] * 3) == transfers(fn, [TEXTS[0]] * 6), fn


@pytest.mark.parametrize("name", ["bert+wordpiece", "llama+sp-bpe", "gpt2+gpt2-bpe"])
def test_padding_once_tokenized_equals_the_tokenizers_own(name):
    """Texts tokenized once and padded per batch give the tensors the tokenizer gives for the batch
    (either padding side, token types included), for inference and for training batches."""
    from audit.training.finetune import _collate

    b = _bundle(name)
    encoded = b.encode(TEXTS)
    for idx in ([0, 1, 2, 3, 4, 5], [5, 1], [3]):
        ours = b.pad(encoded, idx)
        theirs = b.tokenize([TEXTS[i] for i in idx])
        assert set(ours) == set(theirs) - {"offset_mapping"}
        for key in ours:
            assert torch.equal(ours[key], theirs[key]), key
        ids = [encoded["input_ids"][i] for i in idx]
        batch = _collate(b, ids, [LABELS[i] for i in idx])
        ref = b.tokenizer.pad({"input_ids": ids}, padding=True, return_tensors="pt")
        assert torch.equal(batch["input_ids"], ref["input_ids"]) and torch.equal(batch["attention_mask"], ref["attention_mask"])
        assert batch["labels"].tolist() == [LABELS[i] for i in idx]
