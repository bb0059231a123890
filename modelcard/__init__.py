"""A Hugging Face model card from saved audit results.

``build_card(results, model, info)`` returns a ``huggingface_hub.ModelCard``: front matter whose
``model-index`` holds the held-out metrics, then model details, intended use, training (with the
privacy ledger in plain words), evaluation, explanations, robustness, privacy, limitations and the
EU AI Act regulatory map. ``write_card`` writes it atomically. Reads results.json only: no torch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._build import build_card, card_text, select_model
from ._info import MISSING_PREFIX, CardInfo, load_card_info, missing
from ._markdown import md


def write_card(results: Mapping[str, Any], path: str | os.PathLike[str], model: str | None = None,
               info: CardInfo | None = None) -> Path:
    """Build the card and write it to ``path`` atomically (temporary file, then rename); return the path."""
    from reports._io import write_text_atomic

    return write_text_atomic(str(build_card(results, model, info)), path)


__all__ = ["MISSING_PREFIX", "CardInfo", "build_card", "card_text", "load_card_info", "md", "missing", "select_model",
           "write_card"]
