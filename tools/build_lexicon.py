"""Build the compact synonym / antonym / polarity lexicon shipped with the robustness probe.

Development-time only. Reads the WordNet 3.0 database files (``index.*`` and ``data.*``; on
Debian: ``apt-get install wordnet-base``, files under /usr/share/wordnet), parses them directly
and writes

* ``audit/resources/wordnet_lexicon.json.gz`` — for every common single word: its synonyms per
  part of speech (lemmas sharing one of its first senses, then for adjectives the lemmas of the
  same similarity cluster), its antonyms (direct lexical antonyms,
  plus for adjectives the antonyms of the head of each satellite cluster it belongs to);
* ``audit/resources/WORDNET_LICENSE.txt`` — the WordNet 3.0 licence, which must accompany
  every copy of data derived from WordNet.

A word is "common" when WordNet's sense-tagged corpus counts (``tagsense_cnt``) are non-zero
for it, or when it is in the shipped polarity list (``audit.robustness.wordlists``). The output
is deterministic (sorted keys, gzip with a zero timestamp), so re-running on the same WordNet
gives identical bytes.

    python tools/build_lexicon.py [--wordnet /usr/share/wordnet] [--out audit/resources]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from audit.robustness.wordlists import NEGATIVE_WORDS, POSITIVE_WORDS  # noqa: E402

POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
WORD = re.compile(r"^[a-z]+$")
MAX_SENSES = 3  # synonyms come from a word's first senses only (WordNet orders senses by frequency)
MAX_SYNONYMS = 12  # per word and part of speech
MAX_ANTONYMS = 40


def read_index(path: Path) -> dict[str, tuple[int, list[int]]]:
    """lemma -> (tagsense_cnt, synset offsets in sense order) for one part of speech."""
    out: dict[str, tuple[int, list[int]]] = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        if not line or line.startswith("  "):
            continue
        parts = line.split()
        lemma, synset_cnt, p_cnt = parts[0], int(parts[2]), int(parts[3])
        rest = parts[4 + p_cnt:]
        tagsense_cnt = int(rest[1])
        offsets = [int(x) for x in rest[2:2 + synset_cnt]]
        out[lemma] = (tagsense_cnt, offsets)
    return out


def read_data(path: Path) -> dict[int, dict]:
    """offset -> {type, words, pointers} for one part of speech."""
    out: dict[int, dict] = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        if not line or line.startswith("  "):
            continue
        head = line.split("|", 1)[0].split()
        offset, ss_type, w_cnt = int(head[0]), head[2], int(head[3], 16)
        words = [re.sub(r"\(.*\)$", "", head[4 + 2 * i]).lower() for i in range(w_cnt)]
        i = 4 + 2 * w_cnt
        p_cnt = int(head[i])
        pointers = []
        for j in range(p_cnt):
            sym, target, pos, st = head[i + 1 + 4 * j: i + 5 + 4 * j]
            pointers.append((sym, int(target), "a" if pos == "s" else pos, int(st[:2], 16), int(st[2:], 16)))
        out[offset] = {"type": ss_type, "words": words, "pointers": pointers}
    return out


def licence_text(index_path: Path) -> str:
    lines = []
    for line in index_path.read_text(encoding="latin-1").splitlines():
        if not line.startswith("  "):
            break
        m = re.match(r"^\s+\d+\s?(.*)$", line)
        lines.append((m.group(1) if m else "").rstrip())
    return "\n".join(lines).strip() + "\n"


def build(wordnet: Path) -> tuple[dict, str]:
    index = {p: read_index(wordnet / f"index.{name}") for p, name in POS_FILES.items()}
    data = {p: read_data(wordnet / f"data.{name}") for p, name in POS_FILES.items()}
    seeds = set(POSITIVE_WORDS) | set(NEGATIVE_WORDS)
    tagged: dict[str, int] = defaultdict(int)
    for p in POS_FILES:
        for lemma, (cnt, _) in index[p].items():
            if WORD.match(lemma):
                tagged[lemma] += cnt
    common = {w for w, c in tagged.items() if c > 0} | {w for w in seeds if WORD.match(w)}

    def lemmas(pos: str, offset: int) -> list[str]:
        return data[pos][offset]["words"]

    words: dict[str, dict] = {}
    for w in sorted(common):
        entry: dict[str, list[str]] = {}
        antonyms: list[str] = []
        for p in POS_FILES:
            if w not in index[p]:
                continue
            _, offsets = index[p][w]
            syns: list[str] = []
            for k, off in enumerate(offsets):
                syn = data[p][off]
                if k < MAX_SENSES:
                    for s in syn["words"]:
                        if s != w and s in common and s not in syns:
                            syns.append(s)
                # Direct antonyms of this word in every sense.
                pos_in_synset = [i + 1 for i, s in enumerate(syn["words"]) if s == w]
                for sym, target, tpos, src, dst in syn["pointers"]:
                    if sym == "!" and src in pos_in_synset:
                        a = lemmas(tpos, target)[dst - 1]
                        if a in common and a not in antonyms:
                            antonyms.append(a)
                # Indirect antonyms: a satellite adjective opposes the antonyms of its head.
                if p == "a" and syn["type"] == "s" and k < MAX_SENSES:
                    for sym, target, tpos, _src, _dst in syn["pointers"]:
                        if sym != "&":
                            continue
                        head = data["a"][target]
                        for hsym, htarget, hpos, _s, _d in head["pointers"]:
                            if hsym == "!":
                                for a in lemmas(hpos, htarget):
                                    if a in common and a != w and a not in antonyms:
                                        antonyms.append(a)
            if p == "a":  # then the adjective cluster: a head's satellites, a satellite's head
                for off in offsets[:MAX_SENSES]:
                    for sym, target, _tpos, _src, _dst in data["a"][off]["pointers"]:
                        if sym == "&":
                            for s in lemmas("a", target):
                                if s != w and s in common and s not in syns:
                                    syns.append(s)
            if syns:
                entry[p] = syns[:MAX_SYNONYMS]
        if antonyms:
            entry["ant"] = antonyms[:MAX_ANTONYMS]
        if entry:
            words[w] = entry

    lexicon = {
        "format": 1,
        "source": "WordNet 3.0 (Princeton University); see WORDNET_LICENSE.txt",
        "built_by": "tools/build_lexicon.py",
        "settings": {"max_senses": MAX_SENSES, "max_synonyms": MAX_SYNONYMS, "max_antonyms": MAX_ANTONYMS,
                     "common_word": "tagsense_cnt > 0 or in the polarity list"},
        "pos": {"n": "noun", "v": "verb", "a": "adjective", "r": "adverb"},
        "words": words,
    }
    return lexicon, licence_text(wordnet / "index.adj")


def write_gzip_json(obj: dict, path: Path) -> None:
    raw = json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as f:
        f.write(raw)
    path.write_bytes(buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    ap.add_argument("--out", type=Path, default=REPO / "audit" / "resources")
    args = ap.parse_args(argv)
    if not (args.wordnet / "data.adj").is_file():
        ap.error(f"{args.wordnet}: no WordNet database here (data.adj missing); apt-get install wordnet-base")
    lexicon, licence = build(args.wordnet)
    args.out.mkdir(parents=True, exist_ok=True)
    write_gzip_json(lexicon, args.out / "wordnet_lexicon.json.gz")
    (args.out / "WORDNET_LICENSE.txt").write_text(
        "The file wordnet_lexicon.json.gz in this directory is derived from WordNet 3.0.\n\n" + licence, encoding="utf-8")
    n_syn = sum(1 for e in lexicon["words"].values() if any(k != "ant" for k in e))
    n_ant = sum(1 for e in lexicon["words"].values() if "ant" in e)
    size = (args.out / "wordnet_lexicon.json.gz").stat().st_size
    print(f"{len(lexicon['words'])} words ({n_syn} with synonyms, {n_ant} with antonyms); {size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
