"""The integrated-gradients "zero" baseline zeroes the text's tokens and keeps the special ones.

Checked on the baseline embeddings the explainer actually builds (recorded while it runs) and on
the model output it reports for the baseline, for families whose special tokens differ: WordPiece
``[CLS] x [SEP]``, byte-level BPE ``<s> x </s>`` and a left-padded decoder with only ``<s>`` in
front. The reference is the tokenizer's own special-tokens mask of each text.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model_zoo import make_model

from audit.attribution import IntegratedGradients
from audit.models import load_model

TEXTS = ["a dull plot but a great cast", "good", "I would never buy this again, not even on sale"]
FAMILIES = ["bert+wordpiece", "roberta+bytelevel-bpe", "llama+sp-bpe"]
METHODS = [("gausslegendre", 8), ("adaptive_simpson", 9)]  # captum's engine and the batched nested one


def _bundle(name: str):
    model, tok = make_model(name, seed=1)
    return load_model((model, tok), device="cpu")


def _reference(bundle, text: str):
    """(ids, special mask) of one text as the tokenizer encodes it on its own."""
    enc = bundle.tokenizer(text, return_special_tokens_mask=True)
    return enc["input_ids"], [bool(s) for s in enc["special_tokens_mask"]]


@pytest.mark.parametrize("method,n_steps", METHODS)
@pytest.mark.parametrize("name", FAMILIES)
def test_zero_baseline_keeps_special_tokens(name: str, method: str, n_steps: int, monkeypatch) -> None:
    bundle = _bundle(name)
    built = []
    real = IntegratedGradients.baseline_embeddings

    def recording(self, bundle, ids, special, mask=None):
        base = real(self, bundle, ids, special, mask)
        built.append((ids.clone(), mask.clone(), base.detach().clone()))
        return base

    monkeypatch.setattr(IntegratedGradients, "baseline_embeddings", recording)
    IntegratedGradients(n_steps=n_steps, baseline="zero", method=method).explain(bundle, TEXTS)
    emb = bundle.model.get_input_embeddings()
    refs = {tuple(ids): special for ids, special in (_reference(bundle, t) for t in TEXTS)}
    rows = 0
    for ids, mask, base in built:
        with torch.no_grad():
            own = emb(ids)
        for r in range(ids.shape[0]):
            real_pos = torch.nonzero(mask[r]).flatten()  # the text's positions, wherever the padding goes
            special = refs[tuple(ids[r, real_pos].tolist())]
            assert any(special), "every family here adds a special token"
            for pos, is_special in zip(real_pos.tolist(), special):
                if is_special:  # kept: the baseline holds the token's own (non-zero) embedding
                    assert torch.count_nonzero(own[r, pos]) > 0
                    assert torch.equal(base[r, pos], own[r, pos]), (name, r, pos)
                else:
                    assert torch.count_nonzero(base[r, pos]) == 0, (name, r, pos)
            pad = (mask[r] == 0).nonzero().flatten()
            assert torch.equal(base[r, pad], own[r, pad])  # padding stays padding
            rows += 1
    assert rows == len(TEXTS)


@pytest.mark.parametrize("name", FAMILIES)
def test_zero_baseline_output_matches_the_reference_baseline(name: str) -> None:
    """f(baseline) reported by the explainer == the model run by hand on the reference baseline
    (each text alone, unpadded: its special tokens' embeddings, zeros elsewhere)."""
    bundle = _bundle(name)
    res = IntegratedGradients(n_steps=8, baseline="zero").explain(bundle, TEXTS, targets=1)
    emb = bundle.model.get_input_embeddings()
    with_specials, without = [], []
    for a, text in zip(res, TEXTS):
        ids, special = _reference(bundle, text)
        ids_t = torch.tensor([ids])
        keep = torch.tensor([special])[..., None]
        with torch.no_grad():
            own = emb(ids_t)
            ones = torch.ones_like(ids_t)
            expect = bundle.model(inputs_embeds=torch.where(keep, own, torch.zeros_like(own)), attention_mask=ones).logits
            all_zero = bundle.model(inputs_embeds=torch.zeros_like(own), attention_mask=ones).logits
        with_specials.append(float(expect[0, 1]))
        without.append(float(all_zero[0, 1]))
        assert a.info["f_baseline"] == pytest.approx(with_specials[-1], abs=1e-4), (name, text)
    # the check can tell: zeroing the special tokens too would give a different output
    assert np.max(np.abs(np.subtract(with_specials, without))) > 1e-3
