"""The privacy section of the report: ledger in plain language, cost of privacy, hostile and partial input."""

from __future__ import annotations

import copy
import html
import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from reports import render
from reports._view_privacy import build

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = '"><img src=x onerror=alert(1)>'
XSS_STYLE = "</style><script>x()</script>"
TEMPLATE = "{{ 7*7 }}"
RAW = "{% raw %}"
RLO = "abc\u202edef"
EMOJI = "😀👍🏽"
HOSTILE = [XSS_SCRIPT, XSS_IMG, XSS_STYLE, TEMPLATE, RAW, RLO, EMOJI]


def perf(acc: float, f1: float, auc: float, ece: float) -> dict[str, Any]:
    return {"split": "eval", "n": 480, "label_names": ["negative", "positive"], "accuracy": acc, "precision_macro": acc,
            "recall_macro": acc, "f1_macro": f1, "roc_auc": auc, "roc_auc_kind": "binary", "ece": ece, "ece_bins": 15,
            "confusion_matrix": [[230, 10], [12, 228]]}


def ledger(**kw: Any) -> dict[str, Any]:
    base = {
        "epsilon": 7.98, "delta": 1e-5, "accountant": "prv", "noise_multiplier": 1.0176, "sample_rate": 0.1333,
        "steps": 75, "epochs": 10, "max_grad_norm": 1.0, "logical_batch_size": 256, "max_physical_batch_size": 32,
        "dataset_size": 1920, "dataset_sha256": "d" * 64, "trainable_scope": {"name": f"scope {XSS_IMG}"},
        "trainable_parameters": 10993538, "trainable_parameter_names": [f"layer.{i}.{HOSTILE[i % 7]}" for i in range(400)],
        "grad_sample_mode": "ghost", "secure_rng": False, "target_epsilon": 8.0,
        "epsilon_per_epoch": [1.5 + 0.65 * i for i in range(10)], "sampling": "poisson", "clipping": "flat",
        "world_size": 1, "independent_check": {"library": f"dp-accounting {XSS_SCRIPT}", "version": "0.6.0", "pld": 7.95,
                                               "rdp": 9.1},
        "versions": {"opacus": "1.6.0", TEMPLATE: RAW}, "model_sha256": "e" * 64, "created": "2026-11-23T10:00:00+00:00",
        "unknown_key": "unknown-key-marker",
    }
    return base | kw


def results(**models: dict[str, Any]) -> dict[str, Any]:
    return {"schema_version": 1, "run": {"created": "2026-11-23T10:00:00+00:00", "command": "demo"},
            "data": {"source": "x.csv", "n_rows": 2400}, "models": models, "privacy": {"epsilon": XSS_SCRIPT}}


def both() -> dict[str, Any]:
    return results(
        baseline={"identity": {"source": "b"}, "training": {"data_sha256": "d" * 64}, "performance": perf(0.998, 0.998, 1.0, 0.004)},
        private={"identity": {"source": f"p {RLO}"}, "training": {"data_sha256": "d" * 64, "private": True},
                 "performance": perf(0.975, 0.974, 0.996, 0.031), "privacy_ledger": ledger()},
    )


class Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._style = False

    def handle_data(self, data: str) -> None:
        if not self._style:
            self.text.append(data)


def section_html(doc: str) -> str:
    m = re.search(r'<section id="privacy" class="section">(.*?)</section>', doc, re.DOTALL)
    assert m, "no privacy section"
    return m.group(1)


def test_section_renders_ledger_in_plain_language() -> None:
    doc = render(both())
    sec = section_html(doc)
    c = Collector()
    c.feed(sec)
    text = " ".join(" ".join(c.text).split())
    assert "(7.98, 1e-5)-differential privacy for each training example" in text
    assert "What it promises" in text and "What it does not promise" in text
    assert "e^ε ≈ 2,922" in text  # exp(7.98)
    assert "k × ε" in text and "pre-training data" in text
    assert "100.0% (no limit)" in text  # the worst-case bound at epsilon 8 rules out little
    for label in ("Noise multiplier σ", "Clipping norm C", "Sampling rate q", "Steps", "Trainable parameters",
                  "Training data SHA-256", "Secure RNG"):
        assert label in text, label
    assert "10,993,538" in text and "0.003975" in text  # sigma * C / batch = 1.0176 / 256
    assert "7.950" in text and "1.004" in text  # independent PLD value and the ratio
    assert "first 300 shown" in text and "400 tensors" in text
    assert "Warning" in text and "pseudo-random generator" in text  # secure RNG off
    assert doc.index('<section id="explanations"') if 'id="explanations"' in doc else True
    assert doc.index('<section id="privacy"') < doc.index('<section id="limitations"')


