"""The robustness report section: content, escaping of hostile strings, partial and odd input."""

from __future__ import annotations

import copy
import html
import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from reports import render
from reports._view_robustness import build, diff_segments

XSS = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
TEMPLATE = "{{ 7*7 }}"
RLO = "abc\u202edef"
HOSTILE = [XSS, IMG, TEMPLATE, RLO]


def attack_metrics(rate: float, k: int | None = None) -> dict[str, Any]:
    out = {
        "n": 20, "n_attacked": 18, "n_skipped": 2, "n_success": int(18 * rate), "accuracy": 0.9,
        "accuracy_under_attack": 0.9 * (1 - rate), "success_rate": rate, "success_rate_ci95": [rate / 2, min(1.0, rate * 1.5)],
        "valid_success_rate": rate / 2, "queries": {"mean": 30.0, "median": 24.0, "p90": 61.0},
        "queries_per_success": 41.5, "words_changed_fraction": {"mean": 0.12}, "similarity": {"mean": 0.91},
        "success_by_budget": [{"budget": b, "success_rate": rate * min(1.0, b / 100)} for b in (10, 25, 50, 100, 500)],
    }
    if k is not None:
        out["k"] = k
    return out


def example(text: str, adv: str) -> dict[str, Any]:
    return {"id": f"id {XSS}", "text": text, "adversarial_text": adv, "label": 1, "original_prediction": 1,
            "adversarial_prediction": 0, "queries": 17, "words_changed": 1, "similarity": 0.93,
            "flags": ["polarity_change", IMG], "verified": True}


def section() -> dict[str, Any]:
    return {
        "protocol": {"n_eval": 480, "seed": 0, "device": "cpu",
                     "config": {"n_invariance": 200, "n_attack": 100, "n_radius": 30, "query_budget": 500,
                                "char_budgets": [1, 2, 4], "min_similarity": 0.85, "encoder": "default",
                                "max_words_fraction": 0.2, "word_sources": ["lexicon", "embedding"],
                                "exclude_flags": ["antonym", "polarity_flip"]}},
        "timings": {"total": 131.0},
        "invariance": {
            "n_texts": 200, "n_passed": 2, "n_failed": 1, "n_not_applicable": 1,
            "protocol": {"failure": f"the label changes {TEMPLATE}"},
            "tests": [
                {"name": "uppercase", "family": "case", "description": "every letter upper case", "n_applicable": 200,
                 "n_failed": 0, "fail_rate": 0.0, "fail_rate_ci95": [0.0, 0.0188], "mean_confidence_shift": -0.0012,
                 "threshold": 0.05, "status": "pass", "examples": []},
                {"name": f"name_swap {XSS}", "family": "names", "description": IMG, "n_applicable": 90, "n_failed": 9,
                 "fail_rate": 0.1, "fail_rate_ci95": [0.053, 0.18], "mean_confidence_shift": -0.021, "threshold": 0.05,
                 "status": "fail", "examples": [{"text": f"My friend Priya {XSS} liked it.",
                                                 "variant": f"My friend Olga {XSS} liked it.", "prediction": 1,
                                                 "variant_prediction": 0, "confidence": 0.7, "variant_confidence": 0.4}]},
                {"name": "typos_2pct", "family": "typos", "description": "typos", "n_applicable": 200, "n_failed": 2,
                 "fail_rate": 0.01, "fail_rate_ci95": [0.003, 0.036], "mean_confidence_shift": None, "threshold": 0.1,
                 "status": "pass", "examples": []},
                {"name": "nationality_swap", "family": "nationality", "description": "countries", "n_applicable": 0,
                 "n_failed": 0, "fail_rate": None, "fail_rate_ci95": [None, None], "threshold": 0.05,
                 "status": "not_applicable", "examples": []},
            ],
        },
        "char_attack": {"budgets": [attack_metrics(0.2, 1), attack_metrics(0.35, 2), attack_metrics(0.5, 4)],
                        "examples": [example(f"The acting was superb {XSS}.", f"The acting was sueprb {XSS}.")]},
        "word_attack": dict(attack_metrics(0.3), examples=[example(f"A great {IMG} film", f"A grand {IMG} film"),
                                                           example(TEMPLATE + " dull", TEMPLATE + " drab")]),
        "radius1": {"certified_fraction": 0.4, "protocol": {"max_words": 16, "word_neighbourhood": "every word",
                                                           "char_neighbourhood": RLO},
                    "summary": {"word": {"n": 30, "n_correct": 25, "certified_fraction_of_correct": 0.6,
                                         "certified_fraction_of_correct_ci95": [0.4, 0.77], "certified_accuracy": 0.5,
                                         "neighbours": {"mean": 120.0}},
                                "all": {"n": 30, "n_correct": 25, "certified_fraction_of_correct": 0.4,
                                        "certified_fraction_of_correct_ci95": [0.23, 0.59], "certified_accuracy": 0.33}},
                    "examples": [{"id": "7", "neighbourhood": "char", "text": "so dull", "counterexample": "so dul",
                                  "prediction": 0, "counterexample_prediction": 1}]},
        "unknown_future_key": {"anything": XSS},
    }


