"""Turn a results dict (untrusted, possibly partial) into a plain view model for the templates.

Everything here is defensive: wrong types, missing keys and non-finite numbers degrade to
"not available" rather than raising. Strings stay raw; the templates escape them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from . import _colour
from ._sections import build_sections
from ._format import (
    as_dict,
    as_finite,
    as_float,
    as_int,
    as_list,
    as_text,
    fmt_num,
    fmt_pct,
    fmt_score,
    fmt_seconds,
    fmt_value,
    shorten,
    to_json,
)
from ._view_timings import stage_rows

MAX_EXAMPLES = 12
MAX_TOKENS = 512
MAX_CLASSES = 50
MAX_TREE_DEPTH = 6

CATEGORY_TITLES = {
    "most_confident_correct": "Most confident, correct",
    "misclassified": "Misclassified",
    "least_confident": "Least confident",
}
METHOD_TITLES = {
    "integrated_gradients": "Integrated gradients",
    "attention_rollout": "Attention rollout",
    "shap": "SHAP (partition)",
    "occlusion": "Leave-one-out occlusion",
    "gradient_x_input": "Gradient \u00d7 input",
}
STATUS = {
    "pass": ("pass", "Pass", "\u2713"),
    "warn": ("warn", "Warning", "!"),
    "fail": ("fail", "Fail", "\u2717"),
    "error": ("error", "Error", "\u26a0"),
}
STATUS_RANK = {"pass": 0, "unknown": 1, "warn": 2, "error": 3, "fail": 4}
ROC_KINDS = {"binary": "binary", "macro_ovr": "macro one-vs-rest", "macro_per_label": "mean over labels"}
Row = dict[str, Any]


def build_view(results: Mapping[str, Any]) -> dict[str, Any]:
    """Build the template context from a results dict."""
    run = as_dict(results.get("run"))
    data = as_dict(results.get("data"))
    data_labels = [as_text(x) for x in as_list(data.get("label_names"))]
    models = [
        _model(str(name), i, as_dict(entry), data_labels)
        for i, (name, entry) in enumerate(as_dict(results.get("models")).items(), start=1)
    ]
    checks = [_check(as_dict(c)) for c in as_list(results.get("checks")) if isinstance(c, Mapping)]
    return {
        "schema_version": fmt_value(results.get("schema_version")),
        "run": _run(run),
        "data": _data(data),
        "models": models,
        "checks": checks,
        "overall": _overall(checks),
        "check_counts": _check_counts(checks),
        "has_training": any(m["training"] for m in models),
        "has_performance": any(m["performance"] for m in models),
        "has_multi_label": any(m["multi_label"] for m in models),
        "has_explanations": any(m["explanations"] for m in models),
        "limitations": [as_text(x) for x in as_list(results.get("limitations")) if x is not None],
        "legend": _legend(),
        "sections": build_sections(results),
    }


def tree(value: Any, depth: int = 0) -> dict[str, Any]:
    """A nested node structure for rendering a config as definition lists."""
    if depth >= MAX_TREE_DEPTH and isinstance(value, (Mapping, list, tuple)):
        return {"kind": "json", "text": to_json(value)}
    if isinstance(value, Mapping):
        if not value:
            return {"kind": "scalar", "text": "{}"}
        return {"kind": "map", "items": [(str(k), tree(v, depth + 1)) for k, v in value.items()]}
    if isinstance(value, (list, tuple)) and any(isinstance(v, (Mapping, list, tuple)) for v in value):
        return {"kind": "list", "items": [tree(v, depth + 1) for v in value]}
    if isinstance(value, bool) or value is None:
        return {"kind": "scalar", "text": json_literal(value)}
    return {"kind": "scalar", "text": fmt_value(value)}


def json_literal(value: bool | None) -> str:
    """``true``, ``false`` or ``null``, as written in the JSON."""
    return "null" if value is None else ("true" if value else "false")


def _display(value: Any) -> str:
    return fmt_num(value) if isinstance(value, int) and not isinstance(value, bool) else fmt_value(value)


def _rows(pairs: list[tuple[str, Any, bool]]) -> list[Row]:
    return [{"label": label, "value": value, "code": code} for label, value, code in pairs]


def _kv_table(value: Any, fmt: Callable[[Any], str] = fmt_value) -> list[tuple[str, str]]:
    return [(k, fmt(v)) for k, v in as_dict(value).items()]


def _run(run: dict[str, Any]) -> dict[str, Any]:
    rows = _rows(
        [
            ("Created", as_text(run.get("created")) or None, False),
            ("Command", as_text(run.get("command")) or None, True),
            ("Platform", as_text(run.get("platform")) or None, False),
            ("Device", as_text(run.get("device")) or None, False),
            ("Seed", fmt_value(run.get("seed")) if "seed" in run else None, False),
            ("Wall time", fmt_seconds(run.get("wall_time_s")) if "wall_time_s" in run else None, False),
        ]
    )
    config = run.get("config")
    return {
        "rows": [r for r in rows if r["value"] is not None],
        "created": as_text(run.get("created")),
        "versions": _kv_table(run.get("versions")),
        "timings": stage_rows(run),
        "config": tree(config) if isinstance(config, Mapping) and config else None,
    }


def _data(data: dict[str, Any]) -> dict[str, Any]:
    pairs: list[tuple[str, Any, bool]] = [
        ("Source", data.get("source"), False),
        ("SHA-256", data.get("sha256"), True),
        ("Rows", data.get("n_rows"), False),
        ("Skipped rows", data.get("skipped_rows"), False),
        ("Text column", data.get("text_column"), True),
        ("Label column", data.get("label_column"), True),
        ("Label names", data.get("label_names"), False),
    ]
    if data.get("multi_label") is True:
        pairs += [
            ("Labels per text", "several (multi-label)", False),
            ("Rows without a label", data.get("rows_without_label"), False),
            ("Mean labels per row", fmt_num(as_float(data.get("mean_labels_per_row")), 2), False),
        ]
    rows = _rows([(k, _display(v), c) for k, v, c in pairs if v is not None])
    return {
        "present": bool(data),
        "rows": rows,
        "label_counts": _kv_table(data.get("label_counts"), fmt_num),
        "splits": _kv_table(data.get("splits"), fmt_num),
    }


def _model(name: str, index: int, entry: dict[str, Any], data_labels: list[str]) -> dict[str, Any]:
    identity = as_dict(entry.get("identity"))
    perf = as_dict(entry.get("performance"))
    labels = (
        [as_text(x) for x in as_list(perf.get("label_names"))]
        or [as_text(x) for x in as_list(identity.get("label_names"))]
        or data_labels
    )
    known = {
        "source": ("Source", False),
        "sha256": ("SHA-256", True),
        "architecture": ("Architecture", True),
        "model_type": ("Model type", True),
        "n_parameters": ("Parameters", False),
        "num_labels": ("Labels", False),
        "label_names": ("Label names", False),
        "problem_type": ("Problem type", True),
    }
    pairs = [(label, identity[key], code) for key, (label, code) in known.items() if key in identity]
    pairs += [(key, value, False) for key, value in identity.items() if key not in known]
    rows = _rows([(k, _display(v), c) for k, v, c in pairs])
    return {
        "name": name,
        "anchor": f"model-{index}",
        "identity": rows,
        "headline": _headline(perf),
        "multi_label": _is_multi_label(perf),
        "training": _training(as_dict(entry.get("training"))),
        "performance": _performance(perf, labels) if perf else None,
        "explanations": _explanations(as_dict(entry.get("explanations")), labels),
        "truncation": _truncation(as_dict(entry.get("truncation"))),
    }


def _truncation(t: dict[str, Any]) -> dict[str, Any] | None:
    """How many evaluation texts were longer than the model's input, and how much text it never saw."""
    n, total, limit = as_int(t.get("n_truncated")), as_int(t.get("n_texts")), as_int(t.get("max_length"))
    if n is None or total is None or limit is None:
        return None
    return {
        "n": fmt_num(n),
        "any": n > 0,
        "total": fmt_num(total),
        "max_length": fmt_num(limit),
        "fraction": fmt_pct(as_float(t.get("fraction_truncated")), 1),
        "fraction_chars": fmt_pct(as_float(t.get("fraction_chars_cut")), 1),
        "chars": fmt_num(as_int(t.get("chars_cut"))),
        "tokens": fmt_num(as_int(t.get("tokens_cut"))),
        "median_tokens": fmt_num(as_float(t.get("median_tokens"))),
        "max_tokens": fmt_num(as_int(t.get("max_tokens"))),
    }


