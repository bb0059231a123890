"""``audit train --anonymise``: the model is trained on the anonymised texts and its training
record says how (mode, counts per type, scanner), never with the secret."""

from __future__ import annotations

import json
from dataclasses import replace

from model_zoo import build
from pii_data import ROWS, write_csv

from audit.cli import main
from audit.data import load_dataset
from audit.pii import Anonymiser, PIIScanner, anonymise_texts

SECRET = "a training secret of some length"


def test_train_anonymise_records_it(tmp_path, capsys, monkeypatch):
    data = write_csv(tmp_path / "train.csv", rows=ROWS * 3)
    model_dir = build("bert+wordpiece", tmp_path / "bert")
    out = tmp_path / "trained"
    monkeypatch.setenv("AUDIT_PII_SECRET", SECRET)
    rc = main(["train", "--data", str(data), "--model", str(model_dir), "--out", str(out), "--epochs", "1", "--batch-size", "8",
               "--anonymise", "--anonymise-mode", "pseudonym", "--no-report", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    saved = (out / "model" / "training.json").read_text()
    record = json.loads(saved)
    anon = record["config"]["anonymisation"]
    assert anon["mode"] == "pseudonym" and anon["n_replacements"] == sum(anon["replacements"].values()) > 0
    assert anon["scanner"] and anon["versions"]["phonenumbers"]
    assert SECRET not in saved
    # the record's data hash is that of the anonymised training split, not of the original
    train, _ = load_dataset(data).split(0.2, seed=0)
    texts, summary = anonymise_texts(train.texts, PIIScanner(), Anonymiser("pseudonym", SECRET))
    assert summary["replacements"] == anon["replacements"]
    assert record["data_sha256"] == replace(train, texts=texts).sha256 != train.sha256


def test_train_anonymise_options_need_the_flag(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("AUDIT_PII_SECRET", raising=False)
    data = write_csv(tmp_path / "train.csv", rows=ROWS * 3)
    rc = main(["train", "--data", str(data), "--out", str(tmp_path / "o"), "--anonymise-mode", "pseudonym", "--no-report", "--quiet"])
    assert rc == 2 and "--anonymise" in capsys.readouterr().err
    rc = main(["train", "--data", str(data), "--out", str(tmp_path / "o"), "--anonymise", "--anonymise-mode", "pseudonym",
               "--no-report", "--quiet"])
    assert rc == 2 and "secret" in capsys.readouterr().err


def test_private_training_records_it_too(tmp_path, capsys):
    data = write_csv(tmp_path / "train.csv", rows=ROWS * 3)
    model_dir = build("bert+wordpiece", tmp_path / "bert")
    out = tmp_path / "private"
    rc = main(["train", "--data", str(data), "--model", str(model_dir), "--out", str(out), "--dp", "--epsilon", "8",
               "--epochs", "1", "--batch-size", "8", "--anonymise", "--no-explain", "--no-faithfulness", "--no-robustness",
               "--quiet"])
    assert rc == 0, capsys.readouterr().err
    saved = json.loads((out / "model" / "training.json").read_text())
    assert saved["config"]["anonymisation"]["mode"] == "placeholder"
    assert saved["config"]["anonymisation"]["replacements"]
    assert saved["model_sha256"] and (out / "model" / "privacy_ledger.json").is_file()
    results = json.loads((out / "results.json").read_text())
    assert results["models"]["private"]["training"]["config"]["anonymisation"] == saved["config"]["anonymisation"]
