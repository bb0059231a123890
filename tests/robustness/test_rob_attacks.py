"""Character and word attacks, saliency, the query cache, radius-1 and the invariance suite.

The victim is a tiny BERT with large random weights: it is brittle by construction, so the
attacks succeed often and every property of a successful attack gets exercised quickly.
"""

from __future__ import annotations

import numpy as np
import pytest

from tiny_models import make_tiny

from audit.demo import demo_splits
from audit.models import load_model
from audit.robustness.candidates import CandidateGenerator, attackable
from audit.robustness.invariance import InvarianceSuite, InvarianceTest, default_tests
from audit.robustness.lexicon import Lexicon
from audit.robustness.perturbations import WordView, levenshtein
from audit.robustness.radius import Radius1Check, radius_summary
from audit.robustness.search import CharAttack, WordAttack
from audit.robustness.victim import Victim, word_saliency


@pytest.fixture(scope="module")
def brittle():
    model, tok = make_tiny("bert", init_range=1.0, seed=3)
    return load_model((model, tok), device="cpu")


@pytest.fixture(scope="module")
def data():
    _, ev = demo_splits(n=100, seed=0)
    return ev


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.load()


@pytest.fixture(scope="module")
def char_run(brittle, data, lexicon):
    texts, labels = data.texts[:14], data.labels[:14]
    attack = CharAttack((1, 2, 4), query_budget=120, seed=0, lexicon=lexicon)
    return texts, labels, attack.run(Victim(brittle), texts, labels)


def _apply(text: str, edits: list) -> str:
    out = text
    for e in sorted(edits, key=lambda e: -e.start):
        assert out[e.start : e.end] == e.original
        out = out[: e.start] + e.replacement + out[e.end :]
    return out


def test_char_attack_successes_reverify(brittle, char_run) -> None:
    texts, labels, by_k = char_run
    successes = [r for recs in by_k.values() for r in recs if r.status == "success"]
    assert successes, "the brittle model must be flipped by some typos"
    fresh = brittle.predict_proba([r.adversarial_text for r in successes])
    for r, p in zip(successes, fresh):
        assert r.verified is True
        assert int(p.argmax()) == r.adversarial_prediction != r.label
        # float32 scores move at the 1e-6 level with the batch a text is scored in (padding, batch size)
        np.testing.assert_allclose(p, r.adversarial_probabilities, atol=1e-5)


def test_char_attack_respects_budgets(char_run) -> None:
    texts, labels, by_k = char_run
    rates = []
    for k, recs in sorted(by_k.items()):
        assert len(recs) == len(texts)
        for r in recs:
            assert r.queries <= 120
            assert (r.status == "skipped") == (r.original_prediction != r.label)
            if r.status == "success":
                assert 1 <= len(r.edits) <= k and r.budget == k
                assert len({e.word_index for e in r.edits}) == len(r.edits)  # one edit per word
                assert all(levenshtein(e.original, e.replacement) <= 2 for e in r.edits)
                assert all(attackable(e.original, 3) for e in r.edits)
                assert _apply(r.text, r.edits) == r.adversarial_text
                assert r.queries_at_success == r.queries
        rates.append(sum(r.status == "success" for r in recs))
    assert rates == sorted(rates)  # a larger edit budget never succeeds less


def test_smaller_budgets_are_derived_exactly(brittle, data, lexicon, char_run) -> None:
    texts, labels, by_k = char_run
    alone = CharAttack((1,), query_budget=120, seed=0, lexicon=lexicon).run(Victim(brittle), texts, labels)[1]
    for a, b in zip(alone, by_k[1]):
        assert (a.status, a.queries, a.adversarial_text) == (b.status, b.queries, b.adversarial_text)


