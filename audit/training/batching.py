"""The physical batch size of private training, chosen from the device's memory.

DP-SGD's logical batch (Poisson-sampled, expected size ``batch_size``) is what the privacy accounting
describes. It is processed in physical batches of at most ``max_physical_batch_size`` examples
whose clipped per-example gradients are added up before the noise is added once per logical step.
The physical size therefore changes memory use and speed, never which examples a step samples, the
noise or epsilon.

:func:`choose_physical_batch` picks it:

* a size the user gave is used as it is;
* on a CPU (or under ``torchrun``, where every process must make the same choice) the library's
  default is used;
* on a CUDA GPU it is **measured**: :func:`probe_step` runs the real training step (the forward
  pass, the clipping backward pass of the chosen mode, no optimizer step; the gradients are
  discarded and the random state restored) on the longest training texts at two batch sizes, and
  the peak memory each needs above what was already allocated gives a fixed cost and a cost per
  example (:func:`linear_cost`). The physical batch is the largest that fits :data:`HEADROOM` of the
  available memory (:func:`fit_batch`), at most the largest logical batch Poisson sampling is
  expected to draw (:func:`largest_logical_batch`).

The longest texts are the worst case: a physical batch is padded to its own longest text, and the
training set is ordered by length, so every other physical batch needs less.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable

#: Share of the available device memory the physical batch may plan to use.
HEADROOM = 0.8
#: Batch sizes of the memory probe.
PROBE_SIZES = (2, 6)


@dataclass
class PhysicalBatch:
    """The physical batch size of a run and how it was chosen; stored in the training record."""

    size: int
    source: str  # "given", "default" or "measured"
    reason: str = ""
    available_bytes: int | None = None
    fixed_bytes: float | None = None
    bytes_per_example: float | None = None
    probe_sizes: list[int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def largest_logical_batch(batch_size: int, n: int) -> int:
    """Four standard deviations above the expected Poisson-sampled batch, at most ``n``: a physical
    batch this large holds nearly every logical batch in one pass."""
    q = batch_size / n
    return int(min(n, math.ceil(batch_size + 4.0 * math.sqrt(max(batch_size * (1.0 - q), 0.0)))))


def linear_cost(measure: Callable[[int], float], sizes: tuple[int, int] = PROBE_SIZES) -> tuple[float, float]:
    """``(fixed bytes, bytes per example)`` of a step from its measured peak memory at two batch sizes."""
    b1, b2 = sizes
    if not 0 < b1 < b2:
        raise ValueError(f"probe sizes must be increasing and positive, got {sizes}")
    m1, m2 = float(measure(b1)), float(measure(b2))
    per_example = max((m2 - m1) / (b2 - b1), m2 / b2 * 1e-3, 1.0)  # memory can only grow with the batch
    fixed = max(m1 - b1 * per_example, 0.0)
    return fixed, per_example


def fit_batch(available: float, fixed: float, per_example: float, cap: int, headroom: float = HEADROOM) -> int:
    """The largest batch ``b`` with ``fixed + b * per_example <= headroom * available``, within ``[1, cap]``."""
    room = headroom * available - fixed
    b = math.floor(room / per_example) if per_example > 0 else cap
    return int(min(cap, max(1, b)))


def probe_step(model: Any, forward: Any, criterion: Any, opt: Any, loader: Any, size: int) -> None:
    """One training forward and clipping backward pass on the ``size`` longest training examples,
    without an optimizer step; gradients and per-example state are cleared and the random state is
    restored afterwards, so the run continues as if the probe had not happened."""
    import torch

    model.train()
    dataset = loader.dataset
    n = len(dataset)
    items = [dataset[j] for j in range(max(0, n - size), n)]
    batch = loader.collate_fn(items)
    devices = [batch["input_ids"].device] if batch["input_ids"].is_cuda else []
    with torch.random.fork_rng(devices=devices):
        try:
            labels = batch.pop("labels")
            loss = criterion(forward(**batch).logits, labels)
            loss.backward()
        finally:
            opt.zero_grad(set_to_none=True)


def choose_physical_batch(requested: int | None, *, device: str, batch_size: int, n: int, default: int,
                          distributed: bool = False, step: Callable[[int], Any] | None = None,
                          measure: Callable[[int], float] | None = None,
                          available: int | None = None) -> PhysicalBatch:
    """The physical batch size of a private run (see the module docstring).

    ``step(b)`` runs :func:`probe_step` at batch size ``b``; on a CUDA device its peak memory is
    measured. ``measure`` (bytes a step of ``b`` examples needs) and ``available`` (bytes) replace
    the device measurements when given.
    """
    cap = largest_logical_batch(batch_size, n)
    if requested is not None:
        return PhysicalBatch(int(requested), "given", "max_physical_batch_size given")
    cuda = str(device).startswith("cuda")
    if distributed:
        return PhysicalBatch(default, "default", "several processes: each uses the default")
    if measure is None and (not cuda or step is None):
        return PhysicalBatch(default, "default", f"device {device!r} has no memory measurement")
    from .._device import available_bytes, peak_bytes

    if measure is None:
        def measure(b: int) -> float:
            return float(peak_bytes(device, lambda: step(b)))
    free = available if available is not None else available_bytes(device)
    if free is None:
        return PhysicalBatch(default, "default", f"device {device!r} has no memory measurement")
    sizes = tuple(min(s, n) for s in PROBE_SIZES)
    if sizes[0] >= sizes[1]:
        return PhysicalBatch(default, "default", f"{n} training examples are too few to measure")
    fixed, per_example = linear_cost(measure, sizes)  # type: ignore[arg-type]
    size = fit_batch(free, fixed, per_example, cap)
    return PhysicalBatch(size, "measured", f"{HEADROOM:.0%} of the available device memory at the longest training texts",
                         available_bytes=int(free), fixed_bytes=fixed, bytes_per_example=per_example,
                         probe_sizes=list(sizes))


__all__ = ["HEADROOM", "PhysicalBatch", "choose_physical_batch", "fit_batch", "largest_logical_batch", "linear_cost",
           "probe_step"]
