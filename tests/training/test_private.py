"""Differentially private fine-tuning: exactness of clipping, noise calibration, scopes, checkpoints, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from dp_exactness import zero_noise_step
from model_zoo import ZOO, build
from scipy import stats

from audit.data import TextDataset
from audit.models import load_model
from audit.training.dp_compat import DPCompatError, EmbeddingInputAligner
from audit.training.ledger import PrivacyConfigError, independent_epsilon
from audit.training.private import DEFAULTS, fine_tune_private, load_ledger
from audit.training.scopes import ScopeError, resolve_scope, trainable_names

TEXTS = [
    "the film was great and the acting superb",
    "dull",
    "a dull plot but a great cast overall, really",
    "not bad at all",
    "terrible terrible terrible film",
    "I would never buy this again",
    "wonderful",
    "the screen is bright but the delivery was slow",
    "an enjoyable story with a weak ending",
    "the battery died after two days",
    "superb soundtrack",
    "boring",
]
LABELS = [1, 0, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0]


def _data(n: int = 12) -> TextDataset:
    texts = [TEXTS[i % len(TEXTS)] + ("" if i < len(TEXTS) else f" {i}") for i in range(n)]
    return TextDataset(texts=texts, labels=[LABELS[i % len(LABELS)] for i in range(n)], label_names=["neg", "pos"])


@pytest.mark.filterwarnings("ignore:noise_multiplier=0")
@pytest.mark.parametrize("mode", ["hooks", "ghost", "per-example"])
@pytest.mark.parametrize("arch", ["bert", "distilbert", "roberta"])
def test_one_step_equals_clipped_mean_of_per_example_gradients(tiny_dirs, arch, mode):
    """noise 0, lr 0, float64, C between the per-example norms (some examples clipped, some not): the DP gradient is
    exactly the mean of per-example gradients each clipped to C, and the step reports the reference loop's norms
    before and after clipping."""
    bundle = load_model(tiny_dirs[arch], device="cpu")
    bundle.model.double()
    before = bundle.sha256
    data = _data(8)
    check = zero_noise_step(bundle, "all", mode, texts=data.texts, labels=data.labels, physical=3)
    assert check.n_clipped >= 2 and check.n_unclipped >= 2, check.reference_norms  # both branches of the clip
    assert check.reference_clipped.max() <= check.clip and check.reference_clipped[0] == check.reference_norms[0]
    assert check.batch_sizes == [len(data)]  # q = 1: every example in the one logical batch, 3 physical batches
    assert bundle.sha256 == before  # lr 0 left the weights alone
    assert check.record.ledger["epsilon"] is None  # no noise: no guarantee
    assert check.record.ledger["grad_sample_mode"] == mode
    assert set(check.grads) == {n for n, _ in bundle.model.named_parameters()}
    assert np.allclose(check.step_norms, check.reference_norms, rtol=1e-6, atol=0)
    assert np.allclose(check.step_clipped, check.reference_clipped, rtol=1e-6, atol=0), (check.step_clipped, check.clip)
    assert check.relative_error <= 1e-6, (arch, mode, check.relative_error)


@pytest.mark.filterwarnings("ignore:noise_multiplier=0")
@pytest.mark.parametrize("mode", ["bookkeeping", "ghost", "hooks", "per-example"])
def test_automatic_clipping_step_equals_normalised_per_example_gradients(tiny_dirs, mode):
    """The automatic rule in every per-example method: the DP gradient is the mean of g_i * C / (|g_i| + 0.01),
    the reported clipped norms are C |g_i| / (|g_i| + 0.01) (all below C, the short gradients scaled up), and the
    ledger and record name the rule."""
    bundle = load_model(tiny_dirs["bert"], device="cpu")
    data = _data(8)
    check = zero_noise_step(bundle, "all", mode, texts=data.texts, labels=data.labels, physical=3, clipping="automatic")
    norms = check.reference_norms
    assert np.allclose(check.reference_clipped, check.clip * norms / (norms + 0.01), rtol=1e-12)
    assert check.reference_clipped[0] > norms[0] and check.reference_clipped.max() < check.clip  # up-scaled, bounded
    assert np.allclose(check.step_norms, norms, rtol=1e-6, atol=0)
    assert np.allclose(check.step_clipped, check.reference_clipped, rtol=1e-6, atol=0), (check.step_clipped, check.clip)
    assert check.relative_error <= 1e-6, (mode, check.relative_error)
    # the flat rule's gradient is a different one: the test tells the two rules apart
    flat = [min(1.0, check.clip / (nm + 1e-6)) / (check.clip / (nm + 0.01)) for nm in norms]
    assert max(flat) / min(flat) > 1.5
    led, cfg = check.record.ledger, check.record.config
    assert led["clipping"] == "automatic" and led["grad_sample_mode"] == mode
    assert cfg["clipping"] == {"name": "automatic", "gamma": 0.01} and cfg["recipe"]["clipping"] == "automatic"
    assert "clipping" in cfg["recipe"]["given"] and cfg["recipe"]["reasons"]["clipping"].startswith("automatic (given)")


@pytest.mark.filterwarnings("ignore:noise_multiplier=0")
@pytest.mark.parametrize("mode", ["auto", "ghost", "hooks"])
def test_bias_scope_step_equals_clipped_per_example_gradients(tiny_dirs, mode):
    """The bias scope (weights frozen, biases trained) in the single-pass, ghost and hook methods: the DP gradient
    is the clipped mean of the per-example gradients of exactly the scope's parameters."""
    bundle = load_model(tiny_dirs["bert"], device="cpu")
    data = _data(8)
    check = zero_noise_step(bundle, "bias", mode, texts=data.texts, labels=data.labels, physical=3)
    assert check.n_clipped >= 2 and check.n_unclipped >= 2
    assert all(n.endswith(".bias") or n.startswith(("bert.pooler.", "classifier.")) for n in check.grads)
    assert np.allclose(check.step_norms, check.reference_norms, rtol=1e-6, atol=0)
    assert check.relative_error <= 1e-6, (mode, check.relative_error)
    if mode == "auto":
        assert check.record.ledger["grad_sample_mode"] == "bookkeeping"


