"""The whole privacy audit through ``analyse`` / ``checks``: what it flags, what it passes, what it never writes."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest

from audit.privacy import analyse, checks, describe_options, privacy_section

# A DP claim (sigma = 1.0, q = 0.003, 300 steps: epsilon 0.30 at delta 1e-5) for a model trained without any noise.
FALSE_CLAIM = {"epsilon": 0.30, "delta": 1e-5, "noise_multiplier": 1.0, "sample_rate": 0.003, "steps": 300, "accountant": "prv"}


def _dump(section) -> str:
    return json.dumps(section, allow_nan=False, ensure_ascii=False)


def _secret_digits(spec) -> list[str]:
    return [c.text[len(c.template.split("{secret}")[0]):][: 2 * c.n_digits - 1] for c in spec]


@pytest.fixture(scope="module")
def flagged(memorised):
    m = memorised
    options = {
        "reference_population": m.population, "reference_model": m.base_dir, "n_reference_models": 2,
        "reference_max_train": 24, "reference_recipe": {"epochs": 8, "lr": 3e-3, "batch_size": 16},
        "canaries": m.canaries, "audit_records": m.records, "ledger": FALSE_CLAIM, "n_candidates": 100, "n_bootstrap": 50,
        # 40 members against 40 held-out records resolve FPRs down to about 1/4 at this error level
        "check_fprs": (0.25, 0.5),
    }
    return analyse(m.bundle, m.holdout, options, train_data=m.train, seed=0, show_progress=False)


def test_flags_a_memorising_model_that_claims_dp(flagged, memorised):
    s = flagged
    dp = s["dp_bound_check"]
    assert dp["status"] == "fail" and dp["violated"] and dp["min_headroom"] < 0
    lines = checks("private", s)
    dp_line = next(c for c in lines if c.name == "private: DP guarantee vs measured leakage")
    assert dp_line.status == "fail"
    assert "measured leakage exceeds the DP guarantee: training is not private as claimed" in dp_line.message
    assert next(c for c in lines if c.name == "private: membership inference").status == "warn"
    # sizes: planted rows are not used as members, members and non-members are balanced
    mi = s["membership_inference"]
    assert mi["n_members"] == mi["n_nonmembers"] == 40
    assert mi["excluded_planted_rows"] == len(memorised.train) - 40
    assert set(mi["attacks"]) == {"loss", "reference"} and mi["primary"] == "reference"
    assert mi["attacks"]["reference"]["auc"]["value"] > 0.7
    # the one-run audit and the canaries ran on what was planted
    lb = s["epsilon_lower_bound"]
    assert lb["m"] == 40 and lb["claimed_epsilon"] == 0.30 and lb["score"] == "reference"
    assert 0 <= lb["epsilon_lower_bound"] <= lb["max_certifiable_epsilon"]
    can = s["canaries"]
    assert can["n"] == 2 and can["in_training_data"] == 2
    assert all(0.0 <= c["exposure"]["exposure"] <= c["exposure"]["max_exposure"] for c in can["canaries"])
    assert s["timings"]["total"] > 0


def test_results_never_hold_secrets_or_training_texts(flagged, memorised):
    dumped = _dump(flagged)
    for secret in _secret_digits(memorised.canaries):
        assert re.fullmatch(r"\d( \d)+", secret) and secret not in dumped
    assert "* * * *" in dumped
    leaked = [t for t in memorised.clean_train.texts if t in dumped]
    assert leaked == []
    assert [r.get("text") for r in flagged["vulnerable_records"]] == [None] * len(flagged["vulnerable_records"])
    assert flagged["protocol"]["show_training_text"] is False


def test_training_text_only_on_request(memorised):
    m = memorised
    sec = privacy_section(m.bundle, m.train, m.holdout, {"show_training_text": True, "n_bootstrap": 20}, show_progress=False)
    texts = [r["text"] for r in sec["vulnerable_records"]]
    # without the canary and audit-record specs every training row is a member candidate
    assert len(texts) == 5 and set(texts) <= set(m.train.texts)
    scores = [r["score"] for r in sec["vulnerable_records"]]
    assert scores == sorted(scores, reverse=True)


def test_loss_attack_only_without_reference_data(memorised):
    m = memorised
    sec = analyse(m.bundle, m.holdout, {"n_bootstrap": 20}, train_data=m.clean_train, show_progress=False)
    mi = sec["membership_inference"]
    assert list(mi["attacks"]) == ["loss"] and mi["reference_attack"] is False
    assert any("loss attack only" in n for n in mi["notes"]) and any("loss attack only" in n for n in sec["notes"])
    assert sec["dp_bound_check"]["skipped"] and "no privacy ledger" in sec["dp_bound_check"]["reason"]
    assert sec["canaries"]["skipped"] and sec["epsilon_lower_bound"]["skipped"]
    msg = next(c for c in checks("baseline", sec) if c.name == "baseline: membership inference").message
    assert "loss attack only" in msg


def test_missing_training_data_is_said_not_guessed(memorised):
    m = memorised
    sec = analyse(m.bundle, m.holdout, {}, train_data=None, show_progress=False)
    assert sec["membership_inference"]["skipped"] and "no training data" in sec["membership_inference"]["reason"]
    assert [c.status for c in checks("m", sec)] == ["warn"]


def test_bad_options_are_named(memorised):
    m = memorised
    with pytest.raises(ValueError, match="unknown option.*n_refs"):
        analyse(m.bundle, m.holdout, {"n_refs": 3}, train_data=m.train)
    with pytest.raises(ValueError, match="'holdout' must be a TextDataset"):
        privacy_section(m.bundle, m.train, None, {"holdout": ["a text"]})
    with pytest.raises(ValueError, match="'reference_population' must be a TextDataset"):
        analyse(m.bundle, m.holdout, {"reference_population": ["a text"]}, train_data=m.train)
    with pytest.raises(ValueError, match="noise_multiplier"):
        analyse(m.bundle, m.holdout, {"ledger": {**FALSE_CLAIM, "noise_multiplier": 0}}, train_data=m.train)
    with pytest.raises(ValueError, match="inclusion flags"):  # audit records given, but not trained on as recorded
        analyse(m.bundle, m.holdout, {"audit_records": m.records}, train_data=m.clean_train, show_progress=False)


def test_describe_options_is_json_and_masked(memorised):
    m = memorised
    d = describe_options({"holdout": m.holdout, "canaries": m.canaries, "audit_records": m.records, "ledger": FALSE_CLAIM,
                          "reference_model": lambda: None, "fprs": (0.01,)})
    dumped = _dump(d)
    assert d["holdout"]["sha256"] == m.holdout.sha256 and d["reference_model"] == "caller-supplied factory"
    for secret in _secret_digits(m.canaries):
        assert secret not in dumped
    assert not any(t in dumped for t in m.holdout.texts)


def test_checks_survive_malformed_sections():
    assert checks("m", None)[0].status == "error"
    assert [c.status for c in checks("m", {"membership_inference": {"attacks": {"loss": {"auc": "high"}}}})] == ["error"]
    odd = {"protocol": {"thresholds": ["x"]}, "dp_bound_check": {"status": "fail", "notes": "text", "worst": 3},
           "canaries": {"canaries": [{"exposure": {"exposure": 11.0}}, "junk"]}}
    assert [c.status for c in checks("m", odd)] == ["warn", "fail"]


# ---------------------------------------------------------------------------------------------
# A correctly trained DP model passes
# ---------------------------------------------------------------------------------------------


def _train_dp_with_opacus(bundle, train, *, sigma=1.0, batch_size=16, epochs=3, seed=0):
    """DP-SGD with Opacus directly (Poisson sampling, per-example clipping, Gaussian noise); returns the ledger."""
    import torch
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(seed)
    enc = bundle.tokenizer(train.texts, padding="max_length", truncation=True, max_length=48, return_tensors="pt")
    data = TensorDataset(enc["input_ids"], enc["attention_mask"], torch.tensor(train.labels))
    model = bundle.model
    model.train()
    for p in model.base_model.embeddings.parameters():  # position ids broadcast over the batch: keep embeddings fixed
        p.requires_grad_(False)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    engine = PrivacyEngine(accountant="prv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        private, opt, loader = engine.make_private(module=model, optimizer=opt, data_loader=DataLoader(data, batch_size=batch_size),
                                                   noise_multiplier=sigma, max_grad_norm=1.0, poisson_sampling=True)
        for _ in range(epochs):
            for ids, mask, y in loader:
                if len(y) == 0:
                    continue
                opt.zero_grad()
                private(input_ids=ids, attention_mask=mask, labels=y).loss.backward()
                opt.step()
        eps = engine.get_epsilon(1e-5)
    (noise, q, _), = {(h[0], h[1], 0) for h in engine.accountant.history}  # one (sigma, q) throughout
    steps = sum(h[2] for h in engine.accountant.history)
    private.remove_hooks()
    bundle.model = private._module
    bundle.model.eval()
    bundle.invalidate_identity()
    return {"epsilon": eps, "delta": 1e-5, "noise_multiplier": noise, "sample_rate": q, "steps": steps, "accountant": "prv"}


def test_a_dp_trained_model_passes(tiny_dirs, random_label_splits):
    from audit.models import load_model
    from audit.privacy import split_audit_records

    s = random_label_splits
    records = split_audit_records(s.audit_pool, seed=1)
    train = records.training_set(s.train)
    bundle = load_model(tiny_dirs["bert"], device="cpu", label_names=s.train.label_names)
    ledger = _train_dp_with_opacus(bundle, train)
    assert 2.0 < ledger["epsilon"] < 10.0
    sec = analyse(bundle, s.holdout, {"ledger": ledger, "audit_records": records, "n_bootstrap": 50}, train_data=train,
                  show_progress=False)
    dp = sec["dp_bound_check"]
    assert dp["status"] == "pass" and dp["min_headroom"] > 0
    assert dp["independent_epsilon"] == pytest.approx(ledger["epsilon"], rel=0.05)
    assert {p["experiment"] for p in dp["points"]} == {"members vs held-out (loss)", "audit records (loss)"}
    lb = sec["epsilon_lower_bound"]
    assert lb["epsilon_lower_bound"] <= ledger["epsilon"] and not lb["contradicts_claim"]
    assert not [c for c in checks("private", sec) if c.status == "fail"]


def test_fine_tune_private_ledger_is_consumed(tiny_dirs, random_label_splits):
    """Against the library's own DP-SGD trainer; skipped only while that module is not installed."""
    try:
        from audit.training.private import fine_tune_private
    except ImportError:
        pytest.skip("audit.training.private is not available")
    from audit.models import load_model

    s = random_label_splits
    bundle = load_model(tiny_dirs["bert"], device="cpu", label_names=s.train.label_names)
    record = fine_tune_private(bundle, s.train, noise_multiplier=1.0, delta=1e-5, max_grad_norm=1.0, epochs=1, batch_size=16,
                               max_physical_batch_size=16, seed=0, cross_check=False, show_progress=False)
    ledger = dict(record.ledger)
    sec = analyse(bundle, s.holdout, {"ledger": ledger, "n_bootstrap": 20}, train_data=s.train, show_progress=False)
    assert sec["dp_bound_check"]["status"] == "pass"
    assert sec["dp_bound_check"]["ledger"]["steps"] == ledger["steps"]


