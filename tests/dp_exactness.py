"""The zero-noise exactness check of one private step, shared by the training tests and the model matrix.

With noise 0, learning rate 0 and float64 weights, one DP step's gradient must be the mean of the
per-example gradients (autograd, one unpadded example at a time) each clipped to C with Opacus'
coefficient min(1, C / (norm + 1e-6)). C is set between the measured per-example norms, so half
the examples are clipped and half are not: both branches of the clip are exercised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from audit.data import TextDataset
from audit.training.private import fine_tune_private
from audit.training.scopes import resolve_scope

TEXTS = ["the film was great and the acting superb", "dull", "a dull plot but a great cast overall, really",
         "not bad at all", "terrible terrible terrible film", "wonderful, I would watch it again tomorrow"]
LABELS = [1, 0, 0, 1, 0, 1]


@dataclass
class StepCheck:
    relative_error: float  # |DP gradient - clipped per-example mean| / |clipped per-example mean|
    reference_norms: np.ndarray  # per-example gradient norms by autograd, sorted
    step_norms: np.ndarray  # per-example norms the private step measured, sorted
    clip: float
    n_clipped: int
    record: Any


def per_example_reference(bundle: Any, scope_name: str, texts, labels) -> list[dict[str, torch.Tensor]]:
    """Each example's gradient by autograd, one unpadded example at a time (no Opacus), for the scope's parameters."""
    model = bundle.model
    model.eval()  # dropout off, as in the private run (dropout 0)
    scope = resolve_scope(scope_name)
    scope.apply(model)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    out = []
    for text, y in zip(texts, labels):
        enc = bundle.tokenizer(text, return_tensors="pt")
        model.zero_grad(set_to_none=True)
        logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
        torch.nn.functional.cross_entropy(logits, torch.tensor([y])).backward()
        out.append({n: p.grad.detach().clone() for n, p in named if p.grad is not None})
    model.zero_grad(set_to_none=True)
    scope.finalize(model)
    return out


def zero_noise_step(bundle: Any, scope: str, mode: str, texts=TEXTS, labels=LABELS) -> StepCheck:
    """Run one private step with noise 0 on a float64 copy of the bundle's model and compare it with the loop."""
    bundle.model.double()
    ref = per_example_reference(bundle, scope, texts, labels)
    norms = np.array([math.sqrt(sum(float((g.double() ** 2).sum()) for g in r.values())) for r in ref])
    order = np.sort(norms)
    clip = float(order[len(order) // 2 - 1] + order[len(order) // 2]) / 2
    seen: dict = {}

    def grab(info):
        seen["norms"] = info.per_example_norms.copy()
        seen["grads"] = {n: p.grad.detach().clone() for n, p in info.parameters}

    data = TextDataset(texts=list(texts), labels=list(labels), label_names=["neg", "pos"])
    rec = fine_tune_private(bundle, data, noise_multiplier=0.0, epochs=1, batch_size=len(data), max_physical_batch_size=4,
                            lr=0.0, max_grad_norm=clip, trainable=scope, grad_sample_mode=mode, show_progress=False,
                            cross_check=False, step_callback=grab)
    expected = {n: sum(r[n] * min(1.0, clip / (nm + 1e-6)) for r, nm in zip(ref, norms)) / len(ref) for n in ref[0]}
    if set(seen["grads"]) != set(expected):
        raise AssertionError(f"the step trained {sorted(set(seen['grads']) ^ set(expected))} unlike the reference")
    num = math.sqrt(sum(float(((seen["grads"][n] - expected[n]) ** 2).sum()) for n in expected))
    den = math.sqrt(sum(float((expected[n] ** 2).sum()) for n in expected))
    return StepCheck(num / den if den > 0 else math.inf, order, np.sort(seen["norms"]), clip,
                     int(np.sum(norms > clip)), rec)
