"""Differentially private fine-tuning (DP-SGD with Opacus) with a privacy ledger.

One call, :func:`fine_tune_private`, trains ``bundle.model`` in place so that the released
weights are ``(epsilon, delta)``-differentially private with respect to any one training
example. The recipe is the one the accounting assumes:

1. **Poisson sampling.** Each logical step includes every example independently with
   probability ``q = batch_size / n``; batch sizes vary. An epoch is ``round(n / batch_size)``
   steps.
2. **Per-example clipping** of the gradient to L2 norm ``max_grad_norm`` (C) over all trainable
   parameters (``grad_sample_mode="hooks"`` materialises per-example gradients;
   ``"ghost"`` computes their norms from activations and backprops and clips with a second
   backward pass, which needs much less memory; ``"bookkeeping"`` forms norms and clipped sum from
   one backward pass, see :mod:`.bookkeeping`; ``"per-example"`` runs each example alone;
   ``"auto"`` chooses from how the model uses its parameters, see :mod:`.clipping`).
3. **Gaussian noise** of standard deviation ``sigma * C`` added to the sum of clipped gradients,
   which is then divided by the expected batch size ``q * n``: the noise on the averaged
   gradient has standard deviation ``sigma * C / batch_size``.
4. **Accounting** of ``steps`` such mechanisms with the PRV accountant (or RDP); epsilon is
   reported as an upper bound and cross-checked with Google's ``dp-accounting``.

Logical batches larger than memory are split into physical batches of at most
``max_physical_batch_size`` by Opacus' ``BatchMemoryManager``; each physical batch is padded
only to its longest text, and the training set is ordered by length so that the examples of a
physical batch have similar lengths (the order does not change which examples are sampled).

Hugging Face models are made trainable under Opacus by :mod:`.dp_compat` (generic, no
per-architecture code), and the set of trained parameters is a :mod:`.scopes` choice.

Settings not given are derived by :func:`.recipe.recommend` from the training-set size, the budget,
the number of labels and the trainable scope (never from the data); the training record and the
ledger store every setting with its reason. docs/privacy.md has the evidence.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from .._util import atomic_directory, atomic_write_json, progress, set_seed
from ..models import ModelBundle, adopt_label_names, adopt_problem_type, check_compatible
from .batching import choose_physical_batch, probe_step
from .bookkeeping import BookkeepingClipping
from .clip_rules import ClipRule, resolve_clip_rule
from .clipping import (
    GRAD_SAMPLE_MODES,
    ClippingPlan,
    OptimizerClippingMeter,
    ParameterUse,
    PerExampleClipping,
    RuleClipping,
    ghost_hooks,
    plan_clipping,
    probe_parameter_use,
)
from .dp_compat import (
    CompatReport,
    DPCompatError,
    EmbeddingInputAligner,
    check_per_example_coverage,
    prepare_model,
)
from .finetune import TrainingRecord, _collate, _encode
from .ledger import (
    LEDGER_FILE,
    PrivacyConfigError,
    PrivacyLedger,
    _finite,
    calibrate_noise,
    check_accountant,
    check_delta,
    compute_epsilon,
    default_delta,
    independent_epsilon,
    ledger_versions,
    now_iso,
)
from .precision import Float32Capture, PrecisionChoice, autocasting, for_private_training, resolve_precision
from .recipe import DEFAULT_SCOPE, Recipe, recommend
from .scopes import TrainableScope, resolve_scope, trainable_names

__all__ = ["DEFAULTS", "DPStepInfo", "PrivateTrainingRecord", "fine_tune_private", "load_ledger"]

#: Defaults of the settings the recipe does not derive (docs/privacy.md). Epochs, logical batch,
#: learning rate, clipping norm, warm-up, weight decay and weight averaging come from
#: :func:`.recipe.recommend` unless given; ``trainable`` is the recipe's default scope.
DEFAULTS: dict[str, Any] = {
    "max_physical_batch_size": 32,
    "trainable": DEFAULT_SCOPE,
    "grad_sample_mode": "auto",
    "accountant": "prv",
    "max_length": 128,
    "dropout": 0.0,
}

_PROBE_TEXTS = ["A short public sentence.", "Another public sentence, a little longer than the first one."]


@dataclass
class PrivateTrainingRecord(TrainingRecord):
    """A :class:`TrainingRecord` of a private run, plus its privacy ledger (``ledger``, a dict).

    ``to_dict()`` is the ``training`` section of results.json; ``ledger`` is the
    ``privacy_ledger`` section.
    """

    ledger: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(TrainingRecord)}
        out["private"] = True
        return _finite(out)


@dataclass
class DPStepInfo:
    """What one logical DP step did, for inspection (``step_callback``); not part of any result.

    Read while the step is in progress: each parameter's ``p.summed_grad`` holds the sum of the
    clipped per-example gradients of this process, ``p.grad`` the noised sum divided by the
    expected batch size (before the optimizer update). ``per_example_norms`` are the gradient norms
    before clipping, ``clipped_norms`` the norms of the gradients as the step added them up (each
    measured from the clipping factor that was applied), over every example of the logical batch on
    this process, in the same order. ``batch_size`` is the number of examples the sampler drew.
    """

    step: int
    epoch: int
    batch_size: int
    expected_batch_size: float
    noise_multiplier: float
    max_grad_norm: float
    per_example_norms: np.ndarray
    clipped_norms: np.ndarray
    parameters: list[tuple[str, Any]]


def _training_labels(train: Any) -> list[Any]:
    from .losses import training_labels

    return training_labels(train)


class _TokenDataset:
    """Token ids and labels, ordered by length (so Poisson-sampled indices come out length-sorted)."""

    def __init__(self, ids: list[list[int]], labels: list[Any]) -> None:
        order = sorted(range(len(ids)), key=lambda i: (len(ids[i]), i))
        self.ids = [ids[i] for i in order]
        self.labels = [labels[i] for i in order]  # class ids, or multi-label 0/1 rows

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, j: int) -> tuple[list[int], Any]:
        return self.ids[j], self.labels[j]


@dataclass
class _RunSettings:
    """The settings every phase of one private run shares (same noise, sampling rate and clipping norm)."""

    n: int
    sigma: float
    max_grad_norm: float
    weight_decay: float
    warmup_ratio: float
    batch_size: int
    sample_rate: float
    steps_per_epoch: int
    delta: float
    accountant: str
    seed: int
    device: str
    secure_gen: Any
    optimizer: str
    clipping: str
    grad_sample_mode: str
    precision: str
    dropout: float | None
    max_length: int
    max_physical_batch_size: int | None
    show_progress: bool
    ctx: Any


@dataclass
class _Phase:
    """A stretch of epochs that trains one scope at one learning rate (a linear probe, then the fine-tuning)."""

    name: str
    scope: TrainableScope
    epochs: int
    lr: float
    index: int
    final: bool


def _phases(recipe: Recipe, scope: TrainableScope) -> list[_Phase]:
    """The recipe's phases: the classifier head alone for ``linear_probe_epochs``, then ``scope``."""
    probe = recipe.linear_probe_epochs
    if not probe:
        return [_Phase("fine-tune", scope, recipe.epochs, recipe.lr, 0, True)]
    return [_Phase("linear probe", resolve_scope("top-0"), probe, float(recipe.linear_probe_lr), 0, False),
            _Phase("fine-tune", scope, recipe.epochs - probe, recipe.lr, 1, True)]


