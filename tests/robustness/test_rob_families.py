"""The robustness probe on every tokenizer family and architecture of the model zoo.

Each zoo model (WordPiece, byte-level BPE with and without special tokens, SentencePiece-style
Unigram and BPE with byte fallback, right and left padding, encoders and decoders) gets large
random weights, so it is brittle and the attacks flip some of its predictions. Per family the
tests check what the probe reports against the model itself: edits land exactly on the reported
characters, flips reproduce when the adversarial text is scored alone, the gradient ranking covers
the real words of each text and does not depend on what a text is batched with, candidate words
really are one token in running text, and the invariance counts match a recount.
"""

from __future__ import annotations

import numpy as np
import pytest

from model_zoo import ZOO, build

from audit.data import TextDataset
from audit.demo import make_demo_dataset
from audit.models import load_model
from audit.robustness.invariance import default_tests
from audit.robustness.perturbations import WordView, word_spans
from audit.robustness.probe import ProbeConfig, RobustnessProbe
from audit.robustness.victim import whole_word_vocabulary, word_saliency

NAMES = [m.name for m in ZOO]
OPTIONS = {"families": ["invariance", "char", "word", "radius1"], "n_invariance": 12, "n_attack": 12, "n_radius": 3,
           "radius_max_words": 40, "query_budget": 60, "char_budgets": [1, 2], "encoder": None, "lexicon_k": 4,
           "embedding_k": 4, "invariance_variants": 1, "seed": 0}


@pytest.fixture(scope="module")
def dataset() -> TextDataset:
    demo = make_demo_dataset(n=40, seed=1)
    texts = list(demo.texts[:10]) + ["Café crème was naïve, but the résumé was great!",
                                     "The food in Tōkyō was wonderful, 東京 rocks."]
    labels = list(demo.labels[:10]) + [1, 1]
    return TextDataset(texts=texts, labels=labels, label_names=["negative", "positive"])


@pytest.fixture(scope="module", params=NAMES)
def probed(request, dataset, tmp_path_factory):
    """A brittle zoo model of one family, saved and loaded back as the Hub ships it (tokenizer class
    included), and the probe's full report on the dataset."""
    out = build(request.param, tmp_path_factory.mktemp("zoo") / "model", seed=1, init_range=1.0,
                label_names=["negative", "positive"])
    bundle = load_model(out, device="cpu")
    report = RobustnessProbe(ProbeConfig.from_options(OPTIONS)).run(bundle, dataset)
    return bundle, report


def _alone(bundle, texts) -> np.ndarray:
    """Probabilities of each text scored on its own (no padding, no batch neighbours)."""
    return np.vstack([bundle.predict_proba([t]) for t in texts])


def _successes(report) -> list:
    by_k = report.records["char"]
    return [r for r in by_k[max(by_k)] + report.records["word"] if r.status == "success"]


def test_edits_land_on_the_reported_characters(probed) -> None:
    _, report = probed
    for r in _successes(report):
        view = WordView(r.text)
        rebuilt = r.text
        for e in sorted(r.edits, key=lambda e: -e.start):
            assert (e.start, e.end) == view.span(e.word_index)  # the span is the word the edit names
            assert r.text[e.start : e.end] == e.original and e.replacement != e.original
            rebuilt = rebuilt[: e.start] + e.replacement + rebuilt[e.end :]
        # everything outside the reported spans is unchanged, and the spans changed as reported
        assert rebuilt == r.adversarial_text, (r.text, r.adversarial_text, r.edits)
        assert len({e.word_index for e in r.edits}) == len(r.edits) == r.words_changed


