"""Four classes with string labels end to end: per-class metrics, the confusion matrix and the
explanations in the rendered report, and (when the data is present) AG News through the CLI."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from audit.data import TextDataset, load_dataset
from audit.metrics import compute_metrics, roc_auc_binary
from audit.models import load_model
from model_zoo import build, make_model

NAMES = ["Business", "Sci/Tech", "Sports", "World"]
KEYWORDS = ["market", "software", "football", "election"]
# AG News is not part of the repository: it is read from ``shared/data/agnews`` beside the checkout
# (or above it), or from $TEXTAUDIT_AGNEWS, and the test skips when it is absent.
_ROOT = Path(__file__).resolve().parents[1]
AGNEWS_DIRS = ([Path(os.environ["TEXTAUDIT_AGNEWS"])] if os.environ.get("TEXTAUDIT_AGNEWS") else []) + [
    parent / "shared" / "data" / "agnews" for parent in _ROOT.parents
]


def synthetic(n: int = 96, seed: int = 0) -> TextDataset:
    rng = np.random.default_rng(seed)
    filler = "the a good day was it and so very nice".split()
    texts, labels = [], []
    for i in range(n):
        words = list(rng.choice(filler, 5)) + [KEYWORDS[i % 4]]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(NAMES[i % 4])
    import pandas as pd

    return load_dataset(pd.DataFrame({"text": texts, "label": labels}))  # string labels -> sorted names


def test_per_class_roc_auc_is_one_vs_rest():
    rng = np.random.default_rng(0)
    y = np.arange(40) % 4
    logits = rng.normal(size=(40, 4)) + 1.5 * np.eye(4)[y]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    perf = compute_metrics(y, probs, NAMES)
    for c, row in enumerate(perf.per_class):
        assert row["label"] == NAMES[c]
        assert row["roc_auc"] == pytest.approx(roc_auc_binary(y == c, probs[:, c]))
    assert perf.roc_auc == pytest.approx(np.mean([r["roc_auc"] for r in perf.per_class]))
    assert perf.roc_auc_kind == "macro_ovr"


@pytest.fixture(scope="module")
def four_class_result():
    from audit.pipeline import AuditConfig, run_audit
    from audit.training import fine_tune

    data = synthetic()
    assert data.label_names == NAMES
    train, ev = data.split(0.25, seed=0)
    model, tok = make_model("bert+wordpiece", 4, label_names=NAMES)
    bundle = load_model((model, tok), device="cpu")
    record = fine_tune(bundle, train, ev, epochs=8, lr=3e-3, batch_size=16, max_length=32, show_progress=False)
    cfg = AuditConfig(ig_steps=8, examples_per_category=1, max_length=32, show_progress=False, analyses=())
    return run_audit({"baseline": bundle}, ev, cfg, train_data=train, trainings={"baseline": record}), ev


def _confusion_table(html: str) -> str:
    start = html.index('<table class="confusion">')
    return html[start : html.index("</table>", start)]


def test_report_names_every_class_on_both_axes(four_class_result):
    from reports import render

    result, ev = four_class_result
    perf = result.models["baseline"]["performance"]
    assert np.asarray(perf["confusion_matrix"]).sum() == len(ev)
    assert [r["support"] for r in perf["per_class"]] == [int(np.sum(np.asarray(ev.labels) == c)) for c in range(4)]
    html = render(result.to_dict())
    table = _confusion_table(html)
    columns = re.findall(r'<th scope="col">([^<]*)</th>', table)
    rows = re.findall(r'<th scope="row">([^<]*)</th>', table)
    assert columns == ["Business", "Sci/Tech", "Sports", "World"] and rows == columns
    assert "ROC-AUC (one-vs-rest)" in html and "macro one-vs-rest" in html
    # each per-class row carries the class name and its one-vs-rest ROC-AUC
    for row in perf["per_class"]:
        assert re.search(rf'<bdi>{re.escape(row["label"])}</bdi></th>(<td class="num">[^<]*</td>){{4}}<td class="num">{row["roc_auc"]:.3f}</td>', html)


def test_explanations_say_which_class_is_explained(four_class_result):
    from reports import render

    result, _ = four_class_result
    examples = result.models["baseline"]["explanations"]["examples"]
    assert examples
    html = render(result.to_dict())
    for ex in examples:
        assert ex["target"] == int(np.argmax(ex["probabilities"])) and ex["target_name"] == NAMES[ex["target"]]
    explained = re.findall(r"Explained class: <strong><bdi>([^<]*)</bdi>", html)
    assert explained == [ex["target_name"] for ex in _shown_order(examples)]


def _shown_order(examples):
    order = ["most_confident_correct", "misclassified", "least_confident"]
    return sorted(examples, key=lambda e: order.index(e["category"]))


def _agnews() -> Path:
    for d in AGNEWS_DIRS:
        if (d / "train.tsv").is_file() and (d / "test.tsv").is_file():
            return d
    pytest.skip("the AG News files are not present")


def test_agnews_audit_run_with_four_string_labels(tmp_path):
    from audit.cli import main

    root = _agnews()
    train = load_dataset(root / "train.tsv")
    assert train.label_names == NAMES and not train.multi_label
    assert min(train.summary()["label_counts"].values()) > 2000
    model = build("bert+wordpiece", tmp_path / "model", num_labels=4, label_names=NAMES)
    rc = main(["run", "--model", str(model), "--data", str(root / "test.tsv"), "--limit", "24", "--out", str(tmp_path / "out"),
               "--no-explain", "--no-faithfulness", "--no-robustness", "--max-length", "48", "--quiet"])
    assert rc == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    perf = res["models"]["baseline"]["performance"]
    assert perf["label_names"] == NAMES and np.asarray(perf["confusion_matrix"]).shape == (4, 4)
    html = (tmp_path / "out" / "report.html").read_text()
    assert re.findall(r'<th scope="col">([^<]*)</th>', _confusion_table(html)) == NAMES
