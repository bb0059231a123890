"""Where word substitutions come from: the shipped lexicon, the victim's own embedding
neighbours and, optionally, a user-supplied masked language model (a local directory).

Every candidate is checked against the lexicon's validity rules before it is ever queried:
by default antonyms, polarity flips (good -> bad) and negator changes are excluded, so they can
never be counted as successful attacks. The remaining flags (``polarity_change``) are kept on the
candidate and reported, which is what the validity-adjusted success rate uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .lexicon import Lexicon
from .perturbations import WordView, match_case
from .victim import EmbeddingNeighbours, whole_word_vocabulary
from .wordlists import NEGATORS, STOPWORDS

SOURCES = ("lexicon", "embedding", "mlm")


@dataclass
class Candidate:
    """A replacement for one word, where it came from and the validity flags it carries."""

    word: str
    sources: list[str]
    flags: list[str] = field(default_factory=list)


def attackable(word: str, min_length: int = 2) -> bool:
    """Whether a word may be edited: not a stopword, not a negator, long enough."""
    w = word.lower()
    return len(word) >= min_length and w not in STOPWORDS and w not in NEGATORS


class MaskedLMCandidates:
    """Replacements proposed by a masked language model from a local directory: the word is
    replaced by one mask token and the ``k`` most likely whole-word tokens are taken."""

    def __init__(self, path: str | Path, k: int = 8, device: str = "cpu", batch_size: int = 32) -> None:
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        p = Path(path)
        if not (p / "config.json").is_file():
            raise ValueError(f"{p}: not a masked-language-model directory (config.json is missing)")
        try:
            self.model = AutoModelForMaskedLM.from_pretrained(p, local_files_only=True).eval().to(device)
            self.tokenizer = AutoTokenizer.from_pretrained(p, local_files_only=True)
        except Exception as exc:
            raise ValueError(f"{p}: cannot load a masked language model: {type(exc).__name__}: {exc}") from exc
        if self.tokenizer.mask_token is None:
            raise ValueError(f"{p}: the tokenizer has no mask token; a masked language model is needed")
        self.path = p
        self.k = int(k)
        self.device = device
        self.batch_size = int(batch_size)
        ids, words = whole_word_vocabulary(self.tokenizer)
        self._words = dict(zip(ids, words))
        self.n_passes = 0

    def propose(self, requests: Sequence[tuple[str, int]]) -> list[list[str]]:
        """For each (text, word index): the ``k`` best whole-word replacements, best first."""
        import torch

        masked, ok = [], []
        for text, j in requests:
            view = WordView(text)
            masked.append(view.replaced(j, self.tokenizer.mask_token))
            ok.append(view.word(j).lower())
        out: list[list[str]] = []
        mask_id = self.tokenizer.mask_token_id
        allowed = torch.zeros(self.model.get_output_embeddings().weight.shape[0], dtype=torch.bool)
        valid_ids = [i for i in self._words if i < allowed.numel()]
        allowed[valid_ids] = True
        with torch.inference_mode():
            for s in range(0, len(masked), self.batch_size):
                batch = self.tokenizer(masked[s : s + self.batch_size], padding=True, truncation=True, max_length=256,
                                       return_tensors="pt").to(self.device)
                logits = self.model(**batch).logits.float().cpu()
                self.n_passes += len(batch["input_ids"])
                for r in range(logits.shape[0]):
                    pos = (batch["input_ids"][r].cpu() == mask_id).nonzero()
                    if len(pos) == 0:  # the mask fell beyond truncation
                        out.append([])
                        continue
                    scores = logits[r, int(pos[0])].masked_fill(~allowed, float("-inf"))
                    top = torch.topk(scores, min(self.k + 4, int(allowed.sum()))).indices.tolist()
                    orig = ok[s + r]
                    words = [self._words[i] for i in top if self._words[i].lower() != orig]
                    out.append(words[: self.k])
        return out


class CandidateGenerator:
    """Word substitutions for positions of texts, from the configured sources, validity-checked."""

    def __init__(self, bundle: Any, lexicon: Lexicon, *, sources: Sequence[str] = ("lexicon", "embedding"),
                 lexicon_k: int = 12, embedding_k: int = 8, embedding_min_cosine: float = 0.4,
                 mlm: MaskedLMCandidates | None = None, exclude_flags: Sequence[str] = ("antonym", "polarity_flip", "negation"),
                 min_word_length: int = 2) -> None:
        unknown = [s for s in sources if s not in SOURCES]
        if unknown:
            raise ValueError(f"unknown candidate source(s) {unknown}; choose from {list(SOURCES)}")
        if "mlm" in sources and mlm is None:
            raise ValueError("candidate source 'mlm' needs a masked language model directory (option 'mlm_path')")
        self.lexicon = lexicon
        self.sources = tuple(sources)
        self.lexicon_k = int(lexicon_k)
        self.embedding = (EmbeddingNeighbours(bundle, k=embedding_k, min_cosine=embedding_min_cosine)
                          if "embedding" in sources else None)
        self.mlm = mlm
        self.exclude_flags = tuple(exclude_flags)
        self.min_word_length = int(min_word_length)
        self.n_excluded = 0

    def info(self) -> dict[str, Any]:
        return {
            "sources": list(self.sources), "lexicon_k": self.lexicon_k,
            "embedding_k": self.embedding.k if self.embedding else None,
            "embedding_min_cosine": self.embedding.min_cosine if self.embedding else None,
            "embedding_vocabulary": len(self.embedding.ids) if self.embedding else None,
            "mlm": str(self.mlm.path) if self.mlm else None, "mlm_k": self.mlm.k if self.mlm else None,
            "excluded_flags": list(self.exclude_flags), "min_word_length": self.min_word_length,
            "skipped_words": "stopwords and negators",
        }

    def for_texts(self, texts: Sequence[str], positions: Sequence[Sequence[int]]) -> list[dict[int, list[Candidate]]]:
        """Candidates for the given word positions of each text (embedding neighbours and MLM
        proposals for all texts computed in one batch each)."""
        views = [WordView(t) for t in texts]
        words = [[v.word(j) for j in pos] for v, pos in zip(views, positions)]
        neigh: dict[str, list[tuple[str, float]]] = {}
        if self.embedding is not None:
            flat = [w for ws in words for w in ws]
            neigh = self.embedding.neighbours(flat + [w.lower() for w in flat])
        mlm_out: dict[tuple[int, int], list[str]] = {}
        if self.mlm is not None and "mlm" in self.sources:
            reqs = [(i, j) for i, pos in enumerate(positions) for j in pos]
            props = self.mlm.propose([(texts[i], j) for i, j in reqs])
            mlm_out = dict(zip(reqs, props))
        out: list[dict[int, list[Candidate]]] = []
        for i, pos in enumerate(positions):
            per: dict[int, list[Candidate]] = {}
            for j, w in zip(pos, words[i]):
                found: dict[str, Candidate] = {}

                def add(new: str, source: str) -> None:
                    new = match_case(w, new.lower()) if new.islower() or w[:1].isupper() else new
                    key = new.lower()
                    if key == w.lower() or not new.isalpha() or key in STOPWORDS:
                        return
                    if key in found:
                        if source not in found[key].sources:
                            found[key].sources.append(source)
                        return
                    found[key] = Candidate(new, [source], self.lexicon.flags(w, new, replacement_is_word=True))

                if "lexicon" in self.sources:
                    for s in self.lexicon.synonyms(w, self.lexicon_k):
                        if s.isalpha():
                            add(s, "lexicon")
                if self.embedding is not None:
                    for s, _cos in neigh.get(w) or neigh.get(w.lower()) or []:
                        add(s, "embedding")
                for s in mlm_out.get((i, j), []):
                    add(s, "mlm")
                keep = [c for c in found.values() if not any(f in self.exclude_flags for f in c.flags)]
                self.n_excluded += len(found) - len(keep)
                per[j] = keep
            out.append(per)
        return out


__all__ = ["Candidate", "CandidateGenerator", "MaskedLMCandidates", "attackable", "SOURCES"]
