"""A token-classification model directory adds its person and place findings to the scan, offline,
under the detector name ``ner:<directory name>``, with spans on the text's own characters."""

from __future__ import annotations

import pytest
import torch

from model_zoo import make_tokenizer

from audit.pii.scanner import PIIScanner

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]


def tagger_dir(tmp_path, always: str):
    """A tiny BERT tagger whose head is rigged to tag every token ``always``."""
    from transformers import BertConfig, BertForTokenClassification

    tok = make_tokenizer("wordpiece")
    config = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=len(LABELS),
                        id2label=dict(enumerate(LABELS)), label2id={k: i for i, k in enumerate(LABELS)})
    torch.manual_seed(0)
    model = BertForTokenClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.fill_(-5.0)
        model.classifier.bias[LABELS.index(always)] = 5.0
    out = tmp_path / f"tagger-{always.lower()}"
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


TEXT = "great service from the shop"


@pytest.mark.parametrize("always,kind,subtype", [("I-PER", "PERSON", None), ("I-LOC", "ADDRESS", "LOC")])
def test_ner_findings_are_mapped_and_named(tmp_path, always, kind, subtype):
    d = tagger_dir(tmp_path, always)
    found = PIIScanner(ner_model=d).scan(TEXT)
    assert [(f.type, f.start, f.end, f.detector, f.subtype) for f in found] == [
        (kind, 0, len(TEXT), f"ner:{d.name}", subtype)]
    assert 0.9 <= found[0].confidence <= 1.0  # the rigged head is sure of every token


def test_ner_labels_outside_person_and_place_are_ignored(tmp_path):
    d = tagger_dir(tmp_path, "I-ORG")
    scanner = PIIScanner(ner_model=d)
    assert scanner.scan(TEXT) == []
    assert scanner.config()["detectors"][-1] == f"ner:{d.name}"


def test_ner_model_must_be_a_token_classifier(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        PIIScanner(ner_model=tmp_path)
    from model_zoo import build

    clf = build("bert+wordpiece", tmp_path / "clf")
    with pytest.raises(ValueError, match="token-classification"):
        PIIScanner(ner_model=clf)
