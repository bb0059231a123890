"""The model matrix: every architecture family, each with a tokenizer of its own family, through
every command a user runs (``audit run`` with every default analysis, ``audit train``,
``audit train --dp``, ``audit render``), from model directories laid out as the Hub ships them.

Each cell records what it saw; the last test renders those records as the compatibility table of
docs/models.md and fails when the committed page differs (regenerate it with
``python tools/models_doc.py``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dp_exactness import zero_noise_step
from model_zoo import TOKENIZERS, ZOO, build

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "models.md"
COMMANDS = ("run", "train", "train-dp", "render")
RECORDS: dict[str, dict[str, dict]] = {}


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory) -> Path:
    import pandas as pd

    from audit.demo import make_demo_dataset

    d = make_demo_dataset(n=200, seed=3)
    path = tmp_path_factory.mktemp("matrix-data") / "reviews.csv"
    pd.DataFrame({"text": d.texts, "label": [d.label_names[i] for i in d.labels]}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("matrix-models")
    return {m.name: build(m.name, root / m.name, label_names=["negative", "positive"]) for m in ZOO}


def _cli(*argv: str) -> None:
    from audit.cli import main

    rc = main([*argv, "--quiet"] + (["--device", "cpu"] if argv[0] != "render" else []))
    assert rc == 0, f"audit {' '.join(argv)} exited with {rc}"


def _record(name: str, command: str, **facts) -> None:
    RECORDS.setdefault(name, {})[command] = {"status": "ok", **facts}


def _tokenizer_facts(model_dir: Path) -> dict:
    from audit.models import load_model

    from audit._forward import is_last_token_classifier
    from audit._readout import readout_available

    b = load_model(model_dir, device="cpu")
    tok = b.tokenizer
    ids = tok(["x"])["input_ids"][0]
    specials = [t for t in tok.convert_ids_to_tokens(ids) if t in tok.all_special_tokens]
    reads = "last non-pad token" if is_last_token_classifier(b.model) else "first token"
    return {"class": json.loads((model_dir / "tokenizer_config.json").read_text()).get("tokenizer_class"),
            "padding_side": tok.padding_side, "specials": specials, "model_class": type(b.model).__name__,
            "reads": reads + (" (short last layer)" if readout_available(b.model) else "")}


@pytest.mark.parametrize("zoo", ZOO, ids=lambda m: m.name)
def test_run_every_default_analysis(zoo, model_dirs, data_csv, tmp_path):
    out = tmp_path / "run"
    _cli("run", "--model", str(model_dirs[zoo.name]), "--data", str(data_csv), "--out", str(out), "--limit", "40",
         "--examples", "1", "--ig-steps", "48", "--faithfulness-examples", "4", "--attack-texts", "4")
    res = json.loads((out / "results.json").read_text())
    section = res["models"]["baseline"]
    for key in ("performance", "explanations", "faithfulness", "robustness", "truncation"):
        assert key in section, f"{zoo.name}: results lack {key}"
    assert section["performance"]["n"] == 40
    for ex in section["explanations"]["examples"]:  # every explained word is a span of the text
        for w in ex["words"]:
            assert ex["text"][w["start"]:w["end"]] == w["text"]
    errors = [c for c in res["checks"] if c["status"] == "error"]
    assert not errors, errors
    assert (out / "report.html").stat().st_size > 10_000
    _record(zoo.name, "run", tokenizer=_tokenizer_facts(model_dirs[zoo.name]), results=str(out / "results.json"))


@pytest.mark.parametrize("zoo", ZOO, ids=lambda m: m.name)
def test_train(zoo, model_dirs, data_csv, tmp_path):
    _cli("train", "--model", str(model_dirs[zoo.name]), "--data", str(data_csv), "--out", str(tmp_path / "t"),
         "--epochs", "1", "--batch-size", "32", "--max-length", "48", "--no-report")
    record = json.loads((tmp_path / "t" / "model" / "training.json").read_text())
    losses = [e["train_loss"] for e in record["epochs"]]
    assert losses and all(v == v and v < 10 for v in losses), losses  # trained, with finite losses
    _record(zoo.name, "train")


@pytest.mark.parametrize("zoo", ZOO, ids=lambda m: m.name)
def test_train_private(zoo, model_dirs, data_csv, tmp_path):
    out = tmp_path / "dp"
    _cli("train", "--dp", "--epsilon", "8", "--model", str(model_dirs[zoo.name]), "--data", str(data_csv),
         "--out", str(out), "--epochs", "1", "--batch-size", "64", "--max-length", "48", "--no-report")
    ledger = json.loads((out / "model" / "privacy_ledger.json").read_text())
    assert ledger["epsilon"] <= 8.0 + 1e-6 and ledger["steps"] >= 1
    # the zero-noise exactness check of a DP step with the same defaults, on the model as shipped
    from audit.models import load_model
    from audit.training.private import DEFAULTS

    check = zero_noise_step(load_model(model_dirs[zoo.name], device="cpu"), DEFAULTS["trainable"], DEFAULTS["grad_sample_mode"])
    # both branches of the clip are exercised (half the reference norms above C, half below), and the step's
    # measured clipped norms are the reference loop's
    assert check.n_clipped == check.n_unclipped == len(check.reference_norms) // 2
    assert max(abs(check.step_clipped / check.reference_clipped - 1)) <= 1e-6, (check.step_clipped, check.clip)
    assert check.relative_error <= 1e-6, check.relative_error
    _record(zoo.name, "train-dp", clipping=ledger["grad_sample_mode"], trainable=ledger["trainable_scope"],
            exactness=check.relative_error)


@pytest.mark.parametrize("zoo", ZOO, ids=lambda m: m.name)
def test_render(zoo, tmp_path):
    run = RECORDS.get(zoo.name, {}).get("run")
    if run is None:
        pytest.skip("audit run did not complete for this model in this session")
    out = tmp_path / "again.html"
    _cli("render", run["results"], "--out", str(out))
    html = out.read_text()
    assert "Explanations" in html and "Robustness" in html
    _record(zoo.name, "render")


def models_table(records: dict[str, dict[str, dict]]) -> str:
    """The compatibility table of docs/models.md from the matrix records."""
    head = ("| Architecture | Model class | Tokenizer | Special tokens added | Padding | Classifier reads "
            "| `audit run` | `audit train` | `audit train --dp` | DP step vs per-example loop | `audit render` |")
    lines = [head, "|" + "---|" * 11]
    for m in ZOO:
        rec = records.get(m.name, {})
        tok = rec.get("run", {}).get("tokenizer", {})
        spec = TOKENIZERS[m.tokenizer]

        def cell(cmd: str, extra: str = "") -> str:
            return ("ok" + extra) if cmd in rec else "not run"

        dp = rec.get("train-dp", {})
        dp_extra = f" ({dp['clipping']} clipping)" if dp.get("clipping") else ""
        exact = "equal (relative error ≤ 1e-6)" if "exactness" in dp else "not run"
        lines.append(
            f"| {m.arch} | {tok.get('model_class', '?')} | {spec.family} ({tok.get('class', '?')}) "
            f"| {' '.join(f'`{s}`' for s in tok.get('specials', [])) or 'none'} | {tok.get('padding_side', '?')} "
            f"| {tok.get('reads', '?')} | {cell('run')} | {cell('train')} | {cell('train-dp', dp_extra)} | {exact} "
            f"| {cell('render')} |"
        )
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- matrix:begin -->", "<!-- matrix:end -->"


def render_doc(records: dict[str, dict[str, dict]], current: str) -> str:
    """``current`` with the text between the matrix markers replaced by the table."""
    before, _, rest = current.partition(BEGIN)
    _, _, after = rest.partition(END)
    return f"{before}{BEGIN}\n{models_table(records)}{END}{after}"


def test_models_doc_is_current():
    complete = all(set(COMMANDS) <= set(RECORDS.get(m.name, {})) for m in ZOO)
    if not complete:
        pytest.skip("the whole matrix did not run in this session")
    record = os.environ.get("AUDIT_MATRIX_RECORD")
    if record:  # tools/models_doc.py regenerates the page from these records
        Path(record).write_text(json.dumps(RECORDS, indent=1), encoding="utf-8")
        return
    text = DOC.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, f"{DOC} lacks the matrix markers"
    assert render_doc(RECORDS, text) == text, f"{DOC} is out of date: regenerate it with `python tools/models_doc.py`"
