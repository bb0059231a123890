"""Private fine-tuning from the command line, in one process or several under ``torchrun``.

    python -m audit.training --demo --epsilon 8 --out out/private
    torchrun --nproc_per_node=4 -m audit.training --train train.csv --eval eval.csv --epsilon 8 --out out/private

Every process loads the same data and model; rank 0 saves the checkpoint (model, tokenizer,
training.json, privacy_ledger.json) and, with ``--summary``, a JSON file with the training record,
the ledger and the weight hash of every rank (equal when the replicas stayed in sync).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


def build_parser() -> argparse.ArgumentParser:
    from .clipping import GRAD_SAMPLE_MODES
    from .private import DEFAULTS

    p = argparse.ArgumentParser(prog="python -m audit.training", description="Differentially private fine-tuning (DP-SGD).")
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument("--demo", action="store_true", help="train on the generated demo reviews")
    data.add_argument("--train", help="training data file (CSV, TSV, JSONL or Parquet with text and label columns)")
    p.add_argument("--eval", help="evaluation data file")
    p.add_argument("--text-column", default="text")
    p.add_argument("--label-column", default="label")
    p.add_argument("--demo-n", type=int, default=2400, help="demo dataset size before the train/eval split")
    p.add_argument("--demo-seed", type=int, default=0)
    p.add_argument("--model", default=None, help="model directory (default: the embedded backbone)")
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--epsilon", type=float, help="target epsilon (the noise is calibrated to it)")
    budget.add_argument("--noise-multiplier", type=float, help="noise multiplier sigma (epsilon is computed)")
    p.add_argument("--delta", type=float, default=None, help="delta (default: min(1e-5, 1/(10 n)), one significant digit)")
    recipe = "default: the private-training recipe's"
    p.add_argument("--epochs", type=int, default=None, help=recipe)
    p.add_argument("--max-epochs", type=int, default=None, help="cap on the recipe's epochs (a compute limit)")
    p.add_argument("--batch-size", type=int, default=None, help=f"expected logical (global) batch size ({recipe})")
    p.add_argument("--physical-batch-size", type=int, default=DEFAULTS["max_physical_batch_size"])
    p.add_argument("--lr", type=float, default=None, help=recipe)
    p.add_argument("--max-grad-norm", type=float, default=None, help=recipe)
    p.add_argument("--optimizer", default=None, choices=("adam", "adam-bc"),
                   help="update rule (default adam; adam-bc: Adam with the noise variance taken out of its second moment)")
    p.add_argument("--clipping", default=None, choices=("flat", "automatic"),
                   help="clipping rule (default flat; automatic: every per-example gradient normalised to just under C)")
    p.add_argument("--linear-probe", default=None, action=argparse.BooleanOptionalAction,
                   help="train the classifier head alone for the first quarter of the epochs (default: on, the recipe's)")
    p.add_argument("--max-length", type=int, default=DEFAULTS["max_length"])
    p.add_argument("--scope", default=None, help=f"all, all-but-word-embeddings, top-<k>, bias, lora, lora-<r> ({recipe}: "
                   f"{DEFAULTS['trainable']})")
    p.add_argument("--grad-sample-mode", default=DEFAULTS["grad_sample_mode"], choices=GRAD_SAMPLE_MODES)
    p.add_argument("--accountant", default=DEFAULTS["accountant"])
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                   help="bf16 autocast with float32 weights, norms, clipping and noise; auto: bf16 on a CUDA GPU that supports it")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--backend", default=None, help="process-group backend under torchrun (default: nccl on GPUs, gloo on CPU)")
    p.add_argument("--out", default=None, help="checkpoint directory (written by rank 0)")
    p.add_argument("--summary", default=None, help="write a JSON summary here (rank 0)")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from ..cli import _quiet_libraries
    from . import ddp

    _quiet_libraries()

    ctx = ddp.init_from_env(args.backend)
    try:
        from ..data import load_dataset
        from ..demo import demo_splits
        from ..models import load_model
        from .private import fine_tune_private

        if args.demo:
            train, ev = demo_splits(n=args.demo_n, seed=args.demo_seed)
        else:
            train = load_dataset(args.train, text_column=args.text_column, label_column=args.label_column)
            ev = (load_dataset(args.eval, text_column=args.text_column, label_column=args.label_column,
                               label_names=train.label_names) if args.eval else None)
        device = ddp.device_for(ctx, args.device)
        bundle = load_model(args.model, num_labels=train.num_labels, device=device, label_names=train.label_names,
                            seed=args.seed, multi_label=train.multi_label)
        record = fine_tune_private(
            bundle, train, ev, target_epsilon=args.epsilon, noise_multiplier=args.noise_multiplier, delta=args.delta,
            epochs=args.epochs, max_epochs=args.max_epochs, batch_size=args.batch_size,
            max_physical_batch_size=args.physical_batch_size, lr=args.lr,
            max_grad_norm=args.max_grad_norm, max_length=args.max_length, trainable=args.scope,
            grad_sample_mode=args.grad_sample_mode, accountant=args.accountant, seed=args.seed, out_dir=args.out,
            show_progress=not args.no_progress, precision=args.precision, optimizer=args.optimizer,
            linear_probe=args.linear_probe, clipping=args.clipping,
        )
        hashes = ddp.all_gather_objects(bundle.sha256)
        if ctx.is_main:
            summary: dict[str, Any] = {"training": record.to_dict(), "privacy_ledger": record.ledger,
                                       "rank_model_sha256": hashes, "world_size": ctx.world_size}
            if args.summary:
                Path(args.summary).write_text(json.dumps(summary, indent=2), encoding="utf-8")
            led = record.ledger
            eps = led.get("epsilon")
            print(f"trained privately: epsilon={eps if eps is None else round(eps, 3)} delta={led['delta']:g} "
                  f"({led['accountant']}), sigma={led['noise_multiplier']:.4f}, q={led['sample_rate']:.4g}, "
                  f"steps={led['steps']}, processes={ctx.world_size}" + (f"; saved to {args.out}" if args.out else ""))
            final = (record.epochs[-1].get("eval") or {}) if record.epochs else {}
            if final.get("accuracy") is not None:
                print(f"held-out accuracy {final['accuracy']:.1%}")
    finally:
        ddp.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