# ---------------------------------------------------------------------------------------------
# The real backbone
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_backbone_sees_no_leakage_it_cannot_have(backbone_bundle):
    """The embedded backbone with a fresh head has seen none of these records: no attack may beat chance."""
    from audit.demo import make_demo_dataset
    from audit.privacy import plant_canaries

    ds = make_demo_dataset(64, seed=21)
    train, holdout = ds.subset(range(32)), ds.subset(range(32, 64))
    train, spec = plant_canaries(train, k=1, repetitions=(1,), n_digits=5, seed=0)
    sec = analyse(backbone_bundle, holdout, {"canaries": spec, "n_candidates": 40, "n_bootstrap": 100, "max_length": 48},
                  train_data=train, show_progress=False)
    a = sec["membership_inference"]["attacks"]["loss"]
    assert a["auc"]["ci"][0] < 0.5 < a["auc"]["ci"][1]
    e = sec["canaries"]["canaries"][0]["exposure"]
    assert e["n_scored"] == 40 and not e["exhaustive"] and e["ci"][0] <= e["exposure"] <= e["ci"][1]
    assert np.isfinite(sec["canaries"]["canaries"][0]["log_prob"])


def test_report_renders_the_real_section(flagged, memorised):
    from reports import render

    doc = render({"schema_version": 1, "models": {"private": {"privacy_audit": flagged}}})
    part = doc[doc.index('<section id="privacy_audit"'):]
    assert part.count("<svg viewBox") == 2 and "badge-fail" in part
    assert "Measured leakage exceeds the DP guarantee" in part
    for secret in _secret_digits(memorised.canaries):
        assert secret not in doc
    import html

    assert not [t for t in memorised.clean_train.texts if t in html.unescape(doc)]


