"""Rendering a comparison of saved audits (the dict ``audit.compare.compare`` builds) as HTML."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from markupsafe import Markup

from ._io import write_text_atomic
from ._render import _HERE, _environment, _stylesheet
from ._view_compare import build_compare_view

SUPPORTED_COMPARISON_VERSION = 1


@functools.lru_cache(maxsize=1)
def _compare_stylesheet() -> Markup:
    css = (_HERE / "assets" / "compare.css").read_text(encoding="utf-8")
    if "</" in css or "<!--" in css:
        raise ValueError("compare.css must not contain '</' or '<!--'")
    return _stylesheet() + Markup("\n") + Markup(css)


def render_comparison(comparison: Mapping[str, Any]) -> str:
    """One self-contained HTML page for a comparison dict (compare.json)."""
    if not isinstance(comparison, Mapping):
        raise TypeError(f"cannot render {type(comparison).__name__}: expected a comparison dict")
    version = comparison.get("comparison_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > SUPPORTED_COMPARISON_VERSION:
        raise ValueError(f"comparison_version {version} is newer than this renderer supports "
                         f"({SUPPORTED_COMPARISON_VERSION}); upgrade the package to render it")
    template = _environment().get_template("compare.html.j2")
    page = template.render(view=build_compare_view(comparison), css=_compare_stylesheet())
    return page.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def write_comparison(comparison: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Render a comparison and write the HTML to ``path`` atomically."""
    return write_text_atomic(render_comparison(comparison), path)
