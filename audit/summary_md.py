"""A short markdown summary of an audit for a CI step summary or a merge-request comment: the
verdict, a table of the checks, headline metrics per model, and the thresholds used.

Every piece of text taken from the results (model names, check names and messages) is escaped:
HTML-special characters become entities and markdown punctuation is backslash-escaped, so a
message holding ``|``, backticks or ``<script>`` stays plain text inside its table cell.
Standard library only.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

from ._util import atomic_write_text
from .gate import Verdict

MARKERS = {"pass": "PASS", "warn": "WARN", "fail": "**FAIL**", "error": "**ERROR**"}
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
# inline markdown syntax: code, emphasis, links and images, table cells, strikethrough, math,
# mentions and references (line-start syntax such as lists cannot occur: text never starts a line)
_PUNCT = set("\\`*_[]|~!$@#")
# control characters and bidirectional overrides would garble or disguise the text around them
_HIDDEN = re.compile("[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def escape(text: Any) -> str:
    """``text`` as inline markdown that renders literally on one line (safe inside a table cell)."""
    s = _HIDDEN.sub(" ", "" if text is None else str(text))
    out = []
    for ch in s:
        if ch in _ENTITIES:
            out.append(_ENTITIES[ch])
        elif ch in _PUNCT:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out).strip()


def _number(x: Any) -> str:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return "" if x is None else escape(x)
    if not math.isfinite(float(x)):
        return "n/a"
    return str(x) if isinstance(x, int) else f"{x:.4g}"


def _percent(x: Any) -> str:
    return f"{100 * x:.1f}%" if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else "n/a"


def _checks_table(checks: Iterable[Mapping[str, Any]]) -> list[str]:
    rows = ["| Status | Check | Value | Threshold | Details |", "| --- | --- | --- | --- | --- |"]
    for c in checks:
        rows.append(f"| {MARKERS.get(str(c.get('status')), escape(c.get('status')))} | {escape(c.get('name'))} | "
                    f"{_number(c.get('value'))} | {_number(c.get('threshold'))} | {escape(c.get('message'))} |")
    return rows


def _metrics_table(models: Mapping[str, Any]) -> list[str]:
    rows = ["| Model | Headline metric | Macro-F1 | ECE | Examples |", "| --- | --- | --- | --- | --- |"]
    for name, section in models.items():
        perf = section.get("performance") if isinstance(section, Mapping) else None
        perf = perf if isinstance(perf, Mapping) else {}
        if perf.get("problem_type") == "multi_label":
            head = f"micro-F1 {_percent(perf.get('f1_micro'))}"
        else:
            head = f"accuracy {_percent(perf.get('accuracy'))}"
        rows.append(f"| {escape(name)} | {head} | {_percent(perf.get('f1_macro'))} | {_number(perf.get('ece'))} | "
                    f"{_number(perf.get('n'))} |")
    return rows


def render(results: Mapping[str, Any], checks: list[Mapping[str, Any]], verdict: Verdict,
           thresholds: Mapping[str, float] | None = None, notes: Iterable[str] = (), source: str | None = None) -> str:
    """The summary document; ``checks`` are the (possibly re-judged) checks the verdict is about."""
    lines = [f"### Model audit: {MARKERS.get(verdict.status, verdict.status)}", "", escape(verdict.line()), ""]
    if source:
        lines += [f"Results: {escape(source)}", ""]
    lines += _checks_table(checks) + [""]
    if isinstance(results.get("models"), Mapping) and results["models"]:
        lines += ["#### Headline metrics", ""] + _metrics_table(results["models"]) + [""]
    if thresholds:
        lines += ["#### Thresholds", "", "| Threshold | Value |", "| --- | --- |"]
        lines += [f"| {escape(k)} | {_number(v)} |" for k, v in thresholds.items()] + [""]
    notes = list(notes)
    if notes:
        lines += ["#### Notes", ""] + [f"- {escape(n)}" for n in notes] + [""]
    return "\n".join(lines)


def write(path: str | Path, results: Mapping[str, Any], checks: list[Mapping[str, Any]], verdict: Verdict,
          thresholds: Mapping[str, float] | None = None, notes: Iterable[str] = (), source: str | None = None) -> Path:
    """Write the summary atomically (replacing the file); returns the path."""
    return atomic_write_text(path, render(results, checks, verdict, thresholds, notes, source))


__all__ = ["MARKERS", "escape", "render", "write"]
