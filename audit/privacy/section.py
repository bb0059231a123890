"""The combined privacy audit of one model: options, the ``privacy_audit`` section and its steps.

:func:`audit_privacy` runs every measurement the inputs allow (membership inference, canaries,
the one-run ε lower bound, the DP bound check) on one shared set of scored records; each step is
a function of its own below.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..data import TextDataset
from .bounds import DEFAULT_CHECK_FPRS, DPBoundCheck, Ledger, PrivacyCurve, dp_bound_check
from .canaries import CanaryResult, CanarySpec, canary_log_probs, exposure_from_scores
from .lower_bound import DEFAULT_GUESS_FRACTIONS, AuditRecords, OneRunAudit, guess_counts, one_run_audit
from .membership import AttackResult, LossAttack, MembershipAttack, MembershipResult, balanced_sample, example_stats
from .pii_canaries import canary_kind, exposure_verdict
from .reference import ReferenceAttack, reference_recipe
from .stats import DEFAULT_FPRS, as_plain, attack_metrics

SECTION_VERSION = 1

#: Every option :func:`analyse` accepts, with its default.
OPTION_DEFAULTS: dict[str, Any] = {
    "holdout": None,  # TextDataset of non-members (never trained on); default: the evaluation data
    "reference_population": None,  # TextDataset for reference models; None: loss attack only
    "reference_model": None,  # where reference models start: load_model source or factory; None: default backbone
    "n_reference_models": 4,
    "reference_max_train": 200,  # records per reference model (half the used population)
    "reference_recipe": None,  # overrides of the target's fine-tuning recipe (epochs, lr, batch_size, ...)
    "ledger": None,  # dict from private training: epsilon, delta, noise_multiplier, sample_rate, steps, accountant
    "canaries": None,  # CanarySpec from plant_canaries
    "audit_records": None,  # AuditRecords from split_audit_records
    "show_training_text": False,  # write training texts of the most exposed records into the results
    "max_examples": 1000,  # members (and as many non-members) sampled for membership inference; 0: no cap
    "n_bootstrap": 200,
    "ci_level": 0.95,
    "fprs": DEFAULT_FPRS,  # FPRs at which TPR is reported
    "check_fprs": DEFAULT_CHECK_FPRS,  # FPRs at which TPR is compared with the DP bound
    "alpha": 0.05,  # error level of the DP bound check and of the ε lower bound (95% confidence)
    "delta": 1e-5,  # δ for the ε lower bound when there is no ledger
    "n_candidates": 1000,  # candidate secrets scored per canary
    "guess_fractions": DEFAULT_GUESS_FRACTIONS,  # one-run audit guess counts, as fractions of the audit records
    "n_vulnerable": 5,  # most exposed training records listed
    "batch_size": 64,
    "max_length": None,  # default: the target's training max_length, else 128
    "thresholds": None,  # {"auc": 0.6, "tpr_at_1pct_fpr": 0.05, "exposure_bits": 10.0}
}
DEFAULT_THRESHOLDS = {"auc": 0.6, "tpr_at_1pct_fpr": 0.05, "exposure_bits": 10.0}


def _options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    options = dict(options or {})
    unknown = sorted(set(options) - set(OPTION_DEFAULTS))
    if unknown:
        raise ValueError(f"privacy audit: unknown option(s) {', '.join(unknown)}; known: {', '.join(OPTION_DEFAULTS)}")
    o = {**OPTION_DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    for key in ("holdout", "reference_population"):
        if o[key] is not None and not isinstance(o[key], TextDataset):
            raise ValueError(f"privacy audit: option {key!r} must be a TextDataset, got {type(o[key]).__name__}")
    if o["canaries"] is not None and not isinstance(o["canaries"], CanarySpec):
        raise ValueError(f"privacy audit: option 'canaries' must be a CanarySpec from plant_canaries, got {type(o['canaries']).__name__}")
    if o["audit_records"] is not None and not isinstance(o["audit_records"], AuditRecords):
        raise ValueError("privacy audit: option 'audit_records' must be AuditRecords from split_audit_records, "
                         f"got {type(o['audit_records']).__name__}")
    for key in ("n_reference_models", "reference_max_train", "max_examples", "n_bootstrap", "n_candidates", "n_vulnerable", "batch_size"):
        v = o[key]
        low = 1 if key in ("n_candidates", "batch_size") else 0
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise ValueError(f"privacy audit: option {key!r} must be an integer >= {low}, got {v!r}")
    for key in ("alpha", "ci_level"):
        if not 0.0 < float(o[key]) < 1.0:
            raise ValueError(f"privacy audit: option {key!r} must be in (0, 1), got {o[key]!r}")
    if not 0.0 <= float(o["delta"]) < 1.0:
        raise ValueError(f"privacy audit: option 'delta' must be in [0, 1), got {o['delta']!r}")
    thresholds = dict(DEFAULT_THRESHOLDS)
    if o["thresholds"] is not None:
        bad = sorted(set(o["thresholds"]) - set(DEFAULT_THRESHOLDS))
        if bad:
            raise ValueError(f"privacy audit: unknown threshold(s) {', '.join(bad)}; known: {', '.join(DEFAULT_THRESHOLDS)}")
        thresholds.update({k: float(v) for k, v in o["thresholds"].items()})
    o["thresholds"] = thresholds
    o["show_training_text"] = bool(o["show_training_text"])
    return o


def describe_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The options as JSON-safe data for the run's recorded config: datasets by hash, secrets masked."""
    out: dict[str, Any] = {}
    for key, v in dict(options or {}).items():
        if isinstance(v, TextDataset):
            out[key] = {"source": v.source, "sha256": v.sha256, "n_rows": len(v)}
        elif isinstance(v, (CanarySpec, AuditRecords)):
            out[key] = v.to_dict()
        elif key == "reference_model" and v is not None and not isinstance(v, str):
            out[key] = "caller-supplied factory" if callable(v) else str(v)
        else:
            out[key] = as_plain(v) if isinstance(v, (dict, list, tuple, float, int, str, bool, type(None), np.generic)) else repr(v)
    return out


