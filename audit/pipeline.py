"""Orchestration: load → (train) → analyses → AuditResult → report.

``run_audit`` audits one or more already-loaded models on evaluation data; ``run_demo`` builds the
demo data, fine-tunes the embedded backbone and audits it. Both return an :class:`AuditResult`;
``write_outputs`` writes results.json and report.html (each atomically).
"""

from __future__ import annotations

import datetime as _dt
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ._util import library_versions, platform_string, set_seed
from .results import AuditResult, Check, wall_time
from .thresholds import analysis_options

log = logging.getLogger("audit")

CATEGORIES = ("most_confident_correct", "misclassified", "least_confident")

# Analyses beyond evaluation and explanations. Each module provides
#   analyse(bundle, eval_data, options: dict, *, train_data, seed, show_progress, context) -> dict
#   checks(model_name: str, section: dict) -> list[Check]
# and its result is stored as models[<name>][<key>] in results.json.
ANALYSES: dict[str, str] = {
    "faithfulness": "audit.attribution.quality",
    "robustness": "audit.robustness",
    "privacy_audit": "audit.privacy",
}
#: Analyses run by default: explanation quality and the robustness probe need nothing but the
#: model and evaluation data; the privacy audit needs the training data and is switched on explicitly.
DEFAULT_ANALYSES: tuple[str, ...] = ("faithfulness", "robustness")
#: Analyses that assume one softmax label per text, and why they do not apply to a multi-label
#: classifier. For such a model the analysis stores ``{"not_applicable": True, "reason": ...}``.
NOT_FOR_MULTI_LABEL: dict[str, str] = {
    "faithfulness": "the deletion and insertion curves follow the explained class's softmax probability; "
                    "a multi-label classifier scores each label with its own sigmoid",
    "robustness": "an attack succeeds when the predicted class (the argmax) flips; a multi-label classifier "
                  "predicts a set of labels, each against a threshold",
    "privacy_audit": "membership and canary scores use the loss and rank of one true class under a softmax; "
                     "a multi-label record has a set of labels scored by independent sigmoids",
}
#: Most labels explained per example of a multi-label classifier (its predicted labels, highest first).
MAX_LABELS_EXPLAINED = 3


