"""Numeric precision of training: float32, or bfloat16 autocast with float32 master weights.

``precision`` is one of :data:`PRECISIONS`:

* ``"fp32"``: every operation in float32 (the model's own dtype).
* ``"bf16"``: the forward pass runs under ``torch.autocast(dtype=torch.bfloat16)``, so the matrix
  products (and their gradients) run in bfloat16 on tensor cores, while the weights, the optimizer
  state and the update stay float32 ("master weights"). bfloat16 has float32's exponent range, so
  no loss scaling is needed.
* ``"auto"`` (the default): ``bf16`` on a CUDA GPU that supports it
  (``torch.cuda.is_bf16_supported()``), ``fp32`` everywhere else (a CPU gains little from it).

Under differential privacy the guarantee rests on each example's clipped gradient having norm at
most C, so the privacy-critical arithmetic stays float32 under ``bf16``:

* :class:`Float32Capture` makes the layer inputs and output gradients that per-example gradients
  are computed from float32 (the bfloat16 values exactly, widened), so per-example gradients, their
  norms, the clipping coefficients and the clipped sum are float32;
* the Gaussian noise is drawn and added in the parameters' dtype (float32).

bfloat16 is allowed with a clipping mode only when the clipped sum is formed from those float32
per-example quantities (:data:`FLOAT32_SUM_MODES`): Opacus' per-example gradients (``"hooks"``) and
one pass per example (``"per-example"``, which clips each example's actual gradient). Ghost clipping
forms the clipped sum with a second backward pass through the bfloat16 graph, whose per-example
contributions are rounded to bfloat16 after the coefficients were computed; their norms can exceed
C by the rounding (a few tenths of a percent), so ``"auto"`` falls back to ``fp32`` for it and an
explicit ``"bf16"`` is refused.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterator

PRECISIONS = ("auto", "fp32", "bf16")
#: Clipping modes whose clipped sum is formed from float32 per-example quantities under bf16.
FLOAT32_SUM_MODES = ("hooks", "per-example", "bookkeeping")


class PrecisionError(ValueError):
    """A precision that cannot be used on this device or with these settings; the message says why."""


@dataclass
class PrecisionChoice:
    """The precision a run used and why; stored in the training record (and the privacy ledger)."""

    precision: str  # "fp32" or "bf16"
    requested: str
    reason: str

    @property
    def bf16(self) -> bool:
        return self.precision == "bf16"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.bf16:
            d |= {"autocast_dtype": "bfloat16", "master_weights": "float32"}
        return d


def bf16_supported(device: str) -> bool:
    """Whether ``device`` is a CUDA GPU with bfloat16 support."""
    import torch

    if not str(device).startswith("cuda") or not torch.cuda.is_available():
        return False
    try:
        return bool(torch.cuda.is_bf16_supported())
    except Exception:  # pragma: no cover - driver-specific
        return False


def resolve_precision(requested: str, device: str) -> PrecisionChoice:
    """The precision to train with on ``device`` (see the module docstring)."""
    key = str(requested).strip().lower()
    if key not in PRECISIONS:
        raise PrecisionError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    cuda = str(device).startswith("cuda")
    if key == "fp32":
        return PrecisionChoice("fp32", key, "requested")
    if key == "bf16":
        if cuda and not bf16_supported(device):
            raise PrecisionError(f"precision='bf16' was requested but the GPU of {device!r} does not support bfloat16; "
                                 "use precision='fp32'")
        return PrecisionChoice("bf16", key, "requested")
    if bf16_supported(device):
        return PrecisionChoice("bf16", key, "CUDA GPU with bfloat16 support")
    return PrecisionChoice("fp32", key, "a CUDA GPU without bfloat16 support" if cuda else f"device {device!r} is not a CUDA GPU")


def for_private_training(choice: PrecisionChoice, grad_sample_mode: str) -> PrecisionChoice:
    """``choice`` checked against the clipping mode of a private run (see :data:`FLOAT32_SUM_MODES`)."""
    if not choice.bf16 or grad_sample_mode in FLOAT32_SUM_MODES:
        return choice
    why = (f"grad_sample_mode={grad_sample_mode!r} forms the clipped gradient sum with a bfloat16 backward pass, whose "
           "per-example contributions could exceed the clipping norm by the rounding")
    if choice.requested == "auto":
        return PrecisionChoice("fp32", choice.requested, why)
    from .ledger import PrivacyConfigError

    raise PrivacyConfigError(f"precision='bf16' is refused: {why}; use grad_sample_mode='hooks' or 'per-example', "
                             "or precision='fp32'")


def autocast(choice: PrecisionChoice, device: str) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to bfloat16 under ``bf16``, a no-op context under ``fp32``."""
    import torch

    if not choice.bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


