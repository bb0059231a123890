"""Scan texts for personal data: every detector runs (after its cheap pre-filter), findings below
``min_confidence`` are dropped and overlapping findings are resolved (the longer span wins, then
the more confident one), so each character belongs to at most one finding.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from .detectors import NerDetector, build
from .findings import TYPES, Finding


class PIIScanner:
    """``PIIScanner(types=None, ner_model=None, min_confidence=0.5)``.

    ``types``: the finding types to look for (default: all of ``findings.TYPES``).
    ``ner_model``: a token-classification model directory whose PERSON / place findings are added.
    ``min_confidence``: findings less sure than this are not reported.
    """

    def __init__(self, types: Iterable[str] | None = None, ner_model: str | Path | None = None,
                 min_confidence: float = 0.5):
        if not 0.0 <= float(min_confidence) <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
        self.types = tuple(types) if types is not None else None
        self.detectors = build(self.types)
        self.ner_model = str(ner_model) if ner_model is not None else None
        self.ner = NerDetector(ner_model) if ner_model is not None else None
        self.min_confidence = float(min_confidence)

    def config(self) -> dict:
        """What this scanner looks for and how, as plain data (recorded next to its results)."""
        detectors = [d.name for d in self.detectors] + ([self.ner.name] if self.ner is not None else [])
        return {"types": list(self.types) if self.types is not None else list(TYPES), "detectors": detectors,
                "ner_model": self.ner.name if self.ner is not None else None, "min_confidence": self.min_confidence}

    def scan(self, text: str) -> list[Finding]:
        """The findings in one text, sorted by position, overlaps resolved."""
        return self.scan_many([text])[0]

    def scan_many(self, texts: Iterable[str], show_progress: bool = False) -> list[list[Finding]]:
        """``scan`` for each text, in order."""
        texts = list(texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"text {i} is {type(t).__name__}, not str")
        ner = self._ner(texts)
        iterator = texts
        if show_progress:
            from tqdm.auto import tqdm

            iterator = tqdm(texts, desc="scanning for personal data", unit="text")
        return [self._scan_one(text, ner[i] if ner else []) for i, text in enumerate(iterator)]

    def _ner(self, texts: list[str]) -> list[list[Finding]] | None:
        if self.ner is None:
            return None
        found = self.ner.find_many(texts)
        if self.types is not None:
            found = [[f for f in fs if f.type in self.types] for fs in found]
        return found

    def _scan_one(self, text: str, extra: list[Finding]) -> list[Finding]:
        candidates = list(extra)
        for detector in self.detectors:
            if detector.might_contain(text):
                candidates.extend(detector.find(text))
        return resolve([f for f in candidates if f.confidence >= self.min_confidence])


def resolve(findings: list[Finding]) -> list[Finding]:
    """Keep a set of non-overlapping findings: longer spans first, then higher confidence; sorted by start."""
    kept: list[Finding] = []
    order = sorted(findings, key=lambda f: (-(f.end - f.start), -f.confidence, f.start, f.type, f.detector))
    for f in order:
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: (f.start, f.end, f.type))
