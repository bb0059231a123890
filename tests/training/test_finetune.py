import json

import numpy as np
import pytest

from audit.data import TextDataset
from audit.models import load_model
from audit.training import fine_tune

POS = ["good", "great", "superb", "lovely", "excellent"]
NEG = ["bad", "awful", "dull", "poor", "terrible"]


def _toy(n=160, seed=0):
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        y = i % 2
        word = rng.choice(POS if y else NEG)
        texts.append(f"the film was {word} and the cast was fine")
        labels.append(y)
    return TextDataset(texts=texts, labels=labels, label_names=["neg", "pos"], source="toy")


def test_fine_tune_learns_and_records(tiny_dirs, tmp_path):
    b = load_model(tiny_dirs["bert"], device="cpu")
    train, ev = _toy(160, 0), _toy(40, 1)
    sha_before = b.sha256
    rec = fine_tune(b, train, ev, epochs=8, lr=3e-3, batch_size=16, seed=0, out_dir=tmp_path / "ckpt", show_progress=False)
    assert b.sha256 != sha_before
    assert rec.epochs[-1]["eval"]["accuracy"] >= 0.95
    assert rec.epochs[-1]["train_loss"] < rec.epochs[0]["train_loss"]
    assert b.label_names == ["neg", "pos"]
    saved = json.loads((tmp_path / "ckpt" / "training.json").read_text())
    assert saved["data_sha256"] == train.sha256 and saved["seed"] == 0 and saved["config"]["lr"] == 3e-3
    assert saved["model_sha256"] == b.sha256
    assert (tmp_path / "ckpt" / "model.safetensors").is_file()
    again = load_model(tmp_path / "ckpt", device="cpu")
    assert again.sha256 == b.sha256 and again.label_names == ["neg", "pos"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left behind


def test_same_seed_same_weights(tiny_dirs):
    hashes = []
    for _ in range(2):
        b = load_model(tiny_dirs["distilbert"], device="cpu")
        fine_tune(b, _toy(48), epochs=1, lr=1e-3, batch_size=16, seed=7, show_progress=False)
        hashes.append(b.sha256)
    assert hashes[0] == hashes[1]


def test_bad_arguments(tiny_dirs):
    b = load_model(tiny_dirs["bert"], device="cpu")
    with pytest.raises(ValueError):
        fine_tune(b, _toy(8), epochs=0)
    three = TextDataset(texts=["a", "b", "c"], labels=[0, 1, 2], label_names=["x", "y", "z"])
    with pytest.raises(ValueError, match="label"):
        fine_tune(b, three, epochs=1)
