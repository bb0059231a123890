"""What only the model's owner can say about it: intended use, licence, owners, dataset name...

Read from a small TOML file (``--card-info``) and/or command-line flags; anything not given is
marked in the card as missing, never filled in.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

MISSING_PREFIX = "[to be completed by the model owner: "


def missing(what: str) -> str:
    """The marker for a field the owner has not supplied."""
    return f"{MISSING_PREFIX}{what}]"


@dataclass(frozen=True)
class CardInfo:
    """Owner-supplied fields of a model card. Lists hold several values (owners, languages)."""

    model_name: str | None = None  # the name on the Hub; default: the model's name in the results
    intended_use: str | None = None
    out_of_scope_use: str | None = None
    owners: tuple[str, ...] = field(default_factory=tuple)
    contact: str | None = None
    license: str | None = None  # a Hub licence identifier, e.g. "apache-2.0"
    language: tuple[str, ...] = field(default_factory=tuple)  # ISO 639-1 codes, e.g. "en"
    dataset_name: str | None = None
    dataset_id: str | None = None  # the dataset's Hub id, when it has one
    base_model: str | None = None  # the Hub id of the model fine-tuned
    limitations: tuple[str, ...] = field(default_factory=tuple)  # known limitations beyond those the audit measured

    def merged(self, **overrides: Any) -> "CardInfo":
        """A copy with every override that is not None (or empty) applied."""
        given = {k: v for k, v in overrides.items() if v not in (None, (), [])}
        unknown = set(given) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"unknown card fields: {', '.join(sorted(unknown))}")
        return replace(self, **{k: tuple(v) if isinstance(v, list) else v for k, v in given.items()})


_LISTS = {"owners", "language", "limitations"}


def load_card_info(path: str | Path) -> CardInfo:
    """Read a card-info TOML file; unknown keys and wrong types are errors naming the file and key."""
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{p}: no such card-info file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{p}: not valid TOML ({exc})") from exc
    names = {f.name for f in fields(CardInfo)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in names:
            raise ValueError(f"{p}: unknown key {key!r}; known keys: {', '.join(sorted(names))}")
        if key in _LISTS:
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(v, str) and v.strip() for v in items):
                raise ValueError(f"{p}: {key!r} must be a string or a list of non-empty strings")
            values[key] = tuple(v.strip() for v in items)
        else:
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{p}: {key!r} must be a non-empty string")
            values[key] = value.strip()
    return CardInfo(**values)
