"""Explanations on every architecture and tokenizer family of the model zoo.

WordPiece with [CLS]/[SEP], byte-level BPE (RoBERTa's <s></s>, GPT-2/Qwen2 with no special tokens
and pad = eos), SentencePiece-style Unigram and BPE with Metaspace pieces and byte fallback (XLM-R,
ALBERT/DeBERTa, and Llama/Mistral/Gemma with <s> prepended and left padding). Each test asserts a
numeric property that breaks when a family is handled wrongly: a decoder read at a padding position,
words cut by an assumption about special tokens, a masker that tokenizes differently, a sanity check
that randomises less than it says.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from audit._forward import classifier_logits
from audit._readout import first_position_readout, readout_available
from audit.attribution import GradientXInput, IntegratedGradients, Occlusion, SHAPText
from audit.attribution.attention import AttentionRollout
from audit.attribution.base import encode_texts, predicted_classes, score_sequences, text_words
from audit.attribution.integrated_gradients import zero_is_singular
from audit.attribution.sanity import encoder_layers, head_modules, parameter_randomisation, reinitialise
from audit.models import load_model

from model_zoo import ZOO, make_model

TEXTS = ["The film was great, really great!", "Café crème: naïve  résumé 🙂 Ωmega, bad", "dull"]
NAMES = [m.name for m in ZOO]
_CACHE: dict[str, object] = {}


def zoo_bundle(name: str):
    if name not in _CACHE:
        model, tok = make_model(name, label_names=["negative", "positive"])
        _CACHE[name] = load_model((model, tok), device="cpu")
    return _CACHE[name]


def single_logits(bundle, text: str) -> np.ndarray:
    """The model's own forward on one unpadded text (what transformers gives for it alone)."""
    (e,) = encode_texts(bundle, [text])
    ids = torch.tensor([e.input_ids])
    with torch.no_grad():
        return bundle.model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.double().numpy()[0]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("side", ["left", "right"])
def test_batched_logits_equal_one_text_at_a_time(name, side):
    b = zoo_bundle(name)
    texts = TEXTS + [""]
    before = b.tokenizer.padding_side
    b.tokenizer.padding_side = side
    try:
        batched = b.predict_logits(texts)
    finally:
        b.tokenizer.padding_side = before
    alone = np.stack([single_logits(b, t) for t in texts])
    assert np.allclose(batched, alone, atol=1e-5), np.abs(batched - alone).max()
    encs = encode_texts(b, texts)
    logits, _ = predicted_classes(b, encs)  # right-padded by the explanation methods
    assert np.allclose(logits, alone, atol=1e-5)
    scored = score_sequences(b, [e.input_ids for e in encs], [1] * len(encs), output="logit")
    assert np.allclose(scored, alone[:, 1], atol=1e-5)
    # the same batch padded on the left, through the shared forward
    n = max(len(e) for e in encs)
    ids = torch.full((len(encs), n), b.tokenizer.pad_token_id)
    mask = torch.zeros_like(ids)
    for r, e in enumerate(encs):
        ids[r, n - len(e):] = torch.tensor(e.input_ids)
        mask[r, n - len(e):] = 1
    with torch.no_grad():
        left = classifier_logits(b.model, ids, mask).double().numpy()
        embeds = classifier_logits(b.model, attention_mask=mask, inputs_embeds=b.model.get_input_embeddings()(ids),
                                   reference_ids=ids).double().numpy()
    assert np.allclose(left, alone, atol=1e-5) and np.allclose(embeds, alone, atol=1e-5)


def test_decoder_without_a_pad_id_in_its_config_scores_padded_batches():
    """transformers refuses padded batches of such a model; each row still equals the text alone."""
    b = zoo_bundle("gpt2+gpt2-bpe")
    model = copy.deepcopy(b.model)
    model.config.pad_token_id = None
    nopad = load_model((model, b.tokenizer), device="cpu")
    alone = np.stack([single_logits(nopad, t) for t in TEXTS])
    assert np.allclose(nopad.predict_logits(TEXTS), alone, atol=1e-5)
    attrs = GradientXInput().explain(nopad, TEXTS)
    assert [a.info["f_x"] for a in attrs] == pytest.approx([row[a.target] for row, a in zip(alone, attrs)], abs=1e-5)