def test_flips_reproduce_one_text_at_a_time(probed) -> None:
    bundle, report = probed
    found = _successes(report)
    kinds = {"char" if e.kind != "word" else "word" for r in found for e in r.edits}
    assert kinds == {"char", "word"}, "the brittle model must be flipped by both attacks"
    p = _alone(bundle, [r.adversarial_text for r in found])
    for r, q in zip(found, p):
        assert r.verified and int(q.argmax()) == r.adversarial_prediction != r.label
        assert np.allclose(q, r.adversarial_probabilities, atol=1e-5)
    for r in report.records["radius1"]:
        if r.counterexample is not None:
            assert r.counterexample == WordView(r.text).replaced(r.edit["word_index"], r.edit["replacement"])
            assert int(_alone(bundle, [r.counterexample])[0].argmax()) == r.counterexample_prediction != r.prediction


def test_saliency_covers_real_words_and_ignores_batching(probed, dataset) -> None:
    bundle, _ = probed
    texts, labels = dataset.texts, dataset.labels
    together = word_saliency(bundle, texts, labels, batch_size=len(texts))
    for text, label, s in zip(texts, labels, together):
        alone = word_saliency(bundle, [text], [label])[0]
        np.testing.assert_allclose(s, alone, rtol=1e-2, atol=1e-3 * np.nanmax(alone))
        spans = word_spans(text)
        assert len(s) == len(spans) and np.all(np.isfinite(s)) and np.all(s >= 0)
        # every whitespace-separated word with a letter holds a ranked word
        starts = [a for a, _ in spans]
        pos = 0
        for chunk in text.split(" "):
            if any(c.isalpha() for c in chunk):
                assert any(pos <= a < pos + len(chunk) for a in starts), chunk
            pos += len(chunk) + 1
    cut = word_saliency(bundle, [texts[0]], [labels[0]], max_length=6)[0]
    assert np.isfinite(cut[0]) and np.isnan(cut[-1])  # words past truncation are not ranked


def test_candidate_words_are_one_token_in_running_text(probed) -> None:
    bundle, _ = probed
    tok = bundle.tokenizer
    ids, words = whole_word_vocabulary(tok)
    assert len(ids) >= 50
    base = tok("the film was", add_special_tokens=False)["input_ids"]
    for i, w in list(zip(ids, words))[:: max(1, len(ids) // 40)]:
        got = tok(f"the {w} film was", add_special_tokens=False)["input_ids"]
        assert len(got) == len(base) + 1 and i in got, (w, tok.convert_ids_to_tokens(got))


def test_invariance_counts_match_a_recount(probed, dataset) -> None:
    bundle, report = probed
    texts = dataset.texts
    tests = {t.name: t for t in default_tests(n_variants=OPTIONS["invariance_variants"])}
    inv = report.invariance
    assert inv["n_texts"] == len(texts) and inv["n_tests"] == len(tests)
    assert inv["n_passed"] + inv["n_failed"] + inv["n_not_applicable"] == len(tests)
    pred = _alone(bundle, texts).argmax(1)
    for res in inv["tests"]:
        variants = [tests[res["name"]].variants(t, OPTIONS["seed"], n) for n, t in enumerate(texts)]
        applicable = [n for n, vs in enumerate(variants) if vs]
        failed = [n for n in applicable if np.any(_alone(bundle, variants[n]).argmax(1) != pred[n])]
        assert (res["n_texts"], res["n_applicable"], res["n_failed"]) == (len(texts), len(applicable), len(failed)), res["name"]
        assert res["status"] == ("not_applicable" if not applicable else ("pass" if res["passed"] else "fail"))


def test_word_tokens_follow_offsets_only() -> None:
    from audit.robustness.tokens import word_tokens

    text = "a good, fine-ish film"
    spans = word_spans(text)  # a / good / fine / ish / film
    # left padding and a leading special token, a trimmed space piece (no characters), a piece that
    # covers its word's leading space, and one piece spanning two words
    offsets = [(0, 0), (0, 0), (0, 1), (2, 2), (2, 6), (6, 7), (7, 10), (10, 14), (14, 16), (16, 21)]
    special = [1, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    assert word_tokens(offsets, special, spans) == [[2], [4], [6, 7], [7, 8], [9]]
    assert word_tokens([(0, 0)], [1], spans) == [[], [], [], [], []]
