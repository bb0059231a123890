"""Shared fixtures: tiny randomly initialised BERT, DistilBERT and RoBERTa classifiers saved to disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tiny_models import ARCHS, make_tiny  # noqa: F401  (re-exported for fixtures)


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory) -> dict[str, Path]:
    """Each tiny architecture saved as a model directory (safetensors + tokenizer)."""
    out = {}
    for arch in ARCHS:
        d = tmp_path_factory.mktemp(f"tiny-{arch}")
        model, tok = make_tiny(arch, tmp=d / "build")
        model.save_pretrained(d / "model", safe_serialization=True)
        tok.save_pretrained(d / "model")
        out[arch] = d / "model"
    return out


@pytest.fixture(params=ARCHS)
def tiny_bundle(request, tiny_dirs):
    from audit.models import load_model

    return load_model(tiny_dirs[request.param], device="cpu")


@pytest.fixture(scope="session")
def backbone_bundle():
    """The real embedded backbone with a fresh 2-label head (loaded once per session)."""
    from audit.models import load_model

    return load_model(None, num_labels=2, device="cpu", label_names=["negative", "positive"])
