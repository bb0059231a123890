"""The whole privacy audit through ``analyse`` / ``checks``: what it flags, what it passes, what it never writes."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest

from audit.data import TextDataset
from audit.privacy import analyse, checks, describe_options, privacy_section
from privacy_reference import PlantedScorer, correct_guesses, largest_rejected_epsilon, log_prob_of_label

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
    _assert_bound_is_certified_by_its_best_guesses(lb)
    can = s["canaries"]
    assert can["n"] == 2 and can["in_training_data"] == 2
    _assert_repeated_canary_is_exposed(can, memorised)
    assert s["timings"]["total"] > 0


def _assert_bound_is_certified_by_its_best_guesses(lb) -> None:
    """The memorising model's audit records are guessed "in" far more often than chance, and the reported bound
    is what the best guess count certifies at alpha / (number of guess counts), recomputed from the theorem."""
    widest = lb["trials"][-1]  # 20 "in" and 20 "out": 20 correct is chance, scores of the wrong sign give about 10
    assert (widest["n_in"], widest["n_out"]) == (20, 20) and widest["correct"] >= 28
    best = lb["best"]
    assert best is not None and lb["bonferroni"] == len(lb["trials"]) == 5
    expected = largest_rejected_epsilon(lb["m"], best["guesses"], best["correct"], lb["delta"], lb["alpha"] / lb["bonferroni"])
    assert lb["epsilon_lower_bound"] == pytest.approx(expected, abs=1e-6)
    assert 0 < lb["epsilon_lower_bound"] <= lb["max_certifiable_epsilon"]


def _assert_repeated_canary_is_exposed(can, memorised) -> None:
    """The canary trained on 8 times outranks most other secrets; the log-probability reported is the secret's own."""
    from scipy.special import log_softmax

    rows = {c["repetitions"]: c for c in can["canaries"]}
    assert sorted(rows) == [1, 8]
    assert rows[8]["exposure"]["exposure"] >= 3.0 > rows[1]["exposure"]["exposure"]  # top 1/8 of 10^4 secrets
    for c in memorised.canaries:
        z = memorised.bundle.predict_logits([c.text])
        row = next(r for r in can["canaries"] if r["id"] == c.id)
        assert row["log_prob"] == pytest.approx(float(log_softmax(z, axis=1)[0, c.label]), abs=1e-5)


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
# Planted scorers: every reported number recomputed by hand from the planted logits
# ---------------------------------------------------------------------------------------------


def _records(prefix: str, n: int) -> TextDataset:
    return TextDataset(texts=[f"{prefix} record number {i}" for i in range(n)], labels=[i % 2 for i in range(n)],
                       label_names=["neg", "pos"], ids=[f"{prefix}-{i}" for i in range(n)], source=prefix)