def _train_phase(bundle: ModelBundle, *, train_data: _TokenDataset, eval: Any, record: PrivateTrainingRecord,
                 run: _RunSettings, phase: _Phase, acct: Any, first_epoch: int,
                 step_callback: Callable[[DPStepInfo], None] | None, ema_decay: float | None) -> dict[str, Any]:
    """Train one phase on ``bundle.model`` in place; the accountant carries over from the phase before.

    Each phase builds its own hooks, optimizer and schedule for its scope; the Poisson sampler and the
    noise draw fresh random numbers in each phase, so every step of the run is an independent
    sampled Gaussian mechanism with the run's sigma, rate and clipping norm.
    """
    ctx = run.ctx
    steps = run.steps_per_epoch * phase.epochs
    seed = run.seed + phase.index * 1_000_033  # phase 0 draws exactly what a single-phase run draws
    with private_model(bundle, phase.scope, dropout=run.dropout) as (model, names, params, report):
        plan = plan_clipping(run.grad_sample_mode, ParameterUse(**report.parameter_use), model)
        amp = for_private_training(resolve_precision(run.precision, run.device), plan.mode)
        forward, hooks, opt, criterion, sched, loader, new_acct = _make_private(
            model, params, ctx, n=run.n, sigma=run.sigma, max_grad_norm=run.max_grad_norm, lr=phase.lr,
            weight_decay=run.weight_decay, warmup_ratio=run.warmup_ratio, batch_size=run.batch_size,
            sample_rate=run.sample_rate, steps_per_epoch=run.steps_per_epoch, total_steps=steps,
            grad_sample_mode=plan.mode, accountant=run.accountant, seed=seed, device=run.device,
            secure_gen=run.secure_gen, plan=plan, optimizer=run.optimizer, clipping=run.clipping, dataset=train_data,
            collate=lambda items: None if not items else _collate(bundle, [x for x, _ in items], [y for _, y in items]),
            amp=amp,
        )
        acct = new_acct if acct is None else acct
        n_trainable = int(sum(p.numel() for p in params))
        try:
            physical = choose_physical_batch(run.max_physical_batch_size, device=run.device, batch_size=run.batch_size,
                                             n=run.n, default=DEFAULTS["max_physical_batch_size"],
                                             distributed=ctx.distributed,
                                             step=lambda b: probe_step(model, forward, criterion, opt, loader, b))
            details = {"compat": report.to_dict(), "grad_sample_mode": plan.mode, "per_example_gradients": plan.to_dict(),
                       "precision": amp.precision, "precision_detail": amp.to_dict(),
                       "max_physical_batch_size": physical.size, "physical_batch": physical.to_dict()}
            if phase.final:
                record.config.update(details)
            else:
                record.config["linear_probe"] = {
                    "epochs": phase.epochs, "steps": steps, "lr": phase.lr, "trainable": phase.scope.config(),
                    "trainable_parameters": n_trainable, "trainable_parameter_names": names,
                    **{k: details[k] for k in ("grad_sample_mode", "precision", "max_physical_batch_size")}}
            with warnings.catch_warnings():
                # Opacus' backward hooks fire on module outputs when no input needs a gradient (frozen embeddings)
                warnings.filterwarnings("ignore", message="Full backward hook is firing")
                average = WeightAverage(params, ema_decay) if ema_decay else None
                eps_per_epoch = _train_loop(
                    bundle, model, forward, hooks, opt, criterion, sched, loader, acct, params,
                    named=list(zip(names, params)), ctx=ctx, record=record, eval=eval, epochs=phase.epochs,
                    total_steps=steps, delta=run.delta, sigma=run.sigma, sample_rate=run.sample_rate,
                    batch_size=run.batch_size, max_grad_norm=run.max_grad_norm, max_physical_batch_size=physical.size,
                    grad_sample_mode=plan.mode, max_length=run.max_length, show_progress=run.show_progress,
                    step_callback=step_callback, average=average, first_epoch=first_epoch,
                    first_step=run.steps_per_epoch * first_epoch,
                    desc=f"private {phase.name}",
                )
                if average is not None:
                    average.apply()
                    _evaluate_averaged(bundle, model, record, eval, ctx, run.max_length)
        finally:
            hooks.cleanup()
    return {"acct": acct, "eps_per_epoch": eps_per_epoch, "names": names, "plan": plan, "amp": amp,
            "trainable_parameters": n_trainable, "max_physical_batch_size": physical.size}


