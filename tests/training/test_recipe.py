"""The private-training recipe: derived from public facts only, sane across sizes and budgets, recorded with reasons."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch

from audit.data import TextDataset
from audit.models import load_model
from audit.training import recipe as rc
from audit.training.ledger import compute_epsilon, independent_epsilon
from audit.training.private import WeightAverage, fine_tune_private


def test_the_recipe_sees_only_public_numbers():
    params = set(inspect.signature(rc.recommend).parameters)
    assert params == {"n", "epsilon", "delta", "num_labels", "scope", "noise_multiplier", "epochs", "batch_size", "max_epochs",
                      "optimizer", "linear_probe", "clipping"}
    a, b = rc.recommend(3000, 8.0, 1e-5, 4), rc.recommend(3000, 8.0, 1e-5, 4)
    assert a.to_dict() == b.to_dict()


@pytest.mark.parametrize("n", [300, 2500, 100_000])
def test_recipe_is_sane_across_sizes_and_budgets(n):
    by_eps = {}
    for eps in (1.0, 8.0):
        r = rc.recommend(n, eps, 1e-6, 2)
        by_eps[eps] = r
        cap = min(rc.MAX_EPOCHS, max(rc.MIN_EPOCHS, rc.COMPUTE_EXAMPLES // n))
        assert 1 <= r.epochs <= cap and r.epochs * n <= max(rc.COMPUTE_EXAMPLES, rc.MIN_EPOCHS * n)
        assert 1 <= r.batch_size <= n * rc.MAX_SAMPLE_RATE and r.batch_size & (r.batch_size - 1) == 0
        assert 0 < r.sample_rate <= rc.MAX_SAMPLE_RATE
        assert r.steps == r.epochs * max(1, round(n / r.batch_size)) >= rc.MIN_STEPS
        assert math.isfinite(r.noise_multiplier_estimate) and r.noise_multiplier_estimate > 0
        assert r.effective_noise == pytest.approx(r.noise_multiplier_estimate / (r.batch_size * math.sqrt(r.steps)))
        assert 5e-4 <= r.lr <= 5e-3 and r.ema_decay is None and r.max_grad_norm == rc.CLIP_NORM
        # the ranking sigma really reaches the budget (and not by a wide margin)
        q, t = r.sample_rate, r.steps
        assert rc._rdp_epsilons(np.array([r.noise_multiplier_estimate]), q, t, 1e-6)[0] <= eps
        assert rc._rdp_epsilons(np.array([r.noise_multiplier_estimate * 0.99]), q, t, 1e-6)[0] > eps
        assert {"batch_size", "epochs", "lr", "max_grad_norm", "trainable", "warmup_ratio", "ema_decay"} <= set(r.reasons)
        assert all(isinstance(v, str) and len(v) > 10 for v in r.reasons.values())
    # a larger budget never leaves more noise reaching the weights
    assert by_eps[8.0].effective_noise < by_eps[1.0].effective_noise


def test_effective_noise_falls_with_data():
    small, large = rc.recommend(1000, 3.0, 1e-6, 2), rc.recommend(20_000, 3.0, 1e-6, 2)
    assert large.effective_noise < small.effective_noise / 5


@pytest.mark.parametrize("q,steps,sigma", [(0.1, 200, 1.2), (0.02, 150, 0.6), (0.25, 100, 3.0), (1.0, 10, 5.0)])
def test_ranking_accountant_equals_opacus_rdp_at_the_same_orders(q, steps, sigma):
    from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent

    orders = list(range(2, 65))
    want, _ = get_privacy_spent(orders=orders, rdp=compute_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=orders),
                                delta=1e-5)
    assert rc._rdp_epsilons(np.array([sigma]), q, steps, 1e-5)[0] == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("n,eps", [(1000, 8.0), (10_000, 1.0)])
def test_recipe_configurations_reported_epsilon_agrees_with_dp_accounting(n, eps):
    r = rc.recommend(n, eps, 1e-5, 4)
    reported = compute_epsilon(r.noise_multiplier_estimate, r.sample_rate, r.steps, 1e-5, "prv")
    check = independent_epsilon(r.noise_multiplier_estimate, r.sample_rate, r.steps, 1e-5)
    assert reported <= eps  # the ranking bound is looser than the reported accountant
    assert abs(reported - check["pld"]) <= 0.01 * check["pld"]


def test_given_settings_are_kept_and_the_rest_derived_around_them():
    free = rc.recommend(5000, 8.0, 1e-5, 2)
    fixed = rc.recommend(5000, 8.0, 1e-5, 2, epochs=5)
    assert fixed.epochs == 5 and fixed.given == ["epochs"] and "(given)" in fixed.reasons["epochs"]
    assert fixed.steps >= rc.MIN_STEPS and fixed.batch_size < free.batch_size  # fewer epochs: smaller batches for the steps
    capped = rc.recommend(5000, 8.0, 1e-5, 2, max_epochs=4)
    assert capped.epochs <= 4 and "given" not in capped.reasons["epochs"]
    both = rc.recommend(5000, 8.0, 1e-5, 2, epochs=2, batch_size=64)
    assert (both.epochs, both.batch_size, both.steps) == (2, 64, 2 * round(5000 / 64))
    mine = free.with_given({"lr": 1e-3, "ema_decay": 0.9})
    assert mine.lr == 1e-3 and mine.ema_decay == 0.9 and set(mine.given) == {"lr", "ema_decay"}
    assert free.with_given({"ema_decay": 0}).given == []  # 0 is the recipe's own choice: no averaging
    assert mine.reasons["lr"] == "0.001 (given)." and free.lr != 1e-3
    lora = rc.recommend(5000, 8.0, 1e-5, 2, "lora")
    assert lora.lr == pytest.approx(free.lr * rc.LORA_LR_FACTOR, rel=0.01) and lora.trainable == "lora"
    with pytest.raises(ValueError, match="exactly one"):
        rc.recommend(5000, 8.0, 1e-5, 2, noise_multiplier=1.0)
    with pytest.raises(ValueError, match="not a recipe setting"):
        free.with_given({"epsilon": 3})


def test_weight_average_is_the_exponential_average_of_the_iterates():
    p = torch.nn.Parameter(torch.zeros(3))
    avg = WeightAverage([p], decay=0.5)
    want = torch.zeros(3)
    for t, v in enumerate([1.0, 2.0, 4.0, 8.0], start=1):
        with torch.no_grad():
            p.fill_(v)
        avg.update()
        d = min(0.5, (1 + t) / (10 + t))
        want = d * want + (1 - d) * v
    assert torch.allclose(avg.shadow[0], want)
    avg.apply()
    assert torch.allclose(p.detach(), want)


def _two_label_data(texts_seed: int, n: int = 48) -> TextDataset:
    rng = np.random.default_rng(texts_seed)
    words = ["good", "bad", "film", "plot", "cast", "dull", "fine", "slow", "great", "poor"]
    texts = [" ".join(rng.choice(words, size=int(rng.integers(2, 7)))) for _ in range(n)]
    return TextDataset(texts=texts, labels=[int(x) for x in rng.integers(0, 2, size=n)], label_names=["neg", "pos"])


def test_a_private_run_uses_and_records_the_recipe_whatever_the_data(tiny_dirs, tmp_path):
    """Two training sets of the same size with different texts and labels get the same settings."""
    records = []
    for seed in (0, 1):
        bundle = load_model(tiny_dirs["bert"], device="cpu")
        data = _two_label_data(seed)
        records.append(fine_tune_private(bundle, data, data, target_epsilon=8.0, delta=1e-3, max_epochs=3,
                                         max_physical_batch_size=16, seed=seed, show_progress=False, cross_check=False,
                                         out_dir=tmp_path / f"m{seed}"))
    want = rc.recommend(48, 8.0, 1e-3, 2, max_epochs=3)
    for rec in records:
        cfg, led = rec.config, rec.ledger
        assert cfg["recipe"] == led["recipe"] == want.to_dict()
        assert (cfg["epochs"], cfg["batch_size"], cfg["lr"], cfg["max_grad_norm"], cfg["warmup_ratio"], cfg["ema_decay"]) == (
            want.epochs, want.batch_size, want.lr, want.max_grad_norm, want.warmup_ratio, want.ema_decay)
        assert led["steps"] == want.steps and led["max_grad_norm"] == rc.CLIP_NORM and led["logical_batch_size"] == want.batch_size
        assert "eval" in rec.epochs[-1] and "eval_averaged" not in rec.epochs[-1]  # the recipe saves the last weights
    assert records[0].config["recipe"] == records[1].config["recipe"]
    assert records[0].data_sha256 != records[1].data_sha256


def test_weight_averaging_changes_only_the_saved_weights(tiny_dirs):
    data = _two_label_data(2)
    runs = {}
    for decay in (0, 0.8):
        bundle = load_model(tiny_dirs["bert"], device="cpu")
        rec = fine_tune_private(bundle, data, data, noise_multiplier=1.0, epochs=2, batch_size=8, lr=1e-2,
                                max_physical_batch_size=16, ema_decay=decay, seed=4, show_progress=False, cross_check=False)
        runs[decay] = (rec, bundle.sha256)
    (plain, plain_sha), (avg, avg_sha) = runs[0], runs[0.8]
    assert plain.config["ema_decay"] is None and avg.config["ema_decay"] == 0.8
    assert [e["train_loss"] for e in plain.epochs] == [e["train_loss"] for e in avg.epochs]  # same private trajectory
    assert plain.epochs[-1]["eval"] == avg.epochs[-1]["eval"]  # the last iterate is the same model
    assert plain_sha != avg_sha and "eval_averaged" not in plain.epochs[-1]
    assert plain.ledger["epsilon"] == avg.ledger["epsilon"]


def test_linear_probe_trains_the_head_first_within_one_accounting(tiny_dirs):
    data = _two_label_data(5, n=64)
    steps = []

    def grab(info):
        steps.append((info.step, info.epoch, info.batch_size, sorted(n for n, _ in info.parameters)))

    bundle = load_model(tiny_dirs["bert"], device="cpu")
    rec = fine_tune_private(bundle, data, data, target_epsilon=8.0, delta=1e-3, epochs=4, batch_size=8,
                            max_physical_batch_size=16, seed=1, show_progress=False, step_callback=grab)
    want = rc.recommend(64, 8.0, 1e-3, 2, epochs=4, batch_size=8)
    assert want.linear_probe_epochs == 1 and want.linear_probe_lr > want.lr
    cfg, led = rec.config, rec.ledger
    assert cfg["linear_probe"]["epochs"] == 1 and cfg["linear_probe"]["steps"] == 8
    assert (cfg["linear_probe"]["lr"], cfg["lr"], cfg["linear_probe_epochs"]) == (want.linear_probe_lr, want.lr, 1)
    # one accounting over every step of both phases, at one sigma and rate
    assert led["steps"] == want.steps == 32 == len(steps) and [s[0] for s in steps] == list(range(1, 33))
    assert led["epsilon"] == pytest.approx(compute_epsilon(led["noise_multiplier"], 8 / 64, 32, 1e-3, "prv"))
    assert led["epsilon"] <= 8.0 * 1.001 and led["independent_check"]["pld"] == pytest.approx(led["epsilon"], rel=0.01)
    # the probe's steps update the head alone; the fine-tuning the whole scope, head included
    head = steps[0][3]
    assert head and all(n.startswith(("classifier", "bert.pooler")) for n in head)
    assert all(s[3] == head for s in steps[:8]) and all(set(head) < set(s[3]) for s in steps[8:])
    assert [s[1] for s in steps] == [1] * 8 + [2] * 8 + [3] * 8 + [4] * 8
    assert [e["epoch"] for e in rec.epochs] == [1, 2, 3, 4]
    # the fine-tuning samples its own batches, not the probe's again
    assert [s[2] for s in steps[8:16]] != [s[2] for s in steps[:8]]


def test_without_a_linear_probe_the_run_is_one_phase_and_a_head_only_scope_refuses_one(tiny_dirs):
    data = _two_label_data(6, n=32)
    bundle = load_model(tiny_dirs["bert"], device="cpu")
    rec = fine_tune_private(bundle, data, noise_multiplier=1.0, epochs=2, batch_size=8, max_physical_batch_size=16,
                            linear_probe=False, seed=0, show_progress=False, cross_check=False)
    assert "linear_probe" not in rec.config and rec.config["linear_probe_epochs"] == 0
    assert rec.ledger["recipe"]["linear_probe_epochs"] == 0 and "linear_probe_epochs" in rec.ledger["recipe"]["given"]
    assert rec.config["lr"] == rc.recommend(32, noise_multiplier=1.0, epochs=2, batch_size=8, linear_probe=False).lr
    assert rc.recommend(32, noise_multiplier=1.0, epochs=2, batch_size=8, scope="top-0").linear_probe_epochs == 0
    with pytest.raises(ValueError, match="linear probe needs a trainable scope beyond the classifier head"):
        fine_tune_private(bundle, data, noise_multiplier=1.0, epochs=2, batch_size=8, trainable="top-0",
                          linear_probe=True, show_progress=False)
