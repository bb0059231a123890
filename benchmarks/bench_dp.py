"""Private training: cost of a DP step against a non-private step, and the utility sweep behind the defaults.

``cost`` — on the embedded backbone, at one logical batch size and sequence length, the step time
and peak memory of a DP-SGD step (``audit.training.private``: per-example clipping, noise,
logical batch split into physical batches like ``BatchMemoryManager`` does) against a
non-private AdamW step of the *same trainable scope* over the same physical batches (gradient
accumulation), for each ``grad_sample_mode`` (hooks, ghost, bookkeeping) and each trainable
scope. Prints the matrix of ratios DP / non-private, and which mode ``auto`` picks.

Timing protocol (``benchmarks/_record.py``): one process per scope (on CPU forked from the main
process after the imports; on CUDA the main process itself, scope after scope) holds the
non-private model and every DP variant; each gets the same warm-up (``--warmup`` steps, untimed), then
``--repeats`` rounds (at least 10) in which every variant takes one timed step, in an order
rotated from round to round, so that all variants see the same machine load. Reported per
variant: median step time and interquartile range; per ratio: the median of the per-round
ratios DP / non-private and their interquartile range. On CUDA every step is bracketed by
``torch.cuda.synchronize()``. Pass ``--threads`` (torch threads) on a shared CPU.

How memory is measured:

* CUDA: in the timing process, each variant is built after the previous ones;
  ``torch.cuda.max_memory_allocated`` over one step after a warm-up step (so weights, gradients
  and optimizer state are all counted) minus the memory allocated before the variant was built:
  the peak of the variant's own live tensor memory. No extra processes.
* CPU: every (scope, variant) runs in a process of its own, forked from the main process after
  the imports (torch, transformers, opacus, peft, this package) and before any model is loaded; a
  thread samples its resident set size (``/proc/self/statm``) every 2 ms during the warm-up and
  measured steps. Reported is the peak RSS minus the RSS at the start: the memory of weights,
  optimizer state, activations and per-example state. (``tracemalloc`` does not see torch's
  allocations and cannot be used.) Memory the allocator keeps after a free counts in the RSS, so
  glibc's own count of bytes in use (``mallinfo2``) is sampled alongside and recorded as a check.

With ``--record [NAME]`` the whole run (settings, machine, versions, every step time) is written
to ``benchmarks/results/NAME.json``.

``utility`` — held-out accuracy of private against non-private training.

* ``--recipe`` (the table in docs/privacy.md): for each dataset, seed and epsilon, the non-private
  model as ``audit train`` trains it (3 epochs, lr 1e-4, batch 32) and the private model with the
  default recipe applied unchanged (``fine_tune_private`` given only epsilon, delta, the maximum
  length and the seed; ``--variants`` adds ablations that change one ingredient). Datasets: the
  demo (1,920 training / 480 evaluation texts; trained as ``audit demo`` trains its private model,
  with the recipe's epochs capped at the demo's limit) and AG News subsets ``agnews-<n>`` (the first
  n rows of a fixed permutation of its 10,001 training rows; evaluated on ``--eval-rows`` rows of
  its 7,600 test rows drawn with a fixed seed, all of them with ``--eval-rows 0``). AG News is read
  from ``$AGNEWS_DIR`` or ``shared/data/agnews`` beside the repository; it is never copied into it.
  Each private run also evaluates, at no extra training, weight averages over the last 5, 10 and
  25% of the steps (and the last weights, when the saved ones are an average), kept from the step
  callback, and records the share of clipped gradients. ``--seed-list`` runs chosen seeds;
  ``--from-records NAME ...`` prints one table from the runs of several records (nothing trained).
  Variants ``uncapped``, ``cap-4`` and ``cap-6`` replace the demo's epoch cap; ``no-lp`` drops the
  recipe's linear probe; ``adam-bc`` swaps the optimizer; ``automatic`` the clipping rule.
  ``--from-records`` tells runs with and without the probe apart by their recorded configuration
  (``no-lp`` in the table).
* Without ``--recipe``: a grid (scope x learning rate x logical batch x epochs) at epsilon 8 on the
  demo data and harder variants, as used for the earlier defaults.

    python benchmarks/bench_dp.py cost --threads 2 --record     # CPU, batch 32, length 64
    python benchmarks/bench_dp.py cost --device cuda --batch 256 --physical 128 --seq-len 64 --record
    python benchmarks/bench_dp.py utility --datasets demo,small,noisy --jobs 4 --device cuda
    python benchmarks/bench_dp.py utility --recipe --datasets demo,agnews-1000,agnews-2500 --epsilons 8 --threads 1 --record
    python benchmarks/bench_dp.py utility --recipe --datasets agnews-1000 --variants recipe,previous,clip-1 --record
    python benchmarks/bench_dp.py utility --recipe --datasets agnews-10000 --epsilons 1,3,8 --seeds 3 --device cuda --record
    python benchmarks/bench_dp.py utility --recipe --from-records gpu-utility-h200 utility-cpu-agnews1000-eps
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package, also in the worker processes
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _record  # noqa: E402

SCOPES = ("all", "all-but-word-embeddings", "top-2", "lora")
MODES = ("hooks", "ghost", "bookkeeping")
DEFAULT_SCOPE = "all-but-word-embeddings"


# ---------------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------------


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _heap_reader():
    """glibc's bytes in use (``mallinfo2``: heap chunks in use plus mmapped chunks), or None elsewhere.

    Unlike the RSS it does not count memory the allocator keeps after a free, so it is the live
    memory of the process; recorded next to the RSS as a check on allocator effects."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    try:
        fn = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = MallInfo2

    def read() -> int:
        info = fn()
        return int(info.uordblks + info.hblkhd)

    return read


