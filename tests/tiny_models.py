"""Tiny randomly initialised BERT, DistilBERT and RoBERTa classifiers with real fast tokenizers."""

from __future__ import annotations

import json
from pathlib import Path

CORPUS = [
    "the film was great and the acting was superb",
    "a dull plot but a great cast",
    "not bad at all, really enjoyable",
    "the battery died after two days, terrible",
    "I would never buy this again",
    "Maria said the soundtrack was wonderful",
    "the screen is bright but the delivery was slow",
] * 20

ARCHS = ("bert", "distilbert", "roberta")


def _bert_tokenizer(tmp: Path):
    from transformers import AutoTokenizer

    from audit.models import default_backbone_path

    return AutoTokenizer.from_pretrained(default_backbone_path())


def _roberta_tokenizer(tmp: Path):
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS, vocab_size=400, min_frequency=1, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    tmp.mkdir(parents=True, exist_ok=True)
    bpe.save_model(str(tmp))
    vocab = json.loads((tmp / "vocab.json").read_text())
    merges = [tuple(line.split()) for line in (tmp / "merges.txt").read_text().splitlines()[1:] if line]
    return RobertaTokenizerFast(vocab=vocab, merges=merges)


def make_tiny(arch: str, num_labels: int = 2, tmp: Path | None = None, seed: int = 0, init_range: float = 0.2):
    """A tiny random classifier of the given architecture and its (real, fast) tokenizer."""
    import tempfile

    import torch
    from transformers import (BertConfig, BertForSequenceClassification, DistilBertConfig,
                              DistilBertForSequenceClassification, RobertaConfig, RobertaForSequenceClassification)

    tmp = Path(tmp or tempfile.mkdtemp())
    torch.manual_seed(seed)
    if arch == "roberta":
        tok = _roberta_tokenizer(tmp / "tok")
        cfg = RobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=130, num_labels=num_labels,
                            pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                            initializer_range=init_range)
        model = RobertaForSequenceClassification(cfg)
    elif arch == "distilbert":
        tok = _bert_tokenizer(tmp)
        cfg = DistilBertConfig(vocab_size=tok.vocab_size, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                               max_position_embeddings=128, num_labels=num_labels, initializer_range=init_range)
        model = DistilBertForSequenceClassification(cfg)
    elif arch == "bert":
        tok = _bert_tokenizer(tmp)
        cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=128, num_labels=num_labels, initializer_range=init_range)
        model = BertForSequenceClassification(cfg)
    else:  # pragma: no cover
        raise ValueError(arch)
    model.eval()
    return model, tok
