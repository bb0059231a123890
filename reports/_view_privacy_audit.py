"""View of the privacy leakage audit (``models[*]["privacy_audit"]``) for the report.

Reads untrusted results defensively: wrong types and missing keys degrade to "not available",
unknown keys are ignored. Strings stay raw (the template escapes them). Training texts are shown
only when the section says the user opted in (``protocol.show_training_text``) and the text is
there; canaries are shown by their masked sentence only. Charts are inline SVG built here from
numbers; colours come from a fixed palette chosen by position, never from the data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ._format import DASH, as_dict, as_finite, as_int, as_list, as_text, fmt_num, fmt_pct

# Okabe-Ito, colour-blind safe; the series index picks the colour.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")
GREY = "#6e7781"
BOUND_COLOUR = "#1f2328"
MAX_SERIES = 12
MAX_POINTS = 400
MAX_ROWS = 50
ATTACK_TITLES = {"loss": "Loss threshold", "reference": "Reference-calibrated"}
WIDTH, HEIGHT = 380.0, 320.0
LEFT, RIGHT, TOP, BOTTOM = 52.0, 14.0, 12.0, 42.0


def build(results: Mapping[str, Any]) -> dict[str, Any] | None:
    """The privacy-audit view, or None when no model has a privacy_audit section."""
    models = as_dict(results.get("models") if isinstance(results, Mapping) else None)
    entries = [(str(name), as_dict(as_dict(entry).get("privacy_audit"))) for name, entry in models.items()]
    entries = [(name, sec) for name, sec in entries if sec]
    if not entries:
        return None
    rank = {"baseline": 0, "private": 1}
    entries.sort(key=lambda e: rank.get(e[0], 2))  # stable: others keep their order
    views = [_model(name, sec, i) for i, (name, sec) in enumerate(entries)]
    series, bounds = [], []
    for v in views:
        series.extend(v.pop("_series"))
        bounds.extend(v.pop("_bounds"))
    series = series[:MAX_SERIES]
    for i, s in enumerate(series):
        s["colour"] = PALETTE[i % len(PALETTE)]
    for b in bounds:
        b["colour"] = BOUND_COLOUR
    charts = _charts(series, bounds) if series else None
    return {
        "models": views,
        "comparison": _comparison(views),
        "charts": charts,
        "legend": [{"label": s["label"], "colour": s["colour"], "dash": s["dash"]} for s in series]
        + [{"label": b["label"], "colour": b["colour"], "dash": b["dash"]} for b in bounds[:MAX_SERIES]],
        "overall": _overall(views),
    }


# ---------------------------------------------------------------------------------------------
# One model
# ---------------------------------------------------------------------------------------------


def _ci(value: Any, pct: bool = False) -> str:
    ci = as_list(value)
    if len(ci) != 2:
        return ""
    lo, hi = as_finite(ci[0]), as_finite(ci[1])
    if lo is None or hi is None:
        return ""
    f = (lambda x: fmt_pct(x, 1)) if pct else fmt_num
    return f"[{f(lo)}, {f(hi)}]"


def _fpr_label(fpr: float | None) -> str:
    if fpr is None:
        return DASH
    return f"{fpr * 100:g}%"


def _skip_reason(d: dict[str, Any]) -> str:
    if d.get("skipped") is True:
        return as_text(d.get("reason")) or "not run"
    return ""


def _model(name: str, sec: dict[str, Any], index: int) -> dict[str, Any]:
    protocol = as_dict(sec.get("protocol"))
    show_text = protocol.get("show_training_text") is True
    mi = _membership(name, as_dict(sec.get("membership_inference")))
    can = _canaries(as_dict(sec.get("canaries")))
    lb = _lower_bound(as_dict(sec.get("epsilon_lower_bound")))
    dp = _dp(name, as_dict(sec.get("dp_bound_check")))
    vulnerable = []
    for r in (as_dict(x) for x in as_list(sec.get("vulnerable_records"))[:MAX_ROWS]):
        text = r.get("text") if show_text and isinstance(r.get("text"), str) else None
        vulnerable.append({
            "rank": fmt_num(as_int(r.get("rank"))), "id": as_text(r.get("id")), "score": fmt_num(as_finite(r.get("score"))),
            "percentile": fmt_pct(as_finite(r.get("nonmember_percentile")), 1), "attack": ATTACK_TITLES.get(as_text(r.get("attack")), as_text(r.get("attack"))),
            "text": text,
        })
    reading = [s for s in (mi["reading"], can["reading"], lb["reading"], dp["reading"]) if s]
    best = mi["best"]
    summary = {
        "name": name,
        "anchor": f"privacy-audit-{index + 1}",
        "auc": best["auc"] if best else DASH,
        "auc_full": (f"{best['auc']} {best['auc_ci']}".strip()) if best else DASH,
        "tpr1": best["tpr1"] if best else DASH,
        "tpr01": best["tpr01"] if best else DASH,
        "attack": best["title"] if best else "",
        "exposure": can["max_exposure"],
        "epsilon_lb": lb["value"],
        "claimed": lb["claimed"] if lb["claimed"] != DASH else dp["claimed"],
        "cap": lb["cap"],
        "dp_status": dp["status"],
    }
    return {
        "name": name,
        "anchor": summary["anchor"],
        "summary": summary,
        "mi": mi,
        "canaries": can,
        "lower_bound": lb,
        "dp": dp,
        "vulnerable": vulnerable,
        "show_text": show_text,
        "reading": reading,
        "notes": [as_text(n) for n in as_list(sec.get("notes"))[:MAX_ROWS] if n is not None],
        "_series": mi["series"],
        "_bounds": dp["bounds"],
    }


def _tpr_at(entries: list[Any], fpr: float) -> dict[str, Any] | None:
    for t in (as_dict(x) for x in entries):
        f = as_finite(t.get("fpr"))
        if f is not None and math.isclose(f, fpr, rel_tol=1e-9):
            return t
    return None


def _membership(model: str, mi: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"skipped": _skip_reason(mi), "attacks": [], "notes": [as_text(n) for n in as_list(mi.get("notes"))[:MAX_ROWS]],
                           "n_members": fmt_num(as_int(mi.get("n_members"))), "n_nonmembers": fmt_num(as_int(mi.get("n_nonmembers"))),
                           "member_source": as_text(mi.get("member_source")), "nonmember_source": as_text(mi.get("nonmember_source")),
                           "reference_ran": False, "series": [], "best": None, "reading": "", "present": bool(mi)}
    attacks = as_dict(mi.get("attacks"))
    primary = as_text(mi.get("primary"))
    best_row = None
    for key, a in attacks.items():
        a = as_dict(a)
        if not a:
            continue
        title = ATTACK_TITLES.get(key, as_text(a.get("title")) or key)
        tprs = []
        for t in (as_dict(x) for x in as_list(a.get("tpr_at_fpr"))[:8]):
            f = as_finite(t.get("fpr"))
            tprs.append({"fpr": _fpr_label(f), "value": fmt_pct(as_finite(t.get("value")), 1), "ci": _ci(t.get("ci"), pct=True),
                         "unresolved": t.get("resolvable") is False})
        t1, t01 = _tpr_at(as_list(a.get("tpr_at_fpr")), 0.01), _tpr_at(as_list(a.get("tpr_at_fpr")), 0.001)
        config = as_dict(a.get("config"))
        recipe = as_dict(config.get("recipe"))
        population = as_dict(config.get("population"))
        config_rows = []
        for label, value in (("Statistic", config.get("statistic")), ("Calibration", config.get("calibration")),
                             ("Reference models", config.get("reference_models")), ("Base model", config.get("base_model")),
                             ("Population used", population.get("n_used")), ("Records per reference model", population.get("per_model_train")),
                             ("Recipe", ", ".join(f"{k}={fmt_num(v) if isinstance(v, float) else as_text(v)}" for k, v in list(recipe.items())[:12]) or None),
                             ("Training time per model (s)", ", ".join(fmt_num(as_finite(x), 1) for x in as_list(config.get("train_seconds"))[:16]) or None)):
            if value is not None and value != "":
                config_rows.append({"label": label, "value": as_text(value), "code": False})
        auc_v = as_finite(as_dict(a.get("auc")).get("value"))
        row = {
            "key": key, "title": title, "primary": key == primary,
            "auc": fmt_num(auc_v), "auc_ci": _ci(as_dict(a.get("auc")).get("ci")),
            "ba": fmt_num(as_finite(as_dict(a.get("balanced_accuracy")).get("value"))),
            "ba_ci": _ci(as_dict(a.get("balanced_accuracy")).get("ci")),
            "tprs": tprs, "config": config_rows,
            "tpr1": fmt_pct(as_finite(t1.get("value")), 1) if t1 else DASH,
            "tpr1_raw": as_finite(t1.get("value")) if t1 else None,
            "tpr1_ci": _ci(t1.get("ci"), pct=True) if t1 else "",
            "tpr01": fmt_pct(as_finite(t01.get("value")), 1) if t01 else DASH,
            "auc_raw": auc_v, "auc_ci_raw": as_list(as_dict(a.get("auc")).get("ci")),
            "n_nonmembers": as_int(a.get("n_nonmembers")),
        }
        out["attacks"].append(row)
        if key == "reference":
            out["reference_ran"] = True
        # the strongest attack (highest AUC) speaks for the model: privacy is about the worst case
        if best_row is None or (auc_v is not None and (best_row["auc_raw"] is None or auc_v > best_row["auc_raw"])):
            best_row = row
        roc = _roc_points(as_dict(a.get("roc")))
        if roc:
            out["series"].append({"label": f"{model}: {title.lower()} attack", "points": roc, "dash": "" if key == "reference" else "5 3",
                                  "n_nonmembers": as_int(a.get("n_nonmembers"))})
    out["best"] = best_row
    out["unresolved"] = any(t["unresolved"] for r in out["attacks"] for t in r["tprs"])
    if best_row and best_row["auc_raw"] is not None:
        out["reading"] = _mi_reading(best_row)
    elif out["skipped"]:
        out["reading"] = f"Membership inference was not run: {out['skipped']}."
    return out


def _mi_reading(row: dict[str, Any]) -> str:
    auc_v = row["auc_raw"]
    ci = [as_finite(x) for x in row["auc_ci_raw"]] if len(row["auc_ci_raw"]) == 2 else [None, None]
    t1 = row["tpr1_raw"]
    chance = ci[0] is not None and ci[0] <= 0.5 <= (ci[1] if ci[1] is not None else 1.0)
    text = (f"With the {row['title'].lower()} attack, an attacker who sees only this model's outputs "
            + ("cannot tell training records from held-out ones better than chance on this sample"
               if chance else "can tell training records from held-out ones better than chance")
            + f" (ROC-AUC {fmt_num(auc_v)}; 0.5 is guessing).")
    if t1 is not None:
        text += (f" Allowed to accuse only 1 in 100 held-out records wrongly, it identifies {fmt_pct(t1, 1)} of the training "
                 f"records (guessing would find 1%).")
    return text


def _roc_points(roc: dict[str, Any]) -> list[tuple[float, float]]:
    fpr, tpr = as_list(roc.get("fpr")), as_list(roc.get("tpr"))
    pts = []
    for f, t in zip(fpr[:MAX_POINTS], tpr[:MAX_POINTS]):
        f, t = as_finite(f), as_finite(t)
        if f is None or t is None:
            continue
        pts.append((min(1.0, max(0.0, f)), min(1.0, max(0.0, t))))
    pts.sort()
    return pts


def _canaries(can: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"skipped": _skip_reason(can), "rows": [], "max_exposure": DASH, "reading": "", "present": bool(can),
                           "candidates": fmt_num(as_int(as_dict(can.get("protocol")).get("candidates_per_canary")))}
    best = None
    for c in (as_dict(x) for x in as_list(can.get("canaries"))[:MAX_ROWS]):
        e = as_dict(c.get("exposure"))
        exp = as_finite(e.get("exposure"))
        mx = as_finite(e.get("max_exposure"))
        scores = as_dict(c.get("scores"))
        pct = as_dict(c.get("nonmember_percentile"))
        verdict = as_dict(c.get("verdict"))
        row = {
            "id": as_text(c.get("id")),
            "kind": _KIND_TITLES.get(as_text(c.get("kind")) or "classic", as_text(c.get("kind"))),
            "verdict": as_text(verdict.get("text")) or DASH,
            "level": as_text(verdict.get("level")),
            "masked_text": as_text(c.get("masked_text")),  # never a raw secret: only the masked sentence is read
            "label": as_text(c.get("label_name")) or as_text(c.get("label")),
            "repetitions": fmt_num(as_int(c.get("repetitions"))),
            "exposure": fmt_num(exp, 1), "max": fmt_num(mx, 1), "ci": _ci(e.get("ci")),
            "estimate": "exact" if e.get("exhaustive") is True else ("saturated: only the lower end is supported" if e.get("saturated") is True else "sampled"),
            "extrapolated": fmt_num(as_finite(e.get("extrapolated")), 1),
            "scores": [{"attack": ATTACK_TITLES.get(str(k), str(k)), "score": fmt_num(as_finite(v)),
                        "percentile": fmt_pct(as_finite(pct.get(k)), 1) if as_finite(pct.get(k)) is not None else DASH}
                       for k, v in list(scores.items())[:4]],
        }
        out["rows"].append(row)
        if exp is not None and (best is None or exp > best[0]):
            best = (exp, mx, row)
    out["pii"] = _pii_kinds(as_dict(can.get("by_kind")))
    if best:
        exp, mx, row = best
        out["max_exposure"] = fmt_num(exp, 1)
        share = 2.0 ** (-exp)
        out["reading"] = (f"The most exposed canary (repeated {row['repetitions']}×) has exposure {fmt_num(exp, 1)} bits"
                          + (f" of at most {fmt_num(mx, 1)}" if mx is not None else "")
                          + f": the model prefers its true secret to all but about {fmt_pct(share, 2)} of the possible secrets"
                          + (" — close to the maximum, so the secret could be recovered by ranking candidates."
                             if mx is not None and exp >= mx - 1 else "."))
    elif out["skipped"]:
        out["reading"] = ""
    return out


_KIND_TITLES = {"classic": "digit code", "email": "e-mail address", "phone": "phone number"}


def _pii_kinds(by_kind: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per personal-data canary kind (every kind but the classic digit code)."""
    rows = []
    for kind, k in list(by_kind.items())[:MAX_ROWS]:
        k = as_dict(k)
        if kind == "classic":
            continue
        verdict = as_dict(k.get("verdict"))
        rows.append({
            "kind": as_text(k.get("title")) or _KIND_TITLES.get(str(kind), str(kind)),
            "n": fmt_num(as_int(k.get("n"))), "revealed": fmt_num(as_int(k.get("n_revealed"))),
            "exposure": fmt_num(as_finite(k.get("max_exposure")), 1), "max": fmt_num(as_finite(k.get("max_possible")), 1),
            "repetitions": fmt_num(as_int(k.get("repetitions_of_most_exposed"))),
            "verdict": as_text(verdict.get("text")) or DASH, "level": as_text(verdict.get("level")),
        })
    return rows


