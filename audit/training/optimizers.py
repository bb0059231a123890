"""Optimizers of private training: the update rule applied to the noisy averaged gradient.

DP-SGD hands the optimizer ``g = (sum of clipped per-example gradients + N(0, sigma^2 C^2 I)) / B``.
The optimizer is post-processing of that released gradient, so it never changes the privacy
guarantee; it decides only how well the noisy signal is used. Two rules behind one registry
(:data:`OPTIMIZERS`, :func:`make_optimizer`):

* ``"adam"`` - AdamW (fused where torch has it), the recipe's default.
* ``"adam-bc"`` - :class:`DPAdamBC`, Adam whose second moment has the known noise variance
  removed. Adam's second moment ``v`` estimates ``E[g^2] = signal^2 + phi`` with
  ``phi = (sigma * C / B)^2`` the variance the Gaussian noise adds to every coordinate. When the
  noise dominates, ``sqrt(v)`` is about ``sqrt(phi)`` for every coordinate and Adam scales all of
  them alike: it behaves like SGD with momentum. Subtracting ``phi`` (Tang et al. 2024, "DP-AdamBC:
  Your DP-Adam Is Actually DP-SGD (Unless You Apply Bias Correction)") restores the per-coordinate
  scaling where the signal shows above the noise; a floor ``floor_ratio * phi`` keeps the
  denominator positive where it does not.

The noise variance is a function of the public settings (``sigma``, ``C``, ``B``) only.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

__all__ = ["DPAdamBC", "OPTIMIZERS", "make_optimizer", "noise_variance"]


def noise_variance(noise_multiplier: float, max_grad_norm: float, expected_batch_size: float) -> float:
    """Variance the Gaussian noise adds to each coordinate of the averaged gradient: ``(sigma * C / B)^2``."""
    return (float(noise_multiplier) * float(max_grad_norm) / float(expected_batch_size)) ** 2


class DPAdamBC(torch.optim.Optimizer):
    """Adam with the noise variance ``phi`` taken out of its bias-corrected second moment.

    Per coordinate, after the usual moment updates and bias corrections ``m_hat`` and ``v_hat``:

        w <- w * (1 - lr * weight_decay) - lr * m_hat / (sqrt(max(v_hat - phi, floor_ratio * phi)) + eps)

    With ``phi = 0`` (no noise) this is exactly AdamW. Parameter groups may set ``weight_decay``.
    """

    def __init__(self, params: Any, *, lr: float, noise_variance: float, floor_ratio: float = 0.01,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        if not (math.isfinite(lr) and lr >= 0):
            raise ValueError(f"lr must be a number >= 0, got {lr!r}")
        if not (math.isfinite(noise_variance) and noise_variance >= 0):
            raise ValueError(f"noise_variance must be a number >= 0, got {noise_variance!r}")
        if not (math.isfinite(floor_ratio) and floor_ratio > 0):
            raise ValueError(f"floor_ratio must be a positive number, got {floor_ratio!r}")
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"betas must lie in [0, 1), got {betas!r}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay})
        self.noise_variance = float(noise_variance)
        self.floor_ratio = float(floor_ratio)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        phi, floor = self.noise_variance, self.floor_ratio * self.noise_variance
        with torch.no_grad():
            for group in self.param_groups:
                lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    if not state:
                        state["step"] = 0
                        state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                        state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["step"] += 1
                    t, m, v, g = state["step"], state["exp_avg"], state["exp_avg_sq"], p.grad
                    m.lerp_(g, 1 - b1)
                    v.mul_(b2).addcmul_(g, g, value=1 - b2)
                    denom = (v / (1 - b2**t)).sub_(phi).clamp_min_(floor).sqrt_().add_(eps)
                    if wd:
                        p.mul_(1 - lr * wd)
                    p.addcdiv_(m, denom, value=-lr / (1 - b1**t))
        return loss


def _adam(params: list[Any], *, lr: float, weight_decay: float, device: str, noise_variance: float) -> Any:
    from .finetune import adamw

    return adamw(params, lr=lr, weight_decay=weight_decay, device=device)[0]


def _adam_bc(params: list[Any], *, lr: float, weight_decay: float, device: str, noise_variance: float) -> Any:
    from .finetune import decay_groups
    from .recipe import BC_FLOOR_RATIO

    groups = [g for g in decay_groups(params, weight_decay) if g["params"]]
    return DPAdamBC(groups, lr=lr, noise_variance=noise_variance, floor_ratio=BC_FLOOR_RATIO)


#: Update rules of private training by name: ``factory(params, lr=, weight_decay=, device=, noise_variance=)``.
OPTIMIZERS: dict[str, Callable[..., Any]] = {"adam": _adam, "adam-bc": _adam_bc}


def make_optimizer(name: str, params: list[Any], *, lr: float, weight_decay: float, device: str,
                   noise_variance: float) -> Any:
    """The base optimizer ``name`` (a key of :data:`OPTIMIZERS`) over ``params``."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, lr=lr, weight_decay=weight_decay, device=device, noise_variance=noise_variance)
