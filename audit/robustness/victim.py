"""The model under test as the attacks see it: cached, batched queries, and gradient saliency.

* :class:`Victim` scores texts through ``ModelBundle.predict_proba`` (dynamic padding, length
  bucketing) and keeps a cache of texts already scored, so no text is ever run twice; stored
  results are re-verified one text at a time.
* :func:`word_saliency` ranks the words of many texts with one forward and one backward pass per
  batch (the gradient of the true-class log-probability with respect to the input embeddings),
  instead of one model query per word.

Tokens are tied to words by character offsets only (see :mod:`.tokens`), so every tokenizer
family, special-token layout and padding side is handled by the same code.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .._util import length_batches
from .perturbations import word_spans
from .tokens import single_token_ids, word_tokens


class Victim:
    """Class probabilities of a bundle's model for texts, with a cache of every text scored.

    ``n_model_texts`` counts the texts actually run through the model (cache misses); the
    per-example query counts of the attacks are kept by the attacks themselves.
    """

    def __init__(self, bundle: Any, batch_size: int = 128, max_length: int | None = None, cache_limit: int = 500_000) -> None:
        self.bundle = bundle
        self.batch_size = int(batch_size)
        self.max_length = max_length
        self.cache_limit = int(cache_limit)
        self._cache: dict[str, np.ndarray] = {}
        self.n_model_texts = 0
        self.n_model_calls = 0

    @property
    def num_labels(self) -> int:
        return int(self.bundle.num_labels)

    def probs(self, texts: Sequence[str], cache: bool = True) -> np.ndarray:
        """Probabilities, shape (len(texts), num_labels); uncached texts are scored in one call."""
        texts = list(texts)
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        fresh: dict[str, np.ndarray] = {}
        if missing:
            p = self.bundle.predict_proba(missing, batch_size=self.batch_size, max_length=self.max_length)
            self.n_model_texts += len(missing)
            self.n_model_calls += 1
            fresh = dict(zip(missing, p))
            if cache and len(self._cache) + len(missing) <= self.cache_limit:
                self._cache.update(fresh)
        out = np.zeros((len(texts), self.num_labels), dtype=np.float64)
        for i, t in enumerate(texts):
            out[i] = self._cache[t] if t in self._cache else fresh[t]
        return out

    def verify(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities recomputed from scratch (no cache), one text at a time (no padding, no
        batch neighbours), for re-verifying stored results exactly as a user would score them."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.num_labels))
        return self.bundle.predict_proba(texts, batch_size=1, max_length=self.max_length)


def word_saliency(bundle: Any, texts: Sequence[str], labels: Sequence[int], *, max_length: int | None = None,
                  batch_size: int = 32) -> list[np.ndarray]:
    """Per-word importance of every text for its label, from one gradient pass per batch.

    The score of a token is the L2 norm of the gradient of ``log p(label | text)`` with respect
    to its input embedding; a word's score is the largest score among the tokens whose
    characters overlap it. Words cut off by truncation get NaN (editing them cannot change the
    prediction).

    Batches are encoded exactly as the model is scored (the tokenizer's own special tokens and
    padding side) and the model gets the token ids, so a decoder finds its last real token
    behind left or right padding; the gradient is taken at the output of the input-embedding
    layer. Tokens are mapped to words by their character offsets only.
    """
    from .._device import batch_limits

    texts = list(texts)
    if not texts:
        return []
    out: list[np.ndarray] = [np.zeros(0)] * len(texts)
    encoded = bundle.encode(texts, max_length, return_offsets_mapping=True, return_special_tokens_mask=True)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    limits = batch_limits(bundle, batch_size, batch_size * 128, kind="gradient", max_length=max(lengths))
    left = getattr(bundle.tokenizer, "padding_side", "right") == "left"
    model = bundle.model
    was_training = model.training
    model.eval()
    try:
        for idx in length_batches(lengths, limits.rows, max_tokens=limits.tokens):
            enc = bundle.pad(encoded, idx)
            enc.pop("special_tokens_mask", None)
            grads = _embedding_gradients(bundle, enc, [int(labels[i]) for i in idx])
            for r, i in enumerate(idx):
                shift = grads.shape[1] - lengths[i] if left else 0  # where the text's tokens sit in the padded row
                spans = word_spans(texts[i])
                scores = np.full(len(spans), np.nan)
                tokens = word_tokens(encoded["offset_mapping"][i], encoded["special_tokens_mask"][i], spans)
                for w, toks in enumerate(tokens):
                    if toks:
                        scores[w] = float(grads[r, [t + shift for t in toks]].max())
                out[i] = scores
    finally:
        model.train(was_training)
    return out


def _embedding_gradients(bundle: Any, enc: Any, labels: Sequence[int]) -> np.ndarray:
    """L2 norm of the gradient of the label's log-probability at each position's input embedding,
    shape (batch, positions), for one encoded batch."""
    import torch

    model = bundle.model
    captured: list[Any] = []

    def hook(module: Any, inputs: Any, output: Any) -> Any:
        x = output.detach().requires_grad_(True)
        captured.append(x)
        return x

    handle = model.get_input_embeddings().register_forward_hook(hook)
    try:
        with torch.enable_grad():
            logits = model(**{k: v.to(bundle.device) for k, v in enc.items()}).logits
            if len(captured) != 1:
                raise RuntimeError(f"{type(model).__name__}: its input-embedding layer ran {len(captured)} times in one "
                                   "forward pass; word saliency needs it to run once")
            y = torch.tensor(list(labels), device=logits.device)
            loss = torch.log_softmax(logits.float(), -1).gather(1, y[:, None]).sum()
            (grad,) = torch.autograd.grad(loss, captured[0])
    finally:
        handle.remove()
    return grad.float().norm(dim=-1).cpu().numpy()


_VOCAB_CACHE: dict[int, tuple[Any, tuple[list[int], list[str]]]] = {}


def whole_word_vocabulary(tokenizer: Any) -> tuple[list[int], list[str]]:
    """Token ids that stand for a whole alphabetic word inside running text, and those words.

    A vocabulary token counts when its text is alphabetic (two letters or more) and the word,
    written after a space in a text, is exactly that one token (found by character offsets; see
    :func:`.tokens.single_token_ids`). So continuation pieces and word-initial pieces that are
    not the running-text form of a word are left out, whatever the tokenizer family.
    """
    hit = _VOCAB_CACHE.get(id(tokenizer))
    if hit is not None and hit[0] is tokenizer:
        return hit[1]
    vocab = tokenizer.get_vocab()
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    cand_ids, cand_words = [], []
    for tok, i in vocab.items():
        if i in special:
            continue
        word = tokenizer.convert_tokens_to_string([tok]).strip()
        if len(word) >= 2 and word.isalpha():
            cand_ids.append(i)
            cand_words.append(word)
    found = single_token_ids(tokenizer, cand_words) if cand_ids else []
    keep = sorted((i, w) for i, w, f in zip(cand_ids, cand_words, found) if f == i)
    result = ([i for i, _ in keep], [w for _, w in keep])
    if len(_VOCAB_CACHE) > 8:
        _VOCAB_CACHE.clear()
    _VOCAB_CACHE[id(tokenizer)] = (tokenizer, result)
    return result


class EmbeddingNeighbours:
    """Nearest neighbours of words in the victim's own input-embedding matrix (cosine), whole
    words only. Computed for many words at once with one matrix product."""

    def __init__(self, bundle: Any, k: int = 8, min_cosine: float = 0.4) -> None:
        import torch

        self.bundle = bundle
        self.k = int(k)
        self.min_cosine = float(min_cosine)
        weight = bundle.model.get_input_embeddings().weight.detach().float().cpu()
        ids, words = whole_word_vocabulary(bundle.tokenizer)
        # tokens added to the tokenizer after the embedding matrix was sized have no row
        kept = [(i, w) for i, w in zip(ids, words) if i < weight.shape[0]]
        self.ids, self.words = [i for i, _ in kept], [w for _, w in kept]
        self._row = {i: r for r, i in enumerate(self.ids)}
        if self.ids:
            m = weight[torch.tensor(self.ids)]
            self.matrix = torch.nn.functional.normalize(m, dim=-1)
        else:
            self.matrix = torch.zeros((0, weight.shape[1]))
        self._cache: dict[str, list[tuple[str, float]]] = {}

    def token_id(self, word: str) -> int | None:
        i = single_token_ids(self.bundle.tokenizer, [word])[0]
        return i if i in self._row else None

    def neighbours(self, words: Sequence[str]) -> dict[str, list[tuple[str, float]]]:
        """word -> [(neighbour, cosine)], best first, at most ``k``, cosine >= ``min_cosine``."""
        import torch

        todo = [w for w in dict.fromkeys(words) if w not in self._cache]
        rows, names = [], []
        found = single_token_ids(self.bundle.tokenizer, todo) if todo else []
        for w, i in zip(todo, found):
            if i not in self._row:
                self._cache[w] = []
            else:
                rows.append(self._row[i])
                names.append(w)
        if rows and len(self.ids) > 1:
            q = self.matrix[torch.tensor(rows)]
            sims = q @ self.matrix.T
            top = torch.topk(sims, min(self.k + 8, sims.shape[1]), dim=-1)
            for r, w in enumerate(names):
                out: list[tuple[str, float]] = []
                for v, j in zip(top.values[r].tolist(), top.indices[r].tolist()):
                    cand = self.words[j]
                    if cand.lower() == w.lower() or v < self.min_cosine:
                        continue
                    if cand.lower() not in {c.lower() for c, _ in out}:
                        out.append((cand, float(v)))
                    if len(out) >= self.k:
                        break
                self._cache[w] = out
        for w in names:  # a vocabulary of one word has no neighbours
            self._cache.setdefault(w, [])
        return {w: self._cache[w] for w in words}


__all__ = ["Victim", "word_saliency", "whole_word_vocabulary", "EmbeddingNeighbours"]