def test_through_the_pipeline(memorised, monkeypatch):
    """The pipeline contract: analyse/checks registered as an analysis, stored under models[name]["privacy_audit"]."""
    import html

    from audit import pipeline
    from reports import render

    m = memorised
    monkeypatch.setitem(pipeline.ANALYSES, "privacy_audit", "audit.privacy")
    config = pipeline.AuditConfig(explain=False, show_progress=False, analyses=("privacy_audit",), analysis_options={
        "privacy_audit": {"canaries": m.canaries, "audit_records": m.records, "ledger": FALSE_CLAIM, "n_bootstrap": 20,
                          "n_candidates": 50, "check_fprs": (0.25, 0.5)}})
    result = pipeline.run_audit({"private": m.bundle}, m.holdout, config, train_data=m.train)
    section = result.models["private"]["privacy_audit"]
    assert section["membership_inference"]["n_members"] == 40
    names = {c.name: c.status for c in result.checks}
    assert names["private: DP guarantee vs measured leakage"] == "fail"
    doc = result.to_dict()
    dumped = json.dumps(doc, allow_nan=False, ensure_ascii=False)
    for secret in _secret_digits(m.canaries):
        assert secret not in dumped
    page = html.unescape(render(doc))
    assert "Privacy leakage audit" in page and not [t for t in m.clean_train.texts if t in page]


