"""HTML rendering of a results dict with jinja2 templates."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from ._format import DASH
from ._view import build_view

SUPPORTED_SCHEMA_VERSION = 1
_HERE = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=lambda value: DASH if value is None else value,
    )


@functools.lru_cache(maxsize=1)
def _stylesheet() -> Markup:
    css = (_HERE / "assets" / "report.css").read_text(encoding="utf-8")
    if "</" in css or "<!--" in css:
        raise ValueError("report.css must not contain '</' or '<!--'")
    return Markup(css)


def as_results(result: Any) -> Mapping[str, Any]:
    """The results as a mapping: a mapping itself, or the value of its ``to_dict()``."""
    if isinstance(result, Mapping):
        return result
    to_dict = getattr(result, "to_dict", None)
    if callable(to_dict):
        value = to_dict()
        if isinstance(value, Mapping):
            return value
        raise TypeError(f"{type(result).__name__}.to_dict() returned {type(value).__name__}, not a dict")
    raise TypeError(f"cannot render {type(result).__name__}: expected a dict or an object with to_dict()")


def check_schema_version(version: Any, source: str = "results") -> int:
    """Validate a schema_version value and return it; raise ValueError if unusable."""
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(f"{source}: schema_version must be an integer, got {version!r}")
    if version < 1:
        raise ValueError(f"{source}: schema_version {version} is not valid (must be >= 1)")
    if version > SUPPORTED_SCHEMA_VERSION:
        raise ValueError(
            f"{source}: schema_version {version} is newer than this renderer supports "
            f"(up to {SUPPORTED_SCHEMA_VERSION}); upgrade the package to render it"
        )
    return version


def render(result: Any) -> str:
    """Render results (a dict, or an object with ``to_dict()``) as one self-contained HTML page."""
    results = as_results(result)
    if "schema_version" in results:
        check_schema_version(results["schema_version"])
    template = _environment().get_template("base.html.j2")
    page = template.render(view=build_view(results), css=_stylesheet())
    # Lone surrogates (valid in JSON, not in UTF-8) become U+FFFD so the page can always be saved.
    return page.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
