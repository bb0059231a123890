"""Audit transformer text classifiers for explainability, robustness and privacy.

The public API is listed in ``__all__`` and resolved lazily, so ``import audit`` (and
``audit --help``) does not pay for torch, transformers or captum until they are used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # models
    "ModelBundle": "audit.models",
    "ModelError": "audit.models",
    "load_model": "audit.models",
    "check_compatible": "audit.models",
    "measure_truncation": "audit.truncation",
    # data
    "TextDataset": "audit.data",
    "DataError": "audit.data",
    "load_dataset": "audit.data",
    "save_dataset": "audit.data",
    "make_demo_dataset": "audit.demo",
    "demo_splits": "audit.demo",
    # training and evaluation
    "fine_tune": "audit.training.finetune",
    "TrainingRecord": "audit.training.finetune",
    "fine_tune_private": "audit.training.private",
    "PrivateTrainingRecord": "audit.training.private",
    "PrivacyLedger": "audit.training.ledger",
    "evaluate": "audit.metrics",
    "compute_metrics": "audit.metrics",
    "Performance": "audit.metrics",
    "compute_multilabel_metrics": "audit.metrics",
    "MultiLabelPerformance": "audit.metrics",
    # attribution
    "Attribution": "audit.attribution.base",
    "IntegratedGradients": "audit.attribution.integrated_gradients",
    "AttentionRollout": "audit.attribution.attention",
    "attention_maps": "audit.attribution.attention",
    "SHAPText": "audit.attribution.shap_text",
    "Occlusion": "audit.attribution.occlusion",
    "GradientXInput": "audit.attribution.gradient_x_input",
    "evaluate_faithfulness": "audit.attribution.faithfulness",
    # robustness and privacy audits
    "RobustnessProbe": "audit.robustness.probe",
    "ProbeConfig": "audit.robustness.probe",
    "audit_privacy": "audit.privacy",
    # results and pipeline
    "AuditResult": "audit.results",
    "Check": "audit.results",
    "AuditConfig": "audit.pipeline",
    "DemoConfig": "audit.pipeline",
    "run_audit": "audit.pipeline",
    "run_demo": "audit.pipeline",
    "write_outputs": "audit.pipeline",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'audit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