def results(rob: Any) -> dict[str, Any]:
    return {"schema_version": 1, "run": {}, "data": {"label_names": [f"neg {XSS}", "pos"]},
            "models": {"baseline": {"identity": {"source": "m"}, "robustness": rob}}}


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.stack: list[str] = []
        self.dels: list[str] = []
        self.inss: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)
        if self.stack and self.stack[-1] == "del":
            self.dels.append(data)
        if self.stack and self.stack[-1] == "ins":
            self.inss.append(data)


@pytest.fixture(scope="module")
def doc() -> str:
    return render(results(section()))


@pytest.fixture(scope="module")
def parsed(doc: str) -> Tags:
    p = Tags()
    p.feed(doc)
    return p


def test_section_is_rendered_with_every_part(doc: str, parsed: Tags) -> None:
    text = "".join(parsed.text)
    assert '<section id="robustness"' in doc
    assert "Accuracy under attack, per family" in text
    for family in ("Character attack, at most 1 typo", "at most 4 typos", "Word attack"):
        assert family in text
    assert "72.0%" in text  # accuracy under attack 0.9 * (1 - 0.2)
    assert "Radius-1 certificate" in text and "40.0%" in text
    assert "Invariance tests on 200 texts: 2 passed, 1 failed" in text


def test_passed_tests_are_listed_with_badges(parsed: Tags) -> None:
    text = "".join(parsed.text)
    assert "uppercase" in text and "typos_2pct" in text and "nationality_swap" in text
    badges = [a.get("class") for t, a in parsed.tags if t == "span" and "badge" in (a.get("class") or "").split()]
    assert {"badge badge-pass", "badge badge-fail", "badge badge-unknown"} <= set(badges)


def test_chart_is_inline_svg_from_numbers(doc: str, parsed: Tags) -> None:
    svgs = re.findall(r"<svg.*?</svg>", doc, flags=re.S)
    chart = [s for s in svgs if "Attack success against query budget" in s]
    assert len(chart) == 1
    assert "xmlns" not in doc and "http://" not in doc and "https://" not in doc
    lines = [a for t, a in parsed.tags if t == "polyline"]
    assert len(lines) == 4  # three character budgets and the word attack
    for a in lines:
        assert re.fullmatch(r"(\d+\.\d,\d+\.\d ?)+", a["points"])
        assert re.fullmatch(r"#[0-9a-f]{6}", a["stroke"])
    assert "Success by query budget as numbers" in "".join(parsed.text)  # readable without the chart


def test_examples_are_escaped_diffs(doc: str, parsed: Tags) -> None:
    assert "<script" not in doc and "<img" not in doc
    assert "sueprb" in "".join(parsed.inss) and "superb" in "".join(parsed.dels)
    assert "grand" in "".join(parsed.inss) and "great" in "".join(parsed.dels)
    text = "".join(parsed.text)
    for h in HOSTILE:
        assert h in text, h
    assert "{{ 7*7 }}" in text  # template syntax in the data is shown, not evaluated
    swapped = render(results(json.loads(json.dumps(section()).replace("7*7", "7*8"))))
    assert doc.count("49") == swapped.count("49")
    assert "sentiment word changed to a neutral word (or back)" in text
    assert "re-verified" in text


def test_style_attributes_stay_computed(parsed: Tags) -> None:
    for _, attrs in parsed.tags:
        style = attrs.get("style")
        if style is not None:
            assert re.fullmatch(r"background-color:#[0-9a-f]{6}", style), style


@pytest.mark.parametrize("mutate", [
    lambda s: {},
    lambda s: None,
    lambda s: [1, 2, 3],
    lambda s: {"char_attack": {"budgets": "nope", "examples": [None, 3]}},
    lambda s: {"invariance": {"tests": [None, {"status": 5, "fail_rate": "x", "fail_rate_ci95": "bad"}]}},
    lambda s: dict(s, word_attack={"success_by_budget": [{"budget": -1, "success_rate": float("nan")}], "n_attacked": 3}),
    lambda s: dict(s, radius1={"summary": {"all": "x"}, "examples": [{"text": None}]}),
    lambda s: dict(s, char_attack={"budgets": [{"k": 1, "success_by_budget": [{"budget": 10, "success_rate": 2.0}]}]}),
])
def test_partial_or_malformed_sections_degrade(mutate) -> None:
    out = render(results(mutate(copy.deepcopy(section()))))
    assert out.startswith("<!DOCTYPE html>") and "<script" not in out


def test_no_section_without_robustness_results() -> None:
    assert build({"models": {"m": {"identity": {}}}}) is None
    assert build({"models": "x"}) is None
    assert 'id="robustness"' not in render(results({}))


def test_diff_segments() -> None:
    segs = diff_segments("The plot was dull.", "The plot was drab.")
    assert segs == [{"kind": "same", "text": "The plot was "}, {"kind": "del", "text": "dull."},
                    {"kind": "ins", "text": "drab."}]
    assert "".join(s["text"] for s in segs if s["kind"] != "ins") == "The plot was dull."
    assert "".join(s["text"] for s in segs if s["kind"] != "del") == "The plot was drab."
    assert diff_segments("same  text\n", "same  text\n") == [{"kind": "same", "text": "same  text\n"}]
    assert html.escape(XSS) not in "".join(s["text"] for s in diff_segments(XSS, XSS))
