"""Canary planting, masking and exposure."""

from __future__ import annotations

import json
import math
import re
from collections import Counter

import numpy as np
import pytest

from audit.demo import make_demo_dataset
from audit.privacy.canaries import Canary, CanarySpec, canary_log_probs, exposure_from_scores, plant_canaries


class ScoringStub:
    """A stand-in model whose logit for label 1 is a fixed function of the text.

    ``favourite`` texts get a high logit; every other text gets a pseudo-random one in [-2, 2].
    It lets the exposure computation be checked against ranks known in advance.
    """

    num_labels = 2
    device = "cpu"

    def __init__(self, favourite: dict[str, float]):
        self.favourite = favourite
        self.calls = 0

    def predict_logits(self, texts, batch_size=64, max_length=None):
        self.calls += 1
        out = np.zeros((len(texts), 2))
        for i, t in enumerate(texts):
            digits = int("".join(ch for ch in t if ch.isdigit()) or 0)
            out[i, 1] = self.favourite.get(t, ((digits * 7919) % 1000) / 250.0 - 2.0)
        return out


def test_plant_canaries_inserts_copies_and_keeps_the_data():
    train = make_demo_dataset(120, seed=1)
    out, spec = plant_canaries(train, k=6, repetitions=(1, 4, 16), n_digits=5, seed=7)
    assert len(out) == len(train) + 2 * (1 + 4 + 16)
    counts = Counter(out.texts)
    for c in spec:
        assert counts[c.text] == c.repetitions
        assert re.fullmatch(r".*\d \d \d \d \d.*", c.text)
        assert c.text.startswith(c.template.split("{secret}")[0])
    # the original rows keep their order; the canaries are spread out, not appended
    original = [t for t in out.texts if t not in set(spec.texts)]
    assert original == train.texts
    positions = [i for i, t in enumerate(out.texts) if t in set(spec.texts)]
    assert positions[0] < len(train)
    assert len(set(out.ids)) == len(out)
    assert len(out.meta["kinds"]) == len(out) and len(out.rationales) == len(out)
    assert all(out.meta["kinds"][i] == "canary" for i in positions)
    # seeded: the same seed gives the same secrets, another seed different ones
    _, same = plant_canaries(train, k=6, seed=7)
    _, other = plant_canaries(train, k=6, seed=8)
    assert same.texts == spec.texts and other.texts != spec.texts
    assert {c.label for c in spec} <= {0, 1}


def test_secrets_never_leave_unmasked():
    train = make_demo_dataset(40, seed=2)
    _, spec = plant_canaries(train, k=4, seed=3)
    dumped = json.dumps(spec.to_dict()) + repr(spec) + "".join(repr(c) for c in spec)
    for c in spec:
        secret = c.text[len(c.template.split("{secret}")[0]):][:9]  # "d d d d d"
        assert re.fullmatch(r"\d \d \d \d \d", secret)
        assert secret not in dumped
        assert c.masked_text in dumped and "* * * * *" in c.masked_text
    assert not re.search(r"\d \d \d", dumped)


def test_exposure_exact_ranks():
    # every other secret scored: secret best -> full exposure, worst -> 0, middle -> 1 bit
    cands = np.arange(99, dtype=float)
    best = exposure_from_scores(1000.0, cands, 100, exhaustive=True)
    worst = exposure_from_scores(-1.0, cands, 100, exhaustive=True)
    mid = exposure_from_scores(49.5, cands, 100, exhaustive=True)
    assert best.exposure == pytest.approx(math.log2(100)) and best.rank == 1
    assert worst.exposure == pytest.approx(0.0) and worst.rank == 100
    assert mid.rank == 50 and mid.exposure == pytest.approx(1.0)  # 49 of 99 others (50..98) score higher
    tie = exposure_from_scores(10.0, cands, 100, exhaustive=True)  # ties count one half
    assert tie.rank == pytest.approx(1 + 88 + 0.5)


def test_exposure_from_a_sample_has_an_honest_interval():
    rng = np.random.default_rng(0)
    space = 10 ** 5
    cands = rng.random(1000)
    e = exposure_from_scores(0.75, cands, space)  # about a quarter of all secrets score higher
    assert not e.exhaustive and not e.saturated
    assert e.exposure == pytest.approx(2.0, abs=0.15)
    assert e.ci[0] < 2.0 < e.ci[1]
    # the interval is the two-sided 95% Clopper-Pearson interval of the sampled share k/1000, mapped to exposure
    from scipy.stats import beta

    k = int(np.sum(cands > 0.75))
    to_exposure = lambda share: math.log2(space) - math.log2(1 + (space - 1) * share)  # noqa: E731
    assert e.n_better == k and e.exposure == pytest.approx(to_exposure(k / 1000), abs=1e-12)
    assert e.ci[0] == pytest.approx(to_exposure(beta.ppf(0.975, k + 1, 1000 - k)), abs=1e-9)
    assert e.ci[1] == pytest.approx(to_exposure(beta.ppf(0.025, k, 1000 - k + 1)), abs=1e-9)
    top = exposure_from_scores(2.0, cands, space)  # nothing sampled beats it
    assert top.saturated and top.exposure == pytest.approx(math.log2(space))
    # with 1000 samples and none better, the data only support rank <= ~0.37% of the space
    assert top.ci[0] == pytest.approx(math.log2(space) - math.log2(1 + (space - 1) * (1 - 0.025 ** (1 / 1000))), abs=1e-9)
    assert 7.5 < top.ci[0] < 8.5 and top.ci[1] == pytest.approx(math.log2(space))
    with pytest.raises(ValueError, match="space_size"):
        exposure_from_scores(0.0, cands, 10)


def test_canary_log_probs_rank_the_secret_among_candidates():
    c_hi = Canary("a", "my account code is {secret}", [4, 2, 7], label=1, repetitions=1)
    c_lo = Canary("b", "my pin is {secret}", [0, 0, 9], label=1, repetitions=1)
    spec = CanarySpec([c_hi, c_lo], ["neg", "pos"], seed=0)
    stub = ScoringStub({c_hi.text: 50.0, c_lo.text: -50.0})
    per = canary_log_probs(stub, spec, n_candidates=2000)  # 999 others: exhaustive
    (lp_hi, cand_hi, ex_hi), (lp_lo, cand_lo, ex_lo) = per
    assert ex_hi and ex_lo and len(cand_hi) == len(cand_lo) == 999
    assert exposure_from_scores(lp_hi, cand_hi, 1000, exhaustive=True).exposure == pytest.approx(math.log2(1000))
    assert exposure_from_scores(lp_lo, cand_lo, 1000, exhaustive=True).exposure == pytest.approx(0.0)
    # sampling when the space is large: 50 distinct candidates, never the secret itself
    big = CanarySpec([Canary("c", "code {secret}", [1, 2, 3, 4, 5, 6], 1, 1)], ["neg", "pos"], seed=0)
    (lp, cand, ex), = canary_log_probs(ScoringStub({}), big, n_candidates=50, seed=1)
    assert not ex and len(cand) == 50


def test_bad_canary_arguments():
    train = make_demo_dataset(20, seed=0)
    with pytest.raises(ValueError, match="repetitions"):
        plant_canaries(train, repetitions=(0,))
    with pytest.raises(ValueError, match="k must be"):
        plant_canaries(train, k=0)
    with pytest.raises(ValueError, match="secret"):
        Canary("x", "no slot here", [1], 0, 1)
