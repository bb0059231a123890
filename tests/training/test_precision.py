"""bfloat16 mixed precision: float32 master weights, clipping that holds in float32, records that say so."""

from __future__ import annotations

import math

import pytest
import torch

from audit.data import TextDataset
from audit.models import ModelBundle
from audit.training import fine_tune
from audit.training.ledger import PrivacyConfigError
from audit.training.precision import (
    PrecisionChoice,
    PrecisionError,
    for_private_training,
    resolve_precision,
)
from audit.training.private import fine_tune_private
from dp_exactness import LABELS, TEXTS
from model_zoo import make_model

pytestmark = pytest.mark.filterwarnings("ignore:noise_multiplier=0")

NAMES = ["neg", "pos"]
#: bfloat16 keeps 8 significant bits (rounding error 2^-9 per value); through the few layers of a tiny
#: model the gradient of a step differs from float32 by about 1-2%. A step off by more is not rounding.
BF16_STEP_TOLERANCE = 0.05
#: float32 rounding of the clipped gradient's norm (the float32 runs show the same).
FP32_NORM_SLACK = 1e-6


def _bundle(name: str) -> ModelBundle:
    model, tok = make_model(name, num_labels=2, seed=0)
    return ModelBundle(model=model, tokenizer=tok, label_names=list(NAMES), device="cpu", source=name)


def _step_gradient(bundle, data, *, precision, mode, clip, physical=None):
    seen = {}

    def grab(info):
        seen["grads"] = {n: p.grad.detach().double().clone() for n, p in info.parameters}

    rec = fine_tune_private(bundle, data, noise_multiplier=0.0, epochs=1, batch_size=len(data), lr=0.0, max_grad_norm=clip,
                            grad_sample_mode=mode, show_progress=False, cross_check=False, step_callback=grab,
                            precision=precision, max_physical_batch_size=physical)
    return seen["grads"], rec


@pytest.mark.parametrize("mode", ["hooks", "per-example", "bookkeeping"])
@pytest.mark.parametrize("name", ["bert+wordpiece", "gpt2+gpt2-bpe"])
def test_bf16_clipped_per_example_norms_are_at_most_c(name, mode):
    """Each example alone (a logical batch of one, noise 0): the applied gradient is that example's
    clipped gradient; its measured norm is <= C up to float32 rounding (C is far below every norm,
    so every example is clipped). bfloat16 per-example gradients would exceed C by ~1e-3."""
    clip = 1e-3
    worst = 0.0
    for text, y in zip(TEXTS[:4], LABELS[:4]):
        data = TextDataset(texts=[text], labels=[y], label_names=list(NAMES))
        grads, rec = _step_gradient(_bundle(name), data, precision="bf16", mode=mode, clip=clip)
        assert rec.config["precision"] == "bf16" and rec.ledger["precision"] == "bf16"
        norm = math.sqrt(sum(float((g ** 2).sum()) for g in grads.values()))
        assert norm > 0.99 * clip  # clipped, not vanished
        worst = max(worst, norm / clip)
    assert worst <= 1 + FP32_NORM_SLACK, f"a clipped per-example gradient has norm {worst:.7f} C"


@pytest.mark.parametrize("name", ["bert+wordpiece", "llama+sp-bpe"])
def test_bf16_zero_noise_step_is_close_to_fp32(name):
    """The same zero-noise step (half the examples clipped) in bf16 and fp32 agrees within bf16 rounding,
    and not exactly (so autocast really ran)."""
    data = TextDataset(texts=list(TEXTS), labels=list(LABELS), label_names=list(NAMES))
    ref, rec32 = _step_gradient(_bundle(name), data, precision="fp32", mode="hooks", clip=0.05, physical=4)
    low, rec16 = _step_gradient(_bundle(name), data, precision="bf16", mode="hooks", clip=0.05, physical=4)
    assert rec32.config["precision"] == "fp32" and rec16.config["precision"] == "bf16"
    num = math.sqrt(sum(float(((low[k] - ref[k]) ** 2).sum()) for k in ref))
    den = math.sqrt(sum(float((ref[k] ** 2).sum()) for k in ref))
    assert 0 < num / den <= BF16_STEP_TOLERANCE