# ---------------------------------------------------------------------------------------------
# The combined audit
# ---------------------------------------------------------------------------------------------


@dataclass
class PrivacyAuditResult:
    """Everything the privacy audit measured for one model (the ``privacy_audit`` section)."""

    protocol: dict[str, Any]
    membership_inference: MembershipResult | dict[str, Any]
    canaries: dict[str, Any]
    epsilon_lower_bound: OneRunAudit | dict[str, Any]
    dp_bound_check: DPBoundCheck | dict[str, Any]
    vulnerable_records: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return as_plain({
            "version": SECTION_VERSION,
            "protocol": self.protocol,
            "membership_inference": self.membership_inference,
            "canaries": self.canaries,
            "epsilon_lower_bound": self.epsilon_lower_bound,
            "dp_bound_check": self.dp_bound_check,
            "vulnerable_records": self.vulnerable_records,
            "notes": self.notes,
            "timings": {k: round(float(v), 3) for k, v in self.timings.items()},
        })


def _skipped(reason: str) -> dict[str, Any]:
    return {"skipped": True, "reason": reason}


def _target_recipe(context: Mapping[str, Any] | None) -> dict[str, Any]:
    """The target's plain fine-tuning recipe from the pipeline context (only max_length for private training).

    A DP-SGD recipe (large logical batches, clipping, noise) is not copied to the reference
    models; give ``reference_recipe`` to share one recipe between a private and a plain target.
    """
    section = (context or {}).get("section") or {}
    training = section.get("training") if isinstance(section, Mapping) else None
    if not isinstance(training, Mapping) or not isinstance(training.get("config"), Mapping):
        return {}
    config = dict(training["config"])
    if training.get("private"):  # only the sequence length carries over (it is how the model reads text)
        return {"max_length": config["max_length"]} if isinstance(config.get("max_length"), int) else {}
    return config