def _lower_bound(lb: dict[str, Any]) -> dict[str, Any]:
    value = as_finite(lb.get("epsilon_lower_bound"))
    claimed = as_finite(lb.get("claimed_epsilon"))
    cap = as_finite(lb.get("max_certifiable_epsilon"))
    conf = as_finite(lb.get("confidence"))
    out: dict[str, Any] = {
        "skipped": _skip_reason(lb), "present": bool(lb), "value": fmt_num(value, 2), "claimed": fmt_num(claimed, 2),
        "cap": fmt_num(cap, 2), "confidence": fmt_pct(conf, 0) if conf is not None else DASH,
        "delta": fmt_num(as_finite(lb.get("delta"))), "m": fmt_num(as_int(lb.get("m"))), "n_included": fmt_num(as_int(lb.get("n_included"))),
        "bonferroni": fmt_num(as_int(lb.get("bonferroni"))), "score": ATTACK_TITLES.get(as_text(lb.get("score")), as_text(lb.get("score"))),
        "contradicts": lb.get("contradicts_claim") is True,
        "trials": [], "notes": [as_text(n) for n in as_list(lb.get("notes"))[:MAX_ROWS]], "reading": "",
    }
    for t in (as_dict(x) for x in as_list(lb.get("trials"))[:MAX_ROWS]):
        out["trials"].append({"n_in": fmt_num(as_int(t.get("n_in"))), "n_out": fmt_num(as_int(t.get("n_out"))),
                              "correct": fmt_num(as_int(t.get("correct"))), "guesses": fmt_num(as_int(t.get("guesses"))),
                              "eps": fmt_num(as_finite(t.get("epsilon_lower_bound")), 2),
                              "cap": fmt_num(as_finite(t.get("max_certifiable_epsilon")), 2)})
    if value is not None:
        text = f"The one-run audit proves ε ≥ {fmt_num(value, 2)} at {out['confidence']} confidence"
        if claimed is not None:
            text += f" (claimed ε = {fmt_num(claimed, 2)})"
        text += "."
        if cap is not None:
            text += (f" With {out['m']} audit records it could not have certified more than ε = {fmt_num(cap, 2)} even with every "
                     "guess right, so a lower bound below the claimed ε is not evidence that the claim is tight.")
        if out["contradicts"]:
            text += " The bound exceeds the claimed ε: training is not private as claimed."
        out["reading"] = text
    return out


