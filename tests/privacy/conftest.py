"""Fixtures for the privacy tests: random-label demo data and a tiny model that memorised it.

Random labels leave a model nothing to learn but the records themselves, so a tiny BERT trained
long enough on them is a clear membership-inference target; held-out records of the same
distribution are the non-members.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from audit.data import TextDataset


@contextmanager
def single_thread():
    """Tiny models run faster on one thread on a shared machine; the previous setting is restored."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Every privacy test module runs single-threaded; other test directories are not affected."""
    with single_thread():
        yield


@dataclass
class Splits:
    train: TextDataset
    holdout: TextDataset
    population: TextDataset
    audit_pool: TextDataset


@pytest.fixture(scope="session")
def random_label_splits() -> Splits:
    from audit.demo import make_demo_dataset

    ds = make_demo_dataset(240, seed=11)
    labels = np.random.default_rng(11).integers(0, 2, len(ds)).tolist()
    ds = TextDataset(texts=ds.texts, labels=labels, label_names=ds.label_names, ids=ds.ids, source="random-label reviews")
    return Splits(train=ds.subset(range(0, 40)), holdout=ds.subset(range(40, 80)), population=ds.subset(range(80, 160)),
                  audit_pool=ds.subset(range(160, 200)))


@dataclass
class Memorised:
    bundle: Any
    train: TextDataset  # exactly what the model was trained on (with canaries and included audit records)
    clean_train: TextDataset
    holdout: TextDataset
    population: TextDataset
    canaries: Any
    records: Any
    base_dir: Any


@pytest.fixture(scope="session")
def memorised(tiny_dirs, random_label_splits) -> Memorised:
    from audit.models import load_model
    from audit.privacy import plant_canaries, split_audit_records
    from audit.training import fine_tune

    s = random_label_splits
    records = split_audit_records(s.audit_pool, seed=0)
    train, spec = plant_canaries(records.training_set(s.train), k=2, repetitions=(1, 8), n_digits=4, seed=0)
    bundle = load_model(tiny_dirs["bert"], device="cpu", label_names=s.train.label_names)
    with single_thread():
        fine_tune(bundle, train, epochs=30, lr=3e-3, batch_size=16, seed=0, show_progress=False)
    return Memorised(bundle=bundle, train=train, clean_train=s.train, holdout=s.holdout, population=s.population,
                     canaries=spec, records=records, base_dir=tiny_dirs["bert"])
