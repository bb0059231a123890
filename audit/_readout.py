"""Logits-only forward passes: the last encoder layer computes the classifier's position only.

A BERT-family sequence classifier (BERT, RoBERTa, XLM-R, CamemBERT, ELECTRA, DistilBERT) reads its
prediction from the first position ([CLS] or <s>) of the last encoder layer. In that layer every
other position feeds nothing but the keys and values of the attention, yet its query, output
projection and feed-forward block cost about a seventh of a six-layer model's compute. Occlusion,
faithfulness, SHAP and adversarial queries score thousands of perturbed inputs and need only the
logits, so inside :func:`first_position_readout` the last layer computes keys and values for every
position and the rest for the first position only.

It is the same arithmetic on fewer rows, so the logits agree with the full forward up to float
rounding. The first time a model goes through it, a padded probe batch is run both ways; a model
whose logits disagree (an unfamiliar attention mask format, a changed layer) keeps the full
forward. Set the environment variable ``AUDIT_FULL_FORWARD=1`` to always run the full forward.
"""

from __future__ import annotations

import contextlib
import logging
import os
import weakref
from typing import Any, Callable, Iterator

log = logging.getLogger(__name__)

#: Classifier heads that read the first position of the last hidden state and nothing else.
FIRST_POSITION_HEADS = frozenset({
    "BertForSequenceClassification",
    "RobertaForSequenceClassification",
    "XLMRobertaForSequenceClassification",
    "CamembertForSequenceClassification",
    "ElectraForSequenceClassification",
    "DistilBertForSequenceClassification",
})

_VERDICT: "weakref.WeakKeyDictionary[Any, tuple[str, bool]]" = weakref.WeakKeyDictionary()


def _attend(q: Any, k: Any, v: Any, mask: Any, n_heads: int, scale: float) -> Any:
    """Attention of one query row per sequence over every position: (B, 1, H)."""
    import torch.nn.functional as F

    b, n, h = k.shape
    d = h // n_heads
    q = q.view(b, 1, n_heads, d).transpose(1, 2)
    k = k.view(b, n, n_heads, d).transpose(1, 2)
    v = v.view(b, n, n_heads, d).transpose(1, 2)
    if mask is not None:
        if mask.dim() != 4:
            raise ValueError(f"unexpected attention mask of shape {tuple(mask.shape)}")
        mask = mask[:, :, :1, :]
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)
    return out.transpose(1, 2).reshape(b, 1, h)


def _bert_layer(layer: Any) -> Callable[..., Any] | None:
    """First-position forward of a BertLayer-shaped block (BERT, RoBERTa, XLM-R, ELECTRA)."""
    att = getattr(layer, "attention", None)
    sa = getattr(att, "self", None)
    if sa is None or not all(hasattr(sa, a) for a in ("query", "key", "value", "num_attention_heads", "scaling")):
        return None
    if not all(hasattr(layer, a) for a in ("intermediate", "output")) or getattr(layer, "add_cross_attention", False):
        return None

    def forward(hidden_states: Any, attention_mask: Any = None, *args: Any, **kwargs: Any) -> Any:
        h0 = hidden_states[:, :1]
        ctx = _attend(sa.query(h0), sa.key(hidden_states), sa.value(hidden_states), attention_mask,
                      sa.num_attention_heads, sa.scaling)
        a = att.output(ctx, h0)
        return layer.output(layer.intermediate(a), a)

    return forward


def _distilbert_layer(layer: Any) -> Callable[..., Any] | None:
    """First-position forward of a DistilBERT TransformerBlock."""
    at = getattr(layer, "attention", None)
    if at is None or not all(hasattr(at, a) for a in ("q_lin", "k_lin", "v_lin", "out_lin", "n_heads", "scaling")):
        return None
    if not all(hasattr(layer, a) for a in ("sa_layer_norm", "ffn", "output_layer_norm")):
        return None

    def forward(hidden_states: Any, attention_mask: Any = None, *args: Any, **kwargs: Any) -> Any:
        h0 = hidden_states[:, :1]
        ctx = _attend(at.q_lin(h0), at.k_lin(hidden_states), at.v_lin(hidden_states), attention_mask, at.n_heads, at.scaling)
        a = layer.sa_layer_norm(at.out_lin(ctx) + h0)
        return layer.output_layer_norm(layer.ffn(a) + a)

    return forward


