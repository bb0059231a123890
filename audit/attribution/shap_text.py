"""SHAP for text (Lundberg & Lee 2017) with ``shap.Explainer`` and a text masker on the model's tokenizer.

Features are the model's own sub-word tokens; a feature that is "absent" is replaced by the mask
token (length and positions stay the same; special tokens are never masked). The default
``algorithm="partition"`` is shap's Partition explainer: it follows the masker's hierarchical
clustering of the tokens (sub-words of a word first, then phrases, then clauses) and computes
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
                "values": "Owen values on shap's text clustering" if self.algorithm == "partition" else "Shapley values"}

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
                logits = model(input_ids=chunk, attention_mask=torch.ones_like(chunk)).logits.double()
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
        if self.algorithm == "exact":
            class FlatText(shap.maskers.Text):
                """No token hierarchy: shap's Exact explainer then enumerates plain coalitions (Shapley values)."""

                clustering = None

            masker = FlatText(bundle.tokenizer, mask_token=fill, output_type="token_ids")
        else:
            masker = shap.maskers.Text(bundle.tokenizer, mask_token=fill, output_type="token_ids")
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
                n_free = sum(1 for s in e.special if not s)
                if self.algorithm == "exact" and n_free > MAX_EXACT_FEATURES:
                    raise ValueError(f"algorithm='exact' needs 2^{n_free} model calls for a text of {n_free} tokens "
                                     f"(at most {MAX_EXACT_FEATURES}); use 'partition'")
                # shap re-tokenizes the string: give it exactly the part that survives truncation.
                end = max((b for (a, b), s in zip(e.offsets, e.special) if not s), default=0)
                text = e.text[:end]
                before = counter["calls"]
                kwargs: dict[str, Any] = {"silent": True}
                if self.algorithm != "exact":
                    kwargs["max_evals"] = max(self.max_evals, 2 * n_free + 2) if self.algorithm == "permutation" else self.max_evals
                    kwargs["batch_size"] = self.batch_size or min(self.max_evals, 256)
                expl = explainer([text], **kwargs)
                values = np.asarray(expl.values[0], dtype=np.float64)[:, t]
                if len(values) != len(e):
                    raise RuntimeError(f"shap's masker split the text into {len(values)} tokens but the tokenizer gives "
                                       f"{len(e)}: {e.text[:60]!r}")
                values[np.asarray(e.special, dtype=bool)] = 0.0
                base = float(np.asarray(expl.base_values[0], dtype=np.float64).reshape(-1)[t])
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


__all__ = ["SHAPText"]
