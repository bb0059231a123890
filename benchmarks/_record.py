"""Shared timing protocol and run records for the benchmark scripts.

Timing protocol (:func:`time_repeats`): every side of a comparison gets the same number of
warm-up runs (not timed) and the same number of timed repeats (at least 10 for sub-second work);
on CUDA each run is bracketed by ``torch.cuda.synchronize()`` so the wall time covers the kernels,
not only their launch. The summary reports the median, the interquartile range, the minimum and
the maximum; the raw times are kept in the record. :func:`time_interleaved` does the same for
several sides at once, round-robin, so that a shared machine's drifting speed hits every side alike.

Records (:class:`Recorder`): with ``--record`` a benchmark writes its full output (command line,
settings, machine, library versions, thread counts, every repeat, every printed table) as one
JSON file under ``benchmarks/results/``. Figures quoted in the README and docs name the file
they come from, so each one can be traced to a run.

    rec = Recorder("bench_ig", args)           # args: the argparse namespace
    t = time_repeats(fn, repeats=10, warmup=1, device="cpu")
    rec.add("ours", t)                          # any JSON-serialisable value
    rec.print("table line ...")                 # prints and keeps the line
    rec.save()                                  # only when --record was given
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

RESULTS_DIR = Path(__file__).resolve().parent / "results"
MIN_REPEATS = 10

_LIBRARIES = ("torch", "transformers", "opacus", "captum", "shap", "numpy", "scipy", "dp_accounting", "tokenizers", "peft")


def add_record_argument(parser: argparse.ArgumentParser) -> None:
    """``--record [NAME]``: write the run's full output to ``benchmarks/results/NAME.json``."""
    parser.add_argument("--record", nargs="?", const="", default=None, metavar="NAME",
                        help="write settings, machine, versions and every repeat as JSON under benchmarks/results/ "
                             "(NAME defaults to <benchmark>-<subcommand>-<UTC time>)")


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def summarise(times: list[float]) -> dict[str, Any]:
    """Median, quartiles, minimum and maximum of a list of seconds, plus the raw list."""
    ts = sorted(float(t) for t in times)
    if not ts:
        raise ValueError("no timings to summarise")
    if len(ts) >= 2:
        q1, _, q3 = statistics.quantiles(ts, n=4, method="inclusive")
    else:
        q1 = q3 = ts[0]
    return {"median_s": statistics.median(ts), "q1_s": q1, "q3_s": q3, "iqr_s": q3 - q1,
            "min_s": ts[0], "max_s": ts[-1], "repeats": len(ts), "times_s": list(map(float, times))}


def time_repeats(fn: Callable[[], Any], *, repeats: int = MIN_REPEATS, warmup: int = 1, device: str = "cpu") -> tuple[dict[str, Any], Any]:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times timed; returns (summary, last result)."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    out = None
    for _ in range(warmup):
        out = fn()
        _sync(device)
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        out = fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    summary = summarise(times)
    summary["warmup"] = warmup
    return summary, out


