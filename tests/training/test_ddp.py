"""Multi-process private training under torchrun (gloo on CPU): same accounting as one process, replicas in sync."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from audit.data import TextDataset, save_dataset
from audit.models import load_model
from audit.training.ddp import DistributedPoissonSampler
from audit.training.private import fine_tune_private


def _data(n: int = 48) -> TextDataset:
    rng = np.random.default_rng(0)
    pos, neg = ["good", "great", "superb", "lovely"], ["bad", "awful", "dull", "poor"]
    texts = [f"the film was {rng.choice(pos if i % 2 else neg)} and the cast was fine {i}" for i in range(n)]
    return TextDataset(texts=texts, labels=[i % 2 for i in range(n)], label_names=["neg", "pos"])


def test_distributed_sampler_is_poisson_over_the_whole_dataset():
    n, q, world = 1000, 0.2, 2
    shards = [DistributedPoissonSampler(num_samples=n, sample_rate=q, steps=200, rank=r, world_size=world,
                                        generator=torch.Generator().manual_seed(10 + r)) for r in range(world)]
    counts = np.zeros(n)
    steps = 0
    for batches in zip(*shards):
        steps += 1
        seen = [i for b in batches for i in b]
        assert len(seen) == len(set(seen))  # ranks never share an example
        assert all(i % world == r for r, b in enumerate(batches) for i in b)  # each rank draws from its own shard
        counts[seen] += 1
    assert steps == 200 and len(shards[0]) == 200
    rate = counts / steps
    assert abs(rate.mean() - q) < 0.01  # every example is included with probability q
    assert rate.std() < 4 * np.sqrt(q * (1 - q) / steps)
    empty = DistributedPoissonSampler(num_samples=4, sample_rate=0.01, steps=50, rank=0, world_size=2,
                                      generator=torch.Generator().manual_seed(0))
    assert sum(1 for b in empty if not b) > 0  # empty local batches are yielded, not skipped


def test_two_processes_record_the_same_epsilon_as_one(tiny_dirs, tmp_path):
    data = _data()
    save_dataset(data, tmp_path / "train.csv")
    args = ["--train", str(tmp_path / "train.csv"), "--model", str(tiny_dirs["bert"]), "--noise-multiplier", "1.1",
            "--epochs", "1", "--batch-size", "12", "--physical-batch-size", "4", "--scope", "all-but-word-embeddings",
            "--device", "cpu", "--no-progress", "--seed", "5"]
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", "-m", "audit.training",
           *args, "--summary", str(tmp_path / "ddp.json"), "--out", str(tmp_path / "ckpt")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = json.loads((tmp_path / "ddp.json").read_text())
    led2 = ddp["privacy_ledger"]
    assert ddp["world_size"] == 2 and led2["world_size"] == 2
    assert len(set(ddp["rank_model_sha256"])) == 1  # the replicas stayed identical
    assert load_model(tmp_path / "ckpt", device="cpu").sha256 == ddp["rank_model_sha256"][0] == led2["model_sha256"]

    one = load_model(tiny_dirs["bert"], device="cpu", label_names=data.label_names)
    rec1 = fine_tune_private(one, data, noise_multiplier=1.1, epochs=1, batch_size=12, max_physical_batch_size=4,
                             trainable="all-but-word-embeddings", seed=5, show_progress=False, cross_check=False)
    led1 = rec1.ledger
    for key in ("sample_rate", "steps", "noise_multiplier", "delta", "accountant", "logical_batch_size", "dataset_sha256",
                "trainable_parameters"):
        assert led2[key] == led1[key], key
    assert led2["epsilon"] == pytest.approx(led1["epsilon"], rel=1e-9)
    assert led2["epsilon"] > 0
    assert ddp["rank_model_sha256"][0] != load_model(tiny_dirs["bert"], device="cpu").sha256  # it trained