def test_ledger_comes_from_the_model_section(memorised):
    m = memorised
    context = {"section": {"privacy_ledger": FALSE_CLAIM, "training": {"private": True, "config": {"batch_size": 256}}}}
    sec = analyse(m.bundle, m.holdout, {"n_bootstrap": 10, "check_fprs": (0.25, 0.5)}, train_data=m.train,
                  show_progress=False, context=context)
    assert sec["dp_bound_check"]["ledger"]["noise_multiplier"] == 1.0 and sec["dp_bound_check"]["status"] == "fail"
    plain = analyse(m.bundle, m.holdout, {"n_bootstrap": 10}, train_data=m.train, show_progress=False, context={"section": {}})
    assert plain["dp_bound_check"]["skipped"]


def test_reference_recipe_follows_the_target_but_not_dp_settings():
    from audit.privacy import _target_recipe

    plain = {"section": {"training": {"config": {"epochs": 2, "lr": 1e-4, "batch_size": 32, "max_length": 64}}}}
    private = {"section": {"training": {"private": True, "config": {"epochs": 4, "lr": 1e-3, "batch_size": 256, "max_length": 64,
                                                                    "noise_multiplier": 0.8}}}}
    assert _target_recipe(plain)["batch_size"] == 32
    assert _target_recipe(private) == {"max_length": 64}
    assert _target_recipe(None) == {} and _target_recipe({"section": {"training": "x"}}) == {}