@dataclass
class AuditConfig:
    """What to compute and with which settings; every field is recorded in results.json."""

    seed: int = 0
    max_length: int = 128
    batch_size: int = 64
    explain: bool = True
    explain_methods: tuple[str, ...] = ("integrated_gradients", "attention_rollout")
    examples_per_category: int = 4
    ig_steps: int = 300
    ig_baseline: str = "pad"
    ig_method: str = "adaptive_simpson"  # steps chosen per text up to ig_steps; or a fixed rule
    ig_output: str = "logit"
    ig_tolerance: float = 0.01
    min_accuracy: float = 0.8  # for a multi-label classifier: the minimum micro-averaged F1
    max_ece: float = 0.1  # for a multi-label classifier: the mean of the per-label calibration errors
    show_progress: bool = True
    analyses: tuple[str, ...] = DEFAULT_ANALYSES
    analysis_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: thresholds set by a thresholds file or flags, by key of ``audit.thresholds.SPEC``; those of an
    #: analysis are merged into its options when it runs
    threshold_overrides: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain settings for results.json; analysis options are described by their module (no raw data).
        ``thresholds`` holds every threshold the checks were judged by."""
        from .thresholds import effective

        d = asdict(replace(self, analysis_options={}))
        d["thresholds"] = effective(self)
        d["explain_methods"] = list(self.explain_methods)
        d["analyses"] = list(self.analyses)
        d["analysis_options"] = {}
        for key, opts in self.analysis_options.items():
            opts = analysis_options(key, opts, self.threshold_overrides)
            describe = getattr(_analysis_module(key), "describe_options", None) if key in ANALYSES else None
            d["analysis_options"][key] = describe(opts) if describe else dict(opts)
        return d


def select_examples(labels: Sequence[int], probs: np.ndarray, per_category: int) -> list[tuple[int, str]]:
    """Pick (index, category) pairs: most confident correct, most confidently wrong, least confident."""
    conf = probs.max(1)
    return _pick_categories(probs.argmax(1) == np.asarray(labels), conf, conf, per_category)


def select_examples_multi_label(label_matrix: np.ndarray, probs: np.ndarray, per_category: int,
                                threshold: float = 0.5) -> list[tuple[int, str]]:
    """The categories of :func:`select_examples` for a multi-label classifier: "correct" means the
    predicted label set equals the true set; confidence is the mean distance of the label
    probabilities from the threshold (least confident: the label closest to it)."""
    exact = ((np.asarray(probs) >= threshold) == (np.asarray(label_matrix) > 0.5)).all(1)
    dist = np.abs(np.asarray(probs) - threshold)
    return _pick_categories(exact, dist.mean(1), dist.min(1), per_category)


def _pick_categories(correct: np.ndarray, conf: np.ndarray, doubt: np.ndarray, per_category: int) -> list[tuple[int, str]]:
    """Up to ``per_category`` examples each: correct by descending ``conf``, wrong by descending
    ``conf``, then the lowest ``doubt``; an example is picked at most once."""
    chosen: list[tuple[int, str]] = []
    seen: set[int] = set()
    for candidates, category in (
        (np.flatnonzero(correct)[np.argsort(-conf[correct], kind="stable")], "most_confident_correct"),
        (np.flatnonzero(~correct)[np.argsort(-conf[~correct], kind="stable")], "misclassified"),
        (np.argsort(doubt, kind="stable"), "least_confident"),
    ):
        taken = 0
        for i in candidates:
            if taken >= per_category:
                break
            if int(i) not in seen:
                seen.add(int(i))
                chosen.append((int(i), category))
                taken += 1
    return chosen


def explained_labels(p: np.ndarray, threshold: float = 0.5, limit: int = MAX_LABELS_EXPLAINED) -> list[int]:
    """Labels explained for one text of a multi-label classifier: the predicted ones (highest
    probability first, at most ``limit``), or the most probable label when none is predicted."""
    order = [int(j) for j in np.argsort(-np.asarray(p), kind="stable")]
    positive = [j for j in order if p[j] >= threshold][:limit]
    return positive or order[:1]


def make_explainers(config: AuditConfig, multi_label: bool = False) -> list[Any]:
    """The configured explainers. For a multi-label classifier every class-specific method explains
    a label's logit (the softmax "probability" output would mix the independent labels)."""
    return [_for_multi_label(e) if multi_label else e for e in _explainers(config)]


def _for_multi_label(explainer: Any) -> Any:
    import dataclasses

    if dataclasses.is_dataclass(explainer) and any(f.name == "output" for f in dataclasses.fields(explainer)):
        return dataclasses.replace(explainer, output="logit")
    if hasattr(explainer, "output"):
        explainer.output = "logit"
    return explainer


def _explainers(config: AuditConfig) -> list[Any]:
    from .attribution import METHODS, AttentionRollout, IntegratedGradients

    out = []
    for name in config.explain_methods:
        if name not in METHODS:
            raise ValueError(f"unknown explanation method {name!r}; choose from {sorted(METHODS)}")
        if name == IntegratedGradients.name:
            method = config.ig_method
            if method == "adaptive_simpson" and config.ig_steps < 9:
                method = "gausslegendre"  # too few steps to adapt: a fixed Gauss-Legendre rule
            out.append(IntegratedGradients(n_steps=config.ig_steps, baseline=config.ig_baseline, method=method,
                                           output=config.ig_output, tolerance=config.ig_tolerance,
                                           max_length=config.max_length, show_progress=config.show_progress))
        elif name == AttentionRollout.name:
            out.append(AttentionRollout(max_length=config.max_length, keep_heads=False, show_progress=config.show_progress))
        else:
            out.append(METHODS[name](max_length=config.max_length, show_progress=config.show_progress))
    return out


