"""The held-out metrics a card reports, as Hugging Face ``model-index`` evaluation results."""

from __future__ import annotations

import math
from typing import Any

# (results key, Hub metric type, display name, metric config)
SINGLE_LABEL: tuple[tuple[str, str, str, str | None], ...] = (
    ("accuracy", "accuracy", "Accuracy", None),
    ("precision_macro", "precision", "Precision (macro)", "macro"),
    ("recall_macro", "recall", "Recall (macro)", "macro"),
    ("f1_macro", "f1", "F1 (macro)", "macro"),
    ("roc_auc", "roc_auc", "ROC-AUC", None),
    ("ece", "ece", "Expected calibration error", None),
)
MULTI_LABEL: tuple[tuple[str, str, str, str | None], ...] = (
    ("subset_accuracy", "accuracy", "Subset accuracy", "subset"),
    ("hamming_loss", "hamming_loss", "Hamming loss", None),
    ("f1_micro", "f1", "F1 (micro)", "micro"),
    ("precision_micro", "precision", "Precision (micro)", "micro"),
    ("recall_micro", "recall", "Recall (micro)", "micro"),
    ("f1_macro", "f1", "F1 (macro)", "macro"),
    ("precision_macro", "precision", "Precision (macro)", "macro"),
    ("recall_macro", "recall", "Recall (macro)", "macro"),
    ("roc_auc", "roc_auc", "ROC-AUC", None),
    ("ece", "ece", "Calibration error (mean over labels)", None),
)


def metric_table(perf: dict[str, Any]) -> list[tuple[str, str, str, str | None, float]]:
    """(results key, Hub type, display name, config, value) of every finite metric in ``perf``."""
    spec = MULTI_LABEL if perf.get("problem_type") == "multi_label" else SINGLE_LABEL
    out = []
    for key, kind, name, config in spec:
        value = perf.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out.append((key, kind, name, config, float(value)))
    return out
