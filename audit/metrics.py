"""Classification metrics computed from labels and predicted probabilities (NumPy only)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np


@dataclass
class Performance:
    """Held-out performance of a classifier; plain data with :meth:`to_dict`."""

    n: int
    label_names: list[str]
    accuracy: float
    precision_macro: float
    recall_macro: float
    f1_macro: float
    roc_auc: float | None
    roc_auc_kind: str
    ece: float
    ece_bins: int
    confusion_matrix: list[list[int]]
    per_class: list[dict[str, Any]]
    reliability: list[dict[str, float]]
    split: str = "eval"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def roc_auc_binary(y: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the ROC curve via the rank statistic (ties count one half). None if one class is absent."""
    y = np.asarray(y).astype(bool)
    score = np.asarray(score, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    from scipy.stats import rankdata

    ranks = rankdata(score)  # ties get the average of their ranks
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def expected_calibration_error(y: np.ndarray, probs: np.ndarray, n_bins: int = 15) -> tuple[float, list[dict[str, float]]]:
    """ECE with equal-width confidence bins over (0, 1]; also returns the reliability table."""
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ece = 0.0
    table = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        mask = (conf > lo) & (conf <= hi)
        count = int(mask.sum())
        if count == 0:
            continue
        acc, c = float(correct[mask].mean()), float(conf[mask].mean())
        ece += count / len(y) * abs(acc - c)
        table.append({"lower": float(lo), "upper": float(hi), "confidence": c, "accuracy": acc, "count": count})
    return float(ece), table


def compute_metrics(y_true: Sequence[int], probs: np.ndarray, label_names: Sequence[str], *, ece_bins: int = 15, split: str = "eval") -> Performance:
    """Accuracy, macro precision/recall/F1, ROC-AUC (binary or macro one-vs-rest), confusion matrix, ECE."""
    y = np.asarray(y_true, dtype=int)
    probs = np.asarray(probs, dtype=np.float64)
    k = len(label_names)
    if probs.shape != (len(y), k):
        raise ValueError(f"probabilities have shape {probs.shape}, expected ({len(y)}, {k})")
    pred = probs.argmax(axis=1)
    cm = np.zeros((k, k), dtype=int)
    np.add.at(cm, (y, pred), 1)
    per_class = []
    precisions, recalls, f1s = [], [], []
    for c in range(k):
        tp = cm[c, c]
        fp = cm[:, c].sum() - tp
        fn = cm[c, :].sum() - tp
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        precisions.append(p)
        recalls.append(r)
        f1s.append(f)
        per_class.append({"label": str(label_names[c]), "precision": float(p), "recall": float(r), "f1": float(f), "support": int(cm[c, :].sum())})
    if k == 2:
        auc = roc_auc_binary(y == 1, probs[:, 1])
        kind = "binary"
    else:
        aucs = [roc_auc_binary(y == c, probs[:, c]) for c in range(k)]
        aucs = [a for a in aucs if a is not None]
        auc = float(np.mean(aucs)) if aucs else None
        kind = "macro_ovr"
    ece, table = expected_calibration_error(y, probs, ece_bins)
    return Performance(
        n=int(len(y)),
        label_names=[str(n) for n in label_names],
        accuracy=float((pred == y).mean()) if len(y) else 0.0,
        precision_macro=float(np.mean(precisions)),
        recall_macro=float(np.mean(recalls)),
        f1_macro=float(np.mean(f1s)),
        roc_auc=auc,
        roc_auc_kind=kind,
        ece=ece,
        ece_bins=ece_bins,
        confusion_matrix=cm.tolist(),
        per_class=per_class,
        reliability=table,
        split=split,
    )


def evaluate(bundle: Any, dataset: Any, *, batch_size: int = 64, max_length: int | None = None, split: str = "eval") -> tuple[Performance, np.ndarray]:
    """Run the model over a dataset; returns the metrics and the probability matrix."""
    from .models import check_compatible

    check_compatible(bundle, dataset)
    probs = bundle.predict_proba(dataset.texts, batch_size=batch_size, max_length=max_length)
    return compute_metrics(dataset.labels, probs, bundle.label_names, split=split), probs
