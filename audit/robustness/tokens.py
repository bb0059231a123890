"""Words and tokens, for every tokenizer family.

Words are character spans of the text (see :func:`.perturbations.word_spans`); tokens are tied to
them only through the tokenizer's character offsets (``return_offsets_mapping``) and its
``special_tokens_mask``. Nothing here looks at piece prefixes (``##``, ``Ġ``, ``▁``), at which
special tokens a tokenizer adds or where, or at the padding side, so WordPiece, byte-level BPE
and SentencePiece-style tokenizers (with or without byte fallback) are handled alike.
"""

from __future__ import annotations

from typing import Any, Sequence

#: What a candidate word is put after when its tokens are looked up: a short word and a space,
#: so the word is tokenized the way it is inside running text (not as the text's first word,
#: which byte-level BPE tokenizes without its leading-space piece).
CONTEXT = "a "


def word_tokens(offsets: Sequence[Sequence[int]], special: Sequence[int], spans: Sequence[tuple[int, int]]) -> list[list[int]]:
    """For each word span, the positions of the tokens whose characters overlap it.

    ``offsets`` and ``special`` are one encoded text's ``offset_mapping`` and
    ``special_tokens_mask`` (padded or not: padding and special tokens are skipped, as are
    tokens without characters). A token that covers a word's leading space as well (``Ġword``,
    ``▁word``) belongs to that word; one that overlaps two words belongs to both.
    """
    out: list[list[int]] = [[] for _ in spans]
    toks = sorted((int(a), int(b), t) for t, ((a, b), sp) in enumerate(zip(offsets, special)) if not sp and int(b) > int(a))
    w = 0
    for a, b, t in toks:
        while w < len(spans) and spans[w][1] <= a:
            w += 1
        k = w
        while k < len(spans) and spans[k][0] < b:
            out[k].append(t)
            k += 1
    return out


def single_token_ids(tokenizer: Any, words: Sequence[str], batch_size: int = 4096) -> list[int | None]:
    """The token id of each word when it is written after a space in running text and the
    tokenizer gives it exactly one token; ``None`` when it takes several tokens (or none).

    Every non-special token after the context word counts, including a space piece of its own
    (``Ġ`` then ``er``), which a tokenizer that trims offsets reports with no characters.
    """
    out: list[int | None] = []
    c = len(CONTEXT.rstrip())  # where the context word ends
    for s in range(0, len(words), batch_size):
        part = list(words[s : s + batch_size])
        enc = tokenizer([CONTEXT + w for w in part], return_offsets_mapping=True, return_special_tokens_mask=True)
        for w, ids, offs, sp in zip(part, enc["input_ids"], enc["offset_mapping"], enc["special_tokens_mask"]):
            after = [t for t, ((a, b), x) in enumerate(zip(offs, sp)) if not x and (b > c if b > a else a >= c)]
            alone = bool(w) and len(after) == 1 and int(offs[after[0]][0]) >= c  # not merged with the context
            out.append(int(ids[after[0]]) if alone else None)
    return out


__all__ = ["CONTEXT", "word_tokens", "single_token_ids"]
