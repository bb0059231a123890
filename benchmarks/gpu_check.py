"""The GPU measurements of ``benchmarks/gpu_check.sh``, one subcommand each, every one writing a JSON part.

* ``train``: non-private and private fine-tuning of the embedded backbone on generated demo reviews
  (or AG News when ``--agnews DIR`` holds it): seconds per epoch, texts per second, and the ratio
  private / non-private epoch (the last epoch of each, so start-up costs are not counted).
* ``ig``: integrated-gradients throughput (texts per second) of the adaptive engine (the default)
  and of a fixed 50-point Clenshaw-Curtis rule, on demo texts.
* ``profile``: what bounds non-private training: host milliseconds per part of a step against the
  device's kernel time (torch.profiler), with the un-profiled throughput.
* ``demo``: ``audit demo`` in a subprocess: wall time and the stages of its results.json.
* ``table``: the summary table from the parts, printed, and one record under benchmarks/results/.

    python benchmarks/gpu_check.py train --device cuda --n 8000 --epochs 2 --part out/train.json
    python benchmarks/gpu_check.py table --parts out --record
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _record  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _write(path: str | None, data: dict[str, Any]) -> None:
    print(json.dumps(data, indent=1, default=str))
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(data, indent=1, default=str) + "\n")


def _agnews(directory: Path, n: int, seed: int) -> Any:
    """``n`` AG News training texts from ``directory`` (a train .tsv/.csv/.jsonl/.parquet file with text and label)."""
    from audit.data import load_dataset

    files = sorted(p for p in directory.rglob("*") if p.suffix in (".tsv", ".csv", ".jsonl", ".parquet") and "train" in p.name)
    if not files:
        raise FileNotFoundError(f"{directory}: no train .tsv/.csv/.jsonl/.parquet file")
    data = load_dataset(files[0])
    return data.subset(range(min(n, len(data)))), files[0]


def _training_data(args: argparse.Namespace) -> tuple[Any, str]:
    if args.agnews and Path(args.agnews).is_dir():
        data, source = _agnews(Path(args.agnews), args.n, args.seed)
        return data, f"AG News ({source})"
    from audit.demo import demo_splits

    train, _ = demo_splits(n=int(args.n / 0.8) + 1, seed=args.seed)  # the demo's 80/20 split: n training texts
    return train.subset(range(min(args.n, len(train)))), f"generated demo reviews (seed {args.seed})"


def cmd_train(args: argparse.Namespace) -> None:
    import torch

    from audit.models import load_model
    from audit.training import fine_tune
    from audit.training.private import fine_tune_private

    train, source = _training_data(args)
    # no evaluation set: an epoch's seconds are the training steps alone
    out: dict[str, Any] = {"source": source, "n": len(train), "epochs": args.epochs, "device": args.device}

    def run(private: bool, epochs: int = args.epochs, **options: Any) -> dict[str, Any]:
        bundle = load_model(args.model, num_labels=train.num_labels, device=args.device, label_names=train.label_names,
                            seed=args.seed)
        if str(args.device).startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        _sync(args.device)
        t0 = time.perf_counter()
        if private:
            # every epoch trains the whole scope (no linear probe), so that an epoch costs what a DP epoch costs
            rec = fine_tune_private(bundle, train, target_epsilon=args.epsilon, epochs=epochs, batch_size=args.dp_batch,
                                    max_length=args.max_length, seed=args.seed, show_progress=False, cross_check=False,
                                    max_physical_batch_size=args.physical, linear_probe=False,
                                    **{"precision": args.precision, **options})
        else:
            rec = fine_tune(bundle, train, epochs=args.epochs, batch_size=args.batch_size, max_length=args.max_length,
                            seed=args.seed, show_progress=False, precision=args.precision)
        _sync(args.device)
        wall = time.perf_counter() - t0
        last = rec.epochs[-1]["seconds"]
        part = {"wall_s": wall, "epoch_s": [e["seconds"] for e in rec.epochs], "last_epoch_s": last,
                "texts_per_s": len(train) / last, "precision": rec.config.get("precision"),
                "batch_size": rec.config.get("batch_size"), "final_loss": rec.epochs[-1].get("train_loss")}
        if private:
            part |= {"max_physical_batch_size": rec.config.get("max_physical_batch_size"),
                     "physical_batch": rec.config.get("physical_batch"), "grad_sample_mode": rec.config.get("grad_sample_mode"),
                     "epsilon": rec.ledger.get("epsilon"), "steps": rec.ledger.get("steps")}
        if str(args.device).startswith("cuda"):
            part["peak_memory_mib"] = torch.cuda.max_memory_allocated() / 2**20
        return part

    out["nonprivate"] = run(False)
    _write(args.part, out)  # each result is kept as soon as it is measured: a later time-out loses only the rest
    out["private"] = run(True)
    out["ratio_private_nonprivate_epoch"] = out["private"]["last_epoch_s"] / out["nonprivate"]["last_epoch_s"]
    _write(args.part, out)
    if args.bf16_hooks:  # the private run with per-example gradients, where bf16 keeps the clipping float32
        out["private_bf16_hooks"] = run(True, epochs=1, grad_sample_mode="hooks", precision="bf16")
        _write(args.part, out)


def _device_time_us(event: Any) -> float:
    """Self time on the device of one profiler row (the attribute's name changed across torch versions)."""
    for name in ("self_device_time_total", "self_cuda_time_total"):
        value = getattr(event, name, None)
        if value is not None:
            return float(value)
    return 0.0


def cmd_profile(args: argparse.Namespace) -> None:
    """What bounds non-private training: host time per step part against the device's busy time.

    One un-profiled epoch gives the throughput; one profiled epoch on the same texts gives, per
    step, the host milliseconds of each part of the step (``textaudit.collate/forward/backward/
    optimizer``, marked in :func:`audit.training.fine_tune`), the device's kernel milliseconds and
    the number of kernels. A device busy well under the step's wall time means the host (Python,
    kernel launches, data preparation) bounds training, not the GPU.
    """
    import math

    from torch.profiler import ProfilerActivity, profile

    from audit.models import load_model
    from audit.training import fine_tune

    train, source = _training_data(args)
    bundle = load_model(args.model, num_labels=train.num_labels, device=args.device, label_names=train.label_names,
                        seed=args.seed)
    options = {"epochs": 1, "batch_size": args.batch_size, "max_length": args.max_length, "seed": args.seed,
               "show_progress": False, "precision": args.precision}
    fine_tune(bundle, train.subset(range(min(len(train), 10 * args.batch_size))), **options)  # warm-up
    _sync(args.device)
    t0 = time.perf_counter()
    rec = fine_tune(bundle, train, **options)
    _sync(args.device)
    plain_s = time.perf_counter() - t0
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if str(args.device).startswith("cuda") else [])
    with profile(activities=activities) as prof:
        t0 = time.perf_counter()
        fine_tune(bundle, train, **options)
        _sync(args.device)
        profiled_s = time.perf_counter() - t0
    steps = math.ceil(len(train) / args.batch_size)
    rows = prof.key_averages()
    parts = {r.key.split(".", 1)[1]: r.cpu_time_total / 1e3 / steps for r in rows if r.key.startswith("textaudit.")}
    # kernels only: the step-part annotations carry device spans of their own on a GPU
    device_ms = sum(_device_time_us(r) for r in rows if not r.key.startswith("textaudit.")) / 1e3
    kernels = sum(r.count for r in rows if _device_time_us(r) > 0 and not r.key.startswith("textaudit."))
    top_host = sorted((r for r in rows if not r.key.startswith("textaudit.")), key=lambda r: r.self_cpu_time_total, reverse=True)
    top_device = sorted((r for r in rows if not r.key.startswith("textaudit.")), key=_device_time_us, reverse=True)
    out = {
        "source": source, "n": len(train), "device": args.device, "batch_size": args.batch_size,
        "precision": rec.config.get("precision"), "optimizer_fused": rec.config.get("optimizer_fused"),
        "steps": steps, "texts_per_s": len(train) / plain_s, "step_ms": plain_s / steps * 1e3,
        "profiled_step_ms": profiled_s / steps * 1e3,
        "host_ms_per_step": parts,
        "device_busy_ms_per_step": device_ms / steps if len(activities) > 1 else None,
        "device_busy_fraction": device_ms / (profiled_s * 1e3) if len(activities) > 1 else None,
        "kernels_per_step": kernels / steps if len(activities) > 1 else None,
        "top_host_ops_ms_per_step": {r.key: r.self_cpu_time_total / 1e3 / steps for r in top_host[:12]},
        "top_device_ops_ms_per_step": ({r.key: _device_time_us(r) / 1e3 / steps for r in top_device[:8] if _device_time_us(r) > 0}
                                       if len(activities) > 1 else None),
    }
    _write(args.part, out)


