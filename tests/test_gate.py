"""Gating on audit checks: thresholds, re-judging saved results, exit codes, JUnit and markdown."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from audit import junit, summary_md
from audit.cli import main
from audit.gate import judge
from audit.pipeline import AuditConfig, model_checks
from audit.results import AuditResult, Check
from audit.thresholds import BY_KEY, SPEC, load, rejudge

XSD = Path(__file__).parent / "data" / "junit.xsd"


def perf_section(accuracy: float = 0.84, ece: float = 0.05) -> dict:
    return {"identity": {}, "truncation": None,
            "performance": {"problem_type": "single_label", "accuracy": accuracy, "f1_macro": accuracy - 0.01,
                            "ece": ece, "ece_bins": 15, "n": 100}}


def robustness_section(max_success: float = 0.5, min_cert: float = 0.5) -> dict:
    return {
        "protocol": {"config": {"max_attack_success": max_success, "min_certified": min_cert}},
        "char_attack": {"budgets": [{"k": 2, "success_rate": 0.4, "n_attacked": 50, "accuracy": 0.9,
                                     "accuracy_under_attack": 0.54, "valid_success_rate": 0.38}]},
        "word_attack": {"valid_success_rate": 0.2, "n_attacked": 50, "success_rate": 0.25, "accuracy": 0.9,
                        "accuracy_under_attack": 0.72},
        "radius1": {"certified_fraction": 0.7, "summary": {"all": {"n_correct": 20}}},
    }


def privacy_section(auc: float = 0.6, tpr: float = 0.05, exposure: float = 10.0) -> dict:
    return {
        "protocol": {"thresholds": {"auc": auc, "tpr_at_1pct_fpr": tpr, "exposure_bits": exposure}},
        "membership_inference": {"n_members": 100, "n_nonmembers": 100, "attacks": {
            "loss": {"auc": {"value": 0.55, "ci": [0.5, 0.6]}, "tpr_at_fpr": [{"fpr": 0.01, "value": 0.03}]}}},
        "canaries": {"canaries": [{"exposure": {"exposure": 6.0, "max_exposure": 10.0}, "repetitions": 4}]},
    }


def real_checks(name: str, config: AuditConfig, rob: dict, priv: dict) -> list[Check]:
    """The checks the audit's own code makes from these sections."""
    from audit import privacy, robustness

    return (model_checks(name, perf_section(), config) + robustness.checks(name, rob) + privacy.checks(name, priv))


def saved_results(extra_checks: list[Check] = ()) -> dict:
    config = AuditConfig(analyses=())
    section = perf_section() | {"robustness": robustness_section(), "privacy_audit": privacy_section()}
    checks = real_checks("baseline", config, section["robustness"], section["privacy_audit"]) + list(extra_checks)
    return AuditResult(run={"command": "run", "config": {"audit": config.to_dict()}}, data={},
                       models={"baseline": section}, checks=checks).to_dict()