def test_wordpiece_tokenizer_on_a_decoder():
    """A decoder trained with a WordPiece tokenizer reads [SEP], its last token; SHAP's features are its tokens."""
    import model_zoo
    from transformers import AutoModelForSequenceClassification

    tok = model_zoo.make_tokenizer("wordpiece")
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(
        model_zoo._config(model_zoo.ZooModel("qwen2", "wordpiece", decoder=True), tok, 2, None)).eval()
    b = load_model((model, tok), device="cpu")
    alone = np.stack([single_logits(b, t) for t in TEXTS])
    assert np.allclose(b.predict_logits(TEXTS), alone, atol=1e-5)
    for a in SHAPText(max_evals=40).explain(b, TEXTS):
        assert len(a.token_scores) == len(encode_texts(b, [a.text])[0]) and a.word_spans == text_words(a.text)
        assert abs(a.info["efficiency_error"]) < 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_words_are_the_whitespace_words_and_scores_add_up(name):
    b = zoo_bundle(name)
    for e in encode_texts(b, TEXTS + ["", "   "]):
        assert e.word_spans() == text_words(e.text)
        for w, sp in zip(e.word_ids, e.special):  # every non-special token of a text with words has a word
            assert sp or w is not None or not text_words(e.text)
    (cut,) = encode_texts(b, [TEXTS[1]], max_length=6)  # truncation keeps the words that still have tokens
    k = len(cut.word_spans())
    assert 1 <= k < len(text_words(TEXTS[1])) and cut.word_spans() == text_words(TEXTS[1])[:k]
    assert sorted({w for w in cut.word_ids if w is not None}) == list(range(k))
    attrs = IntegratedGradients(n_steps=129, method="adaptive_simpson", tolerance=0.01).explain(b, TEXTS + [""])
    alone = np.stack([single_logits(b, t) for t in TEXTS + [""]])
    for a, want in zip(attrs, alone):
        assert a.word_spans == text_words(a.text) and len(a.word_scores) == len(a.word_spans)
        special = set(i for i, e in enumerate(encode_texts(b, [a.text])[0].special) if e)
        free = sum(s for i, s in enumerate(a.token_scores) if i not in special)
        if a.word_spans:
            assert np.isclose(sum(a.word_scores), free, atol=1e-9)
        # the embeddings path reads the same position as the model on the ids
        assert a.info["f_x"] == pytest.approx(want[a.target], abs=1e-5)
        # completeness: token attributions add up to f(x) - f(baseline)
        gap = a.info["f_x"] - a.info["f_baseline"]
        assert abs(sum(a.token_scores) - gap) <= max(0.01 * abs(gap), 1e-4) + 1e-6
    empty = attrs[-1]
    assert empty.word_spans == [] and empty.word_scores == []


