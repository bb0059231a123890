"""Classification metrics computed from labels and predicted probabilities (NumPy only).

Single-label classifiers (one label per text, softmax outputs) get :class:`Performance`;
multi-label classifiers (any number of labels per text, one sigmoid per label) get
:class:`MultiLabelPerformance`, where a label is predicted when its probability is at least
:data:`MULTI_LABEL_THRESHOLD` (0.5).
"""

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
    problem_type: str = "single_label"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> dict[str, Any]:
        """The headline numbers recorded per training epoch."""
        return {"accuracy": self.accuracy, "f1_macro": self.f1_macro, "roc_auc": self.roc_auc, "ece": self.ece}


#: A multi-label classifier predicts a label when the label's sigmoid probability is at least this.
MULTI_LABEL_THRESHOLD = 0.5


@dataclass
class MultiLabelPerformance:
    """Held-out performance of a multi-label classifier (labels predicted at ``threshold``).

    ``subset_accuracy`` is the share of texts whose predicted label set equals the true set;
    ``hamming_loss`` the share of wrong (text, label) decisions. Micro averages pool every
    (text, label) decision; macro averages are the unweighted mean over labels. ``roc_auc`` is
    the mean of the per-label ROC-AUCs that are defined (a label that is always or never present
    has none). ``ece`` is the mean over labels of each label's calibration error: per
    probability bin, the gap between the mean probability and the share of texts with the label.
    """

    n: int
    label_names: list[str]
    threshold: float
    subset_accuracy: float
    hamming_loss: float
    precision_micro: float
    recall_micro: float
    f1_micro: float
    precision_macro: float
    recall_macro: float
    f1_macro: float
    roc_auc: float | None
    roc_auc_kind: str
    ece: float
    ece_bins: int
    per_label: list[dict[str, Any]]
    split: str = "eval"
    problem_type: str = "multi_label"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> dict[str, Any]:
        return {"f1_micro": self.f1_micro, "f1_macro": self.f1_macro, "subset_accuracy": self.subset_accuracy,
                "roc_auc": self.roc_auc, "ece": self.ece}


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
    aucs_ovr = [roc_auc_binary(y == c, probs[:, c]) for c in range(k)]
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
        per_class.append({"label": str(label_names[c]), "precision": float(p), "recall": float(r), "f1": float(f),
                          "support": int(cm[c, :].sum()), "roc_auc": aucs_ovr[c]})
    if k == 2:
        auc = roc_auc_binary(y == 1, probs[:, 1])
        kind = "binary"
    else:
        aucs = [a for a in aucs_ovr if a is not None]
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


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else 0.0


