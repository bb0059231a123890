"""Single-pass ("book-keeping") per-example clipping: one backward pass, no second one.

Ghost clipping needs two backward passes: one for the per-example gradient norms, a second one
of the loss re-weighted by the clipping factors. Book-keeping clipping (Bu et al., 2023) keeps what
the first pass already has, each trainable layer's input ``a`` (its activation) and the gradient
``g`` of the loss with respect to its output, and forms everything from them:

* the per-example gradient norms, layer by layer. For a weight used as ``a @ W.T`` the example's
  gradient is ``g_i.T @ a_i`` and its squared norm is ``sum((a_i a_i^T) * (g_i g_i^T))`` over the
  ``T x T`` token pairs ("ghost norm", about ``2 T^2 (p + d)`` operations); when ``2 T^2 > p d`` the
  ``p x d`` gradient itself is cheaper and is formed instead. Embeddings add up the output gradients
  of equal token ids; norm layers and biases have small per-example gradients that are formed;
* the clipped sum ``sum_i c_i * grad_i`` with ``c_i`` from the run's clipping rule (:mod:`.clip_rules`;
  by default Opacus' coefficient ``min(1, C / (norm_i + 1e-6))``), e.g. ``(c * g).T @ a`` for a
  weight, written to ``p.grad``. Opacus' optimizer then adds the noise and divides by the expected
  batch size, as it does for ghost clipping.

The backward pass asks autograd only for the gradients flowing into the layer outputs (each output
passes through an identity node that records its gradient), so the weight gradients of plain
backpropagation are never computed; they are replaced by the clipped sums.

A parameter used by several layer calls (a block applied at every depth, a weight registered in
several layers of the same kind) gets the sum of all its calls' contributions before the norm is
taken: the calls are joined along the token axis, which gives exactly the gradient of the sum.

Covered layers: ``nn.Linear``, ``nn.Embedding`` (without ``max_norm``, ``scale_grad_by_freq`` or
sparse gradients), ``nn.LayerNorm`` (with or without weight and bias), Hugging Face's ``Conv1D``
(GPT-2) and RMSNorm layers holding one weight vector (Llama, Qwen2, Mistral, Gemma's ``1 + w``,
``torch.nn.RMSNorm``: their per-example gradients come from the layer's own forward, vectorised over
the batch with ``torch.func``). A trainable parameter held by any other layer, or shared by layers of
different kinds, is refused with the layer named (:func:`uncovered`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from .clip_rules import ClipRule, resolve_clip_rule
from .dp_compat import DPCompatError

# how a parameter enters its layer's output
_ROLES = {
    "linear": {"weight": "matmul", "bias": "bias"},  # a @ W.T + b
    "conv1d": {"weight": "matmul_t", "bias": "bias"},  # a @ W + b (Hugging Face Conv1D)
    "embedding": {"weight": "embedding"},
    "layernorm": {"weight": "norm_weight", "bias": "bias"},
    "rmsnorm": {"weight": "functional"},
}


def _conv1d_type() -> Any:
    try:
        from transformers.pytorch_utils import Conv1D
    except ImportError:  # pragma: no cover - transformers is a dependency
        return None
    return Conv1D


def layer_kind(module: Any) -> tuple[str | None, str]:
    """The kind of a layer holding trainable parameters (None when not covered) and, if not, why."""
    from torch import nn

    t = type(module)
    if t is nn.Linear:
        return "linear", ""
    if t is nn.LayerNorm:
        return "layernorm", ""
    if t is nn.Embedding:
        bad = [what for what, on in (("max_norm", module.max_norm is not None), ("scale_grad_by_freq", module.scale_grad_by_freq),
                                     ("sparse", module.sparse)) if on]
        if bad:
            return None, "an embedding with " + ", ".join(bad) + " (its gradient is not a sum of per-example gradients)"
        return "embedding", ""
    if t is _conv1d_type():
        return "conv1d", ""
    own = dict(module.named_parameters(recurse=False))
    if t.__name__.lower().endswith("rmsnorm") and set(own) == {"weight"} and own["weight"].dim() == 1:
        return "rmsnorm", ""
    return None, "no single-pass per-example gradient for this layer type"


def _trainable_layers(model: Any) -> list[tuple[str, Any]]:
    """(name, layer) of every layer that registers a trainable parameter, each layer once."""
    seen: set[int] = set()
    out = []
    for name, module in model.named_modules(remove_duplicate=False):
        if id(module) in seen:
            continue
        if any(p.requires_grad for p in module.parameters(recurse=False)):
            seen.add(id(module))
            out.append((name, module))
    return out


def _first_names(model: Any) -> dict[int, str]:
    """Parameter id -> its first name (the one ``named_parameters()`` reports for a tied parameter)."""
    names: dict[int, str] = {}
    for n, p in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(p), n)
    return names


def _parameter_roles(model: Any) -> tuple[dict[int, list[tuple[Any, str]]], list[str]]:
    """Parameter id -> [(layer, role)] over the layers that register it; and the problems found."""
    names = _first_names(model)
    roles: dict[int, list[tuple[Any, str]]] = {}
    where: dict[int, list[str]] = {}
    problems = []
    for lname, module in _trainable_layers(model):
        kind, why = layer_kind(module)
        if kind is None:
            problems.append(f"{lname or '(the model)'} ({type(module).__name__}): {why}")
            continue
        for pname, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            role = _ROLES[kind].get(pname)
            if role is None:
                problems.append(f"{lname}.{pname} ({type(module).__name__}): a parameter this layer type does not have")
                continue
            roles.setdefault(id(p), []).append((module, role))
            where.setdefault(id(p), []).append(f"{lname} ({type(module).__name__}, {role})")
    for pid, pairs in roles.items():
        if len({r for _, r in pairs}) > 1:
            problems.append(f"{names.get(pid, '?')} is shared by layers that use it differently: " + ", ".join(where[pid])
                            + " (their per-example gradients cannot be added up before the norm)")
    return roles, problems


def uncovered(model: Any) -> list[str]:
    """Why single-pass clipping cannot clip ``model``'s trainable parameters (empty when it can)."""
    return _parameter_roles(model)[1]


