"""Batch sizes for the device: how many texts and padded tokens one forward (or gradient) pass takes.

Every analysis that runs the model on many texts (evaluation, explanations, robustness scoring,
privacy scoring) asks :func:`batch_limits` how large its batches may be. On a CPU the caller's own
CPU sizes are returned unchanged: larger batches do not raise CPU throughput (see
:data:`audit._util.CPU_BATCH_TOKENS`). On a CUDA GPU the token budget is sized from the memory that
is free on the device and a documented estimate of the activation memory per token
(:func:`bytes_per_token`), so the GPU gets batches large enough to keep it busy; the caller's CPU
sizes are the floor and :data:`MAX_TOKENS` the ceiling (beyond it a pass is no faster per token).

Batches only group texts: every row is computed as if its text ran alone (see
:mod:`audit._forward`), so the batch sizes change the speed, not the results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

#: Most padded tokens per pass on a GPU: forward-only passes, and passes that also take gradients.
MAX_TOKENS = {"forward": 131_072, "gradient": 262_144}
#: Most texts per pass on a GPU.
MAX_ROWS = 4096
#: Share of the available device memory a batch may plan to use (the rest: allocator slack, other work).
HEADROOM = 0.5
#: Factor on the activation estimate for what it leaves out (temporaries, kernels' workspaces).
SAFETY = 2.0


@dataclass(frozen=True)
class BatchLimits:
    """At most ``rows`` texts and ``tokens`` padded tokens per pass."""

    rows: int
    tokens: int


def is_cuda(device: Any) -> bool:
    return str(device).startswith("cuda")


def available_bytes(device: Any) -> int | None:
    """Memory a new allocation can use on a CUDA device: free device memory plus what torch's caching
    allocator holds without using it. None on other devices (no such measurement)."""
    import torch

    if not is_cuda(device) or not torch.cuda.is_available():
        return None
    dev = torch.device(device)
    free, _total = torch.cuda.mem_get_info(dev)
    cached = torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev)
    return int(free + max(cached, 0))


def peak_bytes(device: Any, fn: Callable[[], Any]) -> int:
    """Peak CUDA memory ``fn()`` allocates above what was allocated when it started (measured)."""
    import torch

    dev = torch.device(device)
    torch.cuda.synchronize(dev)
    base = torch.cuda.memory_allocated(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    fn()
    torch.cuda.synchronize(dev)
    return int(torch.cuda.max_memory_allocated(dev) - base)


def _text_config(model: Any) -> Any:
    cfg = getattr(model, "config", None)
    return cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg


def _first(cfg: Any, names: tuple[str, ...], default: int) -> int:
    for name in names:
        v = getattr(cfg, name, None)
        if isinstance(v, int) and v > 0:
            return v
    return default


def bytes_per_token(model: Any, length: int, kind: str = "forward") -> float:
    """Estimated activation bytes per padded token of a transformer classifier, from its config.

    With ``H`` the hidden size, ``I`` the feed-forward size (``4H`` when the config has none), ``A``
    the attention heads, ``N`` the layers, ``L`` the padded length and ``s`` the bytes of the
    model's dtype, one layer's working set per token is ``s (6H + 2I + 2AL)`` (residual stream,
    normalised input, queries, keys, values, attention output, feed-forward input and output, the
    attention scores and their softmax). A forward-only pass frees each layer's activations as it
    goes, so it needs one working set; a pass that also takes gradients keeps every layer's for the
    backward pass: ``N`` working sets plus one.
    """
    import torch

    cfg = _text_config(model)
    hidden = _first(cfg, ("hidden_size", "d_model", "n_embd", "dim"), 768)
    inter = _first(cfg, ("intermediate_size", "ffn_dim", "n_inner", "hidden_dim"), 4 * hidden)
    heads = _first(cfg, ("num_attention_heads", "n_head", "n_heads"), 12)
    layers = _first(cfg, ("num_hidden_layers", "n_layer", "n_layers"), 12)
    try:
        size = next(model.parameters()).element_size()
    except (StopIteration, AttributeError):
        size = torch.finfo(torch.float32).bits // 8
    per_layer = size * (6 * hidden + 2 * inter + 2 * heads * max(1, int(length)))
    return float(per_layer * (layers + 1 if kind == "gradient" else 1))


def token_budget(available: int, per_token: float, floor: int, ceiling: int) -> int:
    """Tokens that fit ``HEADROOM`` of ``available`` bytes at ``SAFETY * per_token`` bytes each, within
    ``[floor, ceiling]``."""
    fit = math.floor(HEADROOM * available / (SAFETY * per_token)) if per_token > 0 else ceiling
    return int(min(ceiling, max(floor, fit)))


def batch_limits(bundle: Any, cpu_rows: int, cpu_tokens: int, *, kind: str = "forward", max_length: int | None = None,
                 available: int | None = None) -> BatchLimits:
    """Batch limits of one kind of pass on ``bundle.device``: ``kind`` is ``"forward"`` (scoring) or
    ``"gradient"`` (a backward pass to the inputs, as in integrated gradients).

    On a CPU: ``(cpu_rows, cpu_tokens)``. On a CUDA GPU: the token budget from the available memory
    (``available`` overrides the measurement) and :func:`bytes_per_token` at ``max_length`` (the
    longest padded length a pass can have), and up to :data:`MAX_ROWS` texts.
    """
    if kind not in MAX_TOKENS:
        raise ValueError(f"kind must be one of {', '.join(MAX_TOKENS)}, got {kind!r}")
    if not is_cuda(bundle.device):
        return BatchLimits(int(cpu_rows), int(cpu_tokens))
    free = available if available is not None else available_bytes(bundle.device)
    if free is None:
        return BatchLimits(int(cpu_rows), int(cpu_tokens))
    length = min(int(max_length or bundle.max_length), int(bundle.max_length))
    tokens = token_budget(free, bytes_per_token(bundle.model, length, kind), int(cpu_tokens), MAX_TOKENS[kind])
    return BatchLimits(max(int(cpu_rows), MAX_ROWS), tokens)




class HostRows:
    """Rows of a float64 array filled batch by batch, with one device-to-host transfer.

    ``add(idx, values)`` stores the rows ``idx`` of a batch's results. On a CUDA device the values stay
    on the device until :meth:`result`, which concatenates them and copies them to the host once, so
    the loop over batches never waits for the GPU; elsewhere they are written at once (the CPU path
    may run batches on several threads, each writing only its own rows).
    """

    def __init__(self, shape: tuple[int, ...], device: Any, defer: bool | None = None) -> None:
        import numpy as np

        self.out = np.zeros(shape, dtype=np.float64)
        self.defer = is_cuda(device) if defer is None else bool(defer)
        self._parts: list[tuple[Any, Any]] = []

    def add(self, idx: Any, values: Any) -> None:
        if self.defer:
            self._parts.append((list(idx), values.detach()))
        else:
            self.out[list(idx)] = values.detach().double().cpu().numpy()

    def result(self) -> Any:
        import numpy as np
        import torch

        if self._parts:
            idx = np.concatenate([np.asarray(i, dtype=np.int64) for i, _ in self._parts])
            values = torch.cat([v.double() for _, v in self._parts]).cpu().numpy()
            self.out[idx] = values
            self._parts.clear()
        return self.out


__all__ = ["BatchLimits", "HostRows", "MAX_ROWS", "MAX_TOKENS", "available_bytes", "batch_limits", "bytes_per_token", "peak_bytes",
           "token_budget"]
