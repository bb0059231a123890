"""The shipped name and street-type lists (``audit/resources/pii_gazetteer.json.gz``, built by
``tools/build_pii_gazetteer.py`` from Faker's locale providers, MIT licence: see FAKER_LICENSE.txt)."""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path

GAZETTEER_PATH = Path(__file__).resolve().parents[2] / "resources" / "pii_gazetteer.json.gz"
KEYS = ("first_names", "ambiguous_first_names", "street_suffixes", "street_prefixes", "street_endings")


@lru_cache(maxsize=None)
def load(path: str | Path = GAZETTEER_PATH) -> dict[str, frozenset[str]]:
    """Name -> frozenset of words for each list; a clear error when the file is missing or malformed."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: personal-data gazetteer not found (rebuild it with tools/build_pii_gazetteer.py)")
    with gzip.open(p, "rt", encoding="utf-8") as fh:
        data = json.load(fh)
    missing = [k for k in KEYS if not isinstance(data.get(k), list)]
    if missing:
        raise ValueError(f"{p}: not a personal-data gazetteer: lists {missing} are missing")
    return {k: frozenset(data[k]) for k in KEYS}