def _explanation_targets(bundle: Any, dataset: Any, probs: np.ndarray, config: AuditConfig) -> tuple[list[tuple[int, str]], list[int], list[Any], str]:
    """(example index, category) per explanation, the label each explains, each example's
    prediction, and how the target was chosen. A multi-label example gets one explanation per
    explained label (see :func:`explained_labels`)."""
    if not bundle.multi_label:
        picks = select_examples(dataset.labels, probs, config.examples_per_category)
        preds = [int(probs[i].argmax()) for i, _ in picks]
        return picks, preds, preds, "predicted"
    from .metrics import MULTI_LABEL_THRESHOLD

    rows = select_examples_multi_label(dataset.label_matrix(), probs, config.examples_per_category, MULTI_LABEL_THRESHOLD)
    picks, targets, preds = [], [], []
    for i, category in rows:
        predicted = [int(j) for j in np.flatnonzero(probs[i] >= MULTI_LABEL_THRESHOLD)]
        for j in explained_labels(probs[i], MULTI_LABEL_THRESHOLD):
            picks.append((i, category))
            targets.append(j)
            preds.append(predicted)
    return picks, targets, preds, f"each predicted label (probability >= {MULTI_LABEL_THRESHOLD}, at most " \
                                  f"{MAX_LABELS_EXPLAINED}, highest first), else the most probable label; the label's logit"


def explain_examples(bundle: Any, dataset: Any, probs: np.ndarray, config: AuditConfig,
                     cut_at: Sequence[int | None] | None = None) -> dict[str, Any]:
    """Explain the chosen examples with every configured method; returns the JSON section.

    ``cut_at[i]``, when given, is the character offset where the model's input of text ``i`` ends
    (None when the text fits); it is stored with each example so the report can mark the cut.

    Each example records the label it explains (``target``) and its name (``target_name``).
    """
    from .attribution import completeness_summary

    picks, targets, preds, target_rule = _explanation_targets(bundle, dataset, probs, config)
    texts = [dataset.texts[i] for i, _ in picks]
    section: dict[str, Any] = {"methods": [], "config": {}, "examples": [], "summary": {}}
    per_method: dict[str, list[Any]] = {}
    for explainer in make_explainers(config, multi_label=bundle.multi_label):
        section["methods"].append(explainer.name)
        section["config"][explainer.name] = explainer.config() | {"target": target_rule}
        per_method[explainer.name] = explainer.explain(bundle, texts, targets) if texts else []
    for k, (i, category) in enumerate(picks):
        first = next(iter(per_method.values()))[k] if per_method else None
        spans = first.word_spans if first is not None else []
        example = {
            "index": i, "id": dataset.ids[i], "category": category, "text": dataset.texts[i],
            "label": dataset.labels[i], "prediction": preds[k],
            "probabilities": [float(p) for p in probs[i]], "target": targets[k],
            "target_name": str(bundle.label_names[targets[k]]),
            "words": [{"text": dataset.texts[i][a:b], "start": a, "end": b} for a, b in spans],
            "attributions": {},
        }
        if cut_at is not None and cut_at[i] is not None:
            example["truncated_at"] = int(cut_at[i])
        if dataset.rationales is not None:
            example["rationale"] = dataset.rationales[i]
        for name, attrs in per_method.items():
            a = attrs[k]
            entry = {"word_scores": a.word_scores, "tokens": a.tokens, "token_scores": a.token_scores}
            entry.update({key: v for key, v in a.info.items() if key not in ("prediction", "probabilities")})
            example["attributions"][name] = entry
        section["examples"].append(example)
    if "integrated_gradients" in per_method and per_method["integrated_gradients"]:
        section["summary"]["integrated_gradients"] = completeness_summary(per_method["integrated_gradients"])
    return section


def _analysis_module(key: str) -> Any:
    import importlib

    if key not in ANALYSES:
        raise ValueError(f"unknown analysis {key!r}; available: {', '.join(sorted(ANALYSES)) or 'none'}")
    return importlib.import_module(ANALYSES[key])


