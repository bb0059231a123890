"""Sanity check by model-parameter randomisation (Adebayo et al. 2018, "Sanity checks for saliency maps").

An explanation of *this model* must change when the model's learned weights are destroyed. On a
deep copy of the model (the audited model is never touched) the classification head is
re-initialised, then, cumulatively, the top encoder layers; after each stage every method explains
the same texts towards the same classes again. The rank correlation (Spearman) between the
original and the new word scores is reported per text and summarised; a method whose maps barely
change once the head and top layers are random (mean correlation of the signed scores, or of their
absolute values, at or above ``threshold`` at the last stage) is flagged: its pictures do not
depend on what the model learned. Attention rollout, for example, ignores the classification head
entirely.

Layers are counted as the model's distinct sets of layer weights: a model that applies one set
several times (ALBERT shares one layer group across all its layers) has as many layers to randomise
as it has sets, and a stage asking for more randomises all of them; the stage's name and the
protocol say how many sets there are and how often they are applied.

Re-initialisation draws every weight matrix and embedding table (any parameter of two or more
dimensions, so GPT-2's Conv1D layers too) from N(0, initializer_range) (the model config's value,
0.02 if absent), sets biases to 0 and LayerNorms to the identity, all from a seeded generator; the
scale vectors of other normalisation layers (RMSNorm) keep their values.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ._stats import mean_ci, spearman
from .base import Attribution


def head_modules(model: Any) -> list[tuple[str, Any]]:
    """The classification head: every top-level child that is not the encoder, plus the encoder's pooler."""
    prefix = getattr(model, "base_model_prefix", "")
    base = getattr(model, prefix, None) if prefix else None
    out = [(name, m) for name, m in model.named_children()
           if m is not base and any(True for _ in m.parameters())]
    pooler = getattr(base, "pooler", None) if base is not None else None
    if pooler is not None and any(True for _ in pooler.parameters()):
        out.append((f"{prefix}.pooler", pooler))
    if not out:
        raise ValueError(f"{type(model).__name__}: no classification head found to randomise")
    return out


def encoder_layers(model: Any) -> list[tuple[str, Any]]:
    """The encoder's distinct transformer blocks, first to last (the longest ModuleList of identical blocks).

    A model that reuses blocks (ALBERT) has fewer of them than ``config.num_hidden_layers``; see
    :func:`layer_applications`.
    """
    import torch

    best: tuple[str, Any] | None = None
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.ModuleList) and len(m) > 0 and len({type(x) for x in m}) == 1:
            if best is None or len(m) > len(best[1]):
                best = (name, m)
    if best is None:
        raise ValueError(f"{type(model).__name__}: no list of encoder layers found")
    return [(f"{best[0]}.{i}", layer) for i, layer in enumerate(best[1])]


def layer_applications(model: Any, n_blocks: int) -> int:
    """How many layers the model runs with its ``n_blocks`` distinct blocks (more when blocks are shared)."""
    cfg = getattr(model, "config", None)
    n = getattr(cfg, "num_hidden_layers", None) if cfg is not None else None
    return int(n) if isinstance(n, int) and n >= n_blocks else n_blocks


def reinitialise(module: Any, std: float, generator: Any) -> list[str]:
    """Re-draw a module's weights: N(0, std) for every weight matrix and embedding table (two or more
    dimensions), 0 biases, identity LayerNorms. Returns the names of the parameters re-drawn or reset."""
    import torch

    changed = []
    with torch.no_grad():
        for mod_name, m in module.named_modules():
            layer_norm = isinstance(m, torch.nn.LayerNorm)
            for p_name, p in m.named_parameters(recurse=False):
                if layer_norm:
                    p.fill_(1.0 if p_name == "weight" else 0.0)
                elif p.dim() >= 2:
                    w = torch.empty(p.shape, dtype=torch.float32).normal_(0.0, std, generator=generator)
                    p.copy_(w.to(p.dtype))
                elif p_name == "bias":
                    p.zero_()
                else:
                    continue
                changed.append(f"{mod_name}.{p_name}" if mod_name else p_name)
    return changed


def stage_name(n_layers: int, n_blocks: int | None = None, applied: int | None = None) -> str:
    """A stage's name; with shared blocks (``applied > n_blocks``) it says how many sets and layers."""
    if n_layers == 0:
        return "classifier head"
    if n_blocks is not None and applied is not None and applied > n_blocks:
        sets = "the shared layer weights" if n_blocks == 1 else f"top {n_layers} of {n_blocks} shared layer groups"
        return f"head + {sets} (used by all {applied} layers)" if n_layers == n_blocks else f"head + {sets}"
    return f"head + top {n_layers} layer{'s' if n_layers > 1 else ''}"


