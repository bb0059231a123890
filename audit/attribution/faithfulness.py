"""Faithfulness of attributions: does removing what a method calls important change the prediction?

For each explained text and method, units (sub-word tokens, or words) are ranked by attribution
score and the model is re-run on perturbed copies:

* **comprehensiveness** at k (DeYoung et al. 2020, ERASER): ``f(x) - f(x without the top k% units)``;
  higher is more faithful. **Sufficiency** at k: ``f(x) - f(only the top k% units)``; lower is more
  faithful. Their **AOPC** aggregates over the bins (ERASER: the sum over k in {1, 5, 10, 20, 50}%
  divided by the number of bins plus one, the empty 0% removal).
* **deletion / insertion curves** (Petsiuk et al. 2018): the output while the top units are removed
  (deletion; the area under it should be small) or inserted into an empty input (insertion; the
  area should be large), at ``curve_steps + 1`` evenly spaced fractions, area by the trapezoid rule.
* **rank correlation with leave-one-out**: the correlation between the method's scores and the drop
  caused by removing each unit on its own (Spearman by default; Kendall tau-b as in ferret).

Every perturbed copy of every text, for every method, is collected first, identical copies are
scored once (the full text, the empty text and small removals are often shared between methods),
and the rest are scored in length-grouped, dynamically padded batches. The :class:`Protocol`
fixes every choice that moves these numbers (bins, rounding, removal by deletion or by a mask
token, the output that is scored, which scores can be selected) and is stored next to them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ._stats import kendall_tau_b, mean_ci, spearman
from .base import Attribution, Encoded, OUTPUTS, REPLACEMENTS, encode_texts, replacement_id, score_sequences, word_token_positions
from .occlusion import remove_positions

UNITS = ("token", "word")
REMOVALS = ("delete", "mask")
ROUNDINGS = ("ceil", "floor")
AOPCS = ("eraser", "mean")
CORRELATIONS = ("spearman", "kendall")

#: The headline metrics: key -> (label, which direction is better).
METRICS: dict[str, tuple[str, str]] = {
    "comprehensiveness_aopc": ("Comprehensiveness AOPC", "higher"),
    "sufficiency_aopc": ("Sufficiency AOPC", "lower"),
    "deletion_auc": ("Deletion AUC", "lower"),
    "insertion_auc": ("Insertion AUC", "higher"),
    "loo_correlation": ("Rank correlation with leave-one-out", "higher"),
}


@dataclass(frozen=True)
class Protocol:
    """Every choice behind a faithfulness number; stored with the numbers in results.json.

    ``bins``: fractions of the ranked units removed (comprehensiveness) or kept (sufficiency).
    ``unit``: ``"token"`` (the model's sub-word tokens; word-level methods spread a word's score
    evenly over its tokens) or ``"word"`` (whole words, scored by the word scores).
    ``removal``: ``"delete"`` drops the units from the input (ERASER, ferret); ``"mask"`` replaces
    each of their tokens with ``replacement`` (the mask token), keeping length and positions.
    ``output``: the explained class's ``"probability"`` (ERASER) or ``"logit"``.
    ``rounding``: units selected at fraction k of n: ``"ceil"`` = ceil(k n), at least 1 (every bin
    removes something), ``"floor"`` = int(k n), a bin selecting nothing is skipped (ferret).
    ``positive_only``: only units with a positive score can be selected for comprehensiveness and
    sufficiency (ferret's default); otherwise the top of the signed ranking.
    ``skip_repeats``: a bin that selects the same units as the previous bin is skipped (ferret).
    ``aopc``: ``"eraser"`` = sum over bins / (number of bins + 1); ``"mean"`` = mean over the bins
    evaluated (ferret). Curves always use the full signed ranking and ``rounding="ceil"`` counts
    (0 at the start), so their points coincide with the bins' perturbations where the fractions meet.
    Special tokens ([CLS], [SEP], <s>, </s>, as the tokenizer marks them) are never ranked nor removed;
    ties keep text order. With a tokenizer that adds none (GPT-2, Qwen2), deleting every unit leaves
    the empty input, read as the tokenizer's encoding of an empty text (one end-of-text token).
    """

    bins: tuple[float, ...] = (0.01, 0.05, 0.10, 0.20, 0.50)
    unit: str = "token"
    removal: str = "delete"
    replacement: str = "mask"
    output: str = "probability"
    rounding: str = "ceil"
    positive_only: bool = False
    skip_repeats: bool = False
    aopc: str = "eraser"
    curve_steps: int = 10
    correlation: str = "spearman"
    target: str = "predicted"

    def __post_init__(self) -> None:
        object.__setattr__(self, "bins", tuple(float(b) for b in self.bins))
        if not self.bins or any(not (0.0 < b <= 1.0) for b in self.bins):
            raise ValueError(f"faithfulness bins must be fractions in (0, 1], got {list(self.bins)}")
        for name, value, allowed in (("unit", self.unit, UNITS), ("removal", self.removal, REMOVALS),
                                     ("replacement", self.replacement, REPLACEMENTS), ("output", self.output, OUTPUTS),
                                     ("rounding", self.rounding, ROUNDINGS), ("aopc", self.aopc, AOPCS),
                                     ("correlation", self.correlation, CORRELATIONS)):
            if value not in allowed:
                raise ValueError(f"faithfulness {name} must be one of {allowed}, got {value!r}")
        if not isinstance(self.curve_steps, int) or self.curve_steps < 1:
            raise ValueError(f"curve_steps must be a positive integer, got {self.curve_steps!r}")
        if self.target != "predicted":
            raise ValueError("faithfulness explains the predicted class (target='predicted')")

    def count(self, fraction: float, n: int, rounding: str | None = None) -> int:
        """How many of ``n`` units a fraction selects under this protocol's rounding."""
        if (rounding or self.rounding) == "floor":
            return min(int(fraction * n), n)
        return min(max(math.ceil(fraction * n - 1e-9), 1 if fraction > 0 else 0), n)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["bins"] = list(self.bins)
        d["curve_fractions"] = [j / self.curve_steps for j in range(self.curve_steps + 1)]
        d["description"] = self.describe()
        return d

    def describe(self) -> str:
        how = "deleted from the input" if self.removal == "delete" else f"replaced by the {self.replacement} token"
        units = "sub-word tokens" if self.unit == "token" else "words"
        agg = "sum / (bins + 1), ERASER" if self.aopc == "eraser" else "mean over the bins evaluated"
        sel = "positive scores only" if self.positive_only else "top of the signed ranking"
        return (f"{units} {how}; bins {', '.join(f'{b:g}' for b in self.bins)} of the units ({self.rounding} rounding, {sel}); "
                f"scored output: {self.output} of the predicted class; AOPC = {agg}; curves at {self.curve_steps + 1} points; "
                f"{self.correlation} correlation with leave-one-out")


@dataclass
class _Example:
    enc: Encoded
    target: int
    units: list[list[int]]  # token positions of each unit


@dataclass
class FaithfulnessResult:
    """Per-example faithfulness values of every method, their summaries and the protocol."""

    protocol: Protocol
    methods: list[str]
    per_example: dict[str, dict[str, list[Any]]]
    summary: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    bins: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    curves: dict[str, dict[str, list[float | None]]] = field(default_factory=dict)
    full_output: list[float] = field(default_factory=list)
    leave_one_out: list[list[float]] = field(default_factory=list)
    n_sequences: int = 0
    n_unique_sequences: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol.to_dict(),
            "methods": list(self.methods),
            "metrics": {k: {"label": label, "better": better} for k, (label, better) in METRICS.items()},
            "summary": self.summary,
            "bins": self.bins,
            "curves": self.curves,
            "per_example": self.per_example,
            "full_output": self.full_output,
            "leave_one_out": self.leave_one_out,
            "n_sequences": self.n_sequences,
            "n_unique_sequences": self.n_unique_sequences,
        }