def audit_privacy(
    bundle: Any,
    train_data: TextDataset | None,
    holdout: TextDataset | None,
    options: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    show_progress: bool = True,
    context: Mapping[str, Any] | None = None,
) -> PrivacyAuditResult:
    """Run every part of the privacy audit the inputs allow; see :data:`OPTION_DEFAULTS`.

    ``train_data`` is the exact training set of ``bundle`` (canaries and included audit records
    may be in it; they are left out of the member sample), ``holdout`` records of the same
    distribution it never saw. Without ``train_data`` membership inference is skipped; without a
    ``reference_population`` only the loss attack runs; the section says which and why.
    """
    from ..models import check_compatible

    if getattr(bundle, "multi_label", False):
        raise ValueError("privacy audit: not applicable to multi-label classifiers (membership and canary scores use "
                         "the loss of one true class under a softmax)")
    o = _options(options)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    notes: list[str] = []
    target_recipe = _target_recipe(context)
    max_length = int(o["max_length"] or target_recipe.get("max_length") or 128)
    batch_size = int(o["batch_size"])
    ledger = Ledger.from_dict(o["ledger"]) if o["ledger"] is not None else None
    if holdout is None:
        holdout = o["holdout"]
    spec: CanarySpec | None = o["canaries"]
    records: AuditRecords | None = o["audit_records"]
    for name, ds in (("training data", train_data), ("holdout", holdout), ("reference population", o["reference_population"])):
        if ds is not None:
            if not isinstance(ds, TextDataset):
                raise ValueError(f"privacy audit: {name} must be a TextDataset, got {type(ds).__name__}")
            check_compatible(bundle, ds)
    if spec is not None and len(spec.label_names) != bundle.num_labels:
        raise ValueError(f"privacy audit: the canaries have {len(spec.label_names)} labels, the model {bundle.num_labels}")
    if records is not None:
        check_compatible(bundle, records.records)

    special = set(spec.texts if spec is not None else []) | set(records.records.texts if records is not None else [])
    train_texts = set(train_data.texts) if train_data is not None else set()

    # -- the records to score ----------------------------------------------------------------
    texts: list[str] = []
    labels: list[int] = []
    groups: dict[str, slice] = {}

    def add(name: str, ts: Sequence[str], ys: Sequence[int]) -> None:
        groups[name] = slice(len(texts), len(texts) + len(ts))
        texts.extend(ts)
        labels.extend(int(y) for y in ys)

    member_ids: list[str] = []
    mi_info: dict[str, Any] = {}
    if train_data is None:
        mi_skip = "no training data was given: membership inference needs the exact training records"
    elif holdout is None:
        mi_skip = "no held-out data was given: membership inference needs records the model never saw"
    else:
        mi_skip = ""
        first_row = {}  # one row per distinct training text, planted records left out
        for i, t in enumerate(train_data.texts):
            if t not in special:
                first_row.setdefault(t, i)
        pool_m = sorted(first_row.values())
        pool_o = [i for i, t in enumerate(holdout.texts) if t not in train_texts and t not in special]
        mi_info = {"pool_sizes": {"members": len(pool_m), "nonmembers": len(pool_o)},
                   "excluded_planted_rows": sum(1 for t in train_data.texts if t in special),
                   "holdout_overlapping_training": sum(1 for t in holdout.texts if t in train_texts)}
        if mi_info["holdout_overlapping_training"]:
            notes.append(f"{mi_info['holdout_overlapping_training']} held-out records also occur in the training data; "
                         "they were not used as non-members")
        members, nonmembers = train_data.subset(pool_m), holdout.subset(pool_o)
        mi, oi = balanced_sample(members, nonmembers, o["max_examples"] or None, seed)
        add("members", [members.texts[i] for i in mi], [members.labels[i] for i in mi])
        add("nonmembers", [nonmembers.texts[i] for i in oi], [nonmembers.labels[i] for i in oi])
        member_ids = [members.ids[i] for i in mi]
    if spec is not None:
        add("canaries", spec.texts, [c.label for c in spec])
    if records is not None:
        add("audit", records.records.texts, records.records.labels)

    # -- attacks -----------------------------------------------------------------------------
    attacks, reference_note = _attacks(o, target_recipe, sorted(train_texts | special), seed=seed, batch_size=batch_size,
                                       max_length=max_length, show_progress=show_progress)
    if reference_note:
        notes.append(reference_note)
    primary = attacks[-1]

    scores: dict[str, np.ndarray] = {}
    if texts:
        t0 = time.perf_counter()
        target = example_stats(bundle, texts, labels, batch_size=batch_size, max_length=max_length,
                               show_progress=show_progress, desc="privacy: target scores")
        timings["target_scores"] = time.perf_counter() - t0
        for attack in attacks:
            t0 = time.perf_counter()
            scores[attack.name] = attack.score(bundle, texts, labels, target=target)
            timings[f"attack_{attack.name}"] = time.perf_counter() - t0

    # -- membership inference ----------------------------------------------------------------
    if mi_skip:
        membership: MembershipResult | dict[str, Any] = _skipped(mi_skip)
        notes.append(mi_skip)
    else:
        membership = _membership_step(attacks, scores, groups, o, train_data, holdout, reference_note, mi_info, timings, seed=seed)

    # -- the other measurements, one step each ---------------------------------------------------
    canary_section = _canary_step(bundle, spec, o, scores, groups, train_data, notes, timings, seed=seed, batch_size=batch_size,
                                  max_length=max_length, show_progress=show_progress)
    one_run = _one_run_step(records, train_data, scores, groups, primary.name, ledger, o, timings, seed=seed)
    dp_check = _dp_check_step(ledger, mi_skip, records, scores, groups, primary.name, o, timings)
    vulnerable = [] if mi_skip else _vulnerable_records(scores[primary.name], groups, member_ids, texts, primary.name, o)

    timings["total"] = time.perf_counter() - t_start
    protocol = {
        "seed": seed, "primary_attack": primary.name, "attacks": [a.name for a in attacks],
        "max_examples": int(o["max_examples"]), "n_bootstrap": int(o["n_bootstrap"]), "ci_level": float(o["ci_level"]),
        "fprs": [float(f) for f in o["fprs"]], "check_fprs": [float(f) for f in o["check_fprs"]], "alpha": float(o["alpha"]),
        "max_length": max_length, "show_training_text": o["show_training_text"], "thresholds": o["thresholds"],
        "reference_attack": reference_note or "ran",
        "holdout": None if holdout is None else {"source": holdout.source, "sha256": holdout.sha256, "n_rows": len(holdout)},
        "training_data": None if train_data is None else {"source": train_data.source, "sha256": train_data.sha256, "n_rows": len(train_data)},
    }
    return PrivacyAuditResult(protocol=protocol, membership_inference=membership, canaries=canary_section,
                              epsilon_lower_bound=one_run, dp_bound_check=dp_check, vulnerable_records=vulnerable,
                              notes=notes, timings=timings)


