"""The explanation-quality analysis plug-in: analyse() -> JSON section, checks() -> summary lines."""

import json

import pytest

from audit.attribution import quality
from audit.demo import demo_splits
from audit.models import load_model
from audit.results import AuditResult, Check

FAST = {"n_examples": 4, "shap_max_evals": 20, "ig_steps": 17, "sanity_examples": 2, "n_boot": 100,
        "sanity_layers": [0, 1], "max_length": 64}


@pytest.fixture(scope="module")
def section(tiny_dirs):
    b = load_model(tiny_dirs["bert"], device="cpu")
    _, ev = demo_splits(n=120, seed=0)
    return quality.analyse(b, ev, dict(FAST), seed=0, show_progress=False)


def test_section_is_strict_json_with_protocol_and_every_part(section):
    text = json.dumps(AuditResult(run={}, data={}, models={"m": {"faithfulness": section}}).to_dict(), allow_nan=False)
    assert json.loads(text)["models"]["m"]["faithfulness"]["n_examples"] == 4
    assert section["methods"] == list(quality.DEFAULT_METHODS)
    faith = section["faithfulness"]
    assert faith["protocol"]["removal"] == "delete" and faith["protocol"]["bins"] == [0.01, 0.05, 0.1, 0.2, 0.5]
    assert set(faith["summary"]) == set(quality.DEFAULT_METHODS) | {"random"}
    for m, rows in faith["per_example"].items():
        assert len(rows["comprehensiveness_aopc"]) == 4
    assert set(section["plausibility"]["summary"]) == set(quality.DEFAULT_METHODS) | {"random"}  # demo data has rationales
    assert len(section["agreement"]["pairs"]) == 10
    assert [s["name"] for s in section["sanity"]["stages"]] == ["classifier head", "head + top 1 layer"]
    assert section["sanity"]["n_examples"] == 2
    assert section["ig_completeness"]["n"] == 4
    assert section["recommendation"]["method"] in quality.DEFAULT_METHODS
    assert section["options"]["n_examples"] == 4 and section["options"]["removal"] == "delete"
    assert len(section["texts"]) == 4 and len(section["attributions"]["shap"]) == 4


def test_same_seed_same_numbers(tiny_dirs, section):
    b = load_model(tiny_dirs["bert"], device="cpu")
    _, ev = demo_splits(n=120, seed=0)
    opts = dict(FAST, methods=["occlusion", "gradient_x_input"], sanity=False, plausibility=False)
    a = quality.analyse(b, ev, opts, seed=0, show_progress=False)
    c = quality.analyse(b, ev, opts, seed=0, show_progress=False)
    assert a["faithfulness"]["per_example"] == c["faithfulness"]["per_example"]
    assert a["indices"] == section["indices"]  # the sample depends on the seed only
    assert "sanity" not in a and "plausibility" not in a


def test_checks(section):
    lines = quality.checks("baseline", section)
    assert all(isinstance(c, Check) for c in lines)
    names = [c.name for c in lines]
    assert "baseline: explanation faithfulness" in names
    assert "baseline: explanation sanity (model randomisation)" in names
    assert any("IG completeness" in n for n in names)
    sanity = next(c for c in lines if "sanity" in c.name)
    assert (sanity.status == "warn") == bool(section["sanity"]["flagged"])
    broken = dict(section, sanity={"stages": [{"name": "classifier head"}], "flagged": ["shap"], "protocol": {"threshold": 0.5}})
    assert next(c for c in quality.checks("m", broken) if "sanity" in c.name).status == "warn"
    assert quality.checks("m", {}) == []


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="unknown faithfulness option"):
        quality.resolve_options({"n_exampels": 5})
    with pytest.raises(ValueError, match="lime"):
        quality.resolve_options({"methods": ["lime"]})
    with pytest.raises(ValueError, match="n_examples"):
        quality.resolve_options({"n_examples": 0})
    with pytest.raises(ValueError, match="removal"):
        from audit.attribution.faithfulness import Protocol

        Protocol(removal="zero")
    assert quality.resolve_options({"methods": "shap, occlusion"})["methods"] == ["shap", "occlusion"]


def test_recommendation_prefers_methods_that_pass_sanity():
    def s(v):
        return {k: {"mean": v if better == "higher" else -v} for k, (_, better) in
                __import__("audit.attribution.faithfulness", fromlist=["METRICS"]).METRICS.items()}

    summary = {"a": s(0.9), "b": s(0.5), "random": s(0.0)}
    assert quality.recommend(summary, [], ["a", "b"])["method"] == "a"
    rec = quality.recommend(summary, ["a"], ["a", "b"])
    assert rec["method"] == "b" and "sanity" in rec["reason"]


def test_report_renders_the_computed_section(section):
    from reports import render

    results = AuditResult(run={"created": "now", "command": "api"}, data={"source": "demo"},
                          models={"baseline": {"identity": {"source": "tiny"}, "faithfulness": section}}).to_dict()
    doc = render(results)
    part = doc[doc.index('<section id="faithfulness"'):]
    assert "Most faithful method for this model" in part
    assert "Random attribution (chance level)" in part and "Chance (random ranking, exact)" in part
    assert part.count("&#9733;") + part.count("\u2605") >= 5  # a best mark in every faithfulness column