def refusal(problems: list[str]) -> str:
    shown = problems[:8] + ([f"and {len(problems) - 8} more"] if len(problems) > 8 else [])
    return ("grad_sample_mode='bookkeeping' cannot clip these trainable parameters per example: " + "; ".join(shown)
            + ". Use grad_sample_mode='auto' (another method is chosen), or freeze them with a trainable scope")


@dataclass
class _Call:
    """One call of a covered layer in the forward pass: its input, and after the backward pass its output
    gradient, or (normalisation layers, reduced as soon as the gradient arrives) its per-example gradients."""

    module: Any
    x: Any
    version: int
    grad: Any = None
    reduce: Any = None  # callable(call, grad) for layers whose per-example gradients are formed in the pass
    reduced: dict = field(default_factory=dict)  # parameter id -> (batch, *shape)


@dataclass
class _PerExample:
    """A parameter's per-example contributions: squared norms now, the clipped sum once the factors are known."""

    sq_norms: Any  # (B,)
    clipped: Any  # callable: factors (B,) -> gradient of the parameter's shape


def _tokens(t: Any, batch: int, tail: int) -> Any:
    """``t`` as (batch, tokens, *last ``tail`` dims)."""
    return t.reshape(batch, -1, *t.shape[t.dim() - tail:]) if tail else t.reshape(batch, -1)


def _storage_key(t: Any) -> tuple:
    """Identifies a tensor's contents within one backward pass (the same input read by several layers)."""
    return (t.data_ptr(), tuple(t.shape), tuple(t.stride()), t.dtype, t.device)


def _joined(parts: list[Any]) -> Any:
    """Several calls' (batch, tokens, ...) tensors joined along the token axis (one call: itself, no copy)."""
    import torch

    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


class _Tap:
    """An identity on a layer's output whose backward hands the output gradient to its :class:`_Call`."""

    fn: Any = None

    @classmethod
    def apply(cls, output: Any, anchor: Any, call: _Call) -> Any:
        if cls.fn is None:
            import torch

            class Tap(torch.autograd.Function):
                @staticmethod
                def forward(ctx: Any, out: Any, _anchor: Any, rec: _Call) -> Any:
                    ctx.rec = rec
                    # a new tensor object on the same storage, not a view: later in-place changes of the
                    # layer output stay legal, and the gradient recorded is that of the output as computed
                    return out.detach()

                @staticmethod
                def backward(ctx: Any, grad: Any) -> tuple:
                    rec, ctx.rec = ctx.rec, None  # the graph's nodes outlive the pass: hold nothing from here
                    if rec.reduce is not None:
                        rec.reduce(rec, grad)
                    else:
                        rec.grad = grad if rec.grad is None else rec.grad + grad
                    return grad, None, None

            cls.fn = Tap
        return cls.fn.apply(output, anchor, call)


# per-example gradients of one call, (batch, *p.shape), for the roles whose gradients are small

def _pe_bias(module: Any, x: Any, g: Any, p: Any, batch: int) -> Any:
    return _tokens(g, batch, p.dim()).to(p.dtype).sum(1)


