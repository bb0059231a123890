"""The default recipe of private fine-tuning, derived from what the user has, never from the data.

:func:`recommend` turns the public facts of a training run — the number of training examples
``n`` (public by convention), the budget ``(epsilon, delta)``, the number of labels and the
trainable scope — into every setting of DP-SGD: logical batch, epochs, learning rate and its
schedule, clipping norm and rule, dropout, whether the weights are averaged and whether a linear
probe comes first. No setting looks at a text or a label, so choosing them spends no privacy.
Settings the caller fixes are kept and the others are derived around them; every setting carries
a reason in plain words (``Recipe.reasons``), which the training record and the privacy ledger
store.

**Batch and epochs.** Training sees ``steps`` noisy averaged gradients; each carries Gaussian noise
of standard deviation ``sigma * C / B`` around a signal of size about ``C``. Over ``steps`` steps
the signal adds up linearly and the noise as a random walk, so the noise that reaches the
weights, relative to the signal, is the *effective noise*

    eta = sigma / (B * sqrt(steps))

where ``sigma`` is the noise multiplier the accountant needs for the budget at sampling rate
``q = B / n`` over ``steps`` steps. For a fixed budget ``eta`` falls as the batch grows and as the
epochs grow, towards a floor set by ``n`` and the budget alone (the accountant is least
efficient at small ``sigma``). The rule:

1. Compute cap: at most :data:`COMPUTE_EXAMPLES` per-example gradients in all (so
   ``epochs <= COMPUTE_EXAMPLES / n``), between :data:`MIN_EPOCHS` and :data:`MAX_EPOCHS` epochs
   (and at most a caller's ``max_epochs``).
2. Candidates: epochs up to that cap, logical batches that are powers of two with
   ``q <= MAX_SAMPLE_RATE`` and at least :data:`MIN_STEPS` steps in all. ``sigma`` of each candidate
   comes from an RDP accountant (integer orders: an upper bound, fast, used only to rank; the run
   itself calibrates sigma with the accountant it reports).
3. Keep the candidates whose ``eta`` is within :data:`NOISE_TOLERANCE` of the least; take the one
   that needs the least compute, and among those the one with the most steps.

**Learning rate.** With Adam, once the noise dominates each coordinate's gradient, every step
moves each weight by about ``lr`` in a direction the noise sets, so the noise alone displaces a
weight by about ``lr * sqrt(steps)`` over the run; the signal's share of the step grows as
``eta`` falls. The recipe holds that displacement at :data:`NOISE_WALK` for the whole run:
``lr = NOISE_WALK / sqrt(steps)`` (LoRA adapters start from zero and take
:data:`LORA_LR_FACTOR` times that). With the ``"adam-bc"`` optimizer (:mod:`.optimizers`) a
coordinate the noise dominates moves ``1 / sqrt(floor_ratio)`` times further per step, so its
learning rate is ``sqrt(floor_ratio)`` times Adam's: the same noise walk.

**Linear probe.** The first :data:`LINEAR_PROBE_SHARE` of the epochs train the classifier head
alone, the rest the whole scope, each phase with its own learning rate by the rule above. Every
step is the same sampled Gaussian mechanism whichever parameters it updates, so the budget,
sigma and the accounting are those of one run; the encoder is then fine-tuned through a head
that already points at the labels.

**Clipping.** Norm :data:`CLIP_NORM`, small enough that nearly every gradient is clipped; rule
:data:`DEFAULT_CLIPPING` (:mod:`.clip_rules`). Neither changes the learning rate: Adam's steps do
not depend on the gradient's scale.

The constants were chosen from the measurements and literature listed in docs/privacy.md.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .clip_rules import AUTOMATIC_GAMMA, CLIP_RULES

__all__ = ["DEFAULT_CLIPPING", "DEFAULT_OPTIMIZER", "DEFAULT_SCOPE", "Recipe", "effective_noise", "recommend"]

#: Most per-example gradients one run computes (about 20 epochs of 10,000 examples).
COMPUTE_EXAMPLES = 200_000
MIN_EPOCHS = 3
MAX_EPOCHS = 30
#: Fewest optimizer steps: with fewer, private training of the backbone failed to converge.
MIN_STEPS = 100
#: Largest sampling rate (logical batch / n).
MAX_SAMPLE_RATE = 0.25
#: Candidates within this factor of the least effective noise count as equally good.
NOISE_TOLERANCE = 1.1
#: Random-walk displacement of each weight by the noise over the run, ``lr * sqrt(steps)``.
NOISE_WALK = 0.025
LORA_LR_FACTOR = 3.0
#: Clipping norm: per-example gradient norms of the backbone start near 2-3, so nearly every one is clipped.
CLIP_NORM = 0.1
WARMUP_RATIO = 0.1
#: Linear probe, then fine-tune: the head alone trains over this share of the epochs first.
LINEAR_PROBE_SHARE = 0.25
#: Whether the recipe starts with a linear probe when the caller does not say.
LINEAR_PROBE = True
DEFAULT_SCOPE = "all-but-word-embeddings"
DEFAULT_OPTIMIZER = "adam"
DEFAULT_CLIPPING = "flat"
#: The update rules of :data:`.optimizers.OPTIMIZERS` (named here so that the recipe needs no torch).
OPTIMIZER_NAMES = ("adam", "adam-bc")
#: ``"adam-bc"``: the floor of the noise-corrected second moment, as a share of the noise variance.
BC_FLOOR_RATIO = 0.01
_EPOCH_GRID = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30)


@dataclass
class Recipe:
    """Every setting of one private training run, with the reason for each (``reasons``)."""

    n: int
    epsilon: float | None
    delta: float
    num_labels: int
    epochs: int
    batch_size: int
    lr: float
    max_grad_norm: float
    trainable: str
    warmup_ratio: float
    schedule: str
    ema_decay: float | None
    dropout: float | None
    weight_decay: float
    optimizer: str
    sample_rate: float
    steps: int
    #: sigma from the ranking accountant (the run calibrates its own); None when a noise multiplier was given
    noise_multiplier_estimate: float | None
    effective_noise: float
    #: epochs at the start that train the classifier head alone (0: none), and their learning rate
    linear_probe_epochs: int = 0
    linear_probe_lr: float | None = None
    #: the clipping rule (a key of :data:`.clip_rules.CLIP_RULES`)
    clipping: str = DEFAULT_CLIPPING
    given: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    rule: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_given(self, settings: dict[str, Any]) -> Recipe:
        """A copy with the caller's ``settings`` (``fine_tune_private`` argument names) in place of the derived ones."""
        unknown = sorted(set(settings) - set(_OVERRIDABLE))
        if unknown:
            raise ValueError(f"not a recipe setting: {', '.join(unknown)}; known: {', '.join(_OVERRIDABLE)}")
        out = Recipe(**{**self.to_dict(), "given": list(self.given), "reasons": dict(self.reasons)})
        for key, value in settings.items():
            if key == "trainable":
                value = str(getattr(value, "name", value))
            if key == "ema_decay" and value == 0:
                value = None
            if getattr(out, key) == value:
                continue
            setattr(out, key, value)
            out.given.append(key)
            out.reasons[key] = (f"{value:g} (given)." if isinstance(value, float) else f"{value} (given)." if value is not None
                                else "the model's own (given)." if key == "dropout" else "none (given).")
        return out

    def training_arguments(self) -> dict[str, Any]:
        """The ``fine_tune_private`` keyword arguments this recipe sets."""
        return {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr, "max_grad_norm": self.max_grad_norm,
                "trainable": self.trainable, "warmup_ratio": self.warmup_ratio, "ema_decay": self.ema_decay,
                "dropout": self.dropout, "weight_decay": self.weight_decay, "optimizer": self.optimizer,
                "linear_probe": self.linear_probe_epochs > 0, "clipping": self.clipping}

    def describe(self) -> list[str]:
        """The recipe in plain words, one sentence per setting."""
        return [f"{_LABELS.get(k, k)}: {v}" for k, v in self.reasons.items()]


