"""audit compare: pairing, paired statistics, check changes, refusal on different data, rendering."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audit.compare import (
    CompareError,
    compare,
    compare_files,
    load_sources,
    mcnemar_exact_p,
    newcombe_paired_interval,
    paired_statistics,
    parse_pair,
)

LABELS = ["negative", "positive"]


def _perf(true, pred, **extra):
    true, pred = list(true), list(pred)
    acc = float(np.mean([t == p for t, p in zip(true, pred)]))
    rec = {"ids": [f"ex{i}" for i in range(len(true))], "true": true, "predicted": pred,
           "p_true": [0.9 if t == p else 0.2 for t, p in zip(true, pred)]}
    return {"n": len(true), "label_names": LABELS, "accuracy": acc, "f1_macro": acc, "roc_auc": 0.8, "ece": 0.1,
            "problem_type": "single_label", "per_example": rec, **extra}


def _results(models, sha="a" * 64, checks=()):
    return {"schema_version": 1, "run": {"created": "2026-11-01T00:00:00+00:00"},
            "data": {"sha256": sha, "eval_sha256": sha},
            "models": models, "checks": list(checks)}


def _outcomes(n, a_only, b_only, both, seed=0):
    """Labels and predictions where A alone is right on ``a_only`` examples, B alone on ``b_only``."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, 2, n)
    kinds = np.array(["both"] * both + ["a"] * a_only + ["b"] * b_only + ["none"] * (n - both - a_only - b_only))
    rng.shuffle(kinds)
    pa = np.where(np.isin(kinds, ["both", "a"]), true, 1 - true)
    pb = np.where(np.isin(kinds, ["both", "b"]), true, 1 - true)
    return true.tolist(), pa.tolist(), pb.tolist()


def _write(tmp_path, name, results):
    path = tmp_path / name
    path.write_text(json.dumps(results), encoding="utf-8")
    return path


def test_newcombe_interval_and_mcnemar_match_published_values():
    # Paired 2x2 table (59, 6 / 16, 80): Newcombe's hybrid score interval -0.1186 to -0.0046
    # (Fagerland, Lydersen & Laake, Statistical Analysis of Contingency Tables, chapter 8).
    lo, hi = newcombe_paired_interval(59, 6, 16, 80)
    assert (round(lo, 4), round(hi, 4)) == (-0.1186, -0.0046)
    exact = 2 * sum(math.comb(22, k) for k in range(7)) / 2 ** 22  # 6 of 22 discordant pairs
    assert mcnemar_exact_p(6, 16) == pytest.approx(exact, rel=1e-12)
    assert mcnemar_exact_p(0, 0) == 1.0


def test_paired_interval_excludes_zero_when_b_is_better_and_agrees_with_a_bootstrap():
    true, pa, pb = _outcomes(400, a_only=15, b_only=55, both=250)
    p = paired_statistics(_perf(true, pa), _perf(true, pb))
    assert (p["only_a_correct"], p["only_b_correct"], p["both_correct"]) == (15, 55, 250)
    assert p["difference"] == pytest.approx(40 / 400)
    lo, hi = p["ci"]
    assert 0 < lo < 0.1 < hi
    assert p["significant"] and p["mcnemar_p"] < 1e-4
    # independent check: percentile bootstrap of the paired correctness, resampling examples
    ca, cb = np.equal(true, pa), np.equal(true, pb)
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 400, (4000, 400))
    boot = cb[idx].mean(1) - ca[idx].mean(1)
    b_lo, b_hi = np.quantile(boot, [0.025, 0.975])
    assert abs(lo - b_lo) < 0.015 and abs(hi - b_hi) < 0.015
    # B is better on macro-F1 too, and the bootstrap interval says so
    assert p["f1_macro"]["difference"] > 0 and p["f1_macro"]["ci"][0] > 0