def _units(enc: Encoded, unit: str) -> list[list[int]]:
    if unit == "word":
        return word_token_positions(enc)
    return [[p] for p, sp in enumerate(enc.special) if not sp]


def unit_scores(attribution: Attribution, enc: Encoded, unit: str) -> np.ndarray:
    """The attribution's score of each unit (token scores of non-special tokens, or word scores)."""
    if len(attribution.token_scores) != len(enc):
        raise ValueError(f"{attribution.method}: {len(attribution.token_scores)} token scores for a text of {len(enc)} "
                         "tokens; explain and evaluate with the same tokenizer and max_length")
    if unit == "word":
        return np.asarray(attribution.word_scores, dtype=np.float64)
    ts = np.asarray(attribution.token_scores, dtype=np.float64)
    return ts[[p for p, sp in enumerate(enc.special) if not sp]]


def ranking(scores: np.ndarray) -> np.ndarray:
    """Unit indices from most to least important (highest signed score first; ties keep text order)."""
    return np.argsort(-scores, kind="stable")


def trapezoid(y: Sequence[float], x: Sequence[float]) -> float:
    """Area under a curve by the trapezoid rule."""
    ya, xa = np.asarray(y, dtype=np.float64), np.asarray(x, dtype=np.float64)
    return float(np.sum((xa[1:] - xa[:-1]) * (ya[1:] + ya[:-1]) / 2.0))


