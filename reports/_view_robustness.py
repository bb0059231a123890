"""View of the robustness section: headline per family, success-vs-budget chart, invariance
table, adversarial examples as diffs, radius-1 certificate.

Reads ``models[<name>]["robustness"]`` (untrusted). Missing or malformed parts are left out;
unknown keys are ignored. Strings stay raw (the template escapes them); colours and chart
geometry are computed from numbers only.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from typing import Any

from ._format import as_dict, as_finite, as_int, as_list, as_text, fmt_num, fmt_pct, fmt_seconds, fmt_value

MAX_EXAMPLES = 8
MAX_TESTS = 60
MAX_DIFF_CHARS = 4000
MAX_SERIES = 8
# Okabe-Ito, colour-blind safe; each series also gets its own dash pattern and marker.
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#d55e00", "#56b4e9", "#000000", "#f0e442")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "4 4", "1 2", "10 4", "3 6")
STATUS = {
    "pass": {"status": "pass", "label": "Pass", "symbol": "\u2713"},
    "fail": {"status": "fail", "label": "Fail", "symbol": "\u2717"},
    "not_applicable": {"status": "unknown", "label": "Not applicable", "symbol": "\u2013"},
}
FLAG_TEXT = {
    "antonym": "antonym",
    "polarity_flip": "sentiment flipped",
    "negation": "negation changed",
    "polarity_change": "sentiment word changed to a neutral word (or back)",
}


def build(results: Mapping[str, Any]) -> dict[str, Any] | None:
    """The section view, or None when no model has robustness results."""
    models = []
    for name, entry in as_dict(results.get("models")).items():
        entry = as_dict(entry)
        rob = as_dict(entry.get("robustness"))
        if not rob:
            continue
        labels = _labels(entry, results)
        view = _model(str(name), rob, labels)
        if view["has_content"]:
            models.append(view)
    return {"models": models} if models else None


def _labels(entry: dict[str, Any], results: Mapping[str, Any]) -> list[str]:
    for source in (as_dict(entry.get("performance")), as_dict(entry.get("identity")), as_dict(results.get("data"))):
        names = [as_text(x) for x in as_list(source.get("label_names"))]
        if names:
            return names
    return []


def _label(value: Any, labels: list[str]) -> str:
    i = as_int(value)
    if i is not None and 0 <= i < len(labels):
        return labels[i]
    return fmt_value(value)


def _ci(value: Any) -> str:
    pair = as_list(value)
    if len(pair) != 2:
        return ""
    lo, hi = as_finite(pair[0]), as_finite(pair[1])
    if lo is None or hi is None:
        return ""
    return f"{lo * 100:.1f}\u2013{hi * 100:.1f}%"


def _model(name: str, rob: dict[str, Any], labels: list[str]) -> dict[str, Any]:
    protocol = as_dict(rob.get("protocol"))
    config = as_dict(protocol.get("config"))
    char = as_dict(rob.get("char_attack"))
    word = as_dict(rob.get("word_attack"))
    inv = as_dict(rob.get("invariance"))
    rad = as_dict(rob.get("radius1"))
    headline = _headline(char, word, inv, rad)
    chart = _chart(char, word)
    invariance = _invariance(inv, labels)
    examples = _examples(char, word, labels)
    radius = _radius(rad, labels)
    return {
        "name": name,
        "protocol": _protocol(protocol, config, rob.get("timings")),
        "headline": headline,
        "chart": chart,
        "invariance": invariance,
        "examples": examples,
        "radius": radius,
        "has_content": bool(headline or chart or invariance or examples or radius),
    }


def _protocol(protocol: dict[str, Any], config: dict[str, Any], timings: Any) -> list[dict[str, str]]:
    rows = []
    pairs = [
        ("Evaluation texts", protocol.get("n_eval")),
        ("Texts per family", ", ".join(
            f"{k} {fmt_num(as_int(config.get(c)))}"
            for k, c in (("invariance", "n_invariance"), ("attacks", "n_attack"), ("radius-1", "n_radius"))
            if as_int(config.get(c)) is not None) or None),
        ("Query budget per example", config.get("query_budget")),
        ("Character edit budgets", config.get("char_budgets")),
        ("Word attack: minimum sentence similarity",
         config.get("min_similarity") if config.get("encoder") is not None else "no constraint"),
        ("Word attack: maximum share of words changed",
         fmt_pct(config.get("max_words_fraction"), 0) if as_finite(config.get("max_words_fraction")) is not None else None),
        ("Candidate sources", config.get("word_sources")),
        ("Excluded edits", config.get("exclude_flags")),
        ("Seed", protocol.get("seed")),
        ("Device", protocol.get("device")),
    ]
    for label, value in pairs:
        if value is None or value == "":
            continue
        shown = fmt_num(value) if isinstance(value, int) and not isinstance(value, bool) else fmt_value(value)
        rows.append({"label": label, "value": shown, "code": False})
    total = as_finite(as_dict(timings).get("total"))
    if total is not None:
        rows.append({"label": "Wall time", "value": fmt_seconds(total), "code": False})
    return rows


def _attack_row(title: str, m: dict[str, Any]) -> dict[str, str]:
    qps = as_finite(m.get("queries_per_success"))
    return {
        "family": title,
        "n": fmt_num(as_int(m.get("n_attacked"))),
        "skipped": fmt_num(as_int(m.get("n_skipped"))),
        "accuracy": fmt_pct(as_finite(m.get("accuracy"))),
        "under_attack": fmt_pct(as_finite(m.get("accuracy_under_attack"))),
        "success": fmt_pct(as_finite(m.get("success_rate"))),
        "success_ci": _ci(m.get("success_rate_ci95")),
        "valid_success": fmt_pct(as_finite(m.get("valid_success_rate"))),
        "queries": fmt_num(as_finite(as_dict(m.get("queries")).get("median")), 0),
        "queries_p90": fmt_num(as_finite(as_dict(m.get("queries")).get("p90")), 0),
        "queries_per_success": fmt_num(qps, 1) if qps is not None else "\u2014",
        "words": fmt_pct(as_finite(as_dict(m.get("words_changed_fraction")).get("mean"))),
        "chars": fmt_pct(as_finite(as_dict(m.get("chars_changed_fraction")).get("mean"))),
        "similarity": fmt_num(as_finite(as_dict(m.get("similarity")).get("mean"))),
    }


def _headline(char: dict[str, Any], word: dict[str, Any], inv: dict[str, Any], rad: dict[str, Any]) -> dict[str, Any] | None:
    attacks = []
    for b in [as_dict(x) for x in as_list(char.get("budgets"))][:MAX_SERIES]:
        k = as_int(b.get("k"))
        attacks.append(_attack_row(f"Character attack, at most {k} typo{'' if k == 1 else 's'}" if k is not None
                                   else "Character attack", b))
    if word.get("n_attacked") is not None or word.get("success_rate") is not None:
        attacks.append(_attack_row("Word attack (synonyms and embedding neighbours)", word))
    inv_line = None
    if as_list(inv.get("tests")):
        inv_line = {"passed": fmt_num(as_int(inv.get("n_passed"))), "failed": fmt_num(as_int(inv.get("n_failed"))),
                    "na": fmt_num(as_int(inv.get("n_not_applicable"))), "n": fmt_num(as_int(inv.get("n_texts")))}
    cert = as_finite(rad.get("certified_fraction"))
    rad_line = None
    if cert is not None:
        n = as_int(as_dict(as_dict(rad.get("summary")).get("all")).get("n_correct"))
        rad_line = {"certified": fmt_pct(cert), "n": fmt_num(n)}
    if not (attacks or inv_line or rad_line):
        return None
    return {"attacks": attacks, "invariance": inv_line, "radius": rad_line}


def _series(title: str, points: Any) -> dict[str, Any] | None:
    pts = []
    for p in (as_dict(x) for x in as_list(points)):
        b, r = as_finite(p.get("budget")), as_finite(p.get("success_rate"))
        if b is not None and b > 0 and r is not None:
            pts.append((b, max(0.0, min(1.0, r))))
    pts.sort()
    return {"title": title, "points": pts} if pts else None


def _chart(char: dict[str, Any], word: dict[str, Any]) -> dict[str, Any] | None:
    series = []
    for b in [as_dict(x) for x in as_list(char.get("budgets"))]:
        k = as_int(b.get("k"))
        s = _series(f"character, k \u2264 {k}" if k is not None else "character", b.get("success_by_budget"))
        if s:
            series.append(s)
    s = _series("word", word.get("success_by_budget"))
    if s:
        series.append(s)
    series = series[:MAX_SERIES]
    if not series:
        return None
    budgets = sorted({b for s in series for b, _ in s["points"]})
    lo, hi = math.log10(budgets[0]), math.log10(budgets[-1])
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    width, height = 460.0, 280.0
    left, right, top, bottom = 52.0, 16.0, 14.0, 44.0
    pw, ph = width - left - right, height - top - bottom

    def x(b: float) -> float:
        return left + (math.log10(b) - lo) / (hi - lo) * pw

    def y(r: float) -> float:
        return top + (1 - r) * ph

    out_series = []
    for i, s in enumerate(series):
        pts = [(x(b), y(r), b, r) for b, r in s["points"]]
        out_series.append({
            "title": s["title"],
            "colour": PALETTE[i % len(PALETTE)],
            "dash": DASHES[i % len(DASHES)],
            "points": " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in pts),
            "markers": [{"x": f"{px:.1f}", "y": f"{py:.1f}", "title": f"{s['title']}: {r:.1%} within {b:g} queries"}
                        for px, py, b, r in pts],
            "legend_y": f"{top + 12 + 16 * i:.1f}",
        })
    table_budgets = budgets[:16]
    table = []
    for s in series:
        values = dict(s["points"])
        cells = [fmt_pct(values.get(b)) if b in values else "\u2014" for b in table_budgets]
        table.append({"title": s["title"], "values": cells})
    return {
        "width": f"{width:.0f}", "height": f"{height:.0f}",
        "x0": f"{left:.1f}", "x1": f"{left + pw:.1f}", "y0": f"{top + ph:.1f}", "y1": f"{top:.1f}",
        "pw": f"{pw:.1f}", "ph": f"{ph:.1f}",
        "xticks": [{"v": f"{b:g}", "x": f"{x(b):.1f}"} for b in budgets[:16]],
        "yticks": [{"v": f"{t:.0%}", "y": f"{y(t):.1f}"} for t in (0.0, 0.25, 0.5, 0.75, 1.0)],
        "ytick_x": f"{left - 6:.1f}", "xtick_y": f"{top + ph + 16:.1f}",
        "xlabel_y": f"{height - 6:.1f}", "xmid": f"{left + pw / 2:.1f}", "ymid": f"{top + ph / 2:.1f}",
        "legend_x": f"{left + 10:.1f}", "legend_tx": f"{left + 36:.1f}",
        "series": out_series,
        "table_budgets": [f"{b:g}" for b in table_budgets],
        "table": table,
    }


def _invariance(inv: dict[str, Any], labels: list[str]) -> dict[str, Any] | None:
    tests = [as_dict(t) for t in as_list(inv.get("tests")) if isinstance(t, Mapping)][:MAX_TESTS]
    if not tests:
        return None
    rows, failures = [], []
    for t in tests:
        raw = as_text(t.get("status"))
        badge = STATUS.get(raw, {"status": "unknown", "label": raw or "Unknown", "symbol": "?"})
        shift = as_finite(t.get("mean_confidence_shift"))
        rows.append({
            "name": as_text(t.get("name")),
            "family": as_text(t.get("family")),
            "description": as_text(t.get("description")),
            "n": fmt_num(as_int(t.get("n_applicable"))),
            "failed": fmt_num(as_int(t.get("n_failed"))),
            "fail_rate": fmt_pct(as_finite(t.get("fail_rate"))),
            "ci": _ci(t.get("fail_rate_ci95")),
            "shift": f"{shift * 100:+.2f} pp" if shift is not None else "\u2014",
            "threshold": fmt_pct(as_finite(t.get("threshold")), 0),
            "badge": badge,
        })
        for e in [as_dict(x) for x in as_list(t.get("examples"))][:2]:
            if len(failures) >= MAX_EXAMPLES:
                break
            failures.append({
                "test": as_text(t.get("name")),
                "segments": diff_segments(as_text(e.get("text")), as_text(e.get("variant"))),
                "before": _label(e.get("prediction"), labels),
                "after": _label(e.get("variant_prediction"), labels),
                "confidence": fmt_num(as_finite(e.get("confidence"))),
                "variant_confidence": fmt_num(as_finite(e.get("variant_confidence"))),
            })
    protocol = as_dict(inv.get("protocol"))
    return {
        "rows": rows,
        "failures": failures,
        "n_texts": fmt_num(as_int(inv.get("n_texts"))),
        "passed": sum(1 for r in rows if r["badge"]["status"] == "pass"),
        "failed": sum(1 for r in rows if r["badge"]["status"] == "fail"),
        "rule": as_text(protocol.get("failure")),
    }


_TOKENS = re.compile(r"\s+|[^\s]+")


def diff_segments(before: str, after: str) -> list[dict[str, str]]:
    """Word-level diff of two texts as segments of kind same / del / ins (whitespace kept)."""
    before, after = before[:MAX_DIFF_CHARS], after[:MAX_DIFF_CHARS]
    a, b = _TOKENS.findall(before), _TOKENS.findall(after)
    out: list[dict[str, str]] = []

    def add(kind: str, text: str) -> None:
        if not text:
            return
        if out and out[-1]["kind"] == kind:
            out[-1]["text"] += text
        else:
            out.append({"kind": kind, "text": text})

    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            add("same", "".join(a[i1:i2]))
        else:
            add("del", "".join(a[i1:i2]))
            add("ins", "".join(b[j1:j2]))
    return out


def _example(e: dict[str, Any], family: str, labels: list[str]) -> dict[str, Any]:
    flags = [as_text(f) for f in as_list(e.get("flags"))]
    sim = as_finite(e.get("similarity"))
    return {
        "family": family,
        "id": as_text(e.get("id")),
        "label": _label(e.get("label"), labels),
        "before": _label(e.get("original_prediction"), labels),
        "after": _label(e.get("adversarial_prediction"), labels),
        "segments": diff_segments(as_text(e.get("text")), as_text(e.get("adversarial_text"))),
        "queries": fmt_num(as_int(e.get("queries"))),
        "words": fmt_num(as_int(e.get("words_changed"))),
        "similarity": fmt_num(sim) if sim is not None else "",
        "flags": [FLAG_TEXT.get(f, f) for f in flags],
        "verified": e.get("verified") is True,
    }


def _examples(char: dict[str, Any], word: dict[str, Any], labels: list[str]) -> list[dict[str, Any]]:
    out = []
    for family, section in (("Character attack", char), ("Word attack", word)):
        items = [as_dict(x) for x in as_list(section.get("examples")) if isinstance(x, Mapping)][:MAX_EXAMPLES]
        if items:
            out.append({"title": family, "items": [_example(e, family, labels) for e in items]})
    return out


def _radius(rad: dict[str, Any], labels: list[str]) -> dict[str, Any] | None:
    summary = as_dict(rad.get("summary"))
    titles = {"word": "Every single word substitution", "char": "Every single typo", "all": "Both neighbourhoods"}
    rows = []
    for key, title in titles.items():
        s = as_dict(summary.get(key))
        if not s:
            continue
        rows.append({
            "title": title,
            "n": fmt_num(as_int(s.get("n"))),
            "n_correct": fmt_num(as_int(s.get("n_correct"))),
            "certified": fmt_pct(as_finite(s.get("certified_fraction_of_correct"))),
            "ci": _ci(s.get("certified_fraction_of_correct_ci95")),
            "certified_accuracy": fmt_pct(as_finite(s.get("certified_accuracy"))),
            "neighbours": fmt_num(as_finite(as_dict(s.get("neighbours")).get("mean")), 0),
        })
    counter = []
    for e in [as_dict(x) for x in as_list(rad.get("examples")) if isinstance(x, Mapping)][:MAX_EXAMPLES]:
        counter.append({
            "id": as_text(e.get("id")),
            "neighbourhood": as_text(e.get("neighbourhood")),
            "before": _label(e.get("prediction"), labels),
            "after": _label(e.get("counterexample_prediction"), labels),
            "segments": diff_segments(as_text(e.get("text")), as_text(e.get("counterexample"))),
        })
    if not rows and not counter:
        return None
    protocol = as_dict(rad.get("protocol"))
    return {
        "rows": rows,
        "counterexamples": counter,
        "max_words": fmt_num(as_int(protocol.get("max_words"))),
        "word_rule": as_text(protocol.get("word_neighbourhood")),
        "char_rule": as_text(protocol.get("char_neighbourhood")),
    }


__all__ = ["build", "diff_segments"]
