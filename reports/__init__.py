"""Render saved audit results (plain dicts from results.json) as one offline HTML report.

Pure standard library plus jinja2, so a report can be re-rendered from JSON on any machine.
"""

from __future__ import annotations

from ._compare import render_comparison, write_comparison
from ._io import ResultsError, load_results, write_report
from ._render import SUPPORTED_SCHEMA_VERSION, render

__all__ = ["SUPPORTED_SCHEMA_VERSION", "ResultsError", "load_results", "render", "render_comparison", "write_comparison",
           "write_report"]
