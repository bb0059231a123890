"""Multi-label classifiers end to end: data shapes, metrics, sigmoid bundles, BCE training (plain
and DP), per-label explanations, analyses marked not applicable, and the rendered report."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from audit.data import DataError, TextDataset, load_dataset, save_dataset
from audit.metrics import compute_multilabel_metrics
from audit.models import ModelError, check_compatible, load_model
from model_zoo import build, make_model

NAMES = ["insult", "threat", "toxic"]
KEYWORDS = {0: "idiot", 1: "hurt", 2: "awful"}
FILLER = "the a good day was it and so very nice film food".split()


def synthetic(n: int = 120, seed: int = 0) -> TextDataset:
    """Each label applies exactly when its keyword is in the text: learnable, about 40% per label."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        ys = sorted(j for j in range(3) if rng.random() < 0.4)
        words = list(rng.choice(FILLER, 5)) + [KEYWORDS[j] for j in ys]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(ys)
    return TextDataset(texts, labels, list(NAMES), multi_label=True)


def ml_bundle(seed: int = 0, names=NAMES):
    model, tok = make_model("bert+wordpiece", len(names), seed=seed, problem_type="multi_label_classification",
                            label_names=list(names))
    return load_model((model, tok), device="cpu")


# ---------------------------------------------------------------------------------------- data


def test_label_shapes_load_to_the_same_label_sets(tmp_path):
    (tmp_path / "sep.csv").write_text("text,label\nyou idiot,toxic|insult\nnice film,\nI will hurt you,threat\n")
    (tmp_path / "cols.tsv").write_text("text\tinsult\tthreat\ttoxic\nyou idiot\t1\t0\t1\nnice film\t0\t0\t0\nI will hurt you\t0\t1\t0\n")
    (tmp_path / "lists.jsonl").write_text("\n".join(json.dumps({"text": t, "label": y}) for t, y in
                                                    [("you idiot", ["insult", "toxic"]), ("nice film", []), ("I will hurt you", ["threat"])]))
    sep = load_dataset(tmp_path / "sep.csv", label_separator="|")
    cols = load_dataset(tmp_path / "cols.tsv", label_columns="insult,threat,toxic")
    lists = load_dataset(tmp_path / "lists.jsonl")  # lists are recognised without a flag
    expected = np.array([[1, 0, 1], [0, 0, 0], [0, 1, 0]], dtype=np.float32)
    for ds in (sep, cols, lists):
        assert ds.multi_label and ds.label_names == NAMES
        assert ds.labels == [[0, 2], [], [1]]
        assert ds.label_matrix().dtype == np.float32 and np.array_equal(ds.label_matrix(), expected)
    assert sep.sha256 == lists.sha256  # the same content hashes the same, whatever the file shape
    # label columns in another order than the model's labels are mapped onto the given order
    reordered = load_dataset(tmp_path / "cols.tsv", label_columns="toxic,insult,threat", label_names={"insult": 0, "threat": 1, "toxic": 2})
    assert reordered.label_names == NAMES and reordered.labels == [[0, 2], [], [1]]
    summary = sep.summary()
    assert summary["label_counts"] == {"insult": 1, "threat": 1, "toxic": 1} and summary["rows_without_label"] == 1


def test_single_label_matrix_is_one_hot():
    ds = TextDataset(["a", "b", "c"], [2, 0, 1], ["x", "y", "z"])
    assert np.array_equal(ds.label_matrix(), np.eye(3, dtype=np.float32)[[2, 0, 1]])


def test_round_trip_csv_parquet_and_hf_sequence(tmp_path):
    ds = synthetic(20)
    for ext, extra in ((".csv", {"multi_label": True}), (".parquet", {})):
        path = save_dataset(ds, tmp_path / f"d{ext}")
        back = load_dataset(path, id_column="id", label_names=ds.label_names, **extra)
        assert back.multi_label and back.labels == ds.labels and back.sha256 == ds.sha256
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.Sequence(datasets.ClassLabel(names=["a", "b"]))})
    hf = datasets.Dataset.from_dict({"text": ["x", "y"], "label": [[1, 0], []]}, features=features)
    loaded = load_dataset(hf)
    assert loaded.multi_label and loaded.label_names == ["a", "b"] and loaded.labels == [[0, 1], []]


