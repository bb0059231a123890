"""The one-training-run ε lower bound (Steinke, Nasr & Jagielski 2023) and the audit-record helpers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import binom

from audit.data import TextDataset
from audit.demo import make_demo_dataset
from audit.privacy.lower_bound import (append_rows, epsilon_lower_bound, guess_counts, max_certifiable_epsilon, one_run_audit,
                                       p_value, p_values, split_audit_records)
from privacy_reference import correct_guesses, largest_rejected_epsilon, one_run_p_values


def test_cap_for_1000_correct_guesses_is_about_5_8():
    cap = max_certifiable_epsilon(1000, 1000, 0.0, 0.05)
    # all r guesses right: p = (e^eps / (1 + e^eps))^r = 0.05  =>  eps = -log(20^(1/r) - 1)
    assert cap == pytest.approx(-math.log(20 ** (1 / 1000) - 1), abs=1e-4)
    assert 5.75 < cap < 5.85
    # delta > 0 makes the claim weaker to reject, so the cap drops; fewer guesses lower it further
    assert max_certifiable_epsilon(1000, 1000, 1e-5) < cap
    assert max_certifiable_epsilon(1000, 100, 0.0) < 3.5


def test_pure_dp_p_value_is_the_binomial_tail():
    for eps in (0.0, 0.5, 2.0):
        q = math.exp(eps) / (1 + math.exp(eps))
        assert p_value(500, 200, 150, eps, 0.0) == pytest.approx(binom.sf(149, 200, q), rel=1e-9)


def test_p_value_grows_with_epsilon_and_delta():
    eps = np.linspace(0, 4, 41)
    p0 = p_values(1000, 200, 160, eps, 0.0)
    p1 = p_values(1000, 200, 160, eps, 1e-4)
    assert np.all(np.diff(p0) >= -1e-15)
    assert np.all(p1 >= p0) and np.any(p1 > p0)
    # the delta term is 2 m delta max_i P[v-i <= B < v] / i, checked by brute force at one epsilon
    e, m, r, v, d = 1.0, 1000, 200, 160, 1e-4
    q = 1 / (1 + math.exp(-e))
    f = lambda u: binom.sf(u - 1, r, q)  # noqa: E731
    brute = f(v) + 2 * m * d * max((f(v - i) - f(v)) / i for i in range(1, m + 1))
    assert p_value(m, r, v, e, d) == pytest.approx(min(1.0, brute), rel=1e-9)


def test_lower_bound_is_the_largest_rejected_epsilon():
    lb = epsilon_lower_bound(1000, 200, 160, 1e-5, 0.05)
    assert p_value(1000, 200, 160, lb, 1e-5) <= 0.05 + 1e-9
    assert p_value(1000, 200, 160, lb + 0.01, 1e-5) > 0.05
    assert epsilon_lower_bound(1000, 200, 100, 1e-5) == 0.0  # chance-level guessing certifies nothing


def test_lower_bound_is_valid_for_randomised_response():
    """A mechanism that is exactly eps-DP per record: the score reveals membership w.p. e^eps/(1+e^eps).

    At 95% confidence the bound may exceed the true eps in at most 5% of runs (here: 100 seeds).
    """
    true_eps, m = 1.0, 1000
    q = math.exp(true_eps) / (1 + math.exp(true_eps))
    above, bounds = 0, []
    for seed in range(100):
        rng = np.random.default_rng(seed)
        included = rng.random(m) < 0.5
        truthful = rng.random(m) < q
        signal = np.where(truthful, included, ~included).astype(float)
        scores = signal + 0.01 * rng.random(m)
        res = one_run_audit(scores, included, delta=0.0, guesses=[(m // 2, m // 2)], seed=seed)
        bounds.append(res.epsilon_lower_bound)
        above += res.epsilon_lower_bound > true_eps
    assert above <= 5
    assert np.median(bounds) > 0.7  # and it is not vacuous: 1000 guesses at 73% accuracy


def test_one_run_audit_bonferroni_cap_and_notes():
    rng = np.random.default_rng(0)
    included = rng.random(200) < 0.5
    scores = included + 0.1 * rng.random(200)  # a perfect attack
    res = one_run_audit(scores, included, delta=1e-5, claimed_epsilon=8.0)
    assert res.bonferroni == len(guess_counts(200)) == 5
    assert res.best is not None and res.best.correct == res.best.guesses
    assert res.epsilon_lower_bound == pytest.approx(max(t.epsilon_lower_bound for t in res.trials))
    assert res.epsilon_lower_bound <= res.max_certifiable_epsilon < 8.0
    assert res.notes and "cannot certify more than" in res.notes[0]
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["contradicts_claim"] is False and d["confidence"] == 0.95
    # the same audit with one trial is allowed the full alpha, so its bound is higher
    single = one_run_audit(scores, included, delta=1e-5, guesses=[(res.best.n_in, res.best.n_out)])
    assert single.epsilon_lower_bound > res.epsilon_lower_bound + 0.1


@pytest.mark.parametrize("delta", [0.0, 1e-5])
def test_one_run_bound_matches_an_independent_computation_split_over_the_guess_counts(delta):
    """A planted audit (fixed scores, known members) against the theorem evaluated directly with SciPy.

    The default guess counts on 200 records are 4, 10, 20, 40 and 100 on each side; each trial is
    allowed alpha / 5. Every trial's correct count, bound and cap, and the reported best, must equal
    the reference; without the division the best bound would be about 0.47 higher.
    """
    m, alpha = 200, 0.05
    rng = np.random.default_rng(3)
    included = rng.random(m) < 0.5
    scores = 1.5 * included + rng.normal(0.0, 1.0, m)  # a useful but imperfect attack
    res = one_run_audit(scores, included, delta=delta, alpha=alpha)
    pairs = [(4, 4), (10, 10), (20, 20), (40, 40), (100, 100)]
    assert [(t.n_in, t.n_out) for t in res.trials] == pairs and res.bonferroni == 5
    level = alpha / len(pairs)
    expected = []
    for trial, (n_in, n_out) in zip(res.trials, pairs):
        r = n_in + n_out
        correct = correct_guesses(scores, included, n_in, n_out)
        assert trial.correct == correct and trial.guesses == r
        expected.append(largest_rejected_epsilon(m, r, correct, delta, level))
        assert trial.epsilon_lower_bound == pytest.approx(expected[-1], abs=1e-6)
        assert trial.max_certifiable_epsilon == pytest.approx(largest_rejected_epsilon(m, r, r, delta, level), abs=1e-6)
    assert res.epsilon_lower_bound == pytest.approx(max(expected), abs=1e-6)
    assert 1.2 < res.epsilon_lower_bound < 1.5
    assert (res.best.n_in, res.best.n_out) == pairs[int(np.argmax(expected))]
    # the reference is sensitive to the division: at the undivided level the same trial certifies far more
    undivided = largest_rejected_epsilon(m, 2 * res.best.n_in, res.best.correct, delta, alpha)
    assert undivided > res.epsilon_lower_bound + 0.3
    assert res.to_dict()["alpha"] == alpha and res.to_dict()["confidence"] == pytest.approx(1 - alpha)


def test_guess_counts_one_and_two_sided():
    """Each fraction of m becomes a count (at least 1); two-sided counts stop at m/2 per side; repeats are dropped."""
    assert guess_counts(100, (0.1, 0.3, 0.6)) == [(10, 10), (30, 30), (50, 50)]
    assert guess_counts(100, (0.1, 0.3, 0.6), two_sided=False) == [(10, 0), (30, 0), (60, 0)]
    assert guess_counts(100, (0.6, 0.8, 1.0)) == [(50, 50)]  # all three cap at 50 a side
    assert guess_counts(100, (0.6, 1.0), two_sided=False) == [(60, 0), (100, 0)]
    assert guess_counts(100, (0.001, 0.004)) == [(1, 1)]  # at least one guess, counted once
    assert guess_counts(7, (0.5,)) == [(3, 3)] and guess_counts(7, (0.5,), two_sided=False) == [(4, 0)]
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="guess fractions"):
            guess_counts(100, (0.1, bad))


def test_one_sided_guesses_score_only_the_top():
    """With n_out = 0 only the highest scores are guessed, and the bound uses r = n_in guesses."""
    rng = np.random.default_rng(5)
    m = 300
    included = rng.random(m) < 0.5
    scores = 1.5 * included + rng.normal(0.0, 1.0, m)
    res = one_run_audit(scores, included, delta=1e-5, guesses=[(60, 0), (150, 0)])
    for trial in res.trials:
        assert trial.n_out == 0 and trial.guesses == trial.n_in
        correct = correct_guesses(scores, included, trial.n_in, 0)
        assert trial.correct == correct
        assert trial.epsilon_lower_bound == pytest.approx(
            largest_rejected_epsilon(m, trial.n_in, correct, 1e-5, 0.05 / 2), abs=1e-6)


def test_p_value_at_the_claimed_epsilon_and_the_contradiction_flag():
    """Each trial reports the theorem's p-value at the claimed ε; a bound above the claim contradicts it."""
    rng = np.random.default_rng(4)
    m, delta = 400, 1e-5
    included = rng.random(m) < 0.5
    scores = 3.0 * included + rng.normal(0.0, 1.0, m)  # a strong attack: the bound is well above 1
    low = one_run_audit(scores, included, delta=delta, claimed_epsilon=1.0)
    for trial in low.trials:
        expected = one_run_p_values(m, trial.guesses, trial.correct, np.array([1.0]), delta)[0]
        assert trial.p_value_at_claimed == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert low.epsilon_lower_bound > 1.0 and low.contradicts_claim and low.to_dict()["contradicts_claim"] is True
    assert low.best.p_value_at_claimed <= 0.05 / low.bonferroni  # the claim is rejected at the audit's level
    high = one_run_audit(scores, included, delta=delta, claimed_epsilon=8.0)
    assert not high.contradicts_claim and high.epsilon_lower_bound == low.epsilon_lower_bound
    assert all(t.p_value_at_claimed > 0.05 for t in high.trials)
    unclaimed = one_run_audit(scores, included, delta=delta)
    assert all(t.p_value_at_claimed is None for t in unclaimed.trials) and not unclaimed.contradicts_claim


