"""Leave-one-out occlusion at the word level (Li et al. 2016, "Understanding neural networks
through representation erasure").

The score of a word is how much the target output drops when that word alone is removed:
``f(x) - f(x without word)``. A word is removed either by replacing each of its sub-word tokens
with the mask token (``removal="mask"``, the default: the length and positions stay the same)
or by deleting its tokens (``removal="delete"``). Every occluded copy of every text is scored in
length-grouped, dynamically padded batches (one copy per word, plus the text itself). A word's
score is split evenly over its sub-word tokens for the token view.
"""

from __future__ import annotations

from typing import Any, Sequence


from .base import (Attribution, check_output, encode_texts, predicted_classes, replacement_id, resolve_targets,
                   score_sequences, spread_to_tokens, word_token_positions)

REMOVALS = ("mask", "delete")


def remove_positions(ids: Sequence[int], positions: Sequence[int] | set[int], removal: str, fill: int) -> list[int]:
    """``ids`` with ``positions`` deleted (``removal="delete"``) or replaced by ``fill`` (``"mask"``)."""
    drop = set(positions)
    if removal == "delete":
        return [t for p, t in enumerate(ids) if p not in drop]
    if removal == "mask":
        return [fill if p in drop else t for p, t in enumerate(ids)]
    raise ValueError(f"removal must be one of {REMOVALS}, got {removal!r}")


class Occlusion:
    """Word-level leave-one-out: the drop of the target output when each word is removed."""

    name = "occlusion"

    def __init__(self, removal: str = "mask", output: str = "logit", replacement: str = "mask",
                 max_length: int | None = None, batch_size: int | None = None, show_progress: bool = False) -> None:
        if removal not in REMOVALS:
            raise ValueError(f"removal must be one of {REMOVALS}, got {removal!r}")
        self.removal = removal
        self.output = check_output(output)
        self.replacement = replacement
        self.max_length = max_length
        self.batch_size = batch_size
        self.show_progress = show_progress

    def config(self) -> dict[str, Any]:
        return {"unit": "word", "removal": self.removal, "output": self.output,
                "replacement": self.replacement if self.removal == "mask" else None}

    def explain(self, bundle: Any, texts: Sequence[str], targets: Sequence[int] | int | str | None = None) -> list[Attribution]:
        """Attributions for every text, towards ``targets`` (the predicted class by default)."""
        texts = list(texts)
        encs = encode_texts(bundle, texts, self.max_length)
        _, probs = predicted_classes(bundle, encs)
        tgt = resolve_targets(targets, len(texts), probs.argmax(1))
        fill = replacement_id(bundle, self.replacement) if self.removal == "mask" else -1
        seqs: list[list[int]] = []
        seq_tgts: list[int] = []
        spans: list[tuple[int, int]] = []  # (start, stop) of each text's occluded copies in seqs
        for e, t in zip(encs, tgt):
            start = len(seqs)
            seqs.append(list(e.input_ids))
            for positions in word_token_positions(e):
                seqs.append(remove_positions(e.input_ids, positions, self.removal, fill))
            seq_tgts += [t] * (len(seqs) - start)
            spans.append((start, len(seqs)))
        values = score_sequences(bundle, seqs, seq_tgts, output=self.output, batch_size=self.batch_size,
                                 show_progress=self.show_progress, desc="occlusion")
        results = []
        for e, t, (a, b), p in zip(encs, tgt, spans, probs):
            f_x = values[a]
            word_scores = (f_x - values[a + 1 : b]).tolist()
            ts = spread_to_tokens(e, word_scores)
            results.append(Attribution(
                method=self.name, text=e.text, target=int(t), tokens=e.tokens, token_scores=ts.tolist(),
                word_spans=e.word_spans(), word_scores=[float(s) for s in word_scores],
                info={"f_x": float(f_x), "prediction": int(p.argmax()), "probabilities": [float(v) for v in p]},
            ))
        return results


__all__ = ["Occlusion", "remove_positions"]