def _attacks(o: Mapping[str, Any], target_recipe: Mapping[str, Any], exclude_texts: list[str], *, seed: int, batch_size: int,
             max_length: int, show_progress: bool) -> tuple[list[MembershipAttack], str]:
    """The loss attack, and the reference attack when a reference population allows it; a note when it does not."""
    attacks: list[MembershipAttack] = [LossAttack(batch_size=batch_size, max_length=max_length)]
    if o["reference_population"] is None:
        return attacks, "loss attack only: no reference population was given, so no reference models were trained"
    if o["n_reference_models"] < 2:
        return attacks, "loss attack only: n_reference_models is below 2"
    recipe = reference_recipe({"max_length": max_length, **target_recipe}, o["reference_recipe"])
    attacks.append(ReferenceAttack(
        o["reference_population"], n_models=int(o["n_reference_models"]), base_model=o["reference_model"], recipe=recipe,
        max_train=int(o["reference_max_train"]), exclude_texts=exclude_texts, seed=seed,
        batch_size=batch_size, show_progress=show_progress,
    ))
    return attacks, ""


def _membership_step(attacks: Sequence[MembershipAttack], scores: Mapping[str, np.ndarray], groups: Mapping[str, slice],
                     o: Mapping[str, Any], train_data: TextDataset, holdout: TextDataset, reference_note: str,
                     mi_info: Mapping[str, Any], timings: dict[str, float], *, seed: int) -> MembershipResult:
    """Each attack's ROC, AUC and TPR at low FPR on the sampled members and held-out non-members."""
    t0 = time.perf_counter()
    results = {}
    for attack in attacks:
        s = scores[attack.name]
        metrics = attack_metrics(s[groups["members"]], s[groups["nonmembers"]], fprs=o["fprs"],
                                 n_bootstrap=int(o["n_bootstrap"]), ci_level=float(o["ci_level"]), seed=seed)
        results[attack.name] = AttackResult(attack.name, attack.title, attack.config(), metrics)
    membership = MembershipResult(
        n_members=groups["members"].stop - groups["members"].start,
        n_nonmembers=groups["nonmembers"].stop - groups["nonmembers"].start,
        member_source=f"training data {train_data.source} (random sample without planted records)",
        nonmember_source=f"held-out data {holdout.source}", attacks=results,
        notes=[reference_note] if reference_note else [],
        extra={"reference_attack": "reference" in results, **mi_info},
    )
    timings["membership_metrics"] = time.perf_counter() - t0
    return membership


