"""Hand-built classifiers whose true explanations are known, for explanation-quality tests.

``TokenWeightModel``: logit of class 1 = bias + sum over attended tokens of weight[token id]
(class 0's logit is 0). It reads token ids or input embeddings (a one-dimensional embedding holding
the weight), so gradient methods, perturbation methods and SHAP all run on it, and its exact
attributions are known: it is additive over tokens, and with one non-zero weight it depends on one
known token only.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch


class TokenWeightModel(torch.nn.Module):
    def __init__(self, vocab_size: int, weights: dict[int, float], bias: float = 0.0) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(vocab_size, 1)
        with torch.no_grad():
            self.embed.weight.zero_()
            for token_id, w in weights.items():
                self.embed.weight[token_id, 0] = w
        self.bias = torch.nn.Parameter(torch.tensor(float(bias)))
        self.config = SimpleNamespace(max_position_embeddings=128, model_type="token-weight", num_labels=2,
                                      initializer_range=0.02, id2label={0: "negative", 1: "positive"})

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.embed

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, **_):
        e = inputs_embeds if inputs_embeds is not None else self.embed(input_ids)
        m = torch.ones(e.shape[:2], dtype=e.dtype, device=e.device) if attention_mask is None else attention_mask.to(e.dtype)
        s = (e[..., 0] * m).sum(1) + self.bias
        return SimpleNamespace(logits=torch.stack([torch.zeros_like(s), s], -1))


def bert_tokenizer():
    from transformers import AutoTokenizer

    from audit.models import default_backbone_path

    return AutoTokenizer.from_pretrained(default_backbone_path())


def token_weight_bundle(weights_by_word: dict[str, float], bias: float = 0.0):
    """A ModelBundle around a TokenWeightModel with the embedded backbone's (real, fast) tokenizer."""
    from audit.models import ModelBundle

    tok = bert_tokenizer()
    weights = {}
    for word, w in weights_by_word.items():
        ids = tok(word, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1, f"{word!r} is not one token"
        weights[ids[0]] = w
    model = TokenWeightModel(len(tok), weights, bias).eval()
    return ModelBundle(model=model, tokenizer=tok, label_names=["negative", "positive"], device="cpu", source="<token-weight>")