def parameter_randomisation(
    bundle: Any,
    explainers: Sequence[Any],
    original: Mapping[str, Sequence[Attribution]],
    *,
    layers: Sequence[int] = (0, 2),
    threshold: float = 0.5,
    seed: int = 0,
    n_boot: int = 1000,
    progress_hook: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Re-explain ``original``'s texts on increasingly randomised copies of the model.

    ``layers``: the cumulative stages, as the number of top encoder layers re-initialised along
    with the head (0 = head only), counted in distinct sets of layer weights; a count above the
    number of sets randomises all of them (recorded as ``requested_top_layers``). ``original``: ``{method: attributions}`` on the intact model,
    for the explainers given (matched by ``name``).
    """
    import torch

    requested = sorted({int(n) for n in layers})
    if not requested or requested[0] < 0:
        raise ValueError(f"sanity layers must be non-negative layer counts, got {list(layers)}")
    names = [e.name for e in explainers]
    missing = [n for n in names if n not in original]
    if missing:
        raise ValueError(f"no original attributions for {missing}")
    first = original[names[0]] if names else []
    texts = [a.text for a in first]
    targets = [int(a.target) for a in first]
    model = copy.deepcopy(bundle.model)
    layer_list = encoder_layers(model)
    n_blocks = len(layer_list)
    applied = layer_applications(model, n_blocks)
    stages: list[int] = []
    asked: dict[int, int] = {}
    for n in requested:  # more layers than the model has sets of: all of them, once
        k = min(n, n_blocks)
        if k not in asked:
            stages.append(k)
        asked[k] = n
    std = float(getattr(model.config, "initializer_range", None) or 0.02)
    copy_bundle = dataclasses.replace(bundle, model=model, _sha256=None)
    gen = torch.Generator().manual_seed(int(seed))
    done: set[str] = set()
    n_params = 0
    out_stages = []
    for n_layers in stages:
        parts = head_modules(model) + layer_list[len(layer_list) - n_layers:]
        for name, module in parts:
            if name not in done:
                reset = reinitialise(module, std, gen)
                n_params += sum(int(p.numel()) for n, p in module.named_parameters() if n in reset)
                done.add(name)
        stage: dict[str, Any] = {"name": stage_name(n_layers, n_blocks, applied), "top_layers": n_layers,
                                 "randomised": sorted(done), "n_parameters_randomised": n_params, "methods": {}}
        if asked[n_layers] != n_layers:
            stage["requested_top_layers"] = asked[n_layers]
        for explainer in explainers:
            if progress_hook is not None:
                progress_hook(f"{stage['name']}: {explainer.name}")
            new = explainer.explain(copy_bundle, texts, targets) if texts else []
            signed, absolute = [], []
            for a, b in zip(original[explainer.name], new):
                x, y = np.asarray(a.word_scores), np.asarray(b.word_scores)
                signed.append(spearman(x, y) if len(x) >= 2 else None)
                absolute.append(spearman(np.abs(x), np.abs(y)) if len(x) >= 2 else None)
            stage["methods"][explainer.name] = {
                "spearman": mean_ci(signed, seed=seed, n_boot=n_boot),
                "spearman_abs": mean_ci(absolute, seed=seed, n_boot=n_boot),
                "per_example": {"spearman": signed, "spearman_abs": absolute},
            }
        out_stages.append(stage)
    last = out_stages[-1]["methods"] if out_stages else {}
    flagged = []
    for name in names:
        m = last.get(name, {})
        worst = max((v for v in ((m.get("spearman") or {}).get("mean"), (m.get("spearman_abs") or {}).get("mean"))
                     if v is not None), default=None)
        if worst is not None and worst >= threshold:
            flagged.append(name)
    return {
        "protocol": {
            "stages": [stage_name(n, n_blocks, applied) for n in stages], "cumulative": True,
            "init": f"N(0, {std:g}) weight matrices and embeddings, zero biases, identity LayerNorms",
            "layers": {"distinct": n_blocks, "applied": applied, "shared": applied > n_blocks},
            "seed": seed, "targets": "the classes explained on the intact model", "unit": "words",
            "correlation": "spearman", "threshold": threshold,
            "flag_rule": "mean Spearman correlation (signed or absolute scores) at the last stage >= threshold",
        },
        "n_examples": len(texts),
        "stages": out_stages,
        "flagged": flagged,
    }


__all__ = ["encoder_layers", "head_modules", "layer_applications", "parameter_randomisation", "reinitialise"]
