"""Names and places found by a Hugging Face token-classification model, loaded offline from a directory.

Any model directory with a token-classification head works (e.g. a BERT fine-tuned on CoNLL-03);
entity groups are mapped by label: PER / PERSON -> PERSON, LOC / GPE / LOCATION / ADDRESS ->
ADDRESS (``subtype`` "LOC"); other groups (ORG, MISC, ...) are ignored. The finding's detector is
``ner:<directory name>`` and its confidence the model's aggregated score.
"""

from __future__ import annotations

from pathlib import Path

from ..findings import ADDRESS, PERSON, Finding
from .base import Detector

LABELS = {"PER": PERSON, "PERSON": PERSON, "LOC": ADDRESS, "GPE": ADDRESS, "LOCATION": ADDRESS, "ADDRESS": ADDRESS}


class NerDetector(Detector):
    type = PERSON  # also reports ADDRESS (places) when the model tags them

    def __init__(self, model_dir: str | Path, batch_size: int = 16):
        path = Path(model_dir)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path}: not a model directory (config.json missing) for the NER detector")
        from transformers import AutoConfig, pipeline

        config = AutoConfig.from_pretrained(path, local_files_only=True)
        if not config.architectures or not any(a.endswith("ForTokenClassification") for a in config.architectures):
            raise ValueError(f"{path}: the NER detector needs a token-classification model, "
                             f"this one is {config.architectures}")
        self.name = f"ner:{path.name}"
        self.batch_size = batch_size
        self._pipe = pipeline("token-classification", model=str(path), tokenizer=str(path),
                              aggregation_strategy="simple", device=-1)

    def find(self, text: str) -> list[Finding]:
        return self.find_many([text])[0]

    def find_many(self, texts: list[str]) -> list[list[Finding]]:
        if not texts:
            return []
        results = self._pipe(list(texts), batch_size=self.batch_size)
        return [self._convert(text, entities) for text, entities in zip(texts, results)]

    def _convert(self, text: str, entities) -> list[Finding]:
        out = []
        for e in entities:
            label = str(e.get("entity_group", e.get("entity", ""))).upper().removeprefix("B-").removeprefix("I-")
            kind = LABELS.get(label)
            start, end = e.get("start"), e.get("end")
            if kind is None or start is None or end is None:
                continue
            # Trim the whitespace some tokenizers include in offsets.
            while start < end and text[start].isspace():
                start += 1
            while end > start and text[end - 1].isspace():
                end -= 1
            if end > start:
                out.append(Finding(type=kind, start=int(start), end=int(end), detector=self.name,
                                   confidence=round(float(min(1.0, max(0.0, e["score"]))), 3),
                                   subtype="LOC" if kind == ADDRESS else None))
        return out
