"""How per-example gradients are obtained for clipping, chosen from how the model uses its parameters.

DP-SGD clips the gradient of each training example, and that gradient must be complete: for a
parameter that takes part in several layer calls (ALBERT applies one shared block at every depth,
tied weights are registered in several layers) it is the *sum* of the contributions of all those
calls, taken before clipping. Opacus computes per-example gradients from layer hooks, which see a
layer's input and output gradient at each call; that works when every call of a layer has the batch
as its first dimension and every parameter is used inside the forward pass of the layer that owns
it. A short probe forward/backward pass on public text (:func:`probe_parameter_use`) checks both and
records which parameters are shared. :func:`plan_clipping` then picks the method:

* ``"ghost"`` (Opacus ghost clipping: per-example gradient norms from activations and output
  gradients, a second backward pass with clipped weights). Layers that hold a shared parameter have
  their per-example gradients materialised instead (Opacus' fast gradient clipping path), which
  adds up the contributions of every call before the norm is taken; ghost norms of separate calls
  cannot be combined into the norm of their sum.
* ``"hooks"`` (Opacus' per-example gradients for every layer; shared parameters are summed over
  their calls the same way).
* ``"bookkeeping"`` (single-pass clipping, :mod:`.bookkeeping`: norms and the clipped gradient sum
  both formed from the activations and output gradients of one backward pass). Covers Linear,
  Embedding, LayerNorm, RMSNorm and GPT-2's Conv1D; shared parameters are exact (their calls are
  joined before the norm); any other trainable layer is refused.
* ``"per-example"``: when some trainable parameter is used where layer hooks cannot split its
  gradient per example (a layer called on a tensor without the batch dimension, such as DeBERTa's
  relative position embeddings, which are projected once and then broadcast to the batch; a
  weight read directly by another layer; a layer holding a constant buffer, such as Gemma's scaled
  word embeddings), each example of a physical batch gets its own forward and
  backward pass, its full gradient is clipped and added up. Exact for any model, slower.

``"auto"`` (the default) is ``"bookkeeping"`` when it covers every trainable layer (it is the fastest
where it applies), else ghost clipping, unless the probe calls for ``"per-example"``. An explicit
``"ghost"``, ``"hooks"`` or ``"bookkeeping"`` that cannot be exact for the model is refused with the
parameters named.
Trainable layers whose buffers a training forward pass changes (running statistics) are refused in
every mode: their state would leak the training data.

Importing this module also registers a LayerNorm per-example gradient for layers without a bias
(``nn.LayerNorm(bias=False)``, as in ModernBERT), which Opacus' own sampler does not handle.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from .clip_rules import ClipRule, resolve_clip_rule
from .dp_compat import DPCompatError

#: ``auto`` picks one of the others from the model (see :func:`plan_clipping`).
GRAD_SAMPLE_MODES = ("auto", "ghost", "hooks", "per-example", "bookkeeping")


def _register_layer_norm_grad_sampler() -> None:
    """Per-example gradients of ``nn.LayerNorm`` whose weight or bias may be absent."""
    import torch.nn.functional as F
    from opacus.grad_sample import register_grad_sampler
    from opacus.utils.tensor_utils import sum_over_all_but_batch_and_last_n
    from torch import nn

    @register_grad_sampler(nn.LayerNorm)
    def layer_norm_grad_sample(layer: nn.LayerNorm, activations: list, backprops: Any) -> dict:
        x = activations[0]
        out = {}
        if layer.weight is not None and layer.weight.requires_grad:
            normed = F.layer_norm(x, layer.normalized_shape, eps=layer.eps)
            out[layer.weight] = sum_over_all_but_batch_and_last_n(normed * backprops, layer.weight.dim())
        if layer.bias is not None and layer.bias.requires_grad:
            out[layer.bias] = sum_over_all_but_batch_and_last_n(backprops, layer.bias.dim())
        return out


_register_layer_norm_grad_sampler()


@dataclass
class ParameterUse:
    """How one forward pass used the trainable parameters (names are the model's parameter names)."""

    batch_size: int
    unused: list[str] = field(default_factory=list)
    shared: dict[str, int] = field(default_factory=dict)  # parameter -> layer calls it takes part in (> 1)
    unbatched: dict[str, list[int]] = field(default_factory=dict)  # layer -> input shape without the batch first
    outside: list[str] = field(default_factory=list)  # parameters used outside the layers that register them
    buffered: list[str] = field(default_factory=list)  # trainable layers holding buffers the forward pass leaves alone
    stateful: list[str] = field(default_factory=list)  # trainable layers whose buffers the forward pass changes

    @property
    def unhookable(self) -> list[str]:
        """Layers and parameters whose per-example gradients layer hooks cannot compute."""
        return list(self.unbatched) + list(self.outside) + list(self.buffered)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _owners(model: Any) -> tuple[dict[int, list[tuple[str, Any]]], dict[int, str]]:
    """Parameter id -> the (name, module) pairs that register it; parameter id -> its canonical name."""
    owners: dict[int, list[tuple[str, Any]]] = defaultdict(list)
    for mname, module in model.named_modules(remove_duplicate=False):
        for _, p in module.named_parameters(recurse=False):
            if p.requires_grad and all(m is not module for _, m in owners[id(p)]):
                owners[id(p)].append((mname, module))
    names = {id(p): n for n, p in model.named_parameters()}
    return owners, names


class _ForeignReads:
    """Within this block, every operation on a trainable parameter is checked against the module that is
    running: a parameter read by a module that does not register it (``F.linear(x, other.weight)`` in a
    parent's forward) is collected in ``foreign``. Layer hooks see only the uses inside the owning
    layer's own forward, so such a parameter's per-example gradient would be incomplete."""

    def __init__(self, model: Any, owners: dict[int, list[tuple[str, Any]]]) -> None:
        self.model = model
        self.owned_by = {pid: {id(m) for _, m in pairs} for pid, pairs in owners.items()}
        self.foreign: set[int] = set()
        self._stack: list[int] = []
        self._handles: list[Any] = []
        self._mode: Any = None

    def __enter__(self) -> "_ForeignReads":
        import torch
        from torch.overrides import TorchFunctionMode
        from torch.utils._pytree import tree_leaves

        watcher = self

        class Watch(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                out = func(*args, **kwargs)
                # only a computation that carries gradient counts (not .dtype, .shape, .detach() and the like)
                if watcher._stack and any(isinstance(t, torch.Tensor) and t.requires_grad for t in tree_leaves(out)):
                    running = watcher._stack[-1]
                    for leaf in tree_leaves((args, kwargs)):
                        owners = watcher.owned_by.get(id(leaf))
                        if owners is not None and running not in owners:
                            watcher.foreign.add(id(leaf))
                return out

        def enter(module: Any, _args: Any) -> None:
            self._stack.append(id(module))

        def leave(module: Any, _args: Any, _out: Any) -> None:
            self._stack.pop()

        for m in self.model.modules():
            self._handles.append(m.register_forward_pre_hook(enter))
            self._handles.append(m.register_forward_hook(leave))
        self._mode = Watch()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._mode.__exit__(*exc)
        for h in self._handles:
            h.remove()
        self._stack.clear()


def probe_parameter_use(model: Any, inputs: dict[str, Any]) -> ParameterUse:
    """One forward/backward pass on ``inputs`` (public text, at least two examples), watching every layer
    that owns a trainable parameter: how often it is called, with which input shapes, and which
    parameters get a gradient. Leaves no gradient behind."""
    import torch

    batch = int(inputs["input_ids"].shape[0])
    if batch < 2:
        raise ValueError("the parameter-use probe needs at least two examples to tell the batch dimension apart")
    owners, names = _owners(model)
    modules = {id(m): (n, m) for pairs in owners.values() for n, m in pairs}
    calls: dict[int, int] = defaultdict(int)
    unbatched: dict[str, list[int]] = {}

    def record(module: Any, args: tuple, kwargs: dict, output: Any) -> None:
        calls[id(module)] += 1
        first = next((t for t in list(args) + list(kwargs.values()) if isinstance(t, torch.Tensor)), None)
        if first is not None and (first.dim() == 0 or first.shape[0] != batch):
            unbatched.setdefault(modules[id(module)][0], list(first.shape))

    handles = [m.register_forward_hook(record, with_kwargs=True) for _, m in modules.values()]
    buffered = {n: [(b, b.detach().clone()) for b in m.buffers()] for n, m in model.named_modules()
                if any(p.requires_grad for p in m.parameters(recurse=False)) and any(True for _ in m.buffers())}
    reads = _ForeignReads(model, owners)
    try:
        for p in model.parameters():
            p.grad = None
        with reads:
            out = model(**inputs)
        logits = out.logits if hasattr(out, "logits") else out[0]
        logits.float().sum().backward()
    finally:
        for h in handles:
            h.remove()
    use = ParameterUse(batch_size=batch, unbatched=unbatched)
    for name, pairs in buffered.items():
        changed = any(b.shape != old.shape or not torch.equal(b.detach(), old) for b, old in pairs)
        (use.stateful if changed else use.buffered).append(name)
    for pid, pairs in owners.items():
        name = names[pid]
        p = next(q for q in pairs[0][1].parameters(recurse=False) if id(q) == pid)
        n_calls = sum(calls[id(m)] for _, m in pairs)
        if p.grad is None:
            use.unused.append(name)
        elif n_calls == 0 or pid in reads.foreign:
            use.outside.append(name)
        elif n_calls > 1:
            use.shared[name] = n_calls
    for p in model.parameters():
        p.grad = None
    order = {n: i for i, n in enumerate(names.values())}
    use.unused.sort(key=order.get)
    use.outside.sort(key=order.get)
    return use


@dataclass
class ClippingPlan:
    """The per-example gradient method of a run, and why; stored in the training record and the ledger."""

    mode: str
    requested: str
    reason: str
    materialised_layers: list[str] = field(default_factory=list)  # ghost mode: layers holding shared parameters
    shared_parameters: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _names(items: list[str], k: int = 8) -> str:
    return ", ".join(items[:k]) + (f" and {len(items) - k} more" if len(items) > k else "")


def plan_clipping(requested: str, use: ParameterUse, model: Any) -> ClippingPlan:
    """Choose how per-example gradients are computed (see the module docstring)."""
    if requested not in GRAD_SAMPLE_MODES:
        raise ValueError(f"grad_sample_mode must be one of {', '.join(GRAD_SAMPLE_MODES)}, got {requested!r}")
    if use.stateful:
        raise DPCompatError(
            f"{type(model).__name__}: trainable layers keep buffers that training updates (e.g. running statistics), "
            "which are not privatised: " + _names(use.stateful) + ". Freeze these layers with a trainable scope"
        )
    problems = []
    if use.outside:
        problems.append("no per-example gradient for " + _names(use.outside) + " from layer hooks (read outside the "
                        "forward pass of the layer that owns them)")
    if use.unbatched:
        shown = [f"{n} (input of shape {tuple(s)})" for n, s in use.unbatched.items()]
        problems.append(f"layers called on inputs whose first dimension is not the batch ({use.batch_size}): "
                        + _names(shown) + "; their output is shared by every example, so layer hooks cannot split "
                        "their gradient per example")
    if use.buffered and requested != "bookkeeping":  # there the layer types are checked (:func:`_bookkeeping_plan`)
        problems.append("trainable layers holding buffers, which Opacus' layer hooks do not support: " + _names(use.buffered))
    shared = dict(use.shared)
    if problems:
        if requested in ("ghost", "hooks", "bookkeeping"):
            raise DPCompatError(
                "; ".join(problems) + f". grad_sample_mode={requested!r} cannot clip these gradients per example; use "
                "grad_sample_mode='auto' or 'per-example' (one forward/backward pass per example), or freeze them with "
                "a trainable scope"
            )
        return ClippingPlan("per-example", requested, "; ".join(problems), shared_parameters=shared)
    if requested == "per-example":
        return ClippingPlan("per-example", requested, "requested", shared_parameters=shared)
    if requested == "hooks":
        reason = "requested" + ("; shared parameters: per-example gradients summed over their layer calls" if shared else "")
        return ClippingPlan("hooks", requested, reason, shared_parameters=shared)
    if requested in ("bookkeeping", "auto"):
        plan = _bookkeeping_plan(requested, model, shared)
        if plan is not None:
            return plan
    if not shared:
        return ClippingPlan("ghost", requested, "requested" if requested == "ghost" else "no shared parameters")
    owners, names = _owners(model)
    by_name = {names[pid]: pairs for pid, pairs in owners.items()}
    layers = list(dict.fromkeys(n for p in shared for n, _ in by_name[p]))
    reason = ("shared parameters (" + _names([f"{p} x{k}" for p, k in shared.items()]) + "): their per-example "
              "gradients are materialised and summed over the layer calls before the norm is taken; ghost norms "
              "elsewhere")
    return ClippingPlan("ghost", requested, reason, materialised_layers=layers, shared_parameters=shared)


def _bookkeeping_plan(requested: str, model: Any, shared: dict[str, int]) -> ClippingPlan | None:
    """Single-pass clipping when it covers every trainable layer; refused (explicit) or None (auto) otherwise."""
    from . import bookkeeping

    problems = bookkeeping.uncovered(model)
    if problems:
        if requested == "bookkeeping":
            raise DPCompatError(bookkeeping.refusal(problems))
        return None
    reason = "requested" if requested == "bookkeeping" else "every trainable layer is covered by single-pass clipping"
    if shared:
        reason += "; shared parameters: their layer calls are joined before the norm is taken"
    return ClippingPlan("bookkeeping", requested, reason, shared_parameters=shared)


def _modules_by_name(model: Any, layer_names: list[str]) -> list[Any]:
    wanted = set(layer_names)
    return [m for n, m in model.named_modules(remove_duplicate=False) if n in wanted]


def ghost_hooks(module: Any, model: Any, plan: ClippingPlan, *, max_grad_norm: float, rule: ClipRule | None = None) -> Any:
    """Opacus' ghost-clipping hooks on ``module`` (the model or its distributed wrapper), with the
    layers of ``plan.materialised_layers`` (names in ``model``) on the materialising path and the
    clipping factors of ``rule`` (default flat, Opacus' own)."""
    from opacus.grad_sample import GradSampleHooksFastGradientClipping

    plain = {id(m) for m in _modules_by_name(model, plan.materialised_layers)}
    clip_rule = resolve_clip_rule(rule)

    class SharedAwareGhostHooks(GradSampleHooksFastGradientClipping):
        #: the clipping factors of the last physical batch, as the second backward pass applied them
        applied_clip_factors: Any = None

        def _without_ghost(self, fn: Any, module: Any, *args: Any, **kwargs: Any) -> Any:
            if id(module) not in plain or not self.use_ghost_clipping:
                return fn(module, *args, **kwargs)
            self.use_ghost_clipping = False
            try:
                return fn(module, *args, **kwargs)
            finally:
                self.use_ghost_clipping = True

        def capture_activations_hook(self, module: Any, *args: Any, **kwargs: Any) -> Any:
            return self._without_ghost(super().capture_activations_hook, module, *args, **kwargs)

        def capture_backprops_hook(self, module: Any, *args: Any, **kwargs: Any) -> Any:
            return self._without_ghost(super().capture_backprops_hook, module, *args, **kwargs)

        def get_clipping_coef(self) -> Any:
            return clip_rule.factors(self.get_norm_sample(), self.max_grad_norm)

    return SharedAwareGhostHooks(module, batch_first=True, loss_reduction="mean", max_grad_norm=max_grad_norm)


class RuleClipping:
    """Hooks mode with a clipping rule other than flat: the optimizer sums ``c_i * g_i`` with the rule's factors.

    Opacus' optimizer clips in ``clip_and_accumulate`` with its own flat coefficient. Installed on
    the optimizer, this wrapper computes each example's norm over every trainable parameter, replaces
    each ``p.grad_sample`` by the scaled ``c_i * g_i`` and lets the optimizer sum them with its
    coefficient pinned at 1 (an infinite clipping norm for that call only; the noise still uses the
    run's norm). A :class:`OptimizerClippingMeter` installed afterwards still sees the unscaled
    gradients and so measures ``c_i``.
    """

    def __init__(self, optimizer: Any, rule: ClipRule) -> None:
        self.optimizer = optimizer
        self.rule = rule
        self._clip_and_accumulate = optimizer.clip_and_accumulate
        optimizer.clip_and_accumulate = self

    def __call__(self) -> None:
        import torch

        opt = self.optimizer
        samples = opt.grad_samples
        if samples and len(samples[0]):
            norms = torch.stack([g.reshape(len(g), -1).norm(2, dim=-1).to(samples[0].device) for g in samples], 1).norm(2, dim=1)
            factors = self.rule.factors(norms, opt.max_grad_norm)
            for p, g in zip(opt.params, samples):
                p.grad_sample = g * factors.to(device=g.device, dtype=g.dtype).view(-1, *([1] * (g.dim() - 1)))
        clip = opt.max_grad_norm
        opt.max_grad_norm = math.inf
        try:
            self._clip_and_accumulate()
        finally:
            opt.max_grad_norm = clip


class OptimizerClippingMeter:
    """Hooks mode: the norm of each example's gradient as the optimizer clipped and added it up.

    Opacus' optimizer clips in ``clip_and_accumulate``, which adds ``sum_i c_i g_i`` to each
    ``p.summed_grad`` (``g_i`` the per-example gradient of example ``i`` in ``p.grad_sample``,
    ``c_i`` its clipping factor). Installed on the optimizer, the meter wraps that call, takes the
    increment it added and solves ``sum_i c_i g_i = increment`` for the factors that were applied
    (least squares over every trainable parameter, through the Gram matrix of the physical batch;
    identical examples share their factor). Each call appends ``|c_i| * |g_i|`` to ``sink``. The
    accumulated sum is the same, bit for bit, as without the meter. It costs about ``b^2`` times the
    number of trainable parameters per physical batch of ``b`` examples: for inspection only.
    """

    def __init__(self, optimizer: Any, sink: list) -> None:
        self.optimizer = optimizer
        self.sink = sink
        self._clip_and_accumulate = optimizer.clip_and_accumulate
        optimizer.clip_and_accumulate = self

    def __call__(self) -> None:
        import numpy as np
        import torch

        params = self.optimizer.params
        samples = self.optimizer.grad_samples
        before = [getattr(p, "summed_grad", None) for p in params]
        for p in params:
            p.summed_grad = None
        self._clip_and_accumulate()
        increments = [p.summed_grad for p in params]
        for p, old, inc in zip(params, before, increments):
            if old is not None:
                old += inc  # the addition Opacus would have made in place
                p.summed_grad = old
        b = int(samples[0].shape[0]) if samples else 0
        if b == 0:
            self.sink.append(np.zeros(0))
            return
        gram = torch.zeros((b, b), dtype=torch.float64)
        rhs = torch.zeros(b, dtype=torch.float64)
        for g, inc in zip(samples, increments):
            flat = g.detach().reshape(b, -1).double().cpu()
            gram += flat @ flat.T
            rhs += flat @ inc.detach().reshape(-1).double().cpu()
        factors = torch.linalg.pinv(gram, hermitian=True) @ rhs
        self.sink.append((factors.abs() * gram.diagonal().clamp(min=0).sqrt()).numpy())


class PerExampleClipping:
    """Clipping by one forward/backward pass per example; used as ``forward`` and criterion of the loop.

    ``forward(**batch)`` records the physical batch and returns the model's output computed without a
    graph (for the loss that is reported). The criterion's ``backward()`` then runs each example
    alone, clips its gradient over all trainable parameters to ``max_grad_norm`` with the run's
    clipping rule (by default Opacus' coefficient ``min(1, C / (norm + 1e-6))``) and adds it to
    ``p.grad``; the optimizer (Opacus' fast gradient clipping optimizer, which takes ``p.grad`` as
    the sum of clipped gradients) adds the noise.
    After each backward pass ``per_sample_gradient_norms`` holds the norms before clipping and
    ``per_sample_clipped_norms`` the norms of the gradients as they were added up.
    """

    def __init__(self, module: Any, params: list[Any], max_grad_norm: float, rule: ClipRule | None = None) -> None:
        self.module = module
        self.params = params
        self.max_grad_norm = float(max_grad_norm)
        self.rule = resolve_clip_rule(rule)
        self.per_sample_gradient_norms: Any = None
        self.per_sample_clipped_norms: Any = None
        self._batch: dict[str, Any] | None = None

    def clip_factor(self, norm: float) -> float:
        """The clipping factor of a gradient of L2 norm ``norm`` (by default Opacus' coefficient)."""
        return self.rule.factor(norm, self.max_grad_norm)

    def __call__(self, **batch: Any) -> Any:
        import torch

        self._batch = batch
        with torch.no_grad():
            return self.module(**batch)

    def criterion(self, loss_fn: Any) -> Any:
        clipper = self

        class PerExampleLoss:
            def __call__(self, logits: Any, labels: Any) -> Any:
                return _PerExampleTensor(clipper, loss_fn, loss_fn(logits, labels).detach(), labels)

        return PerExampleLoss()

    def example(self, i: int, n: int) -> dict[str, Any]:
        import torch

        assert self._batch is not None
        return {k: v[i:i + 1] if isinstance(v, torch.Tensor) and v.dim() >= 1 and v.shape[0] == n else v
                for k, v in self._batch.items()}

    def backward(self, loss_fn: Any, labels: Any) -> None:
        import torch

        n = int(labels.shape[0])
        norms, clipped = [], []
        for i in range(n):
            out = self.module(**self.example(i, n))
            logits = out.logits if hasattr(out, "logits") else out[0]
            loss = loss_fn(logits, labels[i:i + 1])
            grads = torch.autograd.grad(loss, self.params, allow_unused=True)
            norm = math.sqrt(sum(float(g.detach().double().pow(2).sum()) for g in grads if g is not None))
            coef = self.clip_factor(norm)
            added = 0.0
            for p, g in zip(self.params, grads):
                if g is None:
                    g = torch.zeros_like(p)
                g = g.detach() * coef
                added += float(g.double().pow(2).sum())
                p.grad = g if p.grad is None else p.grad + g
            norms.append(norm)
            clipped.append(math.sqrt(added))
        self.per_sample_gradient_norms = torch.tensor(norms, dtype=torch.float64)
        self.per_sample_clipped_norms = torch.tensor(clipped, dtype=torch.float64)
        self._batch = None

    def cleanup(self) -> None:
        self._batch = None


class _PerExampleTensor:
    """The reported (mean) loss of a physical batch; ``backward()`` runs :meth:`PerExampleClipping.backward`."""

    def __init__(self, clipper: PerExampleClipping, loss_fn: Any, value: Any, labels: Any) -> None:
        self._clipper, self._loss_fn, self._value, self._labels = clipper, loss_fn, value, labels

    def backward(self) -> None:
        self._clipper.backward(self._loss_fn, self._labels)

    def detach(self) -> Any:
        return self._value

    def item(self) -> float:
        return float(self._value)

    def __float__(self) -> float:
        return float(self._value)