def _canary_step(bundle: Any, spec: CanarySpec | None, o: Mapping[str, Any], scores: Mapping[str, np.ndarray],
                 groups: Mapping[str, slice], train_data: TextDataset | None, notes: list[str], timings: dict[str, float], *,
                 seed: int, batch_size: int, max_length: int, show_progress: bool) -> dict[str, Any]:
    """Exposure and membership scores of every planted canary, with a summary and a verdict per kind."""
    if spec is None:
        return _skipped("no canaries were planted (see plant_canaries)")
    t0 = time.perf_counter()
    per = canary_log_probs(bundle, spec, n_candidates=int(o["n_candidates"]), seed=seed, batch_size=batch_size,
                           max_length=max_length, show_progress=show_progress)
    threshold = float(o["thresholds"]["exposure_bits"])
    items = []
    for j, (c, (lp, cand, exhaustive)) in enumerate(zip(spec, per)):
        expo = exposure_from_scores(lp, cand, 10 ** c.n_digits, exhaustive=exhaustive)
        sc, pct = {}, {}
        for name, s in scores.items():
            v = float(s[groups["canaries"]][j])
            sc[name] = v
            pct[name] = float(np.mean(s[groups["nonmembers"]] >= v)) if "nonmembers" in groups else None
        info = c.to_dict(spec.label_names)
        info["verdict"] = exposure_verdict(expo.exposure, math.log2(10 ** c.n_digits), threshold, c.kind.title)
        items.append(CanaryResult(canary=info, log_prob=lp, exposure=expo, scores=sc, nonmember_percentile=pct))
    train_texts = set(train_data.texts) if train_data is not None else set()
    in_train = sum(1 for c in spec if c.text in train_texts) if train_data is not None else None
    section = {
        **spec.to_dict(),
        "canaries": [it.to_dict() for it in items],
        "by_kind": _by_kind(spec, items),
        "in_training_data": in_train,
        "protocol": {"candidates_per_canary": int(o["n_candidates"]), "secret_alphabet": "digits 0-9",
                     "statistic": "log p(canary label | template filled with a secret)",
                     "rank_estimate": "exact when every secret is scored, else from a uniform sample of other secrets; "
                                      "95% interval from the exact binomial interval of the sampled fraction; "
                                      "extrapolated value from a normal fit to the sampled scores",
                     "candidates": "secrets of the same shape as the true one: same template, same number of digits; "
                                   "personal-data canaries keep their name, domain or dialling prefix",
                     "kinds": [canary_kind(k).to_dict() for k in spec.to_dict()["kinds"]],
                     "verdict": f"revealed: exposure at least {threshold:g} bits or within 1 bit of the maximum; leaks: "
                                "the true value ranks in the top 5% of its candidates; otherwise not revealed",
                     "nonmember_percentile": "share of held-out non-members whose membership score is at least the canary's"},
        "max_exposure": max(it.exposure.exposure for it in items),
    }
    if train_data is not None and in_train < len(spec):
        notes.append(f"{len(spec) - in_train} of {len(spec)} canaries are not in the training data given; "
                     "their exposure measures nothing planted")
    timings["canaries"] = time.perf_counter() - t0
    return section


def _by_kind(spec: CanarySpec, items: Sequence[CanaryResult]) -> dict[str, dict[str, Any]]:
    """Per canary kind: how many, how many revealed, the highest exposure and the verdict of the most exposed one."""
    out: dict[str, dict[str, Any]] = {}
    for c, it in zip(spec, items):
        k = out.setdefault(c.kind.name, {"title": c.kind.title, "n": 0, "n_revealed": 0, "max_exposure": None})
        k["n"] += 1
        k["n_revealed"] += it.canary["verdict"]["level"] == "revealed"
        if k["max_exposure"] is None or it.exposure.exposure > k["max_exposure"]:
            k["max_exposure"] = it.exposure.exposure
            k["max_possible"] = math.log2(it.exposure.space_size)
            k["verdict"] = it.canary["verdict"]
            k["repetitions_of_most_exposed"] = c.repetitions
    return out


