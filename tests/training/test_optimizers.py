"""Update rules of private training: the noise-corrected Adam against Adam and against its formula."""

from __future__ import annotations

import math

import pytest
import torch

from audit.training import recipe as rc
from audit.training.optimizers import OPTIMIZERS, DPAdamBC, make_optimizer, noise_variance
from audit.training.private import fine_tune_private


def _params(seed: int = 0) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(5, 3, generator=g, dtype=torch.float64)),
            torch.nn.Parameter(torch.randn(3, generator=g, dtype=torch.float64))]


def test_without_noise_it_is_adamw():
    """phi = 0: the corrected denominator is Adam's own, so five steps match torch's AdamW to rounding."""
    ours, ref = _params(), _params()
    opt = DPAdamBC(ours, lr=0.01, noise_variance=0.0, weight_decay=0.1)
    torch_opt = torch.optim.AdamW(ref, lr=0.01, weight_decay=0.1)
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        grads = [torch.randn(p.shape, generator=g, dtype=torch.float64) for p in ours]
        for p, q, gr in zip(ours, ref, grads):
            p.grad, q.grad = gr.clone(), gr.clone()
        opt.step()
        torch_opt.step()
    for p, q in zip(ours, ref):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-12, atol=1e-12)


def test_the_noise_variance_is_taken_out_of_the_second_moment_and_floored():
    """A constant gradient g: after bias correction m_hat = g and v_hat = g^2, so the step is
    lr * g / sqrt(max(g^2 - phi, floor * phi)); coordinates on both sides of the floor."""
    phi, floor, lr = 0.04, 0.01, 0.1
    g = torch.tensor([1.0, 0.5, 0.2, 0.201, -0.3, 0.05], dtype=torch.float64)  # g^2 around phi and far from it
    p = torch.nn.Parameter(torch.zeros_like(g))
    opt = DPAdamBC([p], lr=lr, noise_variance=phi, floor_ratio=floor, eps=0.0)
    before = p.detach().clone()
    for _ in range(3):
        p.grad = g.clone()
        opt.step()
    step = (p.detach() - before) / 3
    want = -lr * g / torch.sqrt(torch.clamp(g * g - phi, min=floor * phi))
    torch.testing.assert_close(step, want, rtol=1e-9, atol=1e-12)
    floored = (g * g - phi) < floor * phi
    assert 0 < int(floored.sum()) < len(g)
    # Adam would have stepped lr * sign(g) everywhere; with the noise variance removed every coordinate moves further
    assert bool((step.abs() > lr * 1.02).all())


def test_noise_variance_is_sigma_c_over_b_squared_and_unknown_names_are_refused():
    assert noise_variance(2.0, 0.1, 32) == pytest.approx((2.0 * 0.1 / 32) ** 2)
    assert set(OPTIMIZERS) == set(rc.OPTIMIZER_NAMES)
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        make_optimizer("sgd", _params(), lr=0.1, weight_decay=0.0, device="cpu", noise_variance=0.0)
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        rc.recommend(1000, 8.0, 1e-5, 2, optimizer="sgd")
    with pytest.raises(ValueError, match="floor_ratio"):
        DPAdamBC(_params(), lr=0.1, noise_variance=1.0, floor_ratio=0.0)


def test_the_recipe_scales_the_learning_rate_to_hold_the_noise_walk():
    adam, bc = rc.recommend(2500, 8.0, 1e-5, 4), rc.recommend(2500, 8.0, 1e-5, 4, optimizer="adam-bc")
    assert (bc.epochs, bc.batch_size, bc.steps) == (adam.epochs, adam.batch_size, adam.steps)
    assert bc.lr == pytest.approx(adam.lr * math.sqrt(rc.BC_FLOOR_RATIO), rel=2e-3)
    assert adam.optimizer == "adam" and "optimizer" not in adam.given
    assert bc.optimizer == "adam-bc" and "optimizer" in bc.given and "DP-AdamBC" in bc.reasons["optimizer"]


def test_a_private_run_hands_the_noisy_gradient_to_the_corrected_adam(tiny_dirs):
    """The run builds DPAdamBC with phi = (sigma C / B)^2 and records the update rule in its recipe."""
    from audit.data import TextDataset
    from audit.models import load_model

    texts = ["good film", "bad plot", "great cast", "dull and slow", "fine", "poor acting", "great fun", "bad"] * 4
    data = TextDataset(texts=texts, labels=[1, 0, 1, 0, 1, 0, 1, 0] * 4, label_names=["neg", "pos"])
    bundle = load_model(tiny_dirs["bert"], device="cpu")
    start = {n: p.detach().clone() for n, p in bundle.model.named_parameters()}
    rec = fine_tune_private(bundle, data, noise_multiplier=1.5, epochs=2, batch_size=8, max_grad_norm=0.5,
                            max_physical_batch_size=8, optimizer="adam-bc", seed=3, show_progress=False,
                            cross_check=False)
    assert rec.config["optimizer"] == "adam-bc" and rec.ledger["recipe"]["optimizer"] == "adam-bc"
    assert rec.config["lr"] == rc.recommend(len(data), noise_multiplier=1.5, epochs=2, batch_size=8,
                                            optimizer="adam-bc").lr
    moved = [n for n, p in bundle.model.named_parameters() if not torch.equal(p.detach(), start[n])]
    assert moved and all("word_embeddings" not in n for n in moved)


def test_the_run_builds_the_optimizer_with_the_noise_variance_of_the_logical_batch(monkeypatch, tiny_dirs):
    from audit.data import TextDataset
    from audit.models import load_model
    from audit.training import optimizers

    built = {}
    real = optimizers.OPTIMIZERS["adam-bc"]

    def spy(params, **kw):
        built.update(kw)
        return real(params, **kw)

    monkeypatch.setitem(optimizers.OPTIMIZERS, "adam-bc", spy)
    data = TextDataset(texts=["good", "bad", "fine", "poor"] * 4, labels=[1, 0, 1, 0] * 4, label_names=["neg", "pos"])
    bundle = load_model(tiny_dirs["bert"], device="cpu")
    fine_tune_private(bundle, data, noise_multiplier=1.5, epochs=1, batch_size=4, max_grad_norm=0.5,
                      max_physical_batch_size=2, optimizer="adam-bc", seed=0, show_progress=False, cross_check=False)
    assert built["noise_variance"] == pytest.approx((1.5 * 0.5 / 4) ** 2)
