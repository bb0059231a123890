"""Membership inference on real (tiny) models: the loss attack and the reference-model calibrated attack."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

from audit.data import TextDataset
from audit.privacy import LossAttack, ReferenceAttack, membership_inference, reference_recipe
from audit.privacy.membership import example_stats, log_prob_from_logits, margin_from_logits


def test_statistics_from_logits():
    z = np.array([[2.0, 0.0], [0.0, 0.0]])
    lp = log_prob_from_logits(z, [0, 1])
    assert lp == pytest.approx([-np.log1p(np.exp(-2.0)), np.log(0.5)])
    z3 = np.array([[1.0, 3.0, -1.0]])
    p = np.exp(z3) / np.exp(z3).sum()
    assert margin_from_logits(z3, [1])[0] == pytest.approx(np.log(p[0, 1] / (1 - p[0, 1])))
    with pytest.raises(ValueError, match="labels"):
        log_prob_from_logits(z, [0, 2])


def test_loss_attack_detects_memorisation(memorised):
    r = membership_inference(memorised.bundle, memorised.clean_train, memorised.holdout, n_bootstrap=100)
    assert r.n_members == r.n_nonmembers == 40
    a = r.attacks["loss"].metrics
    assert a.auc.value > 0.75 and a.auc.ci[0] > 0.5
    assert a.balanced_accuracy.value > 0.65
    d = r.to_dict()
    assert d["attacks"]["loss"]["config"]["reference_models"] == 0 and d["balanced"]


def test_untrained_model_is_at_chance(tiny_dirs, random_label_splits):
    from audit.models import load_model

    s = random_label_splits
    fresh = load_model(tiny_dirs["bert"], device="cpu", label_names=s.train.label_names)
    a = membership_inference(fresh, s.train, s.holdout, n_bootstrap=100).attacks["loss"].metrics
    assert a.auc.ci[0] < 0.5 < a.auc.ci[1]


def _population(n: int) -> TextDataset:
    return TextDataset(texts=[f"record number {i}" for i in range(n)], labels=[i % 2 for i in range(n)], label_names=["a", "b"])


def test_reference_scores_are_target_minus_out_mean(monkeypatch):
    pop = _population(12)
    attack = ReferenceAttack(pop, n_models=4, base_model="unused", max_train=100, exclude_texts=["record number 0"],
                             seed=1, cache=OrderedDict())
    assert len(attack.population) == 11  # the excluded training text is gone
    # complementary halves: every population record is left out by exactly half of the models
    member_of = np.array([[t in set(attack.population.subset(s.tolist()).texts) for s in attack.splits]
                          for t in attack.population.texts])
    for a, b in ((0, 1), (2, 3)):  # each pair splits the 11 records into two disjoint halves of 5 (one left over)
        assert not np.any(member_of[:, a] & member_of[:, b])
        assert member_of[:, a].sum() == member_of[:, b].sum() == 5
    assert np.all(member_of.sum(axis=1) <= 2)

    texts = ["record number 0", "record number 3", "record number 5"]  # a target member and two population records
    labels = [0, 1, 1]
    ref = np.array([[1.0, 2.0, 3.0, 4.0], [0.5, 1.5, 2.5, 3.5], [-1.0, 0.0, 1.0, 2.0]])
    monkeypatch.setattr(ReferenceAttack, "_train_and_score", lambda self, target, t, y: ref[[texts.index(x) for x in t]])
    target = type("T", (), {"margin": np.array([10.0, 10.0, 10.0]), "log_prob": np.zeros(3), "__len__": lambda self: 3})()
    scores = attack.score(None, texts, labels, target=target)
    _, trained_on = attack.reference_margins(None, texts, labels)
    assert not trained_on[0].any()  # the member was never in a reference training set
    for i in range(3):
        out = ~trained_on[i]
        assert scores[i] == pytest.approx(10.0 - ref[i][out].mean())
    assert scores[0] == pytest.approx(10.0 - 2.5)


def test_reference_attack_trains_once_and_calibrates(memorised, monkeypatch):
    import audit.training

    calls = []
    real = audit.training.fine_tune

    def counting(*args, **kwargs):
        calls.append(len(args[1]))
        return real(*args, **kwargs)

    monkeypatch.setattr(audit.training, "fine_tune", counting)
    cache = OrderedDict()
    recipe = reference_recipe({"epochs": 30, "lr": 3e-3, "batch_size": 16, "max_length": 64}, {"epochs": 8})
    attack = ReferenceAttack(memorised.population, n_models=2, base_model=memorised.base_dir, recipe=recipe, max_train=24,
                             exclude_texts=memorised.train.texts, seed=0, cache=cache)
    r = membership_inference(memorised.bundle, memorised.clean_train, memorised.holdout,
                             attacks=[LossAttack(), attack], n_bootstrap=100)
    assert calls == [24, 24]  # two reference models, each on half of the 48 population records used
    ref = r.attacks["reference"].metrics
    assert ref.auc.value > 0.7 and ref.auc.ci[0] > 0.5
    cfg = r.attacks["reference"].config
    assert cfg["recipe"]["epochs"] == 8 and cfg["recipe"]["lr"] == 3e-3 and cfg["population"]["per_model_train"] == 24
    assert len(cfg["train_seconds"]) == 2
    # a second target scored on the same records reuses the reference statistics
    again = ReferenceAttack(memorised.population, n_models=2, base_model=memorised.base_dir, recipe=recipe, max_train=24,
                            exclude_texts=memorised.train.texts, seed=0, cache=cache)
    stats = example_stats(memorised.bundle, memorised.holdout.texts, memorised.holdout.labels)
    again.score(memorised.bundle, memorised.holdout.texts, memorised.holdout.labels, target=stats)
    assert calls == [24, 24] and again.config()["cached"] is True


def test_reference_recipe_and_validation():
    r = reference_recipe({"epochs": 2, "lr": 1e-4, "batch_size": 32, "max_length": 64, "noise_multiplier": 1.0}, {"epochs": 1})
    assert r["epochs"] == 1 and r["lr"] == 1e-4 and r["max_length"] == 64 and "noise_multiplier" not in r
    with pytest.raises(ValueError, match="unknown setting"):
        reference_recipe(None, {"epoch": 1})
    with pytest.raises(ValueError, match="at least 2 reference models"):
        ReferenceAttack(_population(10), n_models=1)
    with pytest.raises(ValueError, match="usable records"):
        ReferenceAttack(_population(5), exclude_texts=[f"record number {i}" for i in range(3)])