@pytest.mark.parametrize("name", NAMES)
def test_ig_baseline_is_the_model_on_the_baseline_alone(name):
    """f(baseline) in a padded batch equals the model run on that baseline by itself."""
    b = zoo_bundle(name)
    attrs = IntegratedGradients(n_steps=8).explain(b, TEXTS)
    emb = b.model.get_input_embeddings()
    pad_row_zero = not bool(emb.weight[b.tokenizer.pad_token_id].any())
    for a in attrs:
        (e,) = encode_texts(b, [a.text])
        ids = torch.tensor([[t if sp else b.tokenizer.pad_token_id for t, sp in zip(e.input_ids, e.special)]])
        with torch.no_grad():
            base = emb(ids)
            # a zero padding row on a model singular at zero is replaced by the mean embedding
            assert (a.info["baseline"] == "mean token embedding") == (pad_row_zero and zero_is_singular(b.model))
            if a.info["baseline"] != "pad":
                free = [p for p, sp in enumerate(e.special) if not sp]
                base[0, free] = emb.weight.mean(0)
            out = b.model(inputs_embeds=base, attention_mask=torch.ones_like(ids)).logits[0, a.target]
        assert a.info["f_baseline"] == pytest.approx(float(out), abs=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_zero_embedding_is_singular_exactly_for_scale_normalised_inputs(name):
    """Models that normalise each input position by its scale before adding position embeddings
    (RMSNorm decoders; DeBERTa without absolute positions; ModernBERT) jump at a zero embedding."""
    arch = name.split("+")[0]
    want = arch in ("llama", "qwen2", "mistral", "gemma", "deberta-v2", "modernbert")
    assert zero_is_singular(zoo_bundle(name).model) == want


@pytest.mark.parametrize("name", NAMES)
def test_perturbation_methods_use_the_same_words(name):
    b = zoo_bundle(name)
    texts = TEXTS[:2]
    shap_attrs = SHAPText(max_evals=40).explain(b, texts)
    occ = Occlusion().explain(b, texts)
    gxi = GradientXInput().explain(b, texts)
    roll = AttentionRollout(keep_heads=False).explain(b, texts)
    for s, o, g, r, text in zip(shap_attrs, occ, gxi, roll, texts):
        n = len(text_words(text))
        assert len(s.word_scores) == len(o.word_scores) == len(g.word_scores) == len(r.word_scores) == n
        assert s.word_spans == o.word_spans == text_words(text)
        # SHAP values add up to f(x) - f(every token masked), and f(x) is the model on the text alone
        assert abs(s.info["efficiency_error"]) < 1e-6
        assert s.info["f_x"] == pytest.approx(single_logits(b, text)[s.target], abs=1e-5)
        assert np.isclose(sum(s.word_scores), sum(s.token_scores), atol=1e-9)
    # occlusion of the first word: the drop when exactly that word's tokens are masked
    (e,) = encode_texts(b, [texts[0]])
    o = occ[0]
    fill = b.tokenizer.mask_token_id if b.tokenizer.mask_token_id is not None else b.tokenizer.unk_token_id
    masked = [fill if w == 0 else t for t, w in zip(e.input_ids, e.word_ids)]
    ids = torch.tensor([masked])
    with torch.no_grad():
        drop = single_logits(b, texts[0])[o.target] - float(b.model(input_ids=ids, attention_mask=torch.ones_like(ids))
                                                            .logits[0, o.target])
    assert o.word_scores[0] == pytest.approx(drop, abs=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_first_position_readout_equals_full_forward(name):
    b = zoo_bundle(name)
    encs = encode_texts(b, TEXTS)
    full = b.predict_logits(TEXTS)
    if not readout_available(b.model):
        with first_position_readout(b.model) as used:
            assert not used
        return
    assert name.split("+")[0] in ("bert", "distilbert", "electra", "roberta", "xlm-roberta")
    n = max(len(e) for e in encs)
    ids = torch.zeros((len(encs), n), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for r, e in enumerate(encs):
        ids[r, : len(e)] = torch.tensor(e.input_ids)
        mask[r, : len(e)] = 1
    with torch.no_grad(), first_position_readout(b.model) as used:
        fast = b.model(input_ids=ids, attention_mask=mask).logits.double().numpy()
    assert used and np.allclose(fast, full, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_sanity_randomises_the_parameters_it_names(name):
    b = zoo_bundle(name)
    model = copy.deepcopy(b.model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    gen = torch.Generator().manual_seed(0)
    claimed = []
    for prefix, module in head_modules(model) + encoder_layers(model):
        claimed += [f"{prefix}.{p}" for p in reinitialise(module, 0.02, gen)]
    params = dict(model.named_parameters())
    assert claimed and all(c in params for c in claimed)
    matrices = [c for c in claimed if params[c].dim() >= 2]
    assert matrices and all(not torch.equal(params[c], before[c]) for c in matrices)
    untouched = [k for k in params if k not in claimed]
    assert all(torch.equal(params[k], before[k]) for k in untouched)
    assert any("embed" in k or "wte" in k or "word" in k for k in untouched)  # the embeddings are not a layer


def test_albert_randomises_its_shared_layer_group():
    b = zoo_bundle("albert+unigram-cls")
    layers = encoder_layers(b.model)
    assert len(layers) == 1 and b.model.config.num_hidden_layers == 2
    explainer = GradientXInput()
    original = {explainer.name: explainer.explain(b, TEXTS)}
    out = parameter_randomisation(b, [explainer], original, layers=(0, 2), n_boot=20)
    head, full = out["stages"]
    assert full["top_layers"] == 1 and full["requested_top_layers"] == 2
    assert "shared" in full["name"] and "2 layers" in full["name"]
    assert out["protocol"]["layers"] == {"distinct": 1, "applied": 2, "shared": True}
    assert layers[0][0] in full["randomised"]
    n_layer = sum(p.numel() for p in layers[0][1].parameters())
    assert full["n_parameters_randomised"] - head["n_parameters_randomised"] == n_layer


def test_assign_words_by_offsets():
    from audit.attribution.base import assign_words

    text = "ab cd ef gh "
    # whitespace pieces belong to the next word, a trailing one to the last word; specials to none
    ids, spans = assign_words(text, [(0, 0), (0, 2), (2, 3), (3, 5), (5, 6), (6, 8), (8, 9), (9, 11), (11, 12)],
                              [True] + [False] * 8)
    assert ids == [None, 0, 1, 1, 2, 2, 3, 3, 3] and spans == text_words(text)
    # a piece spanning a space joins its words into one; the words stay in text order
    ids, spans = assign_words(text, [(3, 8), (0, 4), (9, 11)], [False] * 3)
    assert ids == [0, 0, 1] and spans == [(0, 8), (9, 11)]
    # words left without tokens (truncated) are dropped; a text of whitespace has no words
    assert assign_words(text, [(0, 2)], [False]) == ([0], [(0, 2)])
    assert assign_words("   ", [(0, 1), (1, 3)], [False, False]) == ([None, None], [])
