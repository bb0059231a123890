"""Physical batch size of private training: the memory model, the choice, and no effect on privacy."""

from __future__ import annotations

import pytest
import torch

import audit.training.private as private
from audit.data import TextDataset
from audit.models import ModelBundle
from audit.training.batching import (
    HEADROOM,
    choose_physical_batch,
    fit_batch,
    largest_logical_batch,
    linear_cost,
)
from audit.training.private import DEFAULTS, fine_tune_private
from model_zoo import make_model

MiB = 2**20
TEXTS = ["the film was great and the acting superb", "dull", "a dull plot but a great cast overall, really",
         "not bad at all", "terrible terrible terrible film", "wonderful, I would watch it again tomorrow",
         "the screen is bright but the delivery was slow", "boring", "an enjoyable story with a weak ending",
         "the battery died after two days", "superb soundtrack", "I would never buy this again"]
LABELS = [1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0]


def _fake(fixed: float, per_example: float):
    calls = []

    def measure(b: int) -> float:
        calls.append(b)
        return fixed + b * per_example

    return measure, calls


def test_linear_cost_recovers_fixed_and_per_example_bytes():
    measure, calls = _fake(300 * MiB, 7 * MiB)
    fixed, per_example = linear_cost(measure)
    assert fixed == pytest.approx(300 * MiB) and per_example == pytest.approx(7 * MiB)
    assert len(calls) == 2


def test_fit_batch_uses_the_headroom_and_stays_in_range():
    # 0.8 * 10 GiB - 1 GiB leaves 7.192 GiB: 7364 examples of 1 MiB, capped at 512
    assert fit_batch(10 * 1024 * MiB, 1024 * MiB, MiB, cap=100_000) == int((HEADROOM * 10 * 1024 - 1024) // 1)
    assert fit_batch(10 * 1024 * MiB, 1024 * MiB, MiB, cap=512) == 512
    assert fit_batch(100 * MiB, 1024 * MiB, MiB, cap=512) == 1  # nothing fits: one at a time
    sizes = [fit_batch(a * MiB, 50 * MiB, 3 * MiB, cap=10_000) for a in (200, 400, 800, 1600)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]  # more memory, larger batches
    by_cost = [fit_batch(1600 * MiB, 50 * MiB, e * MiB, cap=10_000) for e in (1, 2, 4, 8)]
    assert by_cost == sorted(by_cost, reverse=True)  # longer texts (more bytes per example), smaller batches


def test_choice_given_default_and_measured():
    measure, calls = _fake(200 * MiB, 4 * MiB)
    given = choose_physical_batch(48, device="cuda", batch_size=256, n=8000, default=32, measure=measure, available=8 * 1024 * MiB)
    assert (given.size, given.source) == (48, "given") and not calls  # the user's value wins, nothing measured
    cpu = choose_physical_batch(None, device="cpu", batch_size=256, n=8000, default=32)
    assert (cpu.size, cpu.source) == (32, "default")
    ddp = choose_physical_batch(None, device="cuda", batch_size=256, n=8000, default=32, distributed=True)
    assert ddp.source == "default"
    got = choose_physical_batch(None, device="cuda", batch_size=256, n=8000, default=32, measure=measure, available=1024 * MiB)
    assert got.source == "measured" and got.size == int((HEADROOM * 1024 - 200) // 4)
    assert got.bytes_per_example == pytest.approx(4 * MiB) and got.fixed_bytes == pytest.approx(200 * MiB)
    big = choose_physical_batch(None, device="cuda", batch_size=256, n=8000, default=32, measure=measure,
                                available=1024 * 1024 * MiB)
    assert big.size == largest_logical_batch(256, 8000)  # never larger than a logical batch can be
    assert 256 < big.size < 256 + 5 * 16


def _bundle() -> ModelBundle:
    model, tok = make_model("bert+wordpiece", num_labels=2, seed=0)
    return ModelBundle(model=model, tokenizer=tok, label_names=["neg", "pos"], device="cpu", source="bert")


def _train(physical, mode="ghost", dropout=0.1, **kw):
    data = TextDataset(texts=TEXTS, labels=LABELS, label_names=["neg", "pos"])
    bundle = _bundle()
    sizes = []
    rec = fine_tune_private(bundle, data, noise_multiplier=0.9, epochs=2, batch_size=4, max_physical_batch_size=physical, lr=1e-2,
                            grad_sample_mode=mode, seed=3, show_progress=False, cross_check=False, dropout=dropout,
                            step_callback=lambda info: sizes.append(info.batch_size), **kw)
    return rec, sizes, bundle


def test_ledger_and_sampling_do_not_depend_on_the_physical_batch():
    rec1, sizes1, b1 = _train(1, dropout=0.0)  # dropout masks would be drawn per physical batch
    rec5, sizes5, b5 = _train(5, dropout=0.0)
    assert sizes1 == sizes5  # the same logical batches were sampled
    skip = {"max_physical_batch_size", "created", "model_sha256"}
    l1 = {k: v for k, v in rec1.ledger.items() if k not in skip}
    l5 = {k: v for k, v in rec5.ledger.items() if k not in skip}
    assert l1 == l5 and rec1.ledger["epsilon"] == rec5.ledger["epsilon"]
    assert (rec1.ledger["max_physical_batch_size"], rec5.ledger["max_physical_batch_size"]) == (1, 5)
    for (n, p), q in zip(b1.model.named_parameters(), b5.model.parameters()):
        assert torch.allclose(p, q, atol=1e-5), n  # same steps, summed in different chunks


@pytest.mark.parametrize("mode", ["ghost", "hooks"])
def test_measured_choice_runs_the_real_step_without_changing_the_run(monkeypatch, mode):
    """The memory probe runs the training step (here on the CPU, with a fake memory budget), then the
    run trains exactly as one given the chosen size: gradients, per-example state and the random
    state (dropout is on) are restored."""
    probed = []

    def on_cpu(requested, *, step, **kw):
        def measure(b):
            step(b)
            probed.append(b)
            return 10 * MiB + b * MiB

        return choose_physical_batch(requested, step=step, measure=measure, available=int(16 * MiB / HEADROOM), **kw)

    monkeypatch.setattr(private, "choose_physical_batch", on_cpu)
    rec, sizes, measured = _train(None, mode)
    assert probed == [2, 6] * 2  # the linear probe and the fine-tuning each measure their own step
    assert rec.config["physical_batch"]["source"] == "measured" and rec.config["max_physical_batch_size"] == 6
    assert rec.config["linear_probe"]["max_physical_batch_size"] == 6
    monkeypatch.undo()
    ref, ref_sizes, given = _train(6, mode)
    assert sizes == ref_sizes
    for (n, p), q in zip(measured.model.named_parameters(), given.model.parameters()):
        assert torch.equal(p, q), n
    assert rec.ledger["epsilon"] == ref.ledger["epsilon"]


def test_cpu_default_is_recorded():
    rec, _, _ = _train(None)
    assert rec.config["physical_batch"]["source"] == "default"
    assert rec.ledger["max_physical_batch_size"] == DEFAULTS["max_physical_batch_size"]  # as before: not capped