def _dp(model: str, dp: dict[str, Any]) -> dict[str, Any]:
    ledger = as_dict(dp.get("ledger"))
    status = as_text(dp.get("status"))
    status_view = {"pass": ("pass", "Pass", "\u2713"), "fail": ("fail", "Fail", "\u2717")}.get(status)
    out: dict[str, Any] = {
        "skipped": _skip_reason(dp), "present": bool(dp),
        "status": {"status": status_view[0], "label": status_view[1], "symbol": status_view[2]} if status_view else None,
        "claimed": fmt_num(as_finite(ledger.get("epsilon")), 2),
        "ledger": [
            {"label": label, "value": fmt_num(as_finite(ledger.get(key))) if key != "steps" else fmt_num(as_int(ledger.get(key))), "code": False}
            for label, key in (("Claimed ε", "epsilon"), ("δ", "delta"), ("Noise multiplier σ", "noise_multiplier"),
                               ("Sampling rate q", "sample_rate"), ("Steps", "steps"))
            if ledger.get(key) is not None
        ] + ([{"label": "Training accountant", "value": as_text(ledger.get("accountant")), "code": False}] if ledger.get("accountant") else [])
          + ([{"label": "Independent ε (PLD)", "value": fmt_num(as_finite(dp.get("independent_epsilon"))), "code": False}]
             if as_finite(dp.get("independent_epsilon")) is not None else []),
        "accountant": as_text(dp.get("accountant")),
        "alpha": fmt_num(as_finite(dp.get("alpha"))),
        "points": [], "notes": [as_text(n) for n in as_list(dp.get("notes"))[:MAX_ROWS]],
        "headroom": fmt_pct(as_finite(dp.get("min_headroom")), 2), "reading": "", "bounds": [],
    }
    for p in (as_dict(x) for x in as_list(dp.get("points"))[:MAX_ROWS]):
        out["points"].append({
            "experiment": as_text(p.get("experiment")), "fpr": _fpr_label(as_finite(p.get("target_fpr"))),
            "fpr_upper": fmt_pct(as_finite(p.get("fpr_upper")), 2), "tpr": fmt_pct(as_finite(p.get("tpr")), 2),
            "tpr_lower": fmt_pct(as_finite(p.get("tpr_lower")), 2), "bound": fmt_pct(as_finite(p.get("bound")), 2),
            "headroom": fmt_pct(as_finite(p.get("headroom")), 2), "violated": p.get("violated") is True,
        })
    curve = _roc_points(as_dict(dp.get("bound_curve")))
    if curve:
        out["bounds"].append({"label": f"{model}: most any attack may reach under the ledger's DP guarantee", "points": curve, "dash": "2 3"})
    worst = as_dict(dp.get("worst"))
    if status == "fail":
        out["reading"] = (f"Measured leakage exceeds the DP guarantee: at a false-positive rate of at most {fmt_pct(as_finite(worst.get('fpr_upper')), 2)} "
                          f"the attack catches at least {fmt_pct(as_finite(worst.get('tpr_lower')), 2)} of the records, where the claimed "
                          f"guarantee allows at most {fmt_pct(as_finite(worst.get('bound')), 2)}. Training is not private as claimed.")
    elif status == "pass":
        out["reading"] = (f"At every tested false-positive rate the measured leakage stays inside what the claimed guarantee allows "
                          f"(smallest headroom {out['headroom']} of TPR, at {out['alpha'] if out['alpha'] != DASH else '0.05'} error level). "
                          "This is consistent with the claim; it does not prove it.")
    return out