def _halve_applied_clipping(monkeypatch, mode: str) -> None:
    """Make the clipping that a step applies differ from the rule: every clipping factor is halved where it is used."""
    if mode == "ghost":  # the ghost hooks take their factors from the clipping rule
        from audit.training.clip_rules import FlatClipping

        factors = FlatClipping.factors
        monkeypatch.setattr(FlatClipping, "factors", lambda self, norms, C: 0.5 * factors(self, norms, C))
    elif mode == "per-example":
        from audit.training.clipping import PerExampleClipping

        factor = PerExampleClipping.clip_factor
        monkeypatch.setattr(PerExampleClipping, "clip_factor", lambda self, norm: 0.5 * factor(self, norm))
    else:
        from opacus.optimizers import DPOptimizer

        accumulate = DPOptimizer.clip_and_accumulate

        def halved(self):
            before = [p.summed_grad.clone() if p.summed_grad is not None else None for p in self.params]
            accumulate(self)
            for p, old in zip(self.params, before):
                p.summed_grad = 0.5 * p.summed_grad if old is None else old + 0.5 * (p.summed_grad - old)

        monkeypatch.setattr(DPOptimizer, "clip_and_accumulate", halved)


@pytest.mark.filterwarnings("ignore:noise_multiplier=0")
@pytest.mark.parametrize("mode", ["hooks", "ghost", "per-example"])
def test_reported_clipped_norms_are_measured_from_the_applied_clipping(tiny_dirs, monkeypatch, mode):
    """The clipped norms a step reports are measured from what it applied, not restated from the rule min(norm, C):
    with every applied factor halved, the step's gradient halves and so do the reported clipped norms."""
    bundle = load_model(tiny_dirs["bert"], device="cpu")
    data = _data(8)
    _halve_applied_clipping(monkeypatch, mode)
    check = zero_noise_step(bundle, "all", mode, texts=data.texts, labels=data.labels, physical=3)
    assert check.n_clipped >= 2 and check.n_unclipped >= 2
    assert check.error(0.5) <= 1e-6, check.error(0.5)  # the halved factors are the ones applied
    assert np.allclose(check.step_norms, check.reference_norms, rtol=1e-6, atol=0)
    assert np.allclose(check.step_clipped, 0.5 * check.reference_clipped, rtol=1e-6, atol=0), (
        check.step_clipped, check.reference_clipped)