def audit_model(bundle: Any, eval_data: Any, config: AuditConfig, *, training: Any = None, train_data: Any = None,
                timings: dict[str, float] | None = None, prefix: str = "") -> dict[str, Any]:
    """Evaluate and explain one model on ``eval_data``; returns its ``models[name]`` section."""
    from .metrics import evaluate, per_example_outcomes
    from .truncation import measure_truncation

    timings = timings if timings is not None else {}
    t0 = time.perf_counter()
    perf, probs = evaluate(bundle, eval_data, batch_size=config.batch_size, max_length=config.max_length)
    cut = measure_truncation(bundle, eval_data.texts, config.max_length)
    timings[f"{prefix}evaluate"] = time.perf_counter() - t0
    section: dict[str, Any] = {
        "identity": bundle.identity(),
        "training": training.to_dict() if hasattr(training, "to_dict") else training,
        "performance": perf.to_dict() | {"per_example": per_example_outcomes(eval_data, probs)},
        "truncation": cut.to_dict(),
    }
    if config.explain:
        t0 = time.perf_counter()
        section["explanations"] = explain_examples(bundle, eval_data, probs, config, cut_at=cut.cut_at)
        timings[f"{prefix}explain"] = time.perf_counter() - t0
    ledger = getattr(training, "ledger", None)
    if ledger is None and isinstance(training, dict):
        ledger = training.get("privacy_ledger")
        section["training"] = {k: v for k, v in training.items() if k != "privacy_ledger"}
    if ledger:
        section["privacy_ledger"] = dict(ledger)
    for key in config.analyses:
        t0 = time.perf_counter()
        if bundle.multi_label and key in NOT_FOR_MULTI_LABEL:
            section[key] = {"not_applicable": True,
                            "reason": f"not applicable to multi-label classifiers: {NOT_FOR_MULTI_LABEL[key]}"}
            continue
        options = analysis_options(key, config.analysis_options.get(key, {}), config.threshold_overrides)
        section[key] = _analysis_module(key).analyse(
            bundle, eval_data, options, train_data=train_data, seed=config.seed,
            show_progress=config.show_progress, context={"probabilities": probs, "section": section},
        )
        timings[f"{prefix}{key}"] = time.perf_counter() - t0
    return section


def model_checks(name: str, section: dict[str, Any], config: AuditConfig) -> list[Check]:
    """Pass/warn/fail lines for one model section."""
    checks = []
    perf = section["performance"]
    if perf.get("problem_type") == "multi_label":
        checks += _multi_label_checks(name, perf, config)
    else:
        acc = perf["accuracy"]
        checks.append(Check(f"{name}: accuracy", "pass" if acc >= config.min_accuracy else "fail", acc, config.min_accuracy,
                            f"held-out accuracy {acc:.1%} on {perf['n']} examples (minimum {config.min_accuracy:.0%})"))
        ece = perf["ece"]
        checks.append(Check(f"{name}: calibration (ECE)", "pass" if ece <= config.max_ece else "warn", ece, config.max_ece,
                            f"expected calibration error {ece:.3f} over {perf['ece_bins']} bins (maximum {config.max_ece})"))
    if section.get("truncation"):
        from .truncation import truncation_check

        checks.append(truncation_check(name, section["truncation"]))
    if section["identity"].get("head_initialized") and not section.get("training"):
        checks.append(Check(f"{name}: classifier head", "warn", None, None,
                            "the classification head was newly initialised and not trained: the numbers describe an untrained model"))
    summary = (section.get("explanations") or {}).get("summary", {}).get("integrated_gradients")
    if summary:
        flagged = summary["n_flagged"]
        checks.append(Check(f"{name}: IG completeness", "pass" if flagged == 0 else "warn", flagged, 0,
                            f"{flagged} of {summary['n']} explained examples have a completeness error above "
                            f"{config.ig_tolerance:.0%} of f(x) - f(baseline)" + ("" if flagged == 0 else "; raise the IG step count")))
    for key in config.analyses:
        if key in section and not section[key].get("not_applicable"):
            checks += _analysis_module(key).checks(name, section[key])
    return checks