def _is_multi_label(perf: dict[str, Any]) -> bool:
    return as_text(perf.get("problem_type")) == "multi_label"


def _headline(perf: dict[str, Any]) -> dict[str, str]:
    multi = _is_multi_label(perf)
    return {
        "accuracy": fmt_num(as_float(perf.get("subset_accuracy" if multi else "accuracy"))),
        "note": "subset" if multi else "",
        "f1_macro": fmt_num(as_float(perf.get("f1_macro"))),
        "roc_auc": fmt_num(as_float(perf.get("roc_auc"))),
        "ece": fmt_num(as_float(perf.get("ece"))),
        "n": fmt_num(as_int(perf.get("n"))),
    }


def _check(check: dict[str, Any]) -> dict[str, Any]:
    raw = as_text(check.get("status")).strip().lower()
    css, label, symbol = STATUS.get(raw, ("unknown", as_text(check.get("status")) or "Unknown", "?"))
    return {
        "name": as_text(check.get("name")),
        "status": css,
        "label": label,
        "symbol": symbol,
        "value": fmt_num(check.get("value")),
        "threshold": fmt_num(check.get("threshold")),
        "message": as_text(check.get("message")),
    }


def _overall(checks: list[dict[str, Any]]) -> dict[str, str] | None:
    if not checks:
        return None
    worst = max(checks, key=lambda c: STATUS_RANK.get(c["status"], 1))["status"]
    css, label, symbol = STATUS.get(worst, ("unknown", "Unknown", "?"))
    return {"status": css, "label": label, "symbol": symbol}


