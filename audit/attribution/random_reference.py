"""A random attribution: the chance level every explanation-quality metric is compared against.

Token scores are independent standard normal draws from a generator seeded per call, so the
ranking of tokens is a uniformly random permutation. A method whose faithfulness is no better
than this reference tells the user nothing about the model.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .base import Attribution, encode_texts, predicted_classes, resolve_targets


class RandomAttribution:
    """Seeded random token scores (special tokens get 0)."""

    name = "random"

    def __init__(self, seed: int = 0, max_length: int | None = None, show_progress: bool = False) -> None:
        self.seed = seed
        self.max_length = max_length
        self.show_progress = show_progress

    def config(self) -> dict[str, Any]:
        return {"distribution": "standard normal per token", "seed": self.seed}

    def explain(self, bundle: Any, texts: Sequence[str], targets: Sequence[int] | int | str | None = None) -> list[Attribution]:
        texts = list(texts)
        encs = encode_texts(bundle, texts, self.max_length)
        if targets is None or isinstance(targets, str):
            _, probs = predicted_classes(bundle, encs)
            tgt = resolve_targets(targets, len(texts), probs.argmax(1))
        else:
            tgt = resolve_targets(targets, len(texts), [0] * len(texts))
        rng = np.random.default_rng(self.seed)
        out = []
        for e, t in zip(encs, tgt):
            ts = rng.standard_normal(len(e))
            ts[np.asarray(e.special, dtype=bool)] = 0.0
            out.append(Attribution(method=self.name, text=e.text, target=int(t), tokens=e.tokens, token_scores=ts.tolist(),
                                   word_spans=e.word_spans(), word_scores=e.merge_to_words(ts)))
        return out


__all__ = ["RandomAttribution"]
