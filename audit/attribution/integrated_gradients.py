"""Integrated gradients on the input (word) embeddings, batched across texts of similar length.

The path integral runs from a baseline to the text in the space of the model's word embeddings;
position and token-type embeddings are added by the model itself and are identical for the text
and the baseline. This is exactly captum's ``LayerIntegratedGradients`` on the input-embedding
layer, computed with captum's ``IntegratedGradients`` on ``inputs_embeds`` so that texts of similar
length share one forward pass and the zero-embedding baseline needs no special token.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .._util import length_batches, progress
from .base import Attribution, Encoded, encode_texts, pad_batch, resolve_targets

BASELINES = ("pad", "mask", "zero")
OUTPUTS = ("probability", "logit")
METHODS = ("gausslegendre", "riemann_trapezoid", "riemann_middle", "riemann_left", "riemann_right")


class IntegratedGradients:
    """Integrated gradients (Sundararajan et al. 2017) for a sequence classifier.

    ``baseline``: ``"pad"`` (every non-special token replaced by the pad token; the default),
    ``"mask"`` (replaced by the mask token) or ``"zero"`` (zero embedding). Special tokens
    ([CLS], [SEP], <s>, </s>) are kept in every baseline. ``output``: attribute the target
    class logit (default) or its probability. The logit is the default because the softmax of a
    confident fine-tuned model saturates: along the path the probability stays flat and then
    jumps, so the same completeness error needs several times more steps. Each result carries the completeness check
    ``|sum(attributions) - (f(x) - f(baseline))|`` and is flagged when that error exceeds
    ``tolerance`` times ``|f(x) - f(baseline)|`` (and an absolute floor of 1e-4).
    """

    name = "integrated_gradients"

    def __init__(
        self,
        n_steps: int = 50,
        baseline: str = "pad",
        method: str = "gausslegendre",
        output: str = "logit",
        tolerance: float = 0.01,
        max_tokens: int | None = None,
        max_length: int | None = None,
        show_progress: bool = False,
    ) -> None:
        if baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}")
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if n_steps < 2:
            raise ValueError("n_steps must be >= 2")
        self.n_steps = n_steps
        self.baseline = baseline
        self.method = method
        self.output = output
        self.tolerance = tolerance
        self.max_tokens = max_tokens
        self.max_length = max_length
        self.show_progress = show_progress

    def config(self) -> dict[str, Any]:
        return {
            "n_steps": self.n_steps, "baseline": self.baseline, "method": self.method, "output": self.output,
            "tolerance": self.tolerance, "layer": "input word embeddings", "absolute_tolerance_floor": 1e-4,
        }

    def _forward(self, bundle: Any):
        import torch

        model = bundle.model

        def forward(embeds, attention_mask):
            logits = model(inputs_embeds=embeds, attention_mask=attention_mask).logits
            return torch.softmax(logits, dim=-1) if self.output == "probability" else logits

        return forward

    def baseline_embeddings(self, bundle: Any, ids: Any, special: Any) -> Any:
        """Baseline in embedding space for a padded batch; special tokens and padding are kept."""
        import torch

        emb = bundle.model.get_input_embeddings()
        if self.baseline == "zero":
            base = emb(ids)
            return torch.where(special.unsqueeze(-1), base, torch.zeros_like(base))
        tok = bundle.tokenizer
        token_id = tok.pad_token_id if self.baseline == "pad" else tok.mask_token_id
        if token_id is None:
            raise ValueError(f"the tokenizer has no {self.baseline} token; choose another baseline")
        return emb(torch.where(special, ids, torch.full_like(ids, token_id)))

    def explain(self, bundle: Any, texts: Sequence[str], targets: Sequence[int] | int | str | None = None) -> list[Attribution]:
        """Attributions for every text, towards ``targets`` (the predicted class by default)."""
        import torch
        from captum.attr import IntegratedGradients as CaptumIG

        texts = list(texts)
        encs = encode_texts(bundle, texts, self.max_length)
        cuda = str(bundle.device).startswith("cuda")
        budget = self.max_tokens or (262_144 if cuda else 8_192)  # tokens per forward pass
        groups = length_batches([len(e) for e in encs], max_batch=64 if cuda else 16,
                                max_tokens=max(budget // self.n_steps, 1), max_waste=0.25 if cuda else 0.1)
        results: list[Attribution | None] = [None] * len(texts)
        forward = self._forward(bundle)
        ig = CaptumIG(forward)
        model = bundle.model
        was_training = model.training
        model.eval()
        bar = progress(total=len(texts), desc="integrated gradients", enabled=self.show_progress, unit="text")
        try:
            for idx in groups:
                items = [encs[i] for i in idx]
                ids, mask = pad_batch(bundle, items)
                special = torch.zeros_like(ids, dtype=torch.bool)
                for r, e in enumerate(items):
                    special[r, : len(e)] = torch.tensor(e.special)
                special |= mask == 0  # padding stays padding in the baseline
                with torch.no_grad():
                    inputs = model.get_input_embeddings()(ids)
                    base = self.baseline_embeddings(bundle, ids, special)
                    out_x = forward(inputs, mask)
                    out_b = forward(base, mask)
                predicted = out_x.argmax(-1).tolist()
                tgt = resolve_targets(targets if not isinstance(targets, (list, tuple, np.ndarray)) else [targets[i] for i in idx],
                                      len(idx), predicted)
                rows = max(len(idx), budget // ids.shape[1])
                attr, delta = ig.attribute(
                    inputs=inputs, baselines=base, target=tgt, additional_forward_args=(mask,),
                    n_steps=self.n_steps, method=self.method, internal_batch_size=rows, return_convergence_delta=True,
                )
                token_scores = attr.sum(-1).detach().double().cpu().numpy()
                probs = torch.softmax(model(inputs_embeds=inputs, attention_mask=mask).logits, -1).detach().cpu().numpy() \
                    if self.output == "logit" else out_x.detach().cpu().numpy()
                for r, i in enumerate(idx):
                    e = items[r]
                    ts = token_scores[r, : len(e)]
                    f_x = float(out_x[r, tgt[r]])
                    f_b = float(out_b[r, tgt[r]])
                    d = float(delta[r])
                    diff = abs(f_x - f_b)
                    rel = abs(d) / diff if diff > 0 else (0.0 if abs(d) == 0 else float("inf"))
                    results[i] = Attribution(
                        method=self.name, text=e.text, target=tgt[r], tokens=e.tokens, token_scores=ts.tolist(),
                        word_spans=e.word_spans(), word_scores=e.merge_to_words(ts),
                        info={
                            "f_x": f_x, "f_baseline": f_b, "convergence_delta": d, "relative_error": rel,
                            "flagged": bool(abs(d) > self.tolerance * diff and abs(d) > 1e-4),
                            "prediction": int(predicted[r]), "probabilities": [float(p) for p in probs[r]],
                            "n_steps": self.n_steps,
                        },
                    )
                bar.update(len(idx))
        finally:
            bar.close()
            model.train(was_training)
        return results  # type: ignore[return-value]


def completeness_summary(attributions: Sequence[Attribution]) -> dict[str, Any]:
    """How well the attributions add up to f(x) - f(baseline) across a set of texts."""
    rel = np.array([a.info["relative_error"] for a in attributions], dtype=np.float64)
    finite = rel[np.isfinite(rel)]
    return {
        "n": len(attributions),
        "n_flagged": int(sum(a.info["flagged"] for a in attributions)),
        "median_relative_error": float(np.median(finite)) if finite.size else None,
        "max_relative_error": float(finite.max()) if finite.size else None,
    }


__all__ = ["IntegratedGradients", "completeness_summary", "Encoded"]