def _layers(model: Any) -> Any:
    base = getattr(model, getattr(model, "base_model_prefix", ""), None)
    stack = getattr(base, "encoder", None) or getattr(base, "transformer", None)
    layers = getattr(stack, "layer", None)
    return layers if layers is not None and len(layers) > 0 else None


def _fast_forward(model: Any) -> tuple[Any, Callable[..., Any]] | None:
    """(last layer, its first-position forward), or None where the model is not of a known shape."""
    if type(model).__name__ not in FIRST_POSITION_HEADS:
        return None
    cfg = model.config
    if getattr(cfg, "is_decoder", False) or getattr(cfg, "output_hidden_states", False) or getattr(cfg, "output_attentions", False):
        return None
    if getattr(cfg, "position_embedding_type", "absolute") not in (None, "absolute"):
        return None
    layers = _layers(model)
    if layers is None:
        return None
    last = layers[-1]
    fwd = _bert_layer(last) or _distilbert_layer(last)
    return (last, fwd) if fwd is not None else None


class _FirstPosition:
    """Swaps a layer's forward for the first-position one, and back."""

    def __init__(self, layer: Any, forward: Callable[..., Any]) -> None:
        self.layer, self.forward = layer, forward

    def __enter__(self) -> None:
        self.layer.forward = self.forward

    def __exit__(self, *exc: Any) -> None:
        del self.layer.forward  # back to the class's forward


def _verify(model: Any, layer: Any, forward: Callable[..., Any]) -> bool:
    """Run a padded probe batch both ways; True when the logits agree to float rounding."""
    import torch

    vocab = int(getattr(model.config, "vocab_size", 0) or 0)
    if vocab < 2:
        return False
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab, (3, 9), generator=g).to(device)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    mask[2, 3:] = 0
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            full = model(input_ids=ids, attention_mask=mask).logits.float()
            with _FirstPosition(layer, forward):
                fast = model(input_ids=ids, attention_mask=mask).logits.float()
    except Exception as exc:  # an unfamiliar layer or mask: keep the full forward
        log.debug("first-position readout unavailable for %s: %s", type(model).__name__, exc)
        return False
    finally:
        model.train(was_training)
    tol = 1e-4 if full.dtype == torch.float32 and next(model.parameters()).dtype == torch.float32 else 2e-2
    ok = fast.shape == full.shape and bool(torch.all((fast - full).abs() <= tol * (1.0 + full.abs().max())))
    if not ok:
        log.debug("first-position readout disagrees with the full forward for %s; using the full forward", type(model).__name__)
    return ok


def readout_available(model: Any) -> bool:
    """Whether :func:`first_position_readout` will take the short path for this model."""
    if os.environ.get("AUDIT_FULL_FORWARD", "").strip() not in ("", "0"):
        return False
    found = _fast_forward(model)
    if found is None:
        return False
    if "forward" in vars(found[0]):  # already inside a readout block (or patched by someone else)
        return False
    key = str(getattr(model.config, "_attn_implementation", None))
    try:
        hit = _VERDICT.get(model)
    except TypeError:  # not weak-referenceable
        return False
    if hit is None or hit[0] != key:
        hit = (key, _verify(model, *found))
        _VERDICT[model] = hit
    return hit[1]


@contextlib.contextmanager
def first_position_readout(model: Any) -> Iterator[bool]:
    """Within this block the model's logits are computed with a first-position-only last layer.

    Yields whether the short path is in use (False: the model runs its full forward). Use it
    only around calls that need the logits alone, not hidden states or attention maps; the swap is
    visible to every caller of this model object until the block ends.
    """
    if not readout_available(model):
        yield False
        return
    layer, forward = _fast_forward(model)  # type: ignore[misc]
    with _FirstPosition(layer, forward):
        yield True


__all__ = ["FIRST_POSITION_HEADS", "first_position_readout", "readout_available"]