def time_interleaved(fns: dict[str, Callable[[], Any]], *, repeats: int = MIN_REPEATS, warmup: int = 1,
                     device: str = "cpu") -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """:func:`time_repeats` for several sides of a comparison at once, run round-robin.

    Every side gets ``warmup`` untimed runs, then each of the ``repeats`` rounds runs every side
    once, the order rotated by one each round, so a machine whose speed drifts (other jobs on a
    shared host) slows every side alike instead of whichever ran last. Returns
    ({name: summary}, {name: last result}).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    names = list(fns)
    out: dict[str, Any] = {}
    for _ in range(warmup):
        for name in names:
            out[name] = fns[name]()
            _sync(device)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        k = r % len(names) if names else 0
        for name in names[k:] + names[:k]:
            _sync(device)
            t0 = time.perf_counter()
            out[name] = fns[name]()
            _sync(device)
            times[name].append(time.perf_counter() - t0)
    summaries = {}
    for name in names:
        summaries[name] = summarise(times[name])
        summaries[name]["warmup"] = warmup
        summaries[name]["interleaved"] = True
    return summaries, out


def fmt_time(summary: dict[str, Any], scale: float = 1e3, unit: str = "ms") -> str:
    """``12.3 ms [11.9–12.8]``: median and interquartile range."""
    return f"{summary['median_s'] * scale:.1f} {unit} [{summary['q1_s'] * scale:.1f}–{summary['q3_s'] * scale:.1f}]"


def machine() -> dict[str, Any]:
    """What the run ran on: CPU model and count, memory, GPU name, thread settings."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "env_threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if os.environ.get(k)},
    }
    try:
        with open("/proc/meminfo") as f:
            info["mem_total_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["gpu_count"] = torch.cuda.device_count()
            info["cuda"] = torch.version.cuda
    except ImportError:
        pass
    return info


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in _LIBRARIES:
        try:
            out[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            continue
    out.update(source_state())
    return out


def source_state() -> dict[str, Any]:
    """The commit of the checkout and whether its tracked files differ from it (``git``; empty without it)."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                                 text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"textaudit_commit": commit, "textaudit_tree_modified": bool(changed)} if commit else {}


class Recorder:
    """Collects a benchmark's settings, printed lines and measurements; writes them with ``--record``."""

    def __init__(self, benchmark: str, args: argparse.Namespace | None = None, subcommand: str | None = None) -> None:
        self.benchmark = benchmark
        self.subcommand = subcommand
        self.args = args
        self.started = _dt.datetime.now(_dt.timezone.utc)
        #: the code the benchmark runs is the code at its start: later commits must not be credited with it
        self.source = source_state()
        self.data: dict[str, Any] = {}
        self.lines: list[str] = []
        if self.args is not None and getattr(self.args, "record", None) is not None:
            self.path()  # a bad --record NAME is refused before the run, not after it

    def add(self, key: str, value: Any) -> Any:
        self.data[key] = value
        return value

    def print(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)

    def to_dict(self) -> dict[str, Any]:
        settings = {k: v for k, v in vars(self.args).items() if k != "func"} if self.args is not None else {}
        return {
            "benchmark": self.benchmark,
            "subcommand": self.subcommand,
            "argv": sys.argv,
            "settings": settings,
            "started_utc": self.started.isoformat(timespec="seconds"),
            "finished_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(),
            "versions": {**versions(), **self.source},
            "results": self.data,
            "output": self.lines,
        }

    def path(self) -> Path:
        name = getattr(self.args, "record", None) if self.args is not None else None
        if not name:
            stamp = self.started.strftime("%Y%m%dT%H%M%SZ")
            name = "-".join(p for p in (self.benchmark, self.subcommand, stamp) if p)
        if Path(name).name != name or name in (".", "..") or "\\" in name:
            raise SystemExit(f"--record {name!r}: give a plain file name; records are written under {RESULTS_DIR}")
        return RESULTS_DIR / f"{name.removesuffix('.json')}.json"

    def save(self) -> Path | None:
        """Write the record if ``--record`` was given (atomically); returns the path written."""
        if self.args is None or getattr(self.args, "record", None) is None:
            return None
        path = self.path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, default=_jsonable) + "\n")
        os.replace(tmp, path)
        print(f"recorded: {path.relative_to(Path(__file__).resolve().parents[1])}", flush=True)
        return path


def _jsonable(obj: Any) -> Any:
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:
        pass
    if isinstance(obj, Path):
        return str(obj)
    return repr(obj)


def fmt_load(load) -> str:
    return ", ".join(f"{x:.1f}" for x in load)


def check_repeats(rec, timing: dict, repeats: int) -> None:
    """At least 10 timed runs for sub-second work; fewer only when every run takes seconds."""
    fast = [name for name, t in timing.items() if t["median_s"] < 1.0]
    if fast and repeats < MIN_REPEATS:
        rec.print(f"WARNING: {', '.join(fast)} take under a second per run; use --repeats {MIN_REPEATS} or more")


def model_identity(bundle, model_dir) -> dict:
    """Where the model came from, with the checkpoint's own hash when its training record has one."""
    info = {"source": str(bundle.source)}
    record = Path(model_dir, "training.json") if model_dir else None
    if record is not None and record.is_file():
        info["model_sha256"] = json.loads(record.read_text()).get("model_sha256")
    return info
