"""Tiny randomly initialised classifiers of every architecture family, each with a tokenizer of its
own family trained offline on the demo texts, saved as model directories the way the Hub ships them.

Tokenizer families:

- ``wordpiece``: BERT-style WordPiece, lower-cased, ``[CLS] text [SEP]``.
- ``bytelevel-bpe``: RoBERTa-style byte-level BPE (``Ġ`` pieces), ``<s> text </s>``.
- ``bytelevel-bpe-cls``: ModernBERT-style byte-level BPE with ``[CLS] text [SEP]``.
- ``gpt2-bpe``: GPT-2/Qwen2-style byte-level BPE, no special tokens added, pad = eos.
- ``unigram``: SentencePiece-style Unigram with Metaspace (``▁`` pieces) and byte fallback
  (XLM-R ``<s> text </s>``; ALBERT and DeBERTa-v3 ``[CLS] text [SEP]``).
- ``sp-bpe``: SentencePiece-style BPE with Metaspace and byte fallback, ``<s>`` prepended
  (Llama, Mistral, Gemma), left padding.

``ZOO`` lists every (architecture, tokenizer) pair the matrix runs; ``build(name, dir)`` writes
one model directory.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VOCAB = 600
_BYTES = [f"<0x{i:02X}>" for i in range(256)]


@functools.lru_cache(maxsize=1)
def corpus() -> tuple[str, ...]:
    """Demo review texts, plus accented and non-Latin text so byte fallback and offsets get exercised."""
    from audit.demo import make_demo_dataset

    texts = list(make_demo_dataset(n=400, seed=0).texts)
    texts += ["Café crème, naïve résumé: très bien!", "Das Essen war großartig.", "東京の映画はとても良かった"] * 3
    return tuple(texts)


@dataclass(frozen=True)
class TokSpec:
    family: str
    bos: str | None  # prepended special token
    eos: str | None  # appended special token
    pad: str
    unk: str
    mask: str | None = None
    extra: tuple[str, ...] = ()
    padding_side: str = "right"
    add_eos: bool = True
    lowercase: bool = False
    tokenizer_class: str = "PreTrainedTokenizerFast"


TOKENIZERS: dict[str, TokSpec] = {
    "wordpiece": TokSpec("wordpiece", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", lowercase=True,
                         tokenizer_class="BertTokenizer"),
    "bytelevel-bpe": TokSpec("bytelevel-bpe", "<s>", "</s>", "<pad>", "<unk>", "<mask>", tokenizer_class="RobertaTokenizer"),
    "bytelevel-bpe-cls": TokSpec("bytelevel-bpe", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"),
    "gpt2-bpe": TokSpec("bytelevel-bpe", None, None, "<|endoftext|>", "<|endoftext|>", tokenizer_class="GPT2Tokenizer"),
    "unigram-xlmr": TokSpec("unigram", "<s>", "</s>", "<pad>", "<unk>", "<mask>", tokenizer_class="XLMRobertaTokenizer"),
    "unigram-cls": TokSpec("unigram", "[CLS]", "[SEP]", "<pad>", "<unk>", "[MASK]", lowercase=True),
    "sp-bpe": TokSpec("sp-bpe", "<s>", "</s>", "</s>", "<unk>", padding_side="left", add_eos=False,
                      tokenizer_class="LlamaTokenizer"),
}


@dataclass(frozen=True)
class ZooModel:
    arch: str
    tokenizer: str
    decoder: bool = False
    tokenizer_class: str | None = None  # as the Hub ships it, when it differs from the family's usual class
    options: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def name(self) -> str:
        return f"{self.arch}+{self.tokenizer}"


ZOO: tuple[ZooModel, ...] = (
    ZooModel("bert", "wordpiece"),
    ZooModel("distilbert", "wordpiece"),
    ZooModel("electra", "wordpiece"),
    ZooModel("roberta", "bytelevel-bpe"),
    ZooModel("xlm-roberta", "unigram-xlmr"),
    ZooModel("albert", "unigram-cls"),
    ZooModel("deberta-v2", "unigram-cls"),
    ZooModel("modernbert", "bytelevel-bpe-cls"),
    ZooModel("gpt2", "gpt2-bpe", decoder=True),
    ZooModel("llama", "sp-bpe", decoder=True),
    ZooModel("qwen2", "gpt2-bpe", decoder=True, tokenizer_class="Qwen2Tokenizer"),
    ZooModel("mistral", "sp-bpe", decoder=True),
    ZooModel("gemma", "sp-bpe", decoder=True, tokenizer_class="PreTrainedTokenizerFast"),
)
BY_NAME = {m.name: m for m in ZOO}


def _specials(spec: TokSpec) -> list[str]:
    out: list[str] = []
    for t in (spec.pad, spec.unk, spec.bos, spec.eos, spec.mask, *spec.extra):
        if t and t not in out:
            out.append(t)
    return out


@functools.lru_cache(maxsize=None)
def _raw_tokenizer_json(kind: str) -> str:
    """Train the tokenizer ``kind`` on the corpus; returns its tokenizer.json text (cached per process)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    spec = TOKENIZERS[kind]
    specials = _specials(spec)
    if spec.family == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token=spec.unk))
        tok.normalizer = normalizers.BertNormalizer(lowercase=spec.lowercase)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=VOCAB, special_tokens=specials)
    elif spec.family == "bytelevel-bpe":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=specials,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    elif spec.family == "unigram":
        tok = Tokenizer(models.Unigram())
        norms = [normalizers.NFKC()] + ([normalizers.Lowercase()] if spec.lowercase else [])
        tok.normalizer = normalizers.Sequence(norms)
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
        trainer = trainers.UnigramTrainer(vocab_size=VOCAB, special_tokens=specials + _BYTES, unk_token=spec.unk)
    elif spec.family == "sp-bpe":
        tok = Tokenizer(models.BPE(unk_token=spec.unk, byte_fallback=True, fuse_unk=True))
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")  # training only
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(" ", 1, 0)])
        trainer = trainers.BpeTrainer(vocab_size=VOCAB + 256, special_tokens=specials + _BYTES)
    else:  # pragma: no cover
        raise ValueError(spec.family)
    tok.train_from_iterator(corpus(), trainer=trainer)
    if spec.family == "sp-bpe":  # the Llama layout: no pre-tokenizer, spaces become ▁ in the normalizer
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tok.pre_tokenizer = None
    single = " ".join(([f"{spec.bos}:0"] if spec.bos else []) + ["$A:0"] + ([f"{spec.eos}:0"] if spec.eos and spec.add_eos else []))
    pair = single + " " + " ".join(["$B:1"] + ([f"{spec.eos}:1"] if spec.eos and spec.add_eos else []))
    used = [t for t in (spec.bos, spec.eos if spec.add_eos else None) if t]
    if used:
        tok.post_processor = processors.TemplateProcessing(
            single=single, pair=pair, special_tokens=[(t, tok.token_to_id(t)) for t in dict.fromkeys(used)])
    elif spec.family == "bytelevel-bpe":
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    data = json.loads(tok.to_str())
    if spec.family == "unigram":
        data["model"]["byte_fallback"] = True
    for t in data["added_tokens"]:  # byte pieces are vocabulary, not special tokens
        if re.fullmatch(r"<0x[0-9A-F]{2}>", t["content"]):
            t["special"] = False
    data["added_tokens"] = [t for t in data["added_tokens"] if t["special"]]
    return json.dumps(data)


