"""Make Hugging Face classifiers trainable under Opacus, generically.

Opacus computes per-example gradients from each layer's input (activations) and output
gradient (backprops), both assumed to have the batch as their first dimension. Hugging Face
encoders break that assumption in one place that matters: some embeddings are looked up with
an index tensor that is *broadcast* over the batch instead of having one row per example.

* BERT and DistilBERT look up position embeddings with ``position_ids`` of shape ``(1, L)``
  (and BERT the token-type embeddings with a zero tensor expanded from a ``(1, L)`` buffer).
  Opacus then sees an activation of batch size 1 and a backprop of batch size B, and per-example
  gradients fail with ``stack expects each tensor to be equal size``.
* An expanded index tensor is a non-contiguous view; ghost clipping's embedding norm calls
  ``.view`` on it and fails.
* ``ModuleValidator`` (and so ``make_private``) refuses a model in eval mode, which is how
  ``load_model`` returns it.

The fix lives in one place and knows no architecture: :class:`EmbeddingInputAligner` puts a
forward pre-hook on every ``nn.Embedding`` that expands a broadcast (first dimension 1) index
tensor to the real batch size and makes it contiguous. The real batch size is read by a
pre-hook on the top-level module from ``input_ids`` / ``inputs_embeds`` (or the first tensor
argument). The gradient is unchanged: a broadcast lookup and an expanded lookup have the same
sum over the batch, but only the expanded one has a per-example split. An embedding whose index
tensor has a first dimension that is neither 1 nor the batch size cannot be split per example;
when it is trainable, training stops with an error naming it (freeze it with a trainable scope).

:func:`prepare_model` runs Opacus' ``ModuleValidator``, applies its fixes (a fixed model is a
new object) and refuses clearly what it cannot fix; :func:`find_unused_parameters` finds
trainable parameters that a forward pass never touches (they would only collect noise), and
:func:`check_per_example_coverage` verifies after a backward pass that every trainable
parameter got a per-example gradient (or norm) of the right batch size.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

class DPCompatError(ValueError):
    """The model cannot be trained with per-example clipping as it is; the message says why and what to do."""


@dataclass
class CompatReport:
    """What was changed to make the model trainable under Opacus."""

    fixes: list[str] = field(default_factory=list)
    frozen_unused: list[str] = field(default_factory=list)
    aligned_embeddings: list[str] = field(default_factory=list)
    parameter_use: dict[str, Any] = field(default_factory=dict)  # clipping.ParameterUse of the probe pass

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _batch_size_from(args: tuple, kwargs: dict) -> int | None:
    import torch

    for key in ("input_ids", "inputs_embeds"):
        t = kwargs.get(key)
        if isinstance(t, torch.Tensor) and t.dim() >= 1:
            return int(t.shape[0])
    for t in list(args) + list(kwargs.values()):
        if isinstance(t, torch.Tensor) and t.dim() >= 1:
            return int(t.shape[0])
    return None


class EmbeddingInputAligner:
    """Give every ``nn.Embedding`` a contiguous index tensor with one row per example.

    Install on the module that is called with the batch (the model, or its peft wrapper);
    :meth:`remove` takes the hooks off again. Usable as a context manager.
    """

    def __init__(self, model: Any) -> None:
        from torch import nn

        self._local = threading.local()  # the batch size of the call running on this thread
        self._handles: list[Any] = []
        self.embeddings: list[str] = []
        self._handles.append(model.register_forward_pre_hook(self._record_batch, with_kwargs=True))
        for name, module in model.named_modules():
            if isinstance(module, nn.Embedding):
                self.embeddings.append(name)
                self._handles.append(module.register_forward_pre_hook(self._make_hook(name)))

    @property
    def batch_size(self) -> int | None:
        return getattr(self._local, "batch_size", None)

    def _record_batch(self, module: Any, args: tuple, kwargs: dict) -> None:
        n = _batch_size_from(args, kwargs)
        if n is not None:
            self._local.batch_size = n

    def _make_hook(self, name: str):
        def hook(module: Any, args: tuple) -> tuple | None:
            import torch

            if not args or not isinstance(args[0], torch.Tensor):
                return None
            idx = args[0]
            n = self.batch_size
            if n is not None and idx.dim() >= 1 and idx.shape[0] != n:
                if idx.shape[0] == 1:
                    idx = idx.expand(n, *idx.shape[1:])
                elif module.weight.requires_grad and module.training and torch.is_grad_enabled():
                    raise DPCompatError(
                        f"embedding {name!r} is looked up with indices of shape {tuple(idx.shape)}, whose first "
                        f"dimension is not the batch ({n}); its gradient cannot be split per example, so it cannot "
                        "be trained with differential privacy. Freeze it with a trainable scope "
                        "(e.g. 'all-but-word-embeddings', 'top-<k>' or 'lora')"
                    )
            if not idx.is_contiguous():
                idx = idx.contiguous()
            if idx is args[0]:
                return None
            return (idx, *args[1:])

        return hook

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def __enter__(self) -> EmbeddingInputAligner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def prepare_model(model: Any, report: CompatReport | None = None) -> tuple[Any, CompatReport]:
    """Put ``model`` in training mode and make Opacus' validator accept it.

    Runs ``ModuleValidator.validate``; if it finds problems, applies ``ModuleValidator.fix``
    (which returns a fixed copy: use the returned model) and validates again. Raises
    :class:`DPCompatError` listing what cannot be fixed. Trainable layers that hold buffers are
    checked by :func:`.clipping.probe_parameter_use` (constants are fine, running statistics are not).
    """
    from opacus.validators import ModuleValidator

    report = report or CompatReport()
    model.train()
    errors = ModuleValidator.validate(model, strict=False)
    if errors:
        fixed = ModuleValidator.fix(model)
        fixed.train()
        remaining = ModuleValidator.validate(fixed, strict=False)
        if remaining:
            raise DPCompatError(
                f"{type(model).__name__} cannot be trained with differential privacy: "
                + "; ".join(str(e) for e in remaining)
            )
        report.fixes += [f"ModuleValidator.fix: {e}" for e in errors]
        model = fixed
    return model, report


def find_unused_parameters(model: Any, inputs: dict[str, Any]) -> list[str]:
    """Trainable parameters that get no gradient from a forward/backward pass on ``inputs``.

    ``inputs`` should be built from public text (not training data). Such parameters would only
    accumulate noise under DP-SGD.
    """
    for p in model.parameters():
        p.grad = None
    out = model(**inputs)
    logits = out.logits if hasattr(out, "logits") else out[0]
    logits.float().sum().backward()
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    for p in model.parameters():
        p.grad = None
    return unused


def check_per_example_coverage(named_params: Iterable[tuple[str, Any]], grad_sample_mode: str, batch_size: int) -> None:
    """After a backward pass: every trainable parameter has a per-example gradient (hooks) or norm (ghost).

    ``"per-example"`` mode differentiates each example's loss with respect to every trainable
    parameter, and ``"bookkeeping"`` checks its own coverage in every backward pass, so there is
    nothing to check for them.

    Raises :class:`DPCompatError` naming the parameters Opacus could not see (used outside their
    module's forward, e.g. a weight read directly by another module), which would otherwise make
    clipping incomplete.
    """
    import torch

    if grad_sample_mode in ("per-example", "bookkeeping"):
        return
    missing, wrong = [], []
    for name, p in named_params:
        if not p.requires_grad:
            continue
        t = getattr(p, "grad_sample", None) if grad_sample_mode == "hooks" else getattr(p, "_norm_sample", None)
        if isinstance(t, list):
            t = t[-1] if t else None
        if not isinstance(t, torch.Tensor):
            missing.append(name)
        elif t.shape[0] != batch_size:
            wrong.append(f"{name} (batch {t.shape[0]} instead of {batch_size})")
    if missing or wrong:
        parts = []
        if missing:
            parts.append("no per-example gradient for " + ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else ""))
        if wrong:
            parts.append("per-example gradients of the wrong batch size for " + ", ".join(wrong[:8]))
        raise DPCompatError(
            "; ".join(parts) + ". These parameters are used outside the forward pass of the layer that owns them, so "
            "their gradients cannot be clipped per example; freeze them with a trainable scope"
        )
