"""Canaries: planted records with random secrets, and how much the model exposes them.

A canary is a sentence from a fixed template with a random secret of digits ("my account code
is 7 3 9 1 4") and a random label, inserted into the training set a chosen number of times.
After training, its *exposure* (Carlini et al., USENIX Security 2019) measures how strongly the
model prefers the true secret over all other secrets of the same format:

    exposure = log2 |candidates| - log2 rank(true secret)

where candidates are every possible secret and the rank orders them by the model's log
probability of the canary's label given the filled-in template (rank 1 = the true secret is the
model's favourite). A model that never saw the canary gives a rank uniform over the candidates
(expected exposure about 1.4 bits); full memorisation gives log2 |candidates|.

The candidate space (10^digits secrets) is usually too large to score entirely, so a random
sample of ``n_candidates`` other secrets is scored and the rank is estimated from the fraction of
sampled secrets that beat the true one; the exposure comes with a 95% interval from the exact
binomial interval of that fraction. When no sampled secret beats the true one the estimate
saturates at log2 |candidates| and only its lower end (about log2(n_candidates / 3.7)) is
supported by the data; the result says so. An extrapolated value from a normal fit to the
candidates' scores is given as well, labelled as such.

Besides the classic digit code there are personal-data kinds (``email``, ``phone``; see
:mod:`.pii_canaries`): an ordinary sentence with a fake e-mail address or phone number from a
reserved range, whose digits are the secret. Choose them with ``kinds`` in :func:`plant_canaries`.

Secrets never leave this module unmasked: :meth:`CanarySpec.to_dict` and every result hold the
masked sentence ("my account code is * * * * *"), never the digits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..data import TextDataset
from .pii_canaries import CANARY_KINDS, CanaryKind, canary_kind, check_reserved

#: Fixed canary templates; ``{secret}`` is replaced by space-separated digits.
CANARY_TEMPLATES: tuple[str, ...] = (
    "my account code is {secret}",
    "the door code for the storage room is {secret}",
    "my customer number is {secret} please keep it safe",
    "the pin for my card is {secret}",
    "call me back on extension {secret}",
    "my locker combination is {secret}",
)

MASK = "*"


class Canary:
    """One canary. The secret is kept private: ``repr`` and ``to_dict`` show the masked text only."""

    __slots__ = ("id", "template", "_secret", "label", "repetitions", "kind")

    def __init__(self, id: str, template: str, secret: Sequence[int], label: int, repetitions: int, kind: str = "classic") -> None:
        if "{secret}" not in template:
            raise ValueError(f"canary template {template!r} has no {{secret}} slot")
        if repetitions < 1:
            raise ValueError(f"canary repetitions must be >= 1, got {repetitions}")
        digits = tuple(int(d) for d in secret)
        if not digits or any(not 0 <= d <= 9 for d in digits):
            raise ValueError("a canary secret is a non-empty sequence of digits 0-9")
        self.id = str(id)
        self.template = template
        self._secret = digits
        self.label = int(label)
        self.repetitions = int(repetitions)
        self.kind: CanaryKind = canary_kind(kind)
        if self.kind.n_digits is not None and len(digits) != self.kind.n_digits:
            raise ValueError(f"a {self.kind.name} canary secret has {self.kind.n_digits} digits, got {len(digits)}")
        check_reserved(self.kind, self.text)

    @property
    def n_digits(self) -> int:
        return len(self._secret)

    def fill(self, secret: Sequence[int]) -> str:
        """The template filled with ``secret`` (classic: digits separated by spaces; personal data: as one run)."""
        return self.template.format(secret=self.kind.joiner.join(str(int(d)) for d in secret))

    @property
    def text(self) -> str:
        """The canary's training text, secret included (stays in memory; never written to results)."""
        return self.fill(self._secret)

    @property
    def masked_text(self) -> str:
        return self.template.format(secret=self.kind.joiner.join(MASK for _ in self._secret))

    def secret_index(self) -> int:
        """The secret as an integer in [0, 10^digits)."""
        return int("".join(map(str, self._secret)))

    def __repr__(self) -> str:
        return f"Canary(id={self.id!r}, kind={self.kind.name!r}, text={self.masked_text!r}, label={self.label}, repetitions={self.repetitions})"

    def to_dict(self, label_names: Sequence[str] | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "masked_text": self.masked_text, "label": self.label,
                             "repetitions": self.repetitions, "n_digits": self.n_digits, "kind": self.kind.name,
                             "space_size": 10 ** self.n_digits}
        if self.kind.name != "classic":
            d["value_shape"] = self.kind.shape
        if label_names is not None:
            d["label_name"] = str(label_names[self.label])
        return d


