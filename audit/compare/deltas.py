"""Differences of the saved numbers of two models: metrics, faithfulness, robustness, leakage,
checks that changed status, and explanations of the same examples."""

from __future__ import annotations

import math
from typing import Any

#: Most pairs of explanations of the same example shown per model pair.
MAX_MATCHED_EXPLANATIONS = 6
#: Check statuses from best to worst (the order the audit report uses).
STATUS_RANK = {"pass": 0, "warn": 2, "error": 3, "fail": 4}


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _get(obj: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(obj, dict):
            obj = obj.get(key)
        elif isinstance(obj, list) and isinstance(key, int) and -len(obj) <= key < len(obj):
            obj = obj[key]
        else:
            return None
    return obj


def delta_row(key: str, label: str, a: Any, b: Any, better: str) -> dict[str, Any]:
    """One compared number: A, B, B - A, which direction is better and whether B moved that way."""
    fa, fb = _num(a), _num(b)
    delta = fb - fa if fa is not None and fb is not None else None
    change = None
    if delta is not None:
        if abs(delta) <= 1e-12:
            change = "same"
        else:
            change = "better" if (delta > 0) == (better == "higher") else "worse"
    return {"key": key, "label": label, "a": fa, "b": fb, "delta": delta, "better": better, "change": change}


SINGLE_LABEL_METRICS = (
    ("accuracy", "Accuracy", "higher"), ("f1_macro", "F1 (macro)", "higher"),
    ("precision_macro", "Precision (macro)", "higher"), ("recall_macro", "Recall (macro)", "higher"),
    ("roc_auc", "ROC-AUC", "higher"), ("ece", "Expected calibration error", "lower"),
)
MULTI_LABEL_METRICS = (
    ("f1_micro", "F1 (micro)", "higher"), ("subset_accuracy", "Subset accuracy", "higher"),
    ("hamming_loss", "Hamming loss", "lower"), ("f1_macro", "F1 (macro)", "higher"),
    ("roc_auc", "ROC-AUC", "higher"), ("ece", "Calibration error (mean over labels)", "lower"),
)


def performance_deltas(perf_a: dict[str, Any], perf_b: dict[str, Any]) -> list[dict[str, Any]]:
    multi = "multi_label" in (perf_a.get("problem_type"), perf_b.get("problem_type"))
    metrics = MULTI_LABEL_METRICS if multi else SINGLE_LABEL_METRICS
    rows = [delta_row(k, label, perf_a.get(k), perf_b.get(k), better) for k, label, better in metrics]
    return [r for r in rows if r["a"] is not None or r["b"] is not None]


def _applicable(section: Any) -> dict[str, Any] | None:
    return section if isinstance(section, dict) and section and not section.get("not_applicable") else None


def faithfulness_deltas(a: Any, b: Any) -> dict[str, Any] | None:
    """Per explanation method, each faithfulness metric's mean and each plausibility score."""
    a, b = _applicable(a), _applicable(b)
    if not (a and b):
        return None
    fa, fb = _get(a, "faithfulness") or {}, _get(b, "faithfulness") or {}
    metrics = {**(_get(fa, "metrics") or {}), **(_get(fb, "metrics") or {})}
    methods = [m for m in (_get(fa, "methods") or []) if m in (_get(fb, "methods") or [])]
    rows = []
    for method in methods:
        for key, info in metrics.items():
            better = info.get("better", "higher") if isinstance(info, dict) else "higher"
            label = info.get("label", key) if isinstance(info, dict) else key
            rows.append(delta_row(f"{method}.{key}", label, _get(fa, "summary", method, key, "mean"),
                                  _get(fb, "summary", method, key, "mean"), better) | {"method": method})
        for key, label in (("auprc", "Plausibility AUPRC"), ("token_f1", "Plausibility token F1")):
            row = delta_row(f"{method}.{key}", label, _get(a, "plausibility", "summary", method, key, "mean"),
                            _get(b, "plausibility", "summary", method, key, "mean"), "higher") | {"method": method}
            if row["a"] is not None or row["b"] is not None:
                rows.append(row)
    rows = [r for r in rows if r["a"] is not None or r["b"] is not None]
    recommended = {"a": _get(a, "recommendation", "method"), "b": _get(b, "recommendation", "method")}
    return {"rows": rows, "recommended": recommended} if rows else None


def robustness_deltas(a: Any, b: Any) -> list[dict[str, Any]] | None:
    """Invariance failure rates per test, attack success rates per budget, certified fractions."""
    a, b = _applicable(a), _applicable(b)
    if not (a and b):
        return None
    rows = []
    tests_a = {t.get("name"): t for t in (_get(a, "invariance", "tests") or []) if isinstance(t, dict)}
    tests_b = {t.get("name"): t for t in (_get(b, "invariance", "tests") or []) if isinstance(t, dict)}
    for name in [n for n in tests_a if n in tests_b]:
        rows.append(delta_row(f"invariance.{name}", f"Invariance failure rate: {name}", tests_a[name].get("fail_rate"),
                              tests_b[name].get("fail_rate"), "lower"))
    budgets_a = {x.get("k"): x for x in (_get(a, "char_attack", "budgets") or []) if isinstance(x, dict)}
    budgets_b = {x.get("k"): x for x in (_get(b, "char_attack", "budgets") or []) if isinstance(x, dict)}
    for k in [k for k in budgets_a if k in budgets_b]:
        rows.append(delta_row(f"char_attack.{k}", f"Character attack success rate (up to {k} edits)",
                              budgets_a[k].get("success_rate"), budgets_b[k].get("success_rate"), "lower"))
    rows.append(delta_row("word_attack.success_rate", "Word attack success rate", _get(a, "word_attack", "success_rate"),
                          _get(b, "word_attack", "success_rate"), "lower"))
    rows.append(delta_row("word_attack.accuracy_under_attack", "Accuracy under the word attack",
                          _get(a, "word_attack", "accuracy_under_attack"), _get(b, "word_attack", "accuracy_under_attack"),
                          "higher"))
    rows.append(delta_row("radius1.certified_fraction", "Certified at radius 1 (share of texts)",
                          _get(a, "radius1", "certified_fraction"), _get(b, "radius1", "certified_fraction"), "higher"))
    rows = [r for r in rows if r["a"] is not None or r["b"] is not None]
    return rows or None


def leakage_deltas(model_a: dict[str, Any], model_b: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Membership-inference AUC and TPR at low FPR, canary exposure, ε lower bound, claimed ε."""
    a, b = _applicable(model_a.get("privacy_audit")), _applicable(model_b.get("privacy_audit"))
    rows = []
    if a and b:
        def attack(sec: dict[str, Any]) -> dict[str, Any]:
            mi = _get(sec, "membership_inference") or {}
            return _get(mi, "attacks", mi.get("primary")) or {}

        aa, ab = attack(a), attack(b)
        rows.append(delta_row("membership.auc", "Membership inference ROC-AUC", _get(aa, "auc", "value"),
                              _get(ab, "auc", "value"), "lower"))
        tpr_b = {t.get("fpr"): t for t in (_get(ab, "tpr_at_fpr") or []) if isinstance(t, dict)}
        for t in (_get(aa, "tpr_at_fpr") or []):
            if isinstance(t, dict) and t.get("fpr") in tpr_b:
                rows.append(delta_row(f"membership.tpr@{t['fpr']}", f"Membership TPR at {_fmt_fpr(t['fpr'])} FPR",
                                      t.get("value"), tpr_b[t["fpr"]].get("value"), "lower"))
        rows.append(delta_row("membership.advantage", "Membership advantage (TPR - FPR, best threshold)",
                              aa.get("advantage"), ab.get("advantage"), "lower"))
        rows.append(delta_row("canaries.max_exposure", "Largest canary exposure (bits)", _get(a, "canaries", "max_exposure"),
                              _get(b, "canaries", "max_exposure"), "lower"))
        rows.append(delta_row("epsilon_lower_bound", "Empirical ε lower bound",
                              _get(a, "epsilon_lower_bound", "epsilon_lower_bound"),
                              _get(b, "epsilon_lower_bound", "epsilon_lower_bound"), "lower"))
    eps_a, eps_b = _get(model_a, "privacy_ledger", "epsilon"), _get(model_b, "privacy_ledger", "epsilon")
    if eps_a is not None or eps_b is not None:
        rows.append(delta_row("privacy_ledger.epsilon", "Claimed ε (DP-SGD ledger)", eps_a, eps_b, "lower"))
    rows = [r for r in rows if r["a"] is not None or r["b"] is not None]
    return rows or None


def _fmt_fpr(fpr: Any) -> str:
    f = _num(fpr)
    return f"{f * 100:g}%" if f is not None else str(fpr)


def _model_checks(results: dict[str, Any], model: str) -> dict[str, dict[str, Any]]:
    """The model's checks by name without the ``"<model>: "`` prefix, in their saved order."""
    prefix = f"{model}: "
    out: dict[str, dict[str, Any]] = {}
    for c in results.get("checks") or []:
        if isinstance(c, dict) and isinstance(c.get("name"), str) and c["name"].startswith(prefix):
            out.setdefault(c["name"][len(prefix):], c)
    return out


def check_changes(results_a: dict[str, Any], model_a: str, results_b: dict[str, Any], model_b: str) -> dict[str, Any]:
    """Checks whose status differs between A and B, regressions first (worst new status, then the
    largest step, e.g. pass→fail before warn→fail), then new failing checks, improvements,
    new passing checks and checks B no longer has."""
    ca, cb = _model_checks(results_a, model_a), _model_checks(results_b, model_b)
    changes, unchanged = [], 0
    for order, name in enumerate(list(ca) + [n for n in cb if n not in ca]):
        sa, sb = _get(ca, name, "status"), _get(cb, name, "status")
        ra, rb = STATUS_RANK.get(sa, 1), STATUS_RANK.get(sb, 1)
        if name in ca and name in cb:
            if sa == sb:
                unchanged += 1
                continue
            kind, group = ("regression", 0) if rb > ra else ("improvement", 2) if rb < ra else ("changed", 2)
        elif name in cb:
            kind, group = "new", (1 if rb > 0 else 3)
        else:
            kind, group = "removed", 4
        changes.append({
            "name": name, "kind": kind, "a_status": sa, "b_status": sb,
            "a_value": _get(ca, name, "value"), "b_value": _get(cb, name, "value"),
            "threshold": _get(cb, name, "threshold") if name in cb else _get(ca, name, "threshold"),
            "a_message": _get(ca, name, "message"), "b_message": _get(cb, name, "message"),
            "_key": (group, -rb, -(rb - ra), order) if group < 2 else (group, 0, 0, order),
        })
    changes.sort(key=lambda c: c.pop("_key"))
    return {"changes": changes, "unchanged": unchanged, "n_regressions": sum(c["kind"] == "regression" for c in changes)}


def matched_explanations(model_a: dict[str, Any], model_b: dict[str, Any],
                         limit: int = MAX_MATCHED_EXPLANATIONS) -> dict[str, Any] | None:
    """Explanations of the same example (same id and text) by both models, side by side."""
    ea, eb = model_a.get("explanations"), model_b.get("explanations")
    if not (isinstance(ea, dict) and isinstance(eb, dict)):
        return None

    def key(e: dict[str, Any]) -> tuple[str, str, Any]:
        return str(e.get("id")), str(e.get("text")), e.get("target")

    by_b: dict[tuple[str, str, Any], dict[str, Any]] = {}
    for e in eb.get("examples") or []:
        if isinstance(e, dict):
            by_b.setdefault(key(e), e)
    matched = [{"id": str(e.get("id")), "text": e.get("text"), "a": e, "b": by_b[key(e)]}
               for e in ea.get("examples") or [] if isinstance(e, dict) and key(e) in by_b]
    return {"methods_a": ea.get("methods") or [], "methods_b": eb.get("methods") or [],
            "config_a": ea.get("config") or {}, "config_b": eb.get("config") or {},
            "n_matched": len(matched), "pairs": matched[:limit]}