@pytest.mark.parametrize("body, kwargs, where", [
    ("text,insult,toxic\na,1,0\nb,2,0\n", {"label_columns": ["insult", "toxic"]}, "column 'insult', row 2 (line 3 of the file)"),
    ("text,label\na,toxic\nb,rude\n", {"label_separator": "|", "label_names": ["toxic"]}, "column 'label', row 2 (line 3 of the file)"),
    ("text,label\na,\"[\"\"toxic\"\"]\"\nb,toxic\n", {"multi_label": True}, "column 'label', row 2 (line 3 of the file)"),
])
def test_errors_name_file_column_and_row(tmp_path, body, kwargs, where):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(DataError) as err:
        load_dataset(path, **kwargs)
    assert str(path) in str(err.value) and where in str(err.value)


def test_split_stratifies_multi_label_rows():
    ds = synthetic(60)
    train, ev = ds.split(0.25, seed=1)
    assert sorted(train.ids + ev.ids, key=int) == ds.ids and train.multi_label and ev.multi_label
    # every label reaches both sides, in roughly the overall proportion
    for part in (train, ev):
        share = part.label_matrix().mean(0)
        assert np.all(np.abs(share - ds.label_matrix().mean(0)) < 0.15)


# ------------------------------------------------------------------------------------- metrics


def test_multilabel_metrics_match_scikit_learn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    y = (rng.random((50, 4)) < 0.35).astype(np.float32)
    y[:, 3] = 0  # a label that never occurs: no ROC-AUC, F1 0
    probs = np.clip(y * 0.5 + rng.random((50, 4)) * 0.6, 0, 1)
    perf = compute_multilabel_metrics(y, probs, ["a", "b", "c", "d"])
    pred = (probs >= 0.5).astype(int)
    assert perf.f1_micro == pytest.approx(sk.f1_score(y, pred, average="micro", zero_division=0))
    assert perf.f1_macro == pytest.approx(sk.f1_score(y, pred, average="macro", zero_division=0))
    assert perf.subset_accuracy == pytest.approx(sk.accuracy_score(y, pred))
    assert perf.hamming_loss == pytest.approx(sk.hamming_loss(y, pred))
    for j, row in enumerate(perf.per_label):
        assert row["precision"] == pytest.approx(sk.precision_score(y[:, j], pred[:, j], zero_division=0))
        assert row["recall"] == pytest.approx(sk.recall_score(y[:, j], pred[:, j], zero_division=0))
        assert row["support"] == int(y[:, j].sum())
    assert perf.per_label[3]["roc_auc"] is None
    assert perf.roc_auc == pytest.approx(np.mean([sk.roc_auc_score(y[:, j], probs[:, j]) for j in range(3)]))


def test_per_label_calibration_error():
    # label 0: probability 0.9 on 10 texts of which 9 have it -> calibrated; label 1: 0.9 but none have it
    y = np.zeros((10, 2))
    y[:9, 0] = 1
    probs = np.full((10, 2), 0.9)
    perf = compute_multilabel_metrics(y, probs, ["a", "b"], ece_bins=10)
    assert perf.per_label[0]["ece"] == pytest.approx(0.0, abs=1e-12)
    assert perf.per_label[1]["ece"] == pytest.approx(0.9)
    assert perf.ece == pytest.approx(0.45)


# -------------------------------------------------------------------------------------- models


def test_bundle_gives_sigmoids_and_refuses_mismatched_data(tmp_path):
    bundle = ml_bundle()
    assert bundle.multi_label and bundle.identity()["problem_type"] == "multi_label_classification"
    texts = ["you idiot", "a nice film"]
    logits = bundle.predict_logits(texts)
    probs = bundle.predict_proba(texts)
    assert np.allclose(probs, 1 / (1 + np.exp(-logits)))
    assert not np.allclose(probs.sum(1), 1.0)
    with pytest.raises(ModelError, match="multi-label"):
        check_compatible(bundle, TextDataset(["a", "b", "c"], [0, 1, 2], NAMES))
    # a new head loaded for multi-label data is a multi-label head
    path = build("bert+wordpiece", tmp_path / "m", num_labels=3)
    cfg = json.loads((path / "config.json").read_text())
    cfg["architectures"] = ["BertModel"]  # a bare encoder: the head is new
    (path / "config.json").write_text(json.dumps(cfg))
    fresh = load_model(path, num_labels=3, device="cpu", multi_label=True)
    assert fresh.head_initialized and fresh.multi_label


# ------------------------------------------------------------------------------------ training


