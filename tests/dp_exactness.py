"""The zero-noise exactness check of one private step, shared by the training tests and the model matrix.

With noise 0, learning rate 0 and float64 weights, one DP step's gradient must be the mean of the
per-example gradients (autograd, one unpadded example at a time) each clipped to C with Opacus'
coefficient min(1, C / (norm + 1e-6)). C is set between the per-example norms of the reference loop,
so some examples are clipped and the others are not: both branches of the clip are exercised (a
factor that is not capped at 1 scales the small gradients up to C, and one factor for the whole batch
scales every gradient alike; both change the step). The norms the step reports before and after
clipping are compared with the reference loop's as well.
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


def reference_clip_factor(norm: float, clip: float, rule: str = "flat") -> float:
    """The per-example clipping coefficient, written out: Opacus' min(1, C / (norm + 1e-6)) ("flat"), or
    C / (norm + 0.01), normalised clipping with the stability constant of Bu et al. ("automatic")."""
    if rule == "automatic":
        return clip / (norm + 0.01)
    assert rule == "flat", rule
    return min(1.0, clip / (norm + 1e-6))


@dataclass
class StepCheck:
    relative_error: float  # |DP gradient - clipped per-example mean| / |clipped per-example mean|
    reference_norms: np.ndarray  # per-example gradient norms by autograd, sorted
    step_norms: np.ndarray  # per-example norms the private step measured, sorted
    reference_clipped: np.ndarray  # reference norms after clipping, in the order of reference_norms
    step_clipped: np.ndarray  # clipped norms the private step reported, in the order of step_norms
    clip: float
    n_clipped: int  # reference examples whose norm is above C
    n_unclipped: int  # reference examples whose norm is below C
    batch_sizes: list[int]  # realised size of each logical step
    grads: dict[str, torch.Tensor]  # the step's (noise-free) gradient
    expected: dict[str, torch.Tensor]  # mean of the reference per-example gradients, each clipped to C
    record: Any

    def error(self, scale: float = 1.0) -> float:
        """Relative distance of the step's gradient from ``scale`` times the expected one."""
        return relative_distance(self.grads, {n: scale * g for n, g in self.expected.items()})


def relative_distance(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> float:
    num = math.sqrt(sum(float(((got[n] - want[n]) ** 2).sum()) for n in want))
    den = math.sqrt(sum(float((want[n] ** 2).sum()) for n in want))
    return num / den if den > 0 else math.inf


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


def clip_between(norms: np.ndarray) -> float:
    """A clipping norm halfway between the two middle per-example norms; refuses norms it cannot separate."""
    order = np.sort(norms)
    lo, hi = order[len(order) // 2 - 1], order[len(order) // 2]
    if not hi > lo * (1 + 1e-3):
        raise ValueError(f"the middle per-example norms {lo} and {hi} are too close to put C between them")
    return float(lo + hi) / 2


def zero_noise_step(bundle: Any, scope: str, mode: str, texts=TEXTS, labels=LABELS, physical: int = 4,
                    clipping: str = "flat") -> StepCheck:
    """Run one private step with noise 0 on a float64 copy of the bundle's model and compare it with the loop."""
    bundle.model.double()
    ref = per_example_reference(bundle, scope, texts, labels)
    norms = np.array([math.sqrt(sum(float((g.double() ** 2).sum()) for g in r.values())) for r in ref])
    clip = clip_between(norms)
    factors = [reference_clip_factor(nm, clip, clipping) for nm in norms]
    n_clipped, n_unclipped = int(np.sum(norms > clip)), int(np.sum(norms < clip))
    if n_clipped == 0 or n_unclipped == 0:
        raise AssertionError(f"C = {clip} does not separate the per-example norms {sorted(norms)}")
    seen: dict = {"sizes": []}

    def grab(info):
        seen["sizes"].append(info.batch_size)
        seen["norms"] = info.per_example_norms.copy()
        seen["clipped"] = info.clipped_norms.copy()
        seen["grads"] = {n: p.grad.detach().clone() for n, p in info.parameters}

    data = TextDataset(texts=list(texts), labels=list(labels), label_names=["neg", "pos"])
    rec = fine_tune_private(bundle, data, noise_multiplier=0.0, epochs=1, batch_size=len(data),
                            max_physical_batch_size=physical, lr=0.0, max_grad_norm=clip, trainable=scope,
                            grad_sample_mode=mode, clipping=clipping, show_progress=False, cross_check=False,
                            step_callback=grab)
    expected = {n: sum(r[n] * f for r, f in zip(ref, factors)) / len(ref) for n in ref[0]}
    if set(seen["grads"]) != set(expected):
        raise AssertionError(f"the step trained {sorted(set(seen['grads']) ^ set(expected))} unlike the reference")
    ref_order, step_order = np.argsort(norms), np.argsort(seen["norms"])
    return StepCheck(relative_error=relative_distance(seen["grads"], expected), reference_norms=norms[ref_order],
                     step_norms=seen["norms"][step_order], reference_clipped=(norms * np.array(factors))[ref_order],
                     step_clipped=seen["clipped"][step_order], clip=clip, n_clipped=n_clipped, n_unclipped=n_unclipped,
                     batch_sizes=seen["sizes"], grads=seen["grads"], expected=expected, record=rec)
