"""How much of each text the model reads: texts longer than the model's input are cut, silently.

A classifier sees at most ``max_length`` tokens (special tokens included); the rest of a longer
text has no influence on its prediction. :func:`measure_truncation` finds, for every text, the
character offset where the model's input ends (from the tokenizer's offsets, so it holds for any
tokenizer family), and summarises how many texts were cut and how much text was lost.
"""

from __future__ import annotations

import contextlib
import statistics
from dataclasses import dataclass, field
from typing import Any, Sequence


@dataclass
class Truncation:
    """Per-text cut points and their summary. ``cut_at[i]`` is the character offset where the model's
    input of text ``i`` ends, None when it fits whole (or when the tokenizer truncates on the left: the
    model then reads the end of the text, and ``chars_cut`` counts what it lost at the start)."""

    max_length: int
    token_counts: list[int]
    cut_at: list[int | None]
    chars_cut: list[int]
    n_chars: int
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.summary)


@contextlib.contextmanager
def _quiet_transformers() -> Any:
    """Silence transformers' "sequence longer than the maximum" warning while counting full lengths."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - transformers is a dependency
        yield
        return
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def measure_truncation(bundle: Any, texts: Sequence[str], max_length: int | None = None, chunk: int = 256) -> Truncation:
    """Where each text is cut when tokenised for ``bundle`` with at most ``max_length`` tokens."""
    texts = list(texts)
    limit = min(max_length or bundle.max_length, bundle.max_length)
    tok = bundle.tokenizer
    left = getattr(tok, "truncation_side", "right") == "left"
    counts: list[int] = []
    cut_at: list[int | None] = []
    chars_cut: list[int] = []
    with _quiet_transformers():
        for start in range(0, len(texts), chunk):
            part = texts[start : start + chunk]
            full = tok(part, truncation=False, add_special_tokens=True)["input_ids"]
            kept = tok(part, truncation=True, max_length=limit, return_offsets_mapping=True,
                       return_special_tokens_mask=True)
            for i, text in enumerate(part):
                counts.append(len(full[i]))
                if len(full[i]) <= limit:
                    cut_at.append(None)
                    chars_cut.append(0)
                    continue
                spans = [(s, e) for (s, e), special in zip(kept["offset_mapping"][i], kept["special_tokens_mask"][i])
                         if not special and e > s]
                if left:  # the model reads the end of the text: what comes before its first token is lost
                    start = min((s for s, _ in spans), default=len(text))
                    cut_at.append(None)
                    chars_cut.append(max(0, start - (len(text) - len(text.lstrip()))))
                    continue
                end = max((e for _, e in spans), default=0)
                cut_at.append(end)
                chars_cut.append(max(0, len(text.rstrip()) - end))
    n_chars = sum(len(t.rstrip()) for t in texts)
    n_cut = sum(c > limit for c in counts)
    summary = {
        "max_length": limit,
        "side": "left" if left else "right",
        "n_texts": len(texts),
        "n_truncated": n_cut,
        "fraction_truncated": n_cut / len(texts) if texts else 0.0,
        "tokens_cut": int(sum(max(0, c - limit) for c in counts)),
        "chars_cut": int(sum(chars_cut)),
        "fraction_chars_cut": sum(chars_cut) / n_chars if n_chars else 0.0,
        "median_tokens": float(statistics.median(counts)) if counts else 0.0,
        "max_tokens": max(counts, default=0),
    }
    return Truncation(limit, counts, cut_at, chars_cut, n_chars, summary)


def truncation_check(name: str, summary: dict[str, Any]) -> Any:
    """A pass/warn line: warn when any evaluation text was longer than the model's input."""
    from .results import Check

    n, total, limit = summary["n_truncated"], summary["n_texts"], summary["max_length"]
    if not n:
        return Check(f"{name}: truncation", "pass", 0, 0, f"every one of {total} evaluation texts fits in {limit} tokens")
    return Check(f"{name}: truncation", "warn", n, 0,
                 f"{n} of {total} evaluation texts ({summary['fraction_truncated']:.1%}) are longer than {limit} tokens; "
                 f"the model never saw {summary['fraction_chars_cut']:.1%} of the evaluation text "
                 f"({summary['chars_cut']} characters, {summary['tokens_cut']} tokens)")


__all__ = ["Truncation", "measure_truncation", "truncation_check"]
