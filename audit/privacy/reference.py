"""Reference-model calibrated membership inference (offline LiRA, Carlini et al., IEEE S&P 2022).

The loss attack confuses "easy" with "trained on". The reference attack asks instead: does the
target model fit this record *better than models that never saw it*? It fine-tunes a few
reference models from the same starting point as the target, on random halves of a reference
population that excludes the target's training set, and scores a record by

    score(x) = φ_target(x) - mean over reference models not trained on x of φ_ref(x),
    φ(x) = log(p_y(x) / (1 - p_y(x)))   (logit-scaled confidence of the true label),

i.e. the offline LiRA test with one variance shared by all records (which makes the ordering,
and so the ROC, independent of the variance). The halves come in complementary pairs, so every
population record is left out by exactly half of the models; records outside the population
(the target's members, canaries, audit records) are left out by all of them.

Cost. Each reference model is a fine-tuning run, so they are made cheaper than the target:
each trains on at most ``max_train`` records (half the used population) with the target's recipe
(learning rate, batch size, sequence length, epochs unless overridden). The recipe, population
size and training time are recorded with the results. Reference statistics are cached per
(base model, population, recipe, seed) so auditing a second target on the same records (a
private and a non-private model) reuses them.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from typing import Any, Mapping, Sequence

import numpy as np

from ..data import TextDataset
from .membership import ExampleStats, MembershipAttack, example_stats, margin_from_logits, predict_logits

#: fine_tune arguments a recipe may set.
RECIPE_KEYS = ("epochs", "lr", "batch_size", "max_length", "weight_decay", "warmup_ratio", "freeze_embeddings")
DEFAULT_RECIPE: dict[str, Any] = {"epochs": 2, "lr": 1e-4, "batch_size": 32, "max_length": 128,
                                  "weight_decay": 0.01, "warmup_ratio": 0.1, "freeze_embeddings": False}

_CACHE: "OrderedDict[str, dict[str, Any]]" = OrderedDict()
_CACHE_SIZE = 2


def clear_reference_cache() -> None:
    """Forget cached reference-model statistics."""
    _CACHE.clear()


def reference_recipe(target_config: Mapping[str, Any] | None = None, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The reference models' fine-tuning recipe: the target's recipe (when known) with ``overrides``.

    Only plain fine-tuning arguments are taken (:data:`RECIPE_KEYS`); a DP target's noise and
    clipping settings are ignored: the reference models estimate how hard each record is.
    """
    recipe = dict(DEFAULT_RECIPE)
    for src in (target_config or {}), (overrides or {}):
        for k, v in src.items():
            if k in RECIPE_KEYS and v is not None:
                recipe[k] = v
    unknown = sorted(set(overrides or {}) - set(RECIPE_KEYS))
    if unknown:
        raise ValueError(f"reference recipe: unknown setting(s) {', '.join(unknown)}; allowed: {', '.join(RECIPE_KEYS)}")
    if int(recipe["epochs"]) < 1 or int(recipe["batch_size"]) < 1 or float(recipe["lr"]) <= 0:
        raise ValueError(f"reference recipe: epochs and batch_size must be >= 1 and lr > 0, got {recipe}")
    return recipe


def _base_key(base: Any) -> str:
    if base is None:
        return "default-backbone"
    if isinstance(base, (str, bytes)) or hasattr(base, "__fspath__"):
        return str(base)
    return f"{type(base).__name__}@{id(base)}"


