"""Texts longer than the model's input: where each is cut, how much is lost, and how the report shows it."""

from __future__ import annotations

import pytest

from audit.models import load_model
from audit.truncation import measure_truncation
from model_zoo import make_model

LONG = ("The battery died after two days and the screen flickered every evening, "
        "but the camera was excellent and the delivery was quick. ") * 3
SHORT = "A great film."
FAMILIES = ["bert+wordpiece", "roberta+bytelevel-bpe", "gpt2+gpt2-bpe", "xlm-roberta+unigram-xlmr", "llama+sp-bpe"]


@pytest.fixture(scope="module", params=FAMILIES)
def bundle(request):
    return load_model(make_model(request.param), device="cpu")


def test_cut_point_is_where_the_models_input_ends(bundle):
    limit = 24
    t = measure_truncation(bundle, [LONG, SHORT, "  "], max_length=limit)
    assert t.cut_at[1] is None and t.chars_cut[1] == 0
    cut = t.cut_at[0]
    assert cut is not None and 0 < cut < len(LONG)
    tok = bundle.tokenizer
    kept = tok([LONG], truncation=True, max_length=limit, return_special_tokens_mask=True)
    kept_ids = [i for i, s in zip(kept["input_ids"][0], kept["special_tokens_mask"][0]) if not s]
    prefix = tok([LONG[:cut]], return_special_tokens_mask=True)
    prefix_ids = [i for i, s in zip(prefix["input_ids"][0], prefix["special_tokens_mask"][0]) if not s]
    assert prefix_ids == kept_ids  # the text up to the cut is exactly what the model reads
    assert t.chars_cut[0] == len(LONG.rstrip()) - cut
    full = len(tok([LONG])["input_ids"][0])
    s = t.summary
    assert s["n_truncated"] == 1 and s["n_texts"] == 3 and s["max_length"] == limit
    assert s["tokens_cut"] == full - limit
    assert s["chars_cut"] == t.chars_cut[0]
    assert s["fraction_chars_cut"] == pytest.approx(t.chars_cut[0] / (len(LONG.rstrip()) + len(SHORT)))
    assert s["max_tokens"] == full


def test_nothing_cut_when_every_text_fits(bundle):
    s = measure_truncation(bundle, [SHORT, "bad"], max_length=64).summary
    assert s["n_truncated"] == 0 and s["chars_cut"] == 0 and s["tokens_cut"] == 0


def test_audit_reports_truncation_and_marks_the_cut(tmp_path):
    from audit.data import TextDataset
    from audit.pipeline import AuditConfig, run_audit, write_outputs

    b = load_model(make_model("bert+wordpiece", label_names=["negative", "positive"]), device="cpu")
    hostile = LONG + "<script>alert(1)</script> & the end"
    texts = [hostile, SHORT, "bad service", LONG + " really"]
    data = TextDataset(texts=texts, labels=[0, 1, 0, 1], label_names=["negative", "positive"])
    cfg = AuditConfig(max_length=20, analyses=(), explain_methods=("integrated_gradients",), ig_steps=16,
                      ig_method="gausslegendre", examples_per_category=4, show_progress=False)
    result = run_audit(b, data, cfg)
    sec = result.models["baseline"]["truncation"]
    assert sec["n_truncated"] == 2 and sec["n_texts"] == 4
    check = next(c for c in result.checks if c.name == "baseline: truncation")
    assert check.status == "warn" and check.value == 2
    examples = result.models["baseline"]["explanations"]["examples"]
    by_text = {e["text"]: e for e in examples}
    cut = by_text[hostile]["truncated_at"]
    assert "truncated_at" not in by_text[SHORT]
    # no explained word lies after the cut (the model never saw it); a word the cut runs through is kept whole
    words = by_text[hostile]["words"]
    assert words and all(w["start"] < cut for w in words) and words[-1]["end"] >= cut - 1
    _, html_path = write_outputs(result, tmp_path)
    html = html_path.read_text()
    assert "2 of 4 evaluation texts" in html
    assert 'class="cut"' in html and 'class="unseen"' in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_left_truncation_counts_what_is_lost_at_the_start():
    b = load_model(make_model("bert+wordpiece"), device="cpu")
    b.tokenizer.truncation_side = "left"
    t = measure_truncation(b, [LONG, SHORT], max_length=24)
    assert t.cut_at == [None, None] and t.summary["side"] == "left" and t.summary["n_truncated"] == 1
    kept = b.tokenizer([LONG], truncation=True, max_length=24, return_offsets_mapping=True, return_special_tokens_mask=True)
    first = min(s for (s, e), sp in zip(kept["offset_mapping"][0], kept["special_tokens_mask"][0]) if not sp and e > s)
    assert t.chars_cut[0] == first > len(LONG) // 2  # the model read the tail: the beginning was lost