def _aopc(values: list[float | None], protocol: Protocol) -> float | None:
    used = [v for v in values if v is not None]
    if protocol.aopc == "eraser":
        return float(sum(used) / (len(protocol.bins) + 1))
    return float(np.mean(used)) if used else None


def evaluate_faithfulness(
    bundle: Any,
    attributions: Mapping[str, Sequence[Attribution]],
    protocol: Protocol | None = None,
    *,
    max_length: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    n_boot: int = 1000,
    show_progress: bool = False,
) -> FaithfulnessResult:
    """Faithfulness of each method's attributions (``{method: [Attribution per text]}``, same texts
    and targets for every method) under ``protocol``; every perturbed input is scored in batches."""
    protocol = protocol or Protocol()
    methods = list(attributions)
    if not methods:
        raise ValueError("no attributions to evaluate")
    first = attributions[methods[0]]
    for m in methods:
        if len(attributions[m]) != len(first):
            raise ValueError(f"{m}: {len(attributions[m])} attributions, {methods[0]}: {len(first)}; explain the same texts")
        for a, b in zip(attributions[m], first):
            if a.text != b.text or a.target != b.target:
                raise ValueError(f"{m}: attributions are not for the same texts and targets as {methods[0]}")
    encs = encode_texts(bundle, [a.text for a in first], max_length)
    examples = [_Example(e, int(a.target), _units(e, protocol.unit)) for e, a in zip(encs, first)]
    fill = replacement_id(bundle, protocol.replacement) if protocol.removal == "mask" else -1

    seqs: list[list[int]] = []
    tgts: list[int] = []

    def add(ex: _Example, removed_units: Sequence[int]) -> int:
        positions = [p for u in removed_units for p in ex.units[u]]
        seqs.append(remove_positions(ex.enc.input_ids, positions, protocol.removal, fill))
        tgts.append(ex.target)
        return len(seqs) - 1

    full = [add(ex, []) for ex in examples]
    loo = [[add(ex, [u]) for u in range(len(ex.units))] for ex in examples]
    fractions = [j / protocol.curve_steps for j in range(protocol.curve_steps + 1)]
    plan: dict[str, list[dict[str, Any]]] = {}
    for m in methods:
        plan[m] = []
        for ex, a in zip(examples, attributions[m]):
            scores = unit_scores(a, ex.enc, protocol.unit)
            n = len(ex.units)
            order = ranking(scores)
            candidates = [int(u) for u in order if scores[u] > 0] if protocol.positive_only else [int(u) for u in order]
            comp, suff = [], []
            previous: set[int] | None = None
            for b in protocol.bins:
                k = min(protocol.count(b, n), len(candidates))
                chosen = set(candidates[:k])
                if n == 0 or k == 0 or (protocol.skip_repeats and chosen == previous):
                    comp.append(None)
                    suff.append(None)
                    continue
                previous = chosen
                comp.append(add(ex, sorted(chosen)))
                suff.append(add(ex, [u for u in range(n) if u not in chosen]))
            all_units = [int(u) for u in order]
            counts = [protocol.count(f, n, "ceil") for f in fractions]
            deletion = [add(ex, all_units[:c]) for c in counts]
            insertion = [add(ex, all_units[c:]) for c in counts]
            plan[m].append({"scores": scores, "comp": comp, "suff": suff, "deletion": deletion, "insertion": insertion})

    values = score_sequences(bundle, seqs, tgts, output=protocol.output, batch_size=batch_size,
                             show_progress=show_progress, desc="faithfulness")
    n_unique = len({(t, *s) for s, t in zip(seqs, tgts)})
    correlate = spearman if protocol.correlation == "spearman" else kendall_tau_b
    per_example: dict[str, dict[str, list[Any]]] = {}
    result = FaithfulnessResult(protocol=protocol, methods=methods, per_example=per_example,
                                n_sequences=len(seqs), n_unique_sequences=n_unique)
    loo_drop = [values[full[i]] - values[np.asarray(loo[i], dtype=np.int64)] if loo[i] else np.zeros(0)
                for i in range(len(examples))]
    for m in methods:
        rows: dict[str, list[Any]] = {k: [] for k in METRICS}
        rows["comprehensiveness"], rows["sufficiency"], rows["deletion_curve"], rows["insertion_curve"] = [], [], [], []
        for i, p in enumerate(plan[m]):
            f_x = values[full[i]]
            comp = [None if j is None else float(f_x - values[j]) for j in p["comp"]]
            suff = [None if j is None else float(f_x - values[j]) for j in p["suff"]]
            dele = [float(values[j]) for j in p["deletion"]]
            ins = [float(values[j]) for j in p["insertion"]]
            rows["comprehensiveness"].append(comp)
            rows["sufficiency"].append(suff)
            rows["deletion_curve"].append(dele)
            rows["insertion_curve"].append(ins)
            rows["comprehensiveness_aopc"].append(_aopc(comp, protocol))
            rows["sufficiency_aopc"].append(_aopc(suff, protocol))
            rows["deletion_auc"].append(trapezoid(dele, fractions))
            rows["insertion_auc"].append(trapezoid(ins, fractions))
            rows["loo_correlation"].append(correlate(p["scores"], loo_drop[i]) if len(p["scores"]) >= 2 else None)
        per_example[m] = rows
        result.summary[m] = {k: mean_ci(rows[k], n_boot=n_boot, seed=seed) for k in METRICS}
        result.bins[m] = {
            kind: [mean_ci([r[j] for r in rows[kind]], n_boot=n_boot, seed=seed) | {"bin": b}
                   for j, b in enumerate(protocol.bins)]
            for kind in ("comprehensiveness", "sufficiency")
        }
        result.curves[m] = {
            "fractions": fractions,
            "deletion": [float(np.mean([r[j] for r in rows["deletion_curve"]])) if rows["deletion_curve"] else None
                         for j in range(len(fractions))],
            "insertion": [float(np.mean([r[j] for r in rows["insertion_curve"]])) if rows["insertion_curve"] else None
                          for j in range(len(fractions))],
        }
    result.full_output = [float(values[j]) for j in full]
    result.leave_one_out = [d.tolist() for d in loo_drop]
    return result


