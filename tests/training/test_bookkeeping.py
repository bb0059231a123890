"""Single-pass (book-keeping) clipping: exactness on every layer kind and architecture, refusals, Opacus' noise and accounting."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from audit.data import TextDataset
from audit.models import load_model
from audit.training.bookkeeping import BookkeepingClipping, uncovered
from audit.training.dp_compat import DPCompatError
from audit.training.losses import ClassificationLoss
from audit.training.private import fine_tune_private
from dp_exactness import zero_noise_step
from model_zoo import ZOO, build


class _Toy(nn.Module):
    """Every covered layer kind: embeddings with padding and repeated ids, LayerNorm with and without bias, Llama's
    and Gemma's RMSNorm, GPT-2's Conv1D, a weight tied between two Linear layers, a Linear called twice, a layer
    output changed in place, a Linear whose per-example gradient is formed (2 T^2 > p d) and one on 2-D input."""

    def __init__(self) -> None:
        from transformers.models.gemma.modeling_gemma import GemmaRMSNorm
        from transformers.models.llama.modeling_llama import LlamaRMSNorm
        from transformers.pytorch_utils import Conv1D

        super().__init__()
        self.emb = nn.Embedding(12, 8, padding_idx=0)
        self.pos = nn.Embedding(6, 8)
        self.ln = nn.LayerNorm(8)
        self.ln_nobias = nn.LayerNorm(8, bias=False)
        self.rms = LlamaRMSNorm(8)
        self.rms_gemma = GemmaRMSNorm(8)
        self.conv = Conv1D(16, 8)
        self.a = nn.Linear(16, 16)
        self.b = nn.Linear(16, 16, bias=False)
        self.b.weight = self.a.weight  # tied across two layers of the same kind
        self.narrow = nn.Linear(16, 3)
        self.head = nn.Linear(3, 2)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn_like(p) * 0.5)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.emb(ids) + self.pos(torch.arange(ids.shape[1]).expand_as(ids))
        h = self.rms_gemma(self.ln_nobias(self.rms(self.ln(h))))
        h = torch.tanh(self.conv(h))
        h = self.a(h)
        h.mul_(0.5)  # in place on a layer output
        h = torch.tanh(self.b(h)) + self.a(h)
        return self.head(self.narrow(h).mean(1))


def test_every_layer_kind_gives_the_clipped_sum_of_per_example_gradients():
    """float64; C between the per-example norms: norms and clipped sum equal a per-example autograd loop."""
    torch.manual_seed(0)
    model = _Toy().double()
    ids = torch.tensor([[3, 5, 5, 7, 0, 0], [2, 2, 2, 9, 11, 4], [1, 3, 0, 0, 0, 0], [4, 8, 6, 8, 10, 1], [7, 7, 3, 1, 2, 9]])
    labels = torch.tensor([0, 1, 1, 0, 1])
    params = list(model.parameters())  # the tied weight once
    model.eval()
    ref = []
    for i in range(len(ids)):
        grads = torch.autograd.grad(nn.functional.cross_entropy(model(ids[i:i + 1]), labels[i:i + 1]), params)
        ref.append(grads)
    norms = np.array([math.sqrt(sum(float(g.pow(2).sum()) for g in r)) for r in ref])
    clip = float(np.median(norms))
    assert norms.min() < clip < norms.max()

    model.train()
    clipper = BookkeepingClipping(model, params, clip)
    try:
        loss = clipper.criterion(ClassificationLoss(reduction="mean"))(model(ids), labels)
        loss.backward()
    finally:
        clipper.cleanup()
    assert np.allclose(clipper.per_sample_gradient_norms.numpy(), norms, rtol=1e-10, atol=0)
    factors = np.minimum(1.0, clip / (norms + 1e-6))
    assert 0 < int((factors < 1).sum()) < len(factors)  # some examples clipped, some not
    for j, p in enumerate(params):
        expected = sum(float(f) * r[j] for f, r in zip(factors, ref))
        assert torch.allclose(p.grad, expected, rtol=1e-9, atol=1e-12), j
    methods = set(clipper.norm_methods.values())
    assert {"ghost", "formed", "token sums"} <= methods, clipper.norm_methods
    # T = 6 tokens: 2 T^2 <= p d for Conv1D (8 x 16), not for the narrow Linear (16 x 3) nor for the tied weight,
    # whose three calls are joined into 18 tokens before the norm
    assert clipper.norm_methods["conv.weight"] == "ghost"
    assert clipper.norm_methods["narrow.weight"] == clipper.norm_methods["a.weight"] == "formed"
    assert not clipper._calls  # nothing of the batch is held after the step


# DeBERTa-v2 projects its relative position embeddings once for the whole batch (in every scope that trains any
# encoder layer): no layer-level method can split that gradient per example; it is refused below
COVERED = [m.name for m in ZOO if not m.name.startswith("deberta-v2")]


@pytest.mark.filterwarnings("ignore:noise_multiplier=0")
@pytest.mark.parametrize("name", COVERED + ["albert+unigram-cls@all", "gpt2+gpt2-bpe@all", "gemma+sp-bpe@top-1"])
def test_zoo_bookkeeping_step_equals_per_example_loop(tmp_path, name):
    """noise 0, lr 0, float64, C between the per-example norms: the single-pass DP gradient is the mean of
    per-example gradients each clipped to C, on every architecture (ALBERT: one block shared by both depths)."""
    name, _, scope = name.partition("@")
    scope = scope or "all-but-word-embeddings"
    bundle = load_model(build(name, tmp_path / "m", label_names=["neg", "pos"]), device="cpu")
    check = zero_noise_step(bundle, scope, "bookkeeping")
    order, rec = check.reference_norms, check.record
    assert order.min() < check.clip < order.max() and check.n_clipped == len(order) // 2  # both branches of the clip
    assert rec.ledger["grad_sample_mode"] == "bookkeeping" == rec.ledger["per_example_gradients"]["mode"]
    if name.startswith("albert"):
        assert set(rec.ledger["per_example_gradients"]["shared_parameters"].values()) == {2}
    assert np.allclose(check.step_norms, order, rtol=1e-6, atol=0), (check.step_norms, order)
    assert check.relative_error <= 1e-6, (name, scope, check.relative_error)  # rotary tables are float32


def test_deberta_relative_embeddings_are_refused_with_the_parameter(tmp_path):
    bundle = load_model(build("deberta-v2+unigram-cls", tmp_path / "m", label_names=["neg", "pos"]), device="cpu")
    data = TextDataset(texts=["a good film", "a bad film", "fine", "awful"], labels=[1, 0, 1, 0], label_names=["neg", "pos"])
    with pytest.raises(DPCompatError, match=r"rel_embeddings\.weight.*'bookkeeping' cannot clip"):
        fine_tune_private(bundle, data, noise_multiplier=1.0, epochs=1, batch_size=2, grad_sample_mode="bookkeeping",
                          show_progress=False, cross_check=False)


class _Scale(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gain


def test_uncovered_layers_are_refused_by_name_and_type(tiny_dirs):
    bundle = load_model(tiny_dirs["bert"], device="cpu")
    width = bundle.model.classifier.in_features
    bundle.model.classifier = nn.Sequential(_Scale(width), nn.Linear(width, 2))
    data = TextDataset(texts=["a good film", "a bad film", "fine", "awful"], labels=[1, 0, 1, 0], label_names=["neg", "pos"])
    with pytest.raises(DPCompatError, match=r"classifier\.0 \(_Scale\): no single-pass per-example gradient"):
        fine_tune_private(bundle, data, noise_multiplier=1.0, epochs=1, batch_size=2, grad_sample_mode="bookkeeping",
                          show_progress=False, cross_check=False)
    rec = fine_tune_private(bundle, data, noise_multiplier=1.0, epochs=1, batch_size=2, show_progress=False, cross_check=False)
    assert rec.ledger["grad_sample_mode"] == "ghost"  # auto falls back to a method that covers the layer

    counted = nn.Embedding(10, 4, scale_grad_by_freq=True)
    tied = nn.ModuleDict({"emb": nn.Embedding(10, 4), "out": nn.Linear(4, 10, bias=False)})
    tied["out"].weight = tied["emb"].weight
    assert "scale_grad_by_freq" in uncovered(nn.ModuleDict({"e": counted}))[0]
    problems = uncovered(tied)
    assert len(problems) == 1 and "emb.weight is shared by layers that use it differently" in problems[0]
    assert "emb (Embedding, embedding)" in problems[0] and "out (Linear, matmul)" in problems[0]
    with pytest.raises(DPCompatError, match="use it differently"):
        BookkeepingClipping(tied, list(tied.parameters()), 1.0)


def test_noise_optimizer_and_accountant_are_opacus(tiny_dirs):
    """The single-pass mode only replaces the clipping: Opacus' optimizer adds noise of std sigma*C/batch to the
    clipped sum and Opacus' PRV accountant gives the epsilon in the ledger."""
    from opacus.accountants import PRVAccountant
    from opacus.optimizers import DPOptimizerFastGradientClipping

    from audit.training.ddp import DistContext
    from audit.training.private import _make_private

    bundle = load_model(tiny_dirs["bert"], device="cpu")
    texts = [f"review number {i} was {'good' if i % 2 else 'bad'}" for i in range(24)]
    data = TextDataset(texts=texts, labels=[i % 2 for i in range(24)], label_names=["neg", "pos"])
    sigma, clip, batch = 1.3, 0.5, 8
    seen = []

    def check(info):
        assert np.all(info.clipped_norms <= clip * (1 + 1e-6)) and len(info.per_example_norms) == info.batch_size
        summed = math.sqrt(sum(float((p.summed_grad.double() ** 2).sum()) for _, p in info.parameters))
        assert summed <= info.batch_size * clip * (1 + 1e-5) + 1e-9
        noise = torch.cat([(p.grad - p.summed_grad / info.expected_batch_size).reshape(-1) for _, p in info.parameters])
        seen.append((float(noise.double().std()), noise.numel()))

    rec = fine_tune_private(bundle, data, noise_multiplier=sigma, epochs=1, batch_size=batch, max_physical_batch_size=4,
                            max_grad_norm=clip, lr=0.0, grad_sample_mode="bookkeeping", show_progress=False,
                            cross_check=False, step_callback=check)
    led = rec.ledger
    assert led["grad_sample_mode"] == "bookkeeping" and led["steps"] == len(seen) == 3
    for std, count in seen:
        assert abs(std / (sigma * clip / batch) - 1) < max(4.0 / math.sqrt(2 * count), 0.01)
    acct = PRVAccountant()
    acct.history = [(sigma, batch / len(data), led["steps"])]
    assert led["epsilon"] == pytest.approx(acct.get_epsilon(delta=led["delta"]), rel=1e-9)

    model = bundle.model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    _, hooks, opt, _, _, _, acct2 = _make_private(
        model, params, DistContext(), n=24, sigma=sigma, max_grad_norm=clip, lr=0.0, weight_decay=0.0, warmup_ratio=0.0,
        batch_size=batch, sample_rate=batch / 24, steps_per_epoch=3, total_steps=3, grad_sample_mode="bookkeeping",
        accountant="prv", seed=0, device="cpu", secure_gen=None, dataset=[], collate=lambda x: x)
    try:
        assert isinstance(hooks, BookkeepingClipping) and isinstance(opt, DPOptimizerFastGradientClipping)
        assert isinstance(acct2, PRVAccountant) and opt.noise_multiplier == sigma and opt.expected_batch_size == batch
    finally:
        hooks.cleanup()