class CanarySpec:
    """The planted canaries, their label names and how they were drawn (secrets masked on output)."""

    def __init__(self, canaries: Sequence[Canary], label_names: Sequence[str], seed: int) -> None:
        if not canaries:
            raise ValueError("a canary spec needs at least one canary")
        ids = [c.id for c in canaries]
        if len(set(ids)) != len(ids):
            raise ValueError("canary ids must be unique")
        texts = [c.text for c in canaries]
        if len(set(texts)) != len(texts):
            raise ValueError("canary texts must be unique")
        self.canaries = list(canaries)
        self.label_names = [str(n) for n in label_names]
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.canaries)

    def __iter__(self):
        return iter(self.canaries)

    def __repr__(self) -> str:
        return f"CanarySpec({len(self)} canaries, seed={self.seed})"

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.canaries]

    @property
    def total_rows(self) -> int:
        return sum(c.repetitions for c in self.canaries)

    def as_dataset(self) -> TextDataset:
        """One row per canary (no repetitions), for scoring."""
        return TextDataset(texts=self.texts, labels=[c.label for c in self.canaries], label_names=list(self.label_names),
                           ids=[c.id for c in self.canaries], source="<canaries>")

    def to_dict(self) -> dict[str, Any]:
        return {"n": len(self), "rows_planted": self.total_rows, "seed": self.seed,
                "kinds": list(dict.fromkeys(c.kind.name for c in self.canaries)),
                "canaries": [c.to_dict(self.label_names) for c in self.canaries]}