def test_cost_of_privacy_table() -> None:
    view = build(both())
    (comp,) = view["comparisons"]
    rows = {r["label"]: r for r in comp["rows"]}
    assert rows["Accuracy"]["private"] == "97.5%" and rows["Accuracy"]["baseline"] == "99.8%"
    assert rows["Accuracy"]["diff"] == "\u22122.3 pt" and rows["Accuracy"]["verdict"] == "worse"
    assert rows["ROC-AUC"]["diff"] == "\u22120.004"
    assert rows["Expected calibration error"]["diff"] == "+0.027" and rows["Expected calibration error"]["verdict"] == "worse"
    assert rows["Expected calibration error"]["note"] == "lower is better"
    assert comp["epsilon"] == "7.98" and comp["notes"] == []
    text = html.unescape(render(both()))
    assert "Utility cost of privacy" in text and "−2.3 pt" in text


def test_comparison_notes_different_training_data() -> None:
    r = both()
    r["models"]["private"]["training"]["data_sha256"] = "f" * 64
    (comp,) = build(r)["comparisons"]
    assert any("different data" in n for n in comp["notes"])
    del r["models"]["baseline"]["training"]
    (comp,) = build(r)["comparisons"]
    assert any("not certain" in n for n in comp["notes"])


def test_hostile_strings_are_escaped_and_no_active_content() -> None:
    doc = render(both())
    sec = section_html(doc)
    assert "<script" not in doc and "<img" not in doc and doc.count("</style>") == 1
    assert "http://" not in doc and "https://" not in doc and "xmlns" not in doc
    c = Collector()
    c.feed(sec)
    text = "".join(c.text)
    for h in [XSS_IMG, XSS_SCRIPT, TEMPLATE, RAW, EMOJI]:
        assert h in text, h
    swapped = json.loads(json.dumps(both()).replace("7*7", "7*8"))
    assert sec.count("49") == section_html(render(swapped)).count("49")  # {{ 7*7 }} was not evaluated
    for tag, attrs in c.tags:
        assert tag not in ("script", "img", "iframe", "object", "embed", "link", "form")
        for key, value in attrs.items():
            assert not key.lower().startswith("on")
            if key == "style":
                assert re.fullmatch(r"background-color:#[0-9a-f]{6}", value or ""), value
    assert "unknown-key-marker" not in sec and XSS_STYLE in html.unescape(sec)  # unknown ledger keys are not shown


def test_self_contradicting_ledgers_are_flagged() -> None:
    r = both()
    r["models"]["private"]["privacy_ledger"] = ledger(accountant="gdp", delta=0.01, epsilon=7.0, secure_rng=True)
    warnings = build(r)["models"][0]["warnings"]
    text = " ".join(warnings)
    assert "GDP accountant" in text and "not below 1/n" in text and "overstated" in text
    assert "pseudo-random" not in text
    r["models"]["private"]["privacy_ledger"] = ledger(epsilon=None, noise_multiplier=0.0)
    view = build(r)["models"][0]
    assert view["statement"] is None and "no differential-privacy guarantee" in " ".join(view["warnings"])
    render(r)


def test_ledger_for_other_weights_is_flagged() -> None:
    r = both()
    r["models"]["private"]["identity"]["sha256"] = "e" * 64  # the ledger's model_sha256
    assert not any("other weights" in w for w in build(r)["models"][0]["warnings"])
    r["models"]["private"]["identity"]["sha256"] = "f" * 64
    warnings = build(r)["models"][0]["warnings"]
    assert any("other weights" in w and "eeeeeeeeeeee" in w and "ffffffffffff" in w for w in warnings)
    assert "other weights" in section_html(render(r))