def _linear_output_dtypes(model):
    seen = set()
    handles = [m.register_forward_hook(lambda m, a, out: seen.add(out.dtype) if m.training else None)
               for m in model.modules() if isinstance(m, torch.nn.Linear)]
    return seen, handles


def test_private_bf16_keeps_float32_master_weights():
    bundle = _bundle("bert+wordpiece")
    seen, handles = _linear_output_dtypes(bundle.model)
    data = TextDataset(texts=list(TEXTS), labels=list(LABELS), label_names=list(NAMES))
    before = {n: p.detach().clone() for n, p in bundle.model.named_parameters()}
    rec = fine_tune_private(bundle, data, noise_multiplier=0.5, epochs=1, batch_size=3, lr=1e-2, grad_sample_mode="hooks",
                            show_progress=False, cross_check=False, precision="bf16", max_physical_batch_size=2)
    for h in handles:
        h.remove()
    assert torch.bfloat16 in seen  # the layers ran under autocast
    assert all(p.dtype == torch.float32 for p in bundle.model.parameters())
    changed = [n for n, p in bundle.model.named_parameters() if not torch.equal(p, before[n])]
    assert changed  # the update reached the float32 weights
    assert rec.config["precision_detail"]["master_weights"] == "float32"
    assert rec.ledger["precision"] == "bf16" and rec.ledger["steps"] >= 1


def test_fine_tune_bf16_records_and_keeps_float32_weights():
    bundle = _bundle("bert+wordpiece")
    seen, handles = _linear_output_dtypes(bundle.model)
    data = TextDataset(texts=list(TEXTS) * 4, labels=list(LABELS) * 4, label_names=list(NAMES))
    rec = fine_tune(bundle, data, epochs=1, batch_size=8, lr=1e-3, show_progress=False, precision="bf16")
    for h in handles:
        h.remove()
    assert torch.bfloat16 in seen
    assert all(p.dtype == torch.float32 for p in bundle.model.parameters())
    assert rec.config["precision"] == "bf16" and math.isfinite(rec.epochs[0]["train_loss"])
    rec32 = fine_tune(_bundle("bert+wordpiece"), data, epochs=1, batch_size=8, lr=1e-3, show_progress=False)
    assert rec32.config["precision"] == "fp32"  # auto on a CPU


def test_precision_choice_by_device_and_mode():
    assert resolve_precision("auto", "cpu").precision == "fp32"
    assert resolve_precision("bf16", "cpu").precision == "bf16"
    assert resolve_precision("FP32", "cpu").precision == "fp32"
    with pytest.raises(PrecisionError, match="precision must be one of"):
        resolve_precision("fp16", "cpu")
    auto_bf16 = PrecisionChoice("bf16", "auto", "CUDA GPU with bfloat16 support")
    assert for_private_training(auto_bf16, "hooks").precision == "bf16"
    assert for_private_training(auto_bf16, "bookkeeping").precision == "bf16"
    fallback = for_private_training(auto_bf16, "ghost")
    assert fallback.precision == "fp32" and "ghost" in fallback.reason
    with pytest.raises(PrivacyConfigError, match="precision='bf16' is refused"):
        for_private_training(PrecisionChoice("bf16", "bf16", "requested"), "ghost")


def test_private_explicit_bf16_with_ghost_is_refused():
    data = TextDataset(texts=list(TEXTS), labels=list(LABELS), label_names=list(NAMES))
    with pytest.raises(PrivacyConfigError, match="ghost"):
        fine_tune_private(_bundle("bert+wordpiece"), data, noise_multiplier=1.0, epochs=1, batch_size=3, grad_sample_mode="ghost",
                          show_progress=False, cross_check=False, precision="bf16")

