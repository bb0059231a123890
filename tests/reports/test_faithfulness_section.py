"""The explanation-quality (faithfulness) report section: content, hostile input, partial input."""

from __future__ import annotations

import copy
import html
import re
from typing import Any

import pytest

from reports import render
from reports._view_faithfulness import build

from test_render import XSS_IMG, XSS_SCRIPT, TEMPLATE, RLO, make_results, minimal, parse

METRIC_KEYS = ["comprehensiveness_aopc", "sufficiency_aopc", "deletion_auc", "insertion_auc", "loo_correlation"]
EVIL = f"evil {XSS_SCRIPT} {TEMPLATE}"


def stat(mean, half=0.02, n=50):
    return {"mean": mean, "ci_low": None if mean is None else mean - half, "ci_high": None if mean is None else mean + half, "n": n}


def faith_section() -> dict[str, Any]:
    values = {  # comp (up), suff (down), deletion (down), insertion (up), loo (up)
        "integrated_gradients": [0.40, 0.10, 0.30, 0.80, 0.60],
        "shap": [0.45, 0.05, 0.25, 0.85, 0.70],
        "occlusion": [0.42, 0.08, 0.20, 0.82, 0.90],
        EVIL: [0.10, 0.30, 0.60, 0.50, 0.10],
        "random": [0.12, 0.35, 0.55, 0.52, 0.0],
    }
    summary = {m: {k: stat(v) for k, v in zip(METRIC_KEYS, vals)} for m, vals in values.items()}
    bins = {m: {"comprehensiveness": [stat(0.1 * j) | {"bin": b} for j, b in enumerate([0.01, 0.05, 0.1, 0.2, 0.5])],
                "sufficiency": [stat(0.05 * j) | {"bin": b} for j, b in enumerate([0.01, 0.05, 0.1, 0.2, 0.5])]}
            for m in values}
    fr = [j / 10 for j in range(11)]
    curves = {m: {"fractions": fr, "deletion": [0.9 - 0.05 * j for j in range(11)], "insertion": [0.5 + 0.04 * j for j in range(11)]}
              for m in values}
    return {
        "n_examples": 50,
        "methods": ["integrated_gradients", "shap", "occlusion", EVIL],
        "reference": "random",
        "faithfulness": {
            "protocol": {"bins": [0.01, 0.05, 0.1, 0.2, 0.5], "unit": "token", "removal": "delete", "output": "probability",
                         "note": XSS_IMG, "description": f"sub-word tokens deleted {TEMPLATE}"},
            "summary": summary, "bins": bins, "curves": curves,
            "per_example": {"shap": {"comprehensiveness_aopc": [0.4] * 50}},
            "unknown_key": {"x": XSS_SCRIPT},
        },
        "plausibility": {
            "summary": {m: {"auprc": stat(v[0] + 0.3), "token_f1": stat(v[4] / 2)} for m, v in values.items()},
            "chance": {"auprc": stat(0.4), "token_f1": stat(0.2)},
            "protocol": {"unit": "tokenizer words", "mean_rationale_share": 0.25, "odd": RLO},
        },
        "agreement": {"correlation": "spearman", "mean_over_pairs": 0.5,
                      "pairs": [{"methods": ["shap", "occlusion"], **stat(0.7)}, {"methods": [EVIL, "shap"], **stat(0.1)},
                                {"methods": ["broken"], **stat(0.3)}]},
        "sanity": {"protocol": {"threshold": 0.5}, "n_examples": 8, "flagged": ["shap"],
                   "stages": [{"name": "classifier head", "methods": {m: {"spearman": stat(0.9), "spearman_abs": stat(0.95)}
                                                                      for m in ("integrated_gradients", "shap")}},
                              {"name": f"head + top 2 layers {XSS_IMG}",
                               "methods": {"integrated_gradients": {"spearman": stat(0.1), "spearman_abs": stat(0.2)},
                                           "shap": {"spearman": stat(0.8), "spearman_abs": stat(0.9)}}}]},
        "ig_completeness": {"n": 50, "n_flagged": 1, "median_relative_error": 0.002, "max_relative_error": 0.02,
                            "mean_steps": 23.5, "tolerance": 0.01},
        "recommendation": {"method": XSS_SCRIPT, "reason": TEMPLATE},
    }


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    r = make_results()
    r["models"]["baseline"]["faithfulness"] = faith_section()
    return r


@pytest.fixture(scope="module")
def doc(results) -> str:
    return render(results)


def section_html(doc: str) -> str:
    start = doc.index('<section id="faithfulness"')
    return doc[start: doc.index("</section>", start)]


def test_section_placed_after_explanations(doc):
    assert doc.index('<section id="explanations"') < doc.index('<section id="faithfulness"') < doc.index('<section id="limitations"')
    assert '<a href="#faithfulness">Explanation quality</a>' in doc


