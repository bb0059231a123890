"""Compare saved audits: pair models from results.json files and compute what changed.

Plain data in, plain data out, without torch: ``audit compare`` reads results.json files, pairs
their models (:func:`default_pairs`, :func:`parse_pair`) and builds one comparison dict
(:func:`compare`) that ``reports.write_comparison`` renders and that is saved as compare.json.

Every difference is *B minus A*: A is the reference (the last release, the plain model, the run
before a fix) and B the candidate. When both models were evaluated on the same data (equal data
hashes) their per-example outcomes are paired: the accuracy difference gets a Newcombe hybrid
score interval and an exact McNemar test, the macro-F1 difference a paired bootstrap interval.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

COMPARISON_VERSION = 1
SUPPORTED_SCHEMA_VERSION = 1
#: Most pairs of explanations of the same example shown per model pair.
MAX_MATCHED_EXPLANATIONS = 6
#: Check statuses from best to worst (the order the audit report uses).
STATUS_RANK = {"pass": 0, "warn": 2, "error": 3, "fail": 4}

Ref = tuple[int, str]  # (index of the results file, model name)


class CompareError(ValueError):
    """Results that cannot be compared as asked (unreadable file, unknown model, different data)."""


@dataclass
class Source:
    """One results.json given to the comparison, labelled A, B, C... in the order given."""

    label: str
    path: str
    results: dict[str, Any]

    @property
    def models(self) -> dict[str, Any]:
        models = self.results.get("models")
        return models if isinstance(models, dict) else {}

    @property
    def data_sha256(self) -> str | None:
        """The hash of the evaluation data the models were scored on (``eval_sha256``, else ``sha256``)."""
        data = self.results.get("data") if isinstance(self.results.get("data"), dict) else {}
        value = data.get("eval_sha256") or data.get("sha256")
        return str(value) if value else None

    def describe(self) -> dict[str, Any]:
        run = self.results.get("run") if isinstance(self.results.get("run"), dict) else {}
        data = self.results.get("data") if isinstance(self.results.get("data"), dict) else {}
        return {"label": self.label, "path": self.path, "created": run.get("created"), "command": run.get("command"),
                "data_sha256": self.data_sha256, "data_source": data.get("source"), "models": list(self.models)}


def file_label(index: int) -> str:
    """A, B, ..., Z, then 27, 28, ... (the 1-based position) for very long lists."""
    return chr(ord("A") + index) if index < 26 else str(index + 1)


def load_source(path: str | Path, index: int) -> Source:
    """Read one results.json; errors name the file."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{p}: no such results file") from None
    except UnicodeDecodeError as exc:
        raise CompareError(f"{p}: not UTF-8 text ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise CompareError(f"{p}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from exc
    if not isinstance(data, dict) or "schema_version" not in data:
        raise CompareError(f"{p}: not an audit results.json (no schema_version)")
    version = data["schema_version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CompareError(f"{p}: schema_version must be a positive integer, got {version!r}")
    if version > SUPPORTED_SCHEMA_VERSION:
        raise CompareError(f"{p}: schema_version {version} is newer than this library supports "
                           f"({SUPPORTED_SCHEMA_VERSION}); upgrade the library")
    if not isinstance(data.get("models"), dict) or not data["models"]:
        raise CompareError(f"{p}: holds no model sections")
    return Source(file_label(index), str(p), data)


def load_sources(paths: Sequence[str | Path]) -> list[Source]:
    return [load_source(p, i) for i, p in enumerate(paths)]


# ---------------------------------------------------------------------------------------------
# Pairing


def _ref_name(sources: Sequence[Source], ref: Ref) -> str:
    return f"{sources[ref[0]].label}:{ref[1]}"


def _resolve_file(token: str, sources: Sequence[Source], spec: str) -> int:
    for i, s in enumerate(sources):
        if token.upper() == s.label or token == str(i + 1):
            return i
    labels = ", ".join(f"{s.label} = {s.path}" for s in sources)
    raise CompareError(f"--pair {spec!r}: no results file {token!r} (files: {labels})")


def parse_pair(spec: str, sources: Sequence[Source]) -> tuple[Ref, Ref]:
    """``A:name=B:name``: model ``name`` of file A (the reference) against model ``name`` of file B.

    Files are named by letter in the order given (A, B, C...) or by 1-based position. Without a
    file, the left model is from A and the right from B, or both from A when one file is given.
    """
    if spec.count("=") != 1:
        raise CompareError(f"--pair {spec!r}: expected REF=REF such as A:baseline=B:baseline")
    sides = spec.split("=")
    refs: list[Ref] = []
    for side, default in zip(sides, (0, min(1, len(sources) - 1))):
        m = re.match(r"^([A-Za-z]|[0-9]+):(.+)$", side.strip())
        index, name = (_resolve_file(m.group(1), sources, spec), m.group(2)) if m else (default, side.strip())
        if not name:
            raise CompareError(f"--pair {spec!r}: a model name is empty")
        if name not in sources[index].models:
            known = ", ".join(repr(n) for n in sources[index].models)
            raise CompareError(f"--pair {spec!r}: {sources[index].path} ({sources[index].label}) has no model {name!r}; "
                               f"it holds {known}")
        refs.append((index, name))
    return refs[0], refs[1]


def default_pairs(sources: Sequence[Source]) -> tuple[list[tuple[Ref, Ref]], list[str]]:
    """Pairs to compare when none are given, and notes on models left unpaired.

    One file: its first model against each other model (the demo's "baseline" against
    "private"). Several files: every model of A against the same-named model of each other
    file; two files holding one model each are paired whatever the names.
    """
    if not sources:
        raise CompareError("no results files to compare")
    if len(sources) == 1:
        names = list(sources[0].models)
        if len(names) < 2:
            raise CompareError(f"{sources[0].path} holds one model ({names[0]!r}); give a second results.json to "
                               f"compare it with")
        return [((0, names[0]), (0, n)) for n in names[1:]], []
    pairs: list[tuple[Ref, Ref]] = []
    notes: list[str] = []
    first = list(sources[0].models)
    for j in range(1, len(sources)):
        other = list(sources[j].models)
        found = [((0, n), (j, n)) for n in first if n in sources[j].models]
        if not found and len(first) == 1 and len(other) == 1:
            found = [((0, first[0]), (j, other[0]))]
        if not found:
            raise CompareError(
                f"no model of {sources[0].path} ({', '.join(first)}) has a same-named model in {sources[j].path} "
                f"({', '.join(other)}); name the pairs with --pair A:NAME=B:NAME")
        paired_a = {a[1] for a, _ in found}
        paired_b = {b[1] for _, b in found}
        notes += [f"{sources[0].label}:{n} has no counterpart in {sources[j].label} and is not compared"
                  for n in first if n not in paired_a]
        notes += [f"{sources[j].label}:{n} has no counterpart in A and is not compared"
                  for n in other if n not in paired_b]
        pairs += found
    return pairs, notes


# ---------------------------------------------------------------------------------------------
# Statistics


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (without continuity correction)."""
    from scipy.stats import norm

    if n <= 0:
        return 0.0, 1.0
    z = float(norm.ppf(0.5 + level / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_paired_interval(both: int, first_only: int, second_only: int, neither: int,
                             level: float = 0.95) -> tuple[float, float]:
    """Newcombe's hybrid score interval (1998, method 10) for p1 - p2 of paired proportions.

    ``first_only`` counts pairs where only the first member succeeds, ``second_only`` where only
    the second does. The Wilson intervals of both proportions are combined with the correlation
    of the pair (``phi``, with the usual correction towards 0 when it is positive).
    """
    n = both + first_only + second_only + neither
    if n == 0:
        return -1.0, 1.0
    k1, k2 = both + first_only, both + second_only
    p1, p2 = k1 / n, k2 / n
    l1, u1 = wilson_interval(k1, n, level)
    l2, u2 = wilson_interval(k2, n, level)
    margins = k1 * (n - k1) * k2 * (n - k2)
    phi = 0.0
    if margins > 0:
        cross = both * neither - first_only * second_only
        if cross > n / 2:
            phi = (cross - n / 2) / math.sqrt(margins)
        elif cross < 0:
            phi = cross / math.sqrt(margins)
    d = p1 - p2
    lower = d - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    upper = d + math.sqrt(max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2))
    return max(-1.0, lower), min(1.0, upper)


def mcnemar_exact_p(first_only: int, second_only: int) -> float:
    """Two-sided exact McNemar test: the discordant pairs against a fair coin."""
    from scipy.stats import binomtest

    m = first_only + second_only
    return 1.0 if m == 0 else float(binomtest(first_only, m, 0.5).pvalue)


def macro_f1(y: np.ndarray, pred: np.ndarray, k: int) -> float:
    """Macro-averaged F1 over ``k`` classes (a class never true nor predicted scores 0)."""
    cm = np.bincount(y * k + pred, minlength=k * k).reshape(k, k)
    tp = np.diag(cm).astype(np.float64)
    denom = cm.sum(0) + cm.sum(1)
    return float(np.mean(np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)))


def paired_bootstrap_f1(y: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, k: int, *, n_boot: int = 1000,
                        level: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Macro-F1 difference (B - A) with a percentile interval from resampling examples (pairs kept)."""
    rng = np.random.default_rng(seed)
    n = len(y)
    diffs = np.empty(n_boot)
    for r in range(n_boot):
        idx = rng.integers(0, n, n)
        diffs[r] = macro_f1(y[idx], pred_b[idx], k) - macro_f1(y[idx], pred_a[idx], k)
    lo, hi = np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2])
    return {"a": macro_f1(y, pred_a, k), "b": macro_f1(y, pred_b, k),
            "difference": macro_f1(y, pred_b, k) - macro_f1(y, pred_a, k), "ci": [float(lo), float(hi)],
            "ci_level": level, "method": f"paired bootstrap over examples ({n_boot} resamples, percentile interval)",
            "seed": seed}


