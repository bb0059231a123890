"""Plain (non-private) fine-tuning with dynamic padding, evaluation each epoch and a training record."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._util import atomic_write_json, progress, set_seed
from ..models import ModelBundle, adopt_label_names, adopt_problem_type, check_compatible


@dataclass
class TrainingRecord:
    """What was trained, on what, with which settings, and how it went."""

    config: dict[str, Any]
    seed: int
    data_sha256: str
    n_train: int
    n_eval: int
    epochs: list[dict[str, Any]] = field(default_factory=list)
    wall_time_s: float = 0.0
    checkpoint: str | None = None
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _encode(bundle: ModelBundle, texts: list[str], max_length: int) -> list[list[int]]:
    limit = min(max_length, bundle.max_length)
    return bundle.tokenizer(texts, truncation=True, max_length=limit)["input_ids"]


def _collate(bundle: ModelBundle, ids: list[list[int]], labels: list[Any] | None = None) -> dict[str, Any]:
    """Padded batch (on the tokenizer's padding side, as ``tokenizer.pad`` pads it, in a fraction of its
    time: this runs before every training step); ``labels`` are class ids (long) or multi-label 0/1 rows (float)."""
    import torch

    batch = bundle.pad({"input_ids": ids, "attention_mask": [[1] * len(x) for x in ids]}, range(len(ids)))
    out = {k: batch[k].to(bundle.device, non_blocking=True) for k in ("input_ids", "attention_mask")}
    if labels is not None:
        multi = bool(labels) and isinstance(labels[0], (list, tuple))
        out["labels"] = torch.tensor(labels, dtype=torch.float32 if multi else torch.long, device=bundle.device)
    return out


def decay_groups(params: list[Any], weight_decay: float) -> list[dict[str, Any]]:
    """Optimizer parameter groups: weight decay on matrices, none on biases and norm weights."""
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def adamw(params: list[Any], *, lr: float, weight_decay: float, device: str) -> tuple[Any, bool]:
    """AdamW with weight decay on matrices only; the fused implementation where torch has it for the device.

    Fused AdamW updates every parameter in one pass instead of a loop of element-wise operations per
    tensor: several times faster, on a CPU as well as on a GPU. Returns ``(optimizer, fused)``.
    """
    import torch

    groups = decay_groups(params, weight_decay)
    kind = torch.device(device).type
    fused = kind in ("cpu", "cuda") and all(p.dtype in (torch.float32, torch.float16, torch.bfloat16) for p in params)
    if fused:
        try:
            return torch.optim.AdamW(groups, lr=lr, fused=True), True
        except (RuntimeError, TypeError):  # a torch build without the fused kernel for this device
            pass
    return torch.optim.AdamW(groups, lr=lr), False


def fine_tune(
    bundle: ModelBundle,
    train: Any,
    eval: Any = None,
    *,
    epochs: int = 3,
    lr: float = 5e-5,
    batch_size: int = 32,
    max_length: int = 128,
    seed: int = 0,
    weight_decay: float = 0.01,
    warmup_ratio: float = 0.1,
    freeze_embeddings: bool = False,
    out_dir: str | Path | None = None,
    show_progress: bool = True,
    precision: str = "auto",
) -> TrainingRecord:
    """Fine-tune ``bundle.model`` in place on ``train`` (a TextDataset) with AdamW and a linear schedule.

    Batches are padded to their longest text only. After each epoch the model is evaluated on
    ``eval`` when given. Multi-label data (``train.multi_label``) trains a sigmoid head with
    binary cross-entropy against ``train.label_matrix()`` (a new head is made multi-label; its
    config records ``problem_type``). With ``out_dir`` the model is saved there (safetensors, written atomically)
    together with ``training.json`` (config, seed, data hash, metrics).

    ``precision`` is ``"auto"`` (bfloat16 autocast on a CUDA GPU that supports it, float32 otherwise),
    ``"bf16"`` or ``"fp32"`` (:mod:`.precision`); the weights and the optimizer stay float32 either way.
    """
    import torch
    from torch.profiler import record_function

    from ..metrics import dataset_metrics
    from .losses import ClassificationLoss, training_labels
    from .precision import autocast, resolve_precision

    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ValueError("epochs and batch_size must be >= 1 and lr > 0")
    adopt_label_names(bundle, train.label_names)
    adopt_problem_type(bundle, train.multi_label)
    check_compatible(bundle, train)
    if eval is not None:
        check_compatible(bundle, eval)
    amp = resolve_precision(precision, bundle.device)
    set_seed(seed)
    config = {
        "epochs": epochs, "lr": lr, "batch_size": batch_size, "max_length": max_length, "weight_decay": weight_decay,
        "warmup_ratio": warmup_ratio, "freeze_embeddings": freeze_embeddings, "optimizer": "AdamW", "schedule": "linear",
        "problem_type": bundle.model.config.problem_type or "single_label_classification",
        "loss": "binary_cross_entropy_summed_over_labels" if train.multi_label else "cross_entropy",
        "precision": amp.precision, "precision_detail": amp.to_dict(),
    }
    record = TrainingRecord(config=config, seed=seed, data_sha256=train.sha256, n_train=len(train),
                            n_eval=len(eval) if eval is not None else 0, device=bundle.device)
    model = bundle.model
    if freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt, fused = adamw(params, lr=lr, weight_decay=weight_decay, device=bundle.device)
    config["optimizer_fused"] = fused
    steps_per_epoch = math.ceil(len(train) / batch_size)
    total = steps_per_epoch * epochs
    warmup = int(total * warmup_ratio)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total - warmup))
    )
    ids = _encode(bundle, train.texts, max_length)
    labels = training_labels(train)
    loss_fn = ClassificationLoss("mean")
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = rng.permutation(len(train))
        losses = []
        bar = progress(range(steps_per_epoch), desc=f"fine-tune epoch {epoch}/{epochs}", enabled=show_progress, unit="batch")
        for s in bar:
            idx = order[s * batch_size : (s + 1) * batch_size]
            with record_function("textaudit.collate"):
                batch = _collate(bundle, [ids[i] for i in idx], [labels[i] for i in idx])
                target = batch.pop("labels")
            with record_function("textaudit.forward"), autocast(amp, bundle.device):
                logits = model(**batch).logits
                loss = loss_fn(logits.float(), target)
            with record_function("textaudit.backward"):
                loss.backward()
            with record_function("textaudit.optimizer"):
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
            losses.append(loss.detach())
            if s % 10 == 0 and show_progress:
                bar.set_postfix(loss=f"{float(torch.stack(losses[-10:]).mean()):.3f}")
        bar.close()
        model.eval()
        train_loss = float(torch.stack(losses).double().mean()) if losses else float("nan")
        entry: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss, "seconds": time.perf_counter() - t0}
        if eval is not None:
            probs = bundle.predict_proba(eval.texts, max_length=max_length)
            entry["eval"] = dataset_metrics(eval, probs, bundle.label_names).summary()
        record.epochs.append(entry)
    if freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(True)
    model.eval()
    bundle.head_initialized = False  # the head is trained now
    bundle.invalidate_identity()
    record.wall_time_s = time.perf_counter() - start
    if out_dir is not None:
        save_checkpoint(bundle, out_dir, record)
    return record


def save_checkpoint(bundle: ModelBundle, out_dir: str | Path, record: Any) -> Path:
    """Save model + tokenizer (safetensors) and the training record, each written atomically."""
    out_dir = Path(out_dir)
    record.checkpoint = str(out_dir)
    bundle.save(out_dir)
    atomic_write_json(out_dir / "training.json", {**record.to_dict(), "model_sha256": bundle.sha256})
    return out_dir
