"""Batching helpers shared by every analysis."""

from __future__ import annotations

import threading

import pytest
import torch

from audit._util import length_batches, run_inference_batches


def test_length_batches_cover_every_index_once_within_the_limits():
    lengths = [5, 17, 3, 3, 9, 40, 12, 12, 12, 1, 33, 8]
    batches = length_batches(lengths, max_batch=3, max_tokens=40, max_waste=0.25)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(lengths)))
    for b in batches:
        longest = max(lengths[i] for i in b)
        assert len(b) <= 3
        assert len(b) == 1 or longest * len(b) <= 40
        assert len(b) == 1 or (longest * len(b) - sum(lengths[i] for i in b)) / (longest * len(b)) <= 0.25


def test_inference_batches_run_every_batch_in_inference_mode_and_restore_threads():
    n_threads = torch.get_num_threads()
    seen: dict[int, tuple[bool, str]] = {}
    lock = threading.Lock()
    w = torch.randn(8, 8, requires_grad=True)
    out = torch.zeros(20, 8)

    def fn(b: int) -> None:
        y = torch.ones(1, 8) * b @ w
        with lock:
            seen[b] = (torch.is_inference_mode_enabled() and not y.requires_grad, threading.current_thread().name)
        out[b] = y[0]

    run_inference_batches(fn, range(20), "cpu")
    assert sorted(seen) == list(range(20))
    assert all(ok for ok, _ in seen.values())
    torch.testing.assert_close(out, torch.arange(20.0)[:, None] * w.detach().sum(0)[None, :])
    assert torch.get_num_threads() == n_threads
    if n_threads > 1:  # batches ran on worker threads, one core each
        assert all(name.startswith("audit-batch") for _, name in seen.values())


def test_inference_batches_raise_the_first_failure_and_restore_threads():
    n_threads = torch.get_num_threads()

    def fn(b: int) -> None:
        if b == 3:
            raise ValueError("batch 3 is broken")

    with pytest.raises(ValueError, match="batch 3 is broken"):
        run_inference_batches(fn, range(8), "cpu")
    assert torch.get_num_threads() == n_threads


def test_a_model_with_hooks_is_run_one_batch_at_a_time():
    model = torch.nn.Linear(4, 4)
    handle = model.register_forward_pre_hook(lambda m, args: None)
    names: list[str] = []
    run_inference_batches(lambda b: names.append(threading.current_thread().name), range(6), "cpu", model)
    assert names == [threading.current_thread().name] * 6
    handle.remove()
    names.clear()
    run_inference_batches(lambda b: names.append(threading.current_thread().name), range(6), "cpu", model)
    assert len(names) == 6
    if torch.get_num_threads() > 1:
        assert all(n.startswith("audit-batch") for n in names)