def _pe_norm_weight(module: Any, x: Any, g: Any, p: Any, batch: int) -> Any:
    import torch.nn.functional as F

    normed = F.layer_norm(x, module.normalized_shape, eps=module.eps)
    return _tokens(normed * g, batch, len(module.normalized_shape)).to(p.dtype).sum(1)


def _pe_functional(module: Any, x: Any, g: Any, p: Any, batch: int) -> Any:
    """A normalisation layer's weight: the layer's own forward, differentiated per example (``torch.func``)."""
    from torch.func import functional_call, grad, vmap

    def inner(w: Any, xi: Any, gi: Any) -> Any:
        out = functional_call(module, {"weight": w}, (xi.unsqueeze(0),))
        return (out * gi.unsqueeze(0).to(out.dtype)).sum()

    return vmap(grad(inner), in_dims=(None, 0, 0))(p.detach(), x, g).to(p.dtype)


_SMALL = {"bias": _pe_bias, "norm_weight": _pe_norm_weight, "functional": _pe_functional}


class BookkeepingClipping:
    """Single-pass clipping for ``model``'s trainable parameters ``params``; used as the loop's hooks object.

    Install with the model in training mode; ``criterion(loss_fn)`` gives the loss whose
    ``backward()`` runs the single backward pass and writes the clipped per-example gradient sum of
    the physical batch to ``p.grad``; ``per_sample_gradient_norms`` holds the norms before clipping.
    ``cleanup()`` removes the hooks.

    Memory: the inputs and output gradients of the layers with weight matrices and embeddings are
    held until the clipping factors are known; normalisation layers keep only their per-example
    gradients (reduced during the backward pass), and each layer's tensors are released as soon as
    its clipped sum is formed.
    """

    def __init__(self, model: Any, params: list[Any], max_grad_norm: float, rule: ClipRule | None = None) -> None:
        import torch

        self.model = model
        self.max_grad_norm = float(max_grad_norm)
        self.rule = resolve_clip_rule(rule)
        self.per_sample_gradient_norms: Any = None
        #: the clipping factors the last backward pass applied, one per example
        self.applied_clip_factors: Any = None
        self.norm_methods: dict[str, str] = {}  # parameter -> how its norms were taken in the last pass
        roles, problems = _parameter_roles(model)
        wanted = {id(p) for p in params}
        missing = [n for n, p in model.named_parameters() if p.requires_grad and id(p) in wanted and id(p) not in roles]
        if missing:
            problems.append("not held by any covered layer: " + ", ".join(missing[:8]))
        if problems:
            raise DPCompatError(refusal(problems))
        self.params = [p for p in params if id(p) in roles]
        self.names = _first_names(model)
        self._roles = roles
        self._calls: dict[int, list[_Call]] = {}
        self._shared: dict[str, tuple[tuple, Any]] = {}  # kind -> (key, value): one input read by several layers
        self._enabled = True
        first = params[0]
        self._anchor = torch.zeros((), dtype=first.dtype if first.is_floating_point() else torch.float32,
                                   device=first.device, requires_grad=True)
        self._layers = {id(m): m for pairs in roles.values() for m, _ in pairs}
        # layers all of whose trainable parameters have small per-example gradients reduce them in the pass
        self._reduced = {lid for lid, m in self._layers.items()
                         if all(r in _SMALL for _, r in self._own_roles(m))}
        self._handles = [m.register_forward_hook(self._record, with_kwargs=True) for m in self._layers.values()]

    def _own_roles(self, module: Any) -> list[tuple[Any, str]]:
        return [(p, r) for p in module.parameters(recurse=False) if id(p) in self._roles
                for m, r in self._roles[id(p)] if m is module]

    # --- forward: remember inputs, tap outputs ------------------------------------------------------------------

    def _record(self, module: Any, args: tuple, kwargs: dict, output: Any) -> Any:
        import torch

        if not (self._enabled and module.training and torch.is_grad_enabled()):
            return None
        x = next((t for t in (*args, *kwargs.values()) if isinstance(t, torch.Tensor)), None)
        if x is None or not isinstance(output, torch.Tensor):
            raise DPCompatError(f"single-pass clipping: layer {type(module).__name__} was called without a tensor input "
                                "or returned something other than one tensor")
        call = _Call(module, x.detach(), x._version, reduce=self._reduce if id(module) in self._reduced else None)
        self._calls.setdefault(id(module), []).append(call)
        return _Tap.apply(output, self._anchor, call)

    def _reduce(self, call: _Call, grad: Any) -> None:
        """In the backward pass: a normalisation layer's per-example gradients; its input and gradient are let go."""
        batch = int(grad.shape[0])
        self._check(call, grad, batch)
        self._enabled = False  # the functional forward must not be recorded
        try:
            for p, role in self._own_roles(call.module):
                pe = _SMALL[role](call.module, call.x, grad, p, batch)
                call.reduced[id(p)] = pe if id(p) not in call.reduced else call.reduced[id(p)] + pe
        finally:
            self._enabled = True
        call.x = None

    # --- the loss ---------------------------------------------------------------------------------------------------

    def criterion(self, loss_fn: Any) -> Any:
        """The training criterion: ``criterion(logits, labels)`` returns the loss of the physical batch."""
        per_example = copy.copy(loss_fn)
        per_example.reduction = "none"
        clipper = self

        class BookkeepingLoss:
            def __call__(self, logits: Any, labels: Any) -> Any:
                return _BookkeepingTensor(clipper, per_example(logits, labels))

        return BookkeepingLoss()

    def backward(self, losses: Any) -> None:
        """One backward pass to the layer outputs, per-example norms, clipped sums into ``p.grad``."""
        import torch

        try:
            batch = int(losses.shape[0])
            torch.autograd.grad(losses.sum(), [self._anchor], allow_unused=True)
            parts = self._per_example(batch)
            self._release()  # from here on each parameter's part holds what its clipped sum needs
            dtype = torch.promote_types(self.params[0].dtype, torch.float32)
            sq = torch.zeros(batch, dtype=dtype, device=losses.device)
            for part in parts.values():
                sq = sq + part.sq_norms.to(dtype)
            norms = sq.sqrt()
            factors = self.rule.factors(norms, self.max_grad_norm)
            for p in self.params:
                part = parts.pop(id(p))
                g = part.clipped(factors.to(p.dtype)).to(p.dtype)
                del part  # releases this layer's input and output gradient
                p.grad = g if p.grad is None else p.grad + g
            self.per_sample_gradient_norms = norms.detach()
            self.applied_clip_factors = factors.detach()
        finally:
            self._release()

    def _release(self) -> None:
        """Let go of every layer input and output gradient of the physical batch."""
        for calls in self._calls.values():
            for call in calls:
                call.x = call.grad = None
                call.reduced = {}
        self._calls = {}
        self._shared = {}

    # --- per-example contributions by role -----------------------------------------------------------------------

    def _per_example(self, batch: int) -> dict[int, _PerExample]:
        out = {}
        for p in self.params:
            calls, reduced = [], []
            role = self._roles[id(p)][0][1]
            for module, _ in self._roles[id(p)]:
                for call in self._calls.get(id(module), []):
                    if call.reduced:
                        reduced.append(call.reduced[id(p)])
                    elif call.grad is not None:
                        self._check(call, call.grad, batch)
                        calls.append(call)
            if not calls and not reduced:
                raise DPCompatError(f"single-pass clipping: {self.names.get(id(p), '?')} got no gradient through the "
                                    "layers that hold it (is it used outside them?); freeze it with a trainable scope")
            if role in _SMALL:
                total = sum(reduced + [_SMALL[role](c.module, c.x, c.grad, p, batch) for c in calls])
                if total.shape[0] != batch:
                    raise DPCompatError(f"single-pass clipping: {self.names.get(id(p), '?')} got per-example gradients "
                                        f"of batch {total.shape[0]} instead of {batch}")
                out[id(p)] = _summed(total)
                self.norm_methods[self.names.get(id(p), "?")] = "formed"
            else:
                out[id(p)] = getattr(self, "_" + role)(p, calls, batch)
        return out

    def _check(self, call: _Call, grad: Any, batch: int) -> None:
        name = type(call.module).__name__
        if call.x._version != call.version:
            raise DPCompatError(f"single-pass clipping: the input of a {name} layer was changed in place after the layer "
                                "used it; its per-example gradients cannot be formed")
        if call.x.dim() == 0 or call.x.shape[0] != batch or grad.shape[0] != batch:
            raise DPCompatError(f"single-pass clipping: a {name} layer ran on a tensor of shape {tuple(call.x.shape)} "
                                f"whose first dimension is not the batch ({batch})")

    def _once(self, kind: str, key: Any, compute: Any) -> Any:
        """``compute()``, kept while consecutive layers read the same input (``key``; None: nothing to share)."""
        if key is None:
            return compute()
        held = self._shared.get(kind)
        if held is None or held[0] != key:
            self._shared[kind] = held = (key, compute())
        return held[1]

    def _matmul(self, p: Any, calls: list[_Call], batch: int, transposed: bool = False) -> _PerExample:
        """Weight of ``a @ W.T`` (``a @ W`` when ``transposed``): ghost norm or formed gradient, by cost."""
        import torch

        d = p.shape[0] if transposed else p.shape[1]
        a = _joined([_tokens(c.x, batch, 1).to(p.dtype) for c in calls])  # (B, T, d)
        g = _joined([_tokens(c.grad, batch, 1).to(p.dtype) for c in calls])  # (B, T, p)
        tokens, width = a.shape[1], g.shape[-1]
        key = _storage_key(calls[0].x) if len(calls) == 1 else None  # the same input may feed several layers

        def clipped(c: Any) -> Any:
            if key is not None or width > d:  # scale the input (once for the layers reading it), else the narrower side
                scaled = self._once("scaled", key, lambda: (a * c[:, None, None]).reshape(-1, d))
                grad = g.reshape(-1, width).T @ scaled
            else:
                grad = (g * c[:, None, None]).reshape(-1, width).T @ a.reshape(-1, d)  # (p, d)
            return grad.T if transposed else grad

        if 2 * tokens * tokens <= width * d:
            aa = self._once("gram", key, lambda: torch.bmm(a, a.transpose(1, 2)).reshape(batch, 1, -1))
            gg = torch.bmm(g, g.transpose(1, 2)).reshape(batch, -1, 1)
            self.norm_methods[self.names.get(id(p), "?")] = "ghost"
            return _PerExample(torch.bmm(aa, gg).reshape(batch), clipped)
        self.norm_methods[self.names.get(id(p), "?")] = "formed"
        per_example = torch.bmm(g.transpose(1, 2), a)  # (B, p, d)
        sq = per_example.reshape(batch, -1).pow(2).sum(1)
        if per_example.numel() <= a.numel() + g.numel():  # keep it: the clipped sum is then a weighted sum
            return _PerExample(sq, lambda c: (lambda s: s.T if transposed else s)(torch.tensordot(c, per_example, dims=1)))
        return _PerExample(sq, clipped)

    def _matmul_t(self, p: Any, calls: list[_Call], batch: int) -> _PerExample:
        return self._matmul(p, calls, batch, transposed=True)

    def _embedding(self, p: Any, calls: list[_Call], batch: int) -> _PerExample:
        """Rows of an embedding: each example's gradient adds up the output gradients of its equal token ids."""
        import torch

        ids, grads = [], []
        for c in calls:
            i = c.x.reshape(batch, -1)
            g = c.grad.reshape(batch, -1, p.shape[1]).to(p.dtype)
            pad = c.module.padding_idx
            if pad is not None:
                g = g * (i != pad).unsqueeze(-1).to(g.dtype)
            ids.append(i)
            grads.append(g)
        ids_t, g_t = _joined(ids), _joined(grads)
        rows = p.shape[0]
        keys = torch.arange(batch, device=ids_t.device).unsqueeze(1) * rows + ids_t  # (example, token id)
        uniq, inverse = torch.unique(keys.reshape(-1), return_inverse=True)
        sums = torch.zeros(uniq.numel(), p.shape[1], dtype=p.dtype, device=p.device).index_add_(0, inverse, g_t.reshape(-1, p.shape[1]))
        owner = uniq // rows
        self.norm_methods[self.names.get(id(p), "?")] = "token sums"
        sq = torch.zeros(batch, dtype=p.dtype, device=p.device).index_add_(0, owner, sums.pow(2).sum(1))

        def clipped(c: Any) -> Any:
            return torch.zeros_like(p).index_add_(0, uniq % rows, sums * c[owner].unsqueeze(1))

        return _PerExample(sq, clipped)

    def cleanup(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        self._release()


def _summed(per_example: Any) -> _PerExample:
    """A parameter whose per-example gradients (batch, *shape) are formed outright."""
    import torch

    flat = per_example.reshape(per_example.shape[0], -1)
    return _PerExample(flat.pow(2).sum(1), lambda c: torch.tensordot(c.to(per_example.dtype), per_example, dims=1))


class _BookkeepingTensor:
    """The (mean) loss of a physical batch as the training loop sees it; ``backward()`` runs the single pass."""

    def __init__(self, clipper: BookkeepingClipping, losses: Any) -> None:
        self._clipper, self._losses = clipper, losses

    def backward(self) -> None:
        self._clipper.backward(self._losses)

    def detach(self) -> Any:
        return self._losses.detach().mean()

    def item(self) -> float:
        return float(self.detach())

    def __float__(self) -> float:
        return self.item()
