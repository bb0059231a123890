"""Where the time of a run went: the stages of ``run.timings`` as a small table."""

from __future__ import annotations

from typing import Any

from ._format import as_dict, as_finite, fmt_seconds

#: Stages that follow one another (their seconds add up to the wall time); every other key of
#: ``run.timings`` is a part of ``audit`` (evaluation, explanations, one per analysis).
SEQUENTIAL = ("data", "load", "train", "train_private", "audit", "personal_data", "render")
LABELS = {
    "data": "Data", "load": "Load model", "train": "Training", "train_private": "Private training",
    "audit": "Audit", "personal_data": "Personal-data scan", "render": "Report rendering",
    "evaluate": "evaluation", "explain": "explanations", "faithfulness": "explanation quality",
    "robustness": "robustness probe", "privacy_audit": "privacy audit",
}


def _label(key: str) -> str:
    model, _, stage = key.rpartition(".")
    name = LABELS.get(stage, stage.replace("_", " "))
    return f"{name} ({model})" if model else name


def stage_rows(run: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per stage, in the order they ran: label, time, share of the wall time, and whether the
    row is a part of the audit stage (listed under it)."""
    timings = {str(k): as_finite(v) for k, v in as_dict(run.get("timings")).items()}
    timings = {k: v for k, v in timings.items() if v is not None and v >= 0}
    if not timings:
        return []
    total = as_finite(run.get("wall_time_s")) or sum(v for k, v in timings.items() if k in SEQUENTIAL)

    def row(key: str, part: bool) -> dict[str, Any]:
        share = f"{timings[key] / total:.0%}" if total else ""
        return {"stage": _label(key), "time": fmt_seconds(timings[key]), "share": share, "part": part}

    parts = [k for k in timings if k not in SEQUENTIAL]
    rows = []
    for key in timings:
        if key in SEQUENTIAL:
            rows.append(row(key, False))
            if key == "audit":
                rows += [row(k, True) for k in parts]
    if "audit" not in timings:
        rows += [row(k, True) for k in parts]
    return rows
