"""Coercion of untrusted JSON values and their formatting as display strings."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

DASH = "\u2014"


def as_dict(value: Any) -> dict[str, Any]:
    """The value as a dict with string keys, or an empty dict when it is not a mapping."""
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    return {}


def as_list(value: Any) -> list[Any]:
    """The value as a list, or an empty list when it is not a list or tuple."""
    return list(value) if isinstance(value, (list, tuple)) else []


def as_float(value: Any) -> float | None:
    """A float from a number (not a bool), or None; non-finite values are kept."""
    if value is None or isinstance(value, bool):
        return None
    if not isinstance(value, (int, float, str)):
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def as_finite(value: Any) -> float | None:
    """A finite float, or None."""
    f = as_float(value)
    return f if f is not None and math.isfinite(f) else None


def as_int(value: Any) -> int | None:
    """An int from an int or an integral float (not a bool), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def as_text(value: Any) -> str:
    """A display string for any JSON value; None becomes an empty string."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return fmt_value(value)


def fmt_num(value: Any, digits: int = 3) -> str:
    """Format a number for a table cell; other values fall back to :func:`fmt_value`."""
    if value is None:
        return DASH
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return fmt_value(value)
    if isinstance(value, int):
        return f"{value:,}"
    f = float(value)
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "\u221e" if f > 0 else "\u2212\u221e"
    if f != 0 and abs(f) < 10 ** -digits:
        return f"{f:.2e}"
    return f"{f:,.{digits}f}"


def fmt_pct(value: Any, digits: int = 1) -> str:
    """Format a fraction as a percentage."""
    f = as_float(value)
    if f is None:
        return DASH if value is None else fmt_value(value)
    if not math.isfinite(f):
        return fmt_num(f)
    return f"{f * 100:.{digits}f}%"


def fmt_seconds(value: Any) -> str:
    """Format a duration in seconds."""
    f = as_float(value)
    if f is None:
        return DASH if value is None else fmt_value(value)
    if not math.isfinite(f):
        return fmt_num(f)
    if f >= 120:
        return f"{f / 60:.1f} min"
    return f"{f:.1f} s"


def fmt_score(value: float | None) -> str:
    """Format an attribution score with its sign."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if value != 0 and abs(value) < 1e-3:
        return f"{value:+.2e}"
    return f"{value:+.3f}"


def fmt_value(value: Any) -> str:
    """A compact display string for any JSON value."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else fmt_num(value)
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(_is_scalar(v) for v in value):
        return ", ".join(fmt_value(v) for v in value) if value else "[]"
    return to_json(value, indent=None)


def to_json(value: Any, indent: int | None = 2) -> str:
    """JSON text for a value, tolerant of values json cannot encode."""
    try:
        return json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=False, default=str)
    except (ValueError, TypeError, RecursionError):
        return "(not representable)"


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def shorten(text: str, limit: int = 40) -> str:
    """Collapse whitespace and cut a string to ``limit`` characters."""
    s = " ".join(text.split())
    return s if len(s) <= limit else s[: limit - 1] + "\u2026"