def _within_binomial(total: int, trials: int, q: float, level: float = 1 - 1e-6) -> bool:
    """Whether ``total`` successes in ``trials`` independent draws of probability ``q`` lie in the central ``level`` range."""
    lo, hi = stats.binom.interval(level, trials, q)
    return lo <= total <= hi


def _check_dp_steps(bundle, data, *, sigma, clip, batch, scope, mode, physical=4):
    infos = []

    def check(info):
        # measured per-example norms: one per sampled example; after clipping at most C and at most the norm before
        assert len(info.per_example_norms) == len(info.clipped_norms) == info.batch_size
        assert np.all(info.clipped_norms <= clip * (1 + 1e-6))
        assert np.all(info.clipped_norms <= info.per_example_norms * (1 + 1e-6))
        below = info.per_example_norms < clip * 0.999
        assert np.allclose(info.clipped_norms[below], info.per_example_norms[below], rtol=1e-4)  # left alone
        # the sum of the clipped gradients is no longer than the sum of their norms (triangle inequality)
        summed = math.sqrt(sum(float((p.summed_grad.double() ** 2).sum()) for _, p in info.parameters))
        assert summed <= float(info.clipped_norms.sum()) * (1 + 1e-4) + 1e-9
        noise = torch.cat([(p.grad - p.summed_grad / info.expected_batch_size).reshape(-1) for _, p in info.parameters])
        infos.append((info.batch_size, float(noise.double().std()), int(noise.numel()), float(noise.double().mean())))

    rec = fine_tune_private(bundle, data, noise_multiplier=sigma, epochs=1, batch_size=batch, max_physical_batch_size=physical,
                            lr=0.0, max_grad_norm=clip, trainable=scope, grad_sample_mode=mode, show_progress=False,
                            cross_check=False, step_callback=check)
    led = rec.ledger
    assert led["sample_rate"] == batch / len(data)
    assert len(infos) == led["steps"] >= 3
    # the realised (Poisson) batch sizes are draws at the ledger's rate; the noise is calibrated to the expected size
    assert _within_binomial(sum(size for size, *_ in infos), len(infos) * len(data), led["sample_rate"]), infos
    expected = sigma * clip / (led["sample_rate"] * len(data))
    for size, std, count, mean in infos:
        tol = 4.0 / math.sqrt(2 * count)  # ~4 standard errors of a sample standard deviation
        assert abs(std / expected - 1) < max(tol, 0.01), (size, std, expected, count)
        assert abs(mean) < 4 * expected / math.sqrt(count)
    # the epsilon of the steps taken, from an accountant of another library
    pld = independent_epsilon(sigma, led["sample_rate"], len(infos), led["delta"])["pld"]
    assert pld * 0.99 <= led["epsilon"] <= pld * 1.02, (led["epsilon"], pld)
    return rec, infos


@pytest.mark.parametrize("arch", ["bert", "distilbert", "roberta"])
def test_dp_steps_clip_and_add_calibrated_noise(tiny_dirs, arch):
    """Default scope and mode: several Poisson steps; norms clipped to C; noise std is sigma * C / batch."""
    bundle = load_model(tiny_dirs[arch], device="cpu")
    data = _data(24)
    rec, infos = _check_dp_steps(bundle, data, sigma=1.3, clip=0.5, batch=8, scope=DEFAULTS["trainable"],
                                 mode=DEFAULTS["grad_sample_mode"])
    led = rec.ledger
    assert led["sample_rate"] == pytest.approx(8 / 24) and led["steps"] == 3 and led["noise_multiplier"] == 1.3
    assert not any("word_embeddings" in n for n in led["trainable_parameter_names"])
    assert led["trainable_parameters"] == sum(p.numel() for n, p in bundle.model.named_parameters()
                                              if n in set(led["trainable_parameter_names"]))
    assert all(p.requires_grad for p in bundle.model.parameters())  # scope undone
    assert not any(hasattr(p, "grad_sample") or hasattr(p, "summed_grad") for p in bundle.model.parameters())


