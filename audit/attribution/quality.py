"""Explanation quality: the ``faithfulness`` analysis of an audit.

On a seeded sample of evaluation texts, every configured method explains the predicted class, and

* faithfulness (comprehensiveness, sufficiency, AOPC, deletion/insertion areas, rank correlation
  with leave-one-out) is measured for each method and for a random attribution (the chance level);
* plausibility (AUPRC, token F1) against the dataset's rationales, when it has them;
* agreement between methods (pairwise rank correlation);
* the parameter-randomisation sanity check on a smaller sample, and the integrated-gradients
  completeness error;

and the most faithful method for this model is named (best mean rank over the five faithfulness
metrics, among methods that pass the sanity check when any does). The pipeline stores the result as
``models[<name>]["faithfulness"]``; :func:`checks` turns it into summary lines.
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import numpy as np

from ..results import Check
from .faithfulness import METRICS, Protocol, evaluate_faithfulness, rank_methods

DEFAULT_METHODS = ("integrated_gradients", "shap", "occlusion", "gradient_x_input", "attention_rollout")

#: Every option of the analysis and its default (the demo budget: about 1-2 minutes on 2 CPU cores).
DEFAULTS: dict[str, Any] = {
    "methods": list(DEFAULT_METHODS),
    "n_examples": 32,
    "max_length": 128,
    "bins": [0.01, 0.05, 0.10, 0.20, 0.50],
    "unit": "token",
    "removal": "delete",
    "output": "probability",
    "rounding": "ceil",
    "positive_only": False,
    "aopc": "eraser",
    "curve_steps": 10,
    "correlation": "spearman",
    "random_reference": True,
    "plausibility": True,
    "agreement": True,
    "sanity": True,
    "sanity_examples": 4,
    "sanity_layers": [0, 2],
    "sanity_threshold": 0.5,
    "ig_steps": 65,
    "ig_tolerance": 0.05,
    "ig_baseline": "pad",
    "shap_max_evals": 100,
    "occlusion_removal": "mask",
    "n_boot": 1000,
    "batch_size": None,
}
REFERENCE = "random"
#: Budgets of the re-explanations in the sanity check (original and randomised models alike).
SANITY_BUDGET = {"ig_steps": 33, "shap_max_evals": 64}


def resolve_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults overlaid with ``options``; an unknown key or a bad value raises ValueError naming it."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown faithfulness option(s) {unknown}; known: {sorted(DEFAULTS)}")
    opts = {**DEFAULTS, **options}
    from . import METHODS

    methods = opts["methods"]
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ValueError(f"faithfulness methods {bad or methods} not available; choose from {sorted(METHODS)}")
    opts["methods"] = list(dict.fromkeys(methods))
    for key in ("n_examples", "sanity_examples", "ig_steps", "shap_max_evals", "max_length", "curve_steps", "n_boot"):
        if not isinstance(opts[key], int) or isinstance(opts[key], bool) or opts[key] < 0:
            raise ValueError(f"faithfulness option {key!r} must be a non-negative integer, got {opts[key]!r}")
    if opts["n_examples"] < 1:
        raise ValueError("faithfulness option 'n_examples' must be at least 1")
    if not (0.0 <= float(opts["sanity_threshold"]) <= 1.0):
        raise ValueError(f"faithfulness option 'sanity_threshold' must be in [0, 1], got {opts['sanity_threshold']!r}")
    return opts


def describe_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every option with its default filled in, for the run's recorded configuration."""
    return resolve_options(options)


def make_method(name: str, opts: Mapping[str, Any], seed: int, show_progress: bool) -> Any:
    """One explainer configured from the analysis options."""
    from . import METHODS

    common = {"max_length": opts["max_length"], "show_progress": show_progress}
    if name == "integrated_gradients":
        return METHODS[name](n_steps=opts["ig_steps"], method="adaptive_simpson", output="logit",
                             tolerance=opts["ig_tolerance"], baseline=opts["ig_baseline"], **common)
    if name == "shap":
        return METHODS[name](max_evals=opts["shap_max_evals"], seed=seed, **common)
    if name == "occlusion":
        return METHODS[name](removal=opts["occlusion_removal"], **common)
    if name == "attention_rollout":
        return METHODS[name](keep_heads=False, **common)
    return METHODS[name](**common)