class ReferenceAttack(MembershipAttack):
    """Offline LiRA with ``n_models`` reference models trained on halves of ``population``.

    ``base_model`` is where the reference models start: anything :func:`audit.models.load_model`
    accepts (``None`` = the embedded default backbone) or a zero-argument callable returning a
    fresh :class:`~audit.models.ModelBundle`. It should be the model the target was fine-tuned
    from. ``exclude_texts`` (the target's training texts, canaries, audit records) are removed
    from the population so no reference model is trained on them.
    """

    name = "reference"
    title = "Reference-model calibrated (offline LiRA, Carlini et al. 2022)"

    def __init__(
        self,
        population: TextDataset,
        *,
        n_models: int = 4,
        base_model: Any = None,
        recipe: Mapping[str, Any] | None = None,
        max_train: int = 200,
        exclude_texts: Sequence[str] = (),
        seed: int = 0,
        batch_size: int = 64,
        show_progress: bool = False,
        cache: "OrderedDict[str, dict[str, Any]] | None" = None,
    ) -> None:
        if n_models < 2:
            raise ValueError(f"the reference attack needs at least 2 reference models, got n_models={n_models}")
        if max_train < 2:
            raise ValueError(f"max_train must be >= 2, got {max_train}")
        self.n_models = int(n_models)
        self.base_model = base_model
        self.recipe = reference_recipe(None, recipe)
        self.max_train = int(max_train)
        self.seed = int(seed)
        self.batch_size = int(batch_size)
        self.show_progress = show_progress
        self._cache = _CACHE if cache is None else cache
        excluded = set(exclude_texts)
        seen: set[str] = set()
        keep = []
        for i, t in enumerate(population.texts):
            if t in excluded or t in seen:
                continue
            seen.add(t)
            keep.append(i)
        self.n_available = len(population)
        self.n_excluded = len(population) - len(keep)
        if len(keep) < 4:
            raise ValueError(
                f"reference population {population.source}: {len(keep)} usable records after removing the target's "
                f"training records and duplicates ({len(population)} given); at least 4 are needed"
            )
        rng = np.random.default_rng([self.seed, 0x2EF])
        if len(keep) > 2 * self.max_train:
            keep = sorted(rng.choice(keep, 2 * self.max_train, replace=False).tolist())
        self.population = population.subset(keep)
        n = len(self.population)
        half = n // 2
        self.splits: list[np.ndarray] = []
        for p in range((self.n_models + 1) // 2):
            perm = rng.permutation(n)
            self.splits.append(np.sort(perm[:half]))
            if len(self.splits) < self.n_models:
                self.splits.append(np.sort(perm[half: 2 * half]))
        self.info: dict[str, Any] = {}

    # -- identity and cache ------------------------------------------------------------------

    def _key(self) -> str:
        h = hashlib.sha256()
        h.update(json.dumps([_base_key(self.base_model), self.population.sha256, self.recipe, self.seed, self.n_models,
                             self.max_train], sort_keys=True, default=str).encode())
        return h.hexdigest()

    def config(self) -> dict[str, Any]:
        return {
            "statistic": "logit-scaled confidence log(p/(1-p)) of the true label",
            "calibration": "target minus the mean over reference models not trained on the record (offline LiRA, shared variance)",
            "reference_models": self.n_models,
            "base_model": _base_key(self.base_model) if not callable(self.base_model) else "caller-supplied factory",
            "recipe": dict(self.recipe),
            "population": {
                "source": self.population.source, "sha256": self.population.sha256, "n_given": self.n_available,
                "n_removed": self.n_excluded, "n_used": len(self.population),
                "per_model_train": int(len(self.splits[0])) if self.splits else 0,
                "split": "random halves in complementary pairs",
            },
            "seed": self.seed,
            **self.info,
        }

    # -- training ----------------------------------------------------------------------------

    def _fresh_model(self, target: Any, k: int) -> Any:
        from ..models import ModelBundle, load_model

        if callable(self.base_model) and not isinstance(self.base_model, ModelBundle):
            ref = self.base_model()
            if not isinstance(ref, ModelBundle):
                ref = load_model(ref, device=target.device, label_names=target.label_names)
            return ref.to(target.device)
        if isinstance(self.base_model, ModelBundle):
            raise ValueError("reference base_model must be a fresh model source (a path, None or a factory), not a loaded bundle: "
                             "reference models are trained and each needs its own copy")
        return load_model(self.base_model, num_labels=target.num_labels, device=target.device,
                          label_names=target.label_names, seed=self.seed * 1009 + k)

    def _train_and_score(self, target: Any, texts: list[str], labels: list[int]) -> np.ndarray:
        from .._util import progress
        from ..training import fine_tune

        out = np.zeros((len(texts), self.n_models), dtype=np.float64)
        seconds = []
        bar = progress(range(self.n_models), desc="reference models", enabled=self.show_progress, unit="model")
        for k in bar:
            t0 = time.perf_counter()
            ref = self._fresh_model(target, k)
            fine_tune(ref, self.population.subset(self.splits[k].tolist()), epochs=int(self.recipe["epochs"]),
                      lr=float(self.recipe["lr"]), batch_size=int(self.recipe["batch_size"]),
                      max_length=int(self.recipe["max_length"]), weight_decay=float(self.recipe["weight_decay"]),
                      warmup_ratio=float(self.recipe["warmup_ratio"]), freeze_embeddings=bool(self.recipe["freeze_embeddings"]),
                      seed=self.seed * 1009 + k, show_progress=False)
            logits = predict_logits(ref, texts, batch_size=self.batch_size, max_length=int(self.recipe["max_length"]))
            out[:, k] = margin_from_logits(logits, labels)
            del ref
            seconds.append(time.perf_counter() - t0)
        bar.close()
        self.info["train_seconds"] = [round(s, 2) for s in seconds]
        return out

    def reference_margins(self, target: Any, texts: Sequence[str], labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(margins, trained_on): each reference model's φ on every record, and whether it trained on it."""
        texts, labels = list(texts), [int(y) for y in labels]
        key = self._key()
        entry = self._cache.get(key)
        if entry is None:
            entry = {"margins": {}}
            self._cache[key] = entry
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        pairs = list(zip(texts, labels))
        missing = [p for p in dict.fromkeys(pairs) if p not in entry["margins"]]
        if missing:
            m = self._train_and_score(target, [t for t, _ in missing], [y for _, y in missing])
            for i, p in enumerate(missing):
                entry["margins"][p] = m[i]
            entry["train_seconds"] = self.info.get("train_seconds")
        else:
            self.info["train_seconds"] = entry.get("train_seconds")
            self.info["cached"] = True
        margins = np.stack([entry["margins"][p] for p in pairs]) if pairs else np.zeros((0, self.n_models))
        sets = [set(self.population.subset(s.tolist()).texts) for s in self.splits]
        trained_on = np.array([[t in s for s in sets] for t in texts], dtype=bool).reshape(len(texts), self.n_models)
        return margins, trained_on

    # -- scoring -----------------------------------------------------------------------------

    def score(self, bundle: Any, texts: Sequence[str], labels: Sequence[int], *, target: ExampleStats | None = None) -> np.ndarray:
        texts, labels = list(texts), [int(y) for y in labels]
        if target is None:
            target = example_stats(bundle, texts, labels, batch_size=self.batch_size, max_length=int(self.recipe["max_length"]))
        if len(target) != len(texts):
            raise ValueError(f"target statistics cover {len(target)} records but {len(texts)} texts were given")
        margins, trained_on = self.reference_margins(bundle, texts, labels)
        out_mask = ~trained_on
        n_out = out_mask.sum(axis=1)
        if np.any(n_out == 0):  # cannot happen with complementary pairs; guards odd custom splits
            raise ValueError("some records were trained on by every reference model; use more reference models")
        mu_out = np.where(out_mask, margins, 0.0).sum(axis=1) / n_out
        resid = np.where(out_mask, margins - mu_out[:, None], 0.0)
        dof = int(np.sum(np.maximum(n_out - 1, 0)))
        sigma = float(np.sqrt((resid ** 2).sum() / dof)) if dof > 0 else None
        self.info["sigma_out"] = sigma
        self.info["mean_out_models_per_record"] = float(n_out.mean()) if n_out.size else None
        return np.asarray(target.margin, dtype=np.float64) - mu_out
