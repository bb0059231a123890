"""Re-verification of adversarial examples: the stored result is what the model says now.

Both attacks search with a cache of scored texts, then score every adversarial text again from
scratch. The planted case: the model changes after the cache was filled (one class's logit is
raised by more than the margin of some flips found before), and the same victim attacks the same
texts again. Its search, answered from the now stale cache, walks the same path and "finds" the
old flips; the model no longer makes some of them. The stored scores must be the model's fresh
scores (the reference: ``predict_proba`` called here), and a flip that does not reproduce must be
marked unverified and not counted as a success.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model_zoo import make_model

from audit.demo import demo_splits
from audit.models import load_model
from audit.robustness.candidates import CandidateGenerator
from audit.robustness.lexicon import Lexicon
from audit.robustness.metrics import attack_metrics
from audit.robustness.search import CharAttack, WordAttack
from audit.robustness.victim import Victim

BUDGET = 100


@pytest.fixture(scope="module")
def data():
    _, ev = demo_splits(n=100, seed=0)
    return list(ev.texts[:12]), [int(y) for y in ev.labels[:12]]


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.load()


def _attack(kind: str, bundle, lexicon: Lexicon, data):
    texts, labels = data
    if kind == "char":
        attack = CharAttack((4,), query_budget=BUDGET, seed=0, lexicon=lexicon)
        return lambda victim: attack.run(victim, texts, labels)[4]
    gen = CandidateGenerator(bundle, lexicon, sources=("lexicon", "embedding"), embedding_min_cosine=0.0)
    attack_w = WordAttack(gen, query_budget=BUDGET)
    return lambda victim: attack_w.run(victim, texts, labels)


@pytest.fixture(scope="module", params=["char", "word"])
def changed(request, lexicon, data):
    """(model, victim with a stale cache, records of the attack run after the model changed)."""
    model, tok = make_model("bert+wordpiece", init_range=1.0, seed=0)  # large weights: typos and synonyms flip it
    bundle = load_model((model, tok), device="cpu")
    victim = Victim(bundle)
    attack = _attack(request.param, bundle, lexicon, data)
    flips = [r for r in attack(victim) if r.status == "success"]
    assert flips, "the brittle model must be flipped"
    # Raise the logit of the class most flips moved away from, by more than the smallest such
    # margin and less than the largest: some cached flips no longer hold, others still do.
    label = max((0, 1), key=lambda y: sum(r.label == y for r in flips))
    margins = sorted(float(np.log(r.adversarial_probabilities[1 - label] / r.adversarial_probabilities[label]))
                     for r in flips if r.label == label)
    shift = (margins[0] + margins[-1]) / 2 if len(margins) > 1 else margins[0] + 1.0
    with torch.no_grad():
        bundle.model.classifier.bias[label] += shift
    return bundle, victim, attack(victim)  # the same victim: its cache holds the old model's scores


def test_reverification_scores_with_the_model_not_the_cache(changed) -> None:
    bundle, victim, records = changed
    shown = [r for r in records if r.adversarial_text is not None]
    fresh = bundle.predict_proba([r.adversarial_text for r in shown])
    cached = victim.probs([r.adversarial_text for r in shown])
    stale = [r for r, c, p in zip(shown, cached, fresh) if int(c.argmax()) != r.label and int(p.argmax()) == r.label]
    assert stale, "some flip the cache remembers must not reproduce with the changed model"
    for r, p in zip(shown, fresh):
        # float32 scores move at the 1e-6 level with the batch a text is scored in
        np.testing.assert_allclose(r.adversarial_probabilities, p, atol=1e-5)
        assert r.adversarial_prediction == int(p.argmax())


def test_flip_that_does_not_reproduce_is_unverified(changed) -> None:
    _, _, records = changed
    shown = [r for r in records if r.adversarial_text is not None]
    for r in shown:
        flipped = int(np.argmax(r.adversarial_probabilities)) != r.label
        assert r.status == ("success" if flipped else "unverified"), (r.status, r.adversarial_probabilities, r.label)
        assert r.verified is flipped
        if not flipped:
            assert r.queries_at_success is None
    unverified = [r for r in shown if r.status == "unverified"]
    assert unverified, "flips found on the old model's cached scores must fail to reproduce on the changed model"
    assert any(r.status == "success" for r in shown), "flips with a margin above the change still hold"
    m = attack_metrics(records, n_total=len(records), max_queries=BUDGET)
    assert m["n_unverified"] == len(unverified)
    assert m["n_success"] == sum(r.status == "success" for r in records)  # unverified flips are not successes
