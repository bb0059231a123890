"""Pass/warn/fail summary lines from a ``privacy_audit`` section (plain data in, checks out)."""

from __future__ import annotations

import math
from typing import Any, Mapping

from ..results import Check
from .section import DEFAULT_THRESHOLDS


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, Mapping):
            return None
        d = d.get(k)
    return d


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(float(x)) else None


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def checks(model_name: str, section: Mapping[str, Any]) -> list[Check]:
    """Pass/warn/fail lines for the report summary from a ``privacy_audit`` section."""
    out: list[Check] = []
    if not isinstance(section, Mapping):
        return [Check(f"{model_name}: privacy audit", "error", None, None, "the privacy audit section is missing or malformed")]
    given = _get(section, "protocol", "thresholds")
    thresholds = dict(DEFAULT_THRESHOLDS)
    if isinstance(given, Mapping):
        thresholds.update({k: float(v) for k, v in given.items() if k in DEFAULT_THRESHOLDS and _num(v) is not None})
    mi = section.get("membership_inference") or {}
    if isinstance(mi, Mapping) and not mi.get("skipped") and isinstance(mi.get("attacks"), Mapping) and mi["attacks"]:
        best_auc, best_tpr = None, None
        parts = []
        for name, a in mi["attacks"].items():
            if not isinstance(a, Mapping):
                continue
            a_auc = _num(_get(a, "auc", "value"))
            ci = _get(a, "auc", "ci") or [None, None]
            tprs = a.get("tpr_at_fpr") if isinstance(a.get("tpr_at_fpr"), list) else []
            tpr1 = next((_num(t.get("value")) for t in tprs if isinstance(t, Mapping) and t.get("fpr") == 0.01), None)
            if a_auc is not None:
                best_auc = a_auc if best_auc is None else max(best_auc, a_auc)
            if tpr1 is not None:
                best_tpr = tpr1 if best_tpr is None else max(best_tpr, tpr1)
            lo, hi = (_num(ci[0]), _num(ci[1])) if isinstance(ci, list) and len(ci) == 2 else (None, None)
            if a_auc is None:
                parts.append(f"{name} attack: no AUC")
                continue
            interval = f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else ""
            parts.append(f"{name} attack AUC {a_auc:.3f}{interval}, TPR {_pct(tpr1)} at 1% FPR")
        leaky = (best_auc is not None and best_auc > thresholds["auc"]) or (best_tpr is not None and best_tpr > thresholds["tpr_at_1pct_fpr"])
        if best_auc is None and best_tpr is None:
            out.append(Check(f"{model_name}: membership inference", "error", None, thresholds["auc"],
                             "the membership-inference results hold no AUC or TPR to judge"))
        else:
            out.append(Check(
                f"{model_name}: membership inference", "warn" if leaky else "pass", best_auc, thresholds["auc"],
                "; ".join(parts) + f" ({mi.get('n_members')} training vs {mi.get('n_nonmembers')} held-out records)"
                + ("" if "reference" in mi["attacks"] else "; loss attack only (no reference population)")
                + (f": training records are distinguishable (AUC above {thresholds['auc']} or TPR above "
                   f"{_pct(thresholds['tpr_at_1pct_fpr'])} at 1% FPR)" if leaky else ""),
            ))
    can = section.get("canaries") or {}
    if isinstance(can, Mapping) and not can.get("skipped") and isinstance(can.get("canaries"), list) and can["canaries"]:
        exps = [(_num(_get(c, "exposure", "exposure")), c) for c in can["canaries"] if isinstance(c, Mapping)]
        exps = [(e, c) for e, c in exps if e is not None]
        if exps:
            e, c = max(exps, key=lambda x: x[0])
            high = e >= thresholds["exposure_bits"]
            out.append(Check(
                f"{model_name}: canary exposure", "warn" if high else "pass", e, thresholds["exposure_bits"],
                f"highest exposure {e:.1f} of {_num(_get(c, 'exposure', 'max_exposure')) or 0:.1f} bits "
                f"(canary repeated {c.get('repetitions')}x among {len(exps)})"
                + ("; the model memorised a planted secret" if high else ""),
            ))
    if isinstance(can, Mapping) and not can.get("skipped"):
        out.extend(_pii_check(model_name, can))
    dp = section.get("dp_bound_check") or {}
    if isinstance(dp, Mapping) and not dp.get("skipped") and dp.get("status") in ("pass", "fail"):
        worst = dp.get("worst") if isinstance(dp.get("worst"), Mapping) else {}
        head = _num(dp.get("min_headroom"))
        eps = _num(_get(dp, "ledger", "epsilon"))
        if dp["status"] == "fail":
            msg = ("measured leakage exceeds the DP guarantee: training is not private as claimed "
                   f"(TPR at least {_pct(_num(worst.get('tpr_lower')))} at FPR at most {_pct(_num(worst.get('fpr_upper')))} "
                   f"where the ledger allows {_pct(_num(worst.get('bound')))}, {worst.get('experiment')})")
        else:
            msg = (f"measured leakage stays within the privacy curve of the ledger (ε = {eps if eps is not None else 'n/a'}); "
                   f"smallest headroom {_pct(head)} of TPR ({worst.get('experiment')}, FPR {worst.get('target_fpr')})")
        out.append(Check(f"{model_name}: DP guarantee vs measured leakage", str(dp["status"]), head, 0.0, msg))
        for note in dp.get("notes") if isinstance(dp.get("notes"), list) else []:
            out.append(Check(f"{model_name}: privacy accounting", "warn", _num(dp.get("independent_epsilon")), eps, str(note)))
    lb = section.get("epsilon_lower_bound") or {}
    if isinstance(lb, Mapping) and not lb.get("skipped") and _num(lb.get("epsilon_lower_bound")) is not None:
        e_lb = _num(lb.get("epsilon_lower_bound"))
        claimed = _num(lb.get("claimed_epsilon"))
        cap = _num(lb.get("max_certifiable_epsilon"))
        conf = _num(lb.get("confidence")) or 0.95
        if claimed is not None:
            if e_lb > claimed:
                out.append(Check(
                    f"{model_name}: empirical ε lower bound", "fail", e_lb, claimed,
                    f"the one-run audit certifies ε ≥ {e_lb:.2f} at {conf:.0%} confidence, above the claimed ε = {claimed:.3g}: "
                    "training is not private as claimed",
                ))
            else:
                cap_text = f"; with these audit records it could certify at most ε = {cap:.2f}" if cap is not None else ""
                out.append(Check(
                    f"{model_name}: empirical ε lower bound", "pass", e_lb, claimed,
                    f"one-run audit certifies ε ≥ {e_lb:.2f} at {conf:.0%} confidence, consistent with the claimed "
                    f"ε = {claimed:.3g}{cap_text}; a lower bound below the claim does not show the claim is tight",
                ))
    if not out:
        out.append(Check(f"{model_name}: privacy audit", "warn", None, None,
                         "nothing could be measured: give training and held-out data, canaries or audit records"))
    return out


def _pii_check(model_name: str, can: Mapping[str, Any]) -> list[Check]:
    """One line for the personal-data canaries (e-mail addresses, phone numbers), if any were planted."""
    by_kind = can.get("by_kind")
    if not isinstance(by_kind, Mapping):
        return []
    kinds = [(k, v) for k, v in by_kind.items() if k != "classic" and isinstance(v, Mapping)]
    if not kinds:
        return []
    revealed = sum(int(_num(v.get("n_revealed")) or 0) for _, v in kinds)
    best = max((_num(v.get("max_exposure")) for _, v in kinds if _num(v.get("max_exposure")) is not None), default=None)
    parts = [f"{v.get('title', k)}: {int(_num(v.get('n_revealed')) or 0)} of {int(_num(v.get('n')) or 0)} revealed, highest exposure "
             f"{(_num(v.get('max_exposure')) or 0):.1f} of {(_num(v.get('max_possible')) or 0):.1f} bits" for k, v in kinds]
    msg = "; ".join(parts) + (": the model gives away planted personal data" if revealed else "")
    return [Check(f"{model_name}: personal-data canaries", "warn" if revealed else "pass", best, None, msg)]
