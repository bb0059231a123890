"""Attention maps and attention rollout (Abnar & Zuidema 2020).

Attention weights are read with the eager attention implementation, because fused kernels
(SDPA, flash attention) never materialise them. Rollout multiplies the per-layer head-mean
attention, mixed with the identity for the residual stream and renormalised, from the first layer
to the last, and reads the row of the position the classifier reads: the first token ([CLS] / <s>)
of an encoder, the last non-pad token of a decoder (GPT-2, Llama, Qwen2, ...).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from .._forward import readout_positions
from .._util import length_batches, progress
from .base import Attribution, encode_texts, pad_batch, resolve_targets


@dataclass
class AttentionMaps:
    """Attention of one text at its true length: ``weights`` is (layers, heads, tokens, tokens)."""

    tokens: list[str]
    weights: np.ndarray
    head_mean: np.ndarray  # (layers, tokens, tokens)
    rollout: np.ndarray  # (tokens, tokens), rows sum to 1


def rollout(head_mean: np.ndarray, residual: float = 0.5) -> np.ndarray:
    """Attention rollout over layers: R = Â_L ··· Â_1 with Â = residual·I + (1-residual)·A, rows renormalised."""
    n = head_mean.shape[-1]
    eye = np.eye(n)
    r = eye.copy()
    for a in head_mean:
        a_hat = residual * eye + (1.0 - residual) * a
        a_hat = a_hat / a_hat.sum(axis=-1, keepdims=True)
        r = a_hat @ r
    return r


@contextlib.contextmanager
def eager_attention(model: Any) -> Iterator[None]:
    """Temporarily switch a transformers model to the eager attention implementation."""
    cfg = model.config
    before = getattr(cfg, "_attn_implementation", None)
    if before in (None, "eager"):
        yield
        return
    setter = getattr(model, "set_attn_implementation", None)
    try:
        if setter is not None:
            setter("eager")
        else:  # older transformers
            cfg._attn_implementation = "eager"
        yield
    finally:
        if setter is not None:
            setter(before)
        else:
            cfg._attn_implementation = before


def attention_maps(bundle: Any, texts: Sequence[str], *, max_length: int | None = None, batch_size: int = 16,
                   residual: float = 0.5, show_progress: bool = False) -> list[AttentionMaps]:
    """Per-layer, per-head attention, head mean and rollout for each text (batched, dynamic padding)."""
    import torch

    encs = encode_texts(bundle, texts, max_length)
    out: list[AttentionMaps | None] = [None] * len(encs)
    model = bundle.model
    was_training = model.training
    model.eval()
    bar = progress(total=len(encs), desc="attention", enabled=show_progress, unit="text")
    try:
        with eager_attention(model), torch.inference_mode():
            for idx in length_batches([len(e) for e in encs], batch_size, max_waste=0.25):
                ids, mask = pad_batch(bundle, [encs[i] for i in idx])
                res = model(input_ids=ids, attention_mask=mask, output_attentions=True)
                if not res.attentions or res.attentions[0] is None:
                    raise RuntimeError(f"{type(model).__name__} returned no attention weights")
                att = torch.stack(res.attentions, dim=1).double().cpu().numpy()  # (B, layers, heads, T, T)
                for r, i in enumerate(idx):
                    n = len(encs[i])
                    w = att[r, :, :, :n, :n]
                    w = w / w.sum(axis=-1, keepdims=True)  # exact renormalisation over the real tokens
                    hm = w.mean(axis=1)
                    out[i] = AttentionMaps(tokens=encs[i].tokens, weights=w, head_mean=hm, rollout=rollout(hm, residual))
                bar.update(len(idx))
    finally:
        bar.close()
        model.train(was_training)
    return out  # type: ignore[return-value]


class AttentionRollout:
    """Attention rollout from the classifier's position as an attribution (class-agnostic, non-negative).

    ``from_position=None`` (the default) reads the row of the position the classifier reads (first
    token of an encoder, last non-pad token of a decoder); an integer reads that position.
    """

    name = "attention_rollout"

    def __init__(self, residual: float = 0.5, from_position: int | None = None, max_length: int | None = None,
                 keep_heads: bool = True, show_progress: bool = False) -> None:
        self.residual = residual
        self.from_position = from_position
        self.max_length = max_length
        self.keep_heads = keep_heads
        self.show_progress = show_progress

    def config(self) -> dict[str, Any]:
        where = "classifier position" if self.from_position is None else self.from_position
        return {"head_fusion": "mean", "residual": self.residual, "from_position": where,
                "implementation": "eager", "class_specific": False}

    def explain(self, bundle: Any, texts: Sequence[str], targets: Sequence[int] | int | str | None = None) -> list[Attribution]:
        texts = list(texts)
        maps = attention_maps(bundle, texts, max_length=self.max_length, residual=self.residual, show_progress=self.show_progress)
        encs = encode_texts(bundle, texts, self.max_length)
        probs = bundle.predict_proba(texts, max_length=self.max_length)
        tgt = resolve_targets(targets, len(texts), probs.argmax(1))
        results = []
        for e, m, t in zip(encs, maps, tgt):
            pos = self.from_position if self.from_position is not None else _readout_position(bundle, e)
            scores = m.rollout[pos]
            info: dict[str, Any] = {
                "from_position": int(pos),
                "cls_attention_per_layer": np.round(m.head_mean[:, pos, :], 5).tolist(),
            }
            if self.keep_heads:
                info["cls_attention_per_head"] = np.round(m.weights[:, :, pos, :], 5).tolist()
            results.append(Attribution(method=self.name, text=e.text, target=int(t), tokens=e.tokens,
                                       token_scores=scores.tolist(), word_spans=e.word_spans(),
                                       word_scores=e.merge_to_words(scores), info=info))
        return results


def _readout_position(bundle: Any, enc: Any) -> int:
    import torch

    ids = torch.tensor([enc.input_ids], dtype=torch.long, device=bundle.device)
    return int(readout_positions(bundle.model, ids, torch.ones_like(ids))[0])