def _multi_label_checks(name: str, perf: dict[str, Any], config: AuditConfig) -> list[Check]:
    """A multi-label classifier's headline is the micro-averaged F1 (every text-label decision at
    the threshold pooled); subset accuracy would punish one wrong label of many as a total miss."""
    f1, t = perf["f1_micro"], perf["threshold"]
    ece = perf["ece"]
    return [
        Check(f"{name}: micro-F1", "pass" if f1 >= config.min_accuracy else "fail", f1, config.min_accuracy,
              f"held-out micro-averaged F1 {f1:.1%} over {perf['n']} examples and {len(perf['label_names'])} labels, "
              f"labels predicted at probability >= {t} (headline metric for multi-label classifiers; minimum "
              f"{config.min_accuracy:.0%}); subset accuracy {perf['subset_accuracy']:.1%}"),
        Check(f"{name}: calibration (mean per-label ECE)", "pass" if ece <= config.max_ece else "warn", ece, config.max_ece,
              f"calibration error {ece:.3f}, the mean over labels of each label's error over {perf['ece_bins']} "
              f"probability bins (maximum {config.max_ece})"),
    ]


def _limitations(result_models: dict[str, Any], data: dict[str, Any]) -> list[str]:
    notes = [
        "Metrics are measured on the evaluation split only; performance on other populations may differ.",
        "Attributions explain this model's behaviour on these examples; they do not show that the model is right, "
        "and attention rollout is not class-specific.",
    ]
    if data.get("multi_label"):
        notes.append("Multi-label metrics predict a label when its probability is at least 0.5; other thresholds "
                     "trade precision against recall per label. Analyses that assume one label per text are marked "
                     "not applicable.")
    if data.get("skipped_rows"):
        notes.append(f"{data['skipped_rows']} input rows were skipped because they were invalid (see the data section).")
    for name, sec in result_models.items():
        if sec["performance"]["n"] < 200:
            notes.append(f"{name}: only {sec['performance']['n']} evaluation examples; metric estimates are noisy.")
    return notes


def run_audit(
    models: Any,
    eval_data: Any,
    config: AuditConfig | None = None,
    *,
    train_data: Any = None,
    trainings: dict[str, Any] | None = None,
    command: str = "api",
    extra_config: dict[str, Any] | None = None,
    timings: dict[str, float] | None = None,
) -> AuditResult:
    """Audit one bundle (or a ``{name: bundle}`` mapping) on ``eval_data``."""
    config = config or AuditConfig()
    set_seed(config.seed)
    start = time.perf_counter()
    timings = dict(timings or {})
    if not isinstance(models, dict):
        models = {"baseline": models}
    trainings = trainings or {}
    sections: dict[str, Any] = {}
    checks: list[Check] = []
    for name, bundle in models.items():
        prefix = f"{name}." if len(models) > 1 else ""
        sections[name] = audit_model(bundle, eval_data, config, training=trainings.get(name), train_data=train_data,
                                     timings=timings, prefix=prefix)
        checks += model_checks(name, sections[name], config)
    data = eval_data.summary()
    data["splits"] = {"eval": len(eval_data)} | ({"train": len(train_data)} if train_data is not None else {})
    if train_data is not None:
        data["train_sha256"] = train_data.sha256
    data["eval_sha256"] = eval_data.sha256
    if data.get("skipped_rows"):
        checks.append(Check("data: skipped rows", "warn", data["skipped_rows"], 0,
                            f"{data['skipped_rows']} rows were skipped as invalid"))
    first = next(iter(models.values()))
    run = {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "versions": library_versions(),
        "platform": platform_string(),
        "device": first.device,
        "seed": config.seed,
        "config": {"audit": config.to_dict(), **(extra_config or {})},
        "timings": timings,
    }
    timings["audit"] = time.perf_counter() - start
    run["wall_time_s"] = wall_time(timings)
    result = AuditResult(run=run, data=data, models=sections, checks=checks, limitations=_limitations(sections, data))
    result.regulatory_map = _regulatory_map(result)
    return result


