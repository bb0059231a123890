"""Fine-tuning: a plain loop (:mod:`.finetune`) and differentially private training (:mod:`.private`).

The private path imports Opacus, so it is loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from .finetune import TrainingRecord, fine_tune

_LAZY = {
    "fine_tune_private": ".private",
    "PrivateTrainingRecord": ".private",
    "load_ledger": ".private",
    "PrivacyLedger": ".ledger",
    "compute_epsilon": ".ledger",
}

__all__ = ["TrainingRecord", "fine_tune", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'audit.training' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