def _outcomes(perf: dict[str, Any]) -> dict[str, Any] | None:
    rec = perf.get("per_example")
    if not isinstance(rec, dict) or not all(isinstance(rec.get(k), list) for k in ("ids", "true", "predicted")):
        return None
    if not len(rec["ids"]) == len(rec["true"]) == len(rec["predicted"]):
        return None
    return rec


def _align(rec_a: dict[str, Any], rec_b: dict[str, Any]) -> tuple[list[int], list[int]] | str:
    """Positions of the same examples in both records, or why they cannot be paired."""
    ids_a, ids_b = [str(i) for i in rec_a["ids"]], [str(i) for i in rec_b["ids"]]
    if ids_a == ids_b:
        order = list(range(len(ids_a)))
        pos_a, pos_b = order, order
    elif len(set(ids_a)) == len(ids_a) and len(set(ids_b)) == len(ids_b) and set(ids_a) == set(ids_b):
        where = {i: k for k, i in enumerate(ids_b)}
        pos_a, pos_b = list(range(len(ids_a))), [where[i] for i in ids_a]
    else:
        return "the two models' per-example records hold different example ids"
    for i, j in zip(pos_a, pos_b):
        if rec_a["true"][i] != rec_b["true"][j]:
            return f"example {ids_a[i]!r} has different true labels in the two records"
    return pos_a, pos_b


