"""Turn a comparison dict (compare.json, untrusted) into a plain view model for compare.html.j2.

Like the audit report's view: wrong types and missing keys degrade to "not available", strings
stay raw and the template escapes them. Example explanations reuse the report's heatmap rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._format import DASH, as_dict, as_finite, as_int, as_list, as_text, fmt_num, fmt_pct, fmt_value
from ._view import METHOD_TITLES, STATUS, _example, _legend

KINDS = {
    "regression": "Regression",
    "improvement": "Improvement",
    "changed": "Changed",
    "new": "New in B",
    "removed": "Only in A",
}


def build_compare_view(comparison: Mapping[str, Any]) -> dict[str, Any]:
    """Template context for a comparison."""
    inputs = [as_dict(x) for x in as_list(comparison.get("inputs")) if isinstance(x, Mapping)]
    pairs = [_pair(as_dict(p), i) for i, p in enumerate(as_list(comparison.get("pairs")), start=1) if isinstance(p, Mapping)]
    protocol = as_dict(comparison.get("protocol"))
    return {
        "created": as_text(comparison.get("created")),
        "version": fmt_value(comparison.get("comparison_version")),
        "inputs": [
            {
                "label": as_text(x.get("label")),
                "path": as_text(x.get("path")),
                "created": as_text(x.get("created")) or DASH,
                "data_sha256": as_text(x.get("data_sha256")) or "not recorded",
                "models": [as_text(m) for m in as_list(x.get("models"))],
            }
            for x in inputs
        ],
        "notes": [as_text(n) for n in as_list(comparison.get("notes")) if n is not None],
        "pairs": pairs,
        "different_data": any(not p["same_data"] for p in pairs),
        "ci_level": fmt_pct(as_finite(protocol.get("ci_level")), 0) if as_finite(protocol.get("ci_level")) else "95%",
        "legend": _legend(),
        "has_explanations": any(p["explanations"] and p["explanations"]["pairs"] for p in pairs),
    }


def _status(value: Any) -> dict[str, str]:
    raw = as_text(value).strip().lower()
    if not raw:
        return {"status": "unknown", "label": "absent", "symbol": DASH}
    css, label, symbol = STATUS.get(raw, ("unknown", as_text(value), "?"))
    return {"status": css, "label": label, "symbol": symbol}


def fmt_delta(value: Any, digits: int = 3) -> str:
    """A signed difference (B - A), with a true minus sign."""
    f = as_finite(value)
    if f is None:
        return DASH
    if f == 0:
        return f"{0:.{digits}f}"
    text = f"{abs(f):.{digits}f}" if abs(f) >= 10 ** -digits else f"{abs(f):.2e}"
    return ("+" if f > 0 else "\u2212") + text


def _delta_rows(rows: Any) -> list[dict[str, Any]]:
    out = []
    for r in (as_dict(x) for x in as_list(rows)):
        change = as_text(r.get("change"))
        out.append({
            "label": as_text(r.get("label")) or as_text(r.get("key")),
            "method": METHOD_TITLES.get(as_text(r.get("method")), as_text(r.get("method"))),
            "a": fmt_num(as_finite(r.get("a"))),
            "b": fmt_num(as_finite(r.get("b"))),
            "delta": fmt_delta(r.get("delta")),
            "better": "higher is better" if as_text(r.get("better")) == "higher" else "lower is better",
            "change": change if change in ("better", "worse", "same") else "",
        })
    return out


def _side_rows(side: dict[str, Any]) -> list[tuple[str, str, bool]]:
    identity = as_dict(side.get("identity"))
    return [
        ("Results file", as_text(side.get("path")), True),
        ("Model", as_text(side.get("model")), True),
        ("Model source", as_text(identity.get("source")), False),
        ("Model SHA-256", as_text(identity.get("sha256")), True),
        ("Architecture", as_text(identity.get("architecture")), True),
        ("Evaluation data SHA-256", as_text(side.get("data_sha256")) or "not recorded", True),
        ("Evaluated examples", fmt_num(as_int(side.get("n_eval"))), False),
        ("Privacy budget \u03b5", fmt_num(as_finite(side.get("epsilon"))) if side.get("epsilon") is not None else "", False),
        ("Audit created", as_text(side.get("created")), False),
    ]


def _identity(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Identity rows with A and B side by side; rows empty on both sides are left out."""
    rows = []
    for (label, va, code), (_, vb, _) in zip(_side_rows(a), _side_rows(b)):
        if va or vb:
            rows.append({"label": label, "a": va or DASH, "b": vb or DASH, "code": code, "differs": va != vb})
    return rows


def _ref(side: dict[str, Any]) -> str:
    return f"{as_text(side.get('file'))}:{as_text(side.get('model'))}"