def test_poisson_batches_are_drawn_at_the_ledger_rate(tiny_dirs):
    """The logical batches the training loop draws are Poisson samples at the rate the ledger records (q = batch / n):
    the total of the realised sizes lies in the central 1 - 1e-6 range of Binomial(steps * n, q), and the sizes vary
    as Binomial(n, q) draws do (their sample variance within the chi-square range; a fixed batch size has none)."""
    bundle = load_model(tiny_dirs["bert"], device="cpu")
    n, batch = 100, 10
    sizes = []
    rec = fine_tune_private(bundle, _data(n), noise_multiplier=1.0, epochs=2, batch_size=batch, max_physical_batch_size=32,
                            lr=0.0, trainable="top-0", show_progress=False, cross_check=False,
                            step_callback=lambda info: sizes.append(info.batch_size))
    q = rec.ledger["sample_rate"]
    assert q == batch / n and rec.config["sample_rate"] == q
    steps = len(sizes)
    assert steps == rec.ledger["steps"] == 2 * round(n / batch)
    assert _within_binomial(sum(sizes), steps * n, q), (np.mean(sizes), n * q)
    lo, hi = stats.chi2.interval(1 - 1e-6, steps - 1)
    ratio = np.var(sizes, ddof=1) / (n * q * (1 - q))
    assert lo / (steps - 1) <= ratio <= hi / (steps - 1), (sizes, ratio)


@pytest.mark.parametrize("mode", ["hooks", "ghost", "bookkeeping"])
def test_empty_poisson_batches_take_a_noise_only_step(tiny_dirs, mode):
    """With q = 1/12 some logical batches are empty; they still count as steps and add only noise."""
    bundle = load_model(tiny_dirs["bert"], device="cpu")
    sizes, noise = [], []

    def grab(info):
        sizes.append(info.batch_size)
        if info.batch_size == 0:
            assert all(float(p.summed_grad.abs().max()) == 0 for _, p in info.parameters)
            noise.append(float(torch.cat([p.grad.reshape(-1) for _, p in info.parameters]).std()))

    rec = fine_tune_private(bundle, _data(12), noise_multiplier=1.0, epochs=2, batch_size=1, max_physical_batch_size=2,
                            lr=1e-3, max_grad_norm=1.0, grad_sample_mode=mode, seed=1, show_progress=False, cross_check=False,
                            step_callback=grab)
    assert rec.ledger["steps"] == len(sizes) == 24
    assert 0 in sizes and max(sizes) >= 1
    assert noise and all(abs(s / 1.0 - 1) < 0.05 for s in noise)  # sigma * C / batch = 1


def test_lora_scope_steps_and_merge(tiny_dirs, tmp_path):
    bundle = load_model(tiny_dirs["bert"], device="cpu")
    before = {k: v.clone() for k, v in bundle.model.state_dict().items()}
    data = _data(24)
    rec, _ = _check_dp_steps(bundle, data, sigma=1.0, clip=1.0, batch=8, scope="lora", mode="hooks")
    names = rec.ledger["trainable_parameter_names"]
    assert any("lora_A" in n for n in names) and any("lora_B" in n for n in names)
    assert any("classifier" in n for n in names)
    assert type(bundle.model).__name__ == "BertForSequenceClassification"  # adapters merged away
    assert set(bundle.model.state_dict()) == set(before)


def test_backbone_out_of_the_box(backbone_bundle):
    """The embedded backbone with the default scope and mode: clipping and noise as specified."""
    data = _data(12)
    rec, infos = _check_dp_steps(backbone_bundle, data, sigma=0.8, clip=1.0, batch=4, scope=DEFAULTS["trainable"],
                                 mode=DEFAULTS["grad_sample_mode"], physical=2)
    assert rec.ledger["trainable_parameters"] > 10_000_000
    assert rec.config["compat"]["aligned_embeddings"]


