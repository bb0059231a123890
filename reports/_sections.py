"""Report sections contributed by later analyses (robustness, privacy, faithfulness, ...).

Each entry names a view module with ``build(results: Mapping) -> dict | None`` and a template
under ``templates/sections/``. ``build`` reads the (untrusted) results dict and returns the plain
view the template needs, or ``None`` when the results hold nothing for that section. An entry
whose module or template is not installed is skipped, so the core report never depends on them.
The template receives ``section`` (the view), ``view`` (the core view) and the ``ui`` macros.
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
)


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
        view = module.build(results)
        if view:
            out.append({"key": s.key, "title": s.title, "template": s.template, "view": view})
    return out