def _paired(p: dict[str, Any]) -> dict[str, Any]:
    if p.get("skipped") is not None or not p:
        return {"skipped": as_text(p.get("skipped")) or "no per-example outcomes"}
    ci = [as_finite(x) for x in as_list(p.get("ci"))]
    lo, hi = (ci + [None, None])[:2]
    level = as_finite(p.get("ci_level"))
    pval = as_finite(p.get("mcnemar_p"))
    f1 = as_dict(p.get("f1_macro"))
    f1_ci = [as_finite(x) for x in as_list(f1.get("ci"))]
    metric = "Subset accuracy" if as_text(p.get("metric")) == "subset_accuracy" else "Accuracy"
    excludes_zero = lo is not None and hi is not None and not (lo <= 0 <= hi)
    return {
        "skipped": None,
        "metric": metric,
        "n": fmt_num(as_int(p.get("n"))),
        "table": {k: fmt_num(as_int(p.get(k))) for k in ("both_correct", "only_a_correct", "only_b_correct", "neither_correct")},
        "a": fmt_num(as_finite(p.get("a"))),
        "b": fmt_num(as_finite(p.get("b"))),
        "difference": fmt_delta(p.get("difference")),
        "ci": f"{fmt_delta(lo)} to {fmt_delta(hi)}" if lo is not None and hi is not None else DASH,
        "level": fmt_pct(level, 0) if level is not None else "95%",
        "p": _fmt_p(pval),
        "interval": as_text(p.get("interval")),
        "test": as_text(p.get("test")),
        "verdict": _verdict(as_finite(p.get("difference")), excludes_zero),
        "f1": {
            "a": fmt_num(as_finite(f1.get("a"))),
            "b": fmt_num(as_finite(f1.get("b"))),
            "difference": fmt_delta(f1.get("difference")),
            "ci": f"{fmt_delta(f1_ci[0])} to {fmt_delta(f1_ci[1])}" if len(f1_ci) == 2 and None not in f1_ci else DASH,
            "method": as_text(f1.get("method")),
        } if f1 else None,
    }


def _fmt_p(p: float | None) -> str:
    if p is None:
        return DASH
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.4f}" if p < 0.01 else f"p = {p:.3f}"


def _verdict(diff: float | None, excludes_zero: bool) -> str:
    if diff is None:
        return ""
    if not excludes_zero:
        return "The interval includes 0: no difference is shown on these examples."
    return f"B is {'more' if diff > 0 else 'less'} accurate than A on these examples (the interval excludes 0)."


def _checks(c: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for ch in (as_dict(x) for x in as_list(c.get("changes"))):
        kind = as_text(ch.get("kind"))
        rows.append({
            "name": as_text(ch.get("name")),
            "kind": kind,
            "kind_label": KINDS.get(kind, kind),
            "regression": kind == "regression",
            "a": _status(ch.get("a_status")),
            "b": _status(ch.get("b_status")),
            "a_value": fmt_num(ch.get("a_value")) if ch.get("a_status") is not None else DASH,
            "b_value": fmt_num(ch.get("b_value")) if ch.get("b_status") is not None else DASH,
            "message": as_text(ch.get("b_message")) or as_text(ch.get("a_message")),
        })
    return {"rows": rows, "unchanged": fmt_num(as_int(c.get("unchanged"))),
            "n_regressions": sum(1 for r in rows if r["regression"])}


def _explanations(x: dict[str, Any], labels_a: list[str], labels_b: list[str]) -> dict[str, Any] | None:
    if not x:
        return None
    pairs = []
    for p in (as_dict(y) for y in as_list(x.get("pairs"))):
        a, b = as_dict(p.get("a")), as_dict(p.get("b"))
        pairs.append({
            "id": as_text(p.get("id")),
            "a": _example(a, [as_text(m) for m in as_list(x.get("methods_a"))], labels_a,
                          as_finite(as_dict(as_dict(x.get("config_a")).get("integrated_gradients")).get("tolerance"))),
            "b": _example(b, [as_text(m) for m in as_list(x.get("methods_b"))], labels_b,
                          as_finite(as_dict(as_dict(x.get("config_b")).get("integrated_gradients")).get("tolerance"))),
        })
    return {"n_matched": fmt_num(as_int(x.get("n_matched"))), "pairs": pairs}


def _label_names(side: Any) -> list[str]:
    return [as_text(x) for x in as_list(as_dict(side).get("label_names"))]


def _pair(p: dict[str, Any], index: int) -> dict[str, Any]:
    data = as_dict(p.get("data"))
    faith = as_dict(p.get("faithfulness"))
    recommended = as_dict(faith.get("recommended"))
    return {
        "anchor": f"pair-{index}",
        "title": as_text(p.get("title")) or f"Pair {index}",
        "a_ref": _ref(as_dict(p.get("a"))),
        "b_ref": _ref(as_dict(p.get("b"))),
        "identity": _identity(as_dict(p.get("a")), as_dict(p.get("b"))),
        "same_model": p.get("same_model") is True,
        "same_data": data.get("same") is True,
        "data_note": as_text(data.get("note")),
        "performance": _delta_rows(p.get("performance")),
        "paired": _paired(as_dict(p.get("paired"))),
        "checks": _checks(as_dict(p.get("checks"))),
        "faithfulness": _delta_rows(faith.get("rows")) if faith else [],
        "recommended": {k: METHOD_TITLES.get(as_text(v), as_text(v)) for k, v in recommended.items() if v},
        "robustness": _delta_rows(p.get("robustness")),
        "leakage": _delta_rows(p.get("leakage")),
        "explanations": _explanations(as_dict(p.get("explanations")), _label_names(p.get("a")), _label_names(p.get("b"))),
    }

