"""The training loss of single-label and multi-label classifiers, in one criterion.

Single-label batches carry integer class ids and get cross-entropy; multi-label batches carry a
float 0/1 matrix (``TextDataset.label_matrix()`` rows) and get binary cross-entropy with logits,
summed over the labels of an example. ``reduction`` works like torch's losses (``"mean"`` over
the examples of the batch, ``"sum"``, or ``"none"`` for one loss per example), which is what
Opacus' per-example clipping expects of a criterion.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


class ClassificationLoss(torch.nn.Module):
    """Cross-entropy for class ids, per-label binary cross-entropy (summed per example) for 0/1 rows."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.is_floating_point():
            if target.shape != logits.shape:
                raise ValueError(f"multi-label targets have shape {tuple(target.shape)}, the logits {tuple(logits.shape)}")
            per_example = F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype), reduction="none").sum(dim=1)
        else:
            per_example = F.cross_entropy(logits, target, reduction="none")
        return _reduce(per_example, self.reduction)


def _reduce(per_example: torch.Tensor, reduction: str) -> Any:
    if reduction == "none":
        return per_example
    return per_example.sum() if reduction == "sum" else per_example.mean()


def training_labels(dataset: Any) -> list[Any]:
    """Per-example targets: class ids, or for multi-label data the rows of the 0/1 label matrix."""
    if getattr(dataset, "multi_label", False):
        return [row.tolist() for row in dataset.label_matrix()]
    return [int(y) for y in dataset.labels]