class RssPeak:
    """Samples the resident set size (and glibc's bytes in use) in a background thread; ``peak`` and
    ``heap_peak`` are the largest values seen."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self._heap = _heap_reader()
        self.peak = _rss()
        self.heap_peak = self._heap() if self._heap else None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        self.peak = max(self.peak, _rss())
        if self._heap is not None:
            self.heap_peak = max(self.heap_peak, self._heap())

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


# ---------------------------------------------------------------------------------------------
# cost: the steps
# ---------------------------------------------------------------------------------------------


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _preload() -> None:
    """Import everything a step needs, so that memory measured afterwards is the model's and the step's."""
    import opacus  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401

    import audit.models  # noqa: F401
    import audit.training.private  # noqa: F401

    try:
        import peft  # noqa: F401
    except ImportError:
        pass


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
    """A plain AdamW step of the same scope over the same physical batches (gradient accumulation), with
    the optimizer the private step uses (fused where torch has it)."""
    import torch

    from audit.training.finetune import adamw
    from audit.training.scopes import resolve_scope

    model = resolve_scope(scope_name).apply(bundle.model)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt, _ = adamw(params, lr=1e-5, weight_decay=0.0, device=bundle.device)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        for x, m, y in chunks:
            loss = loss_fn(model(input_ids=x, attention_mask=m).logits, y) * (len(y) / batch)
            loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step, sum(p.numel() for p in params)


def _private_step(stack: ExitStack, bundle, scope_name: str, mode: str, chunks, batch: int, device: str):
    """A DP step as audit.training.private takes it: physical batches accumulated, one noisy update.

    The clipping plan is made as in training (``plan_clipping``), so a mode that cannot be exact
    for the scope is refused here too. Returns the step, the trainable parameter count and the
    mode ``auto`` would pick for this scope.
    """
    from audit.training.clipping import ParameterUse, plan_clipping
    from audit.training.ddp import DistContext
    from audit.training.private import _make_private, private_model
    from audit.training.scopes import resolve_scope

    model, _names, params, report = stack.enter_context(private_model(bundle, resolve_scope(scope_name)))
    use = ParameterUse(**report.parameter_use)
    plan = plan_clipping(mode, use, model)
    auto = plan_clipping("auto", use, model).mode
    forward, hooks, opt, criterion, *_ = _make_private(
        model, params, DistContext(), n=10 * batch, sigma=1.0, max_grad_norm=1.0, lr=1e-5, weight_decay=0.0,
        warmup_ratio=0.0, batch_size=batch, sample_rate=0.1, steps_per_epoch=10, total_steps=1000,
        grad_sample_mode=plan.mode, accountant="prv", seed=0, device=device, secure_gen=None, dataset=[(None, 0)],
        collate=lambda items: items, plan=plan)
    stack.callback(hooks.cleanup)

    def step() -> None:
        for i, (x, m, y) in enumerate(chunks):
            opt.signal_skip_step(do_skip=i < len(chunks) - 1)
            loss = criterion(forward(input_ids=x, attention_mask=m).logits, y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

    return step, sum(p.numel() for p in params), auto


def _build(stack: ExitStack, args: argparse.Namespace, device: str, variant: str):
    """(step, trainable parameters, auto's mode or None) of one variant on a freshly loaded model."""
    from audit._util import set_seed

    set_seed(0)
    bundle = _load(args, device)
    chunks = _inputs(bundle, args, device)
    if variant == "nonprivate":
        return (*_nonprivate_step(bundle, args.scope, chunks, args.batch), None)
    return _private_step(stack, bundle, args.scope, variant, chunks, args.batch, device)


def _setup(args: argparse.Namespace) -> str:
    import torch

    from audit._util import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    return resolve_device(args.device)


# ---------------------------------------------------------------------------------------------
# cost: the worker processes
# ---------------------------------------------------------------------------------------------


def cost_scope(args: argparse.Namespace, scope: str) -> dict[str, Any]:
    """Step times of the non-private and every DP variant of one scope, interleaved in one process;
    on CUDA also each variant's peak memory (see the module docstring)."""
    import torch

    args = argparse.Namespace(**{**vars(args), "scope": scope})
    device = _setup(args)
    cuda = device.startswith("cuda")
    variants = ["nonprivate", *[m for m in args.modes.split(",") if m]]
    steps, memory, trainable, errors = {}, {}, {}, {}
    auto = None
    with ExitStack() as stack:
        for v in variants:
            if cuda:
                gc.collect()
                torch.cuda.empty_cache()
                _sync(device)
                base = torch.cuda.memory_allocated()
            try:
                step, n, auto_v = _build(stack, args, device, v)
            except Exception as exc:  # a mode that cannot run on this scope is reported, not fatal
                errors[v] = f"{type(exc).__name__}: {exc}"
                continue
            steps[v], trainable[v] = step, n
            auto = auto or auto_v
            if cuda:
                step()  # warm-up: allocates gradients and optimizer state
                _sync(device)
                torch.cuda.reset_peak_memory_stats()
                step()
                _sync(device)
                memory[v] = {"peak_bytes": int(torch.cuda.max_memory_allocated() - base),
                             "method": "cuda.max_memory_allocated over one step minus allocated before building the variant"}
        times = _interleaved(steps, args.repeats, args.warmup, device)
        steps.clear()
    if cuda:
        gc.collect()
        torch.cuda.empty_cache()
    return {"scope": scope, "device": device, "times": times, "memory": memory, "trainable_parameters": trainable,
            "auto_mode": auto, "errors": errors}


def _interleaved(steps: dict[str, Any], repeats: int, warmup: int, device: str) -> dict[str, Any]:
    """Every variant gets ``warmup`` untimed steps, then ``repeats`` rounds of one timed step each (rotated order)."""
    names = list(steps)
    for name in names:
        for _ in range(warmup):
            steps[name]()
            _sync(device)
    raw: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        k = r % max(1, len(names))
        for name in names[k:] + names[:k]:
            summary, _ = _record.time_repeats(steps[name], repeats=1, warmup=0, device=device)
            raw[name].append(summary["times_s"][0])
    return {n: _record.summarise(ts) | {"warmup": warmup} for n, ts in raw.items()}


def cost_memory(args: argparse.Namespace, scope: str, variant: str) -> dict[str, Any]:
    """CPU: peak resident memory of one (scope, variant) in a process of its own (see the module docstring)."""
    args = argparse.Namespace(**{**vars(args), "scope": scope})
    device = _setup(args)
    gc.collect()
    heap = _heap_reader()
    base, base_heap = _rss(), heap() if heap else None
    with ExitStack() as stack:
        step, n, _ = _build(stack, args, device, variant)
        with RssPeak() as rss:
            for _ in range(args.warmup + args.memory_steps):
                step()
    out = {"peak_bytes": int(rss.peak - base), "peak_rss": int(rss.peak), "base_rss": int(base), "trainable_parameters": n,
           "method": "peak RSS during the warm-up and measured steps minus RSS after the imports, before loading the model"}
    if rss.heap_peak is not None:
        out["heap_peak_bytes"] = int(rss.heap_peak - base_heap)  # the same, counting glibc's bytes in use
    return out


# ---------------------------------------------------------------------------------------------
# cost: the matrix
# ---------------------------------------------------------------------------------------------


def _forked(fn: Any, *fn_args: Any) -> dict[str, Any]:
    """``fn(*fn_args)`` in a child process forked from this one (imports done, no model loaded); its result."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run, send the result as JSON, leave without running the parent's exit handlers
        os.close(read_fd)
        try:
            out = fn(*fn_args)
        except BaseException as exc:  # reported in the table, not fatal to the matrix
            out = {"error": f"{type(exc).__name__}: {exc}"}
        with os.fdopen(write_fd, "w") as f:
            f.write(json.dumps(out, default=str))
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        text = f.read()
    _, status = os.waitpid(pid, 0)
    if not text:
        return {"error": f"the measuring process ended with status {status} before reporting"}
    return json.loads(text)


def _ratio_spread(num: list[float], den: list[float]) -> dict[str, float]:
    """Median and quartiles of the per-round ratios ``num[r] / den[r]``."""
    ratios = [a / b for a, b in zip(num, den)]
    q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) >= 2 else (ratios[0],) * 3
    return {"median": statistics.median(ratios), "q1": q1, "q3": q3, "min": min(ratios), "max": max(ratios)}


def cost(args: argparse.Namespace) -> dict[str, Any]:
    """The (scope x variant) matrix, timed and measured as the module docstring says; print, record and return the ratios."""
    if args.repeats < _record.MIN_REPEATS:
        print(f"note: {args.repeats} repeats is below the protocol's minimum of {_record.MIN_REPEATS}", flush=True)
    rec = _record.Recorder("bench_dp", args, "cost")
    cuda = str(args.device).startswith("cuda")
    scopes = [s for s in args.scopes.split(",") if s]
    modes = [m for m in args.modes.split(",") if m]
    started = time.perf_counter()
    rec.add("load_average_start", [round(x, 2) for x in os.getloadavg()])  # other jobs on the machine (1, 5, 15 minutes)
    _preload()
    per_scope: dict[str, dict[str, Any]] = {}
    for scope in scopes:
        if cuda:  # one process: memory from the allocator's own statistics, per variant
            res = cost_scope(args, scope)
        else:  # a forked process per scope for the times, and per (scope, variant) for the resident memory
            res = _forked(cost_scope, args, scope)
            if "error" not in res:
                res["memory"] = {v: _forked(cost_memory, args, scope, v) for v in ["nonprivate", *modes]
                                 if v not in res.get("errors", {})}
        per_scope[scope] = res
        _print_scope(rec, scope, res)
    ratios = _ratios(per_scope, modes)
    _print_matrix(rec, args, per_scope, ratios, modes)
    rec.add("load_average_end", [round(x, 2) for x in os.getloadavg()])
    rec.print(f"\nwhole matrix: {time.perf_counter() - started:.0f} s; load average (1, 5, 15 min) at the start "
              f"{rec.data['load_average_start']}, at the end {rec.data['load_average_end']}")
    rec.add("per_scope", per_scope)
    rec.add("ratios", ratios)
    rec.add("matrix_seconds", time.perf_counter() - started)
    rec.save()
    return {"setting": {k: v for k, v in vars(args).items() if k != "func"}, "per_scope": per_scope, "ratios": ratios}


def _print_scope(rec: _record.Recorder, scope: str, res: dict[str, Any]) -> None:
    if "error" in res:
        rec.print(f"  {scope:<24} error: {res['error']}")
        return
    for v, t in res["times"].items():
        mem = res.get("memory", {}).get(v, {})
        heap = f"  (heap in use {mem['heap_peak_bytes'] / 2**20:.1f} MiB)" if "heap_peak_bytes" in mem else ""
        rec.print(f"  {scope:<24} {v:<12} {_record.fmt_time(t):>26}  "
                  + (f"{mem['peak_bytes'] / 2**20:8.1f} MiB{heap}" if "peak_bytes" in mem else f"memory: {mem.get('error', 'n/a')}"))
    for v, e in res.get("errors", {}).items():
        rec.print(f"  {scope:<24} {v:<12} not run: {e}")


def _ratios(per_scope: dict[str, dict[str, Any]], modes: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for scope, res in per_scope.items():
        out[scope] = {}
        times, mem = res.get("times", {}), res.get("memory", {})
        base_t, base_m = times.get("nonprivate"), mem.get("nonprivate", {})
        for m in modes:
            if m not in times or base_t is None:
                continue
            r: dict[str, Any] = {"time": _ratio_spread(times[m]["times_s"], base_t["times_s"])}
            if "peak_bytes" in mem.get(m, {}) and "peak_bytes" in base_m:
                r["memory"] = mem[m]["peak_bytes"] / max(1, base_m["peak_bytes"])
            if "heap_peak_bytes" in mem.get(m, {}) and "heap_peak_bytes" in base_m:
                r["heap_memory"] = mem[m]["heap_peak_bytes"] / max(1, base_m["heap_peak_bytes"])
            out[scope][m] = r
    return out


def _print_matrix(rec: _record.Recorder, args: argparse.Namespace, per_scope: dict[str, Any], ratios: dict[str, Any],
                  modes: list[str]) -> None:
    rec.print()
    rec.print(f"DP / non-private of the same scope; logical batch {args.batch}, physical {args.physical}, sequence length "
              f"{args.seq_len}, device {args.device}, torch threads {args.threads or 'default'}; time: median [quartiles] of "
              f"{args.repeats} interleaved per-step ratios after {args.warmup} warm-up step(s); memory: "
              + ("max_memory_allocated per variant" if str(args.device).startswith("cuda") else "peak RSS, one process per variant"))
    rec.print(f"{'scope':<24} {'trainable':>11} {'auto':>12}" + "".join(f" {m + ' time':>24} {m + ' mem':>16}" for m in modes))
    for scope, res in per_scope.items():
        n = res.get("trainable_parameters", {}).get("nonprivate", 0)
        line = f"{scope:<24} {n:>11,} {str(res.get('auto_mode')):>12}"
        for m in modes:
            r = ratios.get(scope, {}).get(m)
            if r is None:
                line += f" {'n/a':>24} {'n/a':>16}"
                continue
            t = r["time"]
            cell = f"{t['median']:.2f}x [{t['q1']:.2f}–{t['q3']:.2f}]"
            mem = f"{r['memory']:.2f}x" if "memory" in r else "n/a"
            line += f" {cell:>24} {mem:>16}"
        rec.print(line)
    heap = {scope: {m: r["heap_memory"] for m, r in rs.items() if "heap_memory" in r} for scope, rs in ratios.items()}
    if any(heap.values()):
        rec.print("memory counted as glibc's bytes in use instead of RSS (allocator caching left out):")
        for scope, hs in heap.items():
            rec.print(f"{scope:<24} " + ", ".join(f"{m} {v:.2f}x" for m, v in hs.items()))
    default = per_scope.get(DEFAULT_SCOPE, {})
    auto = default.get("auto_mode")
    r = ratios.get(DEFAULT_SCOPE, {}).get(auto) if auto else None
    if r:
        mem = f", {r['memory']:.2f}x memory" if "memory" in r else ""
        rec.print(f"\ndefault ({DEFAULT_SCOPE}, grad_sample_mode auto -> {auto}): {r['time']['median']:.2f}x time "
                  f"[{r['time']['q1']:.2f}–{r['time']['q3']:.2f}]{mem}")


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
                                cross_check=False, linear_probe=False, **{k: cfg[v] for k, v in (("max_grad_norm", "clip"), ("dropout", "dropout"),
                                                                             ("warmup_ratio", "warmup")) if v in cfg})
        sigma = rec.ledger["noise_multiplier"]
    return cfg | {"seconds": time.perf_counter() - t, "noise_multiplier": sigma,
                  "accuracy": [e["eval"]["accuracy"] for e in rec.epochs], "final": rec.epochs[-1]["eval"]}


# ---------------------------------------------------------------------------------------------
# utility: the default recipe on real data
# ---------------------------------------------------------------------------------------------

#: The non-private reference: ``audit train``'s defaults.
NONPRIVATE = {"epochs": 3, "lr": 1e-4, "batch_size": 32}
#: One ingredient changed at a time (keyword arguments of fine_tune_private on top of the recipe).
VARIANTS: dict[str, dict[str, Any]] = {
    "recipe": {},
    "previous": {"epochs": 10, "batch_size": 256, "lr": 3e-3, "max_grad_norm": 1.0, "warmup_ratio": 0.0, "ema_decay": 0},
    "clip-1": {"max_grad_norm": 1.0},
    "no-warmup": {"warmup_ratio": 0.0},
    "lr-half": {"lr_factor": 0.5},
    "lr-double": {"lr_factor": 2.0},
    "scope-all": {"trainable": "all"},
    "lora": {"trainable": "lora"},
    "top-2": {"trainable": "top-2"},
    "bias": {"trainable": "bias"},
    "dropout-0.1": {"dropout": 0.1},
    "adam-bc": {"optimizer": "adam-bc"},
    # normalised ("automatic") clipping: every per-example gradient scaled by C / (norm + gamma)
    "automatic": {"clipping": "automatic"},
    # the recipe without its linear probe (the encoder and head trained together from the first step)
    "no-lp": {"linear_probe": False},
    # the linear probe asked for explicitly (the recipe's default)
    "lp-ft": {"linear_probe": True},
    # the noise-corrected Adam at Adam's learning rate (its noise walk 1/sqrt(BC_FLOOR_RATIO) times the recipe's)
    "adam-bc-adam-lr": {"optimizer": "adam-bc", "lr_factor": 1.0},
    # the demo's compute cap (max epochs) instead of its own: uncapped is the recipe unchanged
    "uncapped": {"max_epochs": None},
    "cap-4": {"max_epochs": 4},
    "cap-6": {"max_epochs": 6},
    "cap-6-no-lp": {"max_epochs": 6, "linear_probe": False},
}
#: Extra weight averages evaluated from the step callback (fraction of the steps averaged).
EXTRA_WINDOWS = (0.05, 0.1, 0.25)
MAX_LENGTH = 64


def agnews_dir() -> Path | None:
    """AG News (train.tsv, test.tsv): ``$AGNEWS_DIR``, else ``shared/data/agnews`` beside the repository."""
    env = os.environ.get("AGNEWS_DIR")
    candidates = [Path(env)] if env else []
    root = Path(__file__).resolve().parents[1]
    candidates += [p / "shared" / "data" / "agnews" for p in (root.parent, root.parent.parent)]
    for c in candidates:
        if (c / "train.tsv").is_file() and (c / "test.tsv").is_file():
            return c
    return None


def real_dataset(key: str, eval_rows: int = 2000):
    """(train, eval, description) for ``demo`` or ``agnews-<n>``; the subsets do not depend on the training seed."""
    import numpy as np

    if key == "demo":
        from audit.demo import demo_splits

        train, ev = demo_splits(n=2400, seed=0)
        return train, ev, "demo reviews (demo_splits(n=2400, seed=0))"
    if key.startswith("agnews-"):
        from audit.data import load_dataset

        root = agnews_dir()
        if root is None:
            raise FileNotFoundError("AG News not found: set AGNEWS_DIR to the folder holding train.tsv and test.tsv")
        n = int(key.split("-", 1)[1])
        full = load_dataset(root / "train.tsv", text_column="text", label_column="label")
        if not 0 < n <= len(full):
            raise ValueError(f"{key}: AG News has {len(full)} training rows")
        test = load_dataset(root / "test.tsv", text_column="text", label_column="label", label_names=full.label_names)
        train = full.subset(np.random.default_rng(0).permutation(len(full))[:n])
        if eval_rows and eval_rows < len(test):
            test = test.subset(sorted(np.random.default_rng(1).permutation(len(test))[:eval_rows]))
        return train, test, f"AG News, first {n} of a fixed permutation of the training rows; {len(test)} test rows"
    raise ValueError(f"unknown dataset {key!r}; choose demo or agnews-<n>")


def _demo_cap() -> int:
    from audit.pipeline import DemoConfig

    return DemoConfig().private_max_epochs


def _metrics(bundle, ev) -> dict[str, Any]:
    from audit.metrics import dataset_metrics

    probs = bundle.predict_proba(ev.texts, max_length=MAX_LENGTH)
    return dataset_metrics(ev, probs, bundle.label_names).summary()


class _Tracker:
    """Step callback: share of clipped gradients per epoch, extra weight averages and the last iterate."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.clipped: dict[int, list[float]] = {}
        self.averages: dict[float, list[Any]] = {}
        self.decays = {w: 1.0 - 1.0 / max(1.0, w * steps) for w in EXTRA_WINDOWS}
        self.last: list[Any] | None = None
        self.names: list[str] = []
        self.t = 0

    def __call__(self, info) -> None:
        import torch

        norms = info.per_example_norms
        if len(norms):
            self.clipped.setdefault(info.epoch, []).append(float((norms > info.max_grad_norm).mean()))
        params = [p.detach() for _, p in info.parameters]  # the weights after the previous step
        names = [n for n, _ in info.parameters]
        if names == self.names:
            with torch.no_grad():
                for w, shadow in self.averages.items():
                    d = min(self.decays[w], (1 + self.t) / (10 + self.t))
                    torch._foreach_lerp_(shadow, params, 1.0 - d)
                self.last = [p.clone() for p in params]
        else:  # the first step (its weights are the starting point, not an iterate), or the fine-tuning after the probe
            self.names = names
            self.averages = {w: [p.clone() for p in params] for w in EXTRA_WINDOWS}
            self.last = None
        self.t += 1

    def load(self, model, tensors) -> None:
        import torch

        own = dict(model.named_parameters())
        with torch.no_grad():
            for name, t in zip(self.names, tensors):
                own[name].copy_(t)


def run_recipe_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """One non-private or private training on a real dataset; returns its held-out metrics."""
    import warnings

    import torch

    warnings.filterwarnings("ignore")
    if cfg.get("threads"):
        torch.set_num_threads(cfg["threads"])
    from audit.models import load_model
    from audit.training import fine_tune
    from audit.training.private import fine_tune_private
    from audit.training.recipe import recommend

    train, ev, desc = real_dataset(cfg["dataset"], cfg["eval_rows"])
    bundle = load_model(cfg.get("model"), num_labels=train.num_labels, device=cfg["device"], label_names=train.label_names,
                        seed=cfg["seed"])
    bundle.model.float()
    out: dict[str, Any] = {**cfg, "data": desc, "n_train": len(train), "n_eval": len(ev)}
    t = time.perf_counter()
    if cfg["kind"] == "nonprivate":
        rec = fine_tune(bundle, train, epochs=NONPRIVATE["epochs"], lr=NONPRIVATE["lr"], batch_size=NONPRIVATE["batch_size"],
                        max_length=MAX_LENGTH, seed=cfg["seed"], show_progress=False)
        out["train_seconds"] = time.perf_counter() - t
        out["metrics"] = _metrics(bundle, ev)
        out["config"] = rec.config
        return out
    options = dict(VARIANTS[cfg["variant"]])
    if cfg.get("max_epochs"):
        options.setdefault("max_epochs", cfg["max_epochs"])
    factor = options.pop("lr_factor", None)
    if factor is not None:
        base = recommend(len(train), cfg["epsilon"], 1e-5, train.num_labels, options.get("trainable"),
                         max_epochs=options.get("max_epochs"))
        options["lr"] = base.lr * factor
    plan = recommend(len(train), cfg["epsilon"], 1e-5, train.num_labels, options.get("trainable"),
                     epochs=options.get("epochs"), batch_size=options.get("batch_size"), max_epochs=options.get("max_epochs"),
                     optimizer=options.get("optimizer"), linear_probe=options.get("linear_probe"))
    tracker = _Tracker(plan.steps)
    rec = fine_tune_private(bundle, train, target_epsilon=cfg["epsilon"], delta=1e-5, max_length=MAX_LENGTH,
                            seed=cfg["seed"], max_physical_batch_size=cfg["physical"], show_progress=False,
                            cross_check=True, step_callback=tracker, **options)
    out["train_seconds"] = time.perf_counter() - t
    out["metrics"] = _metrics(bundle, ev)  # the saved model: the recipe's weight average (or the last iterate without one)
    led = rec.ledger
    out["ledger"] = {k: led[k] for k in ("epsilon", "delta", "noise_multiplier", "sample_rate", "steps", "epochs",
                                         "max_grad_norm", "logical_batch_size", "independent_check")}
    out["config"] = {k: v for k, v in rec.config.items() if k not in ("compat", "per_example_gradients")}
    out["clipped_share_per_epoch"] = {e: sum(v) / len(v) for e, v in sorted(tracker.clipped.items())}
    extra = {}
    if tracker.last is not None and VARIANTS[cfg["variant"]].get("trainable") is None:
        if rec.config.get("ema_decay"):  # the saved weights are an average: the last weights too
            tracker.load(bundle.model, tracker.last)
            extra["last iterate"] = _metrics(bundle, ev)
        for w, shadow in tracker.averages.items():
            tracker.load(bundle.model, shadow)
            extra[f"average of the last {w:.0%} of steps"] = _metrics(bundle, ev)
    out["weights"] = extra
    return out


def _spread(values: list[float]) -> str:
    import statistics

    if not values:
        return "-"
    m = statistics.mean(values) * 100
    if len(values) == 1:
        return f"{m:.1f}"
    return f"{m:.1f} ± {statistics.stdev(values) * 100:.1f}"


def utility_recipe(args: argparse.Namespace) -> dict[str, Any]:
    """The table of docs/privacy.md: non-private against the default recipe, per dataset, epsilon and seed."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _record
    from audit.training.recipe import recommend

    rec = _record.Recorder("bench_dp", args, "utility")
    base = {"model": args.model, "device": args.device, "threads": args.threads, "physical": args.physical,
            "eval_rows": args.eval_rows}
    epsilons = [float(e) for e in args.epsilons.split(",") if e]
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    configs = []
    for ds in [d for d in args.datasets.split(",") if d]:
        cap = _demo_cap() if ds == "demo" else None
        seeds = [int(x) for x in args.seed_list.split(",") if x] if args.seed_list else range(args.seeds)
        for seed in seeds:
            if not args.no_nonprivate:
                configs.append(base | {"dataset": ds, "kind": "nonprivate", "seed": seed})
            for eps in epsilons:
                for v in variants:
                    configs.append(base | {"dataset": ds, "kind": "private", "variant": v, "epsilon": eps, "seed": seed,
                                           "max_epochs": cap})
    rec.print(f"planned runs ({len(configs)}), in order; per-example gradients each private run computes:")
    for c in configs:
        if c["kind"] == "private":
            n = int(c["dataset"].split("-")[1]) if c["dataset"].startswith("agnews-") else 1920
            opts = VARIANTS[c["variant"]]
            plan = recommend(n, c["epsilon"], 1e-5, 2, opts.get("trainable"), epochs=opts.get("epochs"),
                             batch_size=opts.get("batch_size"), max_epochs=opts.get("max_epochs", c["max_epochs"]),
                             optimizer=opts.get("optimizer"), linear_probe=opts.get("linear_probe"))
            rec.print(f"  {c['dataset']:<13} eps={c['epsilon']:g} {c['variant']:<10} seed={c['seed']}: {plan.epochs} epochs x "
                      f"{n} = {plan.epochs * n:,} (batch {plan.batch_size}, {plan.steps} steps)")
        else:
            rec.print(f"  {c['dataset']:<13} non-private seed={c['seed']}")
    results: list[dict[str, Any]] = rec.add("runs", [])
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        for r in pool.map(run_recipe_config, configs):
            results.append(r)
            m = r["metrics"]
            what = "non-private" if r["kind"] == "nonprivate" else f"eps={r['epsilon']:g} {r['variant']}"
            extra = "".join(f"; {k} {v['accuracy']:.4f}" for k, v in r.get("weights", {}).items())
            clip = r.get("clipped_share_per_epoch") or {}
            rec.print(f"{r['dataset']:<13} seed={r['seed']} {what:<22} accuracy {m['accuracy']:.4f} ece {m['ece']:.3f} "
                      f"train {r['train_seconds']:.0f}s"
                      + (f" eps={r['ledger']['epsilon']:.3f} sigma={r['ledger']['noise_multiplier']:.3f} "
                         f"B={r['ledger']['logical_batch_size']} steps={r['ledger']['steps']} lr={r['config']['lr']:.3g} "
                         f"clipped first/last epoch {min(clip.items())[1]:.2f}/{max(clip.items())[1]:.2f}" if "ledger" in r else "")
                      + extra)
            rec.save()
    _table(rec, results)
    rec.save()
    return rec.to_dict()


def _seeds(runs: list[dict[str, Any]]) -> str:
    """Distinct seeds of a group of runs; runs of one seed on several devices are named, not counted as seeds."""
    seeds = len({r.get("seed") for r in runs})
    if len(runs) == seeds:
        return str(seeds)
    devices = ", ".join(sorted({str(r.get("device")) for r in runs}))
    return f"{seeds} ({len(runs)} runs: {devices})"


def _table(rec, results: list[dict[str, Any]]) -> None:
    groups: dict[tuple, dict[str, list]] = {}
    for r in results:
        key = (r["dataset"], r["n_train"], r["n_eval"])
        g = groups.setdefault(key, {})
        name = "non-private" if r["kind"] == "nonprivate" else (r["epsilon"], r["variant"])
        g.setdefault(name, []).append(r)
    rec.print("")
    rec.print("| data | n train | n eval | ε | private (variant) | accuracy % | non-private % | gap (pt) | seeds | epochs / batch / steps | train time |")
    rec.print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for (ds, n, n_eval), g in groups.items():
        plain = [r["metrics"]["accuracy"] for r in g.get("non-private", [])]
        plain_time = [r["train_seconds"] for r in g.get("non-private", [])]
        if plain:
            rec.print(f"| {ds} | {n:,} | {n_eval:,} | — | non-private | {_spread(plain)} | | | {_seeds(g['non-private'])} | "
                      f"{NONPRIVATE['epochs']} / {NONPRIVATE['batch_size']} / — | {sum(plain_time) / len(plain_time):.0f} s |")
        for key, runs in g.items():
            if key == "non-private":
                continue
            eps, variant = key
            acc = [r["metrics"]["accuracy"] for r in runs]
            gap = "" if not plain else f"{(sum(acc) / len(acc) - sum(plain) / len(plain)) * 100:+.1f}"
            led = runs[0]["ledger"]
            t = sum(r["train_seconds"] for r in runs) / len(runs)
            rec.print(f"| {ds} | {n:,} | {n_eval:,} | {eps:g} | {variant} | {_spread(acc)} | {_spread(plain)} | {gap} | "
                      f"{_seeds(runs)} | {led['epochs']} / {led['logical_batch_size']} / {led['steps']} | {t:.0f} s |")
    averaged = [(key, runs) for g in groups.values() for key, runs in g.items()
                if key != "non-private" and any(r.get("weights") for r in runs)]
    if averaged:  # the saved weights against weight averages (and the last weights) of the same runs
        rec.print("")
        rec.print("| data | ε | variant | saved weights % | " + " | ".join(
            f"{w} %" for w in averaged[0][1][0]["weights"]) + " |")
        rec.print("| --- | --- | --- | --- | " + " | ".join("---" for _ in averaged[0][1][0]["weights"]) + " |")
        for (eps, variant), runs in averaged:
            runs = [r for r in runs if r.get("weights")]
            cols = [_spread([r["weights"][w]["accuracy"] for r in runs if w in r["weights"]]) for w in averaged[0][1][0]["weights"]]
            rec.print(f"| {runs[0]['dataset']} | {eps:g} | {variant} | {_spread([r['metrics']['accuracy'] for r in runs])} | "
                      + " | ".join(cols) + " |")


def _had_linear_probe(run: dict[str, Any]) -> bool:
    """Whether a recorded private run started with a linear probe (recorded in its training configuration)."""
    cfg = run.get("config") or {}
    return bool(cfg.get("linear_probe_epochs") or cfg.get("linear_probe"))


def _probe_label(run: dict[str, Any]) -> str:
    """The variant of a recorded private run, saying when it trained without the recipe's linear probe."""
    variant, probe = run.get("variant") or "recipe", _had_linear_probe(run)
    if variant in ("recipe", "lp-ft", "no-lp"):
        return "recipe" if probe else "no-lp"
    if variant.endswith("-no-lp"):
        return f"{variant.removesuffix('-no-lp')}, no-lp"
    return variant if probe else f"{variant}, no-lp"


def _table_from_records(names: list[str]) -> None:
    """The utility table of the runs of several ``--record`` files (e.g. one per machine or per seed batch)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _record

    runs, where = [], []
    for name in names:
        path = Path(name) if Path(name).is_file() else _record.RESULTS_DIR / f"{name.removesuffix('.json')}.json"
        data = json.loads(path.read_text())
        found = (data.get("results") or {}).get("runs") or []
        if not found:
            raise SystemExit(f"{path}: no utility runs recorded")
        runs += found
        machine = data.get("machine") or {}
        where.append(f"{path.name}: {machine.get('gpu') or machine.get('cpu_model') or '?'} "
                     f"({machine.get('cpu_count')} cores), {len(found)} runs, commit {str((data.get('versions') or {}).get('textaudit_commit'))[:7]}")
    # the recipe with and without its linear probe, whatever the variant was called when it was recorded
    runs = [{**r, "variant": _probe_label(r)} if r.get("kind") == "private" else r for r in runs]
    # the same configuration and seed recorded twice (e.g. the non-private run of a seed, in two records) counts once
    seen, unique = set(), []
    for r in runs:
        key = (r.get("dataset"), r.get("n_train"), r.get("n_eval"), r.get("kind"), r.get("variant"), r.get("epsilon"),
               r.get("seed"), r.get("device"))
        if key not in seen:
            seen.add(key)
            unique.append(r)
    dropped, runs = len(runs) - len(unique), unique
    # runs that saved a moving average of the weights (the recipe before it saved the last weights)
    # are shown with the last weights they also evaluated: what the recipe saves now
    averaged = [r for r in runs if "last iterate" in (r.get("weights") or {})]
    runs = [{**r, "metrics": r["weights"]["last iterate"]} if r in averaged else r for r in runs]
    rec = _record.Recorder("bench_dp")
    for w in where:
        rec.print(w)
    if dropped:
        rec.print(f"{dropped} run(s) recorded again with the same configuration and seed are counted once")
    if averaged:
        rec.print(f"{len(averaged)} run(s) saved a moving average of the weights; the table shows their last weights, "
                  "evaluated in the same run")
    _table(rec, runs)


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
    c = sub.add_parser("cost")
    c.add_argument("--model", default=None, help="model directory (default: the embedded backbone)")
    c.add_argument("--device", default="cpu")
    c.add_argument("--batch", type=int, default=32, help="logical batch size")
    c.add_argument("--physical", type=int, default=16, help="physical batch size")
    c.add_argument("--seq-len", type=int, default=64)
    c.add_argument("--repeats", type=int, default=_record.MIN_REPEATS, help="timed rounds (every variant one step each)")
    c.add_argument("--warmup", type=int, default=1, help="untimed steps of every variant before the timed rounds")
    c.add_argument("--memory-steps", type=int, default=1, help="CPU memory: steps measured after the warm-up")
    c.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    c.add_argument("--json", default=None, help="write the results here")
    c.add_argument("--scopes", default=",".join(SCOPES))
    c.add_argument("--modes", default=",".join(MODES))
    _record.add_record_argument(c)
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
    u.add_argument("--recipe", action="store_true", help="non-private against the default recipe on real data (see above)")
    u.add_argument("--epsilons", default="8", help="with --recipe: comma-separated epsilons")
    u.add_argument("--variants", default="recipe", help=f"with --recipe: {', '.join(VARIANTS)}")
    u.add_argument("--eval-rows", type=int, default=2000, help="with --recipe: AG News test rows evaluated (0: all 7,600)")
    u.add_argument("--no-nonprivate", action="store_true", help="with --recipe: skip the non-private runs")
    u.add_argument("--seed-list", default=None, help="with --recipe: comma-separated seeds to run (instead of 0..seeds-1)")
    u.add_argument("--from-records", nargs="+", default=None, metavar="NAME",
                   help="with --recipe: print the table of runs already recorded in benchmarks/results/NAME.json "
                        "(several records together; nothing is trained)")
    _record.add_record_argument(u)
    args = p.parse_args(argv)
    if args.cmd == "utility" and args.recipe and args.from_records:
        _table_from_records(args.from_records)
        return
    if args.cmd == "utility" and args.recipe:
        if args.datasets == "demo,small,noisy":
            args.datasets = "demo,agnews-1000,agnews-2500"
        out = utility_recipe(args)
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=2, default=str))
        return
    out = cost(args) if args.cmd == "cost" else utility(args)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