def cmd_ig(args: argparse.Namespace) -> None:
    from audit import IntegratedGradients, load_model
    from audit.demo import demo_splits

    bundle = load_model(args.model, num_labels=2, device=args.device, seed=args.seed)
    _, eval_data = demo_splits(seed=args.seed)
    texts = eval_data.texts[: args.n]
    out: dict[str, Any] = {"n": len(texts), "device": args.device}
    for name, ig in (("adaptive", IntegratedGradients(n_steps=300)),
                     ("clenshaw_curtis_50", IntegratedGradients(n_steps=50, method="clenshaw_curtis"))):
        summary, attrs = _record.time_repeats(lambda ig=ig: ig.explain(bundle, texts), repeats=args.repeats, warmup=1,
                                              device=args.device)
        out[name] = {"median_s": summary["median_s"], "texts_per_s": len(texts) / summary["median_s"],
                     "mean_points": sum(a.info["n_steps"] for a in attrs) / len(attrs), "repeats": summary["repeats"]}
    _write(args.part, out)


def cmd_verify(args: argparse.Namespace) -> None:
    """On the device: a bf16 DP step's clipped per-example norms (each example alone, noise 0), measured,
    and the batch limits the analyses get."""
    import math
    import warnings

    from audit._device import available_bytes, batch_limits
    from audit.data import TextDataset
    from audit.demo import demo_splits
    from audit.models import load_model
    from audit.training.private import fine_tune_private

    _, eval_data = demo_splits(seed=args.seed)
    clip, ratios = 1e-3, {"bf16": [], "fp32": []}
    for text, label in zip(eval_data.texts[: args.n], eval_data.labels[: args.n]):
        data = TextDataset(texts=[text], labels=[label], label_names=eval_data.label_names)
        for precision, found in ratios.items():  # fp32 shows the float32 rounding of the norm over all parameters
            bundle = load_model(args.model, num_labels=2, device=args.device, label_names=eval_data.label_names, seed=args.seed)
            seen: dict[str, Any] = {}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fine_tune_private(bundle, data, noise_multiplier=0.0, epochs=1, batch_size=1, lr=0.0, max_grad_norm=clip,
                                  grad_sample_mode="hooks", precision=precision, show_progress=False, cross_check=False,
                                  step_callback=lambda info: seen.update(g=[p.grad.detach().double() for _, p in info.parameters]))
            found.append(math.sqrt(sum(float((g ** 2).sum()) for g in seen["g"])) / clip)
    limits = {kind: batch_limits(bundle, 64, 1024, kind=kind, max_length=128).__dict__ for kind in ("forward", "gradient")}
    _write(args.part, {"device": args.device, "max_clipped_norm_over_c": max(ratios["bf16"]),
                       "max_clipped_norm_over_c_fp32": max(ratios["fp32"]), "clipped_norm_over_c": ratios,
                       "examples": len(ratios["bf16"]), "batch_limits_at_128": limits,
                       "available_bytes": available_bytes(args.device)})


