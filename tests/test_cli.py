import json
import subprocess
import sys
import time

import pytest

from audit.cli import main
from audit.data import save_dataset
from audit.demo import demo_splits, make_demo_dataset


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "reviews.csv"
    save_dataset(make_demo_dataset(n=80, seed=5), path)
    return path


def test_help_is_fast():
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "audit.cli", "--help"], capture_output=True, text=True, check=True)
    assert "demo" in out.stdout and "render" in out.stdout
    assert time.perf_counter() - t < 5


def test_run_and_render(tiny_dirs, csv_file, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["run", "--model", str(tiny_dirs["bert"]), "--data", str(csv_file), "--out", str(out),
               "--examples", "1", "--ig-steps", "8", "--no-faithfulness", "--no-robustness", "--quiet"])
    assert rc == 2  # the tiny model's labels are LABEL_0/1, the file's are names: a clear error
    err = capsys.readouterr().err
    assert "error" in err and "label" in err and "reviews.csv" in err and len(err.strip().splitlines()) == 1


def test_run_with_matching_labels(tiny_dirs, tmp_path, capsys):
    _, ev = demo_splits(n=60, seed=6)
    csv = tmp_path / "ids.csv"
    import pandas as pd

    pd.DataFrame({"review": ev.texts, "y": ev.labels}).to_csv(csv, index=False)
    out = tmp_path / "out"
    rc = main(["run", "--model", str(tiny_dirs["distilbert"]), "--data", str(csv), "--text-column", "review",
               "--label-column", "y", "--out", str(out), "--examples", "1", "--ig-steps", "8",
               "--faithfulness-examples", "3", "--probe", "--attack-texts", "3", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    d = json.loads((out / "results.json").read_text())
    assert d["data"]["text_column"] == "review" and d["run"]["command"] == "run"
    sec = d["models"]["baseline"]
    assert sec["faithfulness"]["n_examples"] == 3  # the analyses run by default, with the CLI's budget
    assert d["run"]["config"]["audit"]["analysis_options"]["robustness"]["n_attack"] == 3
    assert sec["robustness"]
    html = (out / "report.html").read_text()
    assert "Explanation quality" in html and "Robustness" in html
    rc = main(["render", str(out / "results.json"), "--out", str(tmp_path / "again.html"), "--quiet"])
    assert rc == 0
    assert (tmp_path / "again.html").read_text().startswith("<!DOCTYPE html>")
    # where the time went: every stage, each analysis, the rendering; the sequential ones add up to the wall time
    timings = d["run"]["timings"]
    assert {"load", "data", "evaluate", "explain", "faithfulness", "robustness", "audit", "render"} <= set(timings)
    assert all(v >= 0 for v in timings.values()) and timings["render"] > 0
    assert timings["audit"] >= timings["evaluate"] + timings["faithfulness"] + timings["robustness"]
    assert d["run"]["wall_time_s"] == pytest.approx(timings["load"] + timings["data"] + timings["audit"] + timings["render"])
    again = (tmp_path / "again.html").read_text()
    assert "Where the time went" in again and "Report rendering" in again and "robustness probe" in again


def test_bad_input_is_one_line_error(tiny_dirs, csv_file, tmp_path, capsys):
    rc = main(["run", "--model", str(tiny_dirs["bert"]), "--data", str(csv_file), "--text-column", "body",
               "--out", str(tmp_path / "o"), "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("audit: error:") and "body" in err and "reviews.csv" in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()
    rc = main(["run", "--model", str(tmp_path / "nope"), "--data", str(csv_file), "--out", str(tmp_path / "o"), "-q"])
    assert rc == 2 and "no such directory" in capsys.readouterr().err
    rc = main(["render", str(tmp_path / "missing.json"), "--out", str(tmp_path / "r.html")])
    assert rc == 2


def test_train_command(tiny_dirs, csv_file, tmp_path, capsys):
    out = tmp_path / "trained"
    rc = main(["train", "--data", str(csv_file), "--model", str(tiny_dirs["bert"]), "--out", str(out), "--epochs", "1",
               "--examples", "1", "--ig-steps", "8", "--batch-size", "16", "--no-faithfulness", "--no-robustness", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    assert (out / "model" / "model.safetensors").is_file()
    d = json.loads((out / "results.json").read_text())
    assert d["models"]["baseline"]["training"]["n_train"] == 64
    assert d["models"]["baseline"]["identity"]["label_names"] == ["negative", "positive"]
    assert "faithfulness" not in d["models"]["baseline"] and "robustness" not in d["models"]["baseline"]


def test_train_command_with_dp(tiny_dirs, csv_file, tmp_path, capsys):
    out = tmp_path / "private"
    rc = main(["train", "--data", str(csv_file), "--model", str(tiny_dirs["bert"]), "--out", str(out), "--dp",
               "--epsilon", "8", "--epochs", "2", "--batch-size", "16", "--no-explain", "--no-faithfulness",
               "--no-robustness", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    ledger = json.loads((out / "model" / "privacy_ledger.json").read_text())
    assert 7.0 < ledger["epsilon"] <= 8.0 * 1.005 and ledger["accountant"] == "prv"
    d = json.loads((out / "results.json").read_text())
    assert d["models"]["private"]["privacy_ledger"]["epsilon"] == ledger["epsilon"]
    assert "Privacy" in (out / "report.html").read_text()
    recipe = ledger["recipe"]  # the given settings are kept, the others come from the recipe with their reasons
    assert sorted(recipe["given"]) == ["batch_size", "epochs"] and (recipe["epochs"], recipe["batch_size"]) == (2, 16)
    assert ledger["max_grad_norm"] == recipe["max_grad_norm"] and "clipped" in recipe["reasons"]["max_grad_norm"]
    assert recipe["linear_probe_epochs"] == 1 and "head alone" in recipe["reasons"]["linear_probe_epochs"]
    assert "Private-training recipe" in (out / "report.html").read_text()
    # its model card states the guarantee in words, with the ledger's own numbers
    rc = main(["card", str(out / "results.json"), "--out", str(out / "model" / "README.md"), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    card = (out / "model" / "README.md").read_text()
    assert f"Trained with differential privacy (DP-SGD): **epsilon {ledger['epsilon']:,.3f} at delta" in card
    # auditing the saved model later finds its ledger: the same guarantee, for the same weights
    rc = main(["run", "--model", str(out / "model"), "--data", str(csv_file), "--out", str(tmp_path / "again"),
               "--no-explain", "--no-faithfulness", "--no-robustness", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    again = json.loads((tmp_path / "again" / "results.json").read_text())
    sec = again["models"]["private"]
    assert sec["privacy_ledger"]["epsilon"] == ledger["epsilon"]
    assert sec["privacy_ledger"]["model_sha256"] == sec["identity"]["sha256"]
    assert sec["training"]["n_train"] == d["models"]["private"]["training"]["n_train"]
    html = (tmp_path / "again" / "report.html").read_text()
    assert "other weights" not in html
    (out / "model" / "privacy_ledger.json").write_text("[1, 2]")
    rc = main(["run", "--model", str(out / "model"), "--data", str(csv_file), "--out", str(tmp_path / "bad"),
               "--no-explain", "--no-faithfulness", "--no-robustness", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "privacy_ledger.json" in err and "JSON object" in err
    rc = main(["train", "--data", str(csv_file), "--model", str(tiny_dirs["bert"]), "--out", str(tmp_path / "x"),
               "--epsilon", "8", "--quiet"])
    assert rc == 2 and "--dp" in capsys.readouterr().err  # privacy options without --dp are refused


def test_train_command_records_the_precision(tiny_dirs, csv_file, tmp_path, capsys):
    out = tmp_path / "bf16"
    rc = main(["train", "--data", str(csv_file), "--model", str(tiny_dirs["bert"]), "--out", str(out), "--dp", "--epsilon", "8",
               "--epochs", "1", "--batch-size", "16", "--precision", "bf16", "--grad-sample-mode", "hooks",
               "--dp-optimizer", "adam-bc", "--clipping", "automatic", "--no-report", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    ledger = json.loads((out / "model" / "privacy_ledger.json").read_text())
    training = json.loads((out / "model" / "training.json").read_text())
    assert ledger["precision"] == "bf16" and training["config"]["precision"] == "bf16"
    assert ledger["grad_sample_mode"] == "hooks"
    assert ledger["recipe"]["optimizer"] == training["config"]["optimizer"] == "adam-bc"
    assert "optimizer" in ledger["recipe"]["given"]
    assert ledger["clipping"] == ledger["recipe"]["clipping"] == training["config"]["clipping"]["name"] == "automatic"
    rc = main(["train", "--data", str(csv_file), "--model", str(tiny_dirs["bert"]), "--out", str(tmp_path / "y"),
               "--dp-optimizer", "adam-bc", "--no-linear-probe", "--quiet"])
    assert rc == 2 and "--[no-]linear-probe need --dp" in capsys.readouterr().err
    rc = main(["train", "--data", str(csv_file), "--model", str(tiny_dirs["bert"]), "--out", str(tmp_path / "x"), "--dp",
               "--epsilon", "8", "--epochs", "1", "--batch-size", "16", "--precision", "bf16", "--grad-sample-mode", "ghost", "--no-report",
               "--quiet"])
    assert rc == 2 and "precision='bf16' is refused" in capsys.readouterr().err


def test_train_choices_follow_the_libraries_registries():
    """Every update rule, clipping mode and clipping rule the library offers can be chosen from `audit train`."""
    from audit.cli import build_parser
    from audit.training.clip_rules import CLIP_RULES
    from audit.training.optimizers import OPTIMIZERS
    from audit.training.private import GRAD_SAMPLE_MODES

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    by_flag = {a.option_strings[0]: a for a in train._actions if a.option_strings}
    assert set(by_flag["--dp-optimizer"].choices) == set(OPTIMIZERS)
    assert set(by_flag["--grad-sample-mode"].choices) == set(GRAD_SAMPLE_MODES)
    assert set(by_flag["--clipping"].choices) == set(CLIP_RULES)
    from audit.training.__main__ import build_parser as training_parser

    module = {a.option_strings[0]: a for a in training_parser()._actions if a.option_strings}
    assert set(module["--optimizer"].choices) == set(OPTIMIZERS) and set(module["--clipping"].choices) == set(CLIP_RULES)
    assert set(module["--grad-sample-mode"].choices) == set(GRAD_SAMPLE_MODES)


def test_run_with_privacy_audit(tiny_dirs, tmp_path, capsys):
    import pandas as pd

    ds = make_demo_dataset(n=120, seed=8)
    for name, part in (("train", ds.subset(range(60))), ("holdout", ds.subset(range(60, 120)))):
        pd.DataFrame({"text": part.texts, "label": part.labels}).to_csv(tmp_path / f"{name}.csv", index=False)
    out = tmp_path / "priv"
    rc = main(["run", "--model", str(tiny_dirs["bert"]), "--data", str(tmp_path / "holdout.csv"), "--out", str(out),
               "--no-explain", "--no-faithfulness", "--no-robustness", "--privacy", "--train-data", str(tmp_path / "train.csv"),
               "--holdout-data", str(tmp_path / "holdout.csv"), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    d = json.loads((out / "results.json").read_text())
    sec = d["models"]["baseline"]["privacy_audit"]
    assert "loss" in json.dumps(sec["membership_inference"]).lower()
    assert "reference" in json.dumps(sec).lower()  # the section says the calibrated attack did not run
    assert "Privacy leakage audit" in (out / "report.html").read_text()
    reg = {e["section"]: e for h in d["regulatory_map"]["headings"] for e in h["evidence"]}
    assert reg["privacy_audit"]["status"] == "assessed" and reg["robustness"]["status"] == "not assessed"
    assert {c["name"] for c in reg["privacy_audit"]["checks"]} == {c["name"] for c in d["checks"] if "membership" in c["name"]
                                                                   or "canary" in c["name"] or "privacy" in c["name"]}
    assert d["regulatory_map"]["unmapped_checks"] == []
    rc = main(["run", "--model", str(tiny_dirs["bert"]), "--data", str(tmp_path / "holdout.csv"), "--out", str(out),
               "--privacy", "--no-faithfulness", "--no-robustness", "--quiet"])
    assert rc == 2 and "--train-data" in capsys.readouterr().err