_OVERRIDABLE = ("lr", "max_grad_norm", "trainable", "warmup_ratio", "weight_decay", "ema_decay", "dropout")

_LABELS = {
    "batch_size": "Logical batch", "epochs": "Epochs", "lr": "Learning rate", "max_grad_norm": "Clipping norm",
    "trainable": "Trained parameters", "warmup_ratio": "Schedule", "ema_decay": "Weight averaging",
    "dropout": "Dropout", "weight_decay": "Weight decay", "num_labels": "Labels", "optimizer": "Optimizer",
    "linear_probe_epochs": "Linear probe", "clipping": "Clipping rule",
}


def effective_noise(sigma: float, batch_size: int, steps: int) -> float:
    """``sigma / (B * sqrt(steps))``: the noise reaching the weights relative to the clipped signal."""
    return float(sigma) / (batch_size * math.sqrt(steps))


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Steps per epoch as private training takes them: ``round(n / batch_size)``, at least one."""
    return max(1, round(n / batch_size))


_ORDERS = np.arange(2, 65, dtype=float)
_K = np.arange(0, 65, dtype=float)


def _rdp_epsilons(sigmas: np.ndarray, q: float, steps: int, delta: float) -> np.ndarray:
    """Epsilon of ``steps`` Poisson-sampled Gaussian steps for each sigma, by RDP at integer orders 2-64.

    The moments of the sub-sampled Gaussian at integer orders (Mironov, Talwar and Zhang 2019,
    Section 3.3), converted to (epsilon, delta) as Opacus does (Balle et al. 2020, Theorem 21),
    for a whole grid of sigmas at once. An upper bound used only to rank candidate settings.
    """
    from scipy.special import gammaln

    a, k = _ORDERS[:, None], _K[None, :]
    if q >= 1.0:
        rdp = steps * _ORDERS[None, :] / (2.0 * sigmas[:, None] ** 2)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            base = gammaln(a + 1) - gammaln(k + 1) - gammaln(np.maximum(a - k, 0) + 1) + k * math.log(q) + (a - k) * math.log1p(-q)
        base = np.where(k <= a, base, -np.inf)
        terms = base[None, :, :] + (k * k - k)[None, :, :] / (2.0 * sigmas[:, None, None] ** 2)
        top = terms.max(axis=2, keepdims=True)
        log_a = (top + np.log(np.exp(terms - top).sum(axis=2, keepdims=True)))[..., 0]
        rdp = steps * log_a / (_ORDERS[None, :] - 1)
    eps = rdp - (math.log(delta) + np.log(_ORDERS)) / (_ORDERS - 1) + np.log((_ORDERS - 1) / _ORDERS)
    return eps.min(axis=1)


@functools.lru_cache(maxsize=4096)
def rank_sigma(epsilon: float, delta: float, q: float, steps: int) -> float:
    """Noise multiplier reaching ``epsilon`` by the RDP bound of :func:`_rdp_epsilons` (to about 0.3%), for ranking."""
    lo, hi = 0.1, 1000.0
    for points in (48, 48):
        grid = np.geomspace(lo, hi, points)
        ok = np.nonzero(_rdp_epsilons(grid, q, steps, delta) <= epsilon)[0]
        if len(ok) == 0:
            return math.inf
        i = int(ok[0])
        if i == 0:
            return float(grid[0])
        lo, hi = float(grid[i - 1]), float(grid[i])
    return hi


def _batches(n: int) -> list[int]:
    top = max(1, int(n * MAX_SAMPLE_RATE))
    return [2**k for k in range(0, 31) if 2**k <= top]


def _epoch_cap(n: int, max_epochs: int | None) -> int:
    cap = min(MAX_EPOCHS, max(MIN_EPOCHS, COMPUTE_EXAMPLES // max(1, n)))
    return cap if max_epochs is None else max(1, min(cap, max_epochs))


@dataclass
class _Candidate:
    epochs: int
    batch_size: int
    steps: int
    sigma: float
    eta: float


def _candidates(n: int, epsilon: float | None, sigma: float | None, delta: float, epochs: int | None,
                batch_size: int | None, max_epochs: int | None) -> list[_Candidate]:
    cap = _epoch_cap(n, max_epochs)
    epoch_options = [epochs] if epochs is not None else sorted({e for e in _EPOCH_GRID if e <= cap} | {cap})
    batch_options = [batch_size] if batch_size is not None else _batches(n)
    out = []
    for e in epoch_options:
        for b in batch_options:
            t = steps_per_epoch(n, b) * e
            if t < MIN_STEPS and not (epochs is not None and batch_size is not None):
                continue
            s = rank_sigma(float(epsilon), delta, b / n, t) if sigma is None else sigma
            if math.isfinite(s):
                out.append(_Candidate(e, b, t, s, effective_noise(s, b, t)))
    if not out:  # too little data or compute for MIN_STEPS: the most steps the constraints allow
        e = epochs if epochs is not None else _epoch_cap(n, max_epochs)
        b = batch_size if batch_size is not None else batch_options[0]
        t = steps_per_epoch(n, b) * e
        s = rank_sigma(float(epsilon), delta, b / n, t) if sigma is None else sigma
        out.append(_Candidate(e, b, t, s, effective_noise(s, b, t)))
    return out


def _choose(cands: list[_Candidate]) -> _Candidate:
    best = min(c.eta for c in cands)
    good = [c for c in cands if c.eta <= best * NOISE_TOLERANCE]
    return min(good, key=lambda c: (c.epochs, -c.steps, c.eta))


def _scope_name(scope: Any) -> str:
    if scope is None:
        return DEFAULT_SCOPE
    return str(getattr(scope, "name", scope))


def recommend(n: int, epsilon: float | None = None, delta: float | None = None, num_labels: int = 2, scope: Any = None, *,
              noise_multiplier: float | None = None, epochs: int | None = None, batch_size: int | None = None,
              max_epochs: int | None = None, optimizer: str | None = None, linear_probe: bool | None = None,
              clipping: str | None = None) -> Recipe:
    """The private-training recipe for ``n`` examples at ``(epsilon, delta)``; see the module docstring.

    Give ``epsilon`` (the noise is then calibrated to it) or ``noise_multiplier`` (a fixed sigma).
    ``epochs`` and ``batch_size`` fix those settings (the others are derived around them);
    ``max_epochs`` caps the compute, e.g. to fit a time budget. ``scope`` is a trainable-scope name
    or object (default :data:`DEFAULT_SCOPE`); ``optimizer`` a key of
    :data:`.optimizers.OPTIMIZERS` (default :data:`DEFAULT_OPTIMIZER`; the learning rate follows
    it). ``linear_probe`` (default :data:`LINEAR_PROBE`) starts with the classifier head alone for
    :data:`LINEAR_PROBE_SHARE` of the epochs; ``lr`` is then the learning rate of the fine-tuning
    that follows and ``linear_probe_lr`` that of the probe. ``clipping`` names the clipping rule
    (:data:`.clip_rules.CLIP_RULES`, default :data:`DEFAULT_CLIPPING`). Only these numbers enter:
    never the data.
    """
    from .ledger import check_delta, default_delta

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive number of training examples, got {n!r}")
    if (epsilon is None) == (noise_multiplier is None):
        raise ValueError("give exactly one of epsilon and noise_multiplier")
    if epsilon is not None and not (isinstance(epsilon, (int, float)) and math.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be a positive number, got {epsilon!r}")
    if noise_multiplier is not None and not (isinstance(noise_multiplier, (int, float)) and noise_multiplier >= 0):
        raise ValueError(f"noise_multiplier must be a number >= 0, got {noise_multiplier!r}")
    if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1:
        raise ValueError(f"num_labels must be a positive integer, got {num_labels!r}")
    for name, v in (("epochs", epochs), ("batch_size", batch_size), ("max_epochs", max_epochs)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    if batch_size is not None and batch_size > n:
        raise ValueError(f"batch_size={batch_size} is larger than the training set ({n} examples)")
    if linear_probe is not None and not isinstance(linear_probe, bool):
        raise ValueError(f"linear_probe must be True, False or None (the recipe's), got {linear_probe!r}")
    if optimizer is not None and optimizer not in OPTIMIZER_NAMES:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZER_NAMES)}")
    if clipping is not None and clipping not in CLIP_RULES:
        raise ValueError(f"unknown clipping rule {clipping!r}; choose one of {', '.join(CLIP_RULES)}")
    delta = default_delta(n) if delta is None else check_delta(delta, n)
    scope_name = _scope_name(scope)
    opt_name = DEFAULT_OPTIMIZER if optimizer is None else optimizer

    sigma = None if noise_multiplier is None else float(noise_multiplier)
    chosen = _choose(_candidates(n, epsilon, sigma, delta, epochs, batch_size, max_epochs))
    lora = scope_name.startswith("lora")
    probe_epochs = _probe_epochs(LINEAR_PROBE if linear_probe is None else linear_probe, chosen.epochs, scope_name,
                                 explicit=linear_probe is True)
    steps_probe = probe_epochs * steps_per_epoch(n, chosen.batch_size)
    bc = math.sqrt(BC_FLOOR_RATIO) if opt_name == "adam-bc" else 1.0
    lr = NOISE_WALK / math.sqrt(chosen.steps - steps_probe) * (LORA_LR_FACTOR if lora else 1.0) * bc
    probe_lr = float(f"{NOISE_WALK / math.sqrt(steps_probe) * bc:.3g}") if steps_probe else None
    given = [k for k, v in (("epochs", epochs), ("batch_size", batch_size), ("optimizer", optimizer),
                            ("linear_probe_epochs", linear_probe), ("clipping", clipping)) if v is not None]
    recipe = Recipe(
        n=n, epsilon=None if epsilon is None else float(epsilon), delta=delta, num_labels=num_labels,
        epochs=chosen.epochs, batch_size=chosen.batch_size, lr=float(f"{lr:.3g}"), max_grad_norm=CLIP_NORM,
        trainable=scope_name, warmup_ratio=WARMUP_RATIO, schedule="linear warm-up, then linear decay to 0",
        ema_decay=None, dropout=0.0, weight_decay=0.0, optimizer=opt_name,
        sample_rate=chosen.batch_size / n, steps=chosen.steps,
        noise_multiplier_estimate=chosen.sigma if sigma is None else None, effective_noise=chosen.eta,
        linear_probe_epochs=probe_epochs, linear_probe_lr=probe_lr,
        clipping=DEFAULT_CLIPPING if clipping is None else clipping, given=given,
        rule=(f"least compute, then most steps, among batch/epoch choices within {NOISE_TOLERANCE:g}x of the least "
              f"effective noise sigma/(B*sqrt(steps)); at most {_epoch_cap(n, max_epochs)} epochs, "
              f"at least {MIN_STEPS} steps, q <= {MAX_SAMPLE_RATE:g}"),
    )
    recipe.reasons = _reasons(recipe, chosen, given, max_epochs, lora)
    return recipe


def probe_steps(r: Recipe) -> int:
    """Steps of the recipe's linear probe (0 without one)."""
    return r.linear_probe_epochs * steps_per_epoch(r.n, r.batch_size)


