"""Privacy accounting and the privacy ledger of a differentially private training run.

DP-SGD with Poisson sampling is a composition of ``steps`` sub-sampled Gaussian mechanisms,
each described by the sampling rate ``q`` (the chance that one example is in a batch) and the
noise multiplier ``sigma`` (noise standard deviation divided by the clipping norm ``C``). An
accountant turns ``(q, sigma, steps, delta)`` into the ``epsilon`` of an ``(epsilon, delta)``
guarantee for one training example (add/remove adjacency).

Accountants offered:

* ``"prv"`` (default): Opacus' privacy-random-variable accountant (Gopi et al. 2021). It
  returns a numerical *upper bound* on epsilon that is tight to about 1%.
* ``"rdp"``: Opacus' Renyi-DP accountant. Sound but loose (epsilon about 10-20% higher).

Opacus' ``"gdp"`` accountant is refused: it relies on a central-limit approximation that
*understates* epsilon (by up to several times in the small-data regime this library targets),
so a number reported from it would promise more privacy than was delivered.

:func:`independent_epsilon` recomputes epsilon with Google's ``dp-accounting`` package (PLD and
RDP accountants), written by a different team, as a cross-check that is stored in the ledger.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from .._util import atomic_write_json

ACCOUNTANTS = ("prv", "rdp")
LEDGER_FILE = "privacy_ledger.json"
LEDGER_VERSION = 1
#: Renyi orders used by Opacus' RDP accountant; the independent RDP cross-check uses the same.
RDP_ORDERS = tuple([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)))
_MAX_SIGMA = 1e4
#: PLD grid step; the pessimistic discretisation keeps the PLD value an upper bound (agrees with 1e-4 to ~0.1%).
_PLD_INTERVAL = 1e-3


class PrivacyConfigError(ValueError):
    """Privacy settings that would make the reported guarantee meaningless or wrong."""


def check_accountant(name: str) -> str:
    """Return the accountant name if it is supported; otherwise raise with the reason."""
    key = str(name).strip().lower()
    if key == "gdp":
        raise PrivacyConfigError(
            "accountant='gdp' is refused: Opacus' Gaussian-DP accountant uses a central-limit "
            "approximation that understates epsilon for few steps and small sampling rates (by up to "
            "several times in this regime), so the reported guarantee would be stronger than the real one; "
            "use 'prv' (tight numerical upper bound) or 'rdp' (looser upper bound)"
        )
    if key not in ACCOUNTANTS:
        raise PrivacyConfigError(f"unknown accountant {name!r}; choose one of {', '.join(ACCOUNTANTS)}")
    return key


def default_delta(n: int) -> float:
    """The delta used when none is given: ``min(1e-5, 1/(10 n))`` rounded down to one significant digit.

    delta must be well below ``1/n``; one tenth of ``1/n`` rounded down keeps it there, and 1e-5 is
    the customary ceiling for datasets of under 10,000 examples.
    """
    if n < 1:
        raise PrivacyConfigError(f"cannot train privately on {n} examples")
    x = 1.0 / (10.0 * n)
    exponent = math.floor(math.log10(x))
    lead = math.floor(x / 10.0**exponent + 1e-9)
    rounded = float(f"{lead}e{exponent}")
    return min(1e-5, rounded)


def check_delta(delta: float, n: int) -> float:
    """Return ``delta`` if ``0 < delta < 1/n``; otherwise raise and say why."""
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not math.isfinite(delta):
        raise PrivacyConfigError(f"delta must be a number, got {delta!r}")
    if not 0 < delta < 1:
        raise PrivacyConfigError(f"delta must lie strictly between 0 and 1/n, got {delta}")
    if delta >= 1.0 / n:
        raise PrivacyConfigError(
            f"delta={delta:g} is refused for a training set of {n} examples: delta must be below 1/n = {1.0 / n:.3g}. "
            "delta is the probability with which the guarantee may fail outright; with delta >= 1/n, a procedure "
            "that publishes one randomly chosen training example verbatim satisfies the definition. "
            f"Use e.g. delta={default_delta(n):g} (the default)"
        )
    return float(delta)


def _opacus_accountant(accountant: str, noise_multiplier: float, sample_rate: float, steps: int) -> Any:
    from opacus.accountants import create_accountant

    acc = create_accountant(mechanism=check_accountant(accountant))
    acc.history = [(float(noise_multiplier), float(sample_rate), int(steps))] if steps > 0 else []
    return acc


def compute_epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str = "prv") -> float:
    """Epsilon after ``steps`` Poisson-sampled Gaussian steps, from the named Opacus accountant."""
    return _epsilon(float(noise_multiplier), float(sample_rate), int(steps), float(delta), check_accountant(accountant))


@functools.lru_cache(maxsize=512)
def _epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str) -> float:
    import warnings

    if steps <= 0:
        return 0.0
    if noise_multiplier <= 0:
        return math.inf
    acc = _opacus_accountant(accountant, noise_multiplier, sample_rate, steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eps = float(acc.get_epsilon(delta=delta))
        if accountant == "prv" and eps < 2.0:
            # the PRV bound carries an absolute error margin (0.01 by default): keep it within 0.5% of a small epsilon
            eps = float(acc.get_epsilon(delta=delta, eps_error=max(1e-4, 0.005 * eps)))
        return eps


def calibrate_noise(target_epsilon: float, sample_rate: float, steps: int, delta: float, accountant: str = "prv",
                    rel_tolerance: float = 0.005) -> float:
    """Smallest noise multiplier (to ``rel_tolerance`` of epsilon) whose epsilon is at most ``target_epsilon``.

    Brackets sigma, then narrows the bracket by interpolating log(epsilon) against log(sigma)
    (a few accountant evaluations instead of a long bisection). The returned sigma always
    satisfies ``epsilon(sigma) <= target_epsilon``.
    """
    if not (isinstance(target_epsilon, (int, float)) and math.isfinite(target_epsilon) and target_epsilon > 0):
        raise PrivacyConfigError(f"target epsilon must be a positive number, got {target_epsilon!r}")
    if steps < 1:
        raise PrivacyConfigError("at least one training step is needed to calibrate the noise")

    def eps(s: float) -> float:
        return compute_epsilon(s, sample_rate, steps, delta, accountant)

    hi, e_hi = 1.0, eps(1.0)
    while e_hi > target_epsilon:
        hi *= 2.0
        if hi > _MAX_SIGMA:
            raise PrivacyConfigError(f"epsilon={target_epsilon} cannot be reached with delta={delta:g} in {steps} steps")
        e_hi = eps(hi)
    lo, e_lo = hi / 2.0, eps(hi / 2.0)
    while e_lo <= target_epsilon:
        if lo < 1e-3:
            return lo
        hi, e_hi = lo, e_lo
        lo, e_lo = lo / 2.0, eps(lo / 2.0)
    # invariant: eps(hi) <= target < eps(lo); interpolate in log-log space, with bisection as a safeguard
    for i in range(60):
        if target_epsilon - e_hi <= rel_tolerance * target_epsilon or hi - lo < 1e-7:
            break
        if math.isfinite(e_lo) and e_lo > 0 and e_hi > 0 and i % 3 != 2:
            t = (math.log(target_epsilon * (1 - rel_tolerance / 2)) - math.log(e_lo)) / (math.log(e_hi) - math.log(e_lo))
            mid = math.exp(math.log(lo) + min(0.95, max(0.05, t)) * (math.log(hi) - math.log(lo)))
        else:
            mid = (lo + hi) / 2.0
        e = eps(mid)
        if e <= target_epsilon:
            hi, e_hi = mid, e
        else:
            lo, e_lo = mid, e
    return hi


def independent_epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> dict[str, Any]:
    """Epsilon for the same mechanism from Google's ``dp-accounting`` (PLD and RDP accountants).

    Returns ``{"library": ..., "version": ..., "pld": eps, "rdp": eps}``; ``{"error": ...}`` when the
    package is missing. The PLD value is a tight reference the reported epsilon is checked against.
    """
    try:
        import dp_accounting
        from dp_accounting import pld, rdp
    except ImportError as exc:  # pragma: no cover - a declared dependency
        return {"library": "dp-accounting", "error": f"not available: {exc}"}
    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(float(sample_rate), dp_accounting.GaussianDpEvent(float(noise_multiplier))), int(steps)
    )
    out: dict[str, Any] = {"library": "dp-accounting", "version": _version("dp-accounting"),
                           "pld_value_discretization_interval": _PLD_INTERVAL, "rdp_orders": "same as Opacus"}
    absl_log = logging.getLogger("absl")
    level = absl_log.level
    absl_log.setLevel(logging.ERROR)  # RDP orders that do not converge are skipped; that is expected
    try:
        acc_pld = pld.PLDAccountant(value_discretization_interval=_PLD_INTERVAL)
        acc_pld.compose(event)
        out["pld"] = float(acc_pld.get_epsilon(delta))
        acc_rdp = rdp.RdpAccountant(list(RDP_ORDERS))
        acc_rdp.compose(event)
        out["rdp"] = float(acc_rdp.get_epsilon(delta))
    finally:
        absl_log.setLevel(level)
    return out


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def ledger_versions() -> dict[str, str]:
    """Versions of every library that can change the guarantee or its accounting."""
    import platform

    out = {"python": platform.python_version()}
    for dist, key in [("textaudit", "audit"), ("opacus", "opacus"), ("torch", "torch"), ("transformers", "transformers"),
                      ("peft", "peft"), ("dp-accounting", "dp-accounting"), ("numpy", "numpy")]:
        v = _version(dist)
        if v is not None:
            out[key] = v
    return out


def names_digest(names: list[str]) -> str:
    """sha256 over the sorted trainable-parameter names (one per line)."""
    return hashlib.sha256("\n".join(sorted(names)).encode("utf-8")).hexdigest()


@dataclass
class PrivacyLedger:
    """Everything needed to state, and re-derive, the guarantee of one private training run.

    The guarantee is ``(epsilon, delta)``-differential privacy for one training example (one text
    with its label) under add/remove adjacency, for the released model weights, assuming Poisson
    sampling with rate ``sample_rate`` for ``steps`` steps, per-example clipping to
    ``max_grad_norm`` and Gaussian noise of standard deviation ``noise_multiplier * max_grad_norm``.
    """

    epsilon: float
    delta: float
    accountant: str
    noise_multiplier: float
    sample_rate: float
    steps: int
    epochs: int
    max_grad_norm: float
    logical_batch_size: int
    max_physical_batch_size: int
    dataset_size: int
    dataset_sha256: str
    trainable_scope: dict[str, Any]
    trainable_parameters: int
    trainable_parameter_names: list[str]
    grad_sample_mode: str
    secure_rng: bool
    target_epsilon: float | None = None
    #: how per-example gradients were obtained: mode, requested mode, reason, shared parameters (clipping.ClippingPlan)
    per_example_gradients: dict[str, Any] = field(default_factory=dict)
    #: numeric precision of training: "fp32", or "bf16" (bfloat16 autocast; weights, per-example norms,
    #: clipping and noise in float32; see audit.training.precision)
    precision: str = "fp32"
    epsilon_per_epoch: list[float] = field(default_factory=list)
    sampling: str = "poisson"
    #: the clipping rule (audit.training.clip_rules): flat or automatic; under both, each example's clipped
    #: gradient has norm at most max_grad_norm
    clipping: str = "flat"
    unit: str = "example"
    adjacency: str = "add/remove one training example"
    world_size: int = 1
    seed: int = 0
    independent_check: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    model_sha256: str | None = None
    #: the settings of the run and the reason for each (recipe.Recipe.to_dict())
    recipe: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    ledger_version: int = LEDGER_VERSION

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["trainable_parameter_names_sha256"] = names_digest(self.trainable_parameter_names)
        return _finite(d)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PrivacyLedger:
        known = {f for f in cls.__dataclass_fields__}
        missing = [f for f in ("epsilon", "delta", "accountant", "noise_multiplier", "sample_rate", "steps") if f not in d]
        if missing:
            raise ValueError(f"not a privacy ledger: missing {', '.join(missing)}")
        kwargs = {k: v for k, v in d.items() if k in known}
        return cls(**kwargs)

    def save(self, path: str | Path) -> Path:
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> PrivacyLedger:
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: {exc}") from exc

    def recompute_epsilon(self) -> float:
        """Epsilon re-derived from the stored (q, sigma, steps, delta) with the stored accountant."""
        return compute_epsilon(self.noise_multiplier, self.sample_rate, self.steps, self.delta, self.accountant)


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())


def _finite(obj: Any) -> Any:
    """JSON-safe copy: string keys, lists for tuples, NumPy scalars as Python numbers, None for NaN/inf."""
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if type(obj).__module__ == "numpy" and getattr(obj, "ndim", None) == 0:
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