def _check_counts(n: int, **counts: int | None) -> None:
    """Each count that is set is an integer >= 1, and a set batch_size fits in the training set."""
    for name, v in counts.items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    batch_size = counts.get("batch_size")
    if batch_size is not None and batch_size > n:
        raise ValueError(f"batch_size={batch_size} is larger than the training set ({n} examples)")


def _check_args(n: int, epochs: int, batch_size: int, max_physical_batch_size: int, max_grad_norm: float, lr: float,
                grad_sample_mode: str, dropout: float | None) -> None:
    """The settings of a run after the recipe filled them in (the budget is checked before, by :func:`_check_budget`)."""
    # None for the physical batch: chosen from the device's memory
    _check_counts(n, epochs=epochs, batch_size=batch_size, max_physical_batch_size=max_physical_batch_size)
    if not (isinstance(max_grad_norm, (int, float)) and math.isfinite(max_grad_norm) and max_grad_norm > 0):
        raise ValueError(f"max_grad_norm must be a positive number, got {max_grad_norm!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr >= 0):
        raise ValueError(f"lr must be a number >= 0, got {lr!r}")
    if grad_sample_mode not in GRAD_SAMPLE_MODES:
        raise ValueError(f"grad_sample_mode must be one of {', '.join(GRAD_SAMPLE_MODES)}, got {grad_sample_mode!r}")
    if dropout is not None and not (isinstance(dropout, (int, float)) and 0 <= dropout < 1):
        raise ValueError(f"dropout must be None (keep the model's) or a probability in [0, 1), got {dropout!r}")


def _check_budget(target_epsilon: Any, noise_multiplier: Any) -> None:
    if (target_epsilon is None) == (noise_multiplier is None):
        raise PrivacyConfigError(
            "give exactly one of target_epsilon (the privacy budget; the noise is calibrated to reach it) "
            "or noise_multiplier (the noise; epsilon is computed from it)"
            + ("" if target_epsilon is None else f"; got both target_epsilon={target_epsilon} and noise_multiplier={noise_multiplier}")
        )
    if target_epsilon is not None and (isinstance(target_epsilon, bool) or not isinstance(target_epsilon, (int, float))
                                       or not math.isfinite(target_epsilon) or target_epsilon <= 0):
        raise PrivacyConfigError(f"target epsilon must be a positive number, got {target_epsilon!r}")
    if noise_multiplier is not None and (isinstance(noise_multiplier, bool) or not isinstance(noise_multiplier, (int, float))
                                         or not math.isfinite(noise_multiplier) or noise_multiplier < 0):
        raise PrivacyConfigError(f"noise_multiplier must be a number >= 0, got {noise_multiplier!r}")


def _resolve_recipe(n: int, target_epsilon: float | None, noise_multiplier: float | None, delta: float, num_labels: int,
                    scope: TrainableScope, *, epochs: int | None, batch_size: int | None, max_epochs: int | None,
                    optimizer: str | None = None, linear_probe: bool | None = None, clipping: str | None = None,
                    **given: Any) -> Recipe:
    """The recipe for this run, with the caller's settings in place of the derived ones."""
    _check_counts(n, epochs=epochs, batch_size=batch_size, max_epochs=max_epochs)
    if given.get("ema_decay") is not None and not (isinstance(given["ema_decay"], (int, float)) and 0 <= given["ema_decay"] < 1):
        raise ValueError(f"ema_decay must be None (the recipe's), 0 (no averaging) or in (0, 1), got {given['ema_decay']!r}")
    recipe = recommend(n, target_epsilon, delta, num_labels, scope, noise_multiplier=noise_multiplier, epochs=epochs,
                       batch_size=batch_size, max_epochs=max_epochs, optimizer=optimizer, linear_probe=linear_probe,
                       clipping=clipping)
    return recipe.with_given({k: v for k, v in given.items() if v is not None or k == "dropout"})


class WeightAverage:
    """Exponential moving average of the trainable parameters, updated after every optimizer step.

    ``decay`` weighs the past; the first steps use ``min(decay, (1 + t) / (10 + t))`` so that the
    average does not stay anchored at the starting weights. Only the private iterates enter, so the
    average is post-processing and costs no privacy.
    """

    def __init__(self, params: list[Any], decay: float) -> None:
        self.params = params
        self.decay = float(decay)
        self.shadow = [p.detach().clone() for p in params]
        self.updates = 0

    def update(self) -> None:
        import torch

        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        with torch.no_grad():
            torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1.0 - d)

    def apply(self) -> None:
        """Copy the average into the parameters."""
        import torch

        with torch.no_grad():
            for p, s in zip(self.params, self.shadow):
                p.copy_(s)


def _evaluate_averaged(bundle: ModelBundle, model: Any, record: PrivateTrainingRecord, eval: Any, ctx: Any, max_length: int) -> None:
    """Add the held-out metrics of the averaged (saved) weights to the last epoch's entry."""
    if eval is None or not ctx.is_main or not record.epochs:
        return
    from ..metrics import dataset_metrics

    model.eval()
    probs = bundle.predict_proba(eval.texts, max_length=max_length)
    record.epochs[-1]["eval_averaged"] = _finite(dataset_metrics(eval, probs, bundle.label_names).summary())
    model.train()


def _secure_generator(secure_mode: bool) -> Any:
    if not secure_mode:
        return None
    try:
        import torchcsprng as csprng
    except ImportError as exc:
        raise PrivacyConfigError(
            "secure_mode=True needs the 'torchcsprng' package (a cryptographically secure random number generator "
            "for the noise and the sampling), which is not installed; install it, or train with secure_mode=False "
            "(the ledger then records secure_rng: false)"
        ) from exc
    return csprng.create_random_device_generator("/dev/urandom")


def _empty_batch_grads(params: list[Any], grad_sample_mode: str) -> None:
    """Make an empty physical batch (possible under Poisson sampling) contribute a zero gradient."""
    import torch

    for p in params:
        if grad_sample_mode == "hooks":
            p.grad_sample = torch.zeros((0, *p.shape), dtype=p.dtype, device=p.device)
        else:
            p.grad = torch.zeros_like(p)


