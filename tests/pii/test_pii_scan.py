"""The personal-data scan: counts equal what was planted, values stay masked unless opted in,
per-column results, the report section, exit codes."""

from __future__ import annotations

import json

import pytest
from pii_data import EMAILS, PLANTED, PLANTED_ROWS, RAW_VALUES, ROWS, TEXT_VALUES, raw_fragments, write_csv

from audit.cli import main
from audit.pii import TYPES, PIIScanner, scan_dataset


@pytest.fixture(scope="module")
def scanner():
    return PIIScanner()


def test_counts_equal_the_planted_ones(scanner):
    texts = [r[0] for r in ROWS]
    sec = scan_dataset(texts, scanner)
    assert sec["counts"] == PLANTED
    assert sec["n_rows"] == len(ROWS) and sec["n_rows_affected"] == PLANTED_ROWS
    assert sec["share_rows_affected"] == pytest.approx(PLANTED_ROWS / len(ROWS))
    assert sec["rows_by_type"]["EMAIL"] == 2 and sec["rows_by_type"]["PHONE"] == 2
    assert sum(sec["counts"].values()) == sec["n_findings"]
    assert sec["raw_values_shown"] is False
    assert sec["versions"]["phonenumbers"] and sec["versions"]["python-stdnum"]
    assert sec["scanner"]["types"] == list(TYPES) and "email" in sec["scanner"]["detectors"]
    assert sec["scanner"]["ner_model"] is None and sec["scanner"]["min_confidence"] == 0.5
    only = scan_dataset(texts, PIIScanner(types=["EMAIL"]))
    assert only["counts"] == {"EMAIL": PLANTED["EMAIL"]} and only["scanner"]["types"] == ["EMAIL"]


def test_examples_are_masked_by_type_and_cover_each_type(scanner):
    texts = [r[0] for r in ROWS]
    sec = scan_dataset(texts, scanner, examples=4)
    assert len(sec["examples"]) == 4
    shown = {t for e in sec["examples"] for t in e["types"]}
    assert shown == set(PLANTED)  # one example per type before any repeat
    blob = json.dumps(sec)
    for v in RAW_VALUES:
        assert all(frag not in blob for frag in raw_fragments(v)), v
    assert any("<EMAIL>" in e["text"] for e in sec["examples"])


def test_show_values_is_an_opt_in_that_is_recorded(scanner):
    sec = scan_dataset([r[0] for r in ROWS], scanner, show_values=True, examples=10)
    assert sec["raw_values_shown"] is True
    blob = json.dumps(sec)
    assert all(v in blob for v in TEXT_VALUES)
    values = {f["value"] for e in sec["examples"] for f in e["findings"]}
    assert EMAILS[0] in values


def test_per_column_results(scanner):
    table = {"text": [r[0] for r in ROWS], "note": [r[2] for r in ROWS], "empty": [None] * len(ROWS)}
    sec = scan_dataset(table, scanner, columns=["text", "note", "empty"])
    by_col = {c["column"]: c for c in sec["columns"]}
    assert by_col["text"]["counts"] == PLANTED
    assert by_col["note"]["counts"] == {"EMAIL": 1} and by_col["note"]["n_rows_affected"] == 1
    assert by_col["empty"]["n_findings"] == 0
    assert sec["counts"]["EMAIL"] == PLANTED["EMAIL"] + 1
    assert sec["n_rows_affected"] == PLANTED_ROWS  # the note's e-mail is in a row that already had some
    with pytest.raises(ValueError, match="missing"):
        scan_dataset(table, scanner, columns=["missing"])


def _all_output(out) -> str:
    return (out / "results.json").read_text(encoding="utf-8") + (out / "report.html").read_text(encoding="utf-8")


