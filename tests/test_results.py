import json

import pytest

from audit.results import SCHEMA_VERSION, AuditResult, Check, wall_time


def test_roundtrip_and_strict_json(tmp_path):
    r = AuditResult(run={"seed": 1, "x": float("nan")}, data={"n_rows": 2}, models={"m": {"identity": {"sha256": "ab"}}},
                    checks=[Check("acc", "pass", 0.9, 0.8, "ok")], limitations=["few rows"])
    path = r.save(tmp_path / "results.json")
    text = path.read_text()
    assert "NaN" not in text  # strict JSON
    d = json.loads(text)
    assert d["schema_version"] == SCHEMA_VERSION and d["run"]["x"] is None
    again = AuditResult.load(path)
    assert again.checks[0].name == "acc" and again.models == r.models
    assert again.status == "pass"


def test_status_is_worst_check():
    r = AuditResult(run={}, data={}, checks=[Check("a", "pass"), Check("b", "fail"), Check("c", "warn")])
    assert r.status == "fail"
    with pytest.raises(ValueError):
        Check("x", "great")


def test_load_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        AuditResult.load(bad)
    bad.write_text(json.dumps({"run": {}}))
    with pytest.raises(ValueError, match="schema_version is missing"):
        AuditResult.load(bad)
    bad.write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(ValueError, match="newer"):
        AuditResult.load(bad)


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    path.write_text("previous")
    r = AuditResult(run={"bad": object()}, data={})
    with pytest.raises(TypeError):
        r.save(path)
    assert path.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_stage_seconds_are_recorded_checked_and_read_back(tmp_path):
    """run.timings: stage -> seconds; the sequential stages add up to wall_time_s; both loaders accept it."""
    from reports import load_results

    timings = {"data": 0.5, "load": 1.0, "train": 4.0, "train_private": 8.0, "baseline.evaluate": 0.2,
               "baseline.robustness": 3.0, "private.evaluate": 0.2, "audit": 3.5}
    r = AuditResult(run={"timings": dict(timings), "wall_time_s": wall_time(timings)}, data={})
    assert r.run["wall_time_s"] == 17.0  # the parts of the audit are not counted twice
    r.record_stage("personal_data", 0.25)
    r.record_stage("render", 0.75)
    assert r.run["wall_time_s"] == 18.0 and list(r.run["timings"])[-1] == "render"
    path = r.save(tmp_path / "results.json")
    assert AuditResult.load(path).run["timings"] == r.run["timings"]
    assert load_results(path)["run"]["timings"]["render"] == 0.75
    for bad in ({"render": -1.0}, {"render": "fast"}, ["render"]):
        path.write_text(json.dumps({"schema_version": SCHEMA_VERSION, "run": {"timings": bad}}))
        with pytest.raises(ValueError, match="run.timings"):
            AuditResult.load(path)
