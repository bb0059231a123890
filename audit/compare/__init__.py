"""Compare saved audits: pair models from results.json files and compute what changed.

Plain data in, plain data out, without torch: ``audit compare`` reads results.json files, pairs
their models (:func:`default_pairs`, :func:`parse_pair`) and builds one comparison dict
(:func:`compare`) that ``reports.write_comparison`` renders and that is saved as compare.json.

Every difference is *B minus A*: A is the reference (the last release, the plain model, the run
before a fix) and B the candidate. When both models were evaluated on the same data (equal data
hashes) their per-example outcomes are paired: the accuracy difference gets a Newcombe hybrid
score interval and an exact McNemar test, the macro-F1 difference a paired bootstrap interval.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any, Sequence

from reports import SUPPORTED_SCHEMA_VERSION

from .deltas import (
    MAX_MATCHED_EXPLANATIONS,
    STATUS_RANK,
    _get,
    check_changes,
    delta_row,
    faithfulness_deltas,
    leakage_deltas,
    matched_explanations,
    performance_deltas,
    robustness_deltas,
)
from .sources import (
    CompareError,
    Ref,
    Source,
    _ref_name,
    default_pairs,
    file_label,
    load_source,
    load_sources,
    parse_pair,
)
from .stats import (
    macro_f1,
    mcnemar_exact_p,
    newcombe_paired_interval,
    paired_bootstrap_f1,
    paired_statistics,
    wilson_interval,
)

COMPARISON_VERSION = 1

__all__ = [
    "COMPARISON_VERSION", "MAX_MATCHED_EXPLANATIONS", "STATUS_RANK", "SUPPORTED_SCHEMA_VERSION", "CompareError", "Ref",
    "Source", "check_changes", "compare", "compare_files", "compare_pair", "default_pairs", "delta_row",
    "faithfulness_deltas", "file_label", "leakage_deltas", "load_source", "load_sources", "macro_f1",
    "matched_explanations", "mcnemar_exact_p", "newcombe_paired_interval", "paired_bootstrap_f1", "paired_statistics",
    "parse_pair", "performance_deltas", "robustness_deltas", "wilson_interval",
]


def _side(source: Source, name: str) -> dict[str, Any]:
    model = source.models[name]
    identity = model.get("identity") if isinstance(model.get("identity"), dict) else {}
    perf = model.get("performance") if isinstance(model.get("performance"), dict) else {}
    return {"file": source.label, "path": source.path, "model": name, "data_sha256": source.data_sha256,
            "identity": {k: identity.get(k) for k in ("source", "sha256", "architecture", "n_parameters") if k in identity},
            "n_eval": perf.get("n"), "problem_type": perf.get("problem_type"), "label_names": perf.get("label_names"),
            "epsilon": _get(model, "privacy_ledger", "epsilon"), "created": _get(source.results, "run", "created")}


def _data_check(sa: Source, sb: Source, allow_different: bool) -> dict[str, Any]:
    ha, hb = sa.data_sha256, sb.data_sha256
    same = sa is sb or (ha is not None and ha == hb)
    if same:
        return {"same": True, "a_sha256": ha, "b_sha256": hb}
    what = (f"{sa.path} ({sa.label}) was evaluated on data with sha256 {ha or 'unknown (no hash recorded)'}, "
            f"{sb.path} ({sb.label}) on data with sha256 {hb or 'unknown (no hash recorded)'}")
    if not allow_different:
        raise CompareError(f"the evaluation data differ: {what}. Their metrics are not measured on the same examples; "
                           "pass --allow-different-data to compare them anyway (without paired statistics)")
    return {"same": False, "a_sha256": ha, "b_sha256": hb,
            "note": f"Different evaluation data: {what}. Differences mix the change of model with the change of "
                    "data; paired statistics are not computed."}


def compare_pair(sources: Sequence[Source], ref_a: Ref, ref_b: Ref, *, allow_different_data: bool = False,
                 level: float = 0.95, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Everything compared for one pair of models (B - A)."""
    sa, sb = sources[ref_a[0]], sources[ref_b[0]]
    ma, mb = sa.models[ref_a[1]], sb.models[ref_b[1]]
    if not isinstance(ma, dict) or not isinstance(mb, dict):
        raise CompareError(f"{_ref_name(sources, ref_a)} or {_ref_name(sources, ref_b)} is not a model section")
    data = _data_check(sa, sb, allow_different_data)
    perf_a = ma.get("performance") if isinstance(ma.get("performance"), dict) else {}
    perf_b = mb.get("performance") if isinstance(mb.get("performance"), dict) else {}
    if data["same"]:
        paired = paired_statistics(perf_a, perf_b, level=level, n_boot=n_boot, seed=seed)
    else:
        paired = {"skipped": "the models were evaluated on different data"}
    return {
        "title": f"{_ref_name(sources, ref_a)} \u2192 {_ref_name(sources, ref_b)}",
        "a": _side(sa, ref_a[1]), "b": _side(sb, ref_b[1]),
        "same_model": _get(ma, "identity", "sha256") is not None
                      and _get(ma, "identity", "sha256") == _get(mb, "identity", "sha256"),
        "data": data,
        "performance": performance_deltas(perf_a, perf_b),
        "paired": paired,
        "checks": check_changes(sa.results, ref_a[1], sb.results, ref_b[1]),
        "faithfulness": faithfulness_deltas(ma.get("faithfulness"), mb.get("faithfulness")),
        "robustness": robustness_deltas(ma.get("robustness"), mb.get("robustness")),
        "leakage": leakage_deltas(ma, mb),
        "explanations": matched_explanations(ma, mb),
    }


def compare(sources: Sequence[Source], pairs: Sequence[tuple[Ref, Ref]] | None = None, *,
            allow_different_data: bool = False, level: float = 0.95, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The comparison document: the inputs, then one entry per model pair (default pairs when none given)."""
    notes: list[str] = []
    if not pairs:
        pairs, notes = default_pairs(sources)
    compared = [compare_pair(sources, a, b, allow_different_data=allow_different_data, level=level, n_boot=n_boot,
                             seed=seed) for a, b in pairs]
    return {
        "comparison_version": COMPARISON_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "direction": "B - A: A is the reference, B the candidate",
        "inputs": [s.describe() for s in sources],
        "allow_different_data": bool(allow_different_data),
        "protocol": {"ci_level": level, "bootstrap_resamples": n_boot, "seed": seed},
        "notes": notes,
        "pairs": compared,
    }


def compare_files(paths: Sequence[str | Path], pair_specs: Sequence[str] = (), *, allow_different_data: bool = False,
                  seed: int = 0) -> dict[str, Any]:
    """Load results files, resolve ``--pair`` specs (or the default pairing) and compare."""
    sources = load_sources(paths)
    pairs = [parse_pair(spec, sources) for spec in pair_specs]
    return compare(sources, pairs or None, allow_different_data=allow_different_data, seed=seed)
