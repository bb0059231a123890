"""The personal-data report section: content, escaping of hostile text, masking, partial results."""

from __future__ import annotations

import copy
import re
from html.parser import HTMLParser
from typing import Any

from reports import render
from reports._view_pii import build

XSS = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'


def section(raw: bool = False) -> dict[str, Any]:
    return {
        "raw_values_shown": raw, "n_rows": 200, "n_rows_affected": 12, "share_rows_affected": 0.06, "n_findings": 15,
        "counts": {"EMAIL": 9, "PHONE": 5, XSS: 1}, "subtypes": {"PHONE": {"GB": 3, IMG: 2}},
        "rows_by_type": {"EMAIL": 8, "PHONE": 5, XSS: 1},
        "examples": [{"row": 3, "column": f"col {XSS}", "types": ["EMAIL"], "text": f"write to <EMAIL> {XSS} {IMG}"},
                     {"row": 7, "column": "text", "types": ["PHONE"], "text": "ring <PHONE> {{ 7*7 }}"}],
        "columns": [{"column": f"note {IMG}", "n_findings": 3, "n_rows_affected": 2, "share_rows_affected": 0.01, "counts": {"EMAIL": 3}}],
        "scanned_columns": ["text", f"note {IMG}"],
        "scanner": {"types": ["EMAIL", "PHONE"], "detectors": ["email", XSS], "ner_model": None, "min_confidence": 0.5},
        "versions": {"phonenumbers": "9.0", "python-stdnum": "2.2"},
    }


def results(sec: Any) -> dict[str, Any]:
    return {"schema_version": 1, "run": {"command": "scan"}, "data": {"source": "x.csv", "personal_data": sec}, "models": {},
            "checks": [{"name": "data: personal data", "status": "warn", "value": 15, "threshold": 0, "message": "15 found"}]}


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, Any]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def pii_part(doc: str) -> str:
    m = re.search(r'<section[^>]*id="pii".*?</section>', doc, re.S)
    assert m, "no personal-data section"
    return m.group()


def test_section_is_rendered_with_counts_and_escaped():
    doc = render(results(section()))
    part = pii_part(doc)
    assert "Personal data in the training text" in doc
    assert "E-mail address" in part and ">9<" in part and "6.0%" in part
    assert "&lt;EMAIL&gt;" in part and "{{ 7*7 }}" in part and "49" not in part
    assert XSS not in doc and "<img" not in doc
    parser = Tags()
    parser.feed(doc)
    assert not any("onerror" in attrs for _, attrs in parser.tags)
    assert doc.count("<script") == render(results({**section(), "examples": [], "columns": [], "counts": {}})).count("<script")
    assert "note &#34;&gt;&lt;img" in part or "note &quot;&gt;&lt;img" in part
    assert "values replaced by their type" in part and "raw values shown" not in part


def test_opt_in_is_shown():
    part = pii_part(render(results(section(raw=True))))
    assert "raw values shown" in part and "This report shows personal data" in part


def test_missing_and_malformed_parts_degrade():
    broken = copy.deepcopy(section())
    broken.update(counts=[1, 2], examples={"x": 1}, columns="nope", scanner=7, share_rows_affected="NaN", n_rows=None)
    part = pii_part(render(results(broken)))
    assert "Personal data" in render(results(broken))
    assert part
    assert build({"data": {"personal_data": {}}}) is None and build({"data": []}) is None
    assert build({"personal_data": section()})["n_findings"] == "15"  # top-level placement is read too


def test_nothing_found_says_so():
    sec = {**section(), "n_findings": 0, "counts": {}, "n_rows_affected": 0, "examples": [], "columns": []}
    part = pii_part(render(results(sec)))
    assert "No personal data found in 200 rows" in part
    assert 'id="pii"' not in render(results(None))


def test_training_anonymised_before_training_is_shown_escaped():
    doc = results(section())
    doc["models"] = {"baseline": {
        "identity": {"source": "m"}, "performance": {"n": 2, "accuracy": 1.0},
        "training": {"n_train": 5, "config": {"anonymisation": {"mode": f"pseudonym{XSS}",
                                                                 "replacements": {"EMAIL": 3, IMG: 2}}}}}}
    html = render(doc)
    row = re.search(r"Anonymised before training</t[hd]>\s*<td[^>]*>(.*?)</td>", html, re.S)
    assert row is not None, "the training table lacks the anonymisation row"
    assert "3 EMAIL" in row.group(1) and "<script>" not in row.group(1) and "&lt;script&gt;" in row.group(1)