def sample_indices(n_total: int, n: int, seed: int) -> list[int]:
    """A seeded sample of ``n`` of ``n_total`` indices, in increasing order."""
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.permutation(n_total)[: min(n, n_total)])


def _strip(attrs: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"word_scores": a.word_scores} for a in attrs]


def recommend(summary: Mapping[str, Any], flagged: Sequence[str], methods: Sequence[str]) -> dict[str, Any] | None:
    """The most faithful method: best mean rank over the faithfulness metrics, preferring methods
    that pass the sanity check; None when no method was evaluated."""
    ranked = rank_methods({m: summary[m] for m in methods if m in summary})
    if not ranked:
        return None
    passing = [r for r in ranked if r["method"] not in flagged]
    best = (passing or ranked)[0]
    reason = (f"best mean rank ({best['mean_rank']:.1f}) over {len(METRICS)} faithfulness metrics; "
              f"best on {best['n_best']} of them")
    if best is not ranked[0]:
        reason += f"; {ranked[0]['method']} ranks higher but failed the parameter-randomisation sanity check"
    return {"method": best["method"], "mean_rank": best["mean_rank"], "n_best": best["n_best"], "reason": reason,
            "ranking": ranked}


def analyse(bundle: Any, eval_data: Any, options: dict[str, Any], *, train_data: Any = None, seed: int = 0,
            show_progress: bool = True, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Explanation quality of ``bundle`` on a sample of ``eval_data``; returns the JSON section."""
    from .integrated_gradients import completeness_summary
    from .random_reference import RandomAttribution

    opts = resolve_options(options)
    protocol = Protocol(bins=tuple(opts["bins"]), unit=opts["unit"], removal=opts["removal"], output=opts["output"],
                        rounding=opts["rounding"], positive_only=bool(opts["positive_only"]), aopc=opts["aopc"],
                        curve_steps=opts["curve_steps"], correlation=opts["correlation"])
    if len(eval_data) == 0:
        raise ValueError("faithfulness: the evaluation data is empty")
    idx = sample_indices(len(eval_data), opts["n_examples"], seed)
    texts = [eval_data.texts[i] for i in idx]
    probs = (context or {}).get("probabilities")
    if probs is not None and len(probs) == len(eval_data):
        targets = [int(np.asarray(probs[i]).argmax()) for i in idx]
    else:
        targets = [int(p) for p in bundle.predict_proba(texts, max_length=opts["max_length"]).argmax(1)]
    timings: dict[str, float] = {}
    explainers = [make_method(name, opts, seed, show_progress) for name in opts["methods"]]
    attributions: dict[str, list[Any]] = {}
    configs: dict[str, Any] = {}
    for e in explainers:
        t0 = time.perf_counter()
        attributions[e.name] = e.explain(bundle, texts, targets)
        timings[e.name] = time.perf_counter() - t0
        configs[e.name] = e.config()
    evaluated = dict(attributions)
    if opts["random_reference"]:
        ref = RandomAttribution(seed=seed, max_length=opts["max_length"])
        evaluated[REFERENCE] = ref.explain(bundle, texts, targets)
        configs[REFERENCE] = ref.config()
    t0 = time.perf_counter()
    faith = evaluate_faithfulness(bundle, evaluated, protocol, max_length=opts["max_length"], batch_size=opts["batch_size"],
                                  seed=seed, n_boot=opts["n_boot"], show_progress=show_progress)
    timings["faithfulness"] = time.perf_counter() - t0
    out: dict[str, Any] = {
        "n_examples": len(idx),
        "indices": idx,
        "texts": texts,
        "ids": [eval_data.ids[i] for i in idx] if getattr(eval_data, "ids", None) is not None else None,
        "targets": targets,
        "methods": list(attributions),
        "reference": REFERENCE if opts["random_reference"] else None,
        "options": opts,
        "method_config": configs,
        "faithfulness": faith.to_dict(),
        "attributions": {m: _strip(a) for m, a in evaluated.items()},
    }
    rationales = getattr(eval_data, "rationales", None)
    if opts["plausibility"] and rationales is not None:
        from .plausibility import evaluate_plausibility

        t0 = time.perf_counter()
        out["plausibility"] = evaluate_plausibility(evaluated, [rationales[i] for i in idx], seed=seed, n_boot=opts["n_boot"])
        timings["plausibility"] = time.perf_counter() - t0
    if opts["agreement"] and len(attributions) >= 2:
        from .agreement import method_agreement

        out["agreement"] = method_agreement(attributions, seed=seed, n_boot=opts["n_boot"])
    flagged: list[str] = []
    if opts["sanity"] and opts["sanity_examples"] > 0:
        from .sanity import parameter_randomisation

        t0 = time.perf_counter()
        k = min(opts["sanity_examples"], len(idx))
        budget = {key: min(opts[key], cap) for key, cap in SANITY_BUDGET.items()}
        sanity_explainers = [make_method(e.name, {**opts, **budget}, seed, False) for e in explainers]
        # the originals are re-explained with the same (smaller) budget, so only the weights differ
        sub = {e.name: e.explain(bundle, texts[:k], targets[:k]) for e in sanity_explainers}
        out["sanity"] = parameter_randomisation(bundle, sanity_explainers, sub, layers=opts["sanity_layers"],
                                                threshold=float(opts["sanity_threshold"]), seed=seed, n_boot=opts["n_boot"])
        out["sanity"]["protocol"]["budget"] = budget
        flagged = list(out["sanity"]["flagged"])
        timings["sanity"] = time.perf_counter() - t0
    if "integrated_gradients" in attributions:
        out["ig_completeness"] = completeness_summary(attributions["integrated_gradients"]) | {
            "tolerance": opts["ig_tolerance"], "max_steps_allowed": opts["ig_steps"]}
    out["recommendation"] = recommend(faith.summary, flagged, list(attributions))
    out["timings"] = timings
    return out


def checks(model_name: str, section: Mapping[str, Any]) -> list[Check]:
    """Summary lines: does the best method beat chance, do all methods pass the sanity check, is IG complete."""
    out: list[Check] = []
    faith = section.get("faithfulness") or {}
    summary = faith.get("summary") or {}
    rec = section.get("recommendation") or {}
    ref = section.get("reference")
    best = rec.get("method")
    if best in summary:
        comp = summary[best].get("comprehensiveness_aopc") or {}
        chance = (summary.get(ref) or {}).get("comprehensiveness_aopc") or {} if ref else {}
        value, low = comp.get("mean"), comp.get("ci_low")
        ref_high = chance.get("ci_high")
        if value is None:
            pass
        elif ref_high is None:
            out.append(Check(f"{model_name}: explanation faithfulness", "pass", value, None,
                             f"most faithful method: {best} (comprehensiveness AOPC {value:.3f})"))
        else:
            beats = low is not None and low > ref_high
            out.append(Check(
                f"{model_name}: explanation faithfulness", "pass" if beats else "warn", value, ref_high,
                f"most faithful method: {best}; comprehensiveness AOPC {value:.3f} "
                + ("is above" if beats else "is not clearly above")
                + f" the random-attribution level (95% CI upper bound {ref_high:.3f})"
                + ("" if beats else ": the explanations may not reflect what drives the predictions"),
            ))
    sanity = section.get("sanity") or {}
    if sanity.get("stages"):
        flagged = list(sanity.get("flagged") or [])
        last = sanity["stages"][-1].get("name", "randomisation")
        thr = (sanity.get("protocol") or {}).get("threshold")
        out.append(Check(
            f"{model_name}: explanation sanity (model randomisation)", "pass" if not flagged else "warn", len(flagged), 0,
            "every method's attributions change when the model's weights are randomised" if not flagged else
            f"{', '.join(flagged)}: attributions barely change after randomising the {last} "
            f"(rank correlation with the original >= {thr}); they do not reflect what the model learned",
        ))
    ig = section.get("ig_completeness") or {}
    if ig.get("n"):
        n_flagged = int(ig.get("n_flagged") or 0)
        out.append(Check(
            f"{model_name}: IG completeness (explanation-quality sample)", "pass" if n_flagged == 0 else "warn", n_flagged, 0,
            f"{n_flagged} of {ig['n']} texts have a completeness error above {ig.get('tolerance', 0.01):.0%} of "
            f"f(x) - f(baseline) after up to {ig.get('max_steps_allowed')} adaptive steps (mean {ig.get('mean_steps', float('nan')):.1f})",
        ))
    return out


__all__ = ["DEFAULTS", "DEFAULT_METHODS", "analyse", "checks", "describe_options", "recommend", "resolve_options", "sample_indices"]
