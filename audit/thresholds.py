"""The numeric thresholds that judge an audit's checks: their schema, a TOML file of overrides,
how they reach a run, and how saved checks are judged again against new values.

A thresholds file has one table per area; every key is optional and unknown keys are an error::

    [performance]
    min_accuracy = 0.85        # accuracy (micro-F1 for a multi-label model) below this fails
    max_ece = 0.08             # calibration error above this warns

    [robustness]
    max_attack_success = 0.3   # attack success rate above this warns
    min_certified = 0.6        # radius-1 certified fraction below this warns

    [privacy]
    max_auc = 0.55             # membership-inference AUC above this warns

See :data:`SPEC` for every key. Standard library only: ``audit check`` uses this module without
importing torch.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping


@dataclass(frozen=True)
class Threshold:
    """One overridable threshold.

    ``target`` says where a run reads it: ``("config", field)`` is an :class:`AuditConfig` field,
    ``(analysis, option)`` an analysis option (``"thresholds.auc"`` is nested). ``rule`` says when a
    value passes: ``"min"`` (value >= threshold), ``"max"`` (value <= threshold) or ``"below"``
    (value < threshold); a value that does not pass gets ``breach``. ``checks`` matches the check
    names it judges (after ``"<model>: "``). ``rejudge`` is False when the threshold changes what is
    measured, so saved results cannot be judged against a new value.
    """

    key: str
    default: float
    target: tuple[str, str]
    rule: str
    breach: str
    checks: str
    rejudge: bool
    low: float = 0.0
    high: float | None = 1.0
    doc: str = ""


SPEC: tuple[Threshold, ...] = (
    Threshold("performance.min_accuracy", 0.8, ("config", "min_accuracy"), "min", "fail", r"accuracy|micro-F1", True,
              doc="held-out accuracy (micro-averaged F1 for a multi-label model) below this fails"),
    Threshold("performance.max_ece", 0.1, ("config", "max_ece"), "max", "warn",
              r"calibration \(ECE\)|calibration \(mean per-label ECE\)", True,
              doc="expected calibration error above this warns"),
    Threshold("explanations.ig_tolerance", 0.01, ("config", "ig_tolerance"), "max", "warn", r"IG completeness", False,
              low=0.0, high=None, doc="integrated-gradients completeness error (fraction of f(x) - f(baseline)) above "
                                      "which an explained example is flagged; any flagged example warns"),
    Threshold("faithfulness.sanity_threshold", 0.5, ("faithfulness", "sanity_threshold"), "max", "warn",
              r"explanation sanity \(model randomisation\)", False,
              doc="rank correlation with the original attributions at or above which a method fails the "
                  "model-randomisation sanity check; any such method warns"),
    Threshold("robustness.max_attack_success", 0.5, ("robustness", "max_attack_success"), "max", "warn",
              r"character attack \(k=\d+\)|word attack", True,
              doc="share of correctly classified texts an attack flips above which the attack check warns"),
    Threshold("robustness.min_certified", 0.5, ("robustness", "min_certified"), "min", "warn",
              r"radius-1 certificate", True,
              doc="certified fraction of short texts below which the radius-1 check warns"),
    Threshold("robustness.invariance_threshold", 0.05, ("robustness", "invariance_threshold"), "max", "warn",
              r"invariance tests", False,
              doc="prediction-change rate above which a case or punctuation invariance test fails; any failed test warns"),
    Threshold("robustness.typo_threshold", 0.10, ("robustness", "typo_threshold"), "max", "warn",
              r"invariance tests", False,
              doc="prediction-change rate above which a typo invariance test fails; any failed test warns"),
    Threshold("privacy.max_auc", 0.6, ("privacy_audit", "thresholds.auc"), "max", "warn", r"membership inference", True,
              doc="membership-inference AUC (best attack) above this warns"),
    Threshold("privacy.max_tpr_at_1pct_fpr", 0.05, ("privacy_audit", "thresholds.tpr_at_1pct_fpr"), "max", "warn",
              r"membership inference", True,
              doc="membership-inference true-positive rate at 1% false positives (best attack) above this warns"),
    Threshold("privacy.max_exposure_bits", 10.0, ("privacy_audit", "thresholds.exposure_bits"), "below", "warn",
              r"canary exposure", True, high=None,
              doc="canary exposure in bits at or above which the model is taken to have memorised a planted secret"),
)
BY_KEY: dict[str, Threshold] = {t.key: t for t in SPEC}


# --------------------------------------------------------------------------- reading overrides


def validate(key: str, value: Any, where: str) -> float:
    """The value of one override as a float; a clear error naming ``where`` otherwise."""
    spec = BY_KEY.get(key)
    if spec is None:
        raise ValueError(f"{where}: unknown threshold {key!r}; known thresholds: {', '.join(BY_KEY)}")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise ValueError(f"{where}: threshold {key!r} must be a number, got {value!r}")
    v = float(value)
    if v < spec.low or (spec.high is not None and v > spec.high):
        span = f"[{spec.low:g}, {spec.high:g}]" if spec.high is not None else f">= {spec.low:g}"
        raise ValueError(f"{where}: threshold {key!r} must be in {span}, got {value!r}")
    return v


def load(path: str | Path) -> dict[str, float]:
    """Read a thresholds TOML file into ``{"area.key": value}``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such thresholds file") from None
    except (IsADirectoryError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable thresholds file ({exc})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML ({exc})") from exc
    out: dict[str, float] = {}
    for area, table in data.items():
        if not isinstance(table, dict):
            raise ValueError(f"{path}: unknown threshold {area!r}: thresholds sit in tables such as [performance] "
                             f"(known thresholds: {', '.join(BY_KEY)})")
        for name, value in table.items():
            key = f"{area}.{name}"
            out[key] = validate(key, value, str(path))
    return out


def parse_assignment(text: str) -> tuple[str, float]:
    """``"robustness.max_attack_success=0.3"`` as ``(key, value)``."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep:
        raise ValueError(f"--threshold {text!r}: expected KEY=VALUE, e.g. performance.min_accuracy=0.9")
    try:
        value: Any = float(raw)
    except ValueError:
        value = raw
    return key, validate(key, value, f"--threshold {text!r}")


def gather(file: str | Path | None = None, assignments: Iterable[str] = ()) -> dict[str, float]:
    """Overrides from a file and then ``KEY=VALUE`` flags (a flag wins over the file)."""
    out = load(file) if file else {}
    for text in assignments:
        key, value = parse_assignment(text)
        out[key] = value
    return out


# --------------------------------------------------------------------------- applying to a run


def configure(config: Any, overrides: Mapping[str, float]) -> Any:
    """Put ``overrides`` into an :class:`~audit.pipeline.AuditConfig`: fields are set directly,
    analysis thresholds are kept in ``config.threshold_overrides`` and merged into the analysis options
    when the analysis runs (:func:`analysis_options`). Returns ``config``."""
    for key, value in overrides.items():
        validate(key, value, "thresholds")
        where, name = BY_KEY[key].target
        if where == "config":
            setattr(config, name, float(value))
    config.threshold_overrides = {**config.threshold_overrides, **{k: float(v) for k, v in overrides.items()}}
    return config


def analysis_options(analysis: str, options: Mapping[str, Any], overrides: Mapping[str, float]) -> dict[str, Any]:
    """``options`` of one analysis with the overridden thresholds that belong to it filled in."""
    out = dict(options)
    for key, value in overrides.items():
        spec = BY_KEY.get(key)
        if spec is None or spec.target[0] != analysis:
            continue
        head, _, leaf = spec.target[1].partition(".")
        if leaf:
            out[head] = {**(out.get(head) or {}), leaf: float(value)}
        else:
            out[head] = float(value)
    return out


def effective(config: Any) -> dict[str, float]:
    """Every threshold a run with ``config`` judges its checks by (defaults filled in)."""
    out: dict[str, float] = {}
    for spec in SPEC:
        where, name = spec.target
        if where == "config":
            out[spec.key] = float(getattr(config, name))
            continue
        opts = analysis_options(where, (config.analysis_options or {}).get(where, {}), config.threshold_overrides or {})
        head, _, leaf = name.partition(".")
        value = (opts.get(head) or {}).get(leaf) if leaf else opts.get(head)
        out[spec.key] = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else spec.default
    return out


# --------------------------------------------------------------------------- judging saved checks


def passes(rule: str, value: float, threshold: float) -> bool:
    if rule == "min":
        return value >= threshold
    if rule == "max":
        return value <= threshold
    return value < threshold


def _number(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(float(x)) else None


def split_name(name: str, models: Iterable[str]) -> tuple[str | None, str]:
    """``("baseline", "accuracy")`` from ``"baseline: accuracy"``; the longest model name that
    prefixes the check wins; ``(None, name)`` when no model does."""
    owners = [m for m in models if name.startswith(f"{m}: ")]
    if not owners:
        return None, name
    model = max(owners, key=len)
    return model, name[len(model) + 2:]


def specs_for(check_name: str) -> list[Threshold]:
    """The thresholds that judge a check (by the part of its name after the model)."""
    return [t for t in SPEC if re.fullmatch(t.checks, check_name)]


def _dig(node: Any, *keys: str) -> Any:
    for key in keys:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def _best_tpr_at_1pct(section: Mapping[str, Any]) -> float | None:
    attacks = _dig(section, "privacy_audit", "membership_inference", "attacks")
    best = None
    for attack in (attacks.values() if isinstance(attacks, Mapping) else []):
        rows = attack.get("tpr_at_fpr") if isinstance(attack, Mapping) else None
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, Mapping) and row.get("fpr") == 0.01 and _number(row.get("value")) is not None:
                best = max(_number(row["value"]), best if best is not None else -1.0)
    return best


def _saved_privacy_threshold(section: Mapping[str, Any], name: str, default: float) -> float:
    value = _number(_dig(section, "privacy_audit", "protocol", "thresholds", name))
    return default if value is None else value


def rejudge(results: Mapping[str, Any], overrides: Mapping[str, float]) -> tuple[list[dict[str, Any]], list[str]]:
    """Judge the saved checks of ``results`` (a results.json dict) again with ``overrides``.

    A check is re-judged from its stored value when an overridden threshold judges it and can be
    re-applied; an ``error`` check stays an error. Returns the checks (plain dicts, re-judged ones
    with the new threshold and a note in their message) and notes on every override that could
    not be applied.
    """
    models = results.get("models") if isinstance(results.get("models"), Mapping) else {}
    notes: list[str] = []
    used: set[str] = set()
    out: list[dict[str, Any]] = []
    for saved in results.get("checks") or []:
        check = dict(saved)
        model, short = split_name(str(check.get("name", "")), models)
        given = [t for t in specs_for(short) if t.key in overrides] if model is not None else []
        for spec in given:
            used.add(spec.key)
        judged = [t for t in given if t.rejudge]
        section = models.get(model) if isinstance(models.get(model), Mapping) else {}
        if judged and check.get("status") != "error":
            check = _rejudge_one(check, judged, overrides, section, notes)
        out.append(check)
    for key in overrides:
        spec = BY_KEY[key]
        if not spec.rejudge:
            notes.append(f"{key}: changes what the audit measures, so it applies when an audit runs and cannot be "
                         "re-applied to saved results")
        elif key not in used:
            notes.append(f"{key}: no saved check is judged by it")
    return out, notes


def _rejudge_one(check: dict[str, Any], specs: list[Threshold], overrides: Mapping[str, float],
                 section: Mapping[str, Any], notes: list[str]) -> dict[str, Any]:
    value = _number(check.get("value"))
    keys = ", ".join(t.key for t in specs)
    if value is None:
        notes.append(f"{check['name']}: the saved check has no value to judge against {keys}; kept as {check['status']}")
        return check
    primary = specs[0]
    if primary.key == "privacy.max_auc" or primary.key == "privacy.max_tpr_at_1pct_fpr":
        status, threshold, text = _rejudge_membership(check, value, overrides, section, notes)
    else:
        threshold = float(overrides[primary.key])
        status = "pass" if passes(primary.rule, value, threshold) else primary.breach
        text = f"{primary.key} = {threshold:g}"
    old = check.get("status")
    note = f" [re-judged against {text}: {status}" + ("" if status == old else f", saved as {old}") + "]"
    return {**check, "status": status, "threshold": threshold, "message": f"{check.get('message', '')}{note}"}


def _rejudge_membership(check: Mapping[str, Any], auc: float, overrides: Mapping[str, float],
                        section: Mapping[str, Any], notes: list[str]) -> tuple[str, float, str]:
    """The membership-inference check warns when the best AUC or the best TPR at 1% FPR is above
    its threshold; the TPR is read from the saved privacy section."""
    saved_auc = _number(check.get("threshold"))
    auc_t = float(overrides.get("privacy.max_auc", saved_auc if saved_auc is not None else BY_KEY["privacy.max_auc"].default))
    tpr_t = float(overrides.get("privacy.max_tpr_at_1pct_fpr",
                                _saved_privacy_threshold(section, "tpr_at_1pct_fpr", BY_KEY["privacy.max_tpr_at_1pct_fpr"].default)))
    tpr = _best_tpr_at_1pct(section)
    if tpr is None and "privacy.max_tpr_at_1pct_fpr" in overrides:
        notes.append(f"{check['name']}: the saved results hold no TPR at 1% FPR; privacy.max_tpr_at_1pct_fpr not applied")
    leaky = auc > auc_t or (tpr is not None and tpr > tpr_t)
    return ("warn" if leaky else "pass"), auc_t, f"privacy.max_auc = {auc_t:g}, privacy.max_tpr_at_1pct_fpr = {tpr_t:g}"


__all__ = ["BY_KEY", "SPEC", "Threshold", "analysis_options", "configure", "effective", "gather", "load",
           "parse_assignment", "passes", "rejudge", "specs_for", "split_name", "validate"]
