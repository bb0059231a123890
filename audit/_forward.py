"""Classifier logits of a padded batch that equal the logits of each text run on its own.

Two things can make a padded batch disagree with one text at a time:

* **Where the classifier reads.** Encoder classifiers (BERT, RoBERTa, ALBERT, DeBERTa, ...) read
  the first position. Decoder classifiers (GPT-2, Llama, Qwen2, Mistral, Gemma, ...) read the last
  token: transformers picks the rightmost token whose id is not the pad id, and when the model is
  called with ``inputs_embeds`` it cannot see ids and reads the last position, which is padding in a
  right-padded batch (and with no pad id in the config it refuses batches altogether).
* **Left padding.** A left-padded row has its real tokens at shifted positions; models with
  absolute position embeddings (GPT-2, BERT) then see different inputs, and an encoder's first
  position is padding.

:func:`classifier_logits` handles both, for any padding side and for ids or embeddings alike:
left-padded rows are moved to the right first (the output of a row does not depend on the others),
and for a last-token classifier the base model's hidden states are read at the position
transformers would read for the text alone: the rightmost attended token whose id is not the
model's pad id (``reference_ids`` give the ids when the model is fed embeddings; with no pad id in
the config, the last attended token), then the model's own ``score`` layer is applied. Whether a
model is such a classifier is decided once per model by a probe: the head is used this way only if
it reproduces the model's own logits on unpadded probe sequences.
"""

from __future__ import annotations

import inspect
import logging
import weakref
from typing import Any

log = logging.getLogger(__name__)

_LAST_TOKEN: "weakref.WeakKeyDictionary[Any, bool]" = weakref.WeakKeyDictionary()


def _base_and_score(model: Any) -> tuple[Any, Any] | None:
    import torch

    score = getattr(model, "score", None)
    prefix = getattr(model, "base_model_prefix", "") or ""
    base = getattr(model, prefix, None) if prefix else None
    if not isinstance(score, torch.nn.Linear) or base is None or base is model:
        return None
    n = int(getattr(getattr(model, "config", None), "num_labels", 0) or 0)
    if score.out_features != n:
        return None
    return base, score


def _pad_id(model: Any) -> int | None:
    cfg = model.config
    text_cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    pad = getattr(text_cfg, "pad_token_id", None)
    return None if pad is None else int(pad)


def pooled_positions(attention_mask: Any, ids: Any | None, pad_id: int | None) -> Any:
    """Per row, the rightmost attended position whose id is not ``pad_id``.

    This is the token a last-token classifier reads for the row's text alone. A row whose attended
    ids are all ``pad_id`` reads its first attended position (as transformers does for such a text);
    with no ids or no pad id, the last attended position.
    """
    import torch

    attended = attention_mask.bool()
    n = attended.shape[1]
    idx = torch.arange(n, device=attended.device).expand_as(attended)
    last = torch.where(attended, idx, torch.full_like(idx, -1)).max(1).values.clamp(min=0)
    if ids is None or pad_id is None:
        return last
    real = attended & (ids != pad_id)
    rightmost = torch.where(real, idx, torch.full_like(idx, -1)).max(1).values
    first = torch.where(attended, idx, torch.full_like(idx, n)).min(1).values.clamp(max=n - 1)
    return torch.where(rightmost >= 0, rightmost, first)


def _call_base(base: Any, **kwargs: Any) -> Any:
    try:
        params = inspect.signature(base.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - unusual forward
        params = {}
    if "use_cache" in params:
        kwargs["use_cache"] = False
    out = base(**kwargs)
    return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]


def _last_token_logits(model: Any, parts: tuple[Any, Any], input_ids: Any, inputs_embeds: Any, attention_mask: Any,
                       reference_ids: Any, extra: dict[str, Any]) -> Any:
    import torch

    base, score = parts
    hidden = _call_base(base, input_ids=input_ids, inputs_embeds=inputs_embeds, attention_mask=attention_mask, **extra)
    ids = input_ids if input_ids is not None else reference_ids
    pos = pooled_positions(attention_mask, ids, _pad_id(model))
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return score(hidden[rows, pos.to(hidden.device)])


def is_last_token_classifier(model: Any) -> bool:
    """Whether the model's head reads the last (non-pad) token through a ``score`` layer, checked by a probe."""
    try:
        hit = _LAST_TOKEN.get(model)
    except TypeError:  # not weak-referenceable
        return False
    if hit is None:
        hit = _probe(model)
        _LAST_TOKEN[model] = hit
    return hit