def rank_methods(summary: Mapping[str, Mapping[str, Mapping[str, Any]]], exclude: Sequence[str] = ("random",)) -> list[dict[str, Any]]:
    """Methods ordered by their mean rank over the headline metrics (1 = best on a metric).

    Ties share the average rank; a metric a method lacks counts as last. Returns
    ``[{"method", "mean_rank", "n_best", "ranks": {metric: rank}}]``, best first.
    """
    from ._stats import rankdata

    methods = [m for m in summary if m not in exclude]
    if not methods:
        return []
    ranks: dict[str, dict[str, float]] = {m: {} for m in methods}
    for key, (_, better) in METRICS.items():
        vals = []
        for m in methods:
            v = (summary[m].get(key) or {}).get("mean")
            v = -math.inf if v is None else (v if better == "higher" else -v)
            vals.append(v)
        r = rankdata([-v for v in vals])  # rank 1 = best
        for m, rank in zip(methods, r):
            ranks[m][key] = float(rank)
    rows = [{"method": m, "mean_rank": float(np.mean(list(ranks[m].values()))),
             "n_best": int(sum(1 for v in ranks[m].values() if v == 1.0)), "ranks": ranks[m]} for m in methods]
    rows.sort(key=lambda r: (r["mean_rank"], -r["n_best"], methods.index(r["method"])))
    return rows


__all__ = ["METRICS", "FaithfulnessResult", "Protocol", "evaluate_faithfulness", "rank_methods", "ranking", "unit_scores"]
