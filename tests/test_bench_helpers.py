"""The pieces of the benchmark scripts that their published figures rest on."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import _record  # noqa: E402
import bench_faithfulness  # noqa: E402
import bench_ig  # noqa: E402


def test_interleaved_timing_runs_every_side_equally_in_rotating_order():
    calls: list[str] = []
    fns = {name: (lambda name=name: calls.append(name) or name) for name in ("a", "b", "c")}
    summaries, last = _record.time_interleaved(fns, repeats=4, warmup=2)
    assert calls[:6] == ["a", "b", "c", "a", "b", "c"]  # warm-up: every side, untimed
    rounds = [calls[6 + 3 * r : 9 + 3 * r] for r in range(4)]
    assert rounds == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]
    assert last == {"a": "a", "b": "b", "c": "c"}
    for s in summaries.values():
        assert s["repeats"] == 4 and len(s["times_s"]) == 4 and s["warmup"] == 2
        assert s["q1_s"] <= s["median_s"] <= s["q3_s"]


def test_reference_rule_is_simpson_and_its_half_grid():
    x = np.linspace(0.0, 1.0, 513)
    g = np.stack([x**3, np.cos(7 * x)], axis=1)
    fine, coarse = bench_ig._simpson(g), bench_ig._simpson(g[::2])
    assert fine[0] == pytest.approx(0.25, abs=1e-15)  # exact for cubics
    assert abs(fine[1] - np.sin(7.0) / 7.0) < 1e-10
    # halving the grid multiplies Simpson's error by about 16
    assert abs(coarse[1] - np.sin(7.0) / 7.0) == pytest.approx(16 * abs(fine[1] - np.sin(7.0) / 7.0), rel=0.01)


def test_token_error_is_relative_to_the_text_l1_norm_without_special_tokens():
    ref = {"fine": [np.array([9.0, 1.0, -3.0, 9.0])], "special": [np.array([True, False, False, True])],
           "f_x": [1.0], "f_b": [0.0]}
    errs = bench_ig.token_errors([np.array([0.0, 2.0, -3.0, 0.0])], ref)
    assert errs.tolist() == [0.25, 0.0]  # |2 - 1| / (1 + 3); special tokens ignored however far off
    acc = bench_ig.accuracy([np.array([0.0, 2.0, -3.0, 0.0])], ref)
    assert acc["max"] == 0.25 and acc["median_completeness"] == pytest.approx(2.0)


def test_agreement_leaves_out_only_values_ferret_fills_by_default_or_cannot_define():
    reason = bench_faithfulness.leave_out_reason
    assert reason("comprehensiveness_aopc", None, 0.0).startswith("no positive score")
    assert reason("loo_correlation", 0.3, float("nan")).startswith("rank correlation undefined")
    assert reason("loo_correlation", None, 0.2).startswith("rank correlation undefined")
    assert reason("sufficiency_aopc", 0.1, 0.4) is None  # a disagreement is compared, never left out


def test_record_name_is_a_plain_file_name_under_the_results_folder(tmp_path):
    outside = tmp_path / "elsewhere"
    for bad in (str(outside), "../escape", "a/b", ".."):
        with pytest.raises(SystemExit, match="plain file name"):
            _record.Recorder("bench_x", argparse.Namespace(record=bad), "sub")
    assert not outside.with_suffix(".json").exists()
    rec = _record.Recorder("bench_x", argparse.Namespace(record="run-1.json"), "sub")
    assert rec.path() == _record.RESULTS_DIR / "run-1.json"
    assert _record.Recorder("bench_x", argparse.Namespace(record=None)).path().parent == _record.RESULTS_DIR


def test_record_credits_the_code_at_the_start_of_the_run(monkeypatch):
    """A benchmark that runs while commits land records the commit it started from, and whether files were modified."""
    states = iter([{"textaudit_commit": "aaa", "textaudit_tree_modified": False},
                   {"textaudit_commit": "bbb", "textaudit_tree_modified": True}])
    monkeypatch.setattr(_record, "source_state", lambda: next(states))
    rec = _record.Recorder("bench_x", argparse.Namespace(record=None), "sub")
    versions = rec.to_dict()["versions"]  # written later, after "bbb" was committed
    assert versions["textaudit_commit"] == "aaa" and versions["textaudit_tree_modified"] is False


def test_source_state_reads_this_checkout():
    state = _record.source_state()
    if not state:
        pytest.skip("no git checkout")
    assert len(state["textaudit_commit"]) == 40 and isinstance(state["textaudit_tree_modified"], bool)


def test_gpu_check_table_names_what_bounds_plain_training():
    import gpu_check

    part = {"n": 2048, "batch_size": 32, "precision": "bf16", "step_ms": 25.0, "texts_per_s": 1280.0,
            "host_ms_per_step": {"collate": 0.5, "forward": 6.0, "backward": 8.0, "optimizer": 1.0},
            "device_busy_fraction": 0.31, "kernels_per_step": 612.0}
    rows = {what: measured for what, measured, _ in gpu_check.table_rows({"profile": part})}
    (what, measured), = [(w, m) for w, m in rows.items() if w.startswith("non-private training profile")]
    assert "2048 texts, batch 32 (bf16)" in what
    assert measured.startswith("25.0 ms per step (1280 texts/s)")
    assert "backward 8.0 ms" in measured and "device busy 31% of the profiled step, 612 kernels" in measured


def test_utility_table_from_records_merges_seeds_and_shows_the_last_weights(tmp_path, capsys):
    import json

    import bench_dp

    def run(kind, seed, acc, last=None, eps=8.0, variant="recipe", probe=5):
        r = {"dataset": "agnews-1000", "n_train": 1000, "n_eval": 2000, "kind": kind, "seed": seed, "train_seconds": 1.0,
             "metrics": {"accuracy": acc}}
        if kind == "private":
            r |= {"epsilon": eps, "variant": variant, "weights": {} if last is None else {"last iterate": {"accuracy": last}},
                  "ledger": {"epochs": 20, "logical_batch_size": 128, "steps": 160},
                  "config": {"linear_probe_epochs": probe}}
        return r

    files = []
    for i, runs in enumerate([[run("nonprivate", 0, 0.80), run("private", 0, 0.70, last=0.74)],
                              [run("nonprivate", 1, 0.84), run("private", 1, 0.76, variant="lp-ft")],
                              # a run of the recipe before it had a linear probe is the no-lp variant
                              [run("nonprivate", 1, 0.84), run("private", 1, 0.60, probe=0),
                               run("private", 0, 0.50, variant="cap-6", probe=0), run("private", 0, 0.55, variant="cap-6")]]):
        path = tmp_path / f"r{i}.json"
        path.write_text(json.dumps({"results": {"runs": runs}, "machine": {"cpu_count": 2}, "versions": {}}))
        files.append(str(path))
    bench_dp._table_from_records(files)
    out = capsys.readouterr().out
    assert "1 run(s) saved a moving average" in out and "1 run(s) recorded again" in out
    # private: the last weights of seed 0 (74) and seed 1 (76); non-private 80 and 84
    assert "| agnews-1000 | 1,000 | 2,000 | 8 | recipe | 75.0 ± 1.4 | 82.0 ± 2.8 | -7.0 | 2 |" in out
    assert "| agnews-1000 | 1,000 | 2,000 | 8 | no-lp | 60.0 |" in out
    assert "| cap-6, no-lp | 50.0 |" in out and "| cap-6 | 55.0 |" in out  # not one run counted twice


def test_utility_table_names_one_seed_run_on_two_devices():
    """The same seed run on a GPU and a CPU is two runs of one seed, not two seeds."""
    import bench_dp

    def run(seed, device, acc):
        return {"dataset": "agnews-10000", "n_train": 10000, "n_eval": 7600, "kind": "nonprivate", "seed": seed,
                "device": device, "train_seconds": 1.0, "metrics": {"accuracy": acc}}

    lines = []
    bench_dp._table(type("R", (), {"print": lambda self, line="": lines.append(line)})(),
                    [run(0, "cuda", 0.907), run(0, "cpu", 0.905), run(1, "cpu", 0.903)])
    assert bench_dp._seeds([run(0, "cuda", 0.9), run(0, "cpu", 0.9)]) == "1 (2 runs: cpu, cuda)"
    assert bench_dp._seeds([run(0, "cpu", 0.9), run(1, "cpu", 0.9)]) == "2"
    assert any("| non-private | 90.5 ± 0.2 | | | 2 (3 runs: cpu, cuda) |" in line for line in lines), lines



def test_weight_tracker_restarts_its_averages_when_the_fine_tuning_follows_the_probe():
    """After a linear probe the trained parameters change: the averages and the last weights then cover the
    fine-tuning's parameters alone, starting from the weights the fine-tuning starts from."""
    from types import SimpleNamespace

    import torch

    import bench_dp

    head, body = torch.zeros(2), torch.zeros(3)
    tracker = bench_dp._Tracker(steps=8)

    def step(params, epoch):
        tracker(SimpleNamespace(per_example_norms=np.array([1.0]), max_grad_norm=0.5, epoch=epoch, parameters=params))

    for k in range(3):  # the probe: the head alone
        head += 1
        step([("head", head)], 1)
    assert tracker.names == ["head"] and len(tracker.last) == 1
    start = (head.clone(), body.clone())
    for k in range(3):
        step([("body", body), ("head", head)], 2)  # the weights after the step before
        body += 1
    assert tracker.names == ["body", "head"] and len(tracker.last) == 2
    for shadow in tracker.averages.values():
        assert torch.all(shadow[0] >= start[1]) and torch.all(shadow[0] <= body) and torch.equal(shadow[1], start[0])
