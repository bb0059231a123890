"""Personal-data canaries: reserved values of the declared shape, same-shape candidates, exposure and verdicts."""

from __future__ import annotations

import json
import math
import re
from collections import Counter

import numpy as np
import pytest

from audit.demo import make_demo_dataset
from audit.data import TextDataset
from audit.privacy import append_rows, audit_privacy, checks, plant_canaries
from audit.privacy.canaries import Canary, CanarySpec, candidate_secrets
from audit.privacy.pii_canaries import KINDS, exposure_verdict, is_reserved
from conftest import single_thread

SEED = 0  # the assertions hold for seeds 0-3 alike
EMAIL = re.compile(r"([a-z.]+)\.(\d{4})@(example\.com|example\.org|example\.net|[a-z]+\.invalid)")
PHONE = re.compile(r"07700 900(\d{3})")


class SuffixScorer:
    """A model whose logit for label 1 falls with the 3 digits after ``07700 900``: 000 scores highest, 999 lowest."""

    num_labels = 2
    multi_label = False
    device = "cpu"
    label_names = ["neg", "pos"]

    def predict_logits(self, texts, batch_size=64, max_length=None):
        out = np.zeros((len(texts), 2))
        for i, t in enumerate(texts):
            m = PHONE.search(t)
            out[i, 1] = -int(m.group(1)) / 100.0 if m else 0.0
        return out


def test_planted_values_are_reserved_and_of_the_declared_shape():
    train = make_demo_dataset(60, seed=4)
    out, spec = plant_canaries(train, k=9, kinds=("classic", "email", "phone"), repetitions=(1, 4, 16), seed=5)
    kinds = Counter(c.kind.name for c in spec)
    assert kinds == {"classic": 3, "email": 3, "phone": 3}
    # every kind gets every repetition count
    for name in kinds:
        assert sorted(c.repetitions for c in spec if c.kind.name == name) == [1, 4, 16]
    counts = Counter(out.texts)
    for c in spec:
        assert counts[c.text] == c.repetitions
        if c.kind.name == "email":
            (m,) = list(EMAIL.finditer(c.text))
            assert is_reserved("email", m.group(0)) and c.n_digits == 4
            assert c.masked_text == c.text.replace(m.group(2), "****")
        elif c.kind.name == "phone":
            (m,) = list(PHONE.finditer(c.text))
            assert is_reserved("phone", m.group(0)) and 900000 <= int("900" + m.group(1)) <= 900999 and c.n_digits == 3
            assert "07700 900***" in c.masked_text
        else:
            assert re.search(r"\d \d \d \d \d", c.text)
    # the secrets (the digit runs) never leave unmasked
    dumped = json.dumps(spec.to_dict()) + repr(spec) + "".join(repr(c) for c in spec)
    assert not EMAIL.search(dumped) and not PHONE.search(dumped)
    assert spec.to_dict()["kinds"] == ["classic", "email", "phone"]
    # the classic default is unchanged by the option
    assert plant_canaries(train, k=3, seed=5)[1].texts == plant_canaries(train, k=3, seed=5, kinds=("classic",))[1].texts


def test_reserved_ranges_are_enforced():
    assert is_reserved("email", "jane.k.4821@example.com") and is_reserved("email", "a.1@mail.invalid")
    assert not is_reserved("email", "jane.k.4821@gmail.com") and not is_reserved("email", "x@example.com.evil.org")
    assert is_reserved("phone", "07700 900000") and is_reserved("phone", "07700 900999")
    assert not is_reserved("phone", "07700 901000") and not is_reserved("phone", "07911 123456")
    with pytest.raises(ValueError, match="reserved range"):
        Canary("c", "write to bob.{secret}@gmail.com", [1, 2, 3, 4], 0, 1, kind="email")
    with pytest.raises(ValueError, match="reserved range"):
        Canary("c", "ring 07911 123{secret}", [1, 2, 3], 0, 1, kind="phone")
    with pytest.raises(ValueError, match="3 digits"):
        Canary("c", KINDS["phone"].templates[0], [1, 2, 3, 4], 0, 1, kind="phone")
    with pytest.raises(ValueError, match="unknown canary kind 'ssn'"):
        plant_canaries(make_demo_dataset(10, seed=0), k=2, kinds=("ssn",))


@pytest.mark.parametrize("kind, digits", [("email", 4), ("phone", 3)])
def test_candidate_spaces_exclude_the_secret_and_have_the_declared_size(kind, digits):
    secret = [1] * digits
    c = Canary("c", KINDS[kind].templates[0], secret, 0, 1, kind=kind)
    cands, exhaustive = candidate_secrets(c, 10 ** digits, np.random.default_rng(0))
    assert exhaustive and len(cands) == 10 ** digits - 1 and tuple(secret) not in cands
    assert len(set(cands)) == len(cands) and all(len(s) == digits for s in cands)
    texts = [c.fill(s) for s in cands[:50]]
    pattern = EMAIL if kind == "email" else PHONE
    for t in texts:  # same shape, same fixed parts, still reserved
        (m,) = list(pattern.finditer(t))
        assert is_reserved(kind, m.group(0)) and t.replace(m.group(0), "") == c.text.replace(pattern.search(c.text).group(0), "")
    sample, ex = candidate_secrets(c, 100, np.random.default_rng(1))
    assert not ex and len(sample) == 100 and tuple(secret) not in sample


