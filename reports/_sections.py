"""Report sections contributed by later analyses (robustness, privacy, faithfulness, ...).

Each entry names a view module with ``build(results: Mapping) -> dict | None`` and a template
under ``templates/sections/``. ``build`` reads the (untrusted) results dict and returns the plain
view the template needs, or ``None`` when the results hold nothing for that section. An entry
whose module or template is not installed is skipped, so the core report never depends on them.
The template receives ``section`` (the view), ``view`` (the core view) and the ``ui`` macros.

A model's section may instead say that the analysis does not apply to it
(``{"not_applicable": true, "reason": "..."}``, e.g. an analysis that assumes one label per text
and a multi-label classifier): such entries are taken out before ``build`` and shown as notes.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class Section:
    key: str  # also the HTML id of the section
    title: str
    module: str  # "reports._view_<key>", providing build(results)
    template: str  # relative to templates/


# Rendered in this order, after "Explanations" and before "Limitations".
SECTIONS: tuple[Section, ...] = (
    Section("faithfulness", "Explanation quality", "reports._view_faithfulness", "sections/faithfulness.html.j2"),
    Section("robustness", "Robustness", "reports._view_robustness", "sections/robustness.html.j2"),
    Section("privacy", "Privacy", "reports._view_privacy", "sections/privacy.html.j2"),
    Section("privacy_audit", "Privacy leakage audit", "reports._view_privacy_audit", "sections/privacy_audit.html.j2"),
    Section("pii", "Personal data in the training text", "reports._view_pii", "sections/pii.html.j2"),
    Section("regulatory", "Regulatory map (EU AI Act)", "reports._view_regulatory", "sections/regulatory.html.j2"),
)


def _not_applicable(results: Mapping[str, Any], key: str) -> tuple[Mapping[str, Any], list[dict[str, str]]]:
    """The results without models whose ``key`` section is marked not applicable, and their notes."""
    models = results.get("models")
    if not isinstance(models, Mapping):
        return results, []
    notes, kept = [], {}
    for name, entry in models.items():
        sec = entry.get(key) if isinstance(entry, Mapping) else None
        if isinstance(sec, Mapping) and sec.get("not_applicable") is True:
            reason = sec.get("reason")
            notes.append({"model": str(name), "reason": reason if isinstance(reason, str) and reason else "not applicable"})
            kept[name] = {k: v for k, v in entry.items() if k != key}
        else:
            kept[name] = entry
    return ({**results, "models": kept} if notes else results), notes


def build_sections(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Views of every registered section that is installed and has something to show."""
    out = []
    for s in SECTIONS:
        if not (_TEMPLATES / s.template).is_file():
            continue
        try:
            module = importlib.import_module(s.module)
        except ModuleNotFoundError as exc:
            if exc.name == s.module:
                continue
            raise
        shown, notes = _not_applicable(results, s.key)
        view = module.build(shown)
        if view or notes:
            out.append({"key": s.key, "title": s.title, "template": s.template, "view": view or None, "notes": notes})
    return out