def test_one_run_audit_rejects_bad_input():
    with pytest.raises(ValueError, match="inclusion flags"):
        one_run_audit([1.0, 2.0, 3.0], [True, False], delta=0.0)
    with pytest.raises(ValueError, match="guess counts"):
        one_run_audit([1.0, 2.0], [True, False], delta=0.0, guesses=[(2, 1)])
    with pytest.raises(ValueError, match="v <= guesses r"):
        p_value(10, 5, 6, 1.0, 0.0)


def test_split_audit_records_and_training_set():
    data = make_demo_dataset(300, seed=5)
    pool, train = data.subset(range(200)), data.subset(range(200, 300))
    recs = split_audit_records(pool, seed=3)
    again = split_audit_records(pool, seed=3)
    other = split_audit_records(pool, seed=4)
    assert np.array_equal(recs.included, again.included) and not np.array_equal(recs.included, other.included)
    assert 70 < recs.included.sum() < 130  # Binomial(200, 1/2)
    t = recs.training_set(train)
    assert len(t) == len(train) + int(recs.included.sum())
    assert t.texts[: len(train)] == train.texts
    assert set(t.texts[len(train):]) == {pool.texts[i] for i in np.flatnonzero(recs.included)}
    # per-example metadata and rationales stay aligned
    assert len(t.meta["kinds"]) == len(t) and len(t.rationales) == len(t)
    d = recs.to_dict()
    assert d["m"] == 200 and "texts" not in json.dumps(d)
    flipped = split_audit_records(pool, seed=3, flip_labels=True)
    assert all(a != b for a, b in zip(flipped.records.labels, pool.labels))


