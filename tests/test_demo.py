"""The generated demo dataset: determinism, ground truth, and that it defeats bag-of-words."""

from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np
import pytest

from audit.demo import (
    DEMO_LABEL_NAMES,
    KIND_MIX,
    KINDS,
    NAMES,
    contrast_swap_pairs,
    demo_splits,
    make_demo_dataset,
)


@pytest.fixture(scope="module")
def ds():
    return make_demo_dataset()


@pytest.fixture(scope="module")
def splits():
    return demo_splits()


def test_deterministic(ds):
    again = make_demo_dataset()
    assert again.sha256 == ds.sha256
    assert again.texts == ds.texts and again.rationales == ds.rationales
    assert again.groups == ds.groups and again.meta == ds.meta
    assert make_demo_dataset(seed=1).sha256 != ds.sha256
    small = make_demo_dataset(n=200, seed=5)
    assert small.sha256 == make_demo_dataset(n=200, seed=5).sha256


def test_size_balance_and_labels(ds):
    assert len(ds) == 2400
    assert ds.label_names == DEMO_LABEL_NAMES == ["negative", "positive"]
    assert Counter(ds.labels) == {0: 1200, 1: 1200}
    odd = make_demo_dataset(n=101, seed=2)
    assert len(odd) == 101 and abs(odd.labels.count(0) - odd.labels.count(1)) == 1
    assert len(set(ds.texts)) == len(ds), "texts are unique"
    assert len(set(ds.ids)) == len(ds)
    lengths = [len(t.split()) for t in ds.texts]
    assert min(lengths) >= 6 and max(lengths) <= 30


def test_rationales_align_with_words(ds):
    assert ds.rationales is not None
    for text, r in zip(ds.texts, ds.rationales):
        assert len(r) == len(text.split())
        assert set(r) <= {0, 1}
        assert sum(r) >= 1


def test_rationales_follow_the_construction(ds):
    negators = {"not", "never", "wasn't", "isn't", "didn't"}
    for text, r, kind in zip(ds.texts, ds.rationales, ds.meta["kinds"]):
        words = [w.strip(".,!").lower() for w in text.split()]
        flagged = [w for w, f in zip(words, r) if f]
        if kind == "negation":
            assert negators & set(flagged), text
        if kind in ("contrast", "double"):
            assert {"but", "although"} & set(flagged), text
        if kind == "contrast" and "but" in words:
            # the clause after "but" decides: nothing before it is flagged
            assert all(i >= words.index("but") for i, f in enumerate(r) if f), text
        if kind == "simple":
            assert not negators & set(words), text


def test_names_and_groups(ds):
    names, origins, groups = ds.meta["names"], ds.meta["name_origins"], ds.groups
    with_name = sum(1 for n in names if n)
    assert 0.45 < with_name / len(ds) < 0.55
    for text, name, origin, group in zip(ds.texts, names, origins, groups):
        if name:
            assert group in ("female", "male")
            assert name in NAMES[group][origin]
            assert name in text.split()
        else:
            assert group == "neutral" and origin == ""
    # names sit in label-independent slots: the positive rate barely moves with the group
    labels = np.asarray(ds.labels)
    for g in ("female", "male", "neutral"):
        rate = labels[np.asarray(groups) == g].mean()
        assert abs(rate - 0.5) < 0.06, (g, rate)
    female = {n for ns in NAMES["female"].values() for n in ns}
    male = {n for ns in NAMES["male"].values() for n in ns}
    assert not female & male
    assert len(set(o for o in origins if o)) >= 6


def test_kind_mix_and_meta(ds):
    kinds = Counter(ds.meta["kinds"])
    assert set(kinds) == set(KINDS)
    for k, frac in KIND_MIX.items():
        assert kinds[k] == pytest.approx(frac * len(ds), abs=2)
    assert set(ds.meta["domains"]) == {"movie", "product"}
    json.dumps(ds.meta)  # JSON-serialisable
    summary = ds.summary()
    assert summary["meta"]["kinds"]["counts"] == dict(sorted(kinds.items()))
    print("kind mix:", dict(kinds))