def test_lockstep_batching_does_not_change_results(brittle, data, lexicon) -> None:
    texts, labels = data.texts[20:28], data.labels[20:28]
    one = CharAttack((2,), query_budget=60, parallel=1, lexicon=lexicon).run(Victim(brittle), texts, labels)[2]
    many = CharAttack((2,), query_budget=60, parallel=8, lexicon=lexicon).run(Victim(brittle), texts, labels)[2]
    assert [(r.status, r.queries, r.adversarial_text) for r in one] == [(r.status, r.queries, r.adversarial_text) for r in many]


def test_victim_cache_scores_each_text_once(brittle, data) -> None:
    v = Victim(brittle)
    v.probs(data.texts[:5])
    v.probs(data.texts[:5] + data.texts[:2])
    assert v.n_model_texts == 5 and v.n_model_calls == 1


def test_saliency_is_one_pass_per_batch(brittle, data) -> None:
    calls = []
    handle = brittle.model.register_forward_hook(lambda *a: calls.append(1))
    try:
        sal = word_saliency(brittle, data.texts[:10], data.labels[:10], batch_size=32)
    finally:
        handle.remove()
    assert len(calls) == 1  # ten texts, one forward + one backward, not one query per word
    for text, s in zip(data.texts[:10], sal):
        assert len(s) == len(WordView(text)) and np.all(np.isfinite(s)) and np.all(s >= 0)
    long = " ".join(["great"] * 40)
    cut = word_saliency(brittle, [long], [0], max_length=12)[0]
    assert np.isnan(cut[-1]) and np.isfinite(cut[0])  # words cut off by truncation are never attacked


def test_word_attack_constraints(brittle, data, lexicon, tiny_dirs) -> None:
    from audit.robustness.constraints import SentenceEncoder

    encoder = SentenceEncoder(tiny_dirs["distilbert"], device="cpu")
    gen = CandidateGenerator(brittle, lexicon, sources=("lexicon", "embedding"), embedding_min_cosine=0.0)
    attack = WordAttack(gen, min_similarity=0.6, max_words_fraction=0.25, query_budget=150)
    texts, labels = data.texts[:12], data.labels[:12]
    recs = attack.run(Victim(brittle), texts, labels, encoder=encoder)
    ok = [r for r in recs if r.status == "success"]
    assert ok
    fresh = brittle.predict_proba([r.adversarial_text for r in ok])
    for r, p in zip(ok, fresh):
        assert int(p.argmax()) == r.adversarial_prediction != r.label
        assert 1 <= r.words_changed <= attack.max_words(r.n_words)
        assert r.similarity >= 0.6
        assert _apply(r.text, r.edits) == r.adversarial_text
        for e in r.edits:
            assert not set(e.flags) & {"antonym", "polarity_flip", "negation"}
            assert e.sources and set(e.sources) <= {"lexicon", "embedding"}
    assert all(r.queries <= 150 for r in recs)


def test_candidates_exclude_antonyms_and_flips(backbone_bundle, lexicon) -> None:
    text = "The acting was good but the plot was terrible."
    view = WordView(text)
    pos = [j for j, w in enumerate(view.words()) if attackable(w)]
    strict = CandidateGenerator(backbone_bundle, lexicon)
    loose = CandidateGenerator(backbone_bundle, lexicon, exclude_flags=())
    cs, cl = strict.for_texts([text], [pos])[0], loose.for_texts([text], [pos])[0]
    good = view.words().index("good")
    loose_good = {c.word.lower(): c for c in cl[good]}
    assert any({"antonym", "polarity_flip"} & set(c.flags) for c in loose_good.values())
    for j in pos:
        for c in cs[j]:
            assert not {"antonym", "polarity_flip", "negation"} & set(c.flags), c
    assert strict.n_excluded > 0
    # embedding neighbours are whole words of the victim's vocabulary
    tok = backbone_bundle.tokenizer
    for c in cs[good]:
        if "embedding" in c.sources:
            assert len(tok(" " + c.word, add_special_tokens=False)["input_ids"]) == 1


