"""Loaders and validation of audit.data: every error names the file, the column and the row."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pandas as pd
import pytest

from audit.data import DataError, TextDataset, load_dataset, save_dataset

# Content shared by the format tests: texts that look like missing values, quotes, commas,
# a newline inside a field and non-ASCII characters must all survive every format.
TEXTS = [
    "A fine film.",
    "NA",
    "null",
    "Terrible, just terrible.",
    'He said "wow", twice.',
    "Ünïcödé ok ✓",
    "line one\nline two",
    "N/A",
]
LABELS = ["pos", "neg", "neg", "neg", "pos", "pos", "neg", "pos"]


def frame() -> pd.DataFrame:
    return pd.DataFrame({"text": TEXTS, "label": LABELS})


def write(path: Path, data: bytes | str) -> Path:
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def raises(source, match_parts, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        load_dataset(source, **kwargs)
    msg = str(info.value)
    for part in match_parts:
        assert part in msg, f"{part!r} not in {msg!r}"
    return msg


# ------------------------------------------------------------------------------- formats


def test_every_format_loads_the_same_content(tmp_path):
    df = frame()
    paths = {}
    paths["csv"] = tmp_path / "d.csv"
    df.to_csv(paths["csv"], index=False)
    paths["tsv"] = tmp_path / "d.tsv"
    df.to_csv(paths["tsv"], index=False, sep="\t")
    paths["jsonl"] = tmp_path / "d.jsonl"
    df.to_json(paths["jsonl"], orient="records", lines=True)
    paths["parquet"] = tmp_path / "d.parquet"
    df.to_parquet(paths["parquet"], index=False)

    datasets = pytest.importorskip("datasets")
    hf = datasets.Dataset.from_pandas(df, preserve_index=False)
    paths["hf_dir"] = tmp_path / "hf"
    hf.save_to_disk(str(paths["hf_dir"]))

    loaded = {k: load_dataset(p) for k, p in paths.items()}
    loaded["dataframe"] = load_dataset(df)
    loaded["hf_object"] = load_dataset(hf)

    ref = loaded["dataframe"]
    assert ref.texts == TEXTS
    assert ref.label_names == ["neg", "pos"]
    assert ref.labels == [1 if y == "pos" else 0 for y in LABELS]
    for kind, ds in loaded.items():
        assert ds.texts == TEXTS, kind
        assert ds.sha256 == ref.sha256, kind
    assert loaded["csv"].source == str(paths["csv"])
    assert loaded["csv"].meta == {"format": "csv", "text_column": "text", "label_column": "label"}
    assert loaded["tsv"].meta["format"] == "tsv"
    assert loaded["jsonl"].meta["format"] == "jsonl"
    assert loaded["parquet"].meta["format"] == "parquet"
    assert loaded["dataframe"].source == "<DataFrame>"
    assert loaded["hf_object"].source == "<datasets.Dataset>"
    assert loaded["hf_dir"].meta["format"] == "datasets"


def test_extension_aliases_and_file_format_override(tmp_path):
    p = write(tmp_path / "d.ndjson", '{"text": "a b", "label": 0}\n{"text": "c d", "label": 1}\n')
    assert len(load_dataset(p)) == 2
    q = write(tmp_path / "d.txt", "text\tlabel\na b\t0\nc d\t1\n")
    ds = load_dataset(q, file_format="tsv")
    assert ds.texts == ["a b", "c d"] and ds.meta["format"] == "tsv"


def test_na_like_texts_are_kept(tmp_path):
    p = write(tmp_path / "na.csv", "text,label\nNA,0\nnull,1\nNaN,0\nNone,1\n#N/A,0\n")
    ds = load_dataset(p)
    assert ds.texts == ["NA", "null", "NaN", "None", "#N/A"]


def test_string_labels_through_label2id_mapping(tmp_path):
    p = write(tmp_path / "m.csv", "text,label\ngood,positive\nbad,negative\nmeh,negative\n")
    ds = load_dataset(p, label_names={"positive": 1, "negative": 0})
    assert ds.label_names == ["negative", "positive"]
    assert ds.labels == [1, 0, 0]
    # an id2label mapping (as in a model config, with string keys) is understood too
    ds2 = load_dataset(p, label_names={"0": "negative", "1": "positive"})
    assert ds2.labels == ds.labels and ds2.label_names == ds.label_names


def test_string_labels_without_names_are_sorted(tmp_path):
    p = write(tmp_path / "s.csv", "text,label\na,zebra\nb,apple\nc,mango\n")
    ds = load_dataset(p)
    assert ds.label_names == ["apple", "mango", "zebra"]
    assert ds.labels == [2, 0, 1]


def test_integer_labels_numeric_strings_and_floats(tmp_path):
    p = write(tmp_path / "i.csv", "text,label\na,1\nb,0\nc,2\n")
    ds = load_dataset(p)
    assert ds.labels == [1, 0, 2] and ds.label_names == ["0", "1", "2"]
    ds = load_dataset(p, label_names=["neg", "neu", "pos"])
    assert ds.label_names == ["neg", "neu", "pos"] and ds.labels == [1, 0, 2]
    df = pd.DataFrame({"text": ["a", "b"], "label": [1.0, 0.0]})
    assert load_dataset(df).labels == [1, 0]


def test_custom_columns_ids_and_groups(tmp_path):
    p = write(tmp_path / "c.jsonl", "\n".join(json.dumps(r) for r in [
        {"review": "x y", "y": 1, "uid": 17, "g": "female"},
        {"review": "z w", "y": 0, "uid": "a-2", "g": None},
    ]) + "\n")
    ds = load_dataset(p, "review", "y", id_column="uid", group_column="g")
    assert ds.ids == ["17", "a-2"]
    assert ds.groups == ["female", None]
    assert ds.meta["text_column"] == "review" and ds.meta["label_column"] == "y"


def test_hf_class_label_names_are_used():
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])})
    hf = datasets.Dataset.from_dict({"text": ["a", "b"], "label": [1, 0]}, features=features)
    ds = load_dataset(hf)
    assert ds.label_names == ["neg", "pos"] and ds.labels == [1, 0]


# ------------------------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    p = tmp_path / "nope.csv"
    raises(p, [str(p), "not found"])


def test_unsupported_extension(tmp_path):
    p = write(tmp_path / "d.txt", "text,label\na,1\n")
    raises(p, [str(p), "'.txt'", ".csv", "file_format"])


def test_empty_file(tmp_path):
    p = write(tmp_path / "empty.csv", b"")
    raises(p, [str(p), "empty"])
    q = write(tmp_path / "header_only.csv", "text,label\n")
    raises(q, [str(q), "0 rows"])
    r = write(tmp_path / "empty.jsonl", "\n\n")
    raises(r, [str(r), "empty"])


def test_missing_column_lists_existing_columns(tmp_path):
    p = write(tmp_path / "cols.csv", "review,label\ngood,1\n")
    raises(p, [str(p), "'text'", "['review', 'label']"])
    raises(p, [str(p), "'sentiment'", "['review', 'label']"], text_column="review", label_column="sentiment")


def test_empty_text_names_row_and_line(tmp_path):
    p = write(tmp_path / "e.csv", "text,label\nfine,1\n,0\n")
    raises(p, [str(p), "column 'text'", "row 2 (line 3 of the file)", "empty text"])


def test_whitespace_text(tmp_path):
    p = write(tmp_path / "w.csv", "text,label\nfine,1\nok,0\n   ,0\n")
    raises(p, [str(p), "column 'text'", "row 3 (line 4 of the file)", "whitespace"])


def test_non_string_text_in_jsonl(tmp_path):
    p = write(tmp_path / "n.jsonl", '{"text": "fine", "label": 1}\n{"text": 42, "label": 0}\n')
    raises(p, [str(p), "column 'text'", "row 2 (line 2 of the file)", "int 42"])


def test_non_string_text_in_dataframe():
    df = pd.DataFrame({"text": ["fine", float("nan"), "ok"], "label": [1, 0, 1]})
    raises(df, ["<DataFrame>", "column 'text'", "row 2", "null"])
    df2 = pd.DataFrame({"text": ["fine", 3.5], "label": [1, 0]}, index=["a", "b"])
    raises(df2, ["<DataFrame>", "column 'text'", "row 2 (index 'b')", "float 3.5"])


def test_null_label(tmp_path):
    p = write(tmp_path / "l.csv", "text,label\nfine,1\nbad,\n")
    raises(p, [str(p), "column 'label'", "row 2 (line 3 of the file)", "missing label"])
    q = write(tmp_path / "l.jsonl", '{"text": "fine", "label": 1}\n{"text": "bad", "label": null}\n')
    raises(q, [str(q), "column 'label'", "row 2 (line 2 of the file)", "missing label"])


def test_unknown_string_label_lists_known(tmp_path):
    p = write(tmp_path / "u.csv", "text,label\ngood,positive\nso so,neutral\n")
    raises(
        p,
        [str(p), "column 'label'", "row 2 (line 3 of the file)", "'neutral'", "['negative', 'positive']"],
        label_names={"negative": 0, "positive": 1},
    )
    # unknown labels are never skipped
    raises(p, ["'neutral'"], label_names=["negative", "positive"], skip_invalid=True)


def test_out_of_range_int_label(tmp_path):
    p = write(tmp_path / "r.csv", "text,label\na,0\nb,1\nc,2\n")
    raises(p, [str(p), "column 'label'", "row 3 (line 4 of the file)", "outside 0..1"], label_names=["neg", "pos"])
    q = write(tmp_path / "neg.jsonl", '{"text": "a", "label": -1}\n')
    raises(q, [str(q), "column 'label'", "row 1 (line 1 of the file)", "negative"])


def test_boolean_and_fractional_labels_are_rejected(tmp_path):
    p = write(tmp_path / "b.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": true}\n')
    raises(p, [str(p), "column 'label'", "row 2 (line 2 of the file)", "ambiguous"])
    df = pd.DataFrame({"text": ["a", "b"], "label": [0.0, 0.5]})
    raises(df, ["<DataFrame>", "column 'label'", "row 2", "not an integer"])


def test_mixed_numeric_and_string_labels(tmp_path):
    p = write(tmp_path / "mix.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": "pos"}\n')
    raises(p, [str(p), "column 'label'", "mixes numeric labels", "row 1 (line 1 of the file)", "row 2 (line 2 of the file)"])


def test_non_utf8_bytes_name_the_line(tmp_path):
    p = write(tmp_path / "latin1.csv", b"text,label\nfine,1\ncaf\xe9 au lait,0\n")
    msg = raises(p, [str(p), "UTF-8", "line 3 of the file", "byte offset 21 (0-based)", "0xe9", "column 4"])
    assert "re-save" in msg


def test_invalid_json_line(tmp_path):
    p = write(tmp_path / "bad.jsonl", '{"text": "a", "label": 1}\n\n{"text": "b", "label": 0\n')
    raises(p, [str(p), "row 2 (line 3 of the file)", "invalid JSON"])


def test_row_numbers_skip_blank_lines_and_follow_multiline_fields(tmp_path):
    p = write(tmp_path / "ml.csv", 'text,label\n"two\nlines",1\n\nok,0\n,1\n')
    raises(p, [str(p), "column 'text'", "row 3 (line 6 of the file)"])


def test_too_many_fields(tmp_path):
    p = write(tmp_path / "f.csv", "text,label\nfine,1\nhello, world,0\n")
    raises(p, [str(p), "row 2 (line 3 of the file)", "3 fields"])


def test_datasetdict_directory_lists_splits(tmp_path):
    datasets = pytest.importorskip("datasets")
    dd = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"text": ["a"], "label": [0]}),
        "test": datasets.Dataset.from_dict({"text": ["b"], "label": [1]}),
    })
    d = tmp_path / "dd"
    dd.save_to_disk(str(d))
    msg = raises(d, [str(d), "DatasetDict", "train", "test"])
    assert "pick one" in msg
    assert load_dataset(d / "train").texts == ["a"]


def test_duplicate_ids(tmp_path):
    p = write(tmp_path / "ids.csv", "id,text,label\n1,a,0\n2,b,1\n1,c,0\n")
    raises(p, [str(p), "column 'id'", "row 3 (line 4 of the file)", "duplicate id '1'", "row 1"], id_column="id")


# ------------------------------------------------------------------------------- skipping


def test_skip_invalid_counts_and_keeps_everything_else(tmp_path, caplog):
    p = write(tmp_path / "s.csv", "text,label\na,1\n,0\nb,0\n   ,1\nc,\nNA,1\n")
    with caplog.at_level(logging.WARNING, logger="audit.data"):
        ds = load_dataset(p, skip_invalid=True)
    assert ds.texts == ["a", "b", "NA"]
    assert ds.labels == [1, 0, 1]
    assert ds.skipped_rows == 3
    assert ds.summary()["skipped_rows"] == 3
    warnings = [r for r in caplog.records if r.name == "audit.data" and r.levelno == logging.WARNING]
    assert warnings and "skipped 3" in warnings[0].getMessage()
    # same content without invalid rows -> same hash
    clean = write(tmp_path / "clean.csv", "text,label\na,1\nb,0\nNA,1\n")
    assert load_dataset(clean).sha256 == ds.sha256


def test_all_rows_invalid_is_an_error(tmp_path):
    p = write(tmp_path / "bad.csv", "text,label\n,1\n  ,0\n")
    raises(p, [str(p), "no valid rows"], skip_invalid=True)


# ------------------------------------------------------------------------------- dataset


def test_hash_changes_when_one_label_changes():
    a = load_dataset(frame())
    df = frame()
    df.loc[3, "label"] = "pos"
    b = load_dataset(df)
    assert a.sha256 != b.sha256
    assert load_dataset(frame()).sha256 == a.sha256


def test_split_is_deterministic_and_stratified():
    ds = TextDataset(texts=[f"t {i}" for i in range(100)], labels=[0] * 70 + [1] * 30, label_names=["a", "b"])
    tr1, ev1 = ds.split(0.2, seed=3)
    tr2, ev2 = ds.split(0.2, seed=3)
    assert ev1.ids == ev2.ids and tr1.ids == tr2.ids
    assert sorted(tr1.ids + ev1.ids, key=int) == ds.ids
    assert ev1.labels.count(0) == 14 and ev1.labels.count(1) == 6
    _, ev3 = ds.split(0.2, seed=4)
    assert ev3.ids != ev1.ids


def test_subset_slices_per_example_meta():
    ds = TextDataset(
        texts=["a b", "c", "d e f"], labels=[0, 1, 0], label_names=["x", "y"],
        meta={"kinds": ["k0", "k1", "k2"], "per_example": ["kinds"], "other": [1, 2, 3]},
    )
    sub = ds.subset([2, 0])
    assert sub.meta["kinds"] == ["k2", "k0"]
    assert sub.meta["other"] == [1, 2, 3]
    assert ds.summary()["meta"]["kinds"] == {"counts": {"k0": 1, "k1": 1, "k2": 1}}
    with pytest.raises(DataError):
        TextDataset(texts=["a b"], labels=[0], label_names=["x"], rationales=[[1]])


@pytest.mark.parametrize("ext", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_save_dataset_round_trip(tmp_path, ext):
    ds = TextDataset(
        texts=TEXTS,
        labels=[1 if y == "pos" else 0 for y in LABELS],
        label_names=["neg", "pos"],
        ids=[f"r{i}" for i in range(len(TEXTS))],
        groups=["female", None, "male", "neutral", None, "female", "male", "neutral"],
        rationales=[[1] * len(t.split()) for t in TEXTS],
    )
    path = save_dataset(ds, tmp_path / f"out{ext}")
    assert sorted(os.listdir(tmp_path)) == [f"out{ext}"]  # no temp file left behind
    back = load_dataset(path, id_column="id", group_column="group", rationale_column="rationale", label_names=ds.label_names)
    assert back.sha256 == ds.sha256
    assert back.texts == ds.texts and back.ids == ds.ids
    assert back.groups == ds.groups
    assert back.rationales == ds.rationales
    # plain reload (label names sorted from strings) gives the same labels here
    assert load_dataset(path, id_column="id").sha256 == ds.sha256


def test_save_dataset_rejects_unknown_extension(tmp_path):
    ds = TextDataset(texts=["a"], labels=[0], label_names=["x"])
    with pytest.raises(DataError):
        save_dataset(ds, tmp_path / "out.xlsx")
    assert not list(tmp_path.iterdir())
