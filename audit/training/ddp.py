"""Multi-process private training: process-group setup and a distributed Poisson sampler.

Under ``torchrun`` each process trains a replica; Opacus' ``DifferentiallyPrivateDistributedDataParallel``
keeps the replicas' weights equal (broadcast at start), each process clips the per-example
gradients of its own examples, only rank 0 adds the Gaussian noise, and the optimizer sums the
gradients over processes before the step. Sampling must stay Poisson for the *whole* dataset:
:class:`DistributedPoissonSampler` gives each rank a fixed shard and selects every example of
it independently with the global sampling rate ``q``, so the union over ranks is exactly a
Poisson sample of the dataset with rate ``q`` and the accounting is the same as in one process.

Unlike Opacus' distributed sampler, it yields empty local batches instead of skipping them, so
every rank takes the same number of steps (a skipped step on one rank would desynchronise the
collective operations).

Launch (see docs/privacy.md)::

    torchrun --nproc_per_node=4 -m audit.training --demo --epsilon 8 --out out/private
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class DistContext:
    """Where this process sits in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current() -> DistContext:
    """The context of the running process group (rank 0 of 1 when there is none)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(),
                           local_rank=int(os.environ.get("LOCAL_RANK", dist.get_rank())), backend=dist.get_backend())
    return DistContext()


def init_from_env(backend: str | None = None) -> DistContext:
    """Join the process group described by torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR, ...).

    ``backend=None`` picks ``nccl`` when CUDA is available and ``gloo`` otherwise. Without a
    torchrun environment (WORLD_SIZE unset or 1) nothing is initialised.
    """
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    if not dist.is_initialized():
        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
    return current()


def shutdown() -> None:
    """Leave the process group (no-op when none is initialised)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def device_for(ctx: DistContext, device: str = "auto") -> str:
    """The device of this rank: ``cuda:<local_rank>`` under CUDA, else what ``device`` resolves to."""
    from .._util import resolve_device

    dev = resolve_device(device)
    if dev == "cuda" and ctx.distributed:
        return f"cuda:{ctx.local_rank}"
    return dev


class DistributedPoissonSampler:
    """Per-rank Poisson sampling with the global rate: each rank owns indices ``rank::world_size``.

    Yields ``steps`` lists of dataset indices per pass (ascending, possibly empty). Each rank
    needs its own generator (seeded differently), so that the selections of different ranks are
    independent.
    """

    def __init__(self, *, num_samples: int, sample_rate: float, steps: int, rank: int, world_size: int, generator: Any) -> None:
        if not 0 < sample_rate <= 1:
            raise ValueError(f"sample rate must be in (0, 1], got {sample_rate}")
        self.num_samples = num_samples
        self.sample_rate = sample_rate
        self.steps = steps
        self.rank = rank
        self.world_size = world_size
        self.generator = generator
        self._shard = list(range(rank, num_samples, world_size))

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[list[int]]:
        import torch

        shard = torch.tensor(self._shard, dtype=torch.long)
        for _ in range(self.steps):
            mask = torch.rand(len(self._shard), generator=self.generator) < self.sample_rate
            yield shard[mask].tolist()


def all_gather_objects(obj: Any) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` (just ``[obj]`` without a process group)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out