def test_masked_lm_candidates(tmp_path, lexicon, brittle) -> None:
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from audit.robustness.candidates import MaskedLMCandidates

    torch.manual_seed(0)
    tok = brittle.tokenizer
    mlm = BertForMaskedLM(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=128))
    mlm.save_pretrained(tmp_path / "mlm")
    tok.save_pretrained(tmp_path / "mlm")
    gen = CandidateGenerator(brittle, lexicon, sources=("mlm",), mlm=MaskedLMCandidates(tmp_path / "mlm", k=5))
    text = "The soundtrack was wonderful."
    out = gen.for_texts([text], [[1, 3]])[0]
    assert out[1] and all(c.sources == ["mlm"] and c.word.isalpha() for c in out[1])
    with pytest.raises(ValueError, match="masked-language-model directory"):
        MaskedLMCandidates(tmp_path / "nothing")


def test_radius1_certificate_is_exhaustive(brittle, data, lexicon) -> None:
    short = [i for i, t in enumerate(data.texts) if len(WordView(t)) <= 9][:3]
    texts, labels = [data.texts[i] for i in short], [data.labels[i] for i in short]
    gen = CandidateGenerator(brittle, lexicon, sources=("lexicon",))
    check = Radius1Check(max_words=9, early_stop=True, chunk=64)
    recs = check.run(Victim(brittle), texts, labels, candidates=gen)
    assert len(recs) == 2 * len(texts)
    positions = [[j for j, w in enumerate(WordView(t).words()) if attackable(w, 2)] for t in texts]
    cands = gen.for_texts(texts, positions)
    for r in recs:
        n = texts.index(r.text)
        neigh = [t for t, _ in check.neighbours(r.text, r.neighbourhood, cands[n], lexicon=lexicon)]
        assert r.n_neighbours == len(neigh) == len(set(neigh))
        if r.certified:
            assert r.n_checked == len(neigh)
            if neigh:
                assert np.all(brittle.predict_proba(neigh).argmax(1) == r.prediction)
        else:
            assert r.counterexample in neigh
            assert int(brittle.predict_proba([r.counterexample])[0].argmax()) == r.counterexample_prediction != r.prediction
    summary = radius_summary(recs, ("word", "char"))
    assert summary["all"]["n"] == len(texts)
    assert summary["all"]["n_certified"] <= min(summary["word"]["n_certified"], summary["char"]["n_certified"])


def test_invariance_on_an_uncased_model(brittle, data) -> None:
    suite = InvarianceSuite(default_tests(n_variants=2), seed=0)
    results = {r.name: r for r in suite.run(Victim(brittle), data.texts[:30])}
    for name in ("uppercase", "lowercase", "titlecase"):  # an uncased tokenizer cannot see case
        r = results[name]
        assert r.n_failed == 0 and r.status == "pass" and abs(r.mean_confidence_shift) < 1e-6
        assert r.fail_rate_ci95[0] == 0.0 and 0 < r.fail_rate_ci95[1] < 0.5
    assert results["nationality_swap"].status == "not_applicable"
    assert results["name_swap"].n_applicable > 0
    for r in results.values():
        if r.status != "not_applicable":
            assert r.passed == (r.fail_rate <= r.threshold)
            assert r.fail_rate_ci95[0] <= r.fail_rate <= r.fail_rate_ci95[1]
            assert len(r.examples) == min(r.n_failed, 3)


def test_invariance_counts_failures(brittle, data) -> None:
    texts = data.texts[:20]
    v = Victim(brittle)
    anchor = "completely different words here"
    c = int(v.probs([anchor])[0].argmax())
    test = InvarianceTest("replace_all", "custom", "replace the text", lambda t, rng: anchor, threshold=0.5)
    (r,) = InvarianceSuite([test]).run(v, texts)
    expected = int(np.sum(v.probs(texts).argmax(1) != c))
    assert r.n_applicable == 20 and r.n_failed == expected and r.fail_rate == expected / 20
    with pytest.raises(ValueError, match="unknown tests"):
        default_tests(thresholds={"no_such_test": 0.1})
