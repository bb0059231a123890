"""Clipping rules: their factors against the formulas, the sensitivity bound, and how a run selects one."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from audit.training import recipe as rc
from audit.training.clip_rules import CLIP_RULES, AutomaticClipping, FlatClipping, resolve_clip_rule

NORMS = [0.0, 1e-4, 0.005, 0.01, 0.09, 0.1, 0.11, 1.0, 37.0]


@pytest.mark.parametrize("C", [0.1, 1.0])
def test_factors_follow_their_formulas_on_floats_and_tensors(C):
    t = torch.tensor(NORMS, dtype=torch.float64)
    flat = FlatClipping()
    assert [flat.factor(n, C) for n in NORMS] == [min(1.0, C / (n + 1e-6)) for n in NORMS]
    assert np.allclose(flat.factors(t, C).numpy(), [min(1.0, C / (n + 1e-6)) for n in NORMS], rtol=1e-15, atol=0)
    auto = AutomaticClipping()
    assert [auto.factor(n, C) for n in NORMS] == [C / (n + 0.01) for n in NORMS]
    assert np.allclose(auto.factors(t, C).numpy(), [C / (n + 0.01) for n in NORMS], rtol=1e-15, atol=0)
    assert AutomaticClipping(gamma=0.5).factor(1.0, C) == pytest.approx(C / 1.5)


@pytest.mark.parametrize("name", sorted(CLIP_RULES))
def test_every_rule_bounds_each_example_by_C(name):
    """The sensitivity the noise is calibrated to: factor(norm) * norm <= C for every norm, tiny to huge."""
    rule = CLIP_RULES[name]
    norms = torch.logspace(-8, 4, 400, dtype=torch.float64)
    for C in (0.01, 0.1, 1.0, 5.0):
        assert torch.all(rule.factors(norms, C) * norms <= C), (name, C)
        assert all(rule.factor(float(n), C) * float(n) <= C for n in norms[::37])


def test_automatic_scales_short_gradients_up_and_flat_keeps_them():
    C = 0.1
    assert FlatClipping().factor(0.02, C) * 0.02 == pytest.approx(0.02, rel=1e-4)  # kept as it is
    assert AutomaticClipping().factor(0.02, C) * 0.02 == pytest.approx(C * 2 / 3)  # scaled up towards C
    assert AutomaticClipping().factor(100.0, C) * 100.0 == pytest.approx(C, rel=1e-3)  # long ones end just under C


def test_resolve_and_record():
    assert resolve_clip_rule(None) is CLIP_RULES["flat"] and resolve_clip_rule("automatic") is CLIP_RULES["automatic"]
    custom = AutomaticClipping(gamma=0.1)
    assert resolve_clip_rule(custom) is custom
    assert CLIP_RULES["automatic"].to_dict() == {"name": "automatic", "gamma": 0.01}
    assert CLIP_RULES["flat"].to_dict() == {"name": "flat"}
    with pytest.raises(ValueError, match="unknown clipping rule 'normalised'; choose one of flat, automatic"):
        resolve_clip_rule("normalised")
    with pytest.raises(ValueError, match="gamma > 0"):
        AutomaticClipping(gamma=0.0)


def test_recipe_records_the_rule_and_changes_nothing_else():
    base = rc.recommend(2500, 8.0, 1e-5)
    auto = rc.recommend(2500, 8.0, 1e-5, clipping="automatic")
    assert base.clipping == "flat" and "clipping" not in base.given and base.reasons["clipping"].startswith("flat: ")
    assert auto.clipping == "automatic" and "clipping" in auto.given
    assert auto.reasons["clipping"].startswith("automatic (given): ") and "0.01" in auto.reasons["clipping"]
    same = {k: v for k, v in base.to_dict().items() if k not in ("clipping", "given", "reasons")}
    assert same == {k: v for k, v in auto.to_dict().items() if k not in ("clipping", "given", "reasons")}
    assert auto.training_arguments()["clipping"] == "automatic" and base.training_arguments()["clipping"] == "flat"
    assert any(line.startswith("Clipping rule: flat") for line in base.describe())
    with pytest.raises(ValueError, match="unknown clipping rule 'auto'"):
        rc.recommend(2500, 8.0, 1e-5, clipping="auto")
    assert set(CLIP_RULES) == {"flat", "automatic"} and math.isclose(rc.AUTOMATIC_GAMMA, 0.01)
