"""SHAP for text (Lundberg & Lee 2017) with ``shap.Explainer`` and a masker on the model's own tokens.

Features are the model's own sub-word tokens of each text as it was tokenized once (no second
tokenization, so the features are exactly the tokens scored, for every tokenizer family); a feature
that is "absent" is replaced by the mask token (length and positions stay the same; special tokens,
as the tokenizer marks them, are never features). The default ``algorithm="partition"`` is shap's
Partition explainer: it follows a hierarchical clustering of the tokens (the sub-words of each
whitespace-separated word first, then neighbouring words in a balanced binary tree) and computes
Owen values, within a ``max_evals`` budget of model calls per text. With a budget large enough to
visit the whole tree the values are exact Owen values; they equal Shapley values when the model is
additive over the tree's groups and otherwise differ by the interaction terms the hierarchy assigns
to groups. ``algorithm="exact"`` enumerates all coalitions (exact Shapley values, 2^n calls: short
texts only); ``"permutation"`` samples permutations within ``max_evals``.

Every masked copy of one text has the same length, so each batch of copies runs without padding.
Token values are merged into words by summing over each word's sub-word tokens; the values of
each text add up to ``f(x) - f(all tokens masked)`` (efficiency), which is recorded per text.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .._forward import classifier_logits
from .._readout import first_position_readout
from .._util import CPU_BATCH_TOKENS, progress, run_inference_batches
from .base import Attribution, check_output, encode_texts, predicted_classes, replacement_id, resolve_targets

ALGORITHMS = ("partition", "exact", "permutation")
MAX_EXACT_FEATURES = 16


class SHAPText:
    """Shapley-value attributions with shap's Partition (default), Exact or Permutation algorithm."""

    name = "shap"

    def __init__(self, max_evals: int = 200, algorithm: str = "partition", output: str = "logit",
                 replacement: str = "mask", batch_size: int | None = None, seed: int = 0,
                 max_length: int | None = None, show_progress: bool = False) -> None:
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
        if not isinstance(max_evals, int) or max_evals < 4:
            raise ValueError(f"max_evals must be an integer >= 4, got {max_evals!r}")
        self.max_evals = max_evals
        self.algorithm = algorithm
        self.output = check_output(output)
        self.replacement = replacement
        self.batch_size = batch_size
        self.seed = seed
        self.max_length = max_length
        self.show_progress = show_progress

    def config(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm, "max_evals": self.max_evals if self.algorithm != "exact" else None,
                "output": self.output, "masking": f"sub-word tokens replaced by the {self.replacement} token",
                "features": "sub-word tokens (special tokens never masked)", "seed": self.seed,
                "values": "Owen values on a word-then-phrase token hierarchy" if self.algorithm == "partition"
                else "Shapley values"}

    def _model_fn(self, bundle: Any, target_store: dict[str, int]):
        """f(token-id matrix) -> (n, num_labels) outputs; all rows of one call have the same length."""
        import torch

        model = bundle.model
        cuda = str(bundle.device).startswith("cuda")
        rows_cap = 1024 if cuda else 128

        def f(x: Any) -> np.ndarray:
            ids = torch.as_tensor(np.asarray(x, dtype=np.int64), device=bundle.device)
            if ids.ndim == 1:
                ids = ids[None, :]
            rows = rows_cap if cuda else max(1, min(rows_cap, CPU_BATCH_TOKENS // max(ids.shape[1], 1)))
            starts = list(range(0, ids.shape[0], rows))
            outs: list[Any] = [None] * len(starts)

            def run(j: int) -> None:
                chunk = ids[starts[j] : starts[j] + rows]
                logits = classifier_logits(model, chunk, torch.ones_like(chunk)).double()
                outs[j] = torch.softmax(logits, -1) if self.output == "probability" else logits

            with first_position_readout(model):
                run_inference_batches(run, range(len(starts)), bundle.device, model)
            target_store["calls"] += ids.shape[0]
            return torch.cat(outs).cpu().numpy()

        return f

    def explain(self, bundle: Any, texts: Sequence[str], targets: Sequence[int] | int | str | None = None) -> list[Attribution]:
        """Attributions for every text, towards ``targets`` (the predicted class by default)."""
        import shap

        texts = list(texts)
        encs = encode_texts(bundle, texts, self.max_length)
        _, probs = predicted_classes(bundle, encs)
        tgt = resolve_targets(targets, len(texts), probs.argmax(1))
        fill = replacement_id(bundle, self.replacement)
        masker = token_masker(fill, hierarchical=self.algorithm != "exact")
        counter = {"calls": 0}
        f = self._model_fn(bundle, counter)
        explainer = shap.Explainer(f, masker, algorithm=self.algorithm, seed=self.seed) \
            if self.algorithm == "permutation" else shap.Explainer(f, masker, algorithm=self.algorithm)
        model = bundle.model
        was_training = model.training
        model.eval()
        state = np.random.get_state()  # the Partition explainer breaks ties with numpy's global generator
        np.random.seed(self.seed % (2**32))
        results = []
        bar = progress(total=len(texts), desc="shap", enabled=self.show_progress, unit="text")
        try:
            for e, t, p in zip(encs, tgt, probs):
                n_free = sum(1 for sp in e.special if not sp)
                if self.algorithm == "exact" and n_free > MAX_EXACT_FEATURES:
                    raise ValueError(f"algorithm='exact' needs 2^{n_free} model calls for a text of {n_free} tokens "
                                     f"(at most {MAX_EXACT_FEATURES}); use 'partition'")
                before = counter["calls"]
                values, base = self._explain_one(explainer, masker, f, e, t, n_free)
                f_x = float(f(np.asarray([e.input_ids]))[0, t])
                counter["calls"] -= 1
                results.append(Attribution(
                    method=self.name, text=e.text, target=int(t), tokens=e.tokens, token_scores=values.tolist(),
                    word_spans=e.word_spans(), word_scores=e.merge_to_words(values),
                    info={"f_x": f_x, "f_masked": base, "efficiency_error": float(values.sum() - (f_x - base)),
                          "model_calls": int(counter["calls"] - before), "prediction": int(p.argmax()),
                          "probabilities": [float(v) for v in p]},
                ))
                bar.update(1)
        finally:
            bar.close()
            np.random.set_state(state)
            model.train(was_training)
        return results

    def _explain_one(self, explainer: Any, masker: Any, f: Any, e: Any, t: int, n_free: int) -> tuple[np.ndarray, float]:
        """Token values (0 for special tokens) and f(every token masked) for one encoded text."""
        values = np.zeros(len(e), dtype=np.float64)
        masker.use(e)
        if n_free <= 1:  # one feature or none: its Shapley value is f(x) - f(masked), no sampling needed
            masked = masker(np.zeros(n_free, dtype=bool))[0]
            base = float(f(masked)[0, t])
            if n_free:
                values[masker.free] = float(f(np.asarray([e.input_ids]))[0, t]) - base
            return values, base
        kwargs: dict[str, Any] = {"silent": True}
        if self.algorithm != "exact":
            kwargs["max_evals"] = max(self.max_evals, 2 * n_free + 2) if self.algorithm == "permutation" else self.max_evals
            kwargs["batch_size"] = self.batch_size or min(self.max_evals, 256)
        expl = explainer([e.text], **kwargs)
        row = np.asarray(expl.values[0], dtype=np.float64)[:, t]
        if len(row) != n_free:  # pragma: no cover - shap returned a different feature count
            raise RuntimeError(f"shap returned {len(row)} values for a text of {n_free} tokens: {e.text[:60]!r}")
        values[masker.free] = row
        return values, float(np.asarray(expl.base_values[0], dtype=np.float64).reshape(-1)[t])


def word_hierarchy(word_of_feature: Sequence[int]) -> np.ndarray:
    """A scipy-style linkage over features: the features of each word first, then neighbouring words.

    Both levels merge neighbours pairwise into a balanced binary tree; a node's distance is its size
    over the number of features, so every split is allowed and larger groups split first.
    """
    m = len(word_of_feature)
    rows: list[list[float]] = []
    size = {i: 1 for i in range(m)}

    def merge(nodes: list[int]) -> int:
        while len(nodes) > 1:
            nxt = []
            for j in range(0, len(nodes) - 1, 2):
                a, b = nodes[j], nodes[j + 1]
                new = m + len(rows)
                size[new] = size[a] + size[b]
                rows.append([a, b, size[new] / m, size[new]])
                nxt.append(new)
            if len(nodes) % 2:
                nxt.append(nodes[-1])
            nodes = nxt
        return nodes[0]

    groups: dict[int, list[int]] = {}
    for i, w in enumerate(word_of_feature):
        groups.setdefault(w, []).append(i)
    if m:
        merge([merge(groups[w]) for w in sorted(groups, key=lambda w: groups[w][0])])
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def token_masker(fill: int, hierarchical: bool = True) -> Any:
    """A shap masker over the non-special tokens of one :class:`~audit.attribution.base.Encoded` text.

    Call ``use(encoded)`` before explaining that text; the explainer is given the text itself, which
    the masker checks against the encoded one. ``hierarchical=False`` gives no clustering (shap's
    Exact explainer then enumerates plain coalitions: Shapley values).
    """
    import shap

    class TokenMasker(shap.maskers.Masker):
        def __init__(self) -> None:
            self.fill = int(fill)
            self.enc: Any = None
            self.free = np.zeros(0, dtype=np.int64)
            self.linkage = np.zeros((0, 4))
            self.text_data = True
            self.immutable_outputs = True
            self.default_batch_size = 64
            self.clustering = self._clustering if hierarchical else None

        def use(self, enc: Any) -> None:
            self.enc = enc
            self.free = np.asarray([p for p, sp in enumerate(enc.special) if not sp], dtype=np.int64)
            words = [enc.word_ids[p] if enc.word_ids[p] is not None else -1 - p for p in self.free]
            self.linkage = word_hierarchy(words)

        def _check(self, args: tuple[Any, ...]) -> None:
            if args and args[0] != self.enc.text:
                raise RuntimeError("the shap masker was given a text other than the one it was prepared for")

        def __call__(self, mask: Any, *args: Any) -> tuple[np.ndarray]:
            self._check(args)
            mask = np.asarray(self._standardize_mask(mask, *args), dtype=bool)
            ids = np.asarray(self.enc.input_ids, dtype=np.int64).copy()
            ids[self.free[~mask]] = self.fill
            return (ids[None, :],)

        def shape(self, *args: Any) -> tuple[int, int]:
            return (1, len(self.free))

        def mask_shapes(self, *args: Any) -> list[tuple[int]]:
            return [(len(self.free),)]

        def _clustering(self, *args: Any) -> np.ndarray:
            self._check(args)
            return self.linkage

        def feature_names(self, *args: Any) -> list[list[str]]:
            return [[self.enc.tokens[p] for p in self.free]]

    return TokenMasker()


__all__ = ["SHAPText", "token_masker", "word_hierarchy"]
