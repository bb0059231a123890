"""The common shape of every attribution method: an :class:`Attribution` per text.

Each method module holds one class that is constructed with its configuration and whose
``explain(bundle, texts, targets=None)`` returns one :class:`Attribution` per text. Token-level
scores are kept; word-level scores are the sums over each word's sub-word tokens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, Sequence

import numpy as np


@dataclass
class Attribution:
    """Scores for one text from one method. ``word_spans`` are character offsets into ``text``."""

    method: str
    text: str
    target: int
    tokens: list[str]
    token_scores: list[float]
    word_spans: list[tuple[int, int]]
    word_scores: list[float]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def words(self) -> list[str]:
        return [self.text[a:b] for a, b in self.word_spans]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["word_spans"] = [list(s) for s in self.word_spans]
        return d


class Explainer(Protocol):
    """What every attribution method provides."""

    name: str

    def explain(self, bundle: Any, texts: Sequence[str], targets: Sequence[int] | int | None = None) -> list[Attribution]:
        ...

    def config(self) -> dict[str, Any]:
        ...


@dataclass
class Encoded:
    """One text tokenized without padding, with the token-to-word map needed to merge scores."""

    text: str
    input_ids: list[int]
    tokens: list[str]
    word_ids: list[int | None]
    offsets: list[tuple[int, int]]
    special: list[bool]

    def __len__(self) -> int:
        return len(self.input_ids)

    def word_spans(self) -> list[tuple[int, int]]:
        spans: dict[int, list[int]] = {}
        for w, (a, b), sp in zip(self.word_ids, self.offsets, self.special):
            if w is None or sp:
                continue
            cur = spans.setdefault(w, [a, b])
            cur[0], cur[1] = min(cur[0], a), max(cur[1], b)
        return [tuple(spans[w]) for w in sorted(spans)]

    def merge_to_words(self, token_scores: np.ndarray) -> list[float]:
        """Sum token scores over each word; special tokens belong to no word."""
        order = sorted({w for w, sp in zip(self.word_ids, self.special) if w is not None and not sp})
        pos = {w: i for i, w in enumerate(order)}
        out = np.zeros(len(order), dtype=np.float64)
        for w, sp, s in zip(self.word_ids, self.special, token_scores):
            if w is not None and not sp:
                out[pos[w]] += float(s)
        return out.tolist()


def encode_texts(bundle: Any, texts: Sequence[str], max_length: int | None = None) -> list[Encoded]:
    """Tokenize each text on its own (no padding), keeping offsets and word ids."""
    limit = min(max_length or bundle.max_length, bundle.max_length)
    enc = bundle.tokenizer(
        list(texts), truncation=True, max_length=limit, return_offsets_mapping=True, return_special_tokens_mask=True
    )
    out = []
    for i, text in enumerate(texts):
        ids = enc["input_ids"][i]
        out.append(
            Encoded(
                text=text,
                input_ids=list(ids),
                tokens=bundle.tokenizer.convert_ids_to_tokens(ids),
                word_ids=enc.word_ids(i),
                offsets=[tuple(o) for o in enc["offset_mapping"][i]],
                special=[bool(s) for s in enc["special_tokens_mask"][i]],
            )
        )
    return out


def pad_batch(bundle: Any, items: Sequence[Encoded]) -> tuple[Any, Any]:
    """Right-pad a group of encoded texts to the longest among them; returns (input_ids, attention_mask)."""
    import torch

    pad_id = bundle.tokenizer.pad_token_id
    if pad_id is None:
        pad_id = 0
    n = max(len(e) for e in items)
    ids = torch.full((len(items), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), n), dtype=torch.long)
    for r, e in enumerate(items):
        ids[r, : len(e)] = torch.tensor(e.input_ids)
        mask[r, : len(e)] = 1
    return ids.to(bundle.device), mask.to(bundle.device)


def resolve_targets(targets: Sequence[int] | int | str | None, n: int, predicted: Sequence[int]) -> list[int]:
    """``None``/``"predicted"`` → predicted class per text; an int → that class for all; a list → per text."""
    if targets is None or (isinstance(targets, str) and targets == "predicted"):
        return [int(p) for p in predicted]
    if isinstance(targets, (int, np.integer)):
        return [int(targets)] * n
    targets = [int(t) for t in targets]
    if len(targets) != n:
        raise ValueError(f"{len(targets)} targets for {n} texts")
    return targets
