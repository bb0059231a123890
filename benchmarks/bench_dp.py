"""Private training: cost of a DP step against a non-private step, and the utility sweep behind the defaults.

``cost`` — on the embedded backbone, at one logical batch size and sequence length, the step time
and peak memory of a DP-SGD step (``audit.training.private``: per-example clipping, noise,
logical batch split into physical batches like ``BatchMemoryManager`` does) against a
non-private AdamW step of the *same trainable scope* over the same physical batches (gradient
accumulation), for each ``grad_sample_mode`` (hooks, ghost) and each trainable scope. Prints the
matrix of ratios DP / non-private.

How memory is measured:

* CUDA: ``torch.cuda.max_memory_allocated`` over the timed steps (after ``reset_peak_memory_stats``
  and one warm-up step, so weights, gradients and optimizer state are all counted), i.e. the
  peak of live tensor memory.
* CPU: every configuration runs in a fresh subprocess; a thread samples the process's resident
  set size (``/proc/self/statm``) every 2 ms during the warm-up and timed steps. Reported is the
  peak RSS minus the RSS measured after the imports and before the model was loaded: the memory
  of weights, optimizer state, activations and per-example state. (``tracemalloc`` does not see
  torch's allocations and cannot be used.) Allocator caching makes RSS a slight over-estimate
  for both sides alike.

Time ratios come from one process per scope that holds the non-private model and each DP
variant and alternates their steps (medians over ``--repeats`` steps after a warm-up), so that
all variants see the same machine load; absolute times on a shared machine are still noisy. On
an oversubscribed CPU, pass ``--threads 1`` (spinning OpenMP threads distort everything else).

``utility`` — trains the non-private model and DP models over a grid (scope x learning rate x
logical batch x epochs) at epsilon = 8, delta = 1e-5 on the demo data and harder variants, and
prints held-out accuracy per configuration. This is the measurement behind ``DEFAULTS`` in
``audit.training.private`` (docs/privacy.md lists the results).

    python benchmarks/bench_dp.py cost                          # CPU, batch 32, length 64
    python benchmarks/bench_dp.py cost --device cuda --batch 256 --physical 64 --seq-len 128
    python benchmarks/bench_dp.py utility --datasets demo,small,noisy --jobs 4 --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

SCOPES = ("all", "all-but-word-embeddings", "top-2", "lora")
MODES = ("hooks", "ghost")
DEFAULT_SCOPE = "all-but-word-embeddings"
DEFAULT_MODE = "ghost"


# ---------------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------------


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RssPeak:
    """Samples the resident set size in a background thread; ``peak`` is the largest value seen."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(self.interval)

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


# ---------------------------------------------------------------------------------------------
# cost: one configuration (runs in its own process)
# ---------------------------------------------------------------------------------------------


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _inputs(bundle, args: argparse.Namespace, device: str):
    import torch

    vocab = bundle.model.config.vocab_size
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, vocab, (args.batch, args.seq_len), generator=g)
    ids[:, 0] = bundle.tokenizer.cls_token_id or 0
    mask = torch.ones_like(ids)
    labels = torch.randint(0, 2, (args.batch,), generator=g)
    return [(ids[i:i + args.physical].to(device), mask[i:i + args.physical].to(device), labels[i:i + args.physical].to(device))
            for i in range(0, args.batch, args.physical)]


def _load(args: argparse.Namespace, device: str):
    from audit.models import load_model

    bundle = load_model(args.model, num_labels=2, device=device)
    if args.model and Path(str(args.model)).is_dir():
        bundle.model.float()
    return bundle


def _nonprivate_step(bundle, scope_name: str, chunks, batch: int):
    """A plain AdamW step of the same scope over the same physical batches (gradient accumulation)."""
    import torch

    from audit.training.scopes import resolve_scope

    model = resolve_scope(scope_name).apply(bundle.model)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        for x, m, y in chunks:
            loss = loss_fn(model(input_ids=x, attention_mask=m).logits, y) * (len(y) / batch)
            loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step, sum(p.numel() for p in params)