def test_identical_models_interval_covers_zero():
    true, pa, _ = _outcomes(200, a_only=0, b_only=0, both=150)
    p = paired_statistics(_perf(true, pa), _perf(true, pa))
    assert p["difference"] == 0 and p["mcnemar_p"] == 1.0
    assert p["ci"][0] < 0 < p["ci"][1] and not p["significant"]
    assert p["f1_macro"]["ci"] == [0.0, 0.0]


def test_outcomes_are_paired_by_id_when_the_order_differs():
    true, pa, pb = _outcomes(60, a_only=0, b_only=10, both=40)
    perf_b = _perf(true, pb)
    order = list(reversed(range(60)))
    perf_b["per_example"] = {k: [v[i] for i in order] for k, v in perf_b["per_example"].items()}
    p = paired_statistics(_perf(true, pa), perf_b)
    assert (p["only_a_correct"], p["only_b_correct"]) == (0, 10)


def test_outcomes_saved_as_label_names_are_paired_like_class_ids():
    true, pa, pb = _outcomes(80, a_only=5, b_only=12, both=50)
    names = ["negative", "positive"]
    by_id = paired_statistics(_perf(true, pa), _perf(true, pb))
    by_name = paired_statistics(_perf([names[t] for t in true], [names[x] for x in pa]),
                                _perf([names[t] for t in true], [names[x] for x in pb]))
    for key in ("difference", "ci", "mcnemar_p", "only_a_correct", "only_b_correct"):
        assert by_name[key] == by_id[key]
    assert by_name["f1_macro"]["difference"] == pytest.approx(by_id["f1_macro"]["difference"])


def test_paired_statistics_skip_results_without_per_example_outcomes():
    true, pa, _ = _outcomes(20, 0, 0, 10)
    old = _perf(true, pa)
    del old["per_example"]
    assert "per-example" in paired_statistics(old, _perf(true, pa))["skipped"]


def test_headline_deltas_know_which_direction_is_better():
    true, pa, pb = _outcomes(100, a_only=5, b_only=15, both=60)
    results = _results({"baseline": {"performance": _perf(true, pa, ece=0.05)},
                        "private": {"performance": _perf(true, pb, ece=0.12)}})
    from audit.compare import Source

    out = compare([Source("A", "r.json", results)])
    rows = {r["key"]: r for r in out["pairs"][0]["performance"]}
    assert rows["accuracy"]["delta"] == pytest.approx(0.10) and rows["accuracy"]["change"] == "better"
    assert rows["ece"]["delta"] == pytest.approx(0.07) and rows["ece"]["change"] == "worse"


def test_check_regressions_come_first(tmp_path):
    def checks(model, statuses):
        return [{"name": f"{model}: {n}", "status": s, "value": 1, "threshold": 0, "message": f"{n} is {s}"}
                for n, s in statuses.items()]

    true, pa, _ = _outcomes(20, 0, 0, 10)
    a = _results({"m": {"performance": _perf(true, pa)}},
                 checks=checks("m", {"improved": "fail", "same": "warn", "to_warn": "pass", "warn_to_fail": "warn",
                                     "pass_to_fail": "pass", "dropped": "pass"}))
    b = _results({"m": {"performance": _perf(true, pa)}},
                 checks=checks("m", {"improved": "pass", "same": "warn", "to_warn": "warn", "warn_to_fail": "fail",
                                     "pass_to_fail": "fail", "new_fail": "fail", "new_pass": "pass"}))
    out = compare_files([_write(tmp_path, "a.json", a), _write(tmp_path, "b.json", b)])
    c = out["pairs"][0]["checks"]
    assert [x["name"] for x in c["changes"]] == ["pass_to_fail", "warn_to_fail", "to_warn", "new_fail", "improved",
                                                 "new_pass", "dropped"]
    assert [x["kind"] for x in c["changes"][:3]] == ["regression"] * 3
    assert c["unchanged"] == 1 and c["n_regressions"] == 3


