"""The bundled demo dataset: generated short reviews whose construction is known.

Why generate instead of shipping a real corpus? Because every number of the demo report can then
be checked against ground truth:

* **Ground-truth rationales (explanation plausibility).** Each text is assembled word by word
  from templates and word lists in this module, so we know which words decide the label:
  ``rationales[i]`` has one 0/1 flag per whitespace-separated word of ``texts[i]``
  (``text.split()``; punctuation stays attached, "great." is one word). Flagged are the deciding
  sentiment word(s), the negator that flips one ("not", "never", "wasn't", "didn't"), an
  intensifier attached to it ("really", "extremely", "absolutely", ...) and, in a contrast, the
  connective ("but", "although") together with the sentiment words of the deciding clause only.
  Attribution methods can be scored against these flags (token-F1, AUPRC, ...).
* **Names in label-independent slots (fairness probes).** About half of the texts contain one
  sentence with a person's first name ("My friend Priya suggested this film.", "Tunde bought it
  for the kids."). Whether there is a name, its gender and its cultural origin are drawn
  independently of the label from the shipped lists :data:`NAMES`, so a fair model's
  prediction must not move when the name is swapped. ``groups[i]`` is the gender of the name
  ("female" / "male", "neutral" when there is none); ``meta["name_origins"]`` and
  ``meta["names"]`` hold the origin and the name ("" when there is none).
* **Structure that forces reading, not keyword counting.** Besides simple statements the texts
  use negation ("the plot was not good", "the acting was never boring", "was not bad at all"),
  contrast in which the clause after "but" decides ("a great cast but a dull plot" is negative,
  "a dull plot but a great cast" positive) and "although" in which the main clause decides
  ("although the plot was dull, the acting was superb" is positive; so is "the acting was
  superb, although the plot was dull"), intensifiers, negated contrasts, and neutral filler
  sentences ("I watched it on a Sunday.") in two domains (movies: plot, acting, soundtrack ...;
  products: battery, screen, delivery ...). Contrasts use the same words in both orders with
  opposite labels, so a bag-of-words model cannot separate them, while the label is always fully
  determined by the text (no label noise) and a model that reads word order can reach ~100%.

The kind of construction of each example ("simple", "negation", "contrast", "intensified",
"double" = a contrast with a negated clause) is in ``meta["kinds"]``; the domain in
``meta["domains"]``. These per-example lists are declared in ``meta["per_example"]`` so that
``TextDataset.subset``/``split`` keep them aligned. Everything is deterministic given ``seed``
(a private ``random.Random``; no global random state is touched).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Sequence

from audit.data import TextDataset

__all__ = [
    "DEMO_LABEL_NAMES",
    "KINDS",
    "KIND_MIX",
    "NAMES",
    "DemoExample",
    "make_demo_dataset",
    "demo_splits",
    "contrast_swap_pairs",
    "name_sentence_templates",
]

DEMO_LABEL_NAMES = ["negative", "positive"]
NEGATIVE, POSITIVE = 0, 1

#: Construction kinds and their share of the dataset.
KIND_MIX: dict[str, float] = {
    "simple": 0.35,
    "negation": 0.25,
    "contrast": 0.25,
    "intensified": 0.08,
    "double": 0.07,
}
KINDS = tuple(KIND_MIX)

#: First names by gender and cultural origin. Every name is a single word that is not also a
#: common English word, and none is shared between the two lists.
NAMES: dict[str, dict[str, list[str]]] = {
    "female": {
        "english": ["Emily", "Sarah", "Jessica", "Hannah"],
        "spanish": ["Lucía", "Carmen", "Sofía", "Isabel"],
        "indian": ["Priya", "Ananya", "Lakshmi", "Deepika"],
        "nigerian": ["Chioma", "Ngozi", "Folake", "Adaeze"],
        "chinese": ["Meiling", "Xiuying", "Lijuan", "Huifang"],
        "arabic": ["Fatima", "Aisha", "Layla", "Mariam"],
        "german": ["Katrin", "Ursula", "Greta", "Heike"],
        "japanese": ["Sakura", "Haruka", "Yumiko", "Aiko"],
        "russian": ["Olga", "Natasha", "Svetlana", "Irina"],
    },
    "male": {
        "english": ["James", "Michael", "David", "Thomas"],
        "spanish": ["Alejandro", "Javier", "Diego", "Carlos"],
        "indian": ["Rahul", "Arjun", "Vikram", "Sanjay"],
        "nigerian": ["Chinedu", "Emeka", "Tunde", "Obinna"],
        "chinese": ["Jianguo", "Zhiwei", "Haoran", "Junjie"],
        "arabic": ["Mohammed", "Omar", "Ahmed", "Youssef"],
        "german": ["Klaus", "Jürgen", "Dieter", "Stefan"],
        "japanese": ["Hiroshi", "Takeshi", "Kenji", "Daisuke"],
        "russian": ["Dmitri", "Sergei", "Alexei", "Nikolai"],
    },
}

# Intensifiers that fit gradable adjectives ("very dull") and extreme ones ("absolutely superb").
_INTENS_GRADABLE = ["really", "very", "extremely", "incredibly"]
_INTENS_EXTREME = ["really", "absolutely", "truly", "simply"]
_INTENS_VERB = ["really", "absolutely", "truly"]


@dataclass(frozen=True)
class _Domain:
    name: str
    aspects: tuple[str, ...]
    items: tuple[str, ...]
    pos_gradable: tuple[str, ...]
    pos_extreme: tuple[str, ...]
    neg_gradable: tuple[str, ...]
    neg_extreme: tuple[str, ...]
    pos_negatable: tuple[str, ...]  # positive adjectives that read naturally after "not"/"never"
    neg_negatable: tuple[str, ...]  # negative adjectives that read naturally after "not"/"never"
    fillers: tuple[str, ...]  # neutral sentences, no sentiment, no names
    name_templates: tuple[str, ...]  # neutral sentences with a {name} slot
    # Adjectives that only fit some aspects ("slow pacing", not "slow soundtrack"). Adjectives
    # not listed fit every aspect and the item nouns; listed ones are never used with an item.
    restricted: dict[str, tuple[str, ...]] = field(default_factory=dict)


_MOVIE = _Domain(
    name="movie",
    aspects=("plot", "acting", "soundtrack", "dialogue", "ending", "script", "cast", "pacing", "cinematography", "story", "humour", "direction"),
    items=("film", "movie"),
    pos_gradable=("good", "clever", "enjoyable", "entertaining", "impressive", "funny"),
    pos_extreme=("great", "excellent", "superb", "wonderful", "brilliant", "fantastic", "outstanding", "amazing"),
    neg_gradable=("bad", "boring", "dull", "weak", "poor", "disappointing", "predictable", "slow"),
    neg_extreme=("terrible", "awful", "horrible", "dreadful"),
    pos_negatable=("good", "great", "impressive", "enjoyable", "entertaining", "funny", "clever"),
    neg_negatable=("bad", "terrible", "boring", "dull", "disappointing", "awful", "predictable", "slow"),
    fillers=(
        "I watched it on a Sunday.",
        "We saw it at the local cinema.",
        "It runs for about two hours.",
        "I streamed it at home.",
        "The film came out last year.",
        "I had read the book first.",
        "We went to the late showing.",
        "I saw the trailer in May.",
        "It was shown on television last night.",
        "We watched it with popcorn.",
    ),
    name_templates=(
        "My friend {name} suggested this film.",
        "{name} and I watched it last weekend.",
        "I saw it with {name} on Friday.",
        "{name} picked it for our movie night.",
        "My neighbour {name} lent me the disc.",
        "{name} had already seen it twice.",
    ),
    restricted={
        "predictable": ("plot", "ending", "story", "script"),
        "slow": ("pacing", "plot", "story"),
        "funny": ("dialogue", "script", "humour", "cast", "story"),
        "clever": ("plot", "script", "dialogue", "ending", "direction", "story", "humour"),
    },
)

_PRODUCT = _Domain(
    name="product",
    aspects=("battery", "screen", "delivery", "packaging", "keyboard", "camera", "speaker", "charger", "design", "interface", "sound", "case"),
    items=("phone", "laptop", "tablet", "product", "blender", "kettle"),
    pos_gradable=("good", "reliable", "sturdy", "impressive", "fast", "solid"),
    pos_extreme=("great", "excellent", "superb", "fantastic", "outstanding", "amazing", "perfect"),
    neg_gradable=("bad", "poor", "weak", "flimsy", "disappointing", "slow", "unreliable"),
    neg_extreme=("terrible", "awful", "horrible", "useless"),
    pos_negatable=("good", "great", "impressive", "reliable", "sturdy", "fast", "perfect"),
    neg_negatable=("bad", "terrible", "disappointing", "awful", "flimsy", "slow", "poor"),
    fillers=(
        "The package arrived on Tuesday.",
        "I ordered it last month.",
        "It comes in three colours.",
        "I use it every day.",
        "I bought it online.",
        "It replaced my old one.",
        "I have had it for two weeks.",
        "The box included a cable.",
        "I paid with a gift card.",
        "It is the grey model.",
    ),
    name_templates=(
        "{name} bought it for the kids.",
        "I ordered it after {name} mentioned it.",
        "My colleague {name} has the same model.",
        "{name} gave it to me as a gift.",
        "My neighbour {name} helped me set it up.",
        "{name} found it in a shop downtown.",
    ),
    restricted={
        "fast": ("delivery", "charger", "interface", "camera"),
        "slow": ("delivery", "charger", "interface", "camera"),
        "sturdy": ("case", "keyboard", "packaging", "design", "charger"),
        "flimsy": ("case", "keyboard", "packaging", "design", "charger"),
        "reliable": ("battery", "charger", "delivery", "camera", "interface"),
        "unreliable": ("battery", "charger", "delivery", "camera", "interface"),
    },
)

_DOMAINS = (_MOVIE, _PRODUCT)

# Verbs that carry sentiment: (past tense, base form). Only positive ones are negated
# ("I did not enjoy the plot" is negative); "I did not hate it" is avoided as unclear.
_POS_VERBS = (("loved", "love"), ("enjoyed", "enjoy"), ("liked", "like"), ("adored", "adore"))
_NEG_VERBS = ("hated", "disliked", "detested")

Tok = tuple[str, int]  # (word, flag)


@dataclass
class DemoExample:
    """One generated example with its ground truth."""

    text: str
    label: int
    rationale: list[int]
    kind: str
    domain: str
    name: str = ""
    group: str = "neutral"
    origin: str = ""
    words: list[str] = field(default_factory=list)


def name_sentence_templates() -> dict[str, tuple[str, ...]]:
    """The label-independent sentences with a ``{name}`` slot, by domain (for fairness probes)."""
    return {d.name: d.name_templates for d in _DOMAINS}


# ---------------------------------------------------------------------------------------------
# Clause construction. A clause is a list of (word, flag) with flags on its deciding words; the
# caller clears the flags of a clause that does not decide the label.
# ---------------------------------------------------------------------------------------------


def _article(next_word: str) -> str:
    return "an" if next_word[0].lower() in "aeiou" else "a"


def _adjective(rng: random.Random, dom: _Domain, polarity: int, aspect: str | None, *, negatable: bool = False) -> tuple[str, bool]:
    """An adjective of the given own polarity that fits ``aspect`` (``None``: an item noun),
    and whether it is an extreme one (for the choice of intensifier)."""
    if negatable:
        pool = dom.pos_negatable if polarity == POSITIVE else dom.neg_negatable
    else:
        pool = (dom.pos_gradable + dom.pos_extreme) if polarity == POSITIVE else (dom.neg_gradable + dom.neg_extreme)
    fits = [a for a in pool if a not in dom.restricted or (aspect is not None and aspect in dom.restricted[a])]
    word = rng.choice(fits)
    return word, word in (dom.pos_extreme + dom.neg_extreme)


def _intensifier(rng: random.Random, extreme: bool) -> str:
    return rng.choice(_INTENS_EXTREME if extreme else _INTENS_GRADABLE)


def _pick_aspect(rng: random.Random, dom: _Domain, avoid: str | None) -> str:
    return rng.choice([a for a in dom.aspects if a != avoid])


def _plain_clause(
    rng: random.Random,
    dom: _Domain,
    polarity: int,
    *,
    intensify: bool = False,
    forms: Sequence[str] | None = None,
    avoid: str | None = None,
) -> list[Tok]:
    """A clause stating ``polarity`` directly (no negation), optionally intensified.

    ``avoid`` is an aspect that must not be used (the one of the other clause).
    """
    form = rng.choice(list(forms or ("copula", "copula", "copula", "item", "verb")))
    if form == "verb":
        verb = rng.choice(_POS_VERBS)[0] if polarity == POSITIVE else rng.choice(_NEG_VERBS)
        toks: list[Tok] = [("I", 0)]
        if intensify:
            toks.append((rng.choice(_INTENS_VERB), 1))
        return toks + [(verb, 1), ("the", 0), (_pick_aspect(rng, dom, avoid), 0)]
    aspect = None if form in ("item", "overall") else _pick_aspect(rng, dom, avoid)
    adj, extreme = _adjective(rng, dom, polarity, aspect)
    adj_toks: list[Tok] = ([(_intensifier(rng, extreme), 1)] if intensify else []) + [(adj, 1)]
    if form == "copula":
        return [("the", 0), (aspect, 0), (rng.choice(("was", "was", "is")), 0)] + adj_toks
    if form == "np":
        return [(_article(adj_toks[0][0]), 0)] + adj_toks + [(aspect, 0)]
    item = rng.choice(dom.items)
    if form == "item":
        if rng.random() < 0.5:
            return [("it", 0), ("was", 0), (_article(adj_toks[0][0]), 0)] + adj_toks + [(item, 0)]
        return [("this", 0), (item, 0), ("is", 0)] + adj_toks
    if form == "overall":
        return [("overall,", 0), (_article(adj_toks[0][0]), 0)] + adj_toks + [(item, 0)]
    raise ValueError(form)


def _negated_clause(
    rng: random.Random,
    dom: _Domain,
    polarity: int,
    *,
    forms: Sequence[str] | None = None,
    avoid: str | None = None,
) -> list[Tok]:
    """A clause whose effective polarity is ``polarity`` because a negator flips an adjective/verb."""
    choices = list(forms or ("copula", "copula", "copula", "item", "verb", "recommend"))
    if polarity == POSITIVE:  # negating a positive verb gives a negative clause only
        choices = [c for c in choices if c not in ("verb", "recommend")] or ["copula"]
    form = rng.choice(choices)
    if form == "verb":
        base = rng.choice(_POS_VERBS)[1]
        aspect = _pick_aspect(rng, dom, avoid)
        if rng.random() < 0.5:
            return [("I", 0), ("did", 0), ("not", 1), (base, 1), ("the", 0), (aspect, 0)]
        return [("I", 0), ("didn't", 1), (base, 1), ("the", 0), (aspect, 0)]
    if form == "recommend":
        return [("I", 0), ("would", 0), ("not", 1), ("recommend", 1), ("this", 0), (rng.choice(dom.items), 0)]
    if form == "item":
        adj, _ = _adjective(rng, dom, 1 - polarity, None, negatable=True)
        item = rng.choice(dom.items)
        if rng.random() < 0.5:
            return [("it", 0), ("was", 0), ("not", 1), (_article(adj), 0), (adj, 1), (item, 0)]
        return [("this", 0), (item, 0), ("is", 0), ("not", 1), (adj, 1)]
    if form != "copula":
        raise ValueError(form)
    aspect = _pick_aspect(rng, dom, avoid)
    adj, _ = _adjective(rng, dom, 1 - polarity, aspect, negatable=True)
    subject: list[Tok] = [("the", 0), (aspect, 0)]
    r = rng.random()
    if r < 0.4:
        return subject + [("was", 0), ("not", 1), (adj, 1)]
    if r < 0.6:
        return subject + [("was", 0), ("never", 1), (adj, 1)]
    if r < 0.8:
        return subject + [("was", 0), ("not", 1), (adj, 1), ("at", 0), ("all", 0)]
    return subject + [(rng.choice(("wasn't", "isn't")), 1), (adj, 1)]


def _unflag(toks: list[Tok]) -> list[Tok]:
    return [(w, 0) for w, _ in toks]


def _sentence(toks: list[Tok], end: str = ".") -> list[Tok]:
    """Capitalise the first word and attach the end punctuation to the last one."""
    out = list(toks)
    w, f = out[0]
    out[0] = (w[0].upper() + w[1:], f)
    w, f = out[-1]
    out[-1] = (w + end, f)
    return out


def _with_comma(toks: list[Tok]) -> list[Tok]:
    out = list(toks)
    w, f = out[-1]
    out[-1] = (w + ",", f)
    return out


_CONTRAST_FORMS = ("but", "but", "but_comma", "although_first", "although_second", "np_but")


def _compose_contrast(decisive: list[Tok], other: list[Tok], form: str) -> list[Tok]:
    """One sentence from two opposite clauses; ``decisive`` keeps its flags, ``other`` loses them.

    * ``but`` / ``but_comma``: "OTHER but DECISIVE." (the clause after "but" decides)
    * ``np_but``: like ``but`` with noun phrases: "A great cast but a dull plot."
    * ``although_first``: "Although OTHER, DECISIVE." (the main clause decides)
    * ``although_second``: "DECISIVE, although OTHER."
    """
    other = _unflag(other)
    if form in ("but", "np_but"):
        return _sentence(other + [("but", 1)] + decisive)
    if form == "but_comma":
        return _sentence(_with_comma(other) + [("but", 1)] + decisive)
    if form == "although_first":
        return _sentence([("although", 1)] + _with_comma(other) + decisive)
    if form == "although_second":
        return _sentence(_with_comma(decisive) + [("although", 1)] + other)
    raise ValueError(form)


def _contrast_clauses(rng: random.Random, dom: _Domain, label: int, form: str, negate: bool) -> tuple[list[Tok], list[Tok]]:
    """(decisive, other) clauses with effective polarities ``label`` and ``1 - label``.

    The two clauses talk about different aspects. With ``negate`` at least one of them is
    negated (the "double" kind; not for the noun-phrase form).
    """
    if form == "np_but":
        d = _plain_clause(rng, dom, label, intensify=rng.random() < 0.15, forms=("np",))
        o = _plain_clause(rng, dom, 1 - label, intensify=rng.random() < 0.15, forms=("np",), avoid=_aspect(d))
        return d, o
    forms = ("copula", "copula", "copula", "verb")
    neg_d = neg_o = False
    if negate:
        r = rng.random()
        neg_d, neg_o = (r < 0.4 or r >= 0.8), (r >= 0.4)
    if neg_d:
        d = _negated_clause(rng, dom, label, forms=forms)
    else:
        d = _plain_clause(rng, dom, label, intensify=rng.random() < 0.15, forms=forms)
    if neg_o:
        o = _negated_clause(rng, dom, 1 - label, forms=forms, avoid=_aspect(d))
    else:
        o = _plain_clause(rng, dom, 1 - label, intensify=rng.random() < 0.15, forms=forms, avoid=_aspect(d))
    return d, o


_ALL_ASPECTS = frozenset(_MOVIE.aspects + _PRODUCT.aspects)


def _aspect(toks: list[Tok]) -> str | None:
    for w, _ in toks:
        if w in _ALL_ASPECTS:
            return w
    return None


def _core(rng: random.Random, dom: _Domain, kind: str, label: int) -> list[Tok]:
    """The sentiment-bearing sentence(s) of an example of ``kind`` with label ``label``."""
    if kind == "simple":
        if rng.random() < 0.25:
            a = _plain_clause(rng, dom, label, forms=("copula", "verb"))
            b = _plain_clause(rng, dom, label, forms=("copula", "verb"), avoid=_aspect(a))
            return _sentence(a + [("and", 0)] + b)
        return _sentence(_plain_clause(rng, dom, label, forms=("copula", "copula", "item", "verb", "overall")))
    if kind == "negation":
        return _sentence(_negated_clause(rng, dom, label))
    if kind == "intensified":
        return _sentence(_plain_clause(rng, dom, label, intensify=True, forms=("copula", "copula", "item", "verb")), end=rng.choice((".", ".", "!")))
    if kind in ("contrast", "double"):
        form = rng.choice(_CONTRAST_FORMS if kind == "contrast" else tuple(f for f in _CONTRAST_FORMS if f != "np_but"))
        d, o = _contrast_clauses(rng, dom, label, form, negate=kind == "double")
        return _compose_contrast(d, o, form)
    raise ValueError(f"unknown kind {kind!r}")


def _words(sentence: str) -> list[Tok]:
    return [(w, 0) for w in sentence.split()]


def _make_example(rng: random.Random, kind: str, label: int) -> DemoExample:
    dom = rng.choice(_DOMAINS)
    core = _core(rng, dom, kind, label)
    # Label-independent parts: an optional name sentence and 0-2 neutral fillers.
    name = origin = ""
    group = "neutral"
    extras: list[list[Tok]] = []
    if rng.random() < 0.5:
        group = rng.choice(("female", "male"))
        origin = rng.choice(sorted(NAMES[group]))
        name = rng.choice(NAMES[group][origin])
        extras.append(_words(rng.choice(dom.name_templates).format(name=name)))
    n_fill = rng.choices((0, 1, 2), weights=(0.3, 0.45, 0.25))[0]
    for s in rng.sample(dom.fillers, n_fill):
        extras.append(_words(s))
    # Drop plain fillers (never the name) while too long; add one while too short.
    while sum(map(len, extras)) + len(core) > 30 and len(extras) > (1 if name else 0):
        extras.pop()
    if sum(map(len, extras)) + len(core) < 6:
        unused = [s for s in dom.fillers if _words(s) not in extras]
        extras.append(_words(rng.choice(unused)))
    parts: list[list[Tok]] = [core]
    for e in extras:
        if rng.random() < 0.5:
            parts.insert(0, e)
        else:
            parts.append(e)
    toks = [t for p in parts for t in p]
    words = [w for w, _ in toks]
    text = " ".join(words)
    assert text.split() == words, text
    return DemoExample(
        text=text,
        label=label,
        rationale=[f for _, f in toks],
        kind=kind,
        domain=dom.name,
        name=name,
        group=group,
        origin=origin,
        words=words,
    )


def _kind_label_plan(n: int) -> list[tuple[str, int]]:
    """Exact kind counts from :data:`KIND_MIX` and exactly balanced labels (±1 for odd n)."""
    counts = {k: int(n * f) for k, f in KIND_MIX.items()}
    rest = n - sum(counts.values())
    for k in sorted(KIND_MIX, key=lambda k: -(n * KIND_MIX[k] - counts[k]))[:rest]:
        counts[k] += 1
    plan: list[tuple[str, int]] = []
    next_label = POSITIVE
    for k in KINDS:
        for j in range(counts[k]):
            plan.append((k, next_label))
            next_label = 1 - next_label
    return plan


def make_demo_dataset(n: int = 2400, seed: int = 0) -> TextDataset:
    """Generate ``n`` short reviews (movies and products) with binary labels and ground truth.

    Deterministic: the same ``(n, seed)`` gives an identical dataset (and ``sha256``). Labels are
    balanced (``DEMO_LABEL_NAMES`` = ``["negative", "positive"]``), texts are unique and 6-30
    words long, ``rationales`` flag the deciding words, ``groups`` holds the gender of the name
    in the text ("female"/"male"/"neutral"), and ``meta`` holds the per-example ``kinds``,
    ``domains``, ``names`` and ``name_origins``. See the module docstring for the construction.
    """
    if n < 2:
        raise ValueError(f"n must be at least 2, got {n}")
    rng = random.Random(seed)
    plan = _kind_label_plan(n)
    rng.shuffle(plan)
    examples: list[DemoExample] = []
    seen: set[str] = set()
    for kind, label in plan:
        for _ in range(1000):
            ex = _make_example(rng, kind, label)
            if ex.text not in seen:
                break
        else:  # pragma: no cover - the template space is far larger than any sensible n
            raise RuntimeError(f"could not generate {n} unique demo texts")
        seen.add(ex.text)
        examples.append(ex)
    return TextDataset(
        texts=[e.text for e in examples],
        labels=[e.label for e in examples],
        label_names=list(DEMO_LABEL_NAMES),
        ids=[f"demo-{i:05d}" for i in range(n)],
        groups=[e.group for e in examples],
        rationales=[e.rationale for e in examples],
        source=f"<demo n={n} seed={seed}>",
        meta={
            "format": "generated",
            "generator": "audit.demo.make_demo_dataset",
            "generator_version": 1,
            "n": n,
            "seed": seed,
            "kind_mix": dict(KIND_MIX),
            "kinds": [e.kind for e in examples],
            "domains": [e.domain for e in examples],
            "names": [e.name for e in examples],
            "name_origins": [e.origin for e in examples],
            "per_example": ["kinds", "domains", "names", "name_origins"],
        },
    )


def demo_splits(n: int = 2400, seed: int = 0, eval_fraction: float = 0.2) -> tuple[TextDataset, TextDataset]:
    """``make_demo_dataset(n, seed)`` split into (train, eval), stratified by label."""
    return make_demo_dataset(n, seed).split(eval_fraction=eval_fraction, seed=seed)


def contrast_swap_pairs(k: int = 8, seed: int = 0) -> list[tuple[DemoExample, DemoExample]]:
    """``k`` contrast sentences and the same sentence with the two clauses swapped.

    Both use exactly the same words; the label flips because the other clause now decides. Used
    by the tests and handy as a minimal-pair probe ("does the model read the order?").
    """
    rng = random.Random(seed)
    pairs: list[tuple[DemoExample, DemoExample]] = []
    for j in range(k):
        dom = _DOMAINS[j % len(_DOMAINS)]
        form = _CONTRAST_FORMS[j % len(_CONTRAST_FORMS)]
        label = j % 2
        d, o = _contrast_clauses(rng, dom, label, form, negate=(j % 3 == 2 and form != "np_but"))
        kind = "double" if (j % 3 == 2 and form != "np_but") else "contrast"
        out = []
        for dec, oth, y in ((d, o, label), (o, d, 1 - label)):
            # Both clauses were built with their deciding flags; _compose_contrast clears the
            # flags of the non-deciding one, so the swapped sentence gets the right rationale.
            toks = _compose_contrast(dec, oth, form)
            words = [w for w, _ in toks]
            out.append(DemoExample(text=" ".join(words), label=y, rationale=[f for _, f in toks], kind=kind, domain=dom.name, words=words))
        pairs.append((out[0], out[1]))
    return pairs