def test_splits_keep_per_example_meta_aligned(ds, splits):
    train, ev = splits
    assert len(train) + len(ev) == len(ds)
    assert len(ev) == 480 and Counter(ev.labels) == {0: 240, 1: 240}
    by_id = {i: k for i, k in enumerate(ds.ids)}
    pos = {v: k for k, v in by_id.items()}
    for part in (train, ev):
        for j, id_ in enumerate(part.ids):
            i = pos[id_]
            assert part.texts[j] == ds.texts[i]
            assert part.meta["kinds"][j] == ds.meta["kinds"][i]
            assert part.meta["names"][j] == ds.meta["names"][i]
            assert part.groups[j] == ds.groups[i]
    assert demo_splits()[1].ids == ev.ids


def _bow_accuracy(train, ev, max_features):
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = CountVectorizer(max_features=max_features, binary=True)
    x_train = vec.fit_transform(train.texts)
    clf = LogisticRegression(max_iter=2000).fit(x_train, train.labels)
    return float((clf.predict(vec.transform(ev.texts)) == np.asarray(ev.labels)).mean())


def test_bag_of_words_cannot_solve_it(splits):
    pytest.importorskip("sklearn")
    train, ev = splits
    top20 = _bow_accuracy(train, ev, 20)
    full = _bow_accuracy(train, ev, None)
    print(f"bag-of-words held-out accuracy: top-20 words {top20:.3f}, full vocabulary {full:.3f}")
    assert top20 < 0.95
    assert full < 0.97


def test_contrast_swap_flips_label():
    pairs = contrast_swap_pairs(12, seed=3)
    assert len(pairs) == 12
    forms = set()
    for a, b in pairs:
        assert a.label != b.label
        bag = lambda t: sorted(re.sub(r"[.,!]", "", t.lower()).split())  # noqa: E731
        assert bag(a.text) == bag(b.text), (a.text, b.text)
        assert a.text != b.text
        for ex in (a, b):
            assert len(ex.rationale) == len(ex.text.split()) and sum(ex.rationale) >= 2
        forms.add("although" if "although" in a.text.lower() else "but")
    assert forms == {"although", "but"}
    # an independent reading of the rules agrees with both labels of every pair
    pos, neg = _lexicon()
    for a, b in pairs:
        assert _oracle(a.text, pos, neg) == a.label and _oracle(b.text, pos, neg) == b.label
    a, b = pairs[0]
    print(a.label, a.text, "|", b.label, b.text)


def _lexicon():
    from audit import demo

    pos, neg = {"recommend"}, set()
    for dom in demo._DOMAINS:
        pos |= set(dom.pos_gradable + dom.pos_extreme)
        neg |= set(dom.neg_gradable + dom.neg_extreme)
    pos |= {w for pair in demo._POS_VERBS for w in pair}
    neg |= set(demo._NEG_VERBS)
    return pos, neg


def _oracle(text: str, pos: set, neg: set) -> int:
    """An independent reading of the construction rules; must agree with every label."""
    negators = {"not", "never", "wasn't", "isn't", "didn't"}
    sentences = re.split(r"(?<=[.!])\s+", text)
    core = [s for s in sentences if {w.strip(".,!").lower() for w in s.split()} & (pos | neg)]
    assert len(core) == 1, text
    raw = core[0].split()
    words = [w.strip(".,!").lower() for w in raw]
    if "but" in words:
        clause = words[words.index("but") + 1:]
    elif words[0] == "although":
        comma = next(i for i, w in enumerate(raw) if w.endswith(","))
        clause = words[comma + 1:]
    elif "although" in words:
        clause = words[: words.index("although")]
    else:
        clause = words
    polarities = {1 if w in pos else 0 for w in clause if w in pos | neg}
    assert len(polarities) == 1, text
    y = polarities.pop()
    return 1 - y if negators & set(clause) else y


def test_labels_are_determined_by_the_text(ds):
    pos, neg = _lexicon()
    assert not pos & neg
    wrong = [(t, y) for t, y in zip(ds.texts, ds.labels) if _oracle(t, pos, neg) != y]
    assert not wrong, wrong[:5]


def test_fillers_and_name_sentences_carry_no_sentiment():
    from audit import demo

    pos, neg = _lexicon()
    lexicon = pos | neg | {"not", "never", "but", "although"}
    for dom in demo._DOMAINS:
        for s in dom.fillers + dom.name_templates:
            words = {w.strip(".,!").lower() for w in s.split()}
            assert not words & lexicon, s
