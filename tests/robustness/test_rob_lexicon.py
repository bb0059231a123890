"""The shipped WordNet-derived lexicon, the polarity list, validity flags and the lexicon builder."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import pytest

from audit.robustness.lexicon import LEXICON_PATH, Lexicon
from audit.robustness.wordlists import NEGATIVE_WORDS, POSITIVE_WORDS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lex() -> Lexicon:
    return Lexicon.load()


def test_shipped_lexicon_and_licence() -> None:
    data = json.loads(gzip.decompress(LEXICON_PATH.read_bytes()))
    assert data["format"] == 1 and len(data["words"]) > 5000
    licence = (LEXICON_PATH.parent / "WORDNET_LICENSE.txt").read_text(encoding="utf-8")
    assert "WordNet 3.0 Copyright 2006 by Princeton University" in licence
    assert "wordnet_lexicon.json.gz" in licence


def test_polarity_lists_are_disjoint() -> None:
    assert not set(POSITIVE_WORDS) & set(NEGATIVE_WORDS)
    assert {"good", "great", "superb"} <= set(POSITIVE_WORDS)
    assert {"bad", "terrible", "dull"} <= set(NEGATIVE_WORDS)


def test_synonyms_antonyms_and_inflection(lex: Lexicon) -> None:
    assert "movie" in lex.synonyms("film")
    assert "movies" in lex.synonyms("films")  # plural in, plural out
    assert "bad" in lex.antonyms("good")
    assert "hated" in lex.antonyms("loved")  # through the lemma, re-inflected
    assert lex.polarity("superb") == 1 and lex.polarity("awful") == -1 and lex.polarity("film") == 0
    assert lex.polarity("disliked") == -1


@pytest.mark.parametrize("a, b, expected", [
    ("good", "bad", {"antonym", "polarity_flip"}),
    ("loved", "hated", {"antonym", "polarity_flip"}),
    ("superb", "awful", {"polarity_flip"}),
    ("great", "large", {"polarity_change"}),
    ("not", "now", {"negation"}),
    ("film", "movie", set()),
    ("superb", "brilliant", set()),
    ("superb", "sup3rb", set()),  # a misspelling is not a meaning change
    ("superb", "superbb", set()),
])
def test_validity_flags(lex: Lexicon, a: str, b: str, expected: set[str]) -> None:
    assert set(lex.flags(a, b)) == expected
    assert set(lex.flags(a.capitalize(), b.upper())) == expected


def test_missing_or_broken_lexicon_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.json.gz"):
        Lexicon.load(tmp_path / "missing.json.gz")
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(gzip.compress(b'{"nope": 1}'))
    with pytest.raises(ValueError, match="bad.json.gz"):
        Lexicon.load(bad)


def _fake_wordnet(d: Path) -> None:
    """Two adjective synsets (good/bad heads, superb satellite) and one noun synset, in WordNet's format."""
    header = "  1 This software and database is being provided to you, the LICENSEE, by  \n" \
             "  2 WordNet 3.0 Copyright 2006 by Princeton University.  All rights reserved.  \n"
    (d / "data.adj").write_text(header +
        "00000100 00 a 01 good 0 002 ! 00000200 a 0101 & 00000300 a 0000 | positive  \n"
        "00000200 00 a 01 bad 0 001 ! 00000100 a 0101 | negative  \n"
        "00000300 00 s 02 superb 0 brilliant(a) 0 001 & 00000100 a 0000 | very good  \n")
    (d / "index.adj").write_text(header +
        "good a 1 2 ! & 1 3 00000100  \nbad a 1 1 ! 1 2 00000200  \n"
        "superb a 1 1 & 1 1 00000300  \nbrilliant a 1 1 & 1 1 00000300  \n")
    (d / "data.noun").write_text(header + "00000400 00 n 02 film 0 movie 0 000 | a motion picture  \n")
    (d / "index.noun").write_text(header + "film n 1 0 1 5 00000400  \nmovie n 1 0 1 4 00000400  \n")
    for pos in ("verb", "adv"):
        (d / f"data.{pos}").write_text(header)
        (d / f"index.{pos}").write_text(header)


def test_builder_parses_wordnet_files(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("build_lexicon", REPO / "tools" / "build_lexicon.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    _fake_wordnet(tmp_path)
    lexicon, licence = mod.build(tmp_path)
    words = lexicon["words"]
    assert words["film"]["n"] == ["movie"]
    assert words["good"]["ant"] == ["bad"] and words["bad"]["ant"] == ["good"]
    assert words["superb"]["a"] == ["brilliant", "good"]  # same synset, then the cluster head
    assert "bad" in words["superb"]["ant"]  # indirect antonym through the head
    assert "superb" in words["good"]["a"]  # a head lists its satellites
    assert "WordNet 3.0 Copyright 2006" in licence
    out = tmp_path / "out"
    assert mod.main(["--wordnet", str(tmp_path), "--out", str(out)]) == 0
    first = (out / "wordnet_lexicon.json.gz").read_bytes()
    assert mod.main(["--wordnet", str(tmp_path), "--out", str(out)]) == 0
    assert (out / "wordnet_lexicon.json.gz").read_bytes() == first  # deterministic bytes
