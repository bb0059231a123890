"""Text datasets: one container for texts and labels, loaders with validation, and a content hash.

Every error raised while loading names the file, the column and the row, so a user can fix the
input without guessing. Nothing is silently dropped: rows skipped by an option are counted.

Row numbering convention (used in every message): ``row N`` is the 1-based position of the
record among the data rows (the header of a CSV/TSV file and blank lines are not rows). For text
files the physical 1-based line of the file where the record starts is added, e.g.
``row 17 (line 18 of the file)`` for a CSV file with one header line. For a pandas DataFrame
whose index is not the default ``0..n-1`` the index label is added instead.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ._util import atomic_file

logger = logging.getLogger("audit.data")

__all__ = [
    "DataError",
    "TextDataset",
    "load_dataset",
    "save_dataset",
    "SUPPORTED_FORMATS",
]


class DataError(ValueError):
    """Invalid input data. The message names the file, the column and the row where known."""


@dataclass
class TextDataset:
    """Texts and integer labels, with optional ids, groups and word-level rationales.

    ``labels[i]`` is an index into ``label_names``. With ``multi_label=True`` (several labels may
    apply to one text, e.g. toxicity categories) ``labels[i]`` is instead the sorted list of the
    indices of the labels that apply, possibly empty; :meth:`label_matrix` gives both kinds as an
    ``(n, num_labels)`` 0/1 matrix. ``rationales[i]``, when present, is a list of
    0/1 flags, one per whitespace-separated word of ``texts[i]``, marking the words that carry the
    label. ``groups[i]`` is an optional group tag (e.g. the gender of a name in the text).

    ``meta`` is JSON-serialisable free-form information (source format, columns, generator
    settings). Keys listed in ``meta["per_example"]`` hold one value per row (same length as
    ``texts``); :meth:`subset` and :meth:`split` slice them along with the rows, and
    :meth:`summary` reports them as value counts rather than in full.
    """

    texts: list[str]
    labels: list[int]
    label_names: list[str]
    ids: list[str] | None = None
    groups: list[str | None] | None = None
    rationales: list[list[int]] | None = None
    source: str = "<memory>"
    skipped_rows: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    multi_label: bool = False

    def __post_init__(self) -> None:
        n = len(self.texts)
        if len(self.labels) != n:
            raise DataError(f"{self.source}: {n} texts but {len(self.labels)} labels")
        for name in ("ids", "groups", "rationales"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise DataError(f"{self.source}: {n} texts but {len(value)} {name}")
        if self.ids is None:
            self.ids = [str(i) for i in range(n)]
        k = len(self.label_names)
        if self.multi_label:
            self.labels = [self._label_set(i, y, k) for i, y in enumerate(self.labels)]
        else:
            for i, y in enumerate(self.labels):
                if isinstance(y, (list, tuple, np.ndarray)):
                    raise DataError(f"{self.source}: row {i}: label {list(y)!r} is a list; pass multi_label=True for multi-label data")
                if not (0 <= int(y) < k):
                    raise DataError(f"{self.source}: row {i}: label index {y} outside 0..{k - 1}")
            self.labels = [int(y) for y in self.labels]
        if self.rationales is not None:
            for i, (t, r) in enumerate(zip(self.texts, self.rationales)):
                if len(r) != len(t.split()):
                    raise DataError(
                        f"{self.source}: row {i}: rationale has {len(r)} flags but the text has "
                        f"{len(t.split())} whitespace-separated words"
                    )
        for key in self.meta.get("per_example", ()):
            value = self.meta.get(key)
            if value is None or len(value) != n:
                raise DataError(f"{self.source}: meta[{key!r}] is listed as per-example but does not have {n} values")

    def _label_set(self, i: int, y: Any, k: int) -> list[int]:
        if not isinstance(y, (list, tuple, np.ndarray)):
            raise DataError(f"{self.source}: row {i}: a multi-label row needs a list of label indices, got {_describe(y)}")
        out = sorted({int(j) for j in y})
        bad = [j for j in out if not 0 <= j < k]
        if bad:
            raise DataError(f"{self.source}: row {i}: label index {bad[0]} outside 0..{k - 1}")
        return out

    def __len__(self) -> int:
        return len(self.texts)

    def label_matrix(self) -> np.ndarray:
        """Labels as an ``(n, num_labels)`` float32 0/1 matrix (one-hot rows for single-label data)."""
        m = np.zeros((len(self), self.num_labels), dtype=np.float32)
        for i, y in enumerate(self.labels):
            m[i, y] = 1.0  # y is an index or a list of indices
        return m

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def sha256(self) -> str:
        """Content hash over texts, labels, label names (and ids); independent of file format."""
        h = hashlib.sha256()
        h.update(json.dumps(self.label_names, ensure_ascii=False).encode("utf-8"))
        for i, (t, y) in enumerate(zip(self.texts, self.labels)):
            h.update(json.dumps([self.ids[i], t, y], ensure_ascii=False).encode("utf-8"))
            h.update(b"\n")
        return h.hexdigest()

    def subset(self, indices: Sequence[int]) -> "TextDataset":
        """A new dataset holding the given rows, in the given order."""
        idx = [int(i) for i in indices]
        pick = lambda xs: None if xs is None else [xs[i] for i in idx]  # noqa: E731
        meta = dict(self.meta)
        for key in self.meta.get("per_example", ()):
            meta[key] = pick(list(self.meta[key]))
        return TextDataset(
            texts=[self.texts[i] for i in idx],
            labels=[self.labels[i] for i in idx],
            label_names=list(self.label_names),
            ids=pick(self.ids),
            groups=pick(self.groups),
            rationales=pick(self.rationales),
            source=self.source,
            meta=meta,
            multi_label=self.multi_label,
        )

    def split(self, eval_fraction: float = 0.2, seed: int = 0, stratify: bool = True) -> tuple["TextDataset", "TextDataset"]:
        """Deterministic (train, eval) split, stratified by label by default.

        Multi-label data is stratified by each row's rarest positive label (rows without a label
        form one more stratum), so every label that occurs at least twice reaches both sides.
        """
        if not 0.0 < eval_fraction < 1.0:
            raise ValueError(f"eval_fraction must be in (0, 1), got {eval_fraction}")
        rng = np.random.default_rng(seed)
        labels = np.asarray(self._strata())
        groups = [np.flatnonzero(labels == c) for c in np.unique(labels)] if stratify else [np.arange(len(self))]
        train_idx: list[int] = []
        eval_idx: list[int] = []
        for g in groups:
            g = rng.permutation(g)
            n_eval = int(round(len(g) * eval_fraction))
            eval_idx.extend(g[:n_eval].tolist())
            train_idx.extend(g[n_eval:].tolist())
        if not train_idx or not eval_idx:
            raise DataError(f"{self.source}: {len(self)} rows are too few to split with eval_fraction={eval_fraction}")
        return self.subset(sorted(train_idx)), self.subset(sorted(eval_idx))

    def _strata(self) -> list[int]:
        """One stratum per row: its label, or for multi-label rows the rarest positive label (-1: none)."""
        if not self.multi_label:
            return list(self.labels)
        freq = self.label_matrix().sum(axis=0)
        return [min(y, key=lambda j: (freq[j], j)) if y else -1 for y in self.labels]

    def summary(self) -> dict[str, Any]:
        """Plain-data description for results.json (no raw texts).

        ``label_counts`` counts the rows each label applies to (for multi-label data a row counts
        once for each of its labels; ``rows_without_label`` counts rows with none).
        """
        kind: dict[str, Any] = {}
        if not self.multi_label:
            counts = np.bincount(np.asarray(self.labels, dtype=int), minlength=self.num_labels)
        else:
            counts = np.bincount(np.asarray([j for y in self.labels for j in y], dtype=int), minlength=self.num_labels)
            kind = {"multi_label": True, "rows_without_label": int(sum(1 for y in self.labels if not y)),
                    "mean_labels_per_row": float(counts.sum() / len(self)) if len(self) else 0.0}
        meta: dict[str, Any] = {}
        per_example = set(self.meta.get("per_example", ()))
        for key, value in self.meta.items():
            if key in per_example:
                meta[key] = {"counts": {str(k): int(c) for k, c in sorted(Counter(value).items(), key=lambda kv: str(kv[0]))}}
            else:
                meta[key] = value
        return {
            "source": self.source,
            "sha256": self.sha256,
            "n_rows": len(self),
            "label_names": list(self.label_names),
            "label_counts": {n: int(c) for n, c in zip(self.label_names, counts)},
            **kind,
            "skipped_rows": int(self.skipped_rows),
            "has_rationales": self.rationales is not None,
            **({"meta": meta} if meta else {}),
        }


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------

#: file_format names accepted by :func:`load_dataset`, and the extensions that select them.
SUPPORTED_FORMATS: dict[str, tuple[str, ...]] = {
    "csv": (".csv",),
    "tsv": (".tsv", ".tab"),
    "jsonl": (".jsonl", ".ndjson"),
    "parquet": (".parquet", ".pq"),
}
_EXT_TO_FORMAT = {ext: fmt for fmt, exts in SUPPORTED_FORMATS.items() for ext in exts}

_MISSING = object()  # a JSONL record without the key, or a CSV row with too few fields
_INT_STRING = re.compile(r"[+-]?[0-9]+(?:\.0*)?")


@dataclass
class _Table:
    """Columnar intermediate form: the requested columns of every data row, plus positions."""

    columns: list[str]
    data: dict[str, list[Any]]
    n: int
    lines: list[int] | None = None  # 1-based file line where each row starts
    index: list[Any] | None = None  # DataFrame index labels, when not the default RangeIndex
    class_label_names: dict[str, list[str]] = field(default_factory=dict)  # HF ClassLabel columns


def _where(table: _Table, i: int) -> str:
    """Human-readable position of row ``i`` (0-based internally; 1-based in the message)."""
    s = f"row {i + 1}"
    if table.lines is not None:
        s += f" (line {table.lines[i]} of the file)"
    elif table.index is not None:
        s += f" (index {table.index[i]!r})"
    return s


def _is_null(v: Any) -> bool:
    if v is None or v is _MISSING:
        return True
    if isinstance(v, (float, np.floating)):
        return bool(np.isnan(v))
    return type(v).__name__ in ("NAType", "NaTType")


def _describe(v: Any) -> str:
    r = repr(v)
    if len(r) > 60:
        r = r[:57] + "..."
    return f"{type(v).__name__} {r}"


def load_dataset(
    source: Any,
    text_column: str = "text",
    label_column: str = "label",
    *,
    label_names: Sequence[str] | Mapping[Any, Any] | None = None,
    id_column: str | None = None,
    group_column: str | None = None,
    rationale_column: str | None = None,
    skip_invalid: bool = False,
    file_format: str | None = None,
    multi_label: bool | None = None,
    label_separator: str | None = None,
    label_columns: Sequence[str] | str | None = None,
) -> TextDataset:
    """Load and validate a labelled text dataset.

    ``source`` is a path to a CSV (``.csv``), TSV (``.tsv``/``.tab``), JSON Lines
    (``.jsonl``/``.ndjson``) or Parquet (``.parquet``/``.pq``) file, a directory written by
    ``datasets.Dataset.save_to_disk``, a pandas ``DataFrame`` or a Hugging Face
    ``datasets.Dataset``. ``file_format`` (one of :data:`SUPPORTED_FORMATS`) overrides the
    extension. Text files must be UTF-8 (a leading byte-order mark is ignored). CSV/TSV cells are
    read as strings, so texts such as ``NA`` or ``null`` stay texts; an empty cell is a missing
    value.

    Labels. ``label_names`` is optional: a list of names (position = label id), or a mapping
    ``name -> id`` such as a model's ``label2id`` (an ``id -> name`` mapping such as ``id2label``
    is recognised too). If every label of the column is an integer (also an integer-valued float,
    or a numeric string such as ``"1"`` in a CSV file) the labels are ids, and the label names are
    ``label_names`` or else ``["0", "1", ..., str(max)]``; an id outside ``0..k-1`` is an error.
    Otherwise labels are names: mapped through ``label_names`` when given (an unknown name is an
    error), else the label names are the sorted unique strings. Booleans are rejected as
    ambiguous. Surrounding whitespace of string labels is ignored. A Hugging Face ``ClassLabel``
    column provides the names itself (its ``-1`` means "no label").

    Validation. Every problem raises :class:`DataError` naming the file (``<DataFrame>`` or
    ``<datasets.Dataset>`` for in-memory sources), the column and the row. Rows are numbered
    1-based among data rows (header and blank lines excluded); for text files the 1-based line of
    the file is added, e.g. ``row 17 (line 18 of the file)`` for a CSV file with a header. With
    ``skip_invalid=True`` rows whose text is missing, empty, whitespace-only or not a string, or
    whose label is missing, are skipped instead; their number is stored in
    ``TextDataset.skipped_rows`` and logged as a warning on the ``audit.data`` logger. Unknown or
    out-of-range labels are always errors.

    Optional columns: ``id_column`` (unique, non-empty; stored as strings; default ids are the
    0-based positions of the loaded rows), ``group_column`` (strings; missing or empty -> ``None``)
    and ``rationale_column`` (one 0/1 flag per whitespace-separated word of the text, as a list
    or a string such as ``"0 1 0"``, as written by :func:`save_dataset`).

    Multi-label data (several labels may apply to a text; the dataset gets ``multi_label=True``
    and each row the list of its labels, possibly empty) comes in three shapes:

    * a label column holding lists (JSONL arrays, Parquet lists, a ``datasets`` ``Sequence``, or
      a JSON array such as ``["toxic", "insult"]`` in a CSV cell); chosen automatically when every
      label is a list, or with ``multi_label=True``;
    * a label column of delimited strings with ``label_separator`` (``"toxic|insult"``; an empty
      cell means no label applies);
    * one 0/1 column per label with ``label_columns`` (a list or a comma-separated string); the
      column names are the label names.

    List elements are names or ids exactly as single labels are (see above).
    """
    if isinstance(source, TextDataset):
        return source
    if isinstance(label_columns, str):
        label_columns = [c.strip() for c in label_columns.split(",") if c.strip()]
    if label_columns is not None:
        if not label_columns:
            raise DataError("label_columns: no column names given")
        if len(set(label_columns)) != len(label_columns):
            raise DataError(f"label_columns: duplicate column names in {list(label_columns)}")
        if label_separator is not None:
            raise DataError("give label_columns or label_separator, not both")
    if label_separator is not None and not label_separator:
        raise DataError("label_separator: empty separator")
    if multi_label is False and (label_columns is not None or label_separator is not None):
        raise DataError("label_columns and label_separator describe multi-label data; they cannot be used with multi_label=False")
    label_cols = list(label_columns) if label_columns is not None else [label_column]
    wanted = [c for c in (text_column, *label_cols, id_column, group_column, rationale_column) if c]
    table, name, fmt = _read_source(source, file_format, list(dict.fromkeys(wanted)))
    if label_columns is not None or label_separator is not None:
        multi_label = True
    return _build(
        table,
        name,
        fmt,
        text_column=text_column,
        label_column=label_column,
        label_names=label_names,
        id_column=id_column,
        group_column=group_column,
        rationale_column=rationale_column,
        skip_invalid=skip_invalid,
        multi_label=multi_label,
        label_separator=label_separator,
        label_columns=label_cols if label_columns is not None else None,
    )


def _read_source(source: Any, file_format: str | None, wanted: list[str]) -> tuple[_Table, str, str]:
    module = type(source).__module__ or ""
    if module.startswith("pandas"):
        import pandas as pd

        if not isinstance(source, pd.DataFrame):
            raise DataError(f"<{type(source).__name__}>: expected a pandas DataFrame, got {type(source).__name__}")
        name = "<DataFrame>"
        table = _table_from_frame(source, name, wanted)
        return table, name, "dataframe"
    if module.startswith("datasets"):
        name = "<datasets.Dataset>"
        return _table_from_hf(source, name, wanted), name, "datasets"
    if not isinstance(source, (str, os.PathLike)):
        raise DataError(
            f"<{type(source).__name__}>: unsupported data source; pass a file path, a directory saved with "
            "datasets.Dataset.save_to_disk, a pandas DataFrame or a datasets.Dataset"
        )

    name = os.fspath(source)
    path = Path(name).expanduser()
    if not path.exists():
        raise DataError(f"{name}: file not found")
    if path.is_dir():
        if (path / "dataset_dict.json").is_file():
            try:
                splits = json.loads((path / "dataset_dict.json").read_text(encoding="utf-8")).get("splits", [])
            except (OSError, ValueError):
                splits = sorted(p.name for p in path.iterdir() if p.is_dir())
            raise DataError(
                f"{name}: this directory holds a datasets.DatasetDict with splits {list(splits)}; pick one, "
                f"e.g. load_dataset('{name}/{splits[0] if splits else '<split>'}') or pass "
                "datasets.load_from_disk(path)[split]"
            )
        if (path / "dataset_info.json").is_file() or (path / "state.json").is_file():
            try:
                import datasets
            except ImportError as e:  # pragma: no cover - optional dependency
                raise DataError(f"{name}: reading a saved Hugging Face dataset needs the 'datasets' package") from e
            try:
                ds = datasets.load_from_disk(str(path))
            except Exception as e:  # noqa: BLE001 - report any reader failure as a DataError
                raise DataError(f"{name}: cannot read the saved Hugging Face dataset: {e}") from e
            if not isinstance(ds, datasets.Dataset):
                raise DataError(f"{name}: expected a datasets.Dataset, found {type(ds).__name__}")
            return _table_from_hf(ds, name, wanted), name, "datasets"
        raise DataError(
            f"{name}: is a directory but not one written by datasets.Dataset.save_to_disk "
            "(no dataset_info.json or state.json); pass a data file instead"
        )

    fmt = file_format.lower().lstrip(".") if file_format else None
    if fmt is not None and fmt not in SUPPORTED_FORMATS:
        fmt = _EXT_TO_FORMAT.get("." + fmt)
        if fmt is None:
            raise DataError(f"{name}: unsupported file_format {file_format!r}; use one of {sorted(SUPPORTED_FORMATS)}")
    if fmt is None:
        fmt = _EXT_TO_FORMAT.get(path.suffix.lower())
        if fmt is None:
            exts = ", ".join(sorted(_EXT_TO_FORMAT))
            raise DataError(
                f"{name}: unsupported file extension {path.suffix or '(none)'!r}; supported: {exts} "
                "(or pass file_format=...)"
            )

    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{name}: the file is empty (0 data rows)")
    if fmt == "parquet":
        import pandas as pd

        try:
            frame = pd.read_parquet(path)
        except Exception as e:  # noqa: BLE001
            raise DataError(f"{name}: cannot read as Parquet: {e}") from e
        return _table_from_frame(frame, name, wanted, use_index=False), name, fmt

    text = _decode_utf8(raw, name)
    if fmt == "jsonl":
        return _read_jsonl(text, name, wanted), name, fmt
    return _read_delimited(text, name, "," if fmt == "csv" else "\t", wanted), name, fmt


def _decode_utf8(raw: bytes, name: str) -> str:
    try:
        text = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        line_start = raw.rfind(b"\n", 0, e.start) + 1
        line = raw.count(b"\n", 0, e.start) + 1
        raise DataError(
            f"{name}: not valid UTF-8: byte 0x{raw[e.start]:02x} at byte offset {e.start} (0-based) "
            f"(line {line} of the file, column {e.start - line_start + 1} counted in bytes); "
            "re-save the file as UTF-8"
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def _read_delimited(text: str, name: str, delimiter: str, wanted: list[str]) -> _Table:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', strict=True)
    header: list[str] | None = None
    prev_line = 0
    rows: list[list[str]] = []
    lines: list[int] = []
    header_line = 0
    try:
        for record in reader:
            start = prev_line + 1
            prev_line = reader.line_num
            if not record or (len(record) == 1 and record[0].strip() == "" and header is not None):
                continue  # blank line
            if header is None:
                header = [h.strip() for h in record]
                header_line = start
                continue
            if len(record) > len(header):
                raise DataError(
                    f"{name}: row {len(rows) + 1} (line {start} of the file) has {len(record)} fields but "
                    f"the header (line {header_line}) has {len(header)}; quote texts that contain "
                    f"{'commas' if delimiter == ',' else 'tabs'}"
                )
            rows.append(record)
            lines.append(start)
    except csv.Error as e:
        raise DataError(f"{name}: malformed {'CSV' if delimiter == ',' else 'TSV'} near line {reader.line_num} of the file: {e}") from None
    if header is None:
        raise DataError(f"{name}: the file is empty (0 data rows)")
    positions: dict[str, int] = {}
    for j, h in enumerate(header):
        if h in positions and h in wanted:
            raise DataError(f"{name}: column {h!r} appears twice in the header (line {header_line})")
        positions.setdefault(h, j)
    data: dict[str, list[Any]] = {}
    for col in wanted:
        j = positions.get(col)
        if j is None:
            continue
        data[col] = [r[j] if j < len(r) else _MISSING for r in rows]
    return _Table(columns=list(header), data=data, n=len(rows), lines=lines)


def _read_jsonl(text: str, name: str, wanted: list[str]) -> _Table:
    lines: list[int] = []
    records: list[dict[str, Any]] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(
                f"{name}: row {len(records) + 1} (line {lineno} of the file): invalid JSON: {e.msg} at column {e.colno}"
            ) from None
        if not isinstance(obj, dict):
            raise DataError(
                f"{name}: row {len(records) + 1} (line {lineno} of the file): expected a JSON object "
                f"{{\"{wanted[0]}\": ..., ...}}, got {type(obj).__name__}"
            )
        records.append(obj)
        lines.append(lineno)
    columns: list[str] = []
    seen: set[str] = set()
    for r in records:
        for k in r:
            if k not in seen:
                seen.add(k)
                columns.append(k)
    data = {col: [r.get(col, _MISSING) for r in records] for col in wanted if col in seen}
    return _Table(columns=columns, data=data, n=len(records), lines=lines)


def _table_from_frame(frame: Any, name: str, wanted: list[str], use_index: bool = True) -> _Table:
    import pandas as pd

    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns):
        dup = sorted({c for c in columns if columns.count(c) > 1})
        if any(c in wanted for c in dup):
            raise DataError(f"{name}: duplicate column names {dup}")
    data: dict[str, list[Any]] = {}
    for col in wanted:
        if col in columns:
            series = frame.iloc[:, columns.index(col)]
            data[col] = series.astype(object).tolist()
    index = None
    if use_index and not (isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0 and frame.index.step == 1):
        index = frame.index.tolist()
    return _Table(columns=columns, data=data, n=len(frame), index=index)


def _table_from_hf(ds: Any, name: str, wanted: list[str]) -> _Table:
    cls = type(ds).__name__
    if cls == "DatasetDict":
        raise DataError(f"{name}: got a datasets.DatasetDict with splits {list(ds.keys())}; pass one split, e.g. ds['train']")
    if not hasattr(ds, "column_names") or not hasattr(ds, "features") or cls != "Dataset":
        raise DataError(f"{name}: expected a datasets.Dataset, got {cls}")
    columns = list(ds.column_names)
    data = {col: list(ds[col]) for col in wanted if col in columns}
    class_names: dict[str, list[str]] = {}
    for col in wanted:
        feat = ds.features.get(col) if col in columns else None
        inner = getattr(feat, "feature", None)  # Sequence / List of ClassLabel (multi-label)
        for f in (feat, inner):
            if f is not None and type(f).__name__ == "ClassLabel":
                class_names[col] = list(f.names)
    return _Table(columns=columns, data=data, n=len(ds), class_label_names=class_names)


# --------------------------------------------------------------------------------------------
# Validation and label resolution
# --------------------------------------------------------------------------------------------


def _normalise_label_names(label_names: Sequence[str] | Mapping[Any, Any]) -> list[str]:
    """A list of names indexed by id, from a list or a ``label2id`` / ``id2label`` mapping."""

    def as_int(v: Any) -> int | None:
        if isinstance(v, (bool, np.bool_)):
            return None
        if isinstance(v, (int, np.integer)):
            return int(v)
        if isinstance(v, str) and re.fullmatch(r"[0-9]+", v.strip()):
            return int(v)
        return None

    if isinstance(label_names, Mapping):
        items = list(label_names.items())
        if items and all(isinstance(v, str) for _, v in items) and all(as_int(k) is not None for k, _ in items):
            id_to_name = {as_int(k): v for k, v in items}  # id2label
        else:
            id_to_name = {}
            for k, v in items:
                i = as_int(v)
                if i is None:
                    raise DataError(f"label_names: mapping value for {k!r} is {v!r}, expected an integer id (label2id)")
                if i in id_to_name:
                    raise DataError(f"label_names: id {i} is given to both {id_to_name[i]!r} and {k!r}")
                id_to_name[i] = str(k)
        if sorted(id_to_name) != list(range(len(id_to_name))):
            raise DataError(f"label_names: ids must be 0..{len(id_to_name) - 1}, got {sorted(id_to_name)}")
        names = [id_to_name[i] for i in range(len(id_to_name))]
    elif isinstance(label_names, (str, bytes)):
        raise DataError(f"label_names: expected a list of names or a name->id mapping, got a string {label_names!r}")
    else:
        names = [str(n) for n in label_names]
    if not names:
        raise DataError("label_names: empty")
    if len(set(names)) != len(names):
        raise DataError(f"label_names: duplicate names in {names}")
    return names


def _label_kind(v: Any) -> tuple[str, Any]:
    """Classify a non-null label: ('int', id), ('str', name), ('bool', v) or ('float', v)."""
    if isinstance(v, (bool, np.bool_)):
        return "bool", v
    if isinstance(v, (int, np.integer)):
        return "int", int(v)
    if isinstance(v, (float, np.floating)):
        if math.isfinite(v) and float(v).is_integer():
            return "int", int(v)
        return "float", v
    if isinstance(v, str):
        s = v.strip()
        if _INT_STRING.fullmatch(s):
            return "numstr", int(float(s)) if "." in s else int(s)
        return "str", s
    return "other", v


def _build(
    table: _Table,
    name: str,
    fmt: str,
    *,
    text_column: str,
    label_column: str,
    label_names: Sequence[str] | Mapping[Any, Any] | None,
    id_column: str | None,
    group_column: str | None,
    rationale_column: str | None,
    skip_invalid: bool,
    multi_label: bool | None = None,
    label_separator: str | None = None,
    label_columns: list[str] | None = None,
) -> TextDataset:
    roles = [("label", c) for c in label_columns] if label_columns is not None else [("label", label_column)]
    for role, col in (("text", text_column), *roles, ("id", id_column), ("group", group_column), ("rationale", rationale_column)):
        if col is not None and col not in table.data:
            raise DataError(
                f"{name}: no {role} column {col!r}; the columns are {table.columns}"
                + (f" (choose it with {role}_column= or --{role}-column)" if role in ("text", "label") else "")
            )
    if table.n == 0:
        raise DataError(f"{name}: no data rows (0 rows)")

    names_given = _normalise_label_names(label_names) if label_names is not None else None

    texts_raw = table.data[text_column]
    if label_columns is not None:
        labels_raw = [None] * table.n
    else:
        labels_raw = table.data[label_column]
    class_names = table.class_label_names.get(label_column)
    if multi_label is None:
        present = [y for y in labels_raw if not _is_null(y)]
        multi_label = bool(present) and all(isinstance(y, (list, tuple, np.ndarray)) for y in present)
    multi = _MultiLabels(table, name, label_column, label_separator, label_columns) if multi_label else None

    keep: list[int] = []
    skipped: list[str] = []

    def invalid(i: int, col: str, problem: str) -> None:
        msg = f"{name}: column {col!r}, {_where(table, i)}: {problem}"
        if not skip_invalid:
            raise DataError(msg + " (skip_invalid=True or --skip-invalid skips such rows)")
        skipped.append(msg)

    kinds: list[tuple[str, Any] | None] = [None] * table.n
    for i in range(table.n):
        t = texts_raw[i]
        if t is _MISSING:
            invalid(i, text_column, "no text (the field is absent)")
            continue
        if _is_null(t):
            invalid(i, text_column, "missing text (null)")
            continue
        if not isinstance(t, str):
            invalid(i, text_column, f"text must be a string, got {_describe(t)}")
            continue
        if not t.strip():
            invalid(i, text_column, "empty text" if t == "" else "text is only whitespace")
            continue
        if multi is not None:
            problem = multi.read(i)
            if problem is not None:
                invalid(i, problem[0], problem[1])
                continue
            keep.append(i)
            continue
        y = labels_raw[i]
        if _is_null(y) or (isinstance(y, str) and not y.strip()) or (class_names is not None and isinstance(y, (int, np.integer)) and int(y) == -1):
            invalid(i, label_column, "missing label" + (" (the field is absent)" if y is _MISSING else ""))
            continue
        kind = _label_kind(y)
        if kind[0] == "bool":
            raise DataError(f"{name}: column {label_column!r}, {_where(table, i)}: boolean label {y!r} is ambiguous; use 0/1 or names")
        if kind[0] == "float":
            raise DataError(f"{name}: column {label_column!r}, {_where(table, i)}: label {y!r} is not an integer")
        if kind[0] == "other":
            raise DataError(f"{name}: column {label_column!r}, {_where(table, i)}: label must be an integer or a string, got {_describe(y)}")
        kinds[i] = kind
        keep.append(i)

    if not keep:
        raise DataError(f"{name}: no valid rows ({table.n} rows, all skipped as invalid)" if skipped else f"{name}: no data rows")
    if multi is not None:
        labels_multi, out_names = multi.resolve(keep, names_given, class_names)
        return _finish(table, name, fmt, keep, skipped, labels_multi, out_names, text_column=text_column,
                       label_column=label_column if label_columns is None else ",".join(label_columns),
                       id_column=id_column, group_column=group_column, rationale_column=rationale_column, multi_label=True)

    # Decide per column: all integer-like -> ids; otherwise names.
    kept_kinds = [kinds[i] for i in keep]
    integer_mode = all(k[0] in ("int", "numstr") for k in kept_kinds)
    if not integer_mode:
        has_str = next(i for i in keep if kinds[i][0] == "str")
        has_num = next((i for i in keep if kinds[i][0] == "int"), None)
        if has_num is not None:
            raise DataError(
                f"{name}: column {label_column!r} mixes numeric labels ({_where(table, has_num)}: {labels_raw[has_num]!r}) "
                f"and string labels ({_where(table, has_str)}: {labels_raw[has_str]!r})"
            )

    labels: list[int] = []
    if integer_mode:
        if names_given is not None:
            out_names = names_given
        elif class_names is not None:
            out_names = class_names
        else:
            neg = next((i for i in keep if kinds[i][1] < 0), None)
            if neg is not None:
                raise DataError(f"{name}: column {label_column!r}, {_where(table, neg)}: negative label id {kinds[neg][1]}")
            out_names = [str(j) for j in range(max(kinds[i][1] for i in keep) + 1)]
        k = len(out_names)
        for i in keep:
            y = kinds[i][1]
            if not 0 <= y < k:
                raise DataError(
                    f"{name}: column {label_column!r}, {_where(table, i)}: label id {y} outside 0..{k - 1} "
                    f"(label names: {out_names})"
                )
            labels.append(y)
    else:
        if names_given is not None:
            out_names = names_given
        else:
            out_names = sorted({kinds[i][1] if kinds[i][0] == "str" else str(labels_raw[i]).strip() for i in keep})
        lookup = {n: j for j, n in enumerate(out_names)}
        for i in keep:
            s = kinds[i][1] if kinds[i][0] == "str" else str(labels_raw[i]).strip()
            if s not in lookup:
                hint = [n for n in out_names if n.lower() == str(s).lower()]
                raise DataError(
                    f"{name}: column {label_column!r}, {_where(table, i)}: unknown label {s!r}; known labels: {out_names}"
                    + (f" (did you mean {hint[0]!r}? matching is case-sensitive)" if hint else "")
                )
            labels.append(lookup[s])
    return _finish(table, name, fmt, keep, skipped, labels, out_names, text_column=text_column, label_column=label_column,
                   id_column=id_column, group_column=group_column, rationale_column=rationale_column, multi_label=False)


def _finish(table: _Table, name: str, fmt: str, keep: list[int], skipped: list[str], labels: list[Any], out_names: list[str], *,
            text_column: str, label_column: str, id_column: str | None, group_column: str | None,
            rationale_column: str | None, multi_label: bool) -> TextDataset:
    """The optional columns of the kept rows, and the dataset."""
    texts_raw = table.data[text_column]
    texts = [texts_raw[i] for i in keep]

    ids: list[str] | None = None
    if id_column is not None:
        ids = []
        first_seen: dict[str, int] = {}
        for i in keep:
            v = table.data[id_column][i]
            if _is_null(v) or (isinstance(v, str) and not v.strip()):
                raise DataError(f"{name}: column {id_column!r}, {_where(table, i)}: missing id")
            kind = _label_kind(v)
            sid = str(kind[1]) if kind[0] in ("int",) else (v.strip() if isinstance(v, str) else str(v))
            if sid in first_seen:
                raise DataError(f"{name}: column {id_column!r}, {_where(table, i)}: duplicate id {sid!r} (also at {_where(table, first_seen[sid])})")
            first_seen[sid] = i
            ids.append(sid)

    groups: list[str | None] | None = None
    if group_column is not None:
        groups = []
        for i in keep:
            v = table.data[group_column][i]
            if _is_null(v) or (isinstance(v, str) and not v.strip()):
                groups.append(None)
            else:
                kind = _label_kind(v)
                groups.append(str(kind[1]) if kind[0] == "int" else str(v))

    rationales: list[list[int]] | None = None
    if rationale_column is not None:
        rationales = []
        for i in keep:
            rationales.append(_parse_rationale(table.data[rationale_column][i], texts_raw[i], name, rationale_column, _where(table, i)))

    if skipped:
        logger.warning(
            "%s: skipped %d invalid row(s) of %d; first: %s",
            name,
            len(skipped),
            table.n,
            "; ".join(s.split(": ", 1)[1] for s in skipped[:3]),
        )

    return TextDataset(
        texts=texts,
        labels=labels,
        label_names=list(out_names),
        ids=ids,
        groups=groups,
        rationales=rationales,
        source=name,
        skipped_rows=len(skipped),
        meta={"format": fmt, "text_column": text_column, "label_column": label_column},
        multi_label=multi_label,
    )


class _MultiLabels:
    """Reads multi-label rows (lists, delimited strings or 0/1 columns) and resolves them to indices."""

    def __init__(self, table: _Table, name: str, column: str, separator: str | None, columns: list[str] | None) -> None:
        self.table, self.name, self.column, self.separator, self.columns = table, name, column, separator, columns
        self.elements: dict[int, list[tuple[str, Any]]] = {}  # row -> kinds of its labels
        self.flags: dict[int, list[int]] = {}  # row -> positive indices (label_columns)

    def _error(self, i: int, col: str, problem: str) -> DataError:
        return DataError(f"{self.name}: column {col!r}, {_where(self.table, i)}: {problem}")

    def read(self, i: int) -> tuple[str, str] | None:
        """Parse row ``i``; returns (column, problem) for a missing label, raises for a malformed one."""
        if self.columns is not None:
            flags = []
            for j, col in enumerate(self.columns):
                v = self.table.data[col][i]
                if _is_null(v) or (isinstance(v, str) and not v.strip()):
                    return col, "missing value" + (" (the field is absent)" if v is _MISSING else "")
                kind = ("int", int(v)) if isinstance(v, (bool, np.bool_)) else _label_kind(v)
                if kind[0] not in ("int", "numstr") or kind[1] not in (0, 1):
                    raise self._error(i, col, f"a label column holds 0 or 1, got {_describe(v)}")
                if kind[1]:
                    flags.append(j)
            self.flags[i] = flags
            return None
        v = self.table.data[self.column][i]
        if not isinstance(v, (list, tuple, np.ndarray)) and _is_null(v):
            return self.column, "missing label" + (" (the field is absent)" if v is _MISSING else "")
        if isinstance(v, str):
            s = v.strip()
            if self.separator is not None:
                items: Any = [p.strip() for p in s.split(self.separator) if p.strip()]
            elif s.startswith("["):
                try:
                    items = json.loads(s)
                except json.JSONDecodeError:
                    raise self._error(i, self.column, f"labels {s[:40]!r} are not a valid JSON list") from None
            else:
                raise self._error(i, self.column, f"expected a list of labels, got {_describe(v)} "
                                  "(for delimited labels such as 'toxic|insult' pass label_separator= or --label-separator)")
        else:
            items = v
        if not isinstance(items, (list, tuple, np.ndarray)):
            raise self._error(i, self.column, f"expected a list of labels, got {_describe(items)}")
        kinds = []
        for x in list(items):
            kind = _label_kind(x)
            if kind[0] not in ("int", "numstr", "str"):
                raise self._error(i, self.column, f"each label must be an integer id or a name, got {_describe(x)}")
            kinds.append(kind)
        self.elements[i] = kinds
        return None

    def resolve(self, keep: list[int], names_given: list[str] | None, class_names: list[str] | None) -> tuple[list[list[int]], list[str]]:
        if self.columns is not None:
            if names_given is None:
                return [self.flags[i] for i in keep], list(self.columns)
            if sorted(names_given) != sorted(self.columns):
                raise DataError(f"{self.name}: the label columns {self.columns} are not the labels {names_given}")
            position = [names_given.index(c) for c in self.columns]  # columns in any order, labels in the given order
            return [sorted(position[j] for j in self.flags[i]) for i in keep], list(names_given)
        all_kinds = [(i, k) for i in keep for k in self.elements[i]]
        integer_mode = all(k[0] in ("int", "numstr") for _, k in all_kinds)
        if integer_mode:
            if names_given is not None:
                names = names_given
            elif class_names is not None:
                names = class_names
            else:
                neg = next(((i, k) for i, k in all_kinds if k[1] < 0), None)
                if neg is not None:
                    raise self._error(neg[0], self.column, f"negative label id {neg[1][1]}")
                if not all_kinds:
                    raise DataError(f"{self.name}: column {self.column!r}: no row has any label; pass label_names to name them")
                names = [str(j) for j in range(max(k[1] for _, k in all_kinds) + 1)]
            out = []
            for i in keep:
                ids = [k[1] for k in self.elements[i]]
                bad = next((y for y in ids if not 0 <= y < len(names)), None)
                if bad is not None:
                    raise self._error(i, self.column, f"label id {bad} outside 0..{len(names) - 1} (label names: {names})")
                out.append(sorted(set(ids)))
            return out, list(names)
        if any(k[0] == "int" for _, k in all_kinds):
            i = next(i for i, k in all_kinds if k[0] == "int")
            raise self._error(i, self.column, "mixes numeric and string labels")
        names = names_given if names_given is not None else sorted({str(k[1]) for _, k in all_kinds})
        lookup = {n: j for j, n in enumerate(names)}
        out = []
        for i in keep:
            row = []
            for k in self.elements[i]:
                if str(k[1]) not in lookup:
                    raise self._error(i, self.column, f"unknown label {str(k[1])!r}; known labels: {names}")
                row.append(lookup[str(k[1])])
            out.append(sorted(set(row)))
        return out, list(names)


def _parse_rationale(v: Any, text: str, name: str, col: str, where: str) -> list[int]:
    n_words = len(text.split())
    if _is_null(v):
        raise DataError(f"{name}: column {col!r}, {where}: missing rationale")
    if isinstance(v, str):
        s = v.strip()
        if s.startswith("["):
            try:
                v = json.loads(s)
            except json.JSONDecodeError:
                raise DataError(f"{name}: column {col!r}, {where}: rationale {s[:40]!r} is not valid JSON") from None
        else:
            v = s.split()
    try:
        flags = [int(x) for x in v]
    except (TypeError, ValueError):
        raise DataError(f"{name}: column {col!r}, {where}: rationale must be 0/1 flags, got {_describe(v)}") from None
    if any(f not in (0, 1) for f in flags):
        raise DataError(f"{name}: column {col!r}, {where}: rationale flags must be 0 or 1")
    if len(flags) != n_words:
        raise DataError(f"{name}: column {col!r}, {where}: rationale has {len(flags)} flags but the text has {n_words} words")
    return flags


# --------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------


def save_dataset(ds: TextDataset, path: str | os.PathLike, *, include_rationales: bool = True) -> Path:
    """Write ``ds`` to ``path`` atomically (temp file in the same directory + ``os.replace``).

    The format follows the extension: CSV, TSV, JSONL or Parquet. Columns: ``id``, ``text``,
    ``label`` (the label *name*), ``group`` (when the dataset has groups) and ``rationale`` (when
    it has rationales and ``include_rationales``; a space-separated ``"0 1 0"`` string in CSV/TSV,
    a list in JSONL/Parquet). For multi-label data ``label`` holds the list of label names (a JSON
    array in CSV/TSV). Read it back with::

        load_dataset(path, id_column="id", group_column="group", rationale_column="rationale",
                     label_names=ds.label_names)

    which reproduces the same ``sha256`` (for multi-label data written as CSV/TSV add
    ``multi_label=True``; lists in JSONL/Parquet are recognised by themselves).
    """
    path = Path(path).expanduser()
    fmt = _EXT_TO_FORMAT.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: unsupported file extension {path.suffix or '(none)'!r}; supported: {', '.join(sorted(_EXT_TO_FORMAT))}")
    with_r = include_rationales and ds.rationales is not None
    columns = ["id", "text", "label"] + (["group"] if ds.groups is not None else []) + (["rationale"] if with_r else [])

    def row(i: int, flat: bool) -> list[Any]:
        if ds.multi_label:
            names = [ds.label_names[j] for j in ds.labels[i]]
            label: Any = json.dumps(names, ensure_ascii=False) if flat else names
        else:
            label = ds.label_names[ds.labels[i]]
        r: list[Any] = [ds.ids[i], ds.texts[i], label]
        if ds.groups is not None:
            g = ds.groups[i]
            r.append(("" if g is None else g) if flat else g)
        if with_r:
            r.append(" ".join(str(int(f)) for f in ds.rationales[i]) if flat else [int(f) for f in ds.rationales[i]])
        return r

    with atomic_file(path) as tmp:
        if fmt == "parquet":
            import pandas as pd

            frame = pd.DataFrame([row(i, flat=False) for i in range(len(ds))], columns=columns)
            frame.to_parquet(tmp, index=False)
        else:
            with open(tmp, "w", encoding="utf-8", newline="") as f:
                if fmt == "jsonl":
                    for i in range(len(ds)):
                        f.write(json.dumps(dict(zip(columns, row(i, flat=False))), ensure_ascii=False) + "\n")
                else:
                    w = csv.writer(f, delimiter="," if fmt == "csv" else "\t", lineterminator="\n")
                    w.writerow(columns)
                    for i in range(len(ds)):
                        w.writerow(row(i, flat=True))
    return path
