"""Robustness probe: invariance tests, character- and word-level attacks, radius-1 certificates.

Pipeline contract (see ``audit.pipeline``)::

    analyse(bundle, eval_data, options, *, train_data=None, seed=0, show_progress=True, context=None) -> dict
    checks(model_name, section) -> list[Check]

Plain API::

    from audit.robustness import ProbeConfig, RobustnessProbe
    report = RobustnessProbe(ProbeConfig(n_attack=50)).run(bundle, dataset)
    report.to_dict()

Importing this package is light: torch and transformers are imported only when a probe runs.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ProbeConfig": ".probe", "RobustnessProbe": ".probe", "RobustnessReport": ".probe", "FAMILIES": ".probe",
    "InvarianceSuite": ".invariance", "InvarianceTest": ".invariance", "InvarianceResult": ".invariance",
    "default_tests": ".invariance",
    "CharAttack": ".search", "WordAttack": ".search", "AttackRecord": ".search", "Edit": ".search",
    "Radius1Check": ".radius", "RadiusRecord": ".radius",
    "CandidateGenerator": ".candidates", "MaskedLMCandidates": ".candidates",
    "SentenceEncoder": ".constraints", "Lexicon": ".lexicon", "Victim": ".victim",
    "wilson_interval": ".metrics",
}

__all__ = ["analyse", "checks", "describe_options", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'audit.robustness' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def analyse(bundle: Any, eval_data: Any, options: dict | None = None, *, train_data: Any = None, seed: int = 0,
            show_progress: bool = True, context: dict | None = None) -> dict:
    """Run the robustness probe with ``options`` (see :class:`ProbeConfig` for the keys) and
    return the JSON-ready ``robustness`` section. ``seed`` is used unless the options set one."""
    from .probe import ProbeConfig, RobustnessProbe

    options = dict(options or {})
    options.setdefault("seed", seed)
    options.setdefault("show_progress", show_progress)
    config = ProbeConfig.from_options(options)
    return RobustnessProbe(config).run(bundle, eval_data).to_dict()


def describe_options(options: dict | None) -> dict:
    """The options with every default filled in, for the run's recorded configuration (the seed
    is left out unless given: the run's seed applies)."""
    from .probe import ProbeConfig

    options = dict(options or {})
    d = ProbeConfig.from_options(options).to_dict()
    if "seed" not in options:
        d.pop("seed")
    return d


def checks(model_name: str, section: dict) -> list:
    """Summary lines: invariance tests, each attack family, and the radius-1 certificate."""
    from ..results import Check

    out: list[Check] = []
    if not isinstance(section, dict):
        return out
    cfg = (section.get("protocol") or {}).get("config") or {}
    max_success = float(cfg.get("max_attack_success", 0.5))
    min_cert = float(cfg.get("min_certified", 0.5))
    inv = section.get("invariance")
    n_app, failed = 0, []
    if isinstance(inv, dict) and isinstance(inv.get("tests"), list):
        failed = [t for t in inv["tests"] if isinstance(t, dict) and t.get("status") == "fail"]
        n_app = sum(1 for t in inv["tests"] if isinstance(t, dict) and t.get("status") in ("pass", "fail"))
    if n_app:
        msg = (f"{n_app - len(failed)} of {n_app} applicable invariance tests passed on {inv.get('n_texts')} texts"
               + ("" if not failed else "; failed: " + ", ".join(
                   f"{t['name']} ({t['fail_rate']:.1%} > {t['threshold']:.0%})" for t in failed)))
        out.append(Check(f"{model_name}: invariance tests", "pass" if not failed else "warn", len(failed), 0, msg))
    char = section.get("char_attack")
    if isinstance(char, dict) and char.get("budgets"):
        top = char["budgets"][-1]
        sr = top.get("success_rate")
        if sr is not None:
            out.append(Check(
                f"{model_name}: character attack (k={top['k']})", "pass" if sr <= max_success else "warn", sr, max_success,
                f"{sr:.1%} of {top['n_attacked']} correctly classified texts flipped by at most {top['k']} keyboard typos "
                f"(accuracy {top['accuracy']:.1%} -> {top['accuracy_under_attack']:.1%} under attack; "
                f"validity-adjusted success {top['valid_success_rate']:.1%})"))
    word = section.get("word_attack")
    if isinstance(word, dict) and word.get("valid_success_rate") is not None:
        vs = word["valid_success_rate"]
        out.append(Check(
            f"{model_name}: word attack", "pass" if vs <= max_success else "warn", vs, max_success,
            f"{vs:.1%} of {word['n_attacked']} correctly classified texts flipped by meaning-preserving word substitutions "
            f"(validity-adjusted; {word['success_rate']:.1%} before excluding antonym/polarity edits; accuracy "
            f"{word['accuracy']:.1%} -> {word['accuracy_under_attack']:.1%} under attack)"))
    rad = section.get("radius1")
    if isinstance(rad, dict) and rad.get("certified_fraction") is not None:
        cf = rad["certified_fraction"]
        n = ((rad.get("summary") or {}).get("all") or {}).get("n_correct")
        out.append(Check(
            f"{model_name}: radius-1 certificate", "pass" if cf >= min_cert else "warn", cf, min_cert,
            f"{cf:.1%} of {n} correctly classified short texts keep their prediction under every single word "
            f"substitution and every single typo of the stated neighbourhood"))
    return out