def test_different_data_is_refused_unless_allowed(tmp_path):
    true, pa, pb = _outcomes(50, 2, 8, 30)
    a = _write(tmp_path, "a.json", _results({"m": {"performance": _perf(true, pa)}}, sha="1" * 64))
    b = _write(tmp_path, "b.json", _results({"m": {"performance": _perf(true, pb)}}, sha="2" * 64))
    with pytest.raises(CompareError) as err:
        compare_files([a, b])
    assert "1" * 64 in str(err.value) and "2" * 64 in str(err.value) and "--allow-different-data" in str(err.value)
    out = compare_files([a, b], allow_different_data=True)
    pair = out["pairs"][0]
    assert pair["data"]["same"] is False and "Different evaluation data" in pair["data"]["note"]
    assert "difference" not in pair["paired"] and "different data" in pair["paired"]["skipped"]
    assert pair["performance"][0]["delta"] == pytest.approx(6 / 50)  # unpaired deltas are still shown
    from reports import render_comparison

    html = render_comparison(out)
    assert html.count("Different evaluation data.") == 2  # page banner and the pair's banner


def test_pairing_rules(tmp_path):
    true, pa, _ = _outcomes(20, 0, 0, 10)
    m = {"performance": _perf(true, pa)}
    one = _write(tmp_path, "one.json", _results({"baseline": m, "private": m}))
    out = compare_files([one])
    assert [(p["a"]["model"], p["b"]["model"]) for p in out["pairs"]] == [("baseline", "private")]
    a = _write(tmp_path, "a.json", _results({"baseline": m, "private": m, "extra": m}))
    b = _write(tmp_path, "b.json", _results({"private": m, "baseline": m}))
    out = compare_files([a, b])
    assert [(p["a"]["model"], p["b"]["model"], p["b"]["file"]) for p in out["pairs"]] == [
        ("baseline", "baseline", "B"), ("private", "private", "B")]
    assert any("A:extra" in n for n in out["notes"])
    three = compare_files([a, b, b])  # A against B, then A against C
    assert [p["b"]["file"] for p in three["pairs"]] == ["B", "B", "C", "C"]
    sources = load_sources([a, b])
    assert parse_pair("A:private=B:baseline", sources) == ((0, "private"), (1, "baseline"))
    assert parse_pair("baseline=2:private", sources) == ((0, "baseline"), (1, "private"))
    assert parse_pair("private=baseline", load_sources([one])) == ((0, "private"), (0, "baseline"))
    with pytest.raises(CompareError, match="has no model 'nope'.*'private', 'baseline'"):
        parse_pair("A:baseline=B:nope", sources)
    with pytest.raises(CompareError, match="no results file 'C'"):
        parse_pair("C:baseline=B:baseline", sources)
    solo = _write(tmp_path, "solo.json", _results({"baseline": m}))
    with pytest.raises(CompareError, match="holds one model"):
        compare_files([solo])