def cmd_demo(args: argparse.Namespace) -> None:
    out_dir = Path(args.out)
    cmd = [sys.executable, "-m", "audit.cli", "demo", "--out", str(out_dir), "--device", args.device, "--quiet", *args.extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    out: dict[str, Any] = {"command": " ".join(cmd[1:]), "device": args.device, "wall_s": wall, "returncode": proc.returncode}
    if proc.returncode != 0:
        out["stderr_tail"] = proc.stderr[-2000:]
    results = out_dir / "results.json"
    if results.is_file():
        run = json.loads(results.read_text())["run"]
        out["timings"] = run.get("timings")
        out["wall_time_s"] = run.get("wall_time_s")
    _write(args.part, out)


def _load_parts(directory: Path) -> dict[str, Any]:
    parts = {}
    for name in ("train", "profile", "ig", "demo", "cost", "env", "verify"):
        path = directory / f"{name}.json"
        if path.is_file():
            try:
                parts[name] = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                parts[name] = {"error": f"{path}: {exc}"}
    return parts


def _fmt(x: Any, spec: str = ".1f", unit: str = "") -> str:
    return "not measured" if x is None else f"{x:{spec}}{unit}"


def table_rows(parts: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(what, measured, target) rows of the summary table."""
    train, ig, demo, verify = parts.get("train", {}), parts.get("ig", {}), parts.get("demo", {}), parts.get("verify", {})
    nonp, priv = train.get("nonprivate", {}), train.get("private", {})
    rows = [("DP step / non-private step, default scope (bench_dp.py cost)", "see the cost matrix above", "<= 1.35x time, <= 1.2x memory")]
    if priv:
        rows.append((f"private training, {train.get('n')} texts, per epoch (physical batch {priv.get('max_physical_batch_size')}, "
                     f"{priv.get('precision')}, {priv.get('grad_sample_mode')})",
                     f"{_fmt(priv.get('last_epoch_s'))} s = {_fmt(train.get('ratio_private_nonprivate_epoch'), '.2f')}x non-private",
                     "<= 1.5x non-private"))
    if nonp:
        rows.append((f"non-private training, same data ({nonp.get('precision')}, batch {nonp.get('batch_size')})",
                     f"{_fmt(nonp.get('last_epoch_s'))} s per epoch, {_fmt(nonp.get('texts_per_s'), '.0f')} texts/s",
                     ">= 4,000 texts/s"))
    if demo:
        t = demo.get("timings") or {}
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in t.items() if k in ("train", "train_private", "audit", "render") and v)
        measured = (f"{_fmt(demo.get('wall_s'))} s ({stages})" if demo.get("returncode") == 0
                    else f"failed (exit {demo.get('returncode')})")
        rows.append((f"audit demo --device {demo.get('device', 'cuda')}", measured, "<= 40 s"))
    prof = parts.get("profile", {})
    if prof:
        host = prof.get("host_ms_per_step") or {}
        busy = prof.get("device_busy_fraction")
        rows.append((f"non-private training profile, {prof.get('n')} texts, batch {prof.get('batch_size')} ({prof.get('precision')})",
                     f"{_fmt(prof.get('step_ms'))} ms per step ({_fmt(prof.get('texts_per_s'), '.0f')} texts/s); host per step: "
                     + ", ".join(f"{k} {v:.1f} ms" for k, v in host.items())
                     + (f"; device busy {busy:.0%} of the profiled step, {_fmt(prof.get('kernels_per_step'), '.0f')} kernels"
                        if busy is not None else ""),
                     "what bounds it"))
    hooks = train.get("private_bf16_hooks")
    if hooks and nonp:
        rows.append(("private training, hooks clipping in bf16, 1 epoch (with start-up)",
                     f"{_fmt(hooks.get('last_epoch_s'))} s = {_fmt(hooks['last_epoch_s'] / nonp['last_epoch_s'], '.2f')}x "
                     f"non-private (physical batch {hooks.get('max_physical_batch_size')})", "-"))
    if verify:
        rows.append((f"DP step (hooks), clipped per-example norm / C, measured ({verify.get('examples')} examples alone)",
                     f"bf16 max {_fmt(verify.get('max_clipped_norm_over_c'), '.7f')}, "
                     f"fp32 max {_fmt(verify.get('max_clipped_norm_over_c_fp32'), '.7f')}",
                     "bf16 no worse than fp32 (float32 rounding)"))
    if ig:
        for key in ("adaptive", "clenshaw_curtis_50"):
            if key in ig:
                rows.append((f"integrated gradients, {key.replace('_', ' ')}, {ig.get('n')} texts",
                             f"{_fmt(ig[key]['texts_per_s'], '.1f')} texts/s ({_fmt(ig[key]['mean_points'], '.0f')} points per text)",
                             "-"))
    return rows


def cmd_table(args: argparse.Namespace) -> None:
    parts = _load_parts(Path(args.parts))
    rec = _record.Recorder("gpu_check", args, "smoke" if args.smoke else None)
    env = parts.get("env", {})
    rec.print(f"machine: {env.get('gpu') or _record.machine().get('gpu') or 'no GPU'}; {env.get('summary', '')}")
    rec.print("| what | measured | target |")
    rec.print("|---|---|---|")
    for what, measured, target in table_rows(parts):
        rec.print(f"| {what} | {measured} | {target} |")
    for key, value in parts.items():
        rec.add(key, value)
    rec.save()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--n", type=int, default=8000)
    t.add_argument("--epochs", type=int, default=2)
    t.add_argument("--batch-size", type=int, default=32, help="non-private batch size (the library's default)")
    t.add_argument("--physical", type=int, default=None, help="private physical batch (default: chosen for the device)")
    t.add_argument("--dp-batch", type=int, default=256, help="private expected logical batch (the library's default)")
    t.add_argument("--max-length", type=int, default=64)
    t.add_argument("--precision", default="auto")
    t.add_argument("--epsilon", type=float, default=8.0, help="target epsilon of the private run")
    t.add_argument("--agnews", default=None, help="directory with AG News (used when it exists)")
    t.add_argument("--bf16-hooks", action="store_true", help="also one private epoch with hooks clipping in bf16")
    g = sub.add_parser("ig")
    g.add_argument("--n", type=int, default=64)
    g.add_argument("--repeats", type=int, default=3)
    d = sub.add_parser("demo")
    d.add_argument("--out", required=True)
    v = sub.add_parser("verify")
    v.add_argument("--n", type=int, default=4)
    f = sub.add_parser("profile")
    f.add_argument("--n", type=int, default=2048)
    f.add_argument("--batch-size", type=int, default=32, help="non-private batch size (the library's default)")
    f.add_argument("--max-length", type=int, default=64)
    f.add_argument("--precision", default="auto")
    f.add_argument("--agnews", default=None, help="directory with AG News (used when it exists)")
    for c in (t, g, d, v, f):
        c.add_argument("--device", default="cuda")
        c.add_argument("--model", default=None)
        c.add_argument("--seed", type=int, default=0)
        c.add_argument("--part", default=None, help="write the result as JSON here")
    s = sub.add_parser("table")
    s.add_argument("--parts", required=True, help="directory holding the parts (train.json, ig.json, ...)")
    s.add_argument("--smoke", action="store_true")
    _record.add_record_argument(s)
    args, extra = p.parse_known_args(argv)  # demo: the rest are `audit demo` options
    if extra and args.cmd != "demo":
        p.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    {"train": cmd_train, "ig": cmd_ig, "demo": cmd_demo, "verify": cmd_verify, "profile": cmd_profile,
     "table": cmd_table}[args.cmd](args)


if __name__ == "__main__":
    main()