def _comparison(views: list[dict[str, Any]]) -> dict[str, Any]:
    """Metrics as rows, models as columns."""
    def row(label: str, key: str) -> dict[str, Any]:
        return {"label": label, "cells": [v["summary"][key] for v in views]}

    return {
        "models": [{"name": v["name"], "anchor": v["anchor"]} for v in views],
        "rows": [
            row("Strongest membership attack", "attack"),
            row("ROC-AUC (0.5 is guessing)", "auc_full"),
            row("TPR at 1% FPR", "tpr1"),
            row("TPR at 0.1% FPR", "tpr01"),
            row("Highest canary exposure (bits)", "exposure"),
            row("Empirical \u03b5 lower bound", "epsilon_lb"),
            row("Claimed \u03b5", "claimed"),
            row("Most this audit could certify", "cap"),
        ],
        "dp": [v["summary"]["dp_status"] for v in views],
    }


def _overall(views: list[dict[str, Any]]) -> str:
    by_name = {v["name"]: v for v in views}
    base, priv = by_name.get("baseline"), by_name.get("private")
    if not base or not priv or not base["mi"]["best"] or not priv["mi"]["best"]:
        return ""
    b, p = base["mi"]["best"], priv["mi"]["best"]
    text = (f"Compared with the non-private model, the private model's membership ROC-AUC is {p['auc']} instead of {b['auc']}, "
            f"and the attack finds {p['tpr1']} instead of {b['tpr1']} of training records at 1% false positives.")
    be, pe = base["canaries"]["max_exposure"], priv["canaries"]["max_exposure"]
    if be != DASH and pe != DASH:
        text += f" The highest canary exposure is {pe} bits instead of {be}."
    return text


