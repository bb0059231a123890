"""View of the explanation-quality section (``models[<name>]["faithfulness"]`` in results.json).

Everything is read defensively from untrusted JSON: a missing or malformed part is left out, unknown
keys are ignored, strings stay raw (the template escapes them) and the "best" marks, the
recommendation and the chart are computed from the numbers alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._format import as_dict, as_finite, as_int, as_list, as_text, fmt_num, fmt_pct
from ._view import METHOD_TITLES

REFERENCE_TITLE = "Random attribution (chance level)"
METRICS: tuple[tuple[str, str, str], ...] = (
    ("comprehensiveness_aopc", "Comprehensiveness AOPC", "higher"),
    ("sufficiency_aopc", "Sufficiency AOPC", "lower"),
    ("deletion_auc", "Deletion AUC", "lower"),
    ("insertion_auc", "Insertion AUC", "higher"),
    ("loo_correlation", "Rank corr. with leave-one-out", "higher"),
)
PLAUSIBILITY: tuple[tuple[str, str], ...] = (("auprc", "AUPRC"), ("token_f1", "Token F1"))
MAX_METHODS = 20
# Okabe-Ito colour-blind-safe palette, with dash patterns so the lines stay apart in print.
LINE_COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")
DASHES = ("", "6 3", "2 2", "8 3 2 3", "4 4", "1 3", "10 2")


def _title(method: str) -> str:
    return METHOD_TITLES.get(method, method)


def _cell(stat: Any, digits: int = 3) -> dict[str, Any]:
    """A mean with its confidence interval, as display strings plus the raw mean for ranking."""
    s = as_dict(stat)
    mean = as_finite(s.get("mean"))
    low, high = as_finite(s.get("ci_low")), as_finite(s.get("ci_high"))
    return {
        "mean": mean,
        "value": fmt_num(mean, digits),
        "ci": f"[{fmt_num(low, digits)}, {fmt_num(high, digits)}]" if low is not None and high is not None else "",
        "n": fmt_num(as_int(s.get("n"))) if as_int(s.get("n")) is not None else "",
        "best": False,
    }


def _mark_best(rows: list[dict[str, Any]], keys: list[tuple[str, str]]) -> None:
    """Mark the best mean per metric among the non-reference rows (every tie is marked)."""
    for j, (_, better) in enumerate(keys):
        means = [r["cells"][j]["mean"] for r in rows if not r["reference"] and r["cells"][j]["mean"] is not None]
        if not means:
            continue
        target = max(means) if better == "higher" else min(means)
        for r in rows:
            if not r["reference"] and r["cells"][j]["mean"] == target:
                r["cells"][j]["best"] = True


def _ranking(rows: list[dict[str, Any]], keys: list[tuple[str, str]]) -> list[tuple[str, float, int]]:
    """(method, mean rank, metrics won) over the metrics, best first; a missing value ranks last."""
    cands = [r for r in rows if not r["reference"]]
    if not cands:
        return []
    ranks: dict[int, list[float]] = {i: [] for i in range(len(cands))}
    for j, (_, better) in enumerate(keys):
        vals = []
        for r in cands:
            v = r["cells"][j]["mean"]
            vals.append(float("-inf") if v is None else (v if better == "higher" else -v))
        for i, v in enumerate(vals):
            above = sum(1 for w in vals if w > v)
            ties = sum(1 for w in vals if w == v)
            ranks[i].append(above + (ties + 1) / 2)
    out = [(cands[i]["method"], sum(rs) / len(rs), sum(1 for x in rs if x == 1.0)) for i, rs in ranks.items()]
    out.sort(key=lambda t: (t[1], -t[2]))
    return out


def _method_rows(summary: dict[str, Any], methods: list[str], reference: str, keys: list[str]) -> list[dict[str, Any]]:
    """One row per method in ``summary`` (configured order, then any others, the reference last)."""
    order = [m for m in methods if m in summary] + [m for m in summary if m not in methods and m != reference]
    if reference and reference in summary:
        order.append(reference)
    rows = []
    for m in order[:MAX_METHODS]:
        s = as_dict(summary.get(m))
        rows.append({"method": m, "title": REFERENCE_TITLE if m == reference else _title(m), "reference": m == reference,
                     "cells": [_cell(s.get(k)) for k in keys]})
    return rows


def _faithfulness_table(faith: dict[str, Any], methods: list[str], reference: str) -> dict[str, Any] | None:
    summary = as_dict(faith.get("summary"))
    if not summary:
        return None
    keys = [(k, better) for k, _, better in METRICS]
    rows = _method_rows(summary, methods, reference, [k for k, _ in keys])
    if not rows:
        return None
    _mark_best(rows, keys)
    return {
        "columns": [{"label": label, "better": better} for _, label, better in METRICS],
        "rows": rows,
        "ranking": _ranking(rows, keys),
    }


def _bins_table(faith: dict[str, Any], methods: list[str], reference: str) -> dict[str, Any] | None:
    bins = as_dict(faith.get("bins"))
    order = [m for m in methods if m in bins] + ([reference] if reference and reference in bins else [])
    rows, labels = [], []
    for m in order[:MAX_METHODS]:
        entry = as_dict(bins.get(m))
        for kind in ("comprehensiveness", "sufficiency"):
            cells = [as_dict(c) for c in as_list(entry.get(kind))]
            if not cells:
                continue
            if not labels:
                labels = [fmt_pct(as_finite(c.get("bin")), 0) for c in cells]
            rows.append({"title": REFERENCE_TITLE if m == reference else _title(m), "kind": kind,
                         "cells": [_cell(c) for c in cells[: len(labels)]]})
    return {"bins": labels, "rows": rows} if rows and labels else None


def _curves(faith: dict[str, Any], methods: list[str], reference: str) -> dict[str, Any] | None:
    """Inline-SVG geometry of the mean deletion and insertion curves of every method."""
    curves = as_dict(faith.get("curves"))
    order = [m for m in methods if m in curves] + ([reference] if reference and reference in curves else [])
    series = []
    for m in order[: len(LINE_COLOURS)]:
        c = as_dict(curves.get(m))
        xs = [as_finite(x) for x in as_list(c.get("fractions"))]
        entry = {"title": REFERENCE_TITLE if m == reference else _title(m)}
        for kind in ("deletion", "insertion"):
            ys = [as_finite(y) for y in as_list(c.get(kind))]
            pts = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None]
            entry[kind] = pts
        if entry["deletion"] or entry["insertion"]:
            series.append(entry)
    if not series:
        return None
    all_y = [y for s in series for k in ("deletion", "insertion") for _, y in s[k]]
    lo, hi = min(0.0, min(all_y)), max(1.0, max(all_y))
    if hi - lo > 1e6:  # absurd values: show no chart, the tables still hold the numbers
        return None
    width, height, left, right, top, bottom = 300.0, 200.0, 44.0, 10.0, 10.0, 34.0
    pw, ph = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + max(0.0, min(1.0, x)) * pw

    def sy(y: float) -> float:
        return top + (1 - (y - lo) / (hi - lo)) * ph

    panels = []
    for kind, title in (("deletion", "Deletion (lower is more faithful)"), ("insertion", "Insertion (higher is more faithful)")):
        lines = []
        for i, s in enumerate(series):
            pts = s[kind]
            if len(pts) < 2:
                continue
            lines.append({"points": " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts),
                          "colour": LINE_COLOURS[i % len(LINE_COLOURS)], "dash": DASHES[i % len(DASHES)],
                          "title": s["title"]})
        panels.append({"kind": kind, "title": title, "lines": lines})
    ticks = [lo + (hi - lo) * t / 4 for t in range(5)]
    return {
        "width": f"{width:.0f}", "height": f"{height:.0f}", "x0": f"{left:.1f}", "x1": f"{left + pw:.1f}",
        "y0": f"{top + ph:.1f}", "y1": f"{top:.1f}", "pw": f"{pw:.1f}", "ph": f"{ph:.1f}",
        "ytick_x": f"{left - 4:.1f}", "xtick_y": f"{top + ph + 14:.1f}", "xlabel_y": f"{height - 4:.1f}",
        "xmid": f"{left + pw / 2:.1f}",
        "yticks": [{"v": f"{t:.2g}", "y": f"{sy(t):.1f}"} for t in ticks],
        "xticks": [{"v": f"{t:.0%}", "x": f"{sx(t):.1f}"} for t in (0.0, 0.25, 0.5, 0.75, 1.0)],
        "panels": panels,
        "legend": [{"title": s["title"], "colour": LINE_COLOURS[i % len(LINE_COLOURS)], "dash": DASHES[i % len(DASHES)]}
                   for i, s in enumerate(series)],
    }


def _plausibility(plaus: dict[str, Any], methods: list[str], reference: str) -> dict[str, Any] | None:
    summary = as_dict(plaus.get("summary"))
    if not summary:
        return None
    rows = _method_rows(summary, methods, reference, [k for k, _ in PLAUSIBILITY])
    _mark_best(rows, [(k, "higher") for k, _ in PLAUSIBILITY])
    proto = as_dict(plaus.get("protocol"))
    return {
        "columns": [label for _, label in PLAUSIBILITY],
        "rows": rows,
        "chance": [_cell(as_dict(plaus.get("chance")).get(k)) for k, _ in PLAUSIBILITY],
        "protocol": [(str(k), as_text(v) if not isinstance(v, float) else fmt_num(v)) for k, v in proto.items()],
    }


def _agreement(agree: dict[str, Any]) -> dict[str, Any] | None:
    pairs = [as_dict(p) for p in as_list(agree.get("pairs"))]
    rows = []
    for p in pairs[: MAX_METHODS * MAX_METHODS]:
        names = [as_text(x) for x in as_list(p.get("methods"))]
        if len(names) != 2:
            continue
        rows.append({"a": _title(names[0]), "b": _title(names[1]), "cell": _cell(p)})
    if not rows:
        return None
    return {"rows": rows, "correlation": as_text(agree.get("correlation")) or "spearman",
            "mean": fmt_num(as_finite(agree.get("mean_over_pairs")))}


def _sanity(sanity: dict[str, Any]) -> dict[str, Any] | None:
    stages = [as_dict(s) for s in as_list(sanity.get("stages"))]
    if not stages:
        return None
    flagged = {as_text(x) for x in as_list(sanity.get("flagged"))}
    methods: list[str] = []
    for s in stages:
        for m in as_dict(s.get("methods")):
            if m not in methods:
                methods.append(m)
    rows = []
    for m in methods[:MAX_METHODS]:
        cells = []
        for s in stages:
            entry = as_dict(as_dict(s.get("methods")).get(m))
            cells.append({"signed": _cell(entry.get("spearman"), 2), "abs": _cell(entry.get("spearman_abs"), 2)})
        rows.append({"title": _title(m), "flagged": m in flagged, "cells": cells})
    proto = as_dict(sanity.get("protocol"))
    return {
        "stages": [as_text(s.get("name")) or f"stage {i + 1}" for i, s in enumerate(stages)],
        "rows": rows,
        "threshold": fmt_num(as_finite(proto.get("threshold")), 2),
        "n": fmt_num(as_int(sanity.get("n_examples"))),
        "flagged": [_title(m) for m in methods if m in flagged],
    }


def _completeness(ig: dict[str, Any]) -> dict[str, Any] | None:
    if not ig or as_int(ig.get("n")) is None:
        return None
    return {
        "n": fmt_num(as_int(ig.get("n"))),
        "n_flagged": fmt_num(as_int(ig.get("n_flagged"))),
        "median": fmt_pct(as_finite(ig.get("median_relative_error")), 2),
        "max": fmt_pct(as_finite(ig.get("max_relative_error")), 2),
        "mean_steps": fmt_num(as_finite(ig.get("mean_steps")), 1),
        "tolerance": fmt_pct(as_finite(ig.get("tolerance")), 1),
    }


def _protocol(proto: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for k, v in proto.items():
        if k == "description":
            continue
        if isinstance(v, (list, tuple)):
            text = ", ".join(fmt_num(as_finite(x), 3) if as_finite(x) is not None else as_text(x) for x in v[:50])
        elif isinstance(v, bool) or v is None:
            text = {True: "yes", False: "no", None: "\u2014"}[v]
        else:
            text = as_text(v)
        rows.append((str(k), text))
    return rows


def _model(name: str, section: dict[str, Any]) -> dict[str, Any] | None:
    faith = as_dict(section.get("faithfulness"))
    methods = [as_text(m) for m in as_list(section.get("methods")) if isinstance(m, str)]
    reference = as_text(section.get("reference")) if isinstance(section.get("reference"), str) else ""
    table = _faithfulness_table(faith, methods, reference)
    plaus = _plausibility(as_dict(section.get("plausibility")), methods, reference)
    agree = _agreement(as_dict(section.get("agreement")))
    sanity = _sanity(as_dict(section.get("sanity")))
    ig = _completeness(as_dict(section.get("ig_completeness")))
    if not (table or plaus or agree or sanity or ig):
        return None
    recommendation = None
    if table and table["ranking"]:
        flagged = set(sanity["flagged"]) if sanity else set()
        ranking = table["ranking"]
        passing = [r for r in ranking if _title(r[0]) not in flagged]
        best = (passing or ranking)[0]
        recommendation = {"method": _title(best[0]), "mean_rank": f"{best[1]:.1f}", "n_best": best[2],
                          "n_metrics": len(METRICS), "skipped": _title(ranking[0][0]) if passing and best is not ranking[0] else ""}
    proto = as_dict(faith.get("protocol"))
    return {
        "name": name,
        "n": fmt_num(as_int(section.get("n_examples"))),
        "table": table,
        "bins": _bins_table(faith, methods, reference),
        "curves": _curves(faith, methods, reference),
        "protocol": _protocol(proto),
        "protocol_text": as_text(proto.get("description")),
        "plausibility": plaus,
        "agreement": agree,
        "sanity": sanity,
        "ig": ig,
        "recommendation": recommendation,
    }


def build(results: Mapping[str, Any]) -> dict[str, Any] | None:
    """The section's view, or None when no model has explanation-quality results."""
    models = []
    for name, entry in as_dict(results.get("models")).items():
        section = as_dict(as_dict(entry).get("faithfulness"))
        if section:
            view = _model(str(name), section)
            if view:
                models.append(view)
    return {"models": models} if models else None