def test_target_epsilon_checkpoint_and_ledger(tiny_dirs, tmp_path):
    bundle = load_model(tiny_dirs["distilbert"], device="cpu")
    data = _data(40)
    rec = fine_tune_private(bundle, data, data, target_epsilon=3.0, delta=1e-3, epochs=2, batch_size=10,
                            max_physical_batch_size=4, lr=1e-3, seed=3, out_dir=tmp_path / "ckpt", show_progress=False)
    led = rec.ledger
    assert 3.0 * 0.99 <= led["epsilon"] <= 3.0
    assert led["independent_check"]["pld"] <= led["epsilon"] * 1.01
    assert led["epsilon_per_epoch"][-1] == pytest.approx(led["epsilon"], rel=1e-6)
    assert led["epsilon_per_epoch"][0] < led["epsilon_per_epoch"][1]
    assert led["dataset_size"] == 40 and led["dataset_sha256"] == data.sha256 and led["delta"] == 1e-3
    assert led["secure_rng"] is False and led["accountant"] == "prv" and led["sampling"] == "poisson"
    assert {"opacus", "torch", "transformers"} <= set(led["versions"])
    assert len(rec.epochs) == 2 and "eval" in rec.epochs[0] and rec.epochs[1]["epsilon"] == pytest.approx(led["epsilon"])
    json.dumps(rec.to_dict(), allow_nan=False)
    json.dumps(led, allow_nan=False)
    ckpt = tmp_path / "ckpt"
    assert (ckpt / "model.safetensors").is_file() and (ckpt / "training.json").is_file()
    assert load_ledger(ckpt).to_dict() == led
    assert json.loads((ckpt / "training.json").read_text())["private"] is True
    again = load_model(ckpt, device="cpu")
    assert again.sha256 == bundle.sha256 == led["model_sha256"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # same seed, same result
    other = load_model(tiny_dirs["distilbert"], device="cpu")
    fine_tune_private(other, data, target_epsilon=3.0, delta=1e-3, epochs=2, batch_size=10, max_physical_batch_size=4,
                      lr=1e-3, seed=3, show_progress=False, cross_check=False)
    assert other.sha256 == bundle.sha256


def test_private_training_learns(tiny_dirs):
    rng = np.random.default_rng(0)
    pos, neg = ["good", "great", "superb", "lovely"], ["bad", "awful", "dull", "poor"]
    texts, labels = [], []
    for i in range(160):
        y = i % 2
        texts.append(f"the film was {rng.choice(pos if y else neg)} and the cast was fine")
        labels.append(y)
    data = TextDataset(texts=texts, labels=labels, label_names=["neg", "pos"])
    bundle = load_model(tiny_dirs["bert"], device="cpu")
    start = float(np.mean(bundle.predict_proba(texts).argmax(1) == np.asarray(labels)))
    # no linear probe: the tiny model's encoder is random, so a probe of its features has nothing to find
    rec = fine_tune_private(bundle, data, noise_multiplier=0.5, epochs=6, batch_size=40, max_physical_batch_size=40,
                            lr=1e-2, trainable="all", linear_probe=False, show_progress=False, cross_check=False)
    acc = float(np.mean(bundle.predict_proba(texts).argmax(1) == np.asarray(labels)))
    assert start < 0.8 and acc >= 0.9, (start, acc)
    assert rec.epochs[-1]["train_loss"] < rec.epochs[0]["train_loss"]
    assert 0 < rec.ledger["epsilon"] < 100


def test_bad_arguments_are_refused_with_reasons(tiny_dirs):
    bundle = load_model(tiny_dirs["bert"], device="cpu")
    data = _data(12)
    with pytest.raises(PrivacyConfigError, match="exactly one"):
        fine_tune_private(bundle, data, show_progress=False)
    with pytest.raises(PrivacyConfigError, match="exactly one"):
        fine_tune_private(bundle, data, target_epsilon=8, noise_multiplier=1.0, show_progress=False)
    with pytest.raises(PrivacyConfigError, match="below 1/n"):
        fine_tune_private(bundle, data, target_epsilon=8, delta=0.1, batch_size=4, show_progress=False)
    with pytest.raises(PrivacyConfigError, match="understates"):
        fine_tune_private(bundle, data, target_epsilon=8, accountant="gdp", batch_size=4, show_progress=False)
    with pytest.raises(ScopeError, match="unknown trainable scope"):
        fine_tune_private(bundle, data, target_epsilon=8, trainable="everything", batch_size=4, show_progress=False)
    with pytest.raises(ValueError, match="larger than the training set"):
        fine_tune_private(bundle, data, target_epsilon=8, batch_size=13, show_progress=False)
    for name, bad in (("epochs", 0), ("batch_size", True), ("max_epochs", 2.5), ("max_physical_batch_size", 0)):
        with pytest.raises(ValueError, match=f"^{name} must be an integer >= 1, got {bad!r}$"):
            fine_tune_private(bundle, data, target_epsilon=8, show_progress=False, **{"batch_size": 4, name: bad})
    with pytest.raises(ValueError, match="dropout"):
        fine_tune_private(bundle, data, noise_multiplier=1.0, dropout=1.5, batch_size=4, show_progress=False)
    with pytest.raises(ValueError, match="grad_sample_mode"):
        fine_tune_private(bundle, data, noise_multiplier=1.0, grad_sample_mode="functorch", batch_size=4, show_progress=False)
    three = TextDataset(texts=["a", "b", "c"], labels=[0, 1, 2], label_names=["x", "y", "z"])
    with pytest.raises(ValueError, match="label"):
        fine_tune_private(bundle, three, noise_multiplier=1.0, batch_size=2, show_progress=False)
    try:
        import torchcsprng  # noqa: F401
    except ImportError:
        with pytest.raises(PrivacyConfigError, match="torchcsprng"):
            fine_tune_private(bundle, data, noise_multiplier=1.0, batch_size=4, secure_mode=True, show_progress=False)


def test_scopes_choose_the_documented_parameters(tiny_dirs):
    model = load_model(tiny_dirs["bert"], device="cpu").model
    n_all = len(list(model.parameters()))
    resolve_scope("all").apply(model)
    assert len(trainable_names(model)) == n_all
    resolve_scope("all-but-word-embeddings").apply(model)
    assert trainable_names(model) == [n for n, _ in model.named_parameters() if "word_embeddings" not in n]
    resolve_scope("top-1").apply(model)
    names = trainable_names(model)
    assert names and all(n.startswith(("bert.encoder.layer.1.", "bert.pooler.", "classifier.")) for n in names)
    assert any(n.startswith("bert.encoder.layer.1.") for n in names) and "classifier.weight" in names
    resolve_scope("top-0").apply(model)
    assert all(not n.startswith(("bert.encoder.", "bert.embeddings.")) for n in trainable_names(model))
    with pytest.raises(ScopeError, match="top-3"):
        resolve_scope("top-3").apply(model)
    resolve_scope("bias").apply(model)
    names = trainable_names(model)
    assert names == [n for n, _ in model.named_parameters()
                     if n.endswith(".bias") or n.startswith(("bert.pooler.", "classifier."))]
    assert any(n.startswith("bert.encoder.layer.0.") for n in names) and "bert.embeddings.LayerNorm.bias" in names
    assert "bert.encoder.layer.0.attention.self.query.weight" not in names and "classifier.weight" in names
    resolve_scope("all").finalize(model)
    distil = load_model(tiny_dirs["distilbert"], device="cpu").model
    resolve_scope("top-1").apply(distil)
    assert all(n.startswith(("distilbert.transformer.layer.1.", "pre_classifier.", "classifier."))
               for n in trainable_names(distil))


def test_embedding_inputs_are_aligned_to_the_batch():
    emb = torch.nn.Embedding(10, 4)
    seen = []

    class M(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = emb

        def forward(self, input_ids, extra):
            out = self.emb(extra)
            seen.append((tuple(out.shape), None))
            return out

    m = M().train()
    with EmbeddingInputAligner(m):
        broadcast = torch.arange(5).expand(1, 5)  # (1, L), a non-contiguous view
        m(input_ids=torch.zeros(3, 5, dtype=torch.long), extra=broadcast)
        assert seen[-1][0] == (3, 5, 4)  # expanded to the batch
        with pytest.raises(DPCompatError, match="first dimension is not the batch"):
            m(input_ids=torch.zeros(3, 5, dtype=torch.long), extra=torch.zeros(2, 5, dtype=torch.long))
    m(input_ids=torch.zeros(3, 5, dtype=torch.long), extra=broadcast)
    assert seen[-1][0] == (1, 5, 4)  # hooks removed


def test_unused_parameters_are_frozen_and_misused_ones_refused(tiny_dirs):
    bundle = load_model(tiny_dirs["bert"], device="cpu")
    bundle.model.unused_head = torch.nn.Linear(4, 4)  # never called by forward
    data = _data(12)
    rec = fine_tune_private(bundle, data, noise_multiplier=1.0, epochs=1, batch_size=6, max_physical_batch_size=6,
                            trainable="all", show_progress=False, cross_check=False)
    assert set(rec.config["compat"]["frozen_unused"]) == {"unused_head.weight", "unused_head.bias"}
    assert "unused_head.weight" not in rec.ledger["trainable_parameter_names"]

    class Direct(torch.nn.Module):  # reads its child's weight directly: Opacus cannot see a per-example gradient
        def __init__(self, inner: torch.nn.Linear) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return torch.nn.functional.linear(x, self.inner.weight, self.inner.bias)

    other = load_model(tiny_dirs["bert"], device="cpu")
    other.model.classifier = Direct(other.model.classifier)
    with pytest.raises(DPCompatError, match="no per-example gradient for classifier.inner"):
        fine_tune_private(other, data, noise_multiplier=1.0, epochs=1, batch_size=6, trainable="all",
                          grad_sample_mode="hooks", show_progress=False, cross_check=False)
    assert type(other.model).__name__ == "BertForSequenceClassification"
    assert all(p.requires_grad for p in other.model.parameters())


# --- every architecture of the zoo: one zero-noise step equals the per-example loop -------------------------------

SHARING = ("albert+unigram-cls", "deberta-v2+unigram-cls")  # one block at every depth / relative embeddings
ZOO_CASES = ([(m.name, DEFAULTS["trainable"], DEFAULTS["grad_sample_mode"]) for m in ZOO]
             + [(n, "all", DEFAULTS["grad_sample_mode"]) for n in (*SHARING, "gemma+sp-bpe")]
             + [("albert+unigram-cls", "all", m) for m in ("hooks", "per-example", "ghost")])


@pytest.fixture(scope="session")
def zoo_dir(tmp_path_factory):
    built: dict[str, object] = {}

    def get(name: str):
        if name not in built:
            built[name] = build(name, tmp_path_factory.mktemp("zoo") / "model", label_names=["neg", "pos"])
        return built[name]

    return get


@pytest.mark.parametrize("name,scope,mode", ZOO_CASES)
def test_zoo_one_step_equals_per_example_loop(zoo_dir, name, scope, mode):
    """noise 0, lr 0, float64, C between the per-example norms: the DP gradient is the mean of per-example
    gradients each clipped to C (Opacus' coefficient min(1, C / (norm + 1e-6))), and the per-example norms
    are those of the full gradient (a shared parameter's contributions summed before the norm), before and
    after clipping."""
    bundle = load_model(zoo_dir(name), device="cpu")
    check = zero_noise_step(bundle, scope, mode)
    order, rec = check.reference_norms, check.record
    # both branches of the clip, from the reference loop's norms: half the examples above C, half below
    assert check.n_clipped == check.n_unclipped == len(order) // 2 and order.min() < check.clip < order.max()
    used = rec.ledger["per_example_gradients"]
    assert used["mode"] == rec.ledger["grad_sample_mode"] == rec.config["grad_sample_mode"] and used["requested"] == mode
    if name.startswith("deberta-v2"):  # relative embeddings are projected once and broadcast: no layer-hook split
        assert used["mode"] == "per-example" and "rel_embeddings" in used["reason"]
    elif name.startswith("gemma") and scope == "all":  # scaled word embeddings hold a constant buffer
        assert used["mode"] == "per-example" and "embed_tokens" in used["reason"]
    elif mode == "auto":  # every layer of the other architectures is covered by single-pass clipping
        assert used["mode"] == "bookkeeping"
    if name.startswith("albert"):  # the one shared block runs at both depths
        assert used["shared_parameters"] and set(used["shared_parameters"].values()) == {2}
        if used["mode"] == "ghost":
            assert any(n.endswith("attention.query") for n in used["materialised_layers"])
    # the data set is ordered by length inside training: compare the norms as sets
    assert np.allclose(check.step_norms, order, rtol=1e-6, atol=0), (check.step_norms, order)
    assert np.allclose(check.step_clipped, check.reference_clipped, rtol=1e-6, atol=0), (check.step_clipped, check.clip)
    assert check.relative_error <= 1e-6, (name, scope, mode, check.relative_error)  # rotary tables are float32


@pytest.mark.parametrize("mode", ["ghost", "hooks"])
def test_layer_hook_modes_that_cannot_be_exact_are_refused_with_the_parameters(zoo_dir, mode):
    bundle = load_model(zoo_dir("deberta-v2+unigram-cls"), device="cpu")
    with pytest.raises(DPCompatError, match=r"rel_embeddings\.weight.*query_proj \(input of shape \(1, .*'per-example'"):
        fine_tune_private(bundle, _data(6), noise_multiplier=1.0, epochs=1, batch_size=3, grad_sample_mode=mode,
                          show_progress=False, cross_check=False)
    assert all(p.requires_grad for p in bundle.model.parameters())  # scope undone after the refusal


def test_layers_whose_buffers_change_in_training_are_refused(tiny_dirs):
    class Counting(torch.nn.Linear):  # keeps a running statistic of its inputs
        def __init__(self, inner: torch.nn.Linear) -> None:
            super().__init__(inner.in_features, inner.out_features)
            self.register_buffer("seen", torch.zeros(()))

        def forward(self, x):
            if self.training:
                self.seen += x.shape[0]
            return super().forward(x)

    bundle = load_model(tiny_dirs["bert"], device="cpu")
    bundle.model.classifier = Counting(bundle.model.classifier)
    with pytest.raises(DPCompatError, match=r"buffers that training updates.*classifier"):
        fine_tune_private(bundle, _data(12), noise_multiplier=1.0, epochs=1, batch_size=6, show_progress=False,
                          cross_check=False)


@pytest.mark.filterwarnings("ignore:Full backward hook")
@pytest.mark.parametrize("bias", [False, True])
def test_layer_norm_per_example_gradients_with_and_without_bias(bias):
    from opacus.grad_sample import GradSampleModule

    import audit.training.clipping  # noqa: F401  (registers the LayerNorm sampler)

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.LayerNorm(6, bias=bias), torch.nn.Linear(6, 2)).double()
    x = torch.randn(5, 3, 4, dtype=torch.float64)
    expected = []
    for i in range(5):
        net.zero_grad()
        net(x[i:i + 1]).sum().backward()
        expected.append({n: p.grad.clone() for n, p in net[1].named_parameters()})
    gsm = GradSampleModule(net, loss_reduction="sum")
    gsm(x).sum().backward()
    norm = net[1]
    assert (norm.bias is not None) == bias
    for name, p in norm.named_parameters():
        assert torch.allclose(p.grad_sample, torch.stack([e[name] for e in expected]), atol=1e-12), name
    gsm.cleanup()


def test_a_weight_also_read_outside_its_layer_is_never_ghost_clipped():
    """A layer's weight that another module also reads directly (F.linear(x, layer.weight)) gets part of its
    gradient where layer hooks cannot see it: ghost norms would be too small and clipping too weak."""
    from types import SimpleNamespace

    from audit.training.clipping import plan_clipping, probe_parameter_use

    class Reuse(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(10, 4)
            self.a = torch.nn.Linear(4, 4, bias=False)
            self.out = torch.nn.Linear(4, 2)

        def forward(self, input_ids, attention_mask=None):
            h = self.emb(input_ids).mean(1)
            return SimpleNamespace(logits=self.out(self.a(h) + torch.nn.functional.linear(3 * h, self.a.weight)))

    torch.manual_seed(0)
    model = Reuse().train()
    use = probe_parameter_use(model, {"input_ids": torch.randint(0, 10, (2, 5)), "attention_mask": torch.ones(2, 5)})
    assert use.outside == ["a.weight"] and not use.unbatched
    assert plan_clipping("auto", use, model).mode == "per-example"
    for mode in ("ghost", "hooks"):
        with pytest.raises(DPCompatError, match=r"a\.weight"):
            plan_clipping(mode, use, model)
    plain = Reuse().train()
    plain.forward = lambda input_ids, attention_mask=None: SimpleNamespace(
        logits=plain.out(plain.a(plain.emb(input_ids).mean(1))))
    assert probe_parameter_use(plain, {"input_ids": torch.randint(0, 10, (2, 5)), "attention_mask": torch.ones(2, 5)}).outside == []