def _probe_reason(r: Recipe) -> str:
    if not r.linear_probe_epochs:
        return ("none" + (" (given)." if "linear_probe_epochs" in r.given else
                          ": the trainable scope is the classifier head already, or the run has a single epoch."))
    return (f"the first {r.linear_probe_epochs} of {r.epochs} epochs ({probe_steps(r)} steps) train the classifier head "
            "alone, then the whole scope is fine-tuned. Every step is the same sampled Gaussian mechanism whichever "
            "parameters it updates, so the probe costs no extra privacy; with the head trained first, the gradients "
            "that reach the encoder carry the task's signal instead of a random head's. Measured on AG News, it "
            "mostly prevents the runs that fail at small budgets (docs/privacy.md)"
            + (" (given)." if "linear_probe_epochs" in r.given else "."))


def _probe_epochs(on: bool, epochs: int, scope_name: str, explicit: bool) -> int:
    """Epochs of the linear probe: a share of the run, leaving at least one epoch of fine-tuning."""
    if not on:
        return 0
    if scope_name == "top-0" or epochs < 2:
        if explicit:
            raise ValueError("a linear probe needs a trainable scope beyond the classifier head (not top-0) and at least "
                             f"2 epochs; got scope {scope_name} and {epochs} epoch(s)")
        return 0
    return min(epochs - 1, max(1, round(epochs * LINEAR_PROBE_SHARE)))