def _probe(model: Any) -> bool:
    """Compare the head read at :func:`pooled_positions` with the model's own logits on unpadded texts."""
    import torch

    parts = _base_and_score(model)
    vocab = int(getattr(model.config, "vocab_size", 0) or 0)
    if parts is None or vocab < 4:
        return False
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(0)
    pad = _pad_id(model)
    probes = [torch.randint(0, vocab, (1, 7), generator=g)]
    if pad is not None:
        probes = [torch.where(p == pad, (p + 1) % vocab, p) for p in probes]
        probes.append(torch.cat([probes[0][:, :5], torch.full((1, 2), pad)], 1))  # trailing pad ids are skipped
    tol = 1e-4 if next(model.parameters()).dtype in (torch.float32, torch.float64) else 2e-2
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for ids in probes:
                ids = ids.to(device)
                mask = torch.ones_like(ids)
                own = model(input_ids=ids, attention_mask=mask).logits.float()
                ours = _last_token_logits(model, parts, ids, None, mask, None, {}).float()
                if own.shape != ours.shape or not torch.allclose(own, ours, rtol=tol, atol=tol * 0.1):
                    return False
    except Exception as exc:  # an unfamiliar base model or head: keep the model's own forward
        log.debug("%s: last-token head not recognised: %s", type(model).__name__, exc)
        return False
    finally:
        model.train(was_training)
    return True


def _right_align(attention_mask: Any, tensors: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Move left-padded rows' tokens to the start of the row (the padding to the end)."""
    import torch

    mask = attention_mask
    if mask.dim() != 2 or mask.shape[1] == 0:
        return mask, tensors
    attended = mask.bool()
    n = mask.shape[1]
    lead = (~attended).int().cumprod(1).sum(1)  # leading padding per row
    if not bool((lead > 0).any()):
        return mask, tensors
    lengths = attended.sum(1)
    idx = torch.arange(n, device=mask.device).expand_as(attended)
    contiguous = (attended == ((idx >= lead[:, None]) & (idx < (lead + lengths)[:, None]))).all()
    if not bool(contiguous):  # holes in the mask: not a padded batch, leave it as it is
        return mask, tensors
    src = (idx + lead[:, None]) % n
    out = {}
    for k, t in tensors.items():
        if t is None:
            out[k] = None
        elif t.dim() == 2:
            out[k] = t.gather(1, src.to(t.device))
        else:
            out[k] = t.gather(1, src.to(t.device)[..., None].expand(-1, -1, t.shape[-1]))
    return mask.gather(1, src), out


def classifier_logits(model: Any, input_ids: Any = None, attention_mask: Any = None, *, inputs_embeds: Any = None,
                      reference_ids: Any = None, **extra: Any) -> Any:
    """Logits of a (possibly padded, either side) batch, each row equal to its text run alone.

    Give ``input_ids`` or ``inputs_embeds``; ``reference_ids`` are the token ids the embeddings stand
    for (used by last-token classifiers to find the token they read, as they would from the ids).
    Other per-token inputs (``token_type_ids``) may be passed and are moved with the tokens.
    """
    import torch

    x = input_ids if input_ids is not None else inputs_embeds
    if x is None:
        raise ValueError("classifier_logits needs input_ids or inputs_embeds")
    if attention_mask is None:
        attention_mask = torch.ones(x.shape[:2], dtype=torch.long, device=x.device)
    per_token = {k: v for k, v in extra.items() if torch.is_tensor(v) and v.dim() == 2 and v.shape == attention_mask.shape}
    others = {k: v for k, v in extra.items() if k not in per_token}
    attention_mask, moved = _right_align(attention_mask, {"input_ids": input_ids, "inputs_embeds": inputs_embeds,
                                                          "reference_ids": reference_ids, **per_token})
    input_ids, inputs_embeds, reference_ids = moved.pop("input_ids"), moved.pop("inputs_embeds"), moved.pop("reference_ids")
    kwargs = {**moved, **others}
    if is_last_token_classifier(model):
        return _last_token_logits(model, _base_and_score(model), input_ids, inputs_embeds, attention_mask, reference_ids,
                                  kwargs)
    if input_ids is not None:
        return model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits
    return model(inputs_embeds=inputs_embeds, attention_mask=attention_mask, **kwargs).logits


def empty_input_ids(tokenizer: Any) -> list[int]:
    """What the model reads for an empty text: the tokenizer's encoding of "" when it adds special
    tokens, else one bos/cls/eos/sep token (GPT-2 style tokenizers add nothing around a text)."""
    ids = list(tokenizer("", add_special_tokens=True)["input_ids"])
    if ids:
        return ids
    for name in ("bos", "cls", "eos", "sep", "pad", "unk"):
        token_id = getattr(tokenizer, f"{name}_token_id", None)
        if token_id is not None:
            return [int(token_id)]
    raise ValueError(f"the tokenizer {type(tokenizer).__name__} encodes an empty text as no tokens and has no bos, eos, "
                     "pad or unk token to stand for it")


def readout_positions(model: Any, input_ids: Any, attention_mask: Any) -> Any:
    """The position each row's classifier reads: the pooled last token for last-token classifiers, else 0.

    Expects right-padded rows (as the explanation methods build them).
    """
    import torch

    if is_last_token_classifier(model):
        return pooled_positions(attention_mask, input_ids, _pad_id(model))
    return torch.zeros(attention_mask.shape[0], dtype=torch.long, device=attention_mask.device)


__all__ = ["classifier_logits", "empty_input_ids", "is_last_token_classifier", "pooled_positions", "readout_positions"]
