"""Clipping rules: how each example's gradient is scaled before the sum that receives the noise.

A rule maps an example's gradient norm ``g`` to a factor ``c(g)`` with ``c(g) * g <= C``, so that no
example moves the sum by more than the clipping norm ``C`` and the Gaussian noise ``sigma * C``
gives the accounted guarantee. Every per-example gradient method (single-pass, ghost, layer hooks,
one pass per example) asks the run's rule for its factors, so a rule applies to all of them alike.

* ``"flat"``: ``min(1, C / (g + 1e-6))``, Opacus' coefficient. Gradients longer than ``C`` are
  scaled down to ``C``; shorter ones are kept as they are.
* ``"automatic"``: ``C / (g + gamma)``, normalised clipping (Bu et al., 2023, "Automatic clipping:
  differentially private deep learning made easier and stronger"). Every gradient is scaled to a
  length just under ``C``, so a well-fitted example with a small gradient pulls nearly as hard as
  one the model gets wrong; ``gamma`` (:data:`AUTOMATIC_GAMMA`, the paper's 0.01) keeps the factor
  finite for a vanishing gradient. The sensitivity is ``C * g / (g + gamma) < C``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AUTOMATIC_GAMMA", "CLIP_RULES", "AutomaticClipping", "ClipRule", "FlatClipping", "resolve_clip_rule"]

#: Stability constant of automatic clipping, in units of the gradient norm.
AUTOMATIC_GAMMA = 0.01


class ClipRule:
    """The factor each example's gradient is multiplied by, from its norm and the clipping norm ``C``."""

    name = ""

    def factor(self, norm: float, max_grad_norm: float) -> float:
        """The factor of one gradient of L2 norm ``norm`` (a Python float)."""
        raise NotImplementedError

    def factors(self, norms: Any, max_grad_norm: float) -> Any:
        """The factors of a batch of norms (a tensor), computed the same way on the tensor's device."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class FlatClipping(ClipRule):
    """``min(1, C / (norm + 1e-6))``: long gradients scaled down to ``C``, short ones kept."""

    name = "flat"

    def factor(self, norm: float, max_grad_norm: float) -> float:
        return min(1.0, max_grad_norm / (norm + 1e-6))

    def factors(self, norms: Any, max_grad_norm: float) -> Any:
        return (max_grad_norm / (norms + 1e-6)).clamp(max=1.0)


class AutomaticClipping(ClipRule):
    """``C / (norm + gamma)``: every gradient normalised to a length just under ``C``."""

    name = "automatic"

    def __init__(self, gamma: float = AUTOMATIC_GAMMA) -> None:
        if not gamma > 0:
            raise ValueError(f"automatic clipping needs gamma > 0, got {gamma!r}")
        self.gamma = float(gamma)

    def factor(self, norm: float, max_grad_norm: float) -> float:
        return max_grad_norm / (norm + self.gamma)

    def factors(self, norms: Any, max_grad_norm: float) -> Any:
        return max_grad_norm / (norms + self.gamma)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "gamma": self.gamma}

    def __repr__(self) -> str:
        return f"AutomaticClipping(gamma={self.gamma:g})"


#: The rules a private run can use, by name (``clipping=`` / ``--clipping``).
CLIP_RULES: dict[str, ClipRule] = {"flat": FlatClipping(), "automatic": AutomaticClipping()}


def resolve_clip_rule(rule: str | ClipRule | None) -> ClipRule:
    """A rule from its name (``None``: flat) or the rule itself."""
    if rule is None:
        return CLIP_RULES["flat"]
    if isinstance(rule, ClipRule):
        return rule
    if rule not in CLIP_RULES:
        raise ValueError(f"unknown clipping rule {rule!r}; choose one of {', '.join(CLIP_RULES)}")
    return CLIP_RULES[rule]