def _correct(rec: dict[str, Any], positions: list[int]) -> np.ndarray:
    true, pred = rec["true"], rec["predicted"]
    if any(isinstance(t, list) for t in true):  # multi-label: the exact label set
        return np.array([sorted(true[i]) == sorted(pred[i]) for i in positions], dtype=bool)
    return np.array([true[i] == pred[i] for i in positions], dtype=bool)


def paired_statistics(perf_a: dict[str, Any], perf_b: dict[str, Any], *, level: float = 0.95, n_boot: int = 1000,
                      seed: int = 0) -> dict[str, Any]:
    """Paired comparison of two models' outcomes on the same examples (B - A).

    The accuracy (for a multi-label model: subset accuracy) difference gets Newcombe's hybrid
    score interval and an exact McNemar p-value; a single-label model's macro-F1 difference a
    paired bootstrap interval. Returns ``{"skipped": reason}`` when the outcomes cannot be paired.
    """
    rec_a, rec_b = _outcomes(perf_a), _outcomes(perf_b)
    missing = [side for side, rec in (("A", rec_a), ("B", rec_b)) if rec is None]
    if missing:
        return {"skipped": f"the results of {' and '.join(missing)} hold no per-example outcomes "
                           "(performance.per_example); re-run the audit with this version to get paired statistics"}
    aligned = _align(rec_a, rec_b)
    if isinstance(aligned, str):
        return {"skipped": aligned}
    pos_a, pos_b = aligned
    ca, cb = _correct(rec_a, pos_a), _correct(rec_b, pos_b)
    n = int(len(ca))
    if n == 0:
        return {"skipped": "no evaluation examples"}
    both, a_only = int((ca & cb).sum()), int((ca & ~cb).sum())
    b_only, neither = int((~ca & cb).sum()), int((~ca & ~cb).sum())
    lo, hi = newcombe_paired_interval(both, b_only, a_only, neither, level)
    multi = any(isinstance(t, list) for t in rec_a["true"])
    out: dict[str, Any] = {
        "n": n, "metric": "subset_accuracy" if multi else "accuracy",
        "both_correct": both, "only_a_correct": a_only, "only_b_correct": b_only, "neither_correct": neither,
        "a": (both + a_only) / n, "b": (both + b_only) / n, "difference": (b_only - a_only) / n,
        "ci": [lo, hi], "ci_level": level,
        "interval": "Newcombe hybrid score interval for paired proportions (1998, method 10)",
        "mcnemar_p": mcnemar_exact_p(a_only, b_only),
        "test": "exact McNemar test (two-sided binomial test on the examples only one model gets right)",
    }
    out["significant"] = not (lo <= 0.0 <= hi)
    if not multi:
        y = np.asarray([rec_a["true"][i] for i in pos_a], dtype=int)
        pa = np.asarray([rec_a["predicted"][i] for i in pos_a], dtype=int)
        pb = np.asarray([rec_b["predicted"][j] for j in pos_b], dtype=int)
        k = int(max(y.max(), pa.max(), pb.max())) + 1
        labels = perf_a.get("label_names")
        k = max(k, len(labels) if isinstance(labels, list) else 0)
        out["f1_macro"] = paired_bootstrap_f1(y, pa, pb, k, n_boot=n_boot, level=level, seed=seed)
    return out