def test_append_rows_rejects_clashes():
    a = TextDataset(["x y", "z"], [0, 1], ["a", "b"], ids=["1", "2"])
    with pytest.raises(ValueError, match="ids occur in both"):
        append_rows(a, TextDataset(["w"], [0], ["a", "b"], ids=["2"]), fill="f")
    with pytest.raises(ValueError, match="label names differ"):
        append_rows(a, TextDataset(["w"], [0], ["b", "a"], ids=["9"]), fill="f")


def test_prepare_privacy_audit_and_demo_pools():
    from audit.demo import demo_splits
    from audit.privacy import demo_privacy_pools, prepare_privacy_audit

    train, eval_data = demo_splits(n=300, seed=0)
    audit_pool, population = demo_privacy_pools(train, eval_data, n_audit=40, n_reference=60, seed=0)
    assert len(audit_pool) == 40 and len(population) == 60
    taken = set(train.texts) | set(eval_data.texts)
    assert not (set(audit_pool.texts) | set(population.texts)) & taken
    assert not set(audit_pool.texts) & set(population.texts)
    prep = prepare_privacy_audit(train, audit_pool=audit_pool, reference_population=population, n_canaries=3, seed=1)
    n_in = int(prep.audit_records.included.sum())
    assert len(prep.train) == len(train) + n_in + sum(c.repetitions for c in prep.canaries)
    opts = prep.options(n_bootstrap=10)
    assert set(opts) == {"canaries", "audit_records", "reference_population", "n_bootstrap"}
    d = json.dumps(prep.to_dict())
    assert not any(c.text in d for c in prep.canaries) and not any(t in d for t in audit_pool.texts)
    with pytest.raises(ValueError, match="fresh"):
        prepare_privacy_audit(train, audit_pool=train.subset(range(5)))
