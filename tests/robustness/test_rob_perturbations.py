"""Text perturbations: typo edits, case, punctuation, contractions, name/gender/nationality swaps."""

from __future__ import annotations

import random

import pytest

from audit.demo import NAMES as DEMO_NAMES
from audit.robustness.perturbations import (KEYBOARD_NEIGHBOURS, NAME_INDEX, WordView, add_typos, char_edits, contract,
                                            expand, find_names, levenshtein, sample_char_edits, strip_punctuation,
                                            swap_gender, swap_name, swap_nationality, swap_origin, title_case, word_spans)


def test_keyboard_neighbours_are_symmetric_and_local() -> None:
    assert set(KEYBOARD_NEIGHBOURS["s"]) == set("adwezx")
    for c, near in KEYBOARD_NEIGHBOURS.items():
        assert c not in near
        for d in near:
            assert c in KEYBOARD_NEIGHBOURS[d], (c, d)


@pytest.mark.parametrize("word", ["superb", "Great", "dull", "wasn't"])
def test_char_edits_are_single_typos(word: str) -> None:
    edits = char_edits(word)
    outs = [e.apply(word) for e in edits]
    assert len(outs) == len(set(outs)) and word not in outs
    for e, new in zip(edits, outs):
        # one keyboard edit: Levenshtein 1, or 2 for a swap of two adjacent letters
        assert levenshtein(word, new) == (2 if e.kind == "swap" else 1), (e, new)
        assert len(WordView(f"x {new} y")) == 3  # still one word
    kinds = {e.kind for e in edits}
    assert kinds == {"swap", "delete", "substitute", "insert"}
    assert all(e.char.lower() in KEYBOARD_NEIGHBOURS[word[e.position].lower()] for e in edits if e.kind == "substitute")


def test_keep_ends_never_touches_first_and_last_letter() -> None:
    for e in char_edits("superb", keep_ends=True):
        new = e.apply("superb")
        assert new[0] == "s" and new[-1] == "b", (e, new)
    assert len(char_edits("superb", keep_ends=True)) < len(char_edits("superb"))


def test_sample_char_edits_is_seeded_and_mixes_kinds() -> None:
    a = sample_char_edits("wonderful", 8, random.Random(1))
    b = sample_char_edits("wonderful", 8, random.Random(1))
    assert a == b and len(a) == 8
    assert {e.kind for e in a} == {"swap", "delete", "substitute", "insert"}
    assert sample_char_edits("wonderful", 8, random.Random(2)) != a
    assert len(sample_char_edits("ab", 50, random.Random(0))) == len(char_edits("ab"))


def test_add_typos_rate() -> None:
    text = "The soundtrack was wonderful although the ending felt rather predictable overall."
    letters = sum(len(text[a:b]) for a, b in word_spans(text) if b - a >= 3)
    for rate in (0.02, 0.05, 0.2):
        out = add_typos(text, rate, random.Random(0))
        changed = sum(x != y for x, y in zip(WordView(text).words(), WordView(out).words()))
        assert changed == min(len([1 for a, b in word_spans(text) if b - a >= 3]), max(1, round(rate * letters)))
    assert add_typos("a b c", 0.5, random.Random(0)) == "a b c"


def test_case_and_punctuation() -> None:
    assert title_case("the plot wasn't good") == "The Plot Wasn't Good"
    assert strip_punctuation("Great, really great! It wasn't (at all) bad...") == "Great really great It wasn't at all bad"


def test_contractions_round_trip() -> None:
    text = "The plot was not good and I did not like it. It is fine, I am sure."
    short = contract(text)
    assert short == "The plot wasn't good and I didn't like it. It's fine, I'm sure."
    assert expand(short) == text
    assert expand("Wasn't it? I can't.") == "Was not it? I cannot."


def test_every_demo_name_is_detected() -> None:
    for gender, by_origin in DEMO_NAMES.items():
        for origin, names in by_origin.items():
            for name in names:
                assert NAME_INDEX[name] == (gender, origin)
                assert find_names(f"My friend {name} liked it.")[0][1] == name


def test_name_swaps_keep_or_change_the_right_attribute() -> None:
    text = "My friend Priya suggested this film. Priya's husband said he loved it."
    for seed in range(20):
        rng = random.Random(seed)
        new = swap_origin(text, rng)
        (_, name, gender, origin), *_ = find_names(new)
        assert gender == "female" and origin != "indian"
        assert f"{name}'s husband" in new  # the possessive and every mention follow
        new = swap_gender(text, random.Random(seed))
        (_, name, gender, origin), *_ = find_names(new)
        assert gender == "male" and origin == "indian"
        assert "wife said she loved" in new
        new = swap_name(text, random.Random(seed))
        assert find_names(new)[0][1] != "Priya"
    assert swap_name("No names here.", random.Random(0)) is None
    assert swap_gender("He said it was fine.", random.Random(0)) == "She said it was fine."
    assert swap_nationality("A film about cooking.", random.Random(0)) is None
    out = swap_nationality("An American film shot in France.", random.Random(0))
    assert "American" not in out and "France" not in out and out.startswith("An ")


def test_levenshtein() -> None:
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert levenshtein("same", "same") == 0