def test_faithfulness_robustness_leakage_and_explanation_matching():
    true, pa, _ = _outcomes(20, 0, 0, 10)

    def model(comp, fail_rate, success, auc, eps, text):
        return {
            "performance": _perf(true, pa),
            "faithfulness": {"faithfulness": {"methods": ["integrated_gradients"],
                                              "metrics": {"comprehensiveness_aopc": {"label": "Comprehensiveness AOPC",
                                                                                     "better": "higher"}},
                                              "summary": {"integrated_gradients": {"comprehensiveness_aopc": {"mean": comp}}}}},
            "robustness": {"invariance": {"tests": [{"name": "uppercase", "fail_rate": fail_rate}]},
                           "char_attack": {"budgets": [{"k": 1, "success_rate": success}]}},
            "privacy_audit": {"membership_inference": {"primary": "loss", "attacks": {"loss": {
                "auc": {"value": auc}, "tpr_at_fpr": [{"fpr": 0.01, "value": auc / 10}]}}},
                "epsilon_lower_bound": {"epsilon_lower_bound": 0.0}},
            "privacy_ledger": {"epsilon": eps} if eps else None,
            "explanations": {"methods": ["integrated_gradients"], "examples": [
                {"id": "ex1", "text": text, "label": 1, "prediction": 1, "target": 1, "words": [], "attributions": {}},
                {"id": "ex2", "text": "shared text", "label": 0, "prediction": 0, "target": 0, "words": [],
                 "attributions": {}}]},
        }

    from audit.compare import Source

    res = _results({"baseline": model(0.3, 0.10, 0.5, 0.70, None, "only in A"),
                    "private": model(0.2, 0.05, 0.4, 0.52, 8.0, "only in B")})
    pair = compare([Source("A", "r.json", res)])["pairs"][0]
    f = pair["faithfulness"]["rows"][0]
    assert (f["delta"], f["change"]) == (pytest.approx(-0.1), "worse")
    rob = {r["key"]: r for r in pair["robustness"]}
    assert rob["invariance.uppercase"]["change"] == "better" and rob["char_attack.1"]["delta"] == pytest.approx(-0.1)
    leak = {r["key"]: r for r in pair["leakage"]}
    assert leak["membership.auc"]["delta"] == pytest.approx(-0.18) and leak["membership.auc"]["change"] == "better"
    assert leak["membership.tpr@0.01"]["b"] == pytest.approx(0.052)
    assert leak["privacy_ledger.epsilon"]["a"] is None and leak["privacy_ledger.epsilon"]["b"] == 8.0
    ex = pair["explanations"]
    assert ex["n_matched"] == 1 and ex["pairs"][0]["id"] == "ex2"  # same id and same text only


def test_rendering_escapes_hostile_text(tmp_path):
    evil = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    true, pa, pb = _outcomes(30, 1, 5, 20)

    def model(pred):
        return {"performance": _perf(true, pred),
                "explanations": {"methods": ["integrated_gradients"], "examples": [
                    {"id": evil, "text": f"great {evil} film", "label": 1, "prediction": 1, "target": 1,
                     "words": [{"text": "great", "start": 0, "end": 5}],
                     "attributions": {"integrated_gradients": {"word_scores": [0.5]}}}]}}

    name = f"model {evil}"
    res = _results({"baseline": model(pa), name: model(pb)},
                   checks=[{"name": f"{name}: accuracy", "status": "fail", "message": evil},
                           {"name": "baseline: accuracy", "status": "pass", "message": "ok"}])
    path = _write(tmp_path, "evil.json", res)
    from reports import write_comparison

    html = write_comparison(compare_files([path]), tmp_path / "c.html").read_text(encoding="utf-8")
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("&lt;img src=x onerror=alert(2)&gt;") >= 3  # model name, check message, example text
    assert "http://" not in html and "https://" not in html


def test_cli_compare_does_not_import_torch(tmp_path):
    true, pa, pb = _outcomes(40, 2, 9, 20)
    a = _write(tmp_path, "a.json", _results({"m": {"performance": _perf(true, pa)}}))
    b = _write(tmp_path, "b.json", _results({"m": {"performance": _perf(true, pb)}}))
    out = tmp_path / "out" / "compare.html"
    code = ("import sys, audit.cli; rc = audit.cli.main(['compare', sys.argv[1], sys.argv[2], '--out', sys.argv[3], '-q']); "
            "heavy = [m for m in ('torch', 'transformers', 'captum', 'opacus', 'shap') if m in sys.modules]; "
            "print(rc, heavy)")
    run = subprocess.run([sys.executable, "-c", code, str(a), str(b), str(out)], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1])
    assert run.stdout.strip() == "0 []"
    saved = json.loads((out.parent / "compare.json").read_text())
    assert saved["pairs"][0]["paired"]["difference"] == pytest.approx(7 / 40)
    assert "<html" in out.read_text()