# ---------------------------------------------------------------------------------------------
# Charts
# ---------------------------------------------------------------------------------------------


def _charts(series: list[dict[str, Any]], bounds: list[dict[str, Any]]) -> dict[str, Any]:
    n_min = min((s["n_nonmembers"] for s in series if s.get("n_nonmembers")), default=1000)
    lo = 10.0 ** math.floor(math.log10(max(1e-4, 1.0 / max(1, n_min))))
    lin = _chart(series, bounds, log=False, lo=0.0)
    log = _chart(series, bounds, log=True, lo=lo)
    table_fprs = [f for f in (1e-3, 1e-2, 1e-1, 0.5) if f >= lo]
    rows = []
    for s in series + bounds:
        rows.append({"label": s["label"], "values": [fmt_pct(_step_at(s["points"], f), 1) for f in table_fprs]})
    return {"linear": lin, "log": log, "table": {"fprs": [_fpr_label(f) for f in table_fprs], "rows": rows}}


def _step_at(points: list[tuple[float, float]], f: float) -> float | None:
    best = None
    for x, y in points:
        if x <= f + 1e-12:
            best = y if best is None else max(best, y)
    return best


def _chart(series: list[dict[str, Any]], bounds: list[dict[str, Any]], *, log: bool, lo: float) -> dict[str, Any]:
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    llo = math.log10(lo) if log else 0.0

    def sx(v: float) -> float:
        if log:
            return LEFT + (math.log10(max(v, lo)) - llo) / (0.0 - llo) * pw
        return LEFT + v * pw

    def sy(v: float) -> float:
        if log:
            return TOP + (1.0 - (math.log10(max(v, lo)) - llo) / (0.0 - llo)) * ph
        return TOP + (1.0 - v) * ph

    def path(points: list[tuple[float, float]]) -> str:
        pts = [(x, y) for x, y in points if not log or x >= lo]
        # A step curve: the TPR reached at an FPR holds until the next point.
        coords = []
        prev_y = None
        for x, y in pts:
            if prev_y is not None:
                coords.append(f"{sx(x):.1f},{sy(prev_y):.1f}")
            coords.append(f"{sx(x):.1f},{sy(y):.1f}")
            prev_y = y
        return " ".join(coords)

    lines = [{"points": path(s["points"]), "colour": s["colour"], "dash": s["dash"], "label": s["label"], "width": "2"}
             for s in series]
    lines += [{"points": " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in b["points"] if not log or x >= lo),
               "colour": b["colour"], "dash": b["dash"], "label": b["label"], "width": "1.5"} for b in bounds]
    lines = [ln for ln in lines if ln["points"]]
    if log:
        decades = range(int(round(llo)), 1)
        ticks = [10.0 ** d for d in decades]
        labels = [_decade(d) for d in decades]
    else:
        ticks = [0.0, 0.25, 0.5, 0.75, 1.0]
        labels = ["0", "0.25", "0.5", "0.75", "1"]
    return {
        "log": log,
        "width": f"{WIDTH:.0f}", "height": f"{HEIGHT:.0f}",
        "x0": f"{LEFT:.1f}", "x1": f"{LEFT + pw:.1f}", "y0": f"{TOP + ph:.1f}", "y1": f"{TOP:.1f}",
        "pw": f"{pw:.1f}", "ph": f"{ph:.1f}",
        "chance": f"{sx(lo if log else 0.0):.1f},{sy(lo if log else 0.0):.1f} {sx(1.0):.1f},{sy(1.0):.1f}",
        "xticks": [{"x": f"{sx(t):.1f}", "y": f"{TOP + ph + 16:.1f}", "v": lab} for t, lab in zip(ticks, labels)],
        "yticks": [{"y": f"{sy(t):.1f}", "x": f"{LEFT - 6:.1f}", "v": lab} for t, lab in zip(ticks, labels)],
        "xmid": f"{LEFT + pw / 2:.1f}", "ymid": f"{TOP + ph / 2:.1f}", "xlabel_y": f"{HEIGHT - 6:.1f}",
        "lines": lines,
        "grey": GREY,
        "title": ("ROC on log-log axes: true-positive rate against false-positive rate, both from "
                  f"{_decade(int(round(llo)))} to 1" if log else "ROC: true-positive rate against false-positive rate"),
    }


def _decade(d: int) -> str:
    return "1" if d == 0 else f"1e{d}"