def write_results(path: Path, results: dict) -> Path:
    path.write_text(json.dumps(results), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- thresholds


def test_defaults_are_those_of_the_checks():
    from audit.attribution.quality import DEFAULTS as FAITH
    from audit.privacy import DEFAULT_THRESHOLDS
    from audit.robustness.probe import ProbeConfig

    config, probe = AuditConfig(), ProbeConfig()
    expected = {
        "performance.min_accuracy": config.min_accuracy, "performance.max_ece": config.max_ece,
        "explanations.ig_tolerance": config.ig_tolerance, "faithfulness.sanity_threshold": FAITH["sanity_threshold"],
        "robustness.max_attack_success": probe.max_attack_success, "robustness.min_certified": probe.min_certified,
        "robustness.invariance_threshold": probe.invariance_threshold, "robustness.typo_threshold": probe.typo_threshold,
        "privacy.max_auc": DEFAULT_THRESHOLDS["auc"], "privacy.max_tpr_at_1pct_fpr": DEFAULT_THRESHOLDS["tpr_at_1pct_fpr"],
        "privacy.max_exposure_bits": DEFAULT_THRESHOLDS["exposure_bits"],
    }
    assert {t.key: t.default for t in SPEC} == expected
    assert AuditConfig().to_dict()["thresholds"] == expected


def test_every_rejudgeable_threshold_judges_a_real_check():
    names = {c["name"].split(": ", 1)[1] for c in saved_results()["checks"]}
    for spec in SPEC:
        if spec.rejudge:
            assert any(__import__("re").fullmatch(spec.checks, n) for n in names), spec.key


@pytest.mark.parametrize("key,value", [
    ("performance.min_accuracy", 0.9), ("performance.min_accuracy", 0.5), ("performance.max_ece", 0.01),
    ("robustness.max_attack_success", 0.3), ("robustness.max_attack_success", 0.1), ("robustness.min_certified", 0.8),
    ("privacy.max_auc", 0.5), ("privacy.max_tpr_at_1pct_fpr", 0.01), ("privacy.max_exposure_bits", 5.0),
])
def test_rejudge_agrees_with_the_checks_run_at_that_threshold(key, value):
    """Judging saved checks again gives the statuses the audit's own checks give at the new threshold."""
    saved = saved_results()
    checks, notes = rejudge(saved, {key: value})
    assert not notes
    config = AuditConfig(analyses=())
    rob, priv = robustness_section(), privacy_section()
    field = BY_KEY[key].target[1]
    if key.startswith("performance."):
        setattr(config, field, value)
    elif key.startswith("robustness."):
        rob["protocol"]["config"][field] = value
    else:
        priv["protocol"]["thresholds"][field.split(".")[1]] = value
    fresh = {c.name: c.status for c in real_checks("baseline", config, rob, priv)}
    assert {c["name"]: c["status"] for c in checks} == fresh
    before = {c["name"]: c["status"] for c in saved["checks"]}
    assert fresh != before or key == "performance.min_accuracy" and value == 0.5  # each case changes a status


def test_rejudge_at_the_saved_thresholds_changes_nothing():
    saved = saved_results()
    defaults = {t.key: t.default for t in SPEC if t.rejudge}
    checks, notes = rejudge(saved, defaults)
    assert [c["status"] for c in checks] == [c["status"] for c in saved["checks"]]
    assert not notes


def test_error_checks_stay_errors_and_unjudgeable_overrides_are_named():
    saved = saved_results([Check("baseline: accuracy", "error", None, 0.8, "could not evaluate")])
    checks, notes = rejudge(saved, {"performance.min_accuracy": 0.1, "explanations.ig_tolerance": 0.5,
                                    "robustness.invariance_threshold": 0.2})
    assert checks[-1]["status"] == "error"
    assert any(n.startswith("explanations.ig_tolerance:") and "cannot be re-applied" in n for n in notes)
    assert any(n.startswith("robustness.invariance_threshold:") for n in notes)


def test_thresholds_file_and_unknown_keys(tmp_path):
    good = tmp_path / "t.toml"
    good.write_text("[performance]\nmin_accuracy = 0.9\n[privacy]\nmax_auc = 0.55\n")
    assert load(good) == {"performance.min_accuracy": 0.9, "privacy.max_auc": 0.55}
    bad = tmp_path / "bad.toml"
    bad.write_text("[performance]\nmin_acc = 0.9\n")
    with pytest.raises(ValueError, match=r"bad\.toml.*unknown threshold 'performance\.min_acc'"):
        load(bad)
    flat = tmp_path / "flat.toml"
    flat.write_text("min_accuracy = 0.9\n")
    with pytest.raises(ValueError, match=r"flat\.toml.*unknown threshold 'min_accuracy'.*\[performance\]"):
        load(flat)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("[performance]\nmin_accuracy = 1.5\n")
    with pytest.raises(ValueError, match=r"wrong\.toml.*must be in \[0, 1\]"):
        load(wrong)


# --------------------------------------------------------------------------- audit check and exit codes


def results_with_worst(status: str) -> dict:
    checks = [Check("baseline: accuracy", "pass", 0.9, 0.8, "ok")]
    if status != "pass":
        checks.append(Check("baseline: other", status, None, None, f"a {status} check"))
    return AuditResult(run={}, data={}, models={"baseline": perf_section()}, checks=checks).to_dict()


@pytest.mark.parametrize("worst", ["pass", "warn", "fail", "error"])
def test_exit_code_is_one_exactly_when_the_gate_trips(worst, tmp_path, capsys):
    path = write_results(tmp_path / "results.json", results_with_worst(worst))
    expected = {"never": 0, "fail": int(worst in ("fail", "error")), "warn": int(worst != "pass")}
    for level, code in expected.items():
        assert main(["check", str(path), "--fail-on", level, "-q"]) == code, (worst, level)
        assert judge(results_with_worst(worst)["checks"], level).exit_code == code


def test_check_rejudges_with_a_stricter_file_and_trips(tmp_path, capsys):
    path = write_results(tmp_path / "results.json", saved_results())
    assert main(["check", str(path), "--fail-on", "fail"]) == 0
    capsys.readouterr()
    strict = tmp_path / "strict.toml"
    strict.write_text("[performance]\nmin_accuracy = 0.9\n")
    xml, md = tmp_path / "out" / "junit.xml", tmp_path / "out" / "summary.md"
    rc = main(["check", str(path), "--fail-on", "fail", "--thresholds", str(strict), "--junit", str(xml), "--summary-md", str(md)])
    out, err = capsys.readouterr()
    assert rc == 1
    assert "FAIL   baseline: accuracy" in out and "re-judged against performance.min_accuracy = 0.9" in out
    assert '"performance.min_accuracy": 0.9' in out and "gate tripped" in err
    failure = ET.parse(xml).getroot().find("testsuite/testcase[@name='accuracy']/failure")
    assert failure is not None
    assert "| performance.min\\_accuracy | 0.9 |" in md.read_text()
    # a flag wins over the file
    assert main(["check", str(path), "--thresholds", str(strict), "--threshold", "performance.min_accuracy=0.8", "-q"]) == 0


def test_check_input_errors_exit_two(tmp_path, capsys):
    path = write_results(tmp_path / "results.json", saved_results())
    bad = tmp_path / "bad.toml"
    bad.write_text("[robustness]\nmax_attack = 0.1\n")
    assert main(["check", str(path), "--thresholds", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.toml" in err and "robustness.max_attack" in err
    assert main(["check", str(path), "--threshold", "nope=1"]) == 2
    assert main(["check", str(tmp_path / "missing.json")]) == 2
    (tmp_path / "broken.json").write_text("{")
    assert main(["check", str(tmp_path / "broken.json")]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["check", str(path), "--fail-on", "sometimes"])
    assert exc.value.code == 2


def test_check_does_not_import_torch(tmp_path):
    path = write_results(tmp_path / "results.json", saved_results())
    code = ("import sys; from audit.cli import main; "
            f"rc = main(['check', {str(path)!r}, '--threshold', 'privacy.max_auc=0.5', '--junit', {str(tmp_path / 'j.xml')!r}, "
            f"'--summary-md', {str(tmp_path / 's.md')!r}, '-q']); "
            "print(rc, [m for m in ('torch', 'transformers', 'captum', 'opacus', 'shap', 'jinja2') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent)
    assert out.stdout.strip() == "0 []", out.stderr
    assert (tmp_path / "j.xml").is_file() and (tmp_path / "s.md").is_file()


# --------------------------------------------------------------------------- JUnit


def hostile_results() -> dict:
    model = "m|x `tick` <script>alert(1)</script>"
    checks = [
        Check(f"{model}: accuracy", "fail", 0.5, 0.8, "below | the *minimum* `x` <script>alert(2)</script>\nnext"),
        Check(f"{model}: calibration (ECE)", "warn", 0.2, 0.1, "ctrl \x1b[31m red \x00 & [link](javascript:x) @here"),
        Check(f"{model}: privacy audit", "error", None, None, "<img src=x onerror=alert(3)>"),
        Check(f"{model}: truncation", "pass", 0, 0, "fine"),
        Check("data: skipped rows", "warn", 2, 0, "2 rows | skipped"),
    ]
    return AuditResult(run={}, data={}, models={model: perf_section()}, checks=checks).to_dict()


@pytest.mark.parametrize("warn_as", ["system-out", "skipped"])
def test_junit_is_schema_valid_and_counts_match(warn_as, tmp_path):
    xmlschema = pytest.importorskip("xmlschema")
    results = hostile_results()
    results["models"]["private"] = perf_section()
    results["checks"].append(Check("private: accuracy", "pass", 0.9, 0.8, "ok").to_dict())
    path = junit.write(tmp_path / "j.xml", results["checks"], results["models"], warn_as=warn_as)
    xmlschema.XMLSchema(str(XSD)).validate(str(path))
    root = ET.parse(path).getroot()
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    model = next(iter(results["models"]))
    assert set(suites) == {model, "private", "data"}
    by_suite = {model: results["checks"][:4], "data": results["checks"][4:5], "private": results["checks"][5:]}
    for name, checks in by_suite.items():
        suite = suites[name]
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases) == len(checks)
        assert int(suite.get("failures")) == len(suite.findall("testcase/failure")) == sum(c["status"] == "fail" for c in checks)
        assert int(suite.get("errors")) == len(suite.findall("testcase/error")) == sum(c["status"] == "error" for c in checks)
        n_warn = sum(c["status"] == "warn" for c in checks)
        assert int(suite.get("skipped")) == len(suite.findall("testcase/skipped")) == (n_warn if warn_as == "skipped" else 0)
    assert int(root.get("tests")) == len(results["checks"])
    assert int(root.get("failures")) == 1 and int(root.get("errors")) == 1
    case = suites[model].find("testcase[@name='accuracy']")
    assert case.find("failure").get("message").startswith("below | the *minimum* `x` <script>")
    warn = suites[model].find("testcase[@name='calibration (ECE)']")
    assert "\ufffd[31m" in warn.find("system-out").text  # the escape character XML cannot hold is replaced


# --------------------------------------------------------------------------- markdown


def test_markdown_summary_escapes_hostile_text():
    markdown_it = pytest.importorskip("markdown_it")
    results = hostile_results()
    checks = results["checks"]
    text = summary_md.render(results, checks, judge(checks, "fail"), {"performance.min_accuracy": 0.8}, ["a | note <b>"],
                             source="runs/<x>|results.json")
    html = markdown_it.MarkdownIt("commonmark").enable("table").render(text)
    assert "<script" not in html and "<img" not in html and "<b>" not in html and "<a " not in html
    assert "<code>" not in html and "<em>" not in html
    tokens = markdown_it.MarkdownIt("commonmark").enable("table").parse(text)
    tables, table, row = [], None, None
    for tok in tokens:
        if tok.type == "table_open":
            table = []
        elif tok.type == "tr_open":
            row = []
        elif tok.type == "inline" and row is not None:
            row.append(tok.content)
        elif tok.type == "tr_close":
            table.append(row)
            row = None
        elif tok.type == "table_close":
            tables.append(table)
    checks_table = tables[0]
    assert len(checks_table) == 1 + len(checks) and all(len(r) == 5 for r in checks_table)
    rendered = markdown_it.MarkdownIt("commonmark").enable("table").renderInline
    first = rendered(checks_table[1][4])
    assert first == "below | the *minimum* `x` &lt;script&gt;alert(2)&lt;/script&gt; next"
    assert [r[0] for r in checks_table[1:]] == ["**FAIL**", "WARN", "**ERROR**", "PASS", "WARN"]
    assert len(tables[1]) == 2 and len(tables[1][1]) == 5  # headline metrics: one model
    assert "\x1b" not in text and "\x00" not in text
    assert "gate tripped" in text


# --------------------------------------------------------------------------- audit run with a gate


def test_run_gate_and_recorded_thresholds(tiny_dirs, tmp_path, capsys):
    import pandas as pd

    from audit.demo import demo_splits

    _, ev = demo_splits(n=40, seed=6)
    csv = tmp_path / "ids.csv"
    pd.DataFrame({"text": ev.texts, "label": ev.labels}).to_csv(csv, index=False)
    common = ["run", "--model", str(tiny_dirs["distilbert"]), "--data", str(csv), "--no-explain", "--no-faithfulness",
              "--no-robustness", "--quiet"]
    out = tmp_path / "a"
    thresholds = tmp_path / "t.toml"
    thresholds.write_text("[performance]\nmin_accuracy = 1.0\nmax_ece = 1.0\n[robustness]\nmin_certified = 0.25\n")
    rc = main(common + ["--out", str(out), "--fail-on", "fail", "--thresholds", str(thresholds),
                        "--junit", str(out / "junit.xml"), "--summary-md", str(out / "summary.md")])
    assert rc == 1, capsys.readouterr().err  # a random head is below perfect accuracy
    saved = json.loads((out / "results.json").read_text())
    recorded = saved["run"]["config"]["audit"]["thresholds"]
    assert recorded["performance.min_accuracy"] == 1.0 and recorded["robustness.min_certified"] == 0.25
    acc = next(c for c in saved["checks"] if c["name"] == "baseline: accuracy")
    assert acc["status"] == "fail" and acc["threshold"] == 1.0
    assert ET.parse(out / "junit.xml").getroot().get("failures") == "1"
    # the same results pass a gate at a lower bar, without recomputing
    assert main(["check", str(out / "results.json"), "--threshold", "performance.min_accuracy=0", "-q"]) == 0
    # --fail-on never (the default) keeps exit 0 whatever the checks say
    assert main(common + ["--out", str(tmp_path / "b"), "--thresholds", str(thresholds)]) == 0
    # a bad thresholds file stops the run before any work
    bad = tmp_path / "bad.toml"
    bad.write_text("[performance]\nminimum = 1\n")
    assert main(common + ["--out", str(tmp_path / "c"), "--thresholds", str(bad)]) == 2
    assert "performance.minimum" in capsys.readouterr().err and not (tmp_path / "c").exists()


def test_analysis_thresholds_reach_the_analysis_options():
    from audit.thresholds import analysis_options, configure

    config = configure(AuditConfig(analysis_options={"robustness": {"n_attack": 3}}),
                       {"robustness.max_attack_success": 0.2, "privacy.max_auc": 0.55, "performance.max_ece": 0.05})
    assert config.max_ece == 0.05
    assert analysis_options("robustness", config.analysis_options["robustness"], config.threshold_overrides) == \
        {"n_attack": 3, "max_attack_success": 0.2}
    assert analysis_options("privacy_audit", {"thresholds": {"exposure_bits": 8.0}}, config.threshold_overrides) == \
        {"thresholds": {"exposure_bits": 8.0, "auc": 0.55}}
    d = config.to_dict()
    assert d["analysis_options"]["robustness"]["max_attack_success"] == 0.2
    assert d["thresholds"]["privacy.max_auc"] == 0.55 and d["thresholds"]["robustness.max_attack_success"] == 0.2
    assert copy.deepcopy(d) == d


def test_demo_and_train_gate(monkeypatch, tmp_path, capsys):
    """The demo command judges the result of the demo pipeline with the thresholds it was given."""
    import audit.pipeline as pipeline

    seen = {}

    def fake_run_demo(out_dir, config, device="auto"):
        seen["audit"] = config.audit
        checks = model_checks("baseline", perf_section(accuracy=0.84, ece=0.2), config.audit)
        result = AuditResult(run={"config": {"audit": config.audit.to_dict()}}, data={},
                             models={"baseline": perf_section()}, checks=checks)
        pipeline.write_outputs(result, out_dir)
        return result

    monkeypatch.setattr(pipeline, "run_demo", fake_run_demo)
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--quiet", "--junit", str(out / "j.xml"), "--junit-warn", "skipped"]
    assert main(args + ["--fail-on", "fail"]) == 0  # ECE 0.2 above 0.1 only warns
    assert main(args + ["--fail-on", "warn"]) == 1
    assert ET.parse(out / "j.xml").getroot().get("skipped") == "1"
    assert main(args + ["--fail-on", "fail", "--threshold", "performance.min_accuracy=0.9"]) == 1
    assert seen["audit"].min_accuracy == 0.9
    assert main(args + ["--ig-tolerance", "0.2", "--threshold", "explanations.ig_tolerance=0.3"]) == 0
    assert seen["audit"].ig_tolerance == 0.2  # the explicit flag wins
    rc = main(["train", "--data", str(tmp_path / "none.csv"), "--out", str(tmp_path / "t"), "--no-report", "--fail-on", "fail"])
    assert rc == 2 and "--no-report" in capsys.readouterr().err


def test_thresholds_reach_a_real_robustness_run(tiny_dirs):
    """An overridden analysis threshold is what the analysis records and what its checks use."""
    from audit.demo import demo_splits
    from audit.models import load_model
    from audit.pipeline import run_audit
    from audit.thresholds import configure

    bundle = load_model(tiny_dirs["roberta"], device="cpu", label_names=["negative", "positive"])
    _, ev = demo_splits(n=40, seed=3)
    config = AuditConfig(explain=False, show_progress=False, analyses=("robustness",),
                         analysis_options={"robustness": {"n_invariance": 4, "n_attack": 3, "n_radius": 2, "query_budget": 30}})
    configure(config, {"robustness.max_attack_success": 0.123, "robustness.min_certified": 0.987})
    d = run_audit(bundle, ev, config).to_dict()
    assert d["models"]["baseline"]["robustness"]["protocol"]["config"]["max_attack_success"] == 0.123
    judged = {c["name"].split(": ", 1)[1]: c["threshold"] for c in d["checks"]}
    attack = [t for name, t in judged.items() if "attack" in name]
    assert attack and all(t == 0.123 for t in attack)
    assert judged.get("radius-1 certificate", 0.987) == 0.987
    assert d["run"]["config"]["audit"]["thresholds"]["robustness.min_certified"] == 0.987


def test_check_survives_malformed_sections(tmp_path, capsys):
    """Sections of the wrong type are read as missing: the saved statuses still gate."""
    results = saved_results()
    results["run"] = {"config": ["not", "a", "mapping"]}
    results["models"]["baseline"]["privacy_audit"] = "garbled"
    path = write_results(tmp_path / "results.json", results)
    rc = main(["check", str(path), "--threshold", "privacy.max_tpr_at_1pct_fpr=0.01", "--summary-md", str(tmp_path / "s.md"),
               "--junit", str(tmp_path / "j.xml")])
    out = capsys.readouterr().out
    assert rc == 0 and "hold no TPR at 1% FPR" in out
    results["models"] = ["baseline"]
    path = write_results(tmp_path / "results.json", results)
    assert main(["check", str(path), "--threshold", "performance.min_accuracy=0.9", "-q",
                 "--summary-md", str(tmp_path / "s.md")]) == 0  # no model sections: nothing is re-judged
    bad = results | {"checks": [{"name": "x", "status": "fine"}]}
    assert main(["check", str(write_results(tmp_path / "bad.json", bad))]) == 2
    assert "fine" in capsys.readouterr().err
