"""Gradient x input (Shrikumar et al. 2016; Kindermans et al. 2016) on the input word embeddings.

The score of token t is ``grad_e f(x) · (e_t - b_t)`` summed over the embedding dimensions, where
``e_t`` is the token's word embedding and ``b_t`` the baseline embedding (zero by default, the
classic "input x gradient"; ``"pad"``/``"mask"`` use the embedding of that token instead). It is
the one-step (left Riemann) version of integrated gradients: one forward and one backward pass
per batch, so it is the cheapest gradient method, and exact for a model linear in the embeddings.
Texts of similar length share a pass; each batch is padded only to its longest text.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .._forward import classifier_logits
from .._util import length_batches, progress
from .base import Attribution, check_output, encode_texts, pad_batch, resolve_targets

BASELINES = ("zero", "pad", "mask")


class GradientXInput:
    """Gradient of the target output times (input embedding - baseline embedding), per token."""

    name = "gradient_x_input"

    def __init__(self, output: str = "logit", baseline: str = "zero", max_length: int | None = None,
                 max_tokens: int | None = None, show_progress: bool = False) -> None:
        if baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}")
        self.output = check_output(output)
        self.baseline = baseline
        self.max_length = max_length
        self.max_tokens = max_tokens
        self.show_progress = show_progress

    def config(self) -> dict[str, Any]:
        return {"output": self.output, "baseline": self.baseline, "layer": "input word embeddings"}

    def explain(self, bundle: Any, texts: Sequence[str], targets: Sequence[int] | int | str | None = None) -> list[Attribution]:
        """Attributions for every text, towards ``targets`` (the predicted class by default)."""
        import torch

        texts = list(texts)
        encs = encode_texts(bundle, texts, self.max_length)
        from .._device import batch_limits

        cuda = str(bundle.device).startswith("cuda")
        limits = batch_limits(bundle, 32, 4_096, kind="gradient", max_length=max((len(e) for e in encs), default=1))
        groups = length_batches([len(e) for e in encs], max_batch=limits.rows, max_tokens=self.max_tokens or limits.tokens,
                                max_waste=0.25 if cuda else 0.1)
        per_text = isinstance(targets, (list, tuple, np.ndarray))
        if per_text and len(targets) != len(texts):
            raise ValueError(f"{len(targets)} targets for {len(texts)} texts")
        model = bundle.model
        emb = model.get_input_embeddings()
        results: list[Attribution | None] = [None] * len(texts)
        was_training = model.training
        model.eval()
        bar = progress(total=len(texts), desc="gradient x input", enabled=self.show_progress, unit="text")
        try:
            for idx in groups:
                items = [encs[i] for i in idx]
                ids, mask = pad_batch(bundle, items)
                with torch.no_grad():
                    x = emb(ids)
                    if self.baseline == "zero":
                        base = torch.zeros_like(x)
                    else:
                        tok = bundle.tokenizer
                        fill = tok.pad_token_id if self.baseline == "pad" else tok.mask_token_id
                        if fill is None:
                            raise ValueError(f"the tokenizer has no {self.baseline} token; choose another baseline")
                        base = emb(torch.full_like(ids, fill))
                x = x.detach().requires_grad_(True)
                logits = classifier_logits(model, attention_mask=mask, inputs_embeds=x, reference_ids=ids)
                probs = torch.softmax(logits.detach().float(), -1)
                tgt = resolve_targets([targets[i] for i in idx] if per_text else targets, len(idx), probs.argmax(-1).tolist())
                out = torch.softmax(logits, -1) if self.output == "probability" else logits
                t = torch.tensor(tgt, device=out.device)
                chosen = out.gather(1, t[:, None])[:, 0]
                (grad,) = torch.autograd.grad(chosen.sum(), x)
                scores = (grad * (x.detach() - base)).sum(-1).double().cpu().numpy()
                chosen_np = chosen.detach().double().cpu().numpy()
                probs_np = probs.double().cpu().numpy()
                for r, i in enumerate(idx):
                    e = items[r]
                    ts = scores[r, : len(e)].copy()
                    ts[np.asarray(e.special, dtype=bool)] = 0.0  # special tokens are kept in every input
                    results[i] = Attribution(
                        method=self.name, text=e.text, target=int(tgt[r]), tokens=e.tokens, token_scores=ts.tolist(),
                        word_spans=e.word_spans(), word_scores=e.merge_to_words(ts),
                        info={"f_x": float(chosen_np[r]), "prediction": int(probs_np[r].argmax()),
                              "probabilities": [float(p) for p in probs_np[r]]},
                    )
                bar.update(len(idx))
        finally:
            bar.close()
            model.train(was_training)
        return results  # type: ignore[return-value]


__all__ = ["GradientXInput"]
