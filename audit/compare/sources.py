"""The results files of a comparison (labelled A, B, C...) and which of their models are paired."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

Ref = tuple[int, str]  # (index of the results file, model name)


class CompareError(ValueError):
    """Results that cannot be compared as asked (unreadable file, unknown model, different data)."""


@dataclass
class Source:
    """One results.json given to the comparison, labelled A, B, C... in the order given."""

    label: str
    path: str
    results: dict[str, Any]

    @property
    def models(self) -> dict[str, Any]:
        models = self.results.get("models")
        return models if isinstance(models, dict) else {}

    @property
    def data_sha256(self) -> str | None:
        """The hash of the evaluation data the models were scored on (``eval_sha256``, else ``sha256``)."""
        data = self.results.get("data") if isinstance(self.results.get("data"), dict) else {}
        value = data.get("eval_sha256") or data.get("sha256")
        return str(value) if value else None

    def describe(self) -> dict[str, Any]:
        run = self.results.get("run") if isinstance(self.results.get("run"), dict) else {}
        data = self.results.get("data") if isinstance(self.results.get("data"), dict) else {}
        return {"label": self.label, "path": self.path, "created": run.get("created"), "command": run.get("command"),
                "data_sha256": self.data_sha256, "data_source": data.get("source"), "models": list(self.models)}


def file_label(index: int) -> str:
    """A, B, ..., Z, then 27, 28, ... (the 1-based position) for very long lists."""
    return chr(ord("A") + index) if index < 26 else str(index + 1)


def load_source(path: str | Path, index: int) -> Source:
    """Read one results.json (validated as the report renderer reads it); errors name the file."""
    from reports import ResultsError, load_results

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such results file")
    try:
        data = load_results(p)
    except ResultsError as exc:
        raise CompareError(str(exc)) from exc
    if not isinstance(data.get("models"), dict) or not data["models"]:
        raise CompareError(f"{p}: holds no model sections")
    return Source(file_label(index), str(p), data)


def load_sources(paths: Sequence[str | Path]) -> list[Source]:
    return [load_source(p, i) for i, p in enumerate(paths)]


def _ref_name(sources: Sequence[Source], ref: Ref) -> str:
    return f"{sources[ref[0]].label}:{ref[1]}"


def _resolve_file(token: str, sources: Sequence[Source], spec: str) -> int:
    for i, s in enumerate(sources):
        if token.upper() == s.label or token == str(i + 1):
            return i
    labels = ", ".join(f"{s.label} = {s.path}" for s in sources)
    raise CompareError(f"--pair {spec!r}: no results file {token!r} (files: {labels})")


def parse_pair(spec: str, sources: Sequence[Source]) -> tuple[Ref, Ref]:
    """``A:name=B:name``: model ``name`` of file A (the reference) against model ``name`` of file B.

    Files are named by letter in the order given (A, B, C...) or by 1-based position. Without a
    file, the left model is from A and the right from B, or both from A when one file is given.
    """
    if spec.count("=") != 1:
        raise CompareError(f"--pair {spec!r}: expected REF=REF such as A:baseline=B:baseline")
    sides = spec.split("=")
    refs: list[Ref] = []
    for side, default in zip(sides, (0, min(1, len(sources) - 1))):
        m = re.match(r"^([A-Za-z]|[0-9]+):(.+)$", side.strip())
        index, name = (_resolve_file(m.group(1), sources, spec), m.group(2)) if m else (default, side.strip())
        if not name:
            raise CompareError(f"--pair {spec!r}: a model name is empty")
        if name not in sources[index].models:
            known = ", ".join(repr(n) for n in sources[index].models)
            raise CompareError(f"--pair {spec!r}: {sources[index].path} ({sources[index].label}) has no model {name!r}; "
                               f"it holds {known}")
        refs.append((index, name))
    return refs[0], refs[1]


def default_pairs(sources: Sequence[Source]) -> tuple[list[tuple[Ref, Ref]], list[str]]:
    """Pairs to compare when none are given, and notes on models left unpaired.

    One file: its first model against each other model (the demo's "baseline" against
    "private"). Several files: every model of A against the same-named model of each other
    file; two files holding one model each are paired whatever the names.
    """
    if not sources:
        raise CompareError("no results files to compare")
    if len(sources) == 1:
        names = list(sources[0].models)
        if len(names) < 2:
            raise CompareError(f"{sources[0].path} holds one model ({names[0]!r}); give a second results.json to "
                               f"compare it with")
        return [((0, names[0]), (0, n)) for n in names[1:]], []
    pairs: list[tuple[Ref, Ref]] = []
    notes: list[str] = []
    first = list(sources[0].models)
    for j in range(1, len(sources)):
        other = list(sources[j].models)
        found = [((0, n), (j, n)) for n in first if n in sources[j].models]
        if not found and len(first) == 1 and len(other) == 1:
            found = [((0, first[0]), (j, other[0]))]
        if not found:
            raise CompareError(
                f"no model of {sources[0].path} ({', '.join(first)}) has a same-named model in {sources[j].path} "
                f"({', '.join(other)}); name the pairs with --pair A:NAME=B:NAME")
        paired_a = {a[1] for a, _ in found}
        paired_b = {b[1] for _, b in found}
        notes += [f"{sources[0].label}:{n} has no counterpart in {sources[j].label} and is not compared"
                  for n in first if n not in paired_a]
        notes += [f"{sources[j].label}:{n} has no counterpart in A and is not compared"
                  for n in other if n not in paired_b]
        pairs += found
    return pairs, notes