def plant_canaries(
    train: TextDataset,
    k: int = 6,
    *,
    repetitions: Sequence[int] = (1, 4, 16),
    n_digits: int = 5,
    templates: Sequence[str] = CANARY_TEMPLATES,
    seed: int = 0,
    kinds: Sequence[str] = ("classic",),
) -> tuple[TextDataset, CanarySpec]:
    """Insert ``k`` canaries into ``train``; returns (augmented training set, canary spec).

    Canary ``i`` is of kind ``kinds[i mod len(kinds)]`` (see :data:`CANARY_KINDS`). The ``j``-th
    canary of a kind uses that kind's template ``j`` (classic: ``templates``, cyclically) and
    ``repetitions[j mod len(repetitions)]`` copies, so every kind gets every repetition count.
    Its secret is uniformly random (classic: ``n_digits`` digits; ``email`` and ``phone``: the
    digits their reserved format leaves free) and its label too. The copies are inserted at
    random positions (ids ``canary-<i>-<copy>``); ``train`` is not changed. Everything is drawn
    from ``seed``.
    """
    from .lower_bound import append_rows

    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not repetitions or any(int(r) < 1 for r in repetitions):
        raise ValueError(f"repetitions must be positive counts, got {list(repetitions)}")
    if not 1 <= n_digits <= 12:
        raise ValueError(f"n_digits must be in 1..12, got {n_digits}")
    if not templates:
        raise ValueError("no canary templates")
    if isinstance(kinds, str) or not kinds:
        raise ValueError(f"kinds must be a non-empty sequence of canary kinds ({', '.join(CANARY_KINDS)}), got {kinds!r}")
    kind_specs = [canary_kind(name) for name in kinds]
    rng = np.random.default_rng([seed, 0xCA7A])
    existing = set(train.texts)
    canaries: list[Canary] = []
    used: set[str] = set()
    per_kind: dict[str, int] = {}
    for i in range(k):
        kind = kind_specs[i % len(kind_specs)]
        j = per_kind.get(kind.name, 0)
        per_kind[kind.name] = j + 1
        pool = templates if kind.name == "classic" else kind.templates
        template = pool[j % len(pool)]
        digits = n_digits if kind.n_digits is None else kind.n_digits
        for _ in range(1000):
            secret = rng.integers(0, 10, digits).tolist()
            c = Canary(f"canary-{i}", template, secret, int(rng.integers(0, train.num_labels)), int(repetitions[j % len(repetitions)]),
                       kind=kind.name)
            if c.text not in existing and c.text not in used:
                break
        else:  # pragma: no cover - only with a tiny secret space
            raise ValueError(f"cannot draw {k} distinct canaries with {n_digits} digits")
        used.add(c.text)
        canaries.append(c)
    spec = CanarySpec(canaries, train.label_names, seed)
    rows_t, rows_y, rows_id = [], [], []
    for c in canaries:
        for j in range(c.repetitions):
            rows_t.append(c.text)
            rows_y.append(c.label)
            rows_id.append(f"{c.id}-{j}")
    extra = TextDataset(texts=rows_t, labels=rows_y, label_names=list(train.label_names), ids=rows_id, source="<canaries>")
    combined = append_rows(train, extra, fill="canary")
    # Random positions: a stable shuffle of the new rows into the old ones.
    n = len(train)
    slots = np.sort(rng.choice(n + len(extra), size=len(extra), replace=False))
    order = np.empty(n + len(extra), dtype=int)
    mask = np.zeros(n + len(extra), dtype=bool)
    mask[slots] = True
    order[mask] = np.arange(n, n + len(extra))[rng.permutation(len(extra))]
    order[~mask] = np.arange(n)
    return combined.subset(order.tolist()), spec


# ---------------------------------------------------------------------------------------------
# Exposure
# ---------------------------------------------------------------------------------------------


@dataclass
class Exposure:
    """Estimated exposure of one canary, with how it was estimated."""

    space_size: int
    n_scored: int
    exhaustive: bool
    n_better: float  # sampled candidates scoring above the secret (ties count one half)
    rank: float  # estimated rank of the secret among all candidates (1 = first)
    exposure: float
    ci: tuple[float, float]
    saturated: bool  # no sampled candidate beat the secret: only the lower end is supported
    extrapolated: float | None  # from a normal fit to the candidates' scores

    def to_dict(self) -> dict[str, Any]:
        return {
            "space_size": self.space_size, "n_scored": self.n_scored, "exhaustive": self.exhaustive,
            "n_better": self.n_better, "rank": self.rank, "exposure": self.exposure,
            "ci": [self.ci[0], self.ci[1]], "saturated": self.saturated, "extrapolated": self.extrapolated,
            "max_exposure": math.log2(self.space_size),
        }


