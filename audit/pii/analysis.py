"""How much personal data a text dataset holds: the "personal_data" section of results.json.

Counts per type (and subtype), the share of rows with any, a few examples with every value
replaced by a typed placeholder, and for tabular files the same per column. Raw values appear
only when the caller opts in (``show_values=True``), and the section records that choice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from importlib import metadata
from typing import Any, Sequence

from .anonymise import mask, resolve_overlaps
from .findings import TYPES, Finding

MAX_EXAMPLE_CHARS = 400


def scanner_config(scanner: Any) -> dict[str, Any]:
    """What the scanner looked for and how: its types, detectors, NER model and confidence floor."""
    cfg: dict[str, Any] = {}
    if callable(getattr(scanner, "config", None)):
        got = scanner.config()
        if isinstance(got, Mapping):
            cfg.update(got)
    for key in ("types", "min_confidence"):
        if key not in cfg and hasattr(scanner, key):
            value = getattr(scanner, key)
            cfg[key] = list(TYPES) if key == "types" and value is None else value
    if isinstance(cfg.get("types"), (set, frozenset, tuple)):
        cfg["types"] = sorted(cfg["types"]) if isinstance(cfg["types"], (set, frozenset)) else list(cfg["types"])
    if "detectors" not in cfg and hasattr(scanner, "detectors"):
        cfg["detectors"] = [getattr(d, "name", type(d).__name__) for d in scanner.detectors]
    if "ner_model" not in cfg:
        ner = getattr(scanner, "ner", None)
        cfg["ner_model"] = getattr(scanner, "ner_model", None) if ner is None else getattr(ner, "name", type(ner).__name__)
        if ner is not None:
            cfg.setdefault("detectors", []).append(cfg["ner_model"])
    if cfg.get("ner_model") is not None and not isinstance(cfg["ner_model"], (str, int, float, bool)):
        cfg["ner_model"] = str(cfg["ner_model"])
    return cfg


def library_versions() -> dict[str, str | None]:
    """Versions of the libraries whose rules decide what counts as a valid number."""
    out: dict[str, str | None] = {}
    for dist in ("phonenumbers", "python-stdnum"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def default_scanner() -> Any:
    from .scanner import PIIScanner

    return PIIScanner()


def _columns_of(data: Any, columns: Sequence[str] | None) -> tuple[dict[str, list[Any]], bool]:
    """``{column: cells}`` to scan and whether the input was a table of named columns."""
    if isinstance(data, Mapping):
        names = list(columns) if columns else list(data)
        missing = [c for c in names if c not in data]
        if missing:
            raise ValueError(f"column(s) {missing} not found; the data has {list(data)}")
        return {c: list(data[c]) for c in names}, True
    if columns:
        raise ValueError("columns= needs tabular data (a mapping of column name to texts)")
    texts = getattr(data, "texts", data)
    if isinstance(texts, str):
        raise ValueError("expected a sequence of texts, got one string")
    return {"text": list(texts)}, False


def scan_dataset(dataset_or_texts: Any, scanner: Any = None, *, show_values: bool = False, examples: int = 5,
                 columns: Sequence[str] | None = None, show_progress: bool = False) -> dict[str, Any]:
    """The personal-data section for ``dataset_or_texts``: a TextDataset, a sequence of texts, or
    a mapping ``{column: cells}`` (scan ``columns`` of it, default all). Cells that are not
    non-empty strings are counted as rows but not scanned."""
    scanner = scanner if scanner is not None else default_scanner()
    table, tabular = _columns_of(dataset_or_texts, columns)
    n_rows = max((len(v) for v in table.values()), default=0)
    per_column, row_hits = [], [False] * n_rows
    found: dict[str, list[list[Finding]]] = {}
    for col, cells in table.items():
        idx = [i for i, t in enumerate(cells) if isinstance(t, str) and t]
        hits = scanner.scan_many([cells[i] for i in idx], show_progress=show_progress) if idx else []
        full: list[list[Finding]] = [[] for _ in cells]
        for i, fs in zip(idx, hits):
            full[i] = resolve_overlaps(fs)
            if full[i]:
                row_hits[i] = True
        found[col] = full
        per_column.append({"column": col, **_counts(full, len(cells))})
    all_findings = [fs for col in found.values() for fs in col]
    section = {
        "raw_values_shown": bool(show_values),
        "n_rows": n_rows,
        "n_rows_affected": sum(row_hits),
        "share_rows_affected": (sum(row_hits) / n_rows) if n_rows else 0.0,
        **{k: v for k, v in _counts(all_findings, n_rows).items() if k not in ("n_rows", "n_rows_affected", "share_rows_affected")},
        "examples": _examples(table, found, examples, show_values),
        "scanned_columns": list(table),
        "scanner": scanner_config(scanner),
        "versions": library_versions(),
    }
    if tabular:
        section["columns"] = per_column
    return section


def _counts(rows: Sequence[Sequence[Finding]], n_rows: int) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    subtypes: dict[str, Counter[str]] = {}
    rows_by_type: Counter[str] = Counter()
    affected = 0
    for fs in rows:
        if fs:
            affected += 1
        for f in fs:
            counts[f.type] += 1
            if f.subtype:
                subtypes.setdefault(f.type, Counter())[f.subtype] += 1
        rows_by_type.update({f.type for f in fs})
    order = {t: i for i, t in enumerate(TYPES)}
    ordered = sorted(counts, key=lambda t: (order.get(t, len(order)), t))
    return {
        "n_rows": n_rows,
        "n_rows_affected": affected,
        "share_rows_affected": affected / n_rows if n_rows else 0.0,
        "n_findings": sum(counts.values()),
        "counts": {t: counts[t] for t in ordered},
        "subtypes": {t: dict(sorted(subtypes[t].items())) for t in ordered if t in subtypes},
        "rows_by_type": {t: rows_by_type[t] for t in ordered},
    }


def _examples(table: Mapping[str, Sequence[Any]], found: Mapping[str, Sequence[Sequence[Finding]]], k: int,
              show_values: bool) -> list[dict[str, Any]]:
    """Up to ``k`` texts with findings: first one per type (so every kind is illustrated), then in row order."""
    candidates = [(i, col) for col, rows in found.items() for i, fs in enumerate(rows) if fs]
    candidates.sort()
    chosen: list[tuple[int, str]] = []
    seen: set[str] = set()
    for i, col in candidates:
        new = {f.type for f in found[col][i]} - seen
        if new and len(chosen) < k:
            chosen.append((i, col))
            seen |= new
    for c in candidates:
        if len(chosen) >= k:
            break
        if c not in chosen:
            chosen.append(c)
    chosen.sort()
    out = []
    for i, col in chosen:
        text, fs = table[col][i], found[col][i]
        shown = text if show_values else mask(text, fs)
        example: dict[str, Any] = {"row": i, "column": col, "types": sorted({f.type for f in fs}), "text": _clip(shown)}
        if show_values:
            example["findings"] = [f.to_dict(text, raw=True) for f in fs]
        out.append(example)
    return out


def _clip(text: str) -> str:
    return text if len(text) <= MAX_EXAMPLE_CHARS else text[:MAX_EXAMPLE_CHARS - 1] + "\u2026"


def check(section: Mapping[str, Any]) -> dict[str, Any]:
    """The "personal data" check: a warning when any was found, never a failure (the data owner
    decides whether it may be there)."""
    n = int(section.get("n_findings") or 0)
    rows = int(section.get("n_rows_affected") or 0)
    if n:
        kinds = ", ".join(f"{t} {c}" for t, c in (section.get("counts") or {}).items())
        msg = f"{n} pieces of personal data in {rows} of {section.get('n_rows')} rows ({kinds})"
        return {"name": "personal data", "status": "warn", "value": n, "threshold": 0, "message": msg}
    return {"name": "personal data", "status": "pass", "value": 0, "threshold": 0,
            "message": f"no personal data found in {section.get('n_rows')} rows"}