def _one_run_step(records: AuditRecords | None, train_data: TextDataset | None, scores: Mapping[str, np.ndarray],
                  groups: Mapping[str, slice], primary: str, ledger: Ledger | None, o: Mapping[str, Any],
                  timings: dict[str, float], *, seed: int) -> OneRunAudit | dict[str, Any]:
    """The one-run ε lower bound on the audit records (checked against the training data when given)."""
    if records is None:
        return _skipped("no audit records were planted (see split_audit_records); the one-run audit needs records "
                        "included at random with probability 1/2")
    t0 = time.perf_counter()
    if train_data is not None:
        train_texts = set(train_data.texts)
        present = np.array([t in train_texts for t in records.records.texts])
        if not np.array_equal(present, records.included):
            raise ValueError(
                "privacy audit: the audit records in the training data do not match their inclusion flags "
                f"({int(present.sum())} found, {int(records.included.sum())} marked included); train on "
                "audit_records.training_set(train)"
            )
    s = scores[primary][groups["audit"]]
    delta = ledger.delta if ledger is not None else float(o["delta"])
    one_run = one_run_audit(s, records.included, delta=delta, alpha=float(o["alpha"]),
                            guesses=guess_counts(len(records), o["guess_fractions"]),
                            claimed_epsilon=ledger.epsilon if ledger is not None else None,
                            score_name=primary, seed=seed)
    timings["epsilon_lower_bound"] = time.perf_counter() - t0
    return one_run


def _dp_check_step(ledger: Ledger | None, mi_skip: str, records: AuditRecords | None, scores: Mapping[str, np.ndarray],
                   groups: Mapping[str, slice], primary: str, o: Mapping[str, Any],
                   timings: dict[str, float]) -> DPBoundCheck | dict[str, Any]:
    """Every membership experiment's TPR against what the ledger's privacy curve allows."""
    if ledger is None:
        return _skipped("no privacy ledger: the model makes no differential-privacy claim to check")
    experiments = {}
    if not mi_skip:
        for name, s in scores.items():
            experiments[f"members vs held-out ({name})"] = (s[groups["members"]], s[groups["nonmembers"]])
    if records is not None:
        s = scores[primary][groups["audit"]]
        experiments[f"audit records ({primary})"] = (s[records.included], s[~records.included])
    if not experiments:
        return _skipped("no membership experiment could be run (needs training and held-out data, or audit records)")
    t0 = time.perf_counter()
    dp_check = dp_bound_check(PrivacyCurve(ledger), experiments, fprs=o["check_fprs"], alpha=float(o["alpha"]))
    timings["dp_bound_check"] = time.perf_counter() - t0
    return dp_check


def _vulnerable_records(s_all: np.ndarray, groups: Mapping[str, slice], member_ids: Sequence[str], texts: Sequence[str],
                        attack: str, o: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The training records with the highest membership scores (texts only with ``show_training_text``)."""
    out: list[dict[str, Any]] = []
    if not o["n_vulnerable"]:
        return out
    s = s_all[groups["members"]]
    nonmem = s_all[groups["nonmembers"]]
    for rank, i in enumerate(np.argsort(-s, kind="mergesort")[: int(o["n_vulnerable"])], start=1):
        entry = {"rank": rank, "id": member_ids[i], "score": float(s[i]),
                 "nonmember_percentile": float(np.mean(nonmem >= s[i])), "attack": attack}
        if o["show_training_text"]:
            entry["text"] = texts[groups["members"].start + int(i)]
        out.append(entry)
    return out


def privacy_section(bundle: Any, train_data: TextDataset | None, holdout: TextDataset | None, options: Mapping[str, Any] | None = None,
                    *, seed: int = 0, show_progress: bool = True, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``privacy_audit`` section (JSON-ready dict) for a trained model, its training set and held-out data."""
    return audit_privacy(bundle, train_data, holdout, options, seed=seed, show_progress=show_progress, context=context).to_dict()


def analyse(bundle: Any, eval_data: TextDataset, options: Mapping[str, Any], *, train_data: TextDataset | None = None,
            seed: int = 0, show_progress: bool = True, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Pipeline entry point: the privacy audit of ``bundle``; non-members default to ``eval_data``.

    Without a ``ledger`` option the model section's ``privacy_ledger`` (``context["section"]``)
    is used, so one set of options serves a plain and a private model.
    """
    options = dict(options or {})
    holdout = options.pop("holdout", None)
    if holdout is None:
        holdout = eval_data
    if options.get("ledger") is None:
        section = (context or {}).get("section")
        ledger = section.get("privacy_ledger") if isinstance(section, Mapping) else None
        if isinstance(ledger, Mapping) and ledger:
            options["ledger"] = dict(ledger)
    return privacy_section(bundle, train_data, holdout, options, seed=seed, show_progress=show_progress, context=context)