def test_one_run_audit_and_auc_see_the_members_of_a_planted_scorer():
    """Trained records get a higher true-label logit (2 + noise) than unseen ones (noise): members score higher.

    Through ``analyse``, the membership AUC and the one-run audit on 60 audit records must equal
    what the planted logits give by hand: the AUC over (members, held-out), the correct guesses
    of each guess count from the highest and lowest true-label log-probabilities, and the largest
    ε each certifies at alpha / 5. Scores of the wrong sign would put every guess on the wrong side.
    """
    from audit.privacy import split_audit_records

    members, holdout, pool = _records("member", 40), _records("held-out", 40), _records("audit", 60)
    records = split_audit_records(pool, seed=0)
    train = records.training_set(members)
    rng = np.random.default_rng(5)
    every = [members, holdout, pool]
    noise = {t: rng.normal() for d in every for t in d.texts}
    label = {t: y for d in every for t, y in zip(d.texts, d.labels)}
    trained = set(train.texts)

    def logits(text):
        row = np.zeros(2)
        row[label[text]] = (2.0 if text in trained else 0.0) + noise[text]
        return row

    scorer = PlantedScorer(logits)
    sec = analyse(scorer, holdout, {"audit_records": records, "n_bootstrap": 20}, train_data=train, show_progress=False)

    def log_probs(d: TextDataset) -> np.ndarray:
        return log_prob_of_label(np.array([logits(t) for t in d.texts]), d.labels)

    member_lp, holdout_lp = log_probs(members), log_probs(holdout)
    differences = member_lp[:, None] - holdout_lp[None, :]
    hand_auc = np.mean(differences > 0) + 0.5 * np.mean(differences == 0)  # P(member scores above a held-out record)
    loss = sec["membership_inference"]["attacks"]["loss"]
    assert loss["auc"]["value"] == pytest.approx(hand_auc, abs=1e-12) and hand_auc > 0.8

    lb = sec["epsilon_lower_bound"]
    assert lb["score"] == "loss" and lb["m"] == 60 and lb["n_included"] == int(records.included.sum()) and lb["delta"] == 1e-5
    pairs = [(1, 1), (3, 3), (6, 6), (12, 12), (30, 30)]  # round(f * 60) for the default fractions
    assert [(t["n_in"], t["n_out"]) for t in lb["trials"]] == pairs
    scores = log_probs(pool)
    hand = []
    for trial, (n_in, n_out) in zip(lb["trials"], pairs):
        correct = correct_guesses(scores, records.included, n_in, n_out)
        assert trial["correct"] == correct
        hand.append(largest_rejected_epsilon(60, n_in + n_out, correct, 1e-5, 0.05 / len(pairs)))
    assert lb["epsilon_lower_bound"] == pytest.approx(max(hand), abs=1e-6)
    assert lb["epsilon_lower_bound"] > 0.5  # members were guessed "in": the bound is on the right side of zero

    # the most exposed training records: the highest member scores, each with the share of held-out records at or above it
    top = np.argsort(-member_lp)[:5]
    vulnerable = sec["vulnerable_records"]
    assert [v["id"] for v in vulnerable] == [members.ids[i] for i in top]
    for v, i in zip(vulnerable, top):
        assert v["score"] == pytest.approx(member_lp[i], abs=1e-12)
        assert v["nonmember_percentile"] == pytest.approx(np.mean(holdout_lp >= member_lp[i]), abs=1e-12)


def test_canary_exposure_is_the_rank_of_the_secret_among_all_secrets():
    """Two 3-digit canaries scored by a planted scorer; every other secret is scored (exhaustive).

    A candidate secret d gets true-label logit ((7919·d) mod 1000) / 100, a permutation of
    0.00 .. 9.99; the true secrets get planted logits 9.955 (beaten by the 4 candidates at 9.96 ..
    9.99: rank 5) and 9.90 (beaten by 9 and tied with one: rank 10.5). Exposure is
    log2(1000) - log2(rank), and so differs when the secret's own score is not the one ranked.
    """
    from audit.privacy import Canary, CanarySpec

    a = Canary("canary-a", "my account code is {secret}", [4, 2, 7], label=1, repetitions=1)
    b = Canary("canary-b", "the pin for my card is {secret}", [0, 5, 9], label=1, repetitions=1)
    planted = {a.text: 9.955, b.text: 9.90}

    def candidate_logit(digits: int) -> float:
        return ((digits * 7919) % 1000) / 100.0

    def logits(text):
        digits = "".join(ch for ch in text if ch.isdigit())
        return [0.0, planted.get(text, candidate_logit(int(digits)) if digits else 0.0)]

    spec = CanarySpec([a, b], ["neg", "pos"], seed=0)
    sec = analyse(PlantedScorer(logits), _records("held-out", 4), {"canaries": spec, "n_candidates": 999},
                  show_progress=False)
    rows = {r["id"]: r for r in sec["canaries"]["canaries"]}
    for c, expected_rank in ((a, 5.0), (b, 10.5)):
        secret = c.secret_index()
        others = np.array([candidate_logit(d) for d in range(1000) if d != secret])
        z = planted[c.text]
        rank = 1 + np.sum(others > z) + 0.5 * np.sum(others == z)  # log p(label) is increasing in the logit
        assert rank == expected_rank
        e = rows[c.id]["exposure"]
        assert e["exhaustive"] and e["n_scored"] == 999 and e["rank"] == pytest.approx(rank)
        assert e["exposure"] == pytest.approx(np.log2(1000) - np.log2(rank), abs=1e-9)
        assert rows[c.id]["log_prob"] == pytest.approx(log_prob_of_label(np.array([[0.0, z]]), [1])[0], abs=1e-12)
    assert sec["canaries"]["max_exposure"] == pytest.approx(np.log2(200), abs=1e-9)


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
    assert section["membership_inference"]["attacks"]["loss"]["auc"]["value"] > 0.75  # members lose less than held-out records
    assert section["epsilon_lower_bound"]["score"] == "loss"
    _assert_bound_is_certified_by_its_best_guesses(section["epsilon_lower_bound"])
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