def test_cli_compare_refuses_different_data_with_a_clear_error(tmp_path, capsys):
    from audit.cli import main

    true, pa, _ = _outcomes(10, 0, 0, 5)
    a = _write(tmp_path, "a.json", _results({"m": {"performance": _perf(true, pa)}}, sha="1" * 64))
    b = _write(tmp_path, "b.json", _results({"m": {"performance": _perf(true, pa)}}, sha="2" * 64))
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "c.html")]) == 2
    err = capsys.readouterr().err
    assert "evaluation data differ" in err and "1" * 64 in err and "2" * 64 in err
    assert not (tmp_path / "c.html").exists()
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "c.html"), "--json", str(tmp_path / "x.json"),
                 "--allow-different-data", "-q"]) == 0
    assert json.loads((tmp_path / "x.json").read_text())["allow_different_data"] is True


def test_audit_records_per_example_outcomes_that_compare_pairs(tmp_path):
    """A real audit of two tiny models: the per-example record agrees with the saved metrics."""
    from model_zoo import build

    from audit.demo import demo_splits
    from audit.models import load_model
    from audit.pipeline import AuditConfig, run_audit

    bundles = {name: load_model(build("bert+wordpiece", tmp_path / name, seed=seed), device="cpu", label_names=LABELS)
               for name, seed in (("baseline", 0), ("private", 3))}
    _, ev = demo_splits(n=120, seed=3)
    cfg = AuditConfig(examples_per_category=1, ig_steps=8, ig_method="gausslegendre", show_progress=False, analyses=())
    result = run_audit(bundles, ev, cfg).to_dict()
    for name, bundle in bundles.items():
        perf = result["models"][name]["performance"]
        rec = perf["per_example"]
        assert rec["ids"] == list(ev.ids) and rec["true"] == list(ev.labels)
        probs = bundle.predict_proba(ev.texts, max_length=cfg.max_length)
        assert rec["predicted"] == probs.argmax(1).tolist()
        assert np.allclose(rec["p_true"], probs[np.arange(len(ev)), ev.labels], atol=1e-6)
        assert np.mean(np.equal(rec["true"], rec["predicted"])) == pytest.approx(perf["accuracy"])
    path = tmp_path / "results.json"
    path.write_text(json.dumps(result))
    pair = compare_files([path])["pairs"][0]
    acc = {k: result["models"][k]["performance"]["accuracy"] for k in bundles}
    assert pair["paired"]["a"] == pytest.approx(acc["baseline"]) and pair["paired"]["b"] == pytest.approx(acc["private"])
    assert pair["explanations"] is not None


def test_per_example_outcomes_of_a_multi_label_model_pair_on_label_sets():
    from types import SimpleNamespace

    from audit.metrics import per_example_outcomes

    truth = np.array([[1, 0, 1], [0, 1, 0], [0, 0, 0]])
    ds = SimpleNamespace(ids=["a", "b", "c"], multi_label=True, label_matrix=lambda: truth)
    probs_a = np.array([[0.9, 0.1, 0.8], [0.2, 0.3, 0.1], [0.1, 0.1, 0.1]])  # right on a and c
    probs_b = np.array([[0.9, 0.1, 0.2], [0.2, 0.7, 0.1], [0.1, 0.1, 0.1]])  # right on b and c
    rec_a, rec_b = per_example_outcomes(ds, probs_a), per_example_outcomes(ds, probs_b)
    assert rec_a["true"] == [[0, 2], [1], []] and rec_a["predicted"] == [[0, 2], [], []]
    p = paired_statistics({"problem_type": "multi_label", "per_example": rec_a},
                          {"problem_type": "multi_label", "per_example": rec_b})
    assert p["metric"] == "subset_accuracy"
    assert (p["both_correct"], p["only_a_correct"], p["only_b_correct"]) == (1, 1, 1) and "f1_macro" not in p
