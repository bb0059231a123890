"""Colours computed from numbers only: a PuOr diverging palette and a sequential blue scale."""

from __future__ import annotations

import math
from collections.abc import Sequence

Rgb = tuple[int, int, int]
Stops = Sequence[tuple[float, Rgb]]

WHITE: Rgb = (255, 255, 255)
# PuOr (ColorBrewer), colour-blind safe; ends kept light enough for black text (contrast >= 4.5).
POSITIVE_STOPS: Stops = ((0.0, WHITE), (0.5, (253, 184, 99)), (1.0, (224, 130, 20)))
NEGATIVE_STOPS: Stops = ((0.0, WHITE), (0.5, (178, 171, 210)), (1.0, (128, 115, 172)))
SEQUENTIAL_STOPS: Stops = ((0.0, WHITE), (0.5, (158, 202, 225)), (1.0, (33, 102, 172)))


def to_hex(rgb: Rgb) -> str:
    """Format an RGB triple as ``#rrggbb`` after clamping each channel to 0..255."""
    r, g, b = (max(0, min(255, int(round(float(c))))) for c in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def _interpolate(stops: Stops, t: float) -> Rgb:
    t = max(0.0, min(1.0, t))
    for (t0, c0), (t1, c1) in zip(stops, stops[1:]):
        if t <= t1:
            f = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
            return (
                round(c0[0] + (c1[0] - c0[0]) * f),
                round(c0[1] + (c1[1] - c0[1]) * f),
                round(c0[2] + (c1[2] - c0[2]) * f),
            )
    return stops[-1][1]


def diverging(value: float) -> str:
    """Colour for a normalised score in [-1, 1]: purple below 0, white at 0, orange above."""
    v = float(value)
    if not math.isfinite(v):
        return to_hex(WHITE)
    v = max(-1.0, min(1.0, v))
    stops = POSITIVE_STOPS if v >= 0 else NEGATIVE_STOPS
    return to_hex(_interpolate(stops, abs(v)))


def sequential(value: float) -> str:
    """Colour for a share in [0, 1] on a white-to-blue scale."""
    v = float(value)
    if not math.isfinite(v):
        return to_hex(WHITE)
    return to_hex(_interpolate(SEQUENTIAL_STOPS, v))


def is_dark(value: float) -> bool:
    """Whether text on ``sequential(value)`` should be light for contrast."""
    v = float(value)
    return math.isfinite(v) and v > 0.6