def _reasons(r: Recipe, c: _Candidate, given: list[str], max_epochs: int | None, lora: bool) -> dict[str, str]:
    budget = f"epsilon {r.epsilon:g}" if r.epsilon is not None else "the given noise multiplier"
    cap = _epoch_cap(r.n, max_epochs)
    why_cap = (f"at most {cap} epochs ({'the caller' + chr(39) + 's compute limit' if max_epochs is not None and cap == max_epochs else f'{COMPUTE_EXAMPLES:,} per-example gradients in all, {MIN_EPOCHS} to {MAX_EPOCHS} epochs'})")
    if "batch_size" in given:
        batch = f"{r.batch_size} (given)."
    else:
        batch = (f"{r.batch_size} examples on average (sampling rate {r.sample_rate:.3g} of {r.n:,}): with {budget} "
                 f"and {r.steps} steps the noise on the averaged gradient is sigma/B = {c.sigma / r.batch_size:.3g} of the "
                 f"clipping norm, effective noise sigma/(B*sqrt(steps)) = {c.eta:.3g}; larger batches lower the noise per "
                 f"step but leave fewer steps, and this is the choice with the most steps among those within "
                 f"{NOISE_TOLERANCE:g}x of the least effective noise reachable with {why_cap}.")
    epochs = (f"{r.epochs} (given)." if "epochs" in given else
              f"{r.epochs} ({r.steps} steps): the fewest epochs whose effective noise is within {NOISE_TOLERANCE:g}x of "
              f"the least reachable with {why_cap}; private training needs many more passes than plain training.")
    if c.steps < MIN_STEPS:
        epochs += f" Fewer than {MIN_STEPS} steps: too little data or compute for the recipe's usual number of steps."
    return {
        "batch_size": batch,
        "epochs": epochs,
        "lr": (f"{r.lr:.3g}"
               + (f" for the fine-tuning ({r.steps - probe_steps(r)} steps), {r.linear_probe_lr:.3g} for the linear probe "
                  f"({probe_steps(r)} steps)" if r.linear_probe_epochs else "")
               + ": Adam moves each weight by about the learning rate per step once the noise dominates, so "
               "the noise displaces a weight by about lr*sqrt(steps) over a phase; the recipe holds that at "
               f"{NOISE_WALK:g}" + (f", times {LORA_LR_FACTOR:g} for LoRA adapters, which start from zero" if lora else "")
               + (f"; the noise-corrected Adam moves such a weight 1/sqrt({BC_FLOOR_RATIO:g}) times further per step, so "
                  f"its learning rate is sqrt({BC_FLOOR_RATIO:g}) times Adam's." if r.optimizer == "adam-bc" else ".")),
        "max_grad_norm": (f"{r.max_grad_norm:g}: small, so that nearly every per-example gradient is clipped (they start "
                          "at norms of 2-3 on the backbone) and each example pulls with the same strength; Adam's steps do "
                          "not depend on the gradient's scale, so a small norm costs no learning rate."),
        "trainable": (f"{r.trainable}: " + ("everything except the word-embedding matrix: each example touches only a "
                                             "few of its rows while the noise reaches all of them."
                                             if r.trainable == DEFAULT_SCOPE else "as chosen by the caller.")),
        "warmup_ratio": (f"linear warm-up over the first {r.warmup_ratio:.0%} of the steps, then linear decay to 0: Adam's "
                         "first steps rest on a poor estimate of the gradient's variance, and the decay lets the last "
                         "steps average out the noise."),
        "ema_decay": (f"the saved weights are an exponential moving average of the weights (decay {r.ema_decay:g}), "
                      "computed from the private weights only, so it costs no privacy." if r.ema_decay is not None else
                      "none: the last weights are saved. The learning rate decays to 0, which already averages the noise "
                      "of the last steps; in measured runs a moving average over the last 5-25% of the steps scored "
                      "0 to 1 point below the last weights (docs/privacy.md)."),
        "dropout": "0: dropout adds per-example gradient noise that clipping then amplifies.",
        "weight_decay": "0: the noise already keeps the weights near the pre-trained ones.",
        "optimizer": (f"{r.optimizer} (given): Adam whose second moment has the noise variance (sigma*C/B)^2 removed, "
                      f"floored at {BC_FLOOR_RATIO:g} of it (DP-AdamBC)." if r.optimizer == "adam-bc" else
                      "Adam with its usual moment settings and bias correction. Removing the noise variance from its "
                      "second moment (DP-AdamBC, optimizer adam-bc) was measured and not kept: with the learning rate "
                      "that holds the same noise walk it scored 17 points lower at epsilon 1 and 0.6 lower at epsilon 8 "
                      "(AG News, 1,000 examples), and at Adam's learning rate it diverged (docs/privacy.md)."),
        "num_labels": f"{r.num_labels}: no setting depends on it; clipping bounds each example's influence whatever the labels.",
        "linear_probe_epochs": _probe_reason(r),
        "clipping": _clipping_reason(r),
    }


def _clipping_reason(r: Recipe) -> str:
    given = " (given)" if "clipping" in r.given else ""
    if r.clipping == "automatic":
        return (f"automatic{given}: every per-example gradient is scaled by "
                f"C/(norm + {AUTOMATIC_GAMMA:g}), to a length just under C, so well-fitted examples pull nearly as hard as "
                "the others.")
    return (f"flat{given}: each per-example gradient is scaled by min(1, C/norm), "
            "so gradients longer than C are cut to C and shorter ones are kept. Normalising every gradient to just "
            "under C (automatic clipping, clipping='automatic') was measured and not kept: +0.1 point at epsilon 8, "
            "and at epsilon 1, where every gradient is above C anyway and the two rules nearly coincide, "
            "differences within the seed spread (AG News, 1,000 examples; docs/privacy.md).")