def test_fine_tune_learns_a_multi_label_set():
    from audit.training import fine_tune

    train, ev = synthetic(120).split(0.25, seed=0)
    bundle = ml_bundle()
    before = compute_multilabel_metrics(ev.label_matrix(), bundle.predict_proba(ev.texts), NAMES)
    rec = fine_tune(bundle, train, ev, epochs=15, lr=5e-3, batch_size=16, max_length=32, show_progress=False)
    losses = [e["train_loss"] for e in rec.epochs]
    assert losses[-1] < 0.5 * losses[0]
    assert rec.config["problem_type"] == "multi_label_classification"
    assert rec.epochs[-1]["eval"]["f1_micro"] > before.f1_micro + 0.3
    assert rec.epochs[-1]["eval"]["f1_micro"] >= 0.7


@pytest.mark.filterwarnings("ignore:noise_multiplier=0")
@pytest.mark.parametrize("mode", ["hooks", "ghost", "bookkeeping"])
def test_private_gradient_is_the_mean_of_per_example_bce_summed_over_labels(mode):
    """noise 0, lr 0, no clipping: the DP gradient is the batch mean of each example's summed BCE gradient."""
    from audit.training.private import fine_tune_private

    data = synthetic(6, seed=2)
    bundle = ml_bundle(seed=1)
    bundle.model.double()
    grads: dict[str, torch.Tensor] = {}

    def grab(info):
        for name, p in info.parameters:
            grads[name] = p.grad.detach().clone()

    rec = fine_tune_private(bundle, data, noise_multiplier=0.0, epochs=1, batch_size=len(data), max_physical_batch_size=3,
                            lr=0.0, max_grad_norm=1e6, trainable="all", grad_sample_mode=mode, show_progress=False, cross_check=False,
                            step_callback=grab)
    assert rec.config["problem_type"] == "multi_label_classification" and len(rec.epochs) == 1
    model = bundle.model
    model.eval()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    total = {n: torch.zeros_like(p) for n, p in named}
    target = torch.tensor(data.label_matrix(), dtype=torch.float64)
    for i, text in enumerate(data.texts):
        enc = bundle.tokenizer(text, return_tensors="pt")
        model.zero_grad(set_to_none=True)
        logits = model(**enc).logits
        torch.nn.functional.binary_cross_entropy_with_logits(logits, target[i : i + 1], reduction="sum").backward()
        for n, p in named:
            total[n] += p.grad / len(data)
    assert grads and set(grads) <= set(total)
    num = math.sqrt(sum(float(((grads[n] - total[n]) ** 2).sum()) for n in grads))
    den = math.sqrt(sum(float((total[n] ** 2).sum()) for n in grads))
    assert den > 0 and num / den < 1e-6


def test_private_training_runs_an_epoch_with_noise(tmp_path):
    from audit.training.private import fine_tune_private

    data = synthetic(24, seed=4)
    bundle = load_model(build("bert+wordpiece", tmp_path / "m", num_labels=3), device="cpu")
    bundle.head_initialized = True  # a head to be trained on this data: it becomes multi-label
    rec = fine_tune_private(bundle, data, data, noise_multiplier=1.0, epochs=1, batch_size=8, max_physical_batch_size=8,
                            show_progress=False, out_dir=tmp_path / "private")
    saved = json.loads((tmp_path / "private" / "config.json").read_text())
    assert saved["problem_type"] == "multi_label_classification" and rec.config["loss"].startswith("binary_cross_entropy")
    assert math.isfinite(rec.epochs[0]["train_loss"]) and "f1_micro" in rec.epochs[0]["eval"]


# -------------------------------------------------------------------------- pipeline and report


@pytest.fixture(scope="module")
def ml_result():
    from audit.pipeline import AuditConfig, run_audit
    from audit.training import fine_tune

    names = ["in<b>sult", "threat", "toxic"]  # a name that must come out escaped
    data = synthetic(80)
    data = TextDataset(data.texts, data.labels, names, multi_label=True)
    train, ev = data.split(0.25, seed=0)
    bundle = ml_bundle(names=names)
    record = fine_tune(bundle, train, ev, epochs=4, lr=3e-3, batch_size=16, max_length=32, show_progress=False)
    cfg = AuditConfig(ig_steps=8, ig_output="probability", examples_per_category=1, max_length=32, show_progress=False,
                      explain_methods=("integrated_gradients", "occlusion"), analyses=("faithfulness", "robustness"))
    return run_audit({"baseline": bundle}, ev, cfg, train_data=train, trainings={"baseline": record}), bundle, ev