def add_personal_data(result: AuditResult, train_data: Any, scanner: Any = None, **options: Any) -> dict[str, Any]:
    """Scan the training texts for personal data: ``data["personal_data"]`` and the check
    "data: personal data" (a warning when any is found) go into ``result``."""
    from .pii import check, scan_dataset

    section = scan_dataset(train_data, scanner, **options)
    result.data["personal_data"] = section
    result.checks.append(Check(**{**check(section), "name": "data: personal data"}))
    result.regulatory_map = _regulatory_map(result)
    return section


def _regulatory_map(result: AuditResult) -> dict[str, Any]:
    """The EU AI Act reading aid for results.json, from the sections and checks present."""
    from reports.regulatory import regulatory_map

    return regulatory_map(result.to_dict())


def write_outputs(result: AuditResult, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``results.json`` and ``report.html`` into ``out_dir``, each atomically.

    The report is rendered first; the seconds that took are stored as the ``render`` stage of
    ``run.timings`` in results.json (the report itself shows the stages before it)."""
    from reports import render
    from reports._io import write_text_atomic

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    html = render(result.to_dict())
    result.record_stage("render", time.perf_counter() - t0)
    json_path = result.save(out_dir / "results.json")
    html_path = write_text_atomic(html, out_dir / "report.html")
    return json_path, html_path


#: The demo's budget for the default analyses (the library defaults audit larger samples).
DEMO_ANALYSIS_OPTIONS: dict[str, dict[str, Any]] = {
    "faithfulness": {"n_examples": 10},
    "robustness": {"n_invariance": 80, "n_attack": 25, "n_radius": 10},
}


@dataclass
class DemoConfig:
    """The demo: generated reviews, the embedded backbone fine-tuned on them (plainly and with
    DP-SGD), then both models audited. Every field is recorded in results.json.

    The defaults keep ``audit demo`` under 10 minutes on 2 CPU cores. The private model follows the
    default recipe (:func:`audit.training.recipe.recommend`) with its compute capped at
    ``private_max_epochs`` epochs; ``private_epochs`` fixes the epochs instead.
    """

    n: int = 2400
    seed: int = 0
    eval_fraction: float = 0.2
    epochs: int = 1
    lr: float = 1e-4
    batch_size: int = 32
    max_length: int = 64
    private: bool = True  # also train a differentially private model on the same data
    private_epsilon: float = 8.0
    private_delta: float = 1e-5
    private_epochs: int | None = None  # None: the recipe's, within private_max_epochs
    private_max_epochs: int = 6  # compute cap of the recipe, to keep the demo within its time budget
    private_options: dict[str, Any] = field(default_factory=dict)  # more fine_tune_private arguments
    privacy_audit: bool = True  # canaries, audit records and reference models for the leakage audit
    audit_records: int = 256  # records included with probability 1/2 for the one-run epsilon lower bound
    reference_records: int = 400  # unseen records the reference models are trained on
    canary_kinds: tuple[str, ...] = ("classic", "email", "phone")  # planted in turn: digit codes, e-mail addresses, phone numbers
    canary_repetitions: tuple[int, ...] = (1, 16)  # per kind: one canary seen once, one seen 16 times
    privacy_options: dict[str, Any] = field(default_factory=dict)
    personal_data: bool = True  # scan the training texts for personal data (the names in the reviews)
    precision: str = "auto"  # training precision of both models (audit.training.precision)
    audit: AuditConfig = field(default_factory=AuditConfig)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(replace(self, audit=AuditConfig()))
        d["audit"] = self.audit.to_dict()
        return d


def run_demo(out_dir: str | Path, config: DemoConfig | None = None, *, device: str = "auto", model_source: Any = None) -> AuditResult:
    """Generate the demo data, fine-tune the backbone (plain and private), audit both, write everything."""
    from .demo import demo_splits
    from .models import load_model
    from .training import fine_tune
    from .training.finetune import save_checkpoint

    config = config or DemoConfig()
    out_dir = Path(out_dir)
    timings: dict[str, float] = {}
    audit_cfg = replace(config.audit, max_length=config.max_length, seed=config.seed,
                        analysis_options=dict(config.audit.analysis_options))
    for key, budget in DEMO_ANALYSIS_OPTIONS.items():
        if key in audit_cfg.analyses:
            audit_cfg.analysis_options[key] = {**budget, **audit_cfg.analysis_options.get(key, {})}
    t0 = time.perf_counter()
    train, eval_data = demo_splits(n=config.n, seed=config.seed, eval_fraction=config.eval_fraction)
    if config.privacy_audit:
        from .privacy import demo_privacy_pools, prepare_privacy_audit

        audit_pool, population = demo_privacy_pools(train, eval_data, n_audit=config.audit_records,
                                                     n_reference=config.reference_records, seed=config.seed)
        prep = prepare_privacy_audit(train, audit_pool=audit_pool, reference_population=population, seed=config.seed,
                                     canary_kinds=config.canary_kinds, canary_repetitions=config.canary_repetitions)
        train = prep.train  # both models train on the same records: demo data + canaries + audit records
        recipe = {"epochs": config.epochs, "lr": config.lr, "batch_size": config.batch_size, "max_length": config.max_length}
        audit_cfg.analyses = tuple(audit_cfg.analyses) + ("privacy_audit",)
        audit_cfg.analysis_options["privacy_audit"] = prep.options(max_length=config.max_length, reference_recipe=recipe,
                                                                   **config.privacy_options)
    timings["data"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    bundle = load_model(model_source, num_labels=train.num_labels, device=device, label_names=train.label_names, seed=config.seed)
    timings["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    record = fine_tune(bundle, train, eval_data, epochs=config.epochs, lr=config.lr, batch_size=config.batch_size,
                       max_length=config.max_length, seed=config.seed, show_progress=config.audit.show_progress,
                       precision=config.precision)
    save_checkpoint(bundle, out_dir / "models" / "baseline", record)
    record.checkpoint = "models/baseline"
    models: dict[str, Any] = {"baseline": bundle}
    trainings: dict[str, Any] = {"baseline": record}
    timings["train"] = time.perf_counter() - t0

    if config.private:
        from .training.private import fine_tune_private

        t0 = time.perf_counter()
        private = load_model(model_source, num_labels=train.num_labels, device=device, label_names=train.label_names,
                             seed=config.seed)
        options = {"max_length": config.max_length, "precision": config.precision, **config.private_options}
        if config.private_epochs is not None:
            options.setdefault("epochs", config.private_epochs)
        elif "epochs" not in options:
            options.setdefault("max_epochs", config.private_max_epochs)
        private_record = fine_tune_private(private, train, eval_data, target_epsilon=config.private_epsilon,
                                           delta=config.private_delta, seed=config.seed, out_dir=out_dir / "models" / "private",
                                           show_progress=config.audit.show_progress, **options)
        private_record.checkpoint = "models/private"
        models["private"] = private
        trainings["private"] = private_record
        timings["train_private"] = time.perf_counter() - t0

    result = run_audit(models, eval_data, audit_cfg, train_data=train, trainings=trainings, command="demo", timings=timings,
                       extra_config={"demo": {k: v for k, v in config.to_dict().items() if k != "audit"}})
    result.data["source"] = f"generated demo reviews (n={config.n}, seed={config.seed})"
    if config.personal_data:
        t0 = time.perf_counter()
        add_personal_data(result, train)
        result.record_stage("personal_data", time.perf_counter() - t0)
    write_outputs(result, out_dir)
    return result
