"""The common shape of every attribution method: an :class:`Attribution` per text.

Each method module holds one class that is constructed with its configuration and whose
``explain(bundle, texts, targets=None)`` returns one :class:`Attribution` per text. Token-level
scores are kept; word-level scores are the sums over each word's sub-word tokens.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, Sequence

import numpy as np

from .._forward import classifier_logits, empty_input_ids
from .._readout import first_position_readout


@dataclass
class Attribution:
    """Scores for one text from one method. ``word_spans`` are character offsets into ``text``."""

    method: str
    text: str
    target: int
    tokens: list[str]
    token_scores: list[float]
    word_spans: list[tuple[int, int]]
    word_scores: list[float]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def words(self) -> list[str]:
        return [self.text[a:b] for a, b in self.word_spans]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["word_spans"] = [list(s) for s in self.word_spans]
        return d


class Explainer(Protocol):
    """What every attribution method provides."""

    name: str

    def explain(self, bundle: Any, texts: Sequence[str], targets: Sequence[int] | int | None = None) -> list[Attribution]:
        ...

    def config(self) -> dict[str, Any]:
        ...


_WORD = re.compile(r"\S+")


def text_words(text: str) -> list[tuple[int, int]]:
    """Character spans of the whitespace-separated words of ``text``."""
    return [m.span() for m in _WORD.finditer(text)]


def assign_words(text: str, offsets: Sequence[tuple[int, int]], special: Sequence[bool]) -> tuple[list[int | None], list[tuple[int, int]]]:
    """Map each token to a whitespace-separated word of ``text`` by character offsets.

    Works the same for every tokenizer family, whatever special tokens it adds and wherever:
    special tokens belong to no word; a token belongs to the word its characters overlap (byte-level
    pieces that cover part of one character, byte-fallback pieces and pieces whose offsets include
    the leading space, as ``Ġ`` and ``▁`` pieces do, all overlap the word they spell); a token that
    covers only whitespace (a lone ``▁`` or ``Ġ``) or no characters belongs to the next word (the
    last word when none follows). Words whose tokens were all cut by truncation are left out, and
    words that share a token (a piece spanning a space) become one word.

    Returns (word index per token or None, character span of each word), words in text order.
    """
    words = text_words(text)
    if not words:
        return [None] * len(offsets), []
    starts = [a for a, _ in words]
    ends = [b for _, b in words]
    parent = list(range(len(words)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    raw: list[int | None] = []
    for (a, b), sp in zip(offsets, special):
        if sp:
            raw.append(None)
            continue
        i = bisect.bisect_right(ends, a)  # first word ending after a
        hit = []
        while i < len(words) and starts[i] < max(b, a + 1) and (a < b or starts[i] <= a):
            hit.append(i)
            i += 1
        if not hit:  # whitespace only: the next word, else the last one
            nxt = bisect.bisect_left(starts, a)
            hit = [nxt if nxt < len(words) else len(words) - 1]
        for j in hit[1:]:
            parent[root(j)] = root(hit[0])
        raw.append(hit[0])
    members: dict[int, list[int]] = {}
    for w in range(len(words)):
        members.setdefault(root(w), []).append(w)
    used = sorted({root(w) for w in raw if w is not None}, key=lambda r: members[r][0])
    index = {r: k for k, r in enumerate(used)}
    spans = [(words[min(members[r])][0], words[max(members[r])][1]) for r in used]
    return [None if w is None else index[root(w)] for w in raw], spans


@dataclass
class Encoded:
    """One text tokenized without padding, with the token-to-word map needed to merge scores.

    ``word_ids`` holds, per token, the index of its word in :meth:`word_spans` (None for special
    tokens); words are the whitespace-separated words of the text (see :func:`assign_words`).
    """

    text: str
    input_ids: list[int]
    tokens: list[str]
    word_ids: list[int | None]
    offsets: list[tuple[int, int]]
    special: list[bool]
    spans: list[tuple[int, int]] | None = None

    def __len__(self) -> int:
        return len(self.input_ids)

    def word_spans(self) -> list[tuple[int, int]]:
        if self.spans is not None:
            return list(self.spans)
        spans: dict[int, list[int]] = {}
        for w, (a, b), sp in zip(self.word_ids, self.offsets, self.special):
            if w is None or sp:
                continue
            cur = spans.setdefault(w, [a, b])
            cur[0], cur[1] = min(cur[0], a), max(cur[1], b)
        return [tuple(spans[w]) for w in sorted(spans)]

    def merge_to_words(self, token_scores: np.ndarray) -> list[float]:
        """Sum token scores over each word; special tokens belong to no word."""
        order = sorted({w for w, sp in zip(self.word_ids, self.special) if w is not None and not sp})
        pos = {w: i for i, w in enumerate(order)}
        out = np.zeros(len(order), dtype=np.float64)
        for w, sp, s in zip(self.word_ids, self.special, token_scores):
            if w is not None and not sp:
                out[pos[w]] += float(s)
        return out.tolist()


def encode_texts(bundle: Any, texts: Sequence[str], max_length: int | None = None) -> list[Encoded]:
    """Tokenize each text on its own (no padding), keeping offsets, special tokens and words.

    A text that tokenizes to nothing (an empty text with a tokenizer that adds no special tokens) is
    read as :func:`empty_input_ids`, marked special: it has no words.
    """
    limit = min(max_length or bundle.max_length, bundle.max_length)
    tok = bundle.tokenizer
    enc = tok(list(texts), truncation=True, max_length=limit, return_offsets_mapping=True, return_special_tokens_mask=True)
    out = []
    for i, text in enumerate(texts):
        ids = list(enc["input_ids"][i])
        offsets = [tuple(o) for o in enc["offset_mapping"][i]]
        special = [bool(s) for s in enc["special_tokens_mask"][i]]
        if not ids:
            ids = empty_input_ids(tok)
            offsets, special = [(0, 0)] * len(ids), [True] * len(ids)
        word_ids, spans = assign_words(text, offsets, special)
        out.append(Encoded(text=text, input_ids=ids, tokens=tok.convert_ids_to_tokens(ids), word_ids=word_ids,
                           offsets=offsets, special=special, spans=spans))
    return out


def pad_batch(bundle: Any, items: Sequence[Encoded], special: bool = False) -> tuple[Any, ...]:
    """Right-pad a group of encoded texts to the longest among them; returns (input_ids, attention_mask),
    and with ``special`` also a boolean mask of special tokens and padding. Built on the host and
    moved to the device once per tensor."""
    import torch

    pad_id = bundle.tokenizer.pad_token_id
    if pad_id is None:
        pad_id = 0
    n = max(len(e) for e in items)
    ids = np.full((len(items), n), pad_id, dtype=np.int64)
    mask = np.zeros((len(items), n), dtype=np.int64)
    kept = np.ones((len(items), n), dtype=bool)  # special tokens and padding
    for r, e in enumerate(items):
        ids[r, : len(e)] = e.input_ids
        mask[r, : len(e)] = 1
        kept[r, : len(e)] = e.special
    out = (torch.from_numpy(ids).to(bundle.device), torch.from_numpy(mask).to(bundle.device))
    return (*out, torch.from_numpy(kept).to(bundle.device)) if special else out


def resolve_targets(targets: Sequence[int] | int | str | None, n: int, predicted: Sequence[int]) -> list[int]:
    """``None``/``"predicted"`` → predicted class per text; an int → that class for all; a list → per text."""
    if targets is None or (isinstance(targets, str) and targets == "predicted"):
        return [int(p) for p in predicted]
    if isinstance(targets, (int, np.integer)):
        return [int(targets)] * n
    targets = [int(t) for t in targets]
    if len(targets) != n:
        raise ValueError(f"{len(targets)} targets for {n} texts")
    return targets


# ---------------------------------------------------------------------------------------------
# Shared machinery for perturbation methods and explanation-quality metrics.
# ---------------------------------------------------------------------------------------------

OUTPUTS = ("logit", "probability")
REPLACEMENTS = ("mask", "pad", "unk")


def word_token_positions(enc: Encoded) -> list[list[int]]:
    """Token positions of each word, in the order of :meth:`Encoded.word_spans` (special tokens excluded)."""
    groups: dict[int, list[int]] = {}
    for pos, (w, sp) in enumerate(zip(enc.word_ids, enc.special)):
        if w is not None and not sp:
            groups.setdefault(w, []).append(pos)
    return [groups[w] for w in sorted(groups)]


def spread_to_tokens(enc: Encoded, word_scores: Sequence[float]) -> np.ndarray:
    """Token scores from word scores: each word's score split evenly over its sub-word tokens.

    Special tokens get 0, so :meth:`Encoded.merge_to_words` gives the word scores back exactly.
    """
    out = np.zeros(len(enc), dtype=np.float64)
    for positions, s in zip(word_token_positions(enc), word_scores):
        out[positions] = float(s) / len(positions)
    return out


def replacement_id(bundle: Any, kind: str = "mask") -> int:
    """Token id that stands in for a removed token: the mask token (default), pad or unk.

    Falls back from mask to unk to pad when the tokenizer lacks one, so every tokenizer works.
    GPT-2 style tokenizers have one token for unk, pad and end of text; a decoder classifier skips
    pad ids when it looks for its last token (as transformers does), so replacing the last word with
    it makes the classifier read the word before, exactly as the model does on that input alone.
    """
    if kind not in REPLACEMENTS:
        raise ValueError(f"replacement must be one of {REPLACEMENTS}, got {kind!r}")
    tok = bundle.tokenizer
    order = {"mask": ("mask", "unk", "pad"), "unk": ("unk", "pad"), "pad": ("pad", "unk")}[kind]
    for name in order:
        token_id = getattr(tok, f"{name}_token_id", None)
        if token_id is not None:
            return int(token_id)
    raise ValueError(f"the tokenizer of {bundle.source} has no mask, unk or pad token to replace removed tokens with")


def check_output(output: str) -> str:
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    return output


def score_sequences(
    bundle: Any,
    sequences: Sequence[Sequence[int]],
    targets: Sequence[int],
    *,
    output: str = "probability",
    batch_size: int | None = None,
    max_tokens: int | None = None,
    show_progress: bool = False,
    desc: str = "scoring",
) -> np.ndarray:
    """The model's output for class ``targets[i]`` on token-id sequence ``sequences[i]``.

    Sequences are grouped by length and right-padded only to the longest of their group (dynamic
    padding); identical (sequence, target) pairs are evaluated once. An empty sequence (every token
    deleted from a text whose tokenizer adds no special tokens) is read as the tokenizer's empty
    input (:func:`audit._forward.empty_input_ids`). Returns float64 of shape (n,).
    Used by occlusion and by every faithfulness metric, which all evaluate many perturbed copies.
    """
    import torch

    from .._device import HostRows, batch_limits
    from .._util import CPU_BATCH_TOKENS, length_batches, progress, run_inference_batches

    check_output(output)
    if len(sequences) != len(targets):
        raise ValueError(f"{len(sequences)} sequences for {len(targets)} targets")
    out = np.zeros(len(sequences), dtype=np.float64)
    if not len(sequences):
        return out
    unique: dict[tuple[int, ...], int] = {}
    where = np.empty(len(sequences), dtype=np.int64)
    seqs: list[tuple[int, ...]] = []
    tgts: list[int] = []
    for i, (s, t) in enumerate(zip(sequences, targets)):
        key = (int(t), *map(int, s))
        j = unique.get(key)
        if j is None:
            j = unique[key] = len(seqs)
            seqs.append(key[1:])
            tgts.append(int(t))
        where[i] = j
    if any(len(s) == 0 for s in seqs):  # everything removed: the model reads what it reads for an empty text
        empty = tuple(empty_input_ids(bundle.tokenizer))
        seqs = [s if len(s) else empty for s in seqs]
    lengths = [len(s) for s in seqs]
    limits = batch_limits(bundle, 128, CPU_BATCH_TOKENS, max_length=max(lengths))
    batch_size = batch_size or limits.rows
    max_tokens = max_tokens or limits.tokens
    values = HostRows((len(seqs),), bundle.device)
    pad_id = bundle.tokenizer.pad_token_id if bundle.tokenizer.pad_token_id is not None else 0
    model = bundle.model
    was_training = model.training
    model.eval()
    bar = progress(total=len(seqs), desc=desc, enabled=show_progress, unit="seq")

    def run(idx: list[int]) -> None:
        n = max(lengths[i] for i in idx)
        ids = torch.full((len(idx), n), pad_id, dtype=torch.long)
        mask = torch.zeros((len(idx), n), dtype=torch.long)
        for r, i in enumerate(idx):
            ids[r, : lengths[i]] = torch.tensor(seqs[i])
            mask[r, : lengths[i]] = 1
        logits = classifier_logits(model, ids.to(bundle.device), mask.to(bundle.device)).double()
        scores = torch.softmax(logits, -1) if output == "probability" else logits
        t = torch.tensor([tgts[i] for i in idx], device=scores.device)
        values.add(idx, scores.gather(1, t[:, None])[:, 0])
        bar.update(len(idx))

    try:
        with first_position_readout(model):
            run_inference_batches(run, length_batches(lengths, batch_size, max_tokens=max_tokens, max_waste=0.2), bundle.device,
                                  model)
    finally:
        bar.close()
        model.train(was_training)
    out[:] = values.result()[where]
    return out


def predicted_classes(bundle: Any, encs: Sequence[Encoded]) -> tuple[np.ndarray, np.ndarray]:
    """(logits, probabilities) of each encoded text, as float64 arrays of shape (n, num_labels)."""
    from .._device import HostRows, batch_limits
    from .._util import CPU_BATCH_TOKENS, length_batches, run_inference_batches

    rows = HostRows((len(encs), bundle.num_labels), bundle.device)
    if not encs:
        return rows.out, rows.out.copy()
    model = bundle.model
    was_training = model.training
    model.eval()
    lengths = [len(e) for e in encs]
    limits = batch_limits(bundle, 64, CPU_BATCH_TOKENS, max_length=max(lengths))

    def run(idx: list[int]) -> None:
        ids, mask = pad_batch(bundle, [encs[i] for i in idx])
        rows.add(idx, classifier_logits(model, ids, mask))

    try:
        with first_position_readout(model):
            run_inference_batches(run, length_batches(lengths, limits.rows, max_tokens=limits.tokens, max_waste=0.2),
                                  bundle.device, model)
    finally:
        model.train(was_training)
    logits = rows.result()
    z = logits - logits.max(1, keepdims=True)
    p = np.exp(z)
    return logits, p / p.sum(1, keepdims=True)