def _float_logits(out: Any) -> Any:
    import torch

    logits = getattr(out, "logits", None)
    if isinstance(logits, torch.Tensor) and logits.is_floating_point() and logits.dtype != torch.float32:
        out.logits = logits.float()
    return out


def autocasting(forward: Callable[..., Any], choice: PrecisionChoice, device: str) -> Callable[..., Any]:
    """``forward`` run under :func:`autocast`, its ``logits`` returned as float32 (the loss is float32).

    Under ``fp32`` ``forward`` itself is returned.
    """
    if not choice.bf16:
        return forward

    def run(*args: Any, **kwargs: Any) -> Any:
        with autocast(choice, device):
            out = forward(*args, **kwargs)
        return _float_logits(out)

    run.__wrapped__ = forward  # type: ignore[attr-defined]
    return run


class Float32Capture:
    """Widen to float32 the inputs and outputs of every layer that holds a trainable parameter.

    Per-example gradients are computed by layer hooks from a layer's inputs (activations) and the
    gradients of its outputs (backprops). Under bfloat16 autocast both would be bfloat16, and so would
    the per-example gradients and their norms. A forward pre-hook casts floating-point inputs to
    float32 (exact: autocast casts them back to bfloat16 for the layer's matrix product, to the same
    values) and a forward hook casts the outputs to float32, so the output gradients the backward
    hooks see are float32 as well. The layer's own computation is unchanged.
    """

    def __init__(self, model: Any) -> None:
        self._handles: list[Any] = []
        for module in model.modules():
            if any(p.requires_grad for p in module.parameters(recurse=False)):
                self._handles.append(module.register_forward_pre_hook(self._inputs))
                self._handles.append(module.register_forward_hook(self._outputs))

    @staticmethod
    def _widen(x: Any) -> Any:
        import torch

        if isinstance(x, torch.Tensor) and x.is_floating_point() and x.dtype in (torch.bfloat16, torch.float16):
            return x.float()
        if isinstance(x, tuple):
            return tuple(Float32Capture._widen(t) for t in x)
        return x

    def _inputs(self, module: Any, args: tuple) -> tuple | None:
        widened = self._widen(args)
        return None if all(a is b for a, b in zip(widened, args)) else widened

    def _outputs(self, module: Any, args: tuple, output: Any) -> Any:
        widened = self._widen(output)
        return None if widened is output else widened

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()


@contextlib.contextmanager
def float32_capture(model: Any, choice: PrecisionChoice) -> Iterator[Float32Capture | None]:
    """:class:`Float32Capture` on ``model`` within the block under ``bf16``; nothing under ``fp32``."""
    capture = Float32Capture(model) if choice.bf16 else None
    try:
        yield capture
    finally:
        if capture is not None:
            capture.remove()


__all__ = ["FLOAT32_SUM_MODES", "PRECISIONS", "Float32Capture", "PrecisionChoice", "PrecisionError", "autocast", "autocasting",
           "bf16_supported", "for_private_training", "float32_capture", "resolve_precision"]
