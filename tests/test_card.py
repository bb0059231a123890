"""`audit card`: a Hugging Face model card from results.json."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import ModelCard

from modelcard import CardInfo, build_card, load_card_info, md, write_card
from modelcard._metrics import MULTI_LABEL, SINGLE_LABEL

REPO = Path(__file__).resolve().parents[1]
XSS = "<script>alert(1)</script>"
HOSTILE_LABELS = [f"neg {XSS}", "pos *bold* [link](http://x.test) | `tick` # {{ 7*7 }}"]
PLACEHOLDER = "[to be completed by the model owner:"


def perf(labels: list[str]) -> dict[str, Any]:
    return {"split": "eval", "n": 480, "label_names": labels, "accuracy": 0.93125, "precision_macro": 0.9301,
            "recall_macro": 0.9287, "f1_macro": 0.92937, "roc_auc": 0.9712, "roc_auc_kind": "binary", "ece": 0.0312,
            "ece_bins": 15, "confusion_matrix": [[220, 20], [13, 227]],
            "per_class": [{"label": labels[0], "precision": 0.944, "recall": 0.917, "f1": 0.93, "support": 240},
                          {"label": labels[1], "precision": 0.919, "recall": 0.946, "f1": 0.932, "support": 240}]}


def ledger() -> dict[str, Any]:
    return {"epsilon": 7.98, "delta": 1e-5, "accountant": "prv", "noise_multiplier": 1.0176, "sample_rate": 0.1333,
            "steps": 75, "epochs": 10, "max_grad_norm": 1.0, "logical_batch_size": 256, "dataset_size": 1920,
            "secure_rng": False, "independent_check": {"library": "dp-accounting", "version": "0.6.0", "pld": 7.95},
            "model_sha256": "e" * 64}


def results() -> dict[str, Any]:
    ident = {"source": "backbone", "sha256": "e" * 64, "architecture": "BertForSequenceClassification",
             "model_type": "bert", "n_parameters": 22713986, "num_labels": 2, "label_names": HOSTILE_LABELS}
    return {
        "schema_version": 1,
        "run": {"created": "2026-11-23T10:00:00+00:00", "command": "demo", "seed": 0,
                "versions": {"torch": "2.13.0", "transformers": "5.24.0"}},
        "data": {"source": "reviews.csv", "sha256": "d" * 64, "n_rows": 480,
                 "label_counts": {HOSTILE_LABELS[0]: 240, HOSTILE_LABELS[1]: 240}},
        "models": {
            "baseline": {"identity": ident | {"sha256": "a" * 64}, "performance": perf(HOSTILE_LABELS)},
            "private": {"identity": ident, "training": {"n_train": 1920, "data_sha256": "b" * 64, "config": {"epochs": 10}},
                        "performance": perf(HOSTILE_LABELS), "privacy_ledger": ledger(),
                        "robustness": {"invariance": {"n_tests": 4, "n_passed": 3, "n_not_applicable": 0, "n_texts": 20}}},
        },
        "checks": [{"name": "private: accuracy", "status": "pass", "message": "held-out accuracy 93.1%"},
                   {"name": "private: invariance tests", "status": "warn", "message": "3 of 4 passed"}],
        "limitations": ["Metrics are measured on the evaluation split only.", "baseline: only a few examples."],
    }


def load_back(tmp_path: Path, **kw: Any) -> tuple[ModelCard, str]:
    path = write_card(results(), tmp_path / "README.md", **kw)
    return ModelCard.load(path), path.read_text(encoding="utf-8")


def test_front_matter_parses_and_eval_results_equal_the_metrics(tmp_path: Path) -> None:
    card, text = load_back(tmp_path, model="private")
    assert text.startswith("---\n")
    data = card.data
    assert data.model_name == "private" and data.pipeline_tag == "text-classification"
    assert "differential-privacy" in data.tags
    metrics = perf(HOSTILE_LABELS)
    got = {(r.metric_type, r.metric_config): r.metric_value for r in data.eval_results}
    want = {(kind, config): metrics[key] for key, kind, _, config in SINGLE_LABEL}
    assert got == want
    assert {r.dataset_split for r in data.eval_results} == {"eval"}
    assert all(r.task_type == "text-classification" for r in data.eval_results)


def test_multi_label_metrics_are_the_multi_label_ones(tmp_path: Path) -> None:
    r = results()
    ml = {"problem_type": "multi_label", "split": "eval", "n": 50, "threshold": 0.5, "subset_accuracy": 0.42,
          "hamming_loss": 0.11, "f1_micro": 0.81, "precision_micro": 0.8, "recall_micro": 0.82, "f1_macro": 0.7,
          "precision_macro": 0.71, "recall_macro": 0.69, "roc_auc": None, "ece": 0.05,
          "per_label": [{"label": "toxic", "precision": 0.8, "recall": 0.7, "f1": 0.75, "support": 20}]}
    r["models"] = {"ml": {"identity": {"sha256": "c" * 64}, "performance": ml}}
    card = ModelCard.load(write_card(r, tmp_path / "README.md"))
    got = {r.metric_name: r.metric_value for r in card.data.eval_results}
    assert got == {name: ml[key] for key, _, name, _ in MULTI_LABEL if ml[key] is not None}
    assert "ROC-AUC" not in got and "| toxic |" in card.content


def test_missing_owner_fields_are_marked_and_given_ones_appear(tmp_path: Path) -> None:
    _, text = load_back(tmp_path, model="private")
    for what in ("owners", "contact", "licence", "language of the texts", "dataset name", "the intended use",
                 "uses the model is not suited for"):
        assert md(f"{PLACEHOLDER} {what}") in text, what
    info = tmp_path / "card.toml"
    info.write_text('license = "apache-2.0"\nlanguage = "en"\nowners = ["Reviews team"]\ncontact = "ml@example.org"\n'
                    'intended_use = "Routing product reviews to support queues."\n'
                    'out_of_scope_use = "Decisions about people."\ndataset_name = "Shop reviews 2026"\n', encoding="utf-8")
    given = load_card_info(info).merged(owners=["Flag owner"], dataset_id="org/shop-reviews")
    card, text = load_back(tmp_path, model="private", info=given)
    assert card.data.license == "apache-2.0" and card.data.language == ["en"]
    assert card.data.datasets == ["org/shop-reviews"]
    assert {(r.dataset_name, r.dataset_type) for r in card.data.eval_results} == {("Shop reviews 2026", "org/shop-reviews")}
    for value in ("Routing product reviews to support queues.", "Decisions about people.", "ml@example.org", "Flag owner"):
        assert value in text, value
    assert "Reviews team" not in text  # a flag replaces the file's value
    for what in ("owners", "contact", "licence", "dataset name", "the intended use"):
        assert md(f"{PLACEHOLDER} {what}") not in text, what


def test_card_info_errors_name_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "card.toml"
    bad.write_text('licence = "mit"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"card.toml: unknown key 'licence'"):
        load_card_info(bad)
    bad.write_text("owners = [1, 2]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="'owners' must be a string or a list"):
        load_card_info(bad)
    with pytest.raises(ValueError, match="several models"):
        build_card(results())
    with pytest.raises(ValueError, match="no model 'nope'"):
        build_card(results(), "nope")


def test_privacy_ledger_in_plain_words(tmp_path: Path) -> None:
    _, private = load_back(tmp_path, model="private")
    assert "Trained with differential privacy (DP-SGD): **epsilon 7.980 at delta 1e-5**" in private
    assert "accountant PRV" in private and "noise multiplier 1.0176" in private and "1,920 training examples" in private
    assert "What this means" in private and "e^epsilon ≈ 2,922" in private  # exp(7.98)
    assert "computes epsilon 7.950" in private and "secure RNG off" in private
    _, baseline = load_back(tmp_path, model="baseline")
    assert "Trained without differential privacy" in baseline and "epsilon 7.980" not in baseline
    assert "baseline: only a few examples." in baseline and "baseline: only a few examples." not in private


def test_hostile_labels_are_escaped(tmp_path: Path) -> None:
    _, text = load_back(tmp_path, model="private")
    body = text.split("\n---\n", 1)[1]
    assert "<script>" not in body and "&lt;script&gt;" in body
    assert "[link](" not in body and "\\[link\\](" in body
    assert "*bold*" not in body and "\\*bold\\*" in body
    assert "`tick`" not in body and "{{ 7*7 }}" not in body
    for row in [line for line in body.splitlines() if line.startswith("| neg") or line.startswith("| pos")]:
        assert len(re.findall(r"(?<!\\)\|", row)) == 6, row  # five cells: no extra column from the label's "|"


def test_hostile_model_name_is_escaped_in_title_and_kept_in_front_matter(tmp_path: Path) -> None:
    r = results()
    name = f"# {XSS} | *m*"
    r["models"] = {name: r["models"]["private"]}
    r["checks"] = [{"name": f"{name}: accuracy", "status": "pass", "message": XSS}]
    card = ModelCard.load(write_card(r, tmp_path / "README.md"))
    assert card.data.model_name == name  # YAML quotes it; the Hub shows it as data
    title = card.content.split("\n---\n", 1)[1].lstrip().splitlines()[0]
    assert title == "# \\# &lt;script&gt;alert(1)&lt;/script&gt; \\| \\*m\\*"
    assert "<script>" not in card.content.split("\n---\n", 1)[1]


def test_regulatory_map_in_card(tmp_path: Path) -> None:
    _, text = load_back(tmp_path, model="private")
    section = text.split("## Regulatory map (EU AI Act)", 1)[1]
    assert "not legal advice" in section
    rows = {line.split(" | ")[0].strip("| "): line for line in section.splitlines() if line.startswith("| ")}
    assert "**assessed**" in rows["Robustness probe"] and "private: invariance tests (warn)" in rows["Robustness probe"]
    assert "**assessed**" in rows["Differential-privacy ledger"]
    assert "| not assessed |" in rows["Privacy leakage audit"] and "| not assessed |" in rows["Explanation quality"]


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "README.md"
    target.write_text("old card", encoding="utf-8")

    def fail(*_: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("reports._io.os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_card(results(), target, model="private")
    assert target.read_text(encoding="utf-8") == "old card"
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]


def test_cli_writes_the_card_without_torch(tmp_path: Path) -> None:
    src = tmp_path / "results.json"
    src.write_text(json.dumps(results()), encoding="utf-8")
    out = tmp_path / "card" / "README.md"
    code = ("import sys; from audit.cli import main\n"
            f"rc = main(['card', {str(src)!r}, '--out', {str(out)!r}, '--model', 'private', '--license', 'mit', '-q'])\n"
            "heavy = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
            "print(rc, heavy)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0 []"
    assert ModelCard.load(out).data.license == "mit"
    bad = subprocess.run([sys.executable, "-m", "audit.cli", "card", str(src), "--out", str(out)], cwd=REPO,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "several models (baseline, private); choose one with --model" in bad.stderr


def test_card_from_a_real_audit(tmp_path: Path, tiny_dirs: dict[str, Path]) -> None:
    """A tiny model audited end to end: results.json carries the regulatory map, and its card round-trips."""
    from audit.demo import demo_splits
    from audit.models import load_model
    from audit.pipeline import AuditConfig, run_audit

    bundle = load_model(tiny_dirs["bert"], device="cpu", label_names=["negative", "positive"])
    _, ev = demo_splits(n=60, seed=1)
    result = run_audit(bundle, ev, AuditConfig(examples_per_category=1, ig_steps=8, show_progress=False, analyses=()))
    d = json.loads(json.dumps(result.to_dict()))
    reg = {e["section"]: e for h in d["regulatory_map"]["headings"] for e in h["evidence"]}
    assert reg["performance"]["status"] == "assessed" and reg["explanations"]["status"] == "assessed"
    assert reg["robustness"]["status"] == "not assessed" and reg["privacy_audit"]["status"] == "not assessed"
    assert d["regulatory_map"]["unmapped_checks"] == []
    card = ModelCard.load(write_card(d, tmp_path / "README.md"))
    perf_ = d["models"]["baseline"]["performance"]
    assert {r.metric_name: r.metric_value for r in card.data.eval_results} == {
        name: perf_[key] for key, _, name, _ in SINGLE_LABEL if perf_.get(key) is not None}
    assert bundle.sha256 in card.content
