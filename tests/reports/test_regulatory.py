"""The regulatory map: which sections ran, which checks they carry, and its report section."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from reports import render
from reports.regulatory import EVIDENCE, HEADINGS, NOT_APPLICABLE, NOT_ASSESSED, check_section, regulatory_map

REPO = Path(__file__).resolve().parents[2]
XSS = '<script>alert(1)</script>"><img src=x onerror=alert(1)>'


def results(**models: dict[str, Any]) -> dict[str, Any]:
    return {"schema_version": 1, "run": {"command": "run"},
            "data": {"sha256": "d" * 64, "n_rows": 40, "label_counts": {"a": 20, "b": 20}}, "models": models,
            "checks": []}


def plain_model(**extra: Any) -> dict[str, Any]:
    return {"identity": {"sha256": "a" * 64}, "performance": {"accuracy": 0.9, "ece": 0.05, "n": 40},
            "truncation": {"n_truncated": 0, "n_texts": 40, "max_length": 64}} | extra


def evidence(m: dict[str, Any], heading: str, section: str) -> dict[str, Any]:
    (h,) = [h for h in m["headings"] if h["reference"] == heading]
    (e,) = [e for e in h["evidence"] if e["section"] == section]
    return e


def test_sections_that_ran_are_assessed_and_others_not() -> None:
    r = results(baseline=plain_model(robustness={"invariance": {"n_tests": 3}}))
    r["checks"] = [{"name": "baseline: accuracy", "status": "pass", "message": "ok"},
                   {"name": "baseline: word attack", "status": "warn", "message": "flips"},
                   {"name": "data: skipped rows", "status": "warn", "message": "2 rows"}]
    m = regulatory_map(r)
    assert "not legal advice" in m["notice"]
    assert [h["reference"] for h in m["headings"]] == [h["reference"] for h in HEADINGS]
    perf = evidence(m, "Art. 15", "performance")
    assert perf["status"] == "assessed" and perf["models"] == {"baseline": "assessed"}
    assert [c["name"] for c in perf["checks"]] == ["baseline: accuracy"]
    rob = evidence(m, "Annex IV, point 2(h)", "robustness")
    assert rob["status"] == "assessed" and [(c["name"], c["status"]) for c in rob["checks"]] == [("baseline: word attack", "warn")]
    assert evidence(m, "Art. 15", "calibration")["status"] == "assessed"
    assert [c["name"] for c in evidence(m, "Art. 10(2)", "data")["checks"]] == ["data: skipped rows"]
    for heading, section in (("Art. 15", "privacy_audit"), ("Annex IV, point 2(d)", "privacy_ledger"),
                             ("Art. 13(3)(b)(iv)", "faithfulness"), ("Art. 13(3)(b)(iv)", "explanations"),
                             ("Annex IV, point 2(d)", "training")):
        e = evidence(m, heading, section)
        assert e["status"] == NOT_ASSESSED and e["checks"] == [], section
    assert "trained without differential privacy" in evidence(m, "Art. 15", "privacy_ledger")["note"]
    assert m["unmapped_checks"] == []


def test_per_model_status_and_one_model_view() -> None:
    r = results(baseline=plain_model(), private=plain_model(privacy_ledger={"epsilon": 8.0, "delta": 1e-5}))
    r["checks"] = [{"name": "private: canary exposure", "status": "pass"}, {"name": "baseline: canary exposure", "status": "warn"}]
    m = regulatory_map(r)
    led = evidence(m, "Art. 15", "privacy_ledger")
    assert led["status"] == "assessed" and led["models"] == {"baseline": NOT_ASSESSED, "private": "assessed"}
    only = regulatory_map(r, "baseline")
    assert only["models"] == ["baseline"]
    assert evidence(only, "Art. 15", "privacy_ledger")["status"] == NOT_ASSESSED
    assert [c["name"] for c in evidence(only, "Art. 15", "privacy_audit")["checks"]] == ["baseline: canary exposure"]


def test_not_applicable_sections_are_marked() -> None:
    na = {"not_applicable": True, "reason": "multi-label"}
    m = regulatory_map(results(ml=plain_model(robustness=na, faithfulness=na)))
    assert evidence(m, "Art. 15", "robustness")["status"] == NOT_APPLICABLE
    assert evidence(m, "Annex IV, point 2(g)", "faithfulness")["status"] == NOT_APPLICABLE


def test_check_names_resolve_with_model_names_that_contain_colons() -> None:
    assert check_section("a: b: word attack", ["a", "a: b"]) == ("a: b", "robustness")
    assert check_section("m: IG completeness (explanation-quality sample)", ["m"]) == ("m", "faithfulness")
    assert check_section("m: IG completeness", ["m"]) == ("m", "explanations")
    assert check_section("m: something new", ["m"]) == ("m", None)
    assert check_section("other: accuracy", ["m"]) == (None, None)


def test_every_check_the_audit_can_emit_is_mapped() -> None:
    """Every check name written in the audit's source resolves to a section of the map."""
    pattern = re.compile(r'Check\(\s*f?"(\{[a-z_]+\}|data): ([^"{]+)')
    names = []
    for path in (REPO / "audit").rglob("*.py"):
        for prefix, rest in pattern.findall(path.read_text(encoding="utf-8")):
            names.append(("m: " if prefix != "data" else "data: ") + rest)
    assert len(names) >= 18, names
    for name in names:
        _, section = check_section(name, ["m"])
        assert section in EVIDENCE, name


def test_report_section_renders_escaped() -> None:
    r = results(**{XSS: plain_model(robustness={"invariance": {}})})
    r["checks"] = [{"name": f"{XSS}: word attack", "status": "warn", "message": "m"}]
    doc = render(r)
    m = re.search(r'<section id="regulatory" class="section">(.*?)</section>', doc, re.DOTALL)
    assert m, "no regulatory section"
    sec = m.group(1)
    assert "<script" not in doc and "<img" not in doc
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in sec and "&lt;img src=x" in sec
    text = html.unescape(re.sub(r"<[^>]+>", " ", sec))
    assert f"{XSS}: word attack" in text
    assert "not legal advice" in text
    for h in HEADINGS:
        assert h["reference"] in text and h["title"] in text
    assert "not assessed" in text and "Warning" in text
    assert doc.index('<section id="regulatory"') < doc.index('<section id="limitations"')


def test_personal_data_scan_is_evidence_for_data_governance():
    from reports.regulatory import regulatory_map

    scanned = {"data": {"personal_data": {"n_rows": 3, "counts": {"EMAIL": 1}}}, "models": {},
               "checks": [{"name": "data: personal data", "status": "warn", "message": "1 e-mail address"}]}
    m = regulatory_map(scanned)
    assert m["unmapped_checks"] == []
    found = {h["reference"]: e for h in m["headings"] for e in h["evidence"] if e["section"] == "personal_data"}
    assert set(found) == {"Art. 10(2)", "Annex IV, point 2(d)"}
    assert all(e["status"] == "assessed" and [c["name"] for c in e["checks"]] == ["data: personal data"]
               for e in found.values())
    unscanned = regulatory_map({"data": {"n_rows": 3}, "models": {}, "checks": []})
    entry = next(e for h in unscanned["headings"] for e in h["evidence"] if e["section"] == "personal_data")
    assert entry["status"] == "not assessed" and "not scanned" in entry["note"]