@pytest.mark.parametrize("mutate", [
    lambda r: r["models"]["private"].pop("privacy_ledger"),
    lambda r: r["models"]["private"].update(privacy_ledger="not a dict"),
    lambda r: r["models"]["private"].update(privacy_ledger={}),
    lambda r: r["models"]["private"].update(privacy_ledger={"epsilon": "NaN", "delta": [1], "steps": {}, "versions": 3,
                                                            "trainable_parameter_names": "x", "independent_check": []}),
    lambda r: r["models"]["private"].update(privacy_ledger={"epsilon": float("inf"), "delta": float("nan")}),
    lambda r: r["models"]["baseline"].update(performance={"accuracy": "high", "f1_macro": None}),
    lambda r: r["models"].pop("baseline"),
    lambda r: r.update(models=[1, 2]),
    lambda r: r["models"]["private"].update(performance=None),
])
def test_partial_or_malformed_input_renders(mutate) -> None:
    r = copy.deepcopy(both())
    mutate(r)
    build(r)
    doc = render(r)
    assert "</html>" in doc


def test_no_section_without_ledger_or_comparison() -> None:
    assert build({"models": {"baseline": {"performance": perf(0.9, 0.9, 0.9, 0.1)}}}) is None
    assert build({}) is None
    assert build({"models": {"private": {"identity": {}}}}) is None
    doc = render(results(baseline={"identity": {"source": "b"}, "performance": perf(0.9, 0.9, 0.9, 0.1)}))
    assert '<section id="privacy"' not in doc
    # a private model with performance but no ledger is still compared with the baseline
    view = build(results(baseline={"performance": perf(0.9, 0.9, 0.9, 0.1)}, private={"performance": perf(0.8, 0.8, 0.8, 0.2)}))
    assert view["models"] == [] and view["comparisons"][0]["rows"][0]["diff"] == "\u221210.0 pt"


def test_per_example_gradient_method_and_reason_are_shown() -> None:
    r = both()
    r["models"]["private"]["privacy_ledger"] = ledger(grad_sample_mode="per-example", per_example_gradients={
        "mode": "per-example", "requested": "auto", "reason": "no per-example gradient for encoder.rel_embeddings.weight"})
    rows = {row["label"]: row["value"] for row in build(r)["models"][0]["rows"]}
    assert rows["Per-example gradients"] == "per-example"
    assert rows["Per-example gradients: why"] == "no per-example gradient for encoder.rel_embeddings.weight"
    assert "Per-example gradients: why" not in {row["label"] for row in build(both())["models"][0]["rows"]}


def test_recipe_is_shown_in_plain_words_with_given_settings_marked() -> None:
    recipe = {"reasons": {"lr": "0.002: holds the noise walk at 0.025.", "batch_size": f"512 examples {XSS_SCRIPT}",
                          "epochs": "5 (given).", "future_setting": "kept as is"},
              "given": ["epochs"], "rule": "least compute, then most steps", "effective_noise": 3.1e-4}
    r = both()
    r["models"]["private"]["privacy_ledger"] = ledger(recipe=recipe)
    view = build(r)["models"][0]["recipe"]
    assert [row["label"] for row in view["rows"]] == ["Logical batch", "Epochs", "Learning rate", "future_setting"]
    assert [row["given"] for row in view["rows"]] == [False, True, False, False]
    sec = section_html(render(r))
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", sec)).split())
    assert "Private-training recipe" in text and "0.002: holds the noise walk at 0.025." in text
    assert "Epochs (given)" in text and "Batch and epochs rule: least compute, then most steps." in text
    assert XSS_SCRIPT not in sec  # escaped
    assert build(both())["models"][0]["recipe"] is None  # an older ledger without a recipe renders without one
    r["models"]["private"]["privacy_ledger"] = ledger(recipe={"reasons": "not a dict", "given": 3})
    assert build(r)["models"][0]["recipe"] is None


def test_every_setting_of_the_recipe_has_a_label_in_the_report() -> None:
    """A setting the recipe explains (in any of its variants) is shown under a plain label, never its key."""
    from audit.training.recipe import recommend
    from reports._view_privacy import RECIPE_LABELS

    labels = dict(RECIPE_LABELS)
    for kwargs in ({}, {"clipping": "automatic", "optimizer": "adam-bc"}, {"linear_probe": False}):
        reasons = recommend(2500, 8.0, 1e-5, **kwargs).reasons
        assert set(reasons) <= set(labels), sorted(set(reasons) - set(labels))