def exposure_from_scores(secret_score: float, candidate_scores: Sequence[float], space_size: int, *, exhaustive: bool = False,
                         ci_level: float = 0.95) -> Exposure:
    """Exposure of a secret given the scores of ``candidate_scores`` (other secrets; higher = preferred).

    ``exhaustive``: the candidates are every other secret, so the rank is exact. Otherwise they
    are a uniform sample without replacement and the rank is estimated.
    """
    from scipy.stats import beta, norm

    c = np.asarray(candidate_scores, dtype=np.float64).reshape(-1)
    if c.size == 0:
        raise ValueError("no candidate scores")
    if space_size < c.size + 1:
        raise ValueError(f"space_size {space_size} is smaller than the secret plus {c.size} candidates")
    better = float(np.sum(c > secret_score) + 0.5 * np.sum(c == secret_score))
    others = space_size - 1
    log_space = math.log2(space_size)
    if exhaustive or c.size == others:
        rank = 1.0 + better
        exp = log_space - math.log2(rank)
        return Exposure(space_size, int(c.size), True, better, rank, exp, (exp, exp), False, None)
    s = c.size
    frac = better / s
    rank = 1.0 + others * frac
    a = (1.0 - ci_level) / 2
    k = int(round(better))
    p_lo = 0.0 if k == 0 else float(beta.ppf(a, k, s - k + 1))
    p_hi = 1.0 if k >= s else float(beta.ppf(1 - a, k + 1, s - k))
    exp = log_space - math.log2(rank)
    ci = (log_space - math.log2(1.0 + others * p_hi), log_space - math.log2(1.0 + others * p_lo))
    mu, sd = float(c.mean()), float(c.std(ddof=1)) if s > 1 else 0.0
    extrapolated = None
    if sd > 0:
        tail = float(norm.sf((secret_score - mu) / sd))
        extrapolated = float(min(log_space, max(0.0, -math.log2(max(tail, 2.0 ** -log_space)))))
    return Exposure(space_size, int(s), False, better, rank, exp, ci, k == 0, extrapolated)


@dataclass
class CanaryResult:
    """Exposure and membership scores of one canary (masked)."""

    canary: dict[str, Any]
    log_prob: float  # log p(label | canary text) under the audited model
    exposure: Exposure
    scores: dict[str, float]  # membership score of each attack
    nonmember_percentile: dict[str, float | None]  # share of non-members scoring at least as high, per attack

    def to_dict(self) -> dict[str, Any]:
        return {**self.canary, "log_prob": self.log_prob, "exposure": self.exposure.to_dict(),
                "scores": dict(self.scores), "nonmember_percentile": dict(self.nonmember_percentile)}


def candidate_secrets(canary: Canary, n_candidates: int, rng: np.random.Generator) -> tuple[list[tuple[int, ...]], bool]:
    """Every other secret when there are at most ``n_candidates``, else a uniform sample without replacement."""
    d = canary.n_digits
    space = 10 ** d
    true = canary.secret_index()
    if space - 1 <= n_candidates:
        idx = [i for i in range(space) if i != true]
        exhaustive = True
    else:
        picked: set[int] = set()
        while len(picked) < n_candidates:
            for i in rng.integers(0, space, n_candidates - len(picked)).tolist():
                if i != true:
                    picked.add(int(i))
        idx = sorted(picked)
        exhaustive = False
    return [tuple(int(ch) for ch in str(i).zfill(d)) for i in idx], exhaustive


def canary_log_probs(bundle: Any, spec: CanarySpec, *, n_candidates: int = 1000, seed: int = 0, batch_size: int = 64,
                     max_length: int | None = None, show_progress: bool = False) -> list[tuple[float, np.ndarray, bool]]:
    """For each canary: (log p(label | true text), log p(label | candidate texts), exhaustive?)."""
    from .membership import log_prob_of_labels

    if n_candidates < 1:
        raise ValueError(f"n_candidates must be >= 1, got {n_candidates}")
    rng = np.random.default_rng([seed, 0xE7905])
    texts: list[str] = []
    labels: list[int] = []
    spans = []
    for c in spec:
        cands, exhaustive = candidate_secrets(c, n_candidates, rng)
        start = len(texts)
        texts.append(c.text)
        texts.extend(c.fill(s) for s in cands)
        labels.extend([c.label] * (1 + len(cands)))
        spans.append((start, len(texts), exhaustive))
    lp = log_prob_of_labels(bundle, texts, labels, batch_size=batch_size, max_length=max_length, show_progress=show_progress,
                            desc="canary candidates")
    return [(float(lp[a]), lp[a + 1:b], ex) for a, b, ex in spans]