def _private_step(stack: ExitStack, bundle, scope_name: str, mode: str, chunks, batch: int, device: str):
    """A DP step as audit.training.private takes it: physical batches accumulated, one noisy update."""
    from audit.training.ddp import DistContext
    from audit.training.private import _make_private, private_model
    from audit.training.scopes import resolve_scope

    model, _names, params, _report = stack.enter_context(private_model(bundle, resolve_scope(scope_name)))
    forward, hooks, opt, criterion, *_ = _make_private(
        model, params, DistContext(), n=10 * batch, sigma=1.0, max_grad_norm=1.0, lr=1e-5, weight_decay=0.0,
        warmup_ratio=0.0, batch_size=batch, sample_rate=0.1, steps_per_epoch=10, total_steps=1000,
        grad_sample_mode=mode, accountant="prv", seed=0, device=device, secure_gen=None, dataset=[(None, 0)],
        collate=lambda items: items)
    stack.callback(hooks.cleanup)

    def step() -> None:
        for i, (x, m, y) in enumerate(chunks):
            opt.signal_skip_step(do_skip=i < len(chunks) - 1)
            loss = criterion(forward(input_ids=x, attention_mask=m).logits, y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

    return step, sum(p.numel() for p in params)


def cost_one(args: argparse.Namespace) -> dict[str, Any]:
    """Time and memory of one (scope, variant) configuration; variant is 'nonprivate' or a grad_sample_mode."""
    base_rss = _rss()
    import torch

    from audit._util import resolve_device, set_seed

    device = resolve_device(args.device)
    set_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    bundle = _load(args, device)
    chunks = _inputs(bundle, args, device)
    with ExitStack() as stack:
        if args.variant == "nonprivate":
            step, n = _nonprivate_step(bundle, args.scope, chunks, args.batch)
        else:
            step, n = _private_step(stack, bundle, args.scope, args.variant, chunks, args.batch, device)
        return _measure(step, device, args, base_rss) | {"trainable_parameters": n}


def cost_pair(args: argparse.Namespace) -> dict[str, Any]:
    """Step times of the non-private and every DP variant of one scope, interleaved in one process.

    Alternating the variants step by step exposes them to the same machine load, so their time
    ratios stay meaningful on a busy machine (memory is measured per variant in its own process).
    """
    import torch

    from audit._util import resolve_device, set_seed

    device = resolve_device(args.device)
    set_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    modes = [m for m in args.modes.split(",") if m]
    with ExitStack() as stack:
        steps = {}
        for variant in ["nonprivate", *modes]:
            bundle = _load(args, device)
            chunks = _inputs(bundle, args, device)
            if variant == "nonprivate":
                steps[variant] = _nonprivate_step(bundle, args.scope, chunks, args.batch)[0]
            else:
                steps[variant] = _private_step(stack, bundle, args.scope, variant, chunks, args.batch, device)[0]
        times: dict[str, list[float]] = {v: [] for v in steps}
        for step in steps.values():
            step()  # warm-up
        for _ in range(args.repeats):
            for variant, step in steps.items():
                _sync(device)
                t = time.perf_counter()
                step()
                _sync(device)
                times[variant].append(time.perf_counter() - t)
    return {v: statistics.median(ts) for v, ts in times.items()}


def _measure(step, device: str, args: argparse.Namespace, base_rss: int) -> dict[str, Any]:
    import torch

    cuda = device.startswith("cuda")
    times = []
    if cuda:
        step()  # warm-up: allocates gradients and optimizer state
        _sync(device)
        torch.cuda.reset_peak_memory_stats()
        for _ in range(args.repeats):
            t = time.perf_counter()
            step()
            _sync(device)
            times.append(time.perf_counter() - t)
        peak = torch.cuda.max_memory_allocated()
        return {"seconds": statistics.median(times), "peak_bytes": int(peak), "memory_method": "cuda.max_memory_allocated"}
    with RssPeak() as rss:
        step()
        for _ in range(args.repeats):
            t = time.perf_counter()
            step()
            times.append(time.perf_counter() - t)
    return {"seconds": statistics.median(times), "peak_bytes": int(rss.peak - base_rss), "peak_rss": int(rss.peak),
            "memory_method": "peak RSS during the steps minus RSS before loading the model"}


def cost(args: argparse.Namespace) -> dict[str, Any]:
    """Every (scope, variant) in a subprocess; print and return the ratio matrix."""
    scopes = [s for s in args.scopes.split(",") if s]
    modes = [m for m in args.modes.split(",") if m]
    rows: dict[str, dict[str, Any]] = {}
    paired: dict[str, dict[str, float]] = {}
    for scope in scopes:
        rows[scope] = {}
        cmd = [sys.executable, __file__, "cost-pair", "--scope", scope, "--modes", ",".join(modes), "--batch", str(args.batch),
               "--physical", str(args.physical), "--seq-len", str(args.seq_len), "--repeats", str(args.repeats),
               "--device", args.device, "--threads", str(args.threads)] + (["--model", str(args.model)] if args.model else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        line = [x for x in proc.stdout.splitlines() if x.startswith("{")]
        paired[scope] = json.loads(line[-1]) if proc.returncode == 0 and line else {}
        print(f"  {scope:<24} interleaved step times: "
              + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in paired[scope].items()), flush=True)
        for variant in ["nonprivate", *modes]:
            cmd = [sys.executable, __file__, "cost-one", "--scope", scope, "--variant", variant, "--batch", str(args.batch),
                   "--physical", str(args.physical), "--seq-len", str(args.seq_len), "--repeats", str(args.repeats),
                   "--device", args.device, "--threads", str(args.threads)]
            if args.model:
                cmd += ["--model", str(args.model)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            line = [x for x in proc.stdout.splitlines() if x.startswith("{")]
            if proc.returncode != 0 or not line:
                rows[scope][variant] = {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["failed"]}
            else:
                rows[scope][variant] = json.loads(line[-1])
            r = rows[scope][variant]
            print(f"  {scope:<24} {variant:<10} " + (f"{r['seconds'] * 1000:8.1f} ms  {r['peak_bytes'] / 2**20:8.1f} MiB"
                                                    if "seconds" in r else f"error: {r['error']}"), flush=True)
    print()
    print(f"DP / non-private of the same scope (time: interleaved steps in one process; memory: separate processes); "
          f"logical batch {args.batch}, physical {args.physical}, sequence length {args.seq_len}, device {args.device}")
    head = f"{'scope':<24} {'trainable':>11}" + "".join(f" {m + ' time':>11} {m + ' mem':>10}" for m in modes)
    print(head)
    ratios: dict[str, dict[str, Any]] = {}
    for scope in scopes:
        base = rows[scope].get("nonprivate", {})
        line = f"{scope:<24} {base.get('trainable_parameters', 0):>11,}"
        ratios[scope] = {}
        for m in modes:
            r = rows[scope].get(m, {})
            pt = paired.get(scope, {})
            if m in pt and "nonprivate" in pt and "peak_bytes" in r and "peak_bytes" in base:
                t, mem = pt[m] / pt["nonprivate"], r["peak_bytes"] / max(1, base["peak_bytes"])
                ratios[scope][m] = {"time": t, "memory": mem}
                line += f" {t:>10.2f}x {mem:>9.2f}x"
            else:
                line += f" {'n/a':>11} {'n/a':>10}"
        print(line)
    d = ratios.get(DEFAULT_SCOPE, {}).get(DEFAULT_MODE)
    if d:
        print(f"\ndefault ({DEFAULT_SCOPE}, {DEFAULT_MODE}): {d['time']:.2f}x time, {d['memory']:.2f}x memory")
    return {"setting": vars(args) | {"func": None}, "raw": rows, "interleaved_seconds": paired, "ratios": ratios}


# ---------------------------------------------------------------------------------------------
# utility sweep
# ---------------------------------------------------------------------------------------------


def _dataset(key: str):
    """(train, eval) for a dataset variant: the demo, a smaller one, one with 10% flipped training labels."""
    import random

    from audit.data import TextDataset
    from audit.demo import demo_splits

    if key == "demo":
        return demo_splits(n=2400, seed=0)
    if key == "small":
        return demo_splits(n=1200, seed=1)
    if key == "noisy":
        train, ev = demo_splits(n=2400, seed=2)
        rng = random.Random(2)
        flip = set(rng.sample(range(len(train)), len(train) // 10))
        labels = [1 - y if i in flip else y for i, y in enumerate(train.labels)]
        return TextDataset(texts=train.texts, labels=labels, label_names=train.label_names, source="demo-noisy"), ev
    raise ValueError(f"unknown dataset {key!r}; choose demo, small or noisy")


def run_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Train one configuration; returns its held-out metrics per epoch."""
    import warnings

    import torch

    warnings.filterwarnings("ignore")
    if cfg.get("threads"):
        torch.set_num_threads(cfg["threads"])
    from audit.models import load_model
    from audit.training import fine_tune
    from audit.training.private import fine_tune_private

    train, ev = _dataset(cfg["dataset"])
    bundle = load_model(cfg.get("model"), num_labels=2, device=cfg["device"], label_names=train.label_names)
    bundle.model.float()
    t = time.perf_counter()
    if cfg["kind"] == "nonprivate":
        rec = fine_tune(bundle, train, ev, epochs=2, lr=1e-4, batch_size=32, max_length=64, seed=cfg["seed"], show_progress=False)
        sigma = None
    else:
        budget = {"noise_multiplier": cfg["sigma"]} if "sigma" in cfg else {"target_epsilon": cfg.get("epsilon", 8.0)}
        rec = fine_tune_private(bundle, train, ev, **budget, delta=1e-5, epochs=cfg["epochs"], batch_size=cfg["batch"],
                                lr=cfg["lr"], trainable=cfg["scope"], grad_sample_mode=cfg.get("mode", "ghost"), max_length=64,
                                max_physical_batch_size=cfg.get("physical", 32), seed=cfg["seed"], show_progress=False,
                                cross_check=False, **{k: cfg[v] for k, v in (("max_grad_norm", "clip"), ("dropout", "dropout"),
                                                                             ("warmup_ratio", "warmup")) if v in cfg})
        sigma = rec.ledger["noise_multiplier"]
    return cfg | {"seconds": time.perf_counter() - t, "noise_multiplier": sigma,
                  "accuracy": [e["eval"]["accuracy"] for e in rec.epochs], "final": rec.epochs[-1]["eval"]}


def utility(args: argparse.Namespace) -> dict[str, Any]:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    base = {"model": args.model, "device": args.device, "threads": args.threads, "physical": args.physical}
    configs = []
    for ds in args.datasets.split(","):
        for seed in range(args.seeds):
            configs.append(base | {"dataset": ds, "kind": "nonprivate", "seed": seed})
            for scope in args.scopes.split(","):
                for lr in args.lrs.split(","):
                    for b in args.batches.split(","):
                        for ep in args.epochs.split(","):
                            configs.append(base | {"dataset": ds, "kind": "dp", "scope": scope, "lr": float(lr), "batch": int(b),
                                                   "epochs": int(ep), "seed": seed, "mode": args.mode})
    if args.configs:
        configs = [base | {"kind": "dp", "seed": 0, "mode": args.mode} | c for c in json.loads(args.configs)]
    results = []
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=mp.get_context("spawn")) as pool:
        for r in pool.map(run_config, configs):
            results.append(r)
            label = "non-private" if r["kind"] == "nonprivate" else (
                f"{r['scope']} lr={r['lr']:g} B={r['batch']} E={r['epochs']}" + (f" sigma={r['sigma']}" if "sigma" in r else "")
                + "".join(f" {k}={r[k]}" for k in ("clip", "dropout", "warmup") if k in r))
            print(f"{r['dataset']:<6} {r['device']:<4} seed={r['seed']} {label:<48} acc={r['final']['accuracy']:.4f} "
                  f"per-epoch={[round(a, 3) for a in r['accuracy']]} sigma={r['noise_multiplier']} {r['seconds']:.0f}s", flush=True)
    return {"setting": {k: v for k, v in vars(args).items() if k != "func"}, "results": results}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("cost", "cost-one", "cost-pair"):
        c = sub.add_parser(name)
        c.add_argument("--model", default=None, help="model directory (default: the embedded backbone)")
        c.add_argument("--device", default="cpu")
        c.add_argument("--batch", type=int, default=32, help="logical batch size")
        c.add_argument("--physical", type=int, default=16, help="physical batch size")
        c.add_argument("--seq-len", type=int, default=64)
        c.add_argument("--repeats", type=int, default=3)
        c.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
        c.add_argument("--json", default=None, help="write the results here")
        if name == "cost":
            c.add_argument("--scopes", default=",".join(SCOPES))
            c.add_argument("--modes", default=",".join(MODES))
        elif name == "cost-pair":
            c.add_argument("--scope", required=True)
            c.add_argument("--modes", default=",".join(MODES))
        else:
            c.add_argument("--scope", required=True)
            c.add_argument("--variant", required=True, choices=("nonprivate", *MODES))
    u = sub.add_parser("utility")
    u.add_argument("--model", default=None)
    u.add_argument("--device", default="cpu")
    u.add_argument("--datasets", default="demo,small,noisy")
    u.add_argument("--scopes", default=",".join(SCOPES))
    u.add_argument("--lrs", default="3e-4,1e-3,3e-3")
    u.add_argument("--batches", default="128,256,512")
    u.add_argument("--epochs", default="2,4")
    u.add_argument("--seeds", type=int, default=1)
    u.add_argument("--mode", default="ghost")
    u.add_argument("--physical", type=int, default=32)
    u.add_argument("--jobs", type=int, default=1)
    u.add_argument("--threads", type=int, default=0)
    u.add_argument("--configs", default=None, help="JSON list of configurations (keys: dataset, scope, lr, batch, epochs, "
                   "and optionally sigma, epsilon, clip, kind) to run instead of the grid")
    u.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.cmd in ("cost-one", "cost-pair"):
        print(json.dumps(cost_one(args) if args.cmd == "cost-one" else cost_pair(args)))
        return
    out = cost(args) if args.cmd == "cost" else utility(args)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