def _check_counts(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    counts = []
    for key, (css, label, symbol) in STATUS.items():
        n = sum(1 for c in checks if c["status"] == key)
        if n:
            counts.append({"status": css, "label": label, "symbol": symbol, "n": n})
    unknown = sum(1 for c in checks if c["status"] == "unknown")
    if unknown:
        counts.append({"status": "unknown", "label": "Unknown", "symbol": "?", "n": unknown})
    return counts


def _training(training: dict[str, Any]) -> dict[str, Any] | None:
    if not training:
        return None
    epochs = [as_dict(e) for e in as_list(training.get("epochs")) if isinstance(e, Mapping)]
    metric_keys: list[str] = []
    for e in epochs:
        for k in as_dict(e.get("eval")):
            if k not in metric_keys:
                metric_keys.append(k)
    rows = [
        {
            "epoch": fmt_value(e.get("epoch")),
            "train_loss": fmt_num(as_float(e.get("train_loss")), 4),
            "seconds": fmt_seconds(e.get("seconds")),
            "metrics": [fmt_num(as_float(as_dict(e.get("eval")).get(k))) for k in metric_keys],
        }
        for e in epochs
    ]
    pairs = [
        ("Seed", fmt_value(training.get("seed")) if "seed" in training else None, False),
        ("Training rows", training.get("n_train"), False),
        ("Evaluation rows", training.get("n_eval"), False),
        ("Data SHA-256", training.get("data_sha256"), True),
        ("Checkpoint", training.get("checkpoint"), True),
    ]
    info = _rows([(k, _display(v), c) for k, v, c in pairs if v is not None])
    anon = as_dict(as_dict(training.get("config")).get("anonymisation"))
    if anon:
        counts = ", ".join(f"{fmt_num(as_int(n))} {as_text(t)}" for t, n in as_dict(anon.get("replacements")).items())
        info.append({"label": "Anonymised before training",
                     "value": f"{as_text(anon.get('mode')) or 'yes'} mode: {counts or 'nothing found'}", "code": False})
    if training.get("wall_time_s") is not None:
        info.append({"label": "Wall time", "value": fmt_seconds(training.get("wall_time_s")), "code": False})
    config = training.get("config")
    return {
        "info": info,
        "metric_keys": metric_keys,
        "epochs": rows,
        "config": tree(config) if isinstance(config, Mapping) and config else None,
    }


def _label(index: Any, labels: list[str]) -> str:
    i = as_int(index)
    if i is not None and 0 <= i < len(labels):
        return labels[i]
    return fmt_value(index)


def _multi_label_performance(perf: dict[str, Any]) -> dict[str, Any]:
    kind = as_text(perf.get("roc_auc_kind"))
    bins = as_int(perf.get("ece_bins"))
    threshold = as_finite(perf.get("threshold"))
    metrics = [
        ("Subset accuracy", perf.get("subset_accuracy"), "exact label set"),
        ("Hamming loss", perf.get("hamming_loss"), "share of wrong text-label decisions"),
        ("Precision (micro)", perf.get("precision_micro"), ""),
        ("Recall (micro)", perf.get("recall_micro"), ""),
        ("F1 (micro)", perf.get("f1_micro"), "headline"),
        ("Precision (macro)", perf.get("precision_macro"), ""),
        ("Recall (macro)", perf.get("recall_macro"), ""),
        ("F1 (macro)", perf.get("f1_macro"), ""),
        ("ROC-AUC", perf.get("roc_auc"), ROC_KINDS.get(kind, kind)),
        ("Calibration error", perf.get("ece"), "mean over labels" + (f", {bins} bins" if bins is not None else "")),
    ]
    rows = [
        [
            fmt_num(as_float(c.get("precision"))),
            fmt_num(as_float(c.get("recall"))),
            fmt_num(as_float(c.get("f1"))),
            fmt_num(as_int(c.get("support"))),
            fmt_num(as_int(c.get("predicted"))),
            fmt_num(as_float(c.get("roc_auc"))),
            fmt_num(as_float(c.get("ece"))),
        ]
        for c in (as_dict(x) for x in as_list(perf.get("per_label")))
    ]
    names = [as_text(as_dict(x).get("label")) for x in as_list(perf.get("per_label"))]
    return {
        "split": as_text(perf.get("split")),
        "n": fmt_num(as_int(perf.get("n"))) if perf.get("n") is not None else "",
        "multi_label": True,
        "threshold": fmt_num(threshold, 2) if threshold is not None else "",
        "metrics": [
            {"label": label, "value": fmt_num(as_float(v)), "note": note} for label, v, note in metrics if v is not None
        ],
        "per_class_title": "Per label",
        "per_class_columns": ["Precision", "Recall", "F1", "Support", "Predicted", "ROC-AUC", "Calibration error"],
        "per_class": [{"label": n, "cells": r} for n, r in zip(names, rows)],
        "confusion": None,
        "reliability": None,
    }


def _label_set(value: Any, labels: list[str]) -> str:
    """A label name, or for a multi-label example the names of its labels ("none" when empty)."""
    if isinstance(value, list):
        return ", ".join(_label(x, labels) for x in value) or "none"
    return _label(value, labels)


def _performance(perf: dict[str, Any], labels: list[str]) -> dict[str, Any]:
    if _is_multi_label(perf):
        return _multi_label_performance(perf)
    kind = as_text(perf.get("roc_auc_kind"))
    bins = as_int(perf.get("ece_bins"))
    metrics = [
        ("Accuracy", perf.get("accuracy"), ""),
        ("Precision (macro)", perf.get("precision_macro"), ""),
        ("Recall (macro)", perf.get("recall_macro"), ""),
        ("F1 (macro)", perf.get("f1_macro"), ""),
        ("ROC-AUC", perf.get("roc_auc"), ROC_KINDS.get(kind, kind)),
        ("Expected calibration error", perf.get("ece"), f"{bins} bins" if bins is not None else ""),
    ]
    classes = [as_dict(x) for x in as_list(perf.get("per_class"))]
    with_auc = any("roc_auc" in c for c in classes)
    per_class = [
        {
            "label": as_text(c.get("label")),
            "cells": [
                fmt_num(as_float(c.get("precision"))),
                fmt_num(as_float(c.get("recall"))),
                fmt_num(as_float(c.get("f1"))),
                fmt_num(as_int(c.get("support"))),
            ]
            + ([fmt_num(as_float(c.get("roc_auc")))] if with_auc else []),
        }
        for c in classes
    ]
    return {
        "split": as_text(perf.get("split")),
        "n": fmt_num(as_int(perf.get("n"))) if perf.get("n") is not None else "",
        "multi_label": False,
        "threshold": "",
        "per_class_title": "Per class",
        "per_class_columns": ["Precision", "Recall", "F1", "Support"] + (["ROC-AUC (one-vs-rest)"] if with_auc else []),
        "metrics": [
            {"label": label, "value": fmt_num(as_float(v)), "note": note}
            for label, v, note in metrics
            if v is not None
        ],
        "per_class": per_class,
        "confusion": _confusion(perf.get("confusion_matrix"), labels),
        "reliability": _reliability(perf.get("reliability")),
    }


def _confusion(matrix: Any, labels: list[str]) -> dict[str, Any] | None:
    rows = [as_list(r) for r in as_list(matrix)]
    if not rows or not any(rows):
        return None
    truncated = len(rows) > MAX_CLASSES or any(len(r) > MAX_CLASSES for r in rows)
    rows = [r[:MAX_CLASSES] for r in rows[:MAX_CLASSES]]
    n_cols = max(len(r) for r in rows)
    names = labels if len(labels) >= max(len(rows), n_cols) else []

    def name(i: int) -> str:
        return names[i] if names else f"class {i}"

    out = []
    for i, r in enumerate(rows):
        counts = [as_finite(v) for v in r] + [None] * (n_cols - len(r))
        total = sum(c for c in counts if c is not None and c > 0)
        cells = []
        for c in counts:
            share = (c / total) if (c is not None and total > 0 and c > 0) else 0.0
            cells.append(
                {
                    "count": fmt_num(int(c) if c is not None and c.is_integer() else c),
                    "share": fmt_pct(share, 0) if c is not None else "",
                    "colour": _colour.sequential(share),
                    "dark": _colour.is_dark(share),
                }
            )
        out.append({"label": name(i), "cells": cells, "total": fmt_num(int(total) if float(total).is_integer() else total)})
    return {"columns": [name(j) for j in range(n_cols)], "rows": out, "truncated": truncated}


def _reliability(bins: Any) -> dict[str, Any] | None:
    parsed = []
    for b in (as_dict(x) for x in as_list(bins)):
        lo, hi = as_finite(b.get("lower")), as_finite(b.get("upper"))
        if lo is None or hi is None:
            continue
        parsed.append(
            (
                max(0.0, min(1.0, lo)),
                max(0.0, min(1.0, hi)),
                as_finite(b.get("accuracy")),
                as_finite(b.get("confidence")),
                as_int(b.get("count")),
            )
        )
    if not parsed:
        return None
    width, height = 360.0, 300.0
    left, right, top, bottom = 48.0, 12.0, 12.0, 40.0
    pw, ph = width - left - right, height - top - bottom
    # Confidence of the predicted class is at least 1/k, so start the x axis at a quarter
    # below the lowest bin (0.5 for binary) rather than waste half of the plot.
    x_min = min(0.5, math.floor(min(lo for lo, *_ in parsed) * 4) / 4)

    def x(v: float) -> float:
        return left + (max(v, x_min) - x_min) / (1 - x_min) * pw

    def y(v: float) -> float:
        return top + (1 - v) * ph

    bars, table = [], []
    for lo, hi, acc, conf, count in parsed:
        table.append(
            {
                "range": f"{lo:.3f}\u2013{hi:.3f}",
                "confidence": fmt_num(conf),
                "accuracy": fmt_num(acc),
                "count": fmt_num(count),
            }
        )
        if acc is None or hi <= lo or hi <= x_min or (count is not None and count <= 0):
            continue
        acc = max(0.0, min(1.0, acc))
        bars.append(
            {
                "x": f"{x(lo):.1f}",
                "y": f"{y(acc):.1f}",
                "w": f"{max(0.5, x(hi) - x(lo) - 1):.1f}",
                "h": f"{acc * ph:.1f}",
                "title": f"confidence {lo:.2f}\u2013{hi:.2f}: accuracy {acc:.2f}"
                + (f", n = {count}" if count is not None else ""),
            }
        )
    xticks = [x_min + (1 - x_min) * i / 4 for i in range(5)]
    return {
        "width": f"{width:.0f}",
        "height": f"{height:.0f}",
        "x0": f"{left:.1f}",
        "x1": f"{left + pw:.1f}",
        "y0": f"{top + ph:.1f}",
        "y1": f"{top:.1f}",
        "pw": f"{pw:.1f}",
        "ph": f"{ph:.1f}",
        "ytick_x": f"{left - 6:.1f}",
        "xtick_y": f"{top + ph + 16:.1f}",
        "xmid": f"{left + pw / 2:.1f}",
        "ymid": f"{top + ph / 2:.1f}",
        "xlabel_y": f"{height - 6:.1f}",
        "diag_y0": f"{y(x_min):.1f}",
        "xticks": [{"v": _tick(t), "x": f"{x(t):.1f}"} for t in xticks],
        "yticks": [{"v": _tick(t), "y": f"{y(t):.1f}"} for t in (0.0, 0.25, 0.5, 0.75, 1.0)],
        "bars": bars,
        "table": table,
    }


def _tick(v: float) -> str:
    return f"{v:.3g}" if v not in (0.0, 1.0) else f"{v:.0f}"


def _explanations(expl: dict[str, Any], labels: list[str]) -> dict[str, Any] | None:
    examples = [as_dict(e) for e in as_list(expl.get("examples")) if isinstance(e, Mapping)]
    config = as_dict(expl.get("config"))
    summary = as_dict(expl.get("summary"))
    if not (examples or config or summary):
        return None
    methods = [as_text(m) for m in as_list(expl.get("methods"))]
    ig_tol = as_finite(as_dict(config.get("integrated_gradients")).get("tolerance"))
    chosen = _select(examples)
    groups: list[dict[str, Any]] = []
    for category in _category_order(chosen):
        items = [_example(e, methods, labels, ig_tol) for e in chosen if as_text(e.get("category")) == category]
        groups.append({"title": CATEGORY_TITLES.get(category, category or "Other"), "examples": items})
    return {
        "methods": [METHOD_TITLES.get(m, m) for m in methods],
        "config": [
            {"title": METHOD_TITLES.get(k, k), "rows": _kv_table(v)} for k, v in config.items() if as_dict(v)
        ],
        "summary": [
            {
                "title": METHOD_TITLES.get(k, k),
                "n": fmt_num(as_int(s.get("n"))),
                "n_flagged": fmt_num(as_int(s.get("n_flagged"))),
                "median": fmt_pct(s.get("median_relative_error"), 2),
                "max": fmt_pct(s.get("max_relative_error"), 2),
            }
            for k, s in ((k, as_dict(v)) for k, v in summary.items())
            if s
        ],
        "groups": groups,
        "n_total": len(examples),
        "n_shown": len(chosen),
    }


def _category_order(examples: list[dict[str, Any]]) -> list[str]:
    seen = [as_text(e.get("category")) for e in examples]
    known = [c for c in CATEGORY_TITLES if c in seen]
    return known + [c for c in dict.fromkeys(seen) if c not in CATEGORY_TITLES]


def _select(examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Up to MAX_EXAMPLES examples, taken round-robin across categories, in their original order."""
    if len(examples) <= MAX_EXAMPLES:
        return examples
    by_cat: dict[str, list[int]] = {}
    for i, e in enumerate(examples):
        by_cat.setdefault(as_text(e.get("category")), []).append(i)
    picked: list[int] = []
    queues = [list(v) for v in by_cat.values()]
    while len(picked) < MAX_EXAMPLES and any(queues):
        for q in queues:
            if q and len(picked) < MAX_EXAMPLES:
                picked.append(q.pop(0))
    return [examples[i] for i in sorted(picked)]


def _offsets(text: str, words: list[dict[str, Any]]) -> list[tuple[int, int]] | None:
    """Validated, ordered, non-overlapping word offsets, or None when they do not fit the text."""
    out: list[tuple[int, int]] = []
    pos = 0
    for w in words:
        start, end = as_int(w.get("start")), as_int(w.get("end"))
        if start is None or end is None or start < pos or end < start or end > len(text):
            return None
        out.append((start, end))
        pos = end
    return out


def _example(
    ex: dict[str, Any], methods: list[str], labels: list[str], ig_tol: float | None
) -> dict[str, Any]:
    text = as_text(ex.get("text"))
    words = [as_dict(w) for w in as_list(ex.get("words"))]
    offsets = _offsets(text, words)
    word_texts = [text[s:e] for s, e in offsets] if offsets is not None else [as_text(w.get("text")) for w in words]
    attributions = as_dict(ex.get("attributions"))
    order = [m for m in methods if m in attributions] + [m for m in attributions if m not in methods]
    probs = [as_finite(p) for p in as_list(ex.get("probabilities"))]
    label, prediction = ex.get("label"), ex.get("prediction")
    if isinstance(label, list) or isinstance(prediction, list):  # multi-label: sets of labels
        true_set = {as_int(x) for x in as_list(label)}
        correct = true_set == {as_int(x) for x in as_list(prediction)}
    else:
        correct = as_int(label) is not None and as_int(label) == as_int(prediction)
    target_name = as_text(ex.get("target_name"))
    cut = as_int(ex.get("truncated_at"))
    cut = cut if cut is not None and 0 <= cut < len(text) and offsets is not None else None  # marks need offsets
    return {
        "id": as_text(ex.get("id")) or fmt_value(ex.get("index")),
        "text": text,
        "multi_label": isinstance(label, list) or isinstance(prediction, list),
        "label": _label_set(label, labels),
        "target": target_name or (_label(ex.get("target"), labels) if ex.get("target") is not None else ""),
        "prediction": _label_set(prediction, labels),
        "correct": correct,
        "probabilities": [
            {"label": labels[i] if i < len(labels) else f"class {i}", "value": fmt_num(p)}
            for i, p in enumerate(probs)
        ],
        "offsets_ok": offsets is not None or not words,
        "truncated": cut is not None,
        "unseen_chars": fmt_num(len(text.rstrip()) - cut) if cut is not None else "",
        "rows": [
            _mark_cut(_heat_row(m, as_dict(attributions[m]), text, offsets, word_texts, ig_tol), cut) for m in order
        ],
        "tokens": _tokens({m: as_dict(attributions[m]) for m in order}),
    }


def _heat_row(
    method: str,
    attr: dict[str, Any],
    text: str,
    offsets: list[tuple[int, int]] | None,
    word_texts: list[str],
    ig_tol: float | None,
) -> dict[str, Any]:
    raw = as_list(attr.get("word_scores"))
    scores = [as_finite(raw[i]) if i < len(raw) else None for i in range(len(word_texts))]
    n_bad = sum(1 for s in scores if s is None)
    finite = [s for s in scores if s is not None]
    scale = max((abs(s) for s in finite), default=0.0)
    signed = any(s < 0 for s in finite)
    spans = []
    for word, score in zip(word_texts, scores):
        norm = score / scale if (score is not None and scale > 0) else 0.0
        spans.append(
            {
                "word": True,
                "text": word,
                "colour": _colour.diverging(norm),
                "label": f"{shorten(word)}: {fmt_score(score)}",
                "score": fmt_score(score),
                "bad": score is None,
            }
        )
    segments: list[dict[str, Any]] = []
    if offsets is None:
        for i, span in enumerate(spans):
            if i:
                segments.append({"word": False, "text": " "})
            segments.append(span)
    else:
        pos = 0
        for (start, end), span in zip(offsets, spans):
            if start > pos:
                segments.append({"word": False, "text": text[pos:start]})
            segments.append(span)
            pos = end
        if pos < len(text):
            segments.append({"word": False, "text": text[pos:]})
    return {
        "title": METHOD_TITLES.get(method, method),
        "segments": segments,
        "words": [{"text": s["text"], "score": s["score"]} for s in spans],
        "scale": (f"\u00b1{scale:.3g}" if signed else f"0 to {scale:.3g}") if scale > 0 else "all zero",
        "n_bad": n_bad,
        "ig": _ig(attr, ig_tol) if method == "integrated_gradients" or "relative_error" in attr else None,
    }


def _mark_cut(row: dict[str, Any], cut: int | None) -> dict[str, Any]:
    """Insert a cut marker where the model's input ended; the text after it is marked unseen."""
    if cut is None:
        return row
    out: list[dict[str, Any]] = []
    pos, marked = 0, False
    for seg in row["segments"]:
        end = pos + len(seg["text"])
        if marked:
            out.append(seg | {"unseen": True})
        elif end <= cut:
            out.append(seg)
        elif not seg["word"] and pos < cut:  # split plain text at the cut
            out.append(seg | {"text": seg["text"][: cut - pos]})
            out.append({"word": False, "cut": True, "text": ""})
            out.append(seg | {"text": seg["text"][cut - pos :], "unseen": True})
            marked = True
        elif seg["word"] and pos < cut:  # a word the cut runs through: the marker follows it
            out.append(seg)
            out.append({"word": False, "cut": True, "text": ""})
            marked = True
        else:
            out.append({"word": False, "cut": True, "text": ""})
            out.append(seg | {"unseen": True})
            marked = True
        pos = end
    if not marked:
        out.append({"word": False, "cut": True, "text": ""})
    return row | {"segments": out}


def _tokens(attrs: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """One sub-word token table per example, with a score column per method."""
    tokens: list[Any] = next((as_list(a.get("tokens")) for a in attrs.values() if as_list(a.get("tokens"))), [])
    if not tokens:
        return None
    methods = [
        (METHOD_TITLES.get(m, m), as_list(a.get("token_scores")))
        for m, a in attrs.items()
        if len(as_list(a.get("token_scores"))) == len(tokens)
    ]
    shown = tokens[:MAX_TOKENS]
    return {
        "methods": [title for title, _ in methods],
        "rows": [
            {"text": as_text(t), "scores": [fmt_score(as_finite(scores[i])) for _, scores in methods]}
            for i, t in enumerate(shown)
        ],
        "n": len(tokens),
    }


def _ig(attr: dict[str, Any], tol: float | None) -> dict[str, Any]:
    rel = as_float(attr.get("relative_error"))
    return {
        "f_x": fmt_num(as_float(attr.get("f_x"))),
        "f_baseline": fmt_num(as_float(attr.get("f_baseline"))),
        "delta": fmt_num(as_float(attr.get("convergence_delta")), 4),
        "relative_error": fmt_pct(rel, 2) if rel is not None else "n/a",
        "flagged": attr.get("flagged") is True or (rel is not None and not math.isfinite(rel)),
        "tolerance": fmt_pct(tol, 2) if tol is not None else "",
    }


def _legend() -> list[dict[str, str]]:
    steps = 11
    return [{"colour": _colour.diverging(-1 + 2 * i / (steps - 1))} for i in range(steps)]
