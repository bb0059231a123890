"""Read a data file with all its columns and write it back, for scanning and anonymising.

Unlike :func:`audit.data.load_dataset` nothing here needs a label: every column is kept in its
order, CSV/TSV cells stay strings, JSONL/Parquet values keep their types.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._util import atomic_file
from ..data import _EXT_TO_FORMAT, _MISSING, DataError, _read_source


#: A JSONL record without the key, or a CSV row with too few fields: written back the same way.
MISSING = _MISSING


@dataclass
class Table:
    name: str
    format: str
    columns: list[str]
    data: dict[str, list[Any]]

    @property
    def n_rows(self) -> int:
        return len(next(iter(self.data.values()))) if self.data else 0

    def require(self, columns: list[str]) -> None:
        missing = [c for c in columns if c not in self.data]
        if missing:
            raise DataError(f"{self.name}: column(s) {missing} not found; the file has {self.columns}")


def read_table(path: str | os.PathLike) -> Table:
    """Every column of a CSV, TSV, JSONL or Parquet file (or a saved Hugging Face dataset)."""
    head, name, fmt = _read_source(path, None, ["text"])
    table, name, fmt = _read_source(path, None, list(head.columns))
    data = {c: [MISSING if v is _MISSING else v for v in table.data.get(c, [])] for c in table.columns}
    return Table(name=name, format=fmt, columns=list(table.columns), data=data)


def write_table(table: Table, path: str | os.PathLike) -> Path:
    """Write ``table`` atomically in the format of ``path``'s extension: a failure leaves no partial file."""
    path = Path(path).expanduser()
    fmt = _EXT_TO_FORMAT.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: unsupported file extension {path.suffix or '(none)'!r}; supported: {', '.join(sorted(_EXT_TO_FORMAT))}")
    rows = [[table.data[c][i] for c in table.columns] for i in range(table.n_rows)]
    if fmt != "jsonl":
        rows = [[None if v is MISSING else v for v in r] for r in rows]
    with atomic_file(path) as tmp:
        if fmt == "parquet":
            import pandas as pd

            pd.DataFrame(rows, columns=table.columns).to_parquet(tmp, index=False)
            return path
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            if fmt == "jsonl":
                for r in rows:
                    record = {c: v for c, v in zip(table.columns, r) if v is not MISSING}
                    f.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            else:
                w = csv.writer(f, delimiter="," if fmt == "csv" else "\t", lineterminator="\n")
                w.writerow(table.columns)
                for r in rows:
                    w.writerow([_cell(v) for v in r])
    return path


def _cell(v: Any) -> Any:
    """A CSV/TSV cell: lists and objects (from JSONL or Parquet input) as JSON, missing as empty."""
    if v is None:
        return ""
    if isinstance(v, (list, dict)) or type(v).__name__ == "ndarray":
        return json.dumps(v.tolist() if hasattr(v, "tolist") else v, ensure_ascii=False, default=str)
    return v
