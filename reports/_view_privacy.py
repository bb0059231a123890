"""View of differentially private training (``models[*]["privacy_ledger"]``) for the report.

For every model with a privacy ledger: the guarantee in plain language (what ``(epsilon, delta)``
promises and what it does not), the ledger as a table, and warnings when the ledger contradicts
itself. When a private model and the non-private ``baseline`` both have held-out performance,
the utility cost of privacy per metric.

Reads untrusted results defensively: wrong types and missing keys degrade to "not available",
unknown keys are ignored, strings stay raw (the template escapes them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ._format import (
    DASH,
    as_dict,
    as_finite,
    as_int,
    as_list,
    as_text,
    fmt_num,
    fmt_pct,
    fmt_value,
)

MAX_NAMES = 300
FPRS = (0.001, 0.01, 0.1)
# metric key, label, higher is better, shown as percentage points
METRICS = (
    ("accuracy", "Accuracy", True),
    ("f1_macro", "F1 (macro)", True),
    ("roc_auc", "ROC-AUC", True),
    ("ece", "Expected calibration error", False),
    ("precision_macro", "Precision (macro)", True),
    ("recall_macro", "Recall (macro)", True),
)
# recipe setting, label (the reasons in the ledger are plain sentences)
RECIPE_LABELS = (
    ("batch_size", "Logical batch"),
    ("epochs", "Epochs"),
    ("lr", "Learning rate"),
    ("max_grad_norm", "Clipping norm"),
    ("clipping", "Clipping rule"),
    ("trainable", "Trained parameters"),
    ("warmup_ratio", "Schedule"),
    ("ema_decay", "Weight averaging"),
    ("dropout", "Dropout"),
    ("weight_decay", "Weight decay"),
    ("optimizer", "Optimizer"),
    ("linear_probe_epochs", "Linear probe"),
    ("num_labels", "Labels"),
)
ACCOUNTANT_TITLES = {
    "prv": "PRV (privacy random variables; numerical upper bound)",
    "rdp": "RDP (Rényi differential privacy; upper bound)",
    "gdp": "GDP (Gaussian approximation; can understate epsilon)",
}


def build(results: Mapping[str, Any]) -> dict[str, Any] | None:
    """The privacy view, or None when no model has a ledger and there is nothing to compare."""
    models = as_dict(results.get("models") if isinstance(results, Mapping) else None)
    ledgers = [(str(name), as_dict(as_dict(entry).get("privacy_ledger")), as_dict(entry)) for name, entry in models.items()]
    ledgers = [(name, led, entry) for name, led, entry in ledgers if led]
    views = [_ledger(name, led, entry, i) for i, (name, led, entry) in enumerate(ledgers, start=1)]
    comparisons = _comparisons(models, [name for name, _, _ in ledgers])
    if not views and not comparisons:
        return None
    return {"models": views, "comparisons": comparisons}


# ---------------------------------------------------------------------------------------------
# Ledger
# ---------------------------------------------------------------------------------------------


def _fmt_delta(d: float | None) -> str:
    if d is None:
        return DASH
    if d == 0:
        return "0"
    if d < 1e-3:
        mant, _, exp = f"{d:.2g}".partition("e")
        return f"{mant}e{int(exp)}" if exp else mant
    return fmt_num(d, 4)


def _fmt_factor(x: float) -> str:
    if not math.isfinite(x) or x > 1e12:
        return "more than a trillion"
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.2f}"


def _rows(pairs: list[tuple[str, str, bool]]) -> list[dict[str, Any]]:
    return [{"label": k, "value": v, "code": c} for k, v, c in pairs if v not in ("", None)]


def _ledger(name: str, led: dict[str, Any], entry: dict[str, Any], index: int) -> dict[str, Any]:
    eps = as_finite(led.get("epsilon"))
    delta = as_finite(led.get("delta"))
    sigma = as_finite(led.get("noise_multiplier"))
    q = as_finite(led.get("sample_rate"))
    steps = as_int(led.get("steps"))
    n = as_int(led.get("dataset_size"))
    clip = as_finite(led.get("max_grad_norm"))
    accountant = as_text(led.get("accountant")).strip().lower()
    scope = as_dict(led.get("trainable_scope"))
    scope_name = as_text(scope.get("name")) if scope else as_text(led.get("trainable_scope"))
    check = as_dict(led.get("independent_check"))
    pld, rdp = as_finite(check.get("pld")), as_finite(check.get("rdp"))
    secure = led.get("secure_rng")
    world = as_int(led.get("world_size"))

    warnings: list[str] = []
    if eps is None:
        warnings.append("No finite epsilon is recorded: the model was trained without noise (or the ledger is incomplete), "
                        "so it carries no differential-privacy guarantee.")
    if accountant == "gdp":
        warnings.append("Epsilon was computed with the GDP accountant, which can understate it several times over; "
                        "do not rely on it.")
    elif accountant and accountant not in ACCOUNTANT_TITLES:
        warnings.append("The accountant is not one this report knows; check how epsilon was computed.")
    if delta is not None and n and delta >= 1.0 / n:
        warnings.append(f"delta = {_fmt_delta(delta)} is not below 1/n = {_fmt_delta(1.0 / n)}: a procedure that publishes "
                        "one training example outright would meet such a guarantee.")
    if eps is not None and pld is not None and eps < pld * 0.99:
        warnings.append(f"The reported epsilon ({fmt_num(eps, 3)}) is below the value an independent accountant computes "
                        f"for the same settings ({fmt_num(pld, 3)}): the reported guarantee is overstated.")
    led_sha = as_text(led.get("model_sha256"))
    model_sha = as_text(as_dict(entry.get("identity")).get("sha256"))
    if led_sha and model_sha and led_sha != model_sha:
        warnings.append(f"The ledger was written for other weights (SHA-256 {led_sha[:12]}…) than the model audited here "
                        f"({model_sha[:12]}…): the guarantee does not necessarily apply to this model.")
    if secure is False:
        warnings.append("Noise and sampling used a pseudo-random generator (secure RNG off). That is standard for "
                        "experiments; for a formal release, retrain with a cryptographically secure generator.")

    statement = None
    promise: list[str] = []
    limits: list[str] = []
    fpr_rows: list[dict[str, str]] = []
    if eps is not None and delta is not None:
        factor = math.exp(min(eps, 700.0))
        statement = (f"({fmt_num(eps, 2)}, {_fmt_delta(delta)})-differential privacy for each training example, "
                     f"computed with the {accountant.upper() or 'unknown'} accountant.")
        promise = [
            (f"Whatever an attacker computes from the released model, the result is almost equally likely whether or not any "
            f"one particular example was in the training data: probabilities may differ by a factor of at most "
            f"e^ε ≈ {_fmt_factor(factor)}, except with probability δ = {_fmt_delta(delta)}."),
            ("This holds even for an attacker who knows every other training example, and for anything derived from the "
            "model later (predictions, explanations, fine-tuned copies)."),
            ("Equivalently, for a test that tries to tell whether one example was used: catch rate ≤ "
            "e^ε × false-alarm rate + δ. The table below evaluates this bound."),
        ]
        for fpr in FPRS:
            tpr = min(1.0, factor * fpr + delta)
            fpr_rows.append({"fpr": fmt_pct(fpr, 1), "tpr": fmt_pct(tpr, 1), "vacuous": tpr >= 1.0})
        limits = [
            ("The unit protected is one example (one text with its label). A person who contributed k examples is "
            "protected only at roughly k × ε."),
            ("It does not hide what is true of the data as a whole: learning that certain words signal a label is the "
            "purpose of training, not a leak."),
            ("It covers this training run only: not the evaluation data, not data used to choose settings (hyperparameter "
            "tuning on the same data spends extra privacy), and not the pre-training data of the backbone or the tokenizer."),
            f"With probability δ = {_fmt_delta(delta)} the guarantee may fail entirely.",
        ]
        if eps > 10:
            limits.append(f"ε = {fmt_num(eps, 2)} is large: the worst-case bound is weak and rules out little on its own; "
                          "the leakage audit shows what attacks actually achieve.")
        elif eps > 1:
            limits.append(f"At ε = {fmt_num(eps, 2)} the worst-case bound above does not rule out a strong membership test "
                          "(the rows at 100% are vacuous). Values between 1 and 10 are common in practice and, for realistic "
                          "attacks, much better than the worst case; the leakage audit measures those.")
        limits.append("It assumes the recorded procedure was followed exactly (Poisson sampling with the recorded rate, "
                      "per-example clipping, the recorded noise) and that the software implements it correctly.")

    names = [as_text(x) for x in as_list(led.get("trainable_parameter_names"))]
    rows = _rows([
        ("ε (epsilon)", fmt_num(eps, 3) if eps is not None else DASH, False),
        ("δ (delta)", _fmt_delta(delta), False),
        ("Accountant", ACCOUNTANT_TITLES.get(accountant, as_text(led.get("accountant"))), False),
        ("Target ε", fmt_num(as_finite(led.get("target_epsilon")), 3) if led.get("target_epsilon") is not None else "", False),
        ("Noise multiplier σ", fmt_num(sigma, 4) if sigma is not None else "", False),
        ("Clipping norm C", fmt_num(clip, 4) if clip is not None else "", False),
        ("Noise std. on the averaged gradient",
         fmt_num(sigma * clip / as_int(led.get("logical_batch_size")), 6)
         if sigma is not None and clip is not None and as_int(led.get("logical_batch_size")) else "", False),
        ("Sampling", as_text(led.get("sampling")), False),
        ("Sampling rate q", fmt_num(q, 5) if q is not None else "", False),
        ("Steps", fmt_num(steps) if steps is not None else "", False),
        ("Epochs", fmt_num(as_int(led.get("epochs"))) if as_int(led.get("epochs")) is not None else "", False),
        ("Logical batch (expected)", fmt_num(as_int(led.get("logical_batch_size"))) if as_int(led.get("logical_batch_size")) else "", False),
        ("Physical batch (max)", fmt_num(as_int(led.get("max_physical_batch_size"))) if as_int(led.get("max_physical_batch_size")) else "", False),
        ("Clipping", as_text(led.get("clipping")), False),
        ("Per-example gradients", as_text(led.get("grad_sample_mode")), True),
        ("Per-example gradients: why", as_text(as_dict(led.get("per_example_gradients")).get("reason")), False),
        ("Training examples", fmt_num(n) if n is not None else "", False),
        ("Training data SHA-256", as_text(led.get("dataset_sha256")), True),
        ("Trainable scope", scope_name, True),
        ("Trainable parameters", fmt_num(as_int(led.get("trainable_parameters"))) if as_int(led.get("trainable_parameters")) is not None else "", False),
        ("Processes", fmt_num(world) if world is not None else "", False),
        ("Secure RNG", fmt_value(secure) if isinstance(secure, bool) else "", False),
        ("Model SHA-256", as_text(led.get("model_sha256")), True),
        ("Created", as_text(led.get("created")), False),
    ])
    cross = []
    if check:
        lib = as_text(check.get("library")) or "independent accountant"
        ver = as_text(check.get("version"))
        label = f"{lib} {ver}".strip()
        if pld is not None:
            cross.append({"label": f"{label}, PLD", "value": fmt_num(pld, 3),
                          "ratio": fmt_num(eps / pld, 3) if eps is not None and pld > 0 else DASH})
        if rdp is not None:
            cross.append({"label": f"{label}, RDP", "value": fmt_num(rdp, 3),
                          "ratio": fmt_num(eps / rdp, 3) if eps is not None and rdp > 0 else DASH})
        if check.get("error") is not None:
            cross.append({"label": label, "value": as_text(check.get("error")), "ratio": DASH})
    per_epoch = [fmt_num(as_finite(x), 3) if as_finite(x) is not None else DASH for x in as_list(led.get("epsilon_per_epoch"))]
    recipe = _recipe(as_dict(led.get("recipe")))
    versions = [(str(k), as_text(v)) for k, v in as_dict(led.get("versions")).items()]
    return {
        "name": name,
        "anchor": f"privacy-{index}",
        "statement": statement,
        "promise": promise,
        "limits": limits,
        "fpr_rows": fpr_rows,
        "warnings": warnings,
        "rows": rows,
        "cross": cross,
        "per_epoch": per_epoch,
        "versions": versions,
        "names": names[:MAX_NAMES],
        "names_total": len(names),
        "names_truncated": len(names) > MAX_NAMES,
        "has_performance": bool(as_dict(entry.get("performance"))),
        "recipe": recipe,
    }


def _recipe(recipe: dict[str, Any]) -> dict[str, Any] | None:
    """The training recipe in plain words: one row per setting with its reason, and the rule that chose them."""
    reasons = as_dict(recipe.get("reasons"))
    if not reasons:
        return None
    known = dict(RECIPE_LABELS)
    given = {as_text(x) for x in as_list(recipe.get("given"))}
    rows = [{"label": known[k], "reason": as_text(reasons[k]), "given": k in given} for k, _ in RECIPE_LABELS if k in reasons]
    rows += [{"label": str(k), "reason": as_text(v), "given": k in given} for k, v in reasons.items() if k not in known]
    return {
        "rows": rows,
        "rule": as_text(recipe.get("rule")),
        "given": sorted(given),
        "effective_noise": fmt_num(as_finite(recipe.get("effective_noise")), 3) if as_finite(recipe.get("effective_noise")) is not None else "",
    }


# ---------------------------------------------------------------------------------------------
# Utility cost
# ---------------------------------------------------------------------------------------------


def _signed(x: float, pct: bool) -> str:
    if pct:
        s = f"{abs(x) * 100:.1f} pt"
    else:
        s = f"{abs(x):.3f}"
    if x > 0:
        return "+" + s
    if x < 0:
        return "\u2212" + s
    return s


def _comparisons(models: dict[str, Any], private_names: list[str]) -> list[dict[str, Any]]:
    base = as_dict(models.get("baseline"))
    base_perf = as_dict(base.get("performance"))
    if not base_perf or as_dict(base.get("privacy_ledger")):
        return []
    names = list(private_names)
    if "private" in models and "private" not in names:
        names.append("private")
    out = []
    for name in names:
        if name == "baseline":
            continue
        entry = as_dict(models.get(name))
        perf = as_dict(entry.get("performance"))
        if not perf:
            continue
        rows = []
        for key, label, higher in METRICS:
            p, b = as_finite(perf.get(key)), as_finite(base_perf.get(key))
            if p is None and b is None:
                continue
            pct = key != "ece" and key != "roc_auc"
            if p is not None and b is not None:
                diff = p - b
                better = (diff > 0) == higher
                verdict = "same" if abs(diff) < 5e-4 else ("better" if better else "worse")
                diff_text = _signed(diff, pct)
            else:
                verdict, diff_text = "", DASH
            rows.append({
                "label": label,
                "private": (fmt_pct(p, 1) if pct else fmt_num(p, 3)) if p is not None else DASH,
                "baseline": (fmt_pct(b, 1) if pct else fmt_num(b, 3)) if b is not None else DASH,
                "diff": diff_text,
                "verdict": verdict,
                "note": "lower is better" if not higher else "",
            })
        if not rows:
            continue
        notes = []
        b_train = as_dict(base.get("training"))
        p_train = as_dict(entry.get("training"))
        b_sha = as_text(b_train.get("data_sha256"))
        p_sha = as_text(p_train.get("data_sha256")) or as_text(as_dict(entry.get("privacy_ledger")).get("dataset_sha256"))
        if b_sha and p_sha and b_sha != p_sha:
            notes.append("The two models were trained on different data (the training-data hashes differ), so the difference "
                         "is not only the cost of privacy.")
        elif not (b_sha and p_sha):
            notes.append("The results do not record the training data of both models, so it is not certain they were trained "
                         "on the same data.")
        if as_text(base_perf.get("split")) != as_text(perf.get("split")) or as_int(base_perf.get("n")) != as_int(perf.get("n")):
            notes.append("The two models were evaluated on different splits or numbers of examples.")
        led = as_dict(entry.get("privacy_ledger"))
        eps = as_finite(led.get("epsilon"))
        out.append({
            "name": name,
            "epsilon": fmt_num(eps, 2) if eps is not None else "",
            "delta": _fmt_delta(as_finite(led.get("delta"))) if led.get("delta") is not None else "",
            "n": fmt_num(as_int(perf.get("n"))) if as_int(perf.get("n")) is not None else "",
            "rows": rows,
            "notes": notes,
        })
    return out