def test_pipeline_explains_predicted_labels_and_marks_analyses_not_applicable(ml_result):
    result, bundle, ev = ml_result
    sec = result.models["baseline"]
    assert sec["performance"]["problem_type"] == "multi_label"
    probs = bundle.predict_proba(ev.texts, max_length=32)
    examples = sec["explanations"]["examples"]
    assert examples
    for ex in examples:
        p = np.asarray(ex["probabilities"])
        predicted = [int(j) for j in np.flatnonzero(p >= 0.5)]
        assert ex["prediction"] == predicted
        assert ex["target"] in (predicted or [int(p.argmax())])
        assert ex["target_name"] == bundle.label_names[ex["target"]]
        assert np.allclose(p, probs[ev.ids.index(ex["id"])])
        # integrated gradients explain the target label's logit (a softmax "probability" would mix the labels)
        logit = bundle.predict_logits([ex["text"]], max_length=32)[0, ex["target"]]
        assert ex["attributions"]["integrated_gradients"]["f_x"] == pytest.approx(logit, abs=1e-4)
        assert len(ex["attributions"]["occlusion"]["word_scores"]) == len(ex["words"])
    assert sec["explanations"]["config"]["integrated_gradients"]["output"] == "logit"
    # each example with several predicted labels is explained once per label
    by_id: dict[str, list[int]] = {}
    for ex in examples:
        by_id.setdefault(ex["id"], []).append(ex["target"])
    assert all(len(set(t)) == len(t) for t in by_id.values())
    for key in ("faithfulness", "robustness"):
        assert sec[key]["not_applicable"] is True and sec[key]["reason"].startswith("not applicable to multi-label")
    names = [c.name for c in result.checks]
    assert "baseline: micro-F1" in names and not any("attack" in n or "faithful" in n for n in names)


def test_privacy_audit_api_refuses_multi_label_models(ml_result):
    from audit.privacy import audit_privacy

    _, bundle, ev = ml_result
    with pytest.raises(ValueError, match="not applicable to multi-label"):
        audit_privacy(bundle, ev, ev)


def test_report_renders_the_multi_label_table_and_notes(ml_result):
    from reports import render

    result, _, _ = ml_result
    html = render(result.to_dict())
    perf = result.models["baseline"]["performance"]
    assert "<caption>Per label</caption>" in html
    assert "in&lt;b&gt;sult" in html and "in<b>sult" not in html
    assert "F1 (micro)" in html and "Hamming loss" in html and "Subset accuracy" in html
    assert f"{perf['f1_micro']:.3f}" in html
    assert html.count("not applicable to multi-label classifiers") == 2
    assert "Confusion matrix" not in html
    assert "Explained label:" in html


def test_cli_train_with_delimited_labels(tmp_path):
    from audit.cli import main

    data = synthetic(40)
    rows = ["text,label"] + [f"{t},{'|'.join(NAMES[j] for j in y)}" for t, y in zip(data.texts, data.labels)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    model = build("bert+wordpiece", tmp_path / "base", num_labels=3)
    cfg = json.loads((model / "config.json").read_text())
    cfg["architectures"] = ["BertModel"]
    (model / "config.json").write_text(json.dumps(cfg))
    rc = main(["train", "--model", str(model), "--data", str(tmp_path / "d.csv"), "--label-separator", "|",
               "--out", str(tmp_path / "out"), "--epochs", "1", "--no-explain", "--no-faithfulness", "--no-robustness",
               "--max-length", "32", "--quiet"])
    assert rc == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    perf = res["models"]["baseline"]["performance"]
    assert perf["problem_type"] == "multi_label" and [r["label"] for r in perf["per_label"]] == NAMES
    assert res["data"]["multi_label"] is True
    saved = json.loads((tmp_path / "out" / "model" / "config.json").read_text())
    assert saved["problem_type"] == "multi_label_classification"
    # the trained model audited on the same rows given as 0/1 columns, in another order
    cols = ["text\ttoxic\tinsult\tthreat"] + [f"{t}\t{int(2 in y)}\t{int(0 in y)}\t{int(1 in y)}" for t, y in zip(data.texts, data.labels)]
    (tmp_path / "cols.tsv").write_text("\n".join(cols) + "\n")
    rc = main(["run", "--model", str(tmp_path / "out" / "model"), "--data", str(tmp_path / "cols.tsv"),
               "--label-columns", "toxic,insult,threat", "--out", str(tmp_path / "run"), "--no-explain",
               "--no-faithfulness", "--no-robustness", "--max-length", "32", "--quiet"])
    assert rc == 0
    run = json.loads((tmp_path / "run" / "results.json").read_text())["models"]["baseline"]["performance"]
    assert [r["label"] for r in run["per_label"]] == NAMES
    assert [r["support"] for r in run["per_label"]] == [int(data.label_matrix()[:, j].sum()) for j in range(3)]