@pytest.mark.parametrize("suffix, expected", [((0, 0, 0), math.log2(1000)), ((9, 9, 9), 0.0), ((4, 9, 9), 1.0)])
def test_exposure_of_a_phone_canary_matches_the_hand_computed_rank(suffix, expected):
    # the scorer ranks suffix 000 first and 999 last; 499 is beaten by exactly 000..498, so rank 500 of 1000: 1 bit
    c = Canary("p", KINDS["phone"].templates[0], suffix, 1, 1, kind="phone")
    spec = CanarySpec([c], ["neg", "pos"], seed=0)
    sec = audit_privacy(SuffixScorer(), None, None, {"canaries": spec}, show_progress=False).to_dict()
    (row,) = sec["canaries"]["canaries"]
    assert row["exposure"]["exhaustive"] and row["exposure"]["exposure"] == pytest.approx(expected, abs=1e-9)
    assert row["kind"] == "phone" and row["space_size"] == 1000
    level = {math.log2(1000): "revealed", 0.0: "not revealed", 1.0: "not revealed"}[expected]
    assert row["verdict"]["level"] == level
    by_kind = sec["canaries"]["by_kind"]["phone"]
    assert by_kind["n"] == 1 and by_kind["n_revealed"] == (level == "revealed")
    (line,) = [ch for ch in checks("m", sec) if ch.name == "m: personal-data canaries"]
    assert line.status == ("warn" if level == "revealed" else "pass")


def test_verdict_levels():
    assert exposure_verdict(9.97, 9.97, 10.0, "phone number")["level"] == "revealed"  # first of 1000: below 10 bits but maximal
    assert exposure_verdict(10.5, 13.3, 10.0)["level"] == "revealed"
    leaks = exposure_verdict(5.0, 13.3, 10.0, "e-mail address")
    assert leaks["level"] == "leaks" and "top 3.1%" in leaks["text"] and "e-mail address" in leaks["text"]
    assert exposure_verdict(1.4, 13.3, 10.0)["level"] == "not revealed"


def test_a_memorising_model_reveals_the_personal_data_it_saw(tiny_dirs, random_label_splits):
    from audit.models import load_model
    from audit.training import fine_tune

    s = random_label_splits
    planted, spec = plant_canaries(s.train, k=8, kinds=("phone", "email"), repetitions=(16,), seed=SEED)
    seen = {c.id for c in spec.canaries[:4]}  # two phone numbers and two e-mail addresses are trained on, the others not
    unseen_texts = {c.text for c in spec if c.id not in seen}
    kept = planted.subset([i for i, t in enumerate(planted.texts) if t not in unseen_texts])
    # other people's values in the same sentences with the other label, so fitting the canary means fitting its digits
    rng = np.random.default_rng(0)
    decoys = [(c.fill(rng.integers(0, 10, c.n_digits).tolist()), 1 - c.label) for c in spec if c.id in seen for _ in range(8)]
    decoys = [(t, y) for t, y in decoys if t not in set(spec.texts)]
    extra = TextDataset(texts=[t for t, _ in decoys], labels=[y for _, y in decoys], label_names=list(s.train.label_names),
                        ids=[f"decoy-{i}" for i in range(len(decoys))], source="decoys")
    train = append_rows(kept, extra, fill="decoy")
    bundle = load_model(tiny_dirs["bert"], device="cpu", label_names=s.train.label_names)
    with single_thread():
        fine_tune(bundle, train, epochs=30, lr=3e-3, batch_size=16, seed=0, show_progress=False)
        sec = audit_privacy(bundle, train, None, {"canaries": spec, "n_candidates": 300}, show_progress=False).to_dict()
    rows = {r["id"]: r for r in sec["canaries"]["canaries"]}
    for kind in ("phone", "email"):
        trained = [r["exposure"]["exposure"] for r in rows.values() if r["kind"] == kind and r["id"] in seen]
        fresh = [r["exposure"]["exposure"] for r in rows.values() if r["kind"] == kind and r["id"] not in seen]
        assert len(trained) == len(fresh) == 2
        assert np.mean(trained) > np.mean(fresh) + 2.0, kind  # about 1.4 bits expected for a value never seen
        assert max(trained) >= 4.3, kind  # the best-memorised one ranks in the top 5%: a "leaks" or "revealed" verdict
    revealed = sec["canaries"]["by_kind"]
    assert {revealed[k]["verdict"]["level"] for k in ("phone", "email")} <= {"leaks", "revealed"}
    assert sec["canaries"]["in_training_data"] == 4


def test_demo_command_chooses_canary_kinds(capsys):
    from audit.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["demo", "--out", "x"]).canary_kinds == ("classic", "email", "phone")
    assert parser.parse_args(["demo", "--out", "x", "--canary-kinds", "phone, email"]).canary_kinds == ("phone", "email")
    with pytest.raises(SystemExit):
        parser.parse_args(["demo", "--out", "x", "--canary-kinds", "classic,ssn"])
    assert "unknown canary kind(s) ssn" in capsys.readouterr().err
