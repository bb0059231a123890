"""The ledger re-derives epsilon with its own accountant, stores plain JSON, and calibrates in few steps."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import audit.training.ledger as ledger_module
from audit.training.ledger import PrivacyLedger, _finite, calibrate_noise, compute_epsilon


def _ledger(accountant: str) -> PrivacyLedger:
    return PrivacyLedger(epsilon=1.0, delta=1e-5, accountant=accountant, noise_multiplier=0.8, sample_rate=0.05,
                         steps=200, epochs=10, max_grad_norm=1.0, logical_batch_size=96, max_physical_batch_size=32,
                         dataset_size=1920, dataset_sha256="ab" * 32, trainable_scope={"name": "all"},
                         trainable_parameters=10, trainable_parameter_names=["a"], grad_sample_mode="ghost",
                         secure_rng=False)


def test_recomputed_epsilon_uses_the_recorded_accountant():
    rdp = compute_epsilon(0.8, 0.05, 200, 1e-5, "rdp")
    prv = compute_epsilon(0.8, 0.05, 200, 1e-5, "prv")
    assert abs(rdp - prv) > 0.05  # the two accountants disagree here, so the choice shows
    assert _ledger("rdp").recompute_epsilon() == pytest.approx(rdp, rel=1e-12)
    assert _ledger("prv").recompute_epsilon() == pytest.approx(prv, rel=1e-12)


def test_numpy_scalars_become_json_numbers_and_non_finite_values_none():
    raw = {1: np.int64(3), "f": np.float32(0.5), "nan": np.float32("nan"), "inf": np.float64("inf"),
           "t": (np.int32(1), 2.0), "nested": {"x": [np.float64(-1.25), float("nan")]}}
    out = _finite(raw)
    assert out == {"1": 3, "f": 0.5, "nan": None, "inf": None, "t": [1, 2.0], "nested": {"x": [-1.25, None]}}
    assert type(out["1"]) is int and type(out["f"]) is float and type(out["t"][0]) is int
    json.dumps(out, allow_nan=False)  # strict JSON


def test_calibration_needs_few_accountant_evaluations(monkeypatch):
    calls = []
    original = ledger_module.compute_epsilon

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(ledger_module, "compute_epsilon", counting)
    sigma = calibrate_noise(2.0, 0.05, 100, 1e-5, "prv")
    eps = original(sigma, 0.05, 100, 1e-5, "prv")
    assert eps <= 2.0 and eps >= 2.0 * (1 - 0.005)  # within the default relative tolerance, never above
    assert math.isfinite(sigma) and len(calls) <= 12  # bracketing plus a few log-log interpolation steps