def _measured_norms(params: list[Any], hooks: Any, grad_sample_mode: str, batch: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-example gradient norms of the physical batch just backpropagated: before clipping, and as clipped.

    Ghost, book-keeping and per-example clipping happen in the backward pass: the clipped norms come from the
    factors applied there. Hooks mode clips in the optimizer step, where
    :class:`.clipping.OptimizerClippingMeter` measures them, so ``None`` is returned for them here.
    """
    import torch

    if batch == 0:
        return np.zeros(0), np.zeros(0)
    if grad_sample_mode == "hooks":
        norms = [p.grad_sample.reshape(batch, -1).double().norm(2, dim=1) for p in params]
        return torch.stack(norms, dim=1).norm(2, dim=1).cpu().numpy(), None
    before = hooks.per_sample_gradient_norms.detach().double().cpu()
    if grad_sample_mode in ("ghost", "bookkeeping"):
        after = hooks.applied_clip_factors.detach().double().cpu().abs() * before
    else:
        after = hooks.per_sample_clipped_norms.detach().double().cpu()
    return before.numpy(), after.numpy()


def fine_tune_private(
    bundle: ModelBundle,
    train: Any,
    eval: Any = None,
    *,
    target_epsilon: float | None = None,
    noise_multiplier: float | None = None,
    delta: float | None = None,
    max_grad_norm: float | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    max_physical_batch_size: int | None = None,
    accountant: str = DEFAULTS["accountant"],
    trainable: str | TrainableScope | None = None,
    grad_sample_mode: str = DEFAULTS["grad_sample_mode"],
    lr: float | None = None,
    max_length: int = DEFAULTS["max_length"],
    weight_decay: float | None = None,
    warmup_ratio: float | None = None,
    dropout: float | None = DEFAULTS["dropout"],
    ema_decay: float | None = None,
    max_epochs: int | None = None,
    optimizer: str | None = None,
    linear_probe: bool | None = None,
    clipping: str | None = None,
    seed: int = 0,
    secure_mode: bool = False,
    cross_check: bool = True,
    out_dir: str | Path | None = None,
    show_progress: bool = True,
    step_callback: Callable[[DPStepInfo], None] | None = None,
    precision: str = "auto",
) -> PrivateTrainingRecord:
    """Fine-tune ``bundle.model`` in place with DP-SGD; return the record with its privacy ledger.

    Give exactly one of ``target_epsilon`` (the noise multiplier is calibrated so that epsilon
    after ``epochs`` epochs is at most this) or ``noise_multiplier``. ``delta`` defaults to
    :func:`~audit.training.ledger.default_delta` (``min(1e-5, 1/(10 n))``, one significant digit)
    and must be below ``1/n``. ``batch_size`` is the *expected logical* batch size
    (``q = batch_size / n``); ``max_physical_batch_size`` bounds memory (None: chosen from the free
    memory of a CUDA device by :mod:`.batching`, ``DEFAULTS["max_physical_batch_size"]`` on a CPU; it
    never changes the sampling or the accounting). ``precision`` is ``"auto"``, ``"bf16"`` or
    ``"fp32"`` (:mod:`.precision`: bfloat16 autocast with float32 weights, per-example norms,
    clipping and noise). ``trainable`` is a scope
    name or :class:`~audit.training.scopes.TrainableScope`. Under ``torchrun`` (an initialised
    process group) the processes train one model together with the same accounting.

    With ``out_dir`` the model, tokenizer, ``training.json`` and ``privacy_ledger.json`` are
    written there in one atomic directory replacement (by rank 0).

    Settings left at ``None`` (``epochs``, ``batch_size``, ``lr``, ``max_grad_norm``, ``trainable``,
    ``warmup_ratio``, ``weight_decay``, ``ema_decay``) come from :func:`.recipe.recommend`, which
    sees only ``n``, the budget, the number of labels and the scope; given ones are kept (the recipe
    derives the batch for given epochs and the other way round). ``max_epochs`` caps the recipe's
    epochs (a compute limit). ``optimizer`` names the update rule (:data:`.optimizers.OPTIMIZERS`:
    ``"adam"``, the recipe's, or ``"adam-bc"``, Adam with the noise variance taken out of its second
    moment); the recipe's learning rate follows it. ``linear_probe`` (default: the recipe's, on)
    trains the classifier head alone for the first quarter of the epochs, then the whole scope, at
    the same noise and sampling rate (one accounting over all steps). ``clipping`` names the rule that
    scales each example's gradient (:data:`.clip_rules.CLIP_RULES`: ``"flat"``, the recipe's, or
    ``"automatic"``, every gradient normalised to just under C). ``ema_decay`` > 0 saves an
    exponential moving average of the weights (post-processing of the private iterates, free in
    privacy); 0 saves the last iterate. The
    recipe with every reason is stored in the record (``config["recipe"]``) and the ledger.
    """
    from . import ddp

    if len(train) == 0:
        raise ValueError("the training set is empty")
    n = len(train)
    _check_budget(target_epsilon, noise_multiplier)
    accountant = check_accountant(accountant)
    delta = default_delta(n) if delta is None else check_delta(delta, n)
    scope = resolve_scope(DEFAULT_SCOPE if trainable is None else trainable)
    recipe = _resolve_recipe(n, target_epsilon, noise_multiplier, delta, train.num_labels, scope, epochs=epochs,
                             batch_size=batch_size, max_epochs=max_epochs, optimizer=optimizer,
                             linear_probe=linear_probe, clipping=clipping, lr=lr, max_grad_norm=max_grad_norm,
                             warmup_ratio=warmup_ratio, weight_decay=weight_decay, ema_decay=ema_decay, dropout=dropout)
    epochs, batch_size, lr, max_grad_norm = recipe.epochs, recipe.batch_size, recipe.lr, recipe.max_grad_norm
    warmup_ratio, weight_decay, ema_decay = recipe.warmup_ratio, recipe.weight_decay, recipe.ema_decay
    _check_args(n, epochs, batch_size, max_physical_batch_size, max_grad_norm, lr, grad_sample_mode, dropout)
    secure_gen = _secure_generator(secure_mode)
    adopt_label_names(bundle, train.label_names)
    adopt_problem_type(bundle, train.multi_label)
    check_compatible(bundle, train)
    if eval is not None:
        check_compatible(bundle, eval)
    ctx = ddp.current()

    sample_rate = batch_size / n
    steps_per_epoch = max(1, round(n / batch_size))
    total_steps = steps_per_epoch * epochs
    if noise_multiplier is None:
        sigma = calibrate_noise(float(target_epsilon), sample_rate, total_steps, delta, accountant)
    else:
        sigma = float(noise_multiplier)
        if sigma == 0:
            warnings.warn("noise_multiplier=0: no noise is added, the training is not differentially private (epsilon is infinite)",
                          stacklevel=2)

    set_seed(seed)
    device = bundle.device
    config = {
        "private": True, "epochs": epochs, "lr": lr, "batch_size": batch_size, "max_physical_batch_size": max_physical_batch_size,
        "max_length": max_length, "weight_decay": weight_decay, "warmup_ratio": warmup_ratio, "optimizer": recipe.optimizer,
        "clipping": resolve_clip_rule(recipe.clipping).to_dict(),
        "schedule": "linear", "target_epsilon": target_epsilon, "noise_multiplier": sigma, "delta": delta,
        "max_grad_norm": max_grad_norm, "accountant": accountant, "grad_sample_mode": grad_sample_mode,
        "trainable": scope.config(), "sampling": "poisson", "sample_rate": sample_rate, "steps": total_steps,
        "secure_mode": bool(secure_mode), "world_size": ctx.world_size, "dropout": dropout, "ema_decay": ema_decay,
        "linear_probe_epochs": recipe.linear_probe_epochs, "recipe": recipe.to_dict(),
        "problem_type": bundle.model.config.problem_type or "single_label_classification",
        "loss": "binary_cross_entropy_summed_over_labels" if train.multi_label else "cross_entropy",
    }
    record = PrivateTrainingRecord(config=config, seed=seed, data_sha256=train.sha256, n_train=n,
                                   n_eval=len(eval) if eval is not None else 0, device=device)

    dataset = _TokenDataset(_encode(bundle, train.texts, max_length), _training_labels(train))
    run = _RunSettings(n=n, sigma=sigma, max_grad_norm=max_grad_norm, weight_decay=weight_decay, warmup_ratio=warmup_ratio,
                       batch_size=batch_size, sample_rate=sample_rate, steps_per_epoch=steps_per_epoch, delta=delta,
                       accountant=accountant, seed=seed, device=device, secure_gen=secure_gen, optimizer=recipe.optimizer,
                       clipping=recipe.clipping, grad_sample_mode=grad_sample_mode, precision=precision,
                       dropout=dropout, max_length=max_length, max_physical_batch_size=max_physical_batch_size,
                       show_progress=show_progress, ctx=ctx)
    start = time.perf_counter()
    acct, eps_per_epoch, done = None, [], 0
    for phase in _phases(recipe, scope):
        out = _train_phase(bundle, train_data=dataset, eval=eval, record=record, run=run, phase=phase, acct=acct,
                           first_epoch=done, step_callback=step_callback,
                           ema_decay=ema_decay if phase.final else None)
        acct, done = out["acct"], done + phase.epochs
        eps_per_epoch += out["eps_per_epoch"]
    names, params_count, plan, amp, max_physical_batch_size = (out["names"], out["trainable_parameters"], out["plan"],
                                                               out["amp"], out["max_physical_batch_size"])
    steps_done = int(sum(h[2] for h in acct.history))
    record.wall_time_s = time.perf_counter() - start
    bundle.head_initialized = False
    bundle.invalidate_identity()

    epsilon = compute_epsilon(sigma, sample_rate, steps_done, delta, accountant)
    ledger = PrivacyLedger(
        epsilon=epsilon, delta=delta, accountant=accountant, noise_multiplier=sigma, sample_rate=sample_rate,
        steps=steps_done, epochs=epochs, max_grad_norm=float(max_grad_norm), logical_batch_size=batch_size,
        max_physical_batch_size=max_physical_batch_size, dataset_size=n, dataset_sha256=train.sha256,
        trainable_scope=scope.config(), trainable_parameters=params_count,
        trainable_parameter_names=names, grad_sample_mode=plan.mode, per_example_gradients=plan.to_dict(),
        secure_rng=bool(secure_mode), precision=amp.precision, clipping=recipe.clipping,
        target_epsilon=float(target_epsilon) if target_epsilon is not None else None, epsilon_per_epoch=eps_per_epoch,
        world_size=ctx.world_size, seed=seed, versions=ledger_versions(), created=now_iso(), recipe=recipe.to_dict(),
    )
    if cross_check and sigma > 0 and steps_done > 0:
        ledger.independent_check = independent_epsilon(sigma, sample_rate, steps_done, delta)
    ledger.model_sha256 = bundle.sha256
    record.ledger = ledger.to_dict()
    if out_dir is not None and ctx.is_main:
        save_private_checkpoint(bundle, out_dir, record)
    return record


@contextmanager
def private_model(bundle: ModelBundle, scope: TrainableScope, dropout: float | None = None,
                  ) -> Iterator[tuple[Any, list[str], list[Any], CompatReport]]:
    """Prepare ``bundle.model`` for DP-SGD within a ``with`` block; undo everything on exit.

    Applies the trainable scope, runs Opacus' validator and fixes (:func:`.dp_compat.prepare_model`),
    aligns embedding inputs to the batch, and probes a forward pass on public text
    (:func:`.clipping.probe_parameter_use`, recorded in ``report.parameter_use``): parameters it does
    not use are frozen. Yields ``(model, trainable names, trainable parameters, compat report)``;
    ``bundle.model`` is the model being trained inside the block. On exit the hooks and Opacus'
    per-parameter attributes are removed and ``bundle.model`` is the plain model again (LoRA
    adapters merged when the block succeeded, dropped when it failed), in eval mode, with every
    parameter trainable.
    """
    import torch

    report = CompatReport()
    model = scope.apply(bundle.model)
    model, report = prepare_model(model, report)
    saved_p = []
    if dropout is not None:
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                saved_p.append((m, m.p))
                m.p = float(dropout)
    aligner = EmbeddingInputAligner(model)
    report.aligned_embeddings = list(aligner.embeddings)
    ok = False
    try:
        probe = bundle.tokenizer(_PROBE_TEXTS, padding=True, return_tensors="pt").to(bundle.device)
        use = probe_parameter_use(model, {"input_ids": probe["input_ids"], "attention_mask": probe["attention_mask"]})
        for name, p in model.named_parameters():
            if name in use.unused:
                p.requires_grad_(False)
        report.frozen_unused = list(use.unused)
        report.parameter_use = use.to_dict()
        names = trainable_names(model)
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise DPCompatError("no trainable parameter is used by the model's forward pass")
        bundle.model = model  # evaluation during training goes through the (possibly wrapped) model
        yield model, names, params, report
        ok = True
    finally:
        aligner.remove()
        for m, p_old in saved_p:
            m.p = p_old
        for p in model.parameters():
            for attr in ("summed_grad", "grad_sample", "_norm_sample", "_forward_counter", "_current_grad_sample"):
                if hasattr(p, attr):
                    delattr(p, attr)
            p.grad = None
        if ok or not hasattr(model, "unload"):
            plain = scope.finalize(model)
        else:
            plain = model.unload()
            for p in plain.parameters():
                p.requires_grad_(True)
        bundle.model = plain
        plain.eval()


class _GhostSources:
    """Outputs of trainable layers whose inputs need no gradient, recorded at every forward pass.

    These are the lowest points of the graph that ghost clipping's first (norms-only) backward pass
    must reach; asking autograd for their gradients fires every layer's norm hook above them while
    skipping the weight-gradient products, which only the second pass needs.
    """

    def __init__(self, model: Any) -> None:
        self.tensors: list[Any] = []
        self._handles = [model.register_forward_pre_hook(self._reset)]
        for m in model.modules():
            if any(p.requires_grad for p in m.parameters(recurse=False)):
                self._handles.append(m.register_forward_hook(self._record))

    def _reset(self, module: Any, args: Any) -> None:
        self.tensors = []

    def _record(self, module: Any, inputs: tuple, output: Any) -> None:
        import torch

        if not (module.training and torch.is_grad_enabled()):
            return
        if any(isinstance(t, torch.Tensor) and t.requires_grad for t in inputs):
            return
        outs = output if isinstance(output, (tuple, list)) else (output,)
        self.tensors.extend(t for t in outs if isinstance(t, torch.Tensor) and t.requires_grad)

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self.tensors = []


def _chain_cleanup(hooks: Any, extra: Callable[[], None]) -> None:
    original = hooks.cleanup

    def cleanup() -> None:
        try:
            extra()
        finally:
            original()

    hooks.cleanup = cleanup


def _lean_ghost_criterion(hooks: Any, opt: Any, loss_fn: Any, sources: _GhostSources) -> Any:
    """Opacus' ghost-clipping loss, with a first backward pass that computes only what the norms need.

    Opacus runs two full backward passes: the first for the per-example gradient norms, the second
    for the clipped gradient. The first needs only the gradients flowing into each layer's output,
    not the weight gradients; ``torch.autograd.grad`` towards :class:`_GhostSources` computes
    exactly that. The clipping coefficients and the second pass are Opacus' own.
    """
    import torch
    from opacus.utils.fast_gradient_clipping_utils import (
        DPLossFastGradientClipping,
        DPTensorFastGradientClipping,
    )

    class _LeanTensor(DPTensorFastGradientClipping):
        def backward(self) -> None:
            reduced = torch.mean(self.loss_per_sample, dim=0)
            targets = list(sources.tensors)
            if targets:
                torch.autograd.grad(reduced, targets, retain_graph=True, allow_unused=True)
            else:  # nothing recorded (unusual model): Opacus' full first pass
                reduced.backward(retain_graph=True)
                self.optimizer.zero_grad()
            coeff = self.module.get_clipping_coef()
            self.module.applied_clip_factors = coeff.detach()
            second = torch.sum(coeff.to(self.loss_per_sample.device) * self.loss_per_sample)
            self.module.disable_hooks()
            try:
                second.backward()
            finally:
                self.module.enable_hooks()

    class _LeanLoss(DPLossFastGradientClipping):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            t = super().__call__(*args, **kwargs)
            return _LeanTensor(t.module, t.optimizer, t.loss_per_sample, t.loss_reduction)

    return _LeanLoss(hooks, opt, loss_fn, "mean")


def _make_private(model: Any, params: list[Any], ctx: Any, *, n: int, sigma: float, max_grad_norm: float, lr: float,
                  weight_decay: float, warmup_ratio: float, batch_size: int, sample_rate: float, steps_per_epoch: int,
                  total_steps: int, grad_sample_mode: str, accountant: str, seed: int, device: str, secure_gen: Any,
                  dataset: _TokenDataset, collate: Callable, plan: ClippingPlan | None = None,
                  amp: PrecisionChoice | None = None, optimizer: str = "adam", clipping: str = "flat") -> tuple:
    """Opacus objects for one run: hooks, DP optimizer, criterion, LR schedule, Poisson loader, accountant.

    ``plan`` (from :func:`.clipping.plan_clipping`) says which layers ghost clipping must materialise;
    without one, ``grad_sample_mode`` is used as it is. ``clipping`` names the clipping rule
    (:mod:`.clip_rules`) every per-example gradient method applies. Under a ``bf16`` ``amp`` the
    forward passes run under autocast and layer hooks see float32 activations and output gradients
    (:mod:`.precision`).
    """
    from opacus.distributed import DifferentiallyPrivateDistributedDataParallel as DPDDP
    from opacus.grad_sample import prepare_module

    plan = plan or ClippingPlan(grad_sample_mode, grad_sample_mode, "requested")
    amp = amp or PrecisionChoice("fp32", "fp32", "default")
    grad_sample_mode = plan.mode
    forward_module = DPDDP(model) if ctx.distributed else model
    forward: Any = autocasting(forward_module, amp, device)
    rule = resolve_clip_rule(clipping)
    if grad_sample_mode == "ghost":
        hooks = ghost_hooks(forward_module, model, plan, max_grad_norm=max_grad_norm, rule=rule)
    elif grad_sample_mode == "per-example":
        hooks = forward = PerExampleClipping(forward, params, max_grad_norm, rule)
    elif grad_sample_mode == "bookkeeping":
        hooks = BookkeepingClipping(model, params, max_grad_norm, rule)
    else:
        hooks = prepare_module(forward_module, grad_sample_mode=grad_sample_mode, wrap_model=False, batch_first=True,
                               loss_reduction="mean")
    sources = _GhostSources(model) if grad_sample_mode == "ghost" else None
    if sources is not None:
        _chain_cleanup(hooks, sources.remove)
    if amp.bf16 and grad_sample_mode != "per-example":
        _chain_cleanup(hooks, Float32Capture(model).remove)
    try:
        return (forward, hooks, *_dp_objects(hooks, sources, params, ctx, n=n, sigma=sigma, max_grad_norm=max_grad_norm, lr=lr,
                                                    weight_decay=weight_decay, warmup_ratio=warmup_ratio, batch_size=batch_size,
                                                    sample_rate=sample_rate, steps_per_epoch=steps_per_epoch,
                                                    total_steps=total_steps, grad_sample_mode=grad_sample_mode,
                                                    accountant=accountant, seed=seed, device=device, secure_gen=secure_gen,
                                                    dataset=dataset, collate=collate, optimizer=optimizer, rule=rule))
    except BaseException:
        hooks.cleanup()
        raise


def _dp_objects(hooks: Any, sources: Any, params: list[Any], ctx: Any, *, n: int, sigma: float, max_grad_norm: float, lr: float,
                weight_decay: float, warmup_ratio: float, batch_size: int, sample_rate: float, steps_per_epoch: int,
                total_steps: int, grad_sample_mode: str, accountant: str, seed: int, device: str, secure_gen: Any,
                dataset: _TokenDataset, collate: Callable, optimizer: str = "adam", rule: ClipRule | None = None) -> tuple:
    import torch
    from opacus.accountants import create_accountant
    from opacus.optimizers import get_optimizer_class
    from opacus.utils.uniform_sampler import UniformWithReplacementSampler
    from torch.utils.data import DataLoader

    from .ddp import DistributedPoissonSampler

    if grad_sample_mode == "hooks":
        hooks.forbid_grad_accumulation()

    from .optimizers import make_optimizer, noise_variance

    # the noise variance on each coordinate of the averaged gradient, over the whole logical batch
    base = make_optimizer(optimizer, params, lr=lr, weight_decay=weight_decay, device=device,
                          noise_variance=noise_variance(sigma, max_grad_norm, batch_size))
    if secure_gen is not None:
        noise_gen = secure_gen
    else:
        noise_gen = torch.Generator(device=torch.device(device)).manual_seed(seed * 7919 + 17)
    # per-example and single-pass modes hand the optimizer the sum of clipped gradients in p.grad, as ghost clipping does
    optim_mode = "ghost" if grad_sample_mode in ("per-example", "bookkeeping") else grad_sample_mode
    optim_class = get_optimizer_class(clipping="flat", distributed=ctx.distributed, grad_sample_mode=optim_mode)
    opt = optim_class(optimizer=base, noise_multiplier=sigma, max_grad_norm=max_grad_norm,
                      expected_batch_size=batch_size / ctx.world_size if ctx.distributed else batch_size,
                      loss_reduction="mean", generator=noise_gen, secure_mode=secure_gen is not None)
    if grad_sample_mode == "hooks" and rule is not None and rule.name != "flat":
        RuleClipping(opt, rule)  # Opacus' optimizer clips flat in hooks mode
    acct = create_accountant(mechanism=accountant)

    from .losses import ClassificationLoss

    loss_fn = ClassificationLoss(reduction="mean")  # per-example loss summed over labels for multi-label rows
    if grad_sample_mode == "ghost":
        criterion = _lean_ghost_criterion(hooks, opt, loss_fn, sources)
    elif grad_sample_mode in ("per-example", "bookkeeping"):
        criterion = hooks.criterion(loss_fn)
    else:
        criterion = loss_fn

    warmup = int(total_steps * warmup_ratio)
    sched = torch.optim.lr_scheduler.LambdaLR(
        base, lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (total_steps - s) / max(1, total_steps - warmup))
    )
    sample_gen = secure_gen if secure_gen is not None else torch.Generator().manual_seed(seed * 1_000_003 + 7 + ctx.rank)
    if ctx.distributed:
        sampler = DistributedPoissonSampler(num_samples=n, sample_rate=sample_rate, steps=steps_per_epoch, rank=ctx.rank,
                                            world_size=ctx.world_size, generator=sample_gen)
    else:
        sampler = UniformWithReplacementSampler(num_samples=n, sample_rate=sample_rate, generator=sample_gen, steps=steps_per_epoch)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=0)
    return opt, criterion, sched, loader, acct


def _train_loop(bundle: ModelBundle, model: Any, forward: Any, hooks: Any, opt: Any, criterion: Any, sched: Any, loader: Any, acct: Any,
                params: list[Any], *, named: list[tuple[str, Any]], ctx: Any, record: PrivateTrainingRecord, eval: Any,
                epochs: int, total_steps: int, delta: float, sigma: float, sample_rate: float, batch_size: int,
                max_grad_norm: float, max_physical_batch_size: int, grad_sample_mode: str, max_length: int,
                show_progress: bool, step_callback: Callable[[DPStepInfo], None] | None,
                average: WeightAverage | None = None, first_epoch: int = 0, first_step: int = 0,
                desc: str = "private fine-tune") -> list[float]:
    from opacus.utils.batch_memory_manager import BatchMemoryManager

    from ..metrics import dataset_metrics

    state: dict[str, Any] = {"steps": first_step, "epoch": first_epoch, "norms": [], "clipped": [], "count": 0}

    def on_step(optimizer: Any) -> None:
        acct.step(noise_multiplier=sigma, sample_rate=sample_rate)
        state["steps"] += 1
        if step_callback is not None:
            norms = np.concatenate(state["norms"]) if state["norms"] else np.zeros(0)
            clipped = np.concatenate(state["clipped"]) if state["clipped"] else np.zeros(0)
            if not len(norms) == len(clipped) == state["count"]:
                raise RuntimeError(f"step {state['steps']}: {state['count']} examples but {len(norms)} per-example norms "
                                   f"and {len(clipped)} clipped norms were measured")
            step_callback(DPStepInfo(step=state["steps"], epoch=state["epoch"], batch_size=state["count"],
                                     expected_batch_size=float(batch_size), noise_multiplier=sigma,
                                     max_grad_norm=max_grad_norm, per_example_norms=norms, clipped_norms=clipped,
                                     parameters=named))
        state["norms"].clear()
        state["clipped"].clear()  # the list the optimizer's clipping meter appends to
        state["count"] = 0

    opt.attach_step_hook(on_step)
    if step_callback is not None and grad_sample_mode == "hooks":
        OptimizerClippingMeter(opt, state["clipped"])
    eps_per_epoch: list[float] = []
    eps_every = max(1, total_steps // 10)
    bar = progress(total=total_steps, desc=desc, enabled=show_progress and ctx.is_main, unit="step")
    eps_now = 0.0
    checked = False
    try:
        for epoch in range(first_epoch + 1, first_epoch + epochs + 1):
            state["epoch"] = epoch
            t0 = time.perf_counter()
            model.train()
            losses: list[float] = []
            with BatchMemoryManager(data_loader=loader, max_physical_batch_size=max_physical_batch_size, optimizer=opt) as mem:
                for batch in mem:
                    before = state["steps"]
                    if batch is None:
                        _empty_batch_grads(params, grad_sample_mode)
                    else:
                        labels = batch.pop("labels")
                        logits = forward(**batch).logits
                        loss = criterion(logits, labels)
                        loss.backward()
                        b = int(labels.shape[0])
                        if not checked:
                            check_per_example_coverage(named, grad_sample_mode, b)
                            checked = True
                        losses.append(float(loss.detach()))
                        state["count"] += b
                        if step_callback is not None:
                            before_clip, clipped = _measured_norms(params, hooks, grad_sample_mode, b)
                            state["norms"].append(before_clip)
                            if clipped is not None:
                                state["clipped"].append(clipped)
                    opt.step()
                    opt.zero_grad(set_to_none=True)
                    if state["steps"] > before:
                        sched.step()
                        if average is not None:
                            average.update()
                        bar.update(1)
                        if state["steps"] % eps_every == 0 and show_progress and ctx.is_main:
                            eps_now = _live_epsilon(acct, delta)
                            bar.set_postfix(loss=f"{np.mean(losses[-8:]) if losses else float('nan'):.3f}", eps=f"{eps_now:.2f}")
            eps_epoch = _live_epsilon(acct, delta)
            eps_per_epoch.append(eps_epoch)
            entry: dict[str, Any] = {"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else None,
                                     "seconds": time.perf_counter() - t0, "steps": state["steps"], "epsilon": eps_epoch}
            if eval is not None and ctx.is_main:
                model.eval()
                probs = bundle.predict_proba(eval.texts, max_length=max_length)
                entry["eval"] = dataset_metrics(eval, probs, bundle.label_names).summary()
                model.train()
            record.epochs.append(_finite(entry))
    finally:
        bar.close()
    return [e if math.isfinite(e) else None for e in eps_per_epoch]


def _live_epsilon(acct: Any, delta: float) -> float:
    """Epsilon spent so far according to the running accountant's history."""
    if len(acct.history) == 0:
        return 0.0
    if any(h[0] == 0 for h in acct.history):
        return math.inf
    if len(acct.history) == 1:  # constant noise and rate: the cached computation gives the same number
        sigma, q, steps = acct.history[0]
        return compute_epsilon(sigma, q, steps, delta, acct.mechanism())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(acct.get_epsilon(delta=delta))


def save_private_checkpoint(bundle: ModelBundle, out_dir: str | Path, record: PrivateTrainingRecord) -> Path:
    """Write model + tokenizer (safetensors), ``training.json`` and ``privacy_ledger.json`` in one atomic step."""
    out_dir = Path(out_dir)
    record.checkpoint = str(out_dir)
    bundle.model.config.id2label = dict(enumerate(bundle.label_names))
    bundle.model.config.label2id = bundle.label2id
    sha = bundle.sha256
    with atomic_directory(out_dir) as tmp:
        bundle.model.save_pretrained(tmp, safe_serialization=True)
        bundle.tokenizer.save_pretrained(tmp)
        atomic_write_json(tmp / "training.json", {**record.to_dict(), "model_sha256": sha})
        atomic_write_json(tmp / LEDGER_FILE, record.ledger)
    return out_dir


def load_ledger(path: str | Path) -> PrivacyLedger:
    """The privacy ledger of a checkpoint directory (or of a ``privacy_ledger.json`` file)."""
    path = Path(path)
    if path.is_dir():
        path = path / LEDGER_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no privacy ledger (the model was not trained privately here)")
    return PrivacyLedger.load(path)