def make_tokenizer(kind: str) -> Any:
    """A transformers fast tokenizer of the given family (see ``TOKENIZERS``)."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    spec = TOKENIZERS[kind]
    raw = Tokenizer.from_str(_raw_tokenizer_json(kind))
    kwargs = {"pad_token": spec.pad, "unk_token": spec.unk}
    if spec.bos:
        kwargs["bos_token"] = spec.bos
        if spec.family != "sp-bpe":
            kwargs["cls_token"] = spec.bos
    if spec.eos:
        kwargs["eos_token"] = spec.eos
        if spec.family != "sp-bpe":
            kwargs["sep_token"] = spec.eos
    if spec.family == "bytelevel-bpe" and spec.bos is None:  # GPT-2 style: bos = eos = pad = <|endoftext|>
        kwargs.update(bos_token=spec.pad, eos_token=spec.pad)
    if spec.mask:
        kwargs["mask_token"] = spec.mask
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, padding_side=spec.padding_side, model_max_length=128, **kwargs)
    return tok


def _config(m: ZooModel, tok: Any, num_labels: int, problem_type: str | None) -> Any:
    import transformers as tf

    small = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                 max_position_embeddings=128, initializer_range=0.2)
    ids = dict(pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    common = dict(num_labels=num_labels, vocab_size=len(tok), **({"problem_type": problem_type} if problem_type else {}))
    a = m.arch
    if a == "bert":
        return tf.BertConfig(**small, **common, pad_token_id=tok.pad_token_id)
    if a == "electra":
        return tf.ElectraConfig(embedding_size=32, **small, **common, pad_token_id=tok.pad_token_id)
    if a == "distilbert":
        return tf.DistilBertConfig(dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=128,
                                   initializer_range=0.2, pad_token_id=tok.pad_token_id, **common)
    if a == "roberta":
        return tf.RobertaConfig(**{**small, "max_position_embeddings": 130}, **common, **ids)
    if a == "xlm-roberta":
        return tf.XLMRobertaConfig(**{**small, "max_position_embeddings": 130}, **common, **ids)
    if a == "albert":
        return tf.AlbertConfig(embedding_size=16, **small, **common, **ids)
    if a == "deberta-v2":
        return tf.DebertaV2Config(**small, **common, pad_token_id=tok.pad_token_id, relative_attention=True,
                                  position_biased_input=False, pos_att_type=["p2c", "c2p"], max_relative_positions=-1,
                                  position_buckets=32, norm_rel_ebd="layer_norm", share_att_key=True)
    if a == "modernbert":
        return tf.ModernBertConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
                                   max_position_embeddings=128, initializer_range=0.2, global_attn_every_n_layers=2,
                                   local_attention=16, cls_token_id=tok.cls_token_id, sep_token_id=tok.sep_token_id,
                                   **common, **ids)
    if a == "gpt2":
        return tf.GPT2Config(n_embd=32, n_layer=2, n_head=2, n_inner=64, n_positions=128, initializer_range=0.2,
                             **common, **ids)
    decoder = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, intermediate_size=64,
                   max_position_embeddings=128, initializer_range=0.2, tie_word_embeddings=False)
    if a == "llama":
        return tf.LlamaConfig(**decoder, **common, **ids)
    if a == "qwen2":
        return tf.Qwen2Config(**decoder, **common, **ids)
    if a == "mistral":
        return tf.MistralConfig(**decoder, **common, **ids, sliding_window=None)
    if a == "gemma":
        return tf.GemmaConfig(**decoder, head_dim=16, **common, **ids)
    raise ValueError(f"unknown architecture {a!r}")  # pragma: no cover


def make_model(name: str, num_labels: int = 2, *, seed: int = 0, problem_type: str | None = None,
               label_names: list[str] | None = None, init_range: float | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) for a zoo entry such as ``"qwen2+gpt2-bpe"``, randomly initialised from ``seed``.

    ``init_range`` overrides the standard deviation of the random weights (0.2 by default);
    larger values give confident, brittle models whose predictions small edits can flip."""
    import torch
    from transformers import AutoModelForSequenceClassification

    m = BY_NAME[name]
    tok = make_tokenizer(m.tokenizer)
    cfg = _config(m, tok, num_labels, problem_type)
    if init_range is not None:
        cfg.initializer_range = float(init_range)
    if label_names:
        cfg.id2label = dict(enumerate(label_names))
        cfg.label2id = {n: i for i, n in enumerate(label_names)}
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(cfg)
    model.eval()
    return model, tok


def build(name: str, out: Path, num_labels: int = 2, *, seed: int = 0, problem_type: str | None = None,
          label_names: list[str] | None = None, init_range: float | None = None) -> Path:
    """Write the zoo model ``name`` to the directory ``out`` (safetensors, config.json, tokenizer files)."""
    model, tok = make_model(name, num_labels, seed=seed, problem_type=problem_type, label_names=label_names,
                            init_range=init_range)
    out = Path(out)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    entry = BY_NAME[name]
    cfg_path = out / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["tokenizer_class"] = entry.tokenizer_class or TOKENIZERS[entry.tokenizer].tokenizer_class  # as the Hub ships it
    cfg_path.write_text(json.dumps(cfg, indent=2))
    return out