# ---------------------------------------------------------------------------------------------
# Deltas of the saved numbers


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _get(obj: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(obj, dict):
            obj = obj.get(key)
        elif isinstance(obj, list) and isinstance(key, int) and -len(obj) <= key < len(obj):
            obj = obj[key]
        else:
            return None
    return obj


def delta_row(key: str, label: str, a: Any, b: Any, better: str) -> dict[str, Any]:
    """One compared number: A, B, B - A, which direction is better and whether B moved that way."""
    fa, fb = _num(a), _num(b)
    delta = fb - fa if fa is not None and fb is not None else None
    change = None
    if delta is not None:
        if abs(delta) <= 1e-12:
            change = "same"
        else:
            change = "better" if (delta > 0) == (better == "higher") else "worse"
    return {"key": key, "label": label, "a": fa, "b": fb, "delta": delta, "better": better, "change": change}


SINGLE_LABEL_METRICS = (
    ("accuracy", "Accuracy", "higher"), ("f1_macro", "F1 (macro)", "higher"),
    ("precision_macro", "Precision (macro)", "higher"), ("recall_macro", "Recall (macro)", "higher"),
    ("roc_auc", "ROC-AUC", "higher"), ("ece", "Expected calibration error", "lower"),
)
MULTI_LABEL_METRICS = (
    ("f1_micro", "F1 (micro)", "higher"), ("subset_accuracy", "Subset accuracy", "higher"),
    ("hamming_loss", "Hamming loss", "lower"), ("f1_macro", "F1 (macro)", "higher"),
    ("roc_auc", "ROC-AUC", "higher"), ("ece", "Calibration error (mean over labels)", "lower"),
)


def performance_deltas(perf_a: dict[str, Any], perf_b: dict[str, Any]) -> list[dict[str, Any]]:
    multi = "multi_label" in (perf_a.get("problem_type"), perf_b.get("problem_type"))
    metrics = MULTI_LABEL_METRICS if multi else SINGLE_LABEL_METRICS
    rows = [delta_row(k, label, perf_a.get(k), perf_b.get(k), better) for k, label, better in metrics]
    return [r for r in rows if r["a"] is not None or r["b"] is not None]


def _applicable(section: Any) -> dict[str, Any] | None:
    return section if isinstance(section, dict) and section and not section.get("not_applicable") else None


def faithfulness_deltas(a: Any, b: Any) -> dict[str, Any] | None:
    """Per explanation method, each faithfulness metric's mean and each plausibility score."""
    a, b = _applicable(a), _applicable(b)
    if not (a and b):
        return None
    fa, fb = _get(a, "faithfulness") or {}, _get(b, "faithfulness") or {}
    metrics = {**(_get(fa, "metrics") or {}), **(_get(fb, "metrics") or {})}
    methods = [m for m in (_get(fa, "methods") or []) if m in (_get(fb, "methods") or [])]
    rows = []
    for method in methods:
        for key, info in metrics.items():
            better = info.get("better", "higher") if isinstance(info, dict) else "higher"
            label = info.get("label", key) if isinstance(info, dict) else key
            rows.append(delta_row(f"{method}.{key}", label, _get(fa, "summary", method, key, "mean"),
                                  _get(fb, "summary", method, key, "mean"), better) | {"method": method})
        for key, label in (("auprc", "Plausibility AUPRC"), ("token_f1", "Plausibility token F1")):
            row = delta_row(f"{method}.{key}", label, _get(a, "plausibility", "summary", method, key, "mean"),
                            _get(b, "plausibility", "summary", method, key, "mean"), "higher") | {"method": method}
            if row["a"] is not None or row["b"] is not None:
                rows.append(row)
    rows = [r for r in rows if r["a"] is not None or r["b"] is not None]
    recommended = {"a": _get(a, "recommendation", "method"), "b": _get(b, "recommendation", "method")}
    return {"rows": rows, "recommended": recommended} if rows else None


def robustness_deltas(a: Any, b: Any) -> list[dict[str, Any]] | None:
    """Invariance failure rates per test, attack success rates per budget, certified fractions."""
    a, b = _applicable(a), _applicable(b)
    if not (a and b):
        return None
    rows = []
    tests_a = {t.get("name"): t for t in (_get(a, "invariance", "tests") or []) if isinstance(t, dict)}
    tests_b = {t.get("name"): t for t in (_get(b, "invariance", "tests") or []) if isinstance(t, dict)}
    for name in [n for n in tests_a if n in tests_b]:
        rows.append(delta_row(f"invariance.{name}", f"Invariance failure rate: {name}", tests_a[name].get("fail_rate"),
                              tests_b[name].get("fail_rate"), "lower"))
    budgets_a = {x.get("k"): x for x in (_get(a, "char_attack", "budgets") or []) if isinstance(x, dict)}
    budgets_b = {x.get("k"): x for x in (_get(b, "char_attack", "budgets") or []) if isinstance(x, dict)}
    for k in [k for k in budgets_a if k in budgets_b]:
        rows.append(delta_row(f"char_attack.{k}", f"Character attack success rate (up to {k} edits)",
                              budgets_a[k].get("success_rate"), budgets_b[k].get("success_rate"), "lower"))
    rows.append(delta_row("word_attack.success_rate", "Word attack success rate", _get(a, "word_attack", "success_rate"),
                          _get(b, "word_attack", "success_rate"), "lower"))
    rows.append(delta_row("word_attack.accuracy_under_attack", "Accuracy under the word attack",
                          _get(a, "word_attack", "accuracy_under_attack"), _get(b, "word_attack", "accuracy_under_attack"),
                          "higher"))
    rows.append(delta_row("radius1.certified_fraction", "Certified at radius 1 (share of texts)",
                          _get(a, "radius1", "certified_fraction"), _get(b, "radius1", "certified_fraction"), "higher"))
    rows = [r for r in rows if r["a"] is not None or r["b"] is not None]
    return rows or None


def leakage_deltas(model_a: dict[str, Any], model_b: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Membership-inference AUC and TPR at low FPR, canary exposure, ε lower bound, claimed ε."""
    a, b = _applicable(model_a.get("privacy_audit")), _applicable(model_b.get("privacy_audit"))
    rows = []
    if a and b:
        def attack(sec: dict[str, Any]) -> dict[str, Any]:
            mi = _get(sec, "membership_inference") or {}
            return _get(mi, "attacks", mi.get("primary")) or {}

        aa, ab = attack(a), attack(b)
        rows.append(delta_row("membership.auc", "Membership inference ROC-AUC", _get(aa, "auc", "value"),
                              _get(ab, "auc", "value"), "lower"))
        tpr_b = {t.get("fpr"): t for t in (_get(ab, "tpr_at_fpr") or []) if isinstance(t, dict)}
        for t in (_get(aa, "tpr_at_fpr") or []):
            if isinstance(t, dict) and t.get("fpr") in tpr_b:
                rows.append(delta_row(f"membership.tpr@{t['fpr']}", f"Membership TPR at {_fmt_fpr(t['fpr'])} FPR",
                                      t.get("value"), tpr_b[t["fpr"]].get("value"), "lower"))
        rows.append(delta_row("membership.advantage", "Membership advantage (TPR - FPR, best threshold)",
                              aa.get("advantage"), ab.get("advantage"), "lower"))
        rows.append(delta_row("canaries.max_exposure", "Largest canary exposure (bits)", _get(a, "canaries", "max_exposure"),
                              _get(b, "canaries", "max_exposure"), "lower"))
        rows.append(delta_row("epsilon_lower_bound", "Empirical ε lower bound",
                              _get(a, "epsilon_lower_bound", "epsilon_lower_bound"),
                              _get(b, "epsilon_lower_bound", "epsilon_lower_bound"), "lower"))
    eps_a, eps_b = _get(model_a, "privacy_ledger", "epsilon"), _get(model_b, "privacy_ledger", "epsilon")
    if eps_a is not None or eps_b is not None:
        rows.append(delta_row("privacy_ledger.epsilon", "Claimed ε (DP-SGD ledger)", eps_a, eps_b, "lower"))
    rows = [r for r in rows if r["a"] is not None or r["b"] is not None]
    return rows or None


def _fmt_fpr(fpr: Any) -> str:
    f = _num(fpr)
    return f"{f * 100:g}%" if f is not None else str(fpr)


# ---------------------------------------------------------------------------------------------
# Checks and explanations


def _model_checks(results: dict[str, Any], model: str) -> dict[str, dict[str, Any]]:
    """The model's checks by name without the ``"<model>: "`` prefix, in their saved order."""
    prefix = f"{model}: "
    out: dict[str, dict[str, Any]] = {}
    for c in results.get("checks") or []:
        if isinstance(c, dict) and isinstance(c.get("name"), str) and c["name"].startswith(prefix):
            out.setdefault(c["name"][len(prefix):], c)
    return out


def check_changes(results_a: dict[str, Any], model_a: str, results_b: dict[str, Any], model_b: str) -> dict[str, Any]:
    """Checks whose status differs between A and B, regressions first (worst new status, then the
    largest step, e.g. pass→fail before warn→fail), then new failing checks, improvements,
    new passing checks and checks B no longer has."""
    ca, cb = _model_checks(results_a, model_a), _model_checks(results_b, model_b)
    changes, unchanged = [], 0
    for order, name in enumerate(list(ca) + [n for n in cb if n not in ca]):
        sa, sb = _get(ca, name, "status"), _get(cb, name, "status")
        ra, rb = STATUS_RANK.get(sa, 1), STATUS_RANK.get(sb, 1)
        if name in ca and name in cb:
            if sa == sb:
                unchanged += 1
                continue
            kind, group = ("regression", 0) if rb > ra else ("improvement", 2) if rb < ra else ("changed", 2)
        elif name in cb:
            kind, group = "new", (1 if rb > 0 else 3)
        else:
            kind, group = "removed", 4
        changes.append({
            "name": name, "kind": kind, "a_status": sa, "b_status": sb,
            "a_value": _get(ca, name, "value"), "b_value": _get(cb, name, "value"),
            "threshold": _get(cb, name, "threshold") if name in cb else _get(ca, name, "threshold"),
            "a_message": _get(ca, name, "message"), "b_message": _get(cb, name, "message"),
            "_key": (group, -rb, -(rb - ra), order) if group < 2 else (group, 0, 0, order),
        })
    changes.sort(key=lambda c: c.pop("_key"))
    return {"changes": changes, "unchanged": unchanged, "n_regressions": sum(c["kind"] == "regression" for c in changes)}


def matched_explanations(model_a: dict[str, Any], model_b: dict[str, Any],
                         limit: int = MAX_MATCHED_EXPLANATIONS) -> dict[str, Any] | None:
    """Explanations of the same example (same id and text) by both models, side by side."""
    ea, eb = model_a.get("explanations"), model_b.get("explanations")
    if not (isinstance(ea, dict) and isinstance(eb, dict)):
        return None

    def key(e: dict[str, Any]) -> tuple[str, str, Any]:
        return str(e.get("id")), str(e.get("text")), e.get("target")

    by_b: dict[tuple[str, str, Any], dict[str, Any]] = {}
    for e in eb.get("examples") or []:
        if isinstance(e, dict):
            by_b.setdefault(key(e), e)
    matched = [{"id": str(e.get("id")), "text": e.get("text"), "a": e, "b": by_b[key(e)]}
               for e in ea.get("examples") or [] if isinstance(e, dict) and key(e) in by_b]
    return {"methods_a": ea.get("methods") or [], "methods_b": eb.get("methods") or [],
            "config_a": ea.get("config") or {}, "config_b": eb.get("config") or {},
            "n_matched": len(matched), "pairs": matched[:limit]}


# ---------------------------------------------------------------------------------------------
# The comparison


def _side(source: Source, name: str) -> dict[str, Any]:
    model = source.models[name]
    identity = model.get("identity") if isinstance(model.get("identity"), dict) else {}
    perf = model.get("performance") if isinstance(model.get("performance"), dict) else {}
    return {"file": source.label, "path": source.path, "model": name, "data_sha256": source.data_sha256,
            "identity": {k: identity.get(k) for k in ("source", "sha256", "architecture", "n_parameters") if k in identity},
            "n_eval": perf.get("n"), "problem_type": perf.get("problem_type"), "label_names": perf.get("label_names"),
            "epsilon": _get(model, "privacy_ledger", "epsilon"), "created": _get(source.results, "run", "created")}


def _data_check(sa: Source, sb: Source, allow_different: bool) -> dict[str, Any]:
    ha, hb = sa.data_sha256, sb.data_sha256
    same = sa is sb or (ha is not None and ha == hb)
    if same:
        return {"same": True, "a_sha256": ha, "b_sha256": hb}
    what = (f"{sa.path} ({sa.label}) was evaluated on data with sha256 {ha or 'unknown (no hash recorded)'}, "
            f"{sb.path} ({sb.label}) on data with sha256 {hb or 'unknown (no hash recorded)'}")
    if not allow_different:
        raise CompareError(f"the evaluation data differ: {what}. Their metrics are not measured on the same examples; "
                           "pass --allow-different-data to compare them anyway (without paired statistics)")
    return {"same": False, "a_sha256": ha, "b_sha256": hb,
            "note": f"Different evaluation data: {what}. Differences mix the change of model with the change of "
                    "data; paired statistics are not computed."}


def compare_pair(sources: Sequence[Source], ref_a: Ref, ref_b: Ref, *, allow_different_data: bool = False,
                 level: float = 0.95, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Everything compared for one pair of models (B - A)."""
    sa, sb = sources[ref_a[0]], sources[ref_b[0]]
    ma, mb = sa.models[ref_a[1]], sb.models[ref_b[1]]
    if not isinstance(ma, dict) or not isinstance(mb, dict):
        raise CompareError(f"{_ref_name(sources, ref_a)} or {_ref_name(sources, ref_b)} is not a model section")
    data = _data_check(sa, sb, allow_different_data)
    perf_a = ma.get("performance") if isinstance(ma.get("performance"), dict) else {}
    perf_b = mb.get("performance") if isinstance(mb.get("performance"), dict) else {}
    if data["same"]:
        paired = paired_statistics(perf_a, perf_b, level=level, n_boot=n_boot, seed=seed)
    else:
        paired = {"skipped": "the models were evaluated on different data"}
    return {
        "title": f"{_ref_name(sources, ref_a)} \u2192 {_ref_name(sources, ref_b)}",
        "a": _side(sa, ref_a[1]), "b": _side(sb, ref_b[1]),
        "same_model": _get(ma, "identity", "sha256") is not None
                      and _get(ma, "identity", "sha256") == _get(mb, "identity", "sha256"),
        "data": data,
        "performance": performance_deltas(perf_a, perf_b),
        "paired": paired,
        "checks": check_changes(sa.results, ref_a[1], sb.results, ref_b[1]),
        "faithfulness": faithfulness_deltas(ma.get("faithfulness"), mb.get("faithfulness")),
        "robustness": robustness_deltas(ma.get("robustness"), mb.get("robustness")),
        "leakage": leakage_deltas(ma, mb),
        "explanations": matched_explanations(ma, mb),
    }


def compare(sources: Sequence[Source], pairs: Sequence[tuple[Ref, Ref]] | None = None, *,
            allow_different_data: bool = False, level: float = 0.95, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The comparison document: the inputs, then one entry per model pair (default pairs when none given)."""
    notes: list[str] = []
    if not pairs:
        pairs, notes = default_pairs(sources)
    compared = [compare_pair(sources, a, b, allow_different_data=allow_different_data, level=level, n_boot=n_boot,
                             seed=seed) for a, b in pairs]
    return {
        "comparison_version": COMPARISON_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "direction": "B - A: A is the reference, B the candidate",
        "inputs": [s.describe() for s in sources],
        "allow_different_data": bool(allow_different_data),
        "protocol": {"ci_level": level, "bootstrap_resamples": n_boot, "seed": seed},
        "notes": notes,
        "pairs": compared,
    }


def compare_files(paths: Sequence[str | Path], pair_specs: Sequence[str] = (), *, allow_different_data: bool = False,
                  seed: int = 0) -> dict[str, Any]:
    """Load results files, resolve ``--pair`` specs (or the default pairing) and compare."""
    sources = load_sources(paths)
    pairs = [parse_pair(spec, sources) for spec in pair_specs]
    return compare(sources, pairs or None, allow_different_data=allow_different_data, seed=seed)
