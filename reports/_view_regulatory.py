"""View of the regulatory map (EU AI Act headings and the audit sections that may serve as evidence).

The map is recomputed from the results with :func:`reports.regulatory.regulatory_map`, so the
report, the model card and results.json share one mapping. Strings stay raw; the template escapes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .regulatory import ASSESSED, NOT_APPLICABLE, regulatory_map

STATUS_BADGES = {
    "pass": ("pass", "Pass", "\u2713"),
    "warn": ("warn", "Warning", "!"),
    "fail": ("fail", "Fail", "\u2717"),
    "error": ("error", "Error", "\u26a0"),
}


def build(results: Mapping[str, Any]) -> dict[str, Any] | None:
    """The map's view, or None when the results hold neither models nor data."""
    if not isinstance(results, Mapping) or not (results.get("models") or results.get("data")):
        return None
    m = regulatory_map(results)
    return {
        "framework": m["framework"],
        "notice": m["notice"],
        "headings": [
            {"id": h["id"], "reference": h["reference"], "title": h["title"], "summary": h["summary"],
             "rows": [_row(e, len(m["models"])) for e in h["evidence"]]}
            for h in m["headings"]
        ],
        "unmapped": [_check(c) for c in m["unmapped_checks"]],
    }


def _row(e: dict[str, Any], n_models: int) -> dict[str, Any]:
    status = e["status"]
    per_model = e["models"]
    partial = [f"{name}: {s}" for name, s in per_model.items()] if len(set(per_model.values())) > 1 else []
    return {
        "title": e["title"],
        "what": e["what"],
        "status": status,
        "assessed": status == ASSESSED,
        "not_applicable": status == NOT_APPLICABLE,
        "per_model": partial,
        "note": e.get("note", ""),
        "checks": [_check(c) for c in e["checks"]],
    }


def _check(c: dict[str, Any]) -> dict[str, Any]:
    css, label, symbol = STATUS_BADGES.get(c["status"].strip().lower(), ("unknown", c["status"] or "Unknown", "?"))
    return {"name": c["name"], "status": css, "label": label, "symbol": symbol}