def test_scan_command_masks_values_in_results_and_report(tmp_path, capsys):
    data = write_csv(tmp_path / "reviews.csv")
    out = tmp_path / "scan"
    rc = main(["scan", "--data", str(data), "--columns", "text,note", "--out", str(out), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    d = json.loads((out / "results.json").read_text())
    sec = d["data"]["personal_data"]
    assert sec["raw_values_shown"] is False and sec["counts"]["CREDIT_CARD"] == 1
    assert [c["column"] for c in sec["columns"]] == ["text", "note"]
    check = next(c for c in d["checks"] if c["name"] == "data: personal data")
    assert check["status"] == "warn" and check["value"] == sec["n_findings"]
    text = _all_output(out)
    for v in RAW_VALUES + [EMAILS[1]]:
        assert all(frag not in text for frag in raw_fragments(v)), v
    html = (out / "report.html").read_text()
    assert "Personal data in the training text" in html and "&lt;EMAIL&gt;" in html


def test_scan_command_show_values(tmp_path, capsys):
    data = write_csv(tmp_path / "reviews.csv")
    out = tmp_path / "scan"
    rc = main(["scan", "--data", str(data), "--out", str(out), "--show-values", "--examples", "10", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    assert json.loads((out / "results.json").read_text())["data"]["personal_data"]["raw_values_shown"] is True
    html = (out / "report.html").read_text()
    assert EMAILS[0] in html and "raw values shown" in html


def test_scan_command_exit_codes(tmp_path, capsys):
    data = write_csv(tmp_path / "reviews.csv")
    clean = write_csv(tmp_path / "clean.csv", rows=[r for r in ROWS if r[0].startswith(("The product", "Lovely", "Nothing"))])
    assert main(["scan", "--data", str(data), "--out", str(tmp_path / "a"), "--fail-on", "warn", "--quiet"]) == 1
    assert main(["scan", "--data", str(clean), "--out", str(tmp_path / "b"), "--fail-on", "warn", "--quiet"]) == 0
    assert json.loads((tmp_path / "b" / "results.json").read_text())["data"]["personal_data"]["n_findings"] == 0
    assert main(["scan", "--data", str(data), "--columns", "nope", "--out", str(tmp_path / "c"), "--quiet"]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["scan", "--data", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "d"), "--quiet"]) == 2


def test_demo_names_are_found_only_where_planted_and_reach_the_report(scanner, tmp_path):
    from audit.demo import make_demo_dataset
    from audit.pipeline import add_personal_data
    from audit.results import AuditResult
    from reports import write_report

    ds = make_demo_dataset(n=300, seed=1)
    result = AuditResult(run={"command": "demo"}, data={"source": "demo"})
    sec = add_personal_data(result, ds, scanner)
    names = ds.meta["names"]
    hit_rows = {e["row"] for e in sec["examples"]}
    assert sec["counts"].get("PERSON", 0) > 0 and set(sec["counts"]) == {"PERSON"}
    assert sec["n_rows_affected"] <= sum(1 for n in names if n)
    assert all(names[i] for i in hit_rows)  # every example is a review with a planted name
    assert all(names[i] for i, fs in enumerate(scanner.scan_many(ds.texts)) if fs)  # and so is every row with a finding
    for e in sec["examples"]:
        assert names[e["row"]] not in e["text"].split() and "<PERSON>" in e["text"]
    check = next(c for c in result.checks if c.name == "data: personal data")
    assert check.status == "warn" and check.value == sec["n_findings"]
    html = write_report(result.to_dict(), tmp_path / "report.html").read_text()
    assert 'id="pii"' in html and "&lt;PERSON&gt;" in html
    assert not any(f" {names[i]} " in html for i in hit_rows)


def test_demo_run_writes_the_section(tmp_path):
    """``run_demo`` scans what it trains on: results.json and the report carry the section."""
    from model_zoo import build

    from audit.pipeline import AuditConfig, DemoConfig, run_demo

    cfg = DemoConfig(n=160, private=False, privacy_audit=False, max_length=32,
                     audit=AuditConfig(explain=False, analyses=(), show_progress=False))
    result = run_demo(tmp_path / "demo", cfg, device="cpu", model_source=build("bert+wordpiece", tmp_path / "bert"))
    d = json.loads((tmp_path / "demo" / "results.json").read_text())
    sec = d["data"]["personal_data"]
    assert sec["n_rows"] == d["data"]["splits"]["train"] and sec["counts"]["PERSON"] > 0
    assert any(c["name"] == "data: personal data" and c["status"] == "warn" for c in d["checks"])
    assert result.run["timings"]["personal_data"] >= 0
    html = (tmp_path / "demo" / "report.html").read_text()
    assert "Personal data in the training text" in html and "&lt;PERSON&gt;" in html
