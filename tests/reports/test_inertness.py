"""Every results field that reaches a rendered document stays text, whatever it holds.

Complete results files from real (tiny) runs (tests/data/full_results*.json: every analysis on a
single-label classifier; a multi-label classifier; and the first with the rarer branches taken)
are copied with markup around every string (see tests/hostile_results.py): texts, heatmap words
and the gaps between them, tokens, training texts shown on request, robustness labels and
adversarial texts, check names and messages, model and label names, personal-data findings,
configuration keys and values, and (in one copy) numbers. Each copy is rendered by every renderer
that takes results text (the HTML report, the comparison page, the markdown summary, the JUnit
XML, the model card) and the output is parsed: no element or attribute may come from the payload,
and every planted marker that appears must be shown as text right after the (escaped) payload.
Fields the renderers are known to show are also required to appear, so a change that stops
showing them (and with it this check) is noticed.

tools/template_safe_mutation.py measures what these tests would notice: each template expression
marked ``|safe`` in turn must make them fail unless it never shows results text.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from typing import Any

import pytest

from hostile_results import (FULL_RESULTS, FULL_RESULTS_MULTI_LABEL, PAYLOAD, VARIANTS, HostileCopy, edge_cases,
                             edge_comparison_sources, inert_problems, markers_in, renderer_literals, scan, sections)
from reports import render, render_comparison

# (what, section id, path parts of the planted field): must appear in that section of the report
# rendered from each hostile copy of each fixture.
_EVERY_FIXTURE = [("check name", "summary", ("checks", "*", "name")),
          ("check message", "summary", ("checks", "*", "message")),
          ("heatmap word", "explanations", ("examples", "*", "text", "word")),
          ("heatmap gap between words", "explanations", ("examples", "*", "text", "gap")),
          ("limitation", "limitations", ("limitations",))]
REQUIRED_IN_REPORT = {
    "identifiers-kept": {
        "single-label": _EVERY_FIXTURE + [
            ("label name", "performance", ("label name",)),
            ("data source", "identity", ("data", "source")),
            ("model source", "identity", ("models", "*", "identity", "source")),
            ("run configuration key", "identity", ("run", "config", "<key>")),
            ("training configuration", "training", ("training", "config")),
            ("token", "explanations", ("examples", "*", "attributions", "*", "tokens")),
            ("explanation settings", "explanations", ("explanations", "config")),
            ("faithfulness protocol", "faithfulness", ("faithfulness", "faithfulness", "protocol")),
            ("sanity stage name", "faithfulness", ("faithfulness", "sanity", "stages", "*", "name")),
            ("robustness label", "robustness", ("label name",)),
            ("adversarial text", "robustness", ("examples", "*", "adversarial_text")),
            ("attacked text", "robustness", ("char_attack", "examples", "*", "text")),
            ("invariance test name", "robustness", ("invariance", "tests", "*", "name")),
            ("invariance example", "robustness", ("invariance", "tests", "*", "examples")),
            ("radius-1 counterexample", "robustness", ("radius1", "examples", "*", "counterexample")),
            ("privacy ledger field", "privacy", ("privacy_ledger", "sampling")),
            ("training text shown on request", "privacy_audit", ("vulnerable_records", "*", "text")),
            ("canary text", "privacy_audit", ("canaries", "canaries", "*", "masked_text")),
            ("privacy-audit note", "privacy_audit", ("privacy_audit", "notes")),
            ("personal-data finding", "pii", ("personal_data", "examples", "*", "text")),
            ("check name in the regulatory map", "regulatory", ("checks", "*", "name")),
        ],
        "multi-label": _EVERY_FIXTURE + [
            ("model name", "summary", ("model name",)),
            ("label name", "performance", ("label name",)),
            ("explained label", "explanations", ("label name",)),
            ("reason an analysis does not apply", "faithfulness", ("faithfulness", "reason")),
            ("reason an analysis does not apply", "robustness", ("robustness", "reason")),
        ],
        "edge-cases": _EVERY_FIXTURE + [
            ("label name", "performance", ("label name",)),
            ("text of an example no method explained", "explanations", ("examples", 1, "text", "word")),
            ("text after the truncation mark", "explanations", ("examples", 0, "text", "word")),
            ("name of the private model in the cost of privacy", "privacy", ("model name", "dp-model")),
            ("evaluation metric of a training epoch", "training", ("epochs", "*", "eval", "<key>")),
            ("membership attack", "privacy_audit", ("membership_inference", "attacks", "min_k_probability", "title")),
            ("attack scoring a canary", "privacy_audit", ("canaries", "canaries", "*", "scores", "<key>")),
            ("reason membership inference was skipped", "privacy_audit", ("membership_inference", "reason")),
            ("reason the canaries were skipped", "privacy_audit", ("canaries", "reason")),
            ("reason the lower bound was skipped", "privacy_audit", ("epsilon_lower_bound", "reason")),
            ("note of the DP check", "privacy_audit", ("dp_bound_check", "notes")),
            ("personal-data type", "pii", ("personal_data", "counts", "<key>")),
            ("column holding personal data", "pii", ("personal_data", "columns", "*", "column")),
            ("trained parameter name", "privacy", ("trainable_parameter_names",)),
            ("flag of an adversarial edit", "robustness", ("examples", "*", "flags")),
        ],
    },
    "every-string": {
        "single-label": _EVERY_FIXTURE + [
            ("model name", "summary", ("model name",)),
            ("label name", "performance", ("label name",)),
            ("check status", "summary", ("checks", "*", "status")),
            ("explanation category", "explanations", ("examples", "*", "category")),
            ("method name", "explanations", ("method name",)),
            ("invariance test status", "robustness", ("invariance", "tests", "*", "status")),
            ("canary kind", "privacy_audit", ("canaries", "canaries", "*", "kind")),
            ("personal-data type", "pii", ("personal_data", "examples", "*", "types")),
        ],
        "multi-label": _EVERY_FIXTURE + [
            ("explanation category", "explanations", ("examples", "*", "category")),
            ("method name", "explanations", ("method name",)),
        ],
        "edge-cases": _EVERY_FIXTURE + [
            ("most faithful method passed over", "faithfulness", ("method name",)),
        ],
    },
    "numbers-as-text": {
        kind: [("label index given as text", "explanations", ("examples", "*", "label", "<number>")),
               ("data split size given as text", "identity", ("data", "splits", "*", "<number>"))]
        for kind in ("single-label", "multi-label", "edge-cases")
    },
}
SECTIONS = {
    "single-label": {"summary", "identity", "training", "performance", "explanations", "faithfulness", "robustness",
                     "privacy", "privacy_audit", "pii", "regulatory", "limitations"},
    "multi-label": {"summary", "identity", "training", "performance", "explanations", "faithfulness", "robustness",
                    "pii", "regulatory", "limitations"},
}
SECTIONS["edge-cases"] = SECTIONS["single-label"]
FIXTURES = {"single-label": FULL_RESULTS, "multi-label": FULL_RESULTS_MULTI_LABEL, "edge-cases": FULL_RESULTS}


@pytest.fixture(scope="module", params=list(FIXTURES))
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def full(kind: str) -> dict[str, Any]:
    results = json.loads(FIXTURES[kind].read_text(encoding="utf-8"))
    return edge_cases(results) if kind == "edge-cases" else results


@pytest.fixture(scope="module")
def clean_report(full: dict[str, Any]) -> str:
    return render(full)


@pytest.fixture(scope="module")
def own_tags(clean_report: str) -> Counter[str]:
    """The report's own elements (none of the payload's kinds, today)."""
    return scan(clean_report).tags


@pytest.fixture(scope="module")
def clean_comparison(full: dict[str, Any], kind: str) -> dict[str, Any]:
    return _comparison(full, kind)


@pytest.fixture(scope="module")
def own_comparison_tags(clean_comparison: dict[str, Any]) -> Counter[str]:
    return scan(render_comparison(clean_comparison)).tags


@pytest.fixture(scope="module")
def literals() -> frozenset[str]:
    return renderer_literals()


@pytest.fixture(scope="module", params=VARIANTS)
def hostile(request: pytest.FixtureRequest, full: dict[str, Any], literals: frozenset[str]) -> HostileCopy:
    return HostileCopy(full, request.param, literals)


@pytest.fixture(scope="module")
def report(hostile: HostileCopy) -> str:
    return render(hostile.results)


def _markdown_html(text: str) -> str:
    """Markdown as a viewer shows it: CommonMark with raw HTML allowed, and tables."""
    markdown_it = pytest.importorskip("markdown_it")
    return markdown_it.MarkdownIt("commonmark").enable("table").render(text)


def _missing(document: str, hostile: HostileCopy, required: list[tuple[str, str | None, tuple[Any, ...]]]) -> list[str]:
    parts = sections(document)
    out = []
    for what, section, path in required:
        if path == ("model name",) and not hostile.markers("model name"):
            continue  # this copy keeps the model names (they are names the renderers look up)
        shown = markers_in(parts.get(section, "") if section else document)
        if not hostile.markers(*path) & shown:
            out.append(f"{what} ({'/'.join(map(str, path))}) not shown" + (f" in section {section!r}" if section else ""))
    return out


def test_fixture_covers_every_report_section(clean_report: str, kind: str) -> None:
    assert set(sections(clean_report)) >= SECTIONS[kind]


def test_report_is_inert(report: str, own_tags: Counter[str]) -> None:
    assert inert_problems(report, own_tags) == []


def test_hostile_report_keeps_every_section(report: str, clean_report: str) -> None:
    assert list(sections(report)) == list(sections(clean_report))


def test_results_text_reaches_the_report_as_text(report: str, hostile: HostileCopy, kind: str) -> None:
    assert _missing(report, hostile, REQUIRED_IN_REPORT[hostile.variant][kind]) == []


def _comparison(results: dict[str, Any], kind: str, label_a: str = "A", path_a: str = "a/results.json") -> dict[str, Any]:
    """Two results files compared. Usually two copies: the first model against the second within
    one file (check changes), and the first model against itself across the files (matched
    explanations). For the edge cases: the default pairing of two files evaluated on different
    data, one of whose models has no partner."""
    from audit.compare import Source, compare

    if kind == "edge-cases":
        a, b = edge_comparison_sources(results)
        return compare([Source(label_a, path_a, a), Source("B", "b/results.json", b)], allow_different_data=True,
                       n_boot=50)
    first, *others = list(results["models"])
    sources = [Source(label_a, path_a, results), Source("B", "b/results.json", results)]
    pairs = [((0, first), (0, m)) for m in others[:1]] + [((0, first), (1, first))]
    return compare(sources, pairs, n_boot=50)


# The comparison, the gate and the card compute with the numbers (text in their place is an input
# error, not a rendering question); the report and a comparison document are also rendered with
# text for every number.
STRING_VARIANTS = ["every-string", "identifiers-kept"]


@pytest.mark.parametrize("hostile", STRING_VARIANTS, indirect=True)
def test_comparison_is_inert(hostile: HostileCopy, kind: str, own_comparison_tags: Counter[str]) -> None:
    label = hostile.wrap("A", ("comparison", "file label"))
    path = hostile.wrap("a/results.json", ("comparison", "path"))
    doc = render_comparison(_comparison(hostile.results, kind, label, path))
    assert inert_problems(doc, own_comparison_tags) == []
    required = [("model name", None, ("model name",)), ("file label", None, ("comparison", "file label")),
                ("results path", None, ("comparison", "path")), ("label name", None, ("label name",)),
                ("explanation word", None, ("examples", "*", "text", "word")),
                ("explanation gap", None, ("examples", "*", "text", "gap")),
                ("model source", None, ("identity", "source"))]
    if kind == "single-label":  # two models whose checks differ
        required += [("check name", None, ("checks", "*", "name")), ("check message", None, ("checks", "*", "message"))]
    assert _missing(doc, hostile, required) == []


@pytest.mark.parametrize("variant", ["every-string", "numbers-as-text"])  # the latter keeps identifiers
def test_saved_comparison_is_inert(variant: str, clean_comparison: dict[str, Any], own_comparison_tags: Counter[str],
                                   literals: frozenset[str]) -> None:
    """A comparison document (compare.json, which ``write_comparison`` also renders when read
    back) is untrusted too: every string in it, not only those copied from the results."""
    hostile = HostileCopy(clean_comparison, variant, literals)
    doc = render_comparison(hostile.results)
    assert inert_problems(doc, own_comparison_tags) == []
    assert len(markers_in(doc)) >= 20


def _gate_checks(hostile: HostileCopy, full: dict[str, Any]) -> list[dict[str, Any]]:
    """The hostile checks with their statuses as the gate requires them (an unknown status is an error)."""
    return [{**c, "status": clean["status"]} for c, clean in zip(hostile.results["checks"], full["checks"])]


@pytest.mark.parametrize("hostile", STRING_VARIANTS, indirect=True)
def test_markdown_summary_is_inert(hostile: HostileCopy, full: dict[str, Any]) -> None:
    from audit import summary_md
    from audit.gate import judge

    checks = _gate_checks(hostile, full)
    note = hostile.wrap("a note", ("summary", "note"))
    source = hostile.wrap("runs/results.json", ("summary", "source"))
    text = summary_md.render(hostile.results, checks, judge(checks, "fail"), {"performance.min_accuracy": 0.8}, [note],
                             source=source)
    doc = _markdown_html(text)
    assert inert_problems(doc) == []
    assert Counter(t for t in scan(doc).tags if t in ("a", "code", "em", "img")) == Counter()
    required = [("check name", None, ("checks", "*", "name")), ("check message", None, ("checks", "*", "message")),
                ("model name", None, ("model name",)), ("note", None, ("summary", "note")),
                ("results path", None, ("summary", "source"))]
    assert _missing(doc, hostile, required) == []


@pytest.mark.parametrize("hostile", STRING_VARIANTS, indirect=True)
def test_junit_keeps_results_text_as_text(hostile: HostileCopy, full: dict[str, Any]) -> None:
    from audit import junit

    checks = _gate_checks(hostile, full)
    root = ET.fromstring(junit.render(checks, hostile.results["models"]))
    assert {el.tag for el in root.iter()} <= {"testsuites", "testsuite", "testcase", "failure", "error", "skipped",
                                              "system-out", "properties", "property"}
    shown = {(el.tag, k): v for el in root.iter() for k, v in el.attrib.items()}
    texts = [v for v in shown.values()] + [el.text or "" for el in root.iter()]
    # every check name and message is carried verbatim (the payload intact, so nothing was dropped or decoded)
    suites = {el.get("name") for el in root.iter("testsuite")}
    assert set(hostile.results["models"]) <= suites  # checks still tied to their (hostile) models
    for c in checks:
        message = c.get("message")
        if message:
            assert any(message in t for t in texts), message[:80]
    assert sum(PAYLOAD in t for t in texts) >= len(checks)


@pytest.mark.parametrize("hostile", STRING_VARIANTS, indirect=True)
def test_model_card_is_inert(hostile: HostileCopy) -> None:
    from modelcard import CardInfo, build_card

    def field(name: str) -> str:
        return hostile.wrap(name.replace("_", " "), ("card", name))

    info = CardInfo(model_name=field("model_name"), intended_use=field("intended_use"),
                    out_of_scope_use=field("out_of_scope_use"), owners=(field("owners"),), contact=field("contact"),
                    dataset_name=field("dataset_name"), limitations=(field("limitations"),))
    model = next(iter(hostile.results["models"]))
    card = str(build_card(hostile.results, model, info))
    body = card.split("\n---\n", 1)[1]
    doc = _markdown_html(body)
    assert inert_problems(doc) == []
    required = [(f"card field {name}", None, ("card", name)) for name in
                ("model_name", "intended_use", "out_of_scope_use", "owners", "contact", "dataset_name", "limitations")]
    required += [("label name", None, ("label name",)), ("limitation", None, ("limitations",))]
    assert _missing(doc, hostile, required) == []