def test_best_per_metric_marked_from_numbers(doc):
    sec = section_html(doc)
    table = sec[sec.index('class="data faithfulness"'): sec.index("</table>", sec.index('class="data faithfulness"'))]
    rows = re.findall(r"<tr(?: class=\"reference\")?><th scope=\"row\"><bdi>(.*?)</bdi></th>(.*?)</tr>", table, re.S)
    best = {html.unescape(name): cells.count("&#9733;") + cells.count("\u2605") for name, cells in rows}
    # shap: best comprehensiveness, sufficiency, insertion; occlusion: best deletion and leave-one-out
    assert best["SHAP (partition)"] == 3 and best["Leave-one-out occlusion"] == 2
    assert best["Integrated gradients"] == 0 and best["Random attribution (chance level)"] == 0  # the reference never wins
    assert "[0.430, 0.470]" in table  # confidence interval of shap's comprehensiveness


def test_recommendation_skips_a_method_that_failed_sanity(doc):
    text = "".join(parse(section_html(doc)).text)
    # shap ranks first on the numbers but is flagged by the sanity check: occlusion is recommended
    assert "Most faithful method for this model: Leave-one-out occlusion" in text
    assert "SHAP (partition) ranks higher but failed the randomisation sanity check" in text
    assert XSS_SCRIPT not in text.split("Most faithful")[1].split(".")[0]  # the JSON's own string is not trusted


def test_tables_protocol_plausibility_sanity(doc):
    text = "".join(parse(section_html(doc)).text)
    for needle in ("Comprehensiveness AOPC", "Sufficiency AOPC", "Deletion AUC", "Insertion AUC", "Rank corr. with leave-one-out",
                   "Protocol (these choices move the numbers)", "removal", "delete", "AUPRC", "Token F1",
                   "Chance (random ranking, exact)", "Agreement between methods", "classifier head", "Flagged",
                   "Mean steps (adaptive)", "23.5", "Faithfulness on 50 texts", "1%", "50%"):
        assert needle in text, needle
    assert text.count("Flagged") == 1


def test_hostile_strings_escaped(doc):
    sec = section_html(doc)
    assert "<script" not in sec and "<img" not in sec
    text = "".join(parse(sec).text)
    for h in (XSS_SCRIPT, XSS_IMG, TEMPLATE, RLO):
        assert h in text or h in html.unescape(sec), h
    assert "{{ 7*7 }}" in text and "49" not in text.replace("0.490", "")


def test_chart_is_inline_svg_from_numbers(doc):
    sec = section_html(doc)
    assert sec.count("<svg") >= 2 and "xmlns" not in sec and "http" not in sec
    for colour in re.findall(r'stroke="([^"]*)"', sec):
        assert re.fullmatch(r"#[0-9a-f]{6}", colour)
    for pts in re.findall(r'points="([^"]*)"', sec):
        assert re.fullmatch(r"[0-9. ,\-]+", pts)
    for _, attrs in parse(sec).tags:
        style = dict(attrs).get("style")
        assert style is None or re.fullmatch(r"background-color:#[0-9a-f]{6}", style)


def test_absent_partial_and_wrong_types():
    assert build(minimal()) is None
    r = minimal()
    r["models"]["baseline"]["faithfulness"] = {}
    assert build(r) is None and 'id="faithfulness"' not in render(r)
    r["models"]["baseline"]["faithfulness"] = {"faithfulness": {"summary": {"shap": {"deletion_auc": {"mean": 0.2}}}}}
    doc = render(r)
    assert 'id="faithfulness"' in doc and "0.200" in doc
    for junk in ([1, 2], "x", None, {"faithfulness": "nope", "plausibility": [1], "sanity": {"stages": "x"}},
                 {"faithfulness": {"summary": {"shap": {"deletion_auc": {"mean": float("nan")}}, "m": [1]}, "curves": {"shap": {
                     "fractions": [0, "a", 1], "deletion": [1e300, None, 2]}}}}):
        r["models"]["baseline"]["faithfulness"] = junk
        render(r)  # never raises
    r["models"]["baseline"]["faithfulness"] = {"faithfulness": {"curves": {"shap": {"fractions": [0, 1], "deletion": [1e300, 2]}},
                                                                "summary": {"shap": {"deletion_auc": stat(0.1)}}}}
    assert "<svg" not in section_html(render(r))  # absurd values: no chart, the tables still hold the numbers


def test_unknown_keys_are_ignored(results):
    r = copy.deepcopy(results)
    r["models"]["baseline"]["faithfulness"]["brand_new"] = {"anything": XSS_SCRIPT}
    assert section_html(render(r)) == section_html(render(results))