def label_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = 15) -> float:
    """Calibration error of one label's probabilities: per equal-width bin of [0, 1], the gap
    between the mean probability and the share of positives, weighted by the bin's size."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if not len(y):
        return 0.0
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in np.unique(bins):
        mask = bins == b
        ece += mask.sum() / len(y) * abs(float(y[mask].mean()) - float(p[mask].mean()))
    return float(ece)


def compute_multilabel_metrics(y_true: np.ndarray, probs: np.ndarray, label_names: Sequence[str], *,
                               threshold: float = MULTI_LABEL_THRESHOLD, ece_bins: int = 15,
                               split: str = "eval") -> MultiLabelPerformance:
    """Per-label and pooled metrics of a multi-label classifier; ``y_true`` is the (n, L) 0/1 matrix."""
    y = np.asarray(y_true, dtype=np.float64) > 0.5
    probs = np.asarray(probs, dtype=np.float64)
    k = len(label_names)
    if y.ndim != 2 or probs.shape != y.shape or y.shape[1] != k:
        raise ValueError(f"labels {y.shape} and probabilities {probs.shape} must both have shape (n, {k})")
    pred = probs >= threshold
    tp = (pred & y).sum(axis=0)
    fp = (pred & ~y).sum(axis=0)
    fn = (~pred & y).sum(axis=0)
    per_label = []
    for j in range(k):
        p, r = _ratio(tp[j], tp[j] + fp[j]), _ratio(tp[j], tp[j] + fn[j])
        per_label.append({"label": str(label_names[j]), "precision": p, "recall": r, "f1": _ratio(2 * p * r, p + r),
                          "support": int(y[:, j].sum()), "predicted": int(pred[:, j].sum()),
                          "roc_auc": roc_auc_binary(y[:, j], probs[:, j]),
                          "ece": label_calibration_error(y[:, j], probs[:, j], ece_bins)})
    p_mi, r_mi = _ratio(tp.sum(), tp.sum() + fp.sum()), _ratio(tp.sum(), tp.sum() + fn.sum())
    aucs = [row["roc_auc"] for row in per_label if row["roc_auc"] is not None]
    n = int(len(y))
    return MultiLabelPerformance(
        n=n,
        label_names=[str(x) for x in label_names],
        threshold=float(threshold),
        subset_accuracy=float((pred == y).all(axis=1).mean()) if n else 0.0,
        hamming_loss=float((pred != y).mean()) if n else 0.0,
        precision_micro=p_mi,
        recall_micro=r_mi,
        f1_micro=_ratio(2 * p_mi * r_mi, p_mi + r_mi),
        precision_macro=float(np.mean([row["precision"] for row in per_label])),
        recall_macro=float(np.mean([row["recall"] for row in per_label])),
        f1_macro=float(np.mean([row["f1"] for row in per_label])),
        roc_auc=float(np.mean(aucs)) if aucs else None,
        roc_auc_kind="macro_per_label",
        ece=float(np.mean([row["ece"] for row in per_label])),
        ece_bins=ece_bins,
        per_label=per_label,
        split=split,
    )


def dataset_metrics(dataset: Any, probs: np.ndarray, label_names: Sequence[str], *, split: str = "eval") -> Any:
    """The metrics that fit the dataset: multi-label or single-label."""
    if getattr(dataset, "multi_label", False):
        return compute_multilabel_metrics(dataset.label_matrix(), probs, label_names, split=split)
    return compute_metrics(dataset.labels, probs, label_names, split=split)


def evaluate(bundle: Any, dataset: Any, *, batch_size: int = 64, max_length: int | None = None,
             split: str = "eval") -> tuple[Performance | MultiLabelPerformance, np.ndarray]:
    """Run the model over a dataset; returns the metrics and the probability matrix."""
    from .models import check_compatible

    check_compatible(bundle, dataset)
    probs = bundle.predict_proba(dataset.texts, batch_size=batch_size, max_length=max_length)
    return dataset_metrics(dataset, probs, bundle.label_names, split=split), probs


#: Digits the per-example probabilities are rounded to in results.json (keeps the record small).
PER_EXAMPLE_DIGITS = 6


def per_example_outcomes(dataset: Any, probs: np.ndarray, *, threshold: float = MULTI_LABEL_THRESHOLD) -> dict[str, Any]:
    """Each evaluation example's outcome as compact columns (no text): the example ids, the true
    and predicted labels, and for a single-label classifier the probability of the true label.

    A multi-label classifier's ``true`` and ``predicted`` hold each example's label ids (labels
    predicted at probability >= ``threshold``). ``audit compare`` pairs two models' outcomes on
    the same examples to put a paired confidence interval on their accuracy difference.
    """
    probs = np.asarray(probs, dtype=np.float64)
    ids = [str(i) for i in dataset.ids]
    if getattr(dataset, "multi_label", False):
        truth = np.asarray(dataset.label_matrix()) > 0.5
        pred = probs >= threshold
        return {"ids": ids, "true": [np.flatnonzero(row).tolist() for row in truth],
                "predicted": [np.flatnonzero(row).tolist() for row in pred], "threshold": float(threshold)}
    y = np.asarray(dataset.labels, dtype=int)
    p_true = probs[np.arange(len(y)), y] if len(y) else np.zeros(0)
    return {"ids": ids, "true": y.tolist(), "predicted": probs.argmax(axis=1).tolist() if len(y) else [],
            "p_true": [round(float(p), PER_EXAMPLE_DIGITS) for p in p_true]}
