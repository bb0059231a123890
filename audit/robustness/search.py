"""Greedy adversarial search: the character-level and the word-level attack.

Both attacks share one shape (captum/TextAttack style: construct with the settings, call
``run(victim, texts, labels)``):

1. rank the words of every text by gradient saliency (one backward pass per batch, not one
   query per word);
2. walk the words in that order; for each, score *all* its candidate replacements in one
   batched forward pass and keep the best one if it lowers the probability of the true label;
3. stop when the prediction flips, or the edit budget or the per-example query budget is spent.

Many examples are searched in lockstep: each search is a coroutine that yields the texts it
needs scored, and :func:`run_searches` scores the requests of all live searches in one
length-bucketed model call (and one sentence-encoder call), with a cache of scored texts. A
query is one new text scored for one example (the original text counts as the first query);
texts an example has already seen are never counted twice.

Every adversarial example is re-verified at the end: the stored adversarial text is scored again
from scratch and the stored prediction and probabilities are the ones of that fresh run; an
example whose flip does not reproduce is marked ``unverified`` and not counted as a success.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any, Generator, Sequence

import numpy as np

from .._util import progress
from .candidates import Candidate, CandidateGenerator, attackable
from .lexicon import Lexicon
from .perturbations import WordView, levenshtein, sample_char_edits
from .victim import Victim, word_saliency

Request = tuple  # ("probs", texts) or ("similarity", reference, texts)
Search = Generator[Request, Any, Any]


@dataclass
class Edit:
    """One changed word: its index and character span in the original text, and the new word."""

    word_index: int
    start: int
    end: int
    original: str
    replacement: str
    kind: str  # char attack: swap / delete / substitute / insert; word attack: "word"
    sources: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AttackRecord:
    """The outcome of attacking one example."""

    index: int
    id: str
    text: str
    label: int
    original_prediction: int
    original_probabilities: list[float]
    status: str  # "skipped" (already wrong), "success", "failed", "unverified"
    queries: int
    n_words: int
    adversarial_text: str | None = None
    adversarial_prediction: int | None = None
    adversarial_probabilities: list[float] | None = None
    edits: list[Edit] = field(default_factory=list)
    queries_at_success: int | None = None
    words_changed: int = 0
    words_changed_fraction: float | None = None
    chars_changed: int | None = None
    chars_changed_fraction: float | None = None
    similarity: float | None = None
    flags: list[str] = field(default_factory=list)
    verified: bool | None = None
    budget: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["edits"] = [e.to_dict() for e in self.edits]
        return d


def run_searches(searches: Sequence[Search], victim: Victim, encoder: Any = None, *, parallel: int = 32,
                 cache: bool = True, desc: str = "", show_progress: bool = False) -> list[Any]:
    """Drive search coroutines in lockstep, batching their requests; returns their results in order."""
    n = len(searches)
    results: list[Any] = [None] * n
    live: dict[int, Search] = {}
    pending: dict[int, Request] = {}
    bar = progress(total=n, desc=desc, enabled=show_progress, unit="text")

    def advance(i: int, value: Any) -> None:
        try:
            pending[i] = live[i].send(value)
        except StopIteration as stop:
            results[i] = stop.value
            del live[i]
            pending.pop(i, None)
            bar.update(1)

    nxt = 0
    try:
        while nxt < n or live:
            while nxt < n and len(live) < parallel:
                live[nxt] = searches[nxt]
                advance(nxt, None)
                nxt += 1
            if not pending:
                continue
            answers: dict[int, Any] = {}
            prob_reqs = [(i, r) for i, r in pending.items() if r[0] == "probs"]
            if prob_reqs:
                flat = [t for _, r in prob_reqs for t in r[1]]
                p = victim.probs(flat, cache=cache)
                pos = 0
                for i, r in prob_reqs:
                    answers[i] = p[pos : pos + len(r[1])]
                    pos += len(r[1])
            sim_reqs = [(i, r) for i, r in pending.items() if r[0] == "similarity"]
            if sim_reqs:
                if encoder is None:
                    raise RuntimeError("a search asked for sentence similarities but no sentence encoder is configured")
                encoder.encode([t for _, r in sim_reqs for t in (r[1], *r[2])])
                for i, r in sim_reqs:
                    answers[i] = encoder.similarity(r[1], r[2])
            for i in list(pending):
                if pending[i][0] not in ("probs", "similarity"):
                    raise RuntimeError(f"unknown search request {pending[i][0]!r}")
                advance(i, answers[i])
    finally:
        bar.close()
    return results


def _choose(P: np.ndarray, label: int, current: float, valid: np.ndarray) -> int | None:
    """The candidate to accept, or None when none lowers the true-label probability.

    Preference: a valid candidate that flips the label, then the valid candidate that lowers the
    true-label probability most, then a flagged (possibly meaning-changing) flip, then a flagged
    improvement. So the search reaches a valid adversarial example whenever its path allows, and
    a flagged one is kept (and reported as such) only when no valid step helps.
    """
    flipped = P.argmax(1) != label
    improves = P[:, label] < current
    for mask in (flipped & valid, improves & valid, flipped, improves):
        if mask.any():
            idx = np.flatnonzero(mask)
            return int(idx[np.argmin(P[idx, label])])
    return None


def _order(saliency: np.ndarray, allowed: Sequence[int]) -> list[int]:
    return sorted((j for j in allowed if j < len(saliency) and np.isfinite(saliency[j])), key=lambda j: (-saliency[j], j))


@dataclass
class _Run:
    """A search's outcome before verification: the states after each accepted edit."""

    skipped: bool
    p0: np.ndarray
    steps: list[dict[str, Any]]  # {"text", "probs", "queries", "edit", "similarity"}
    queries: int


class CharAttack:
    """Character-level attack (DeepWordBug / Pruthi threat model): keyboard typos — swap two
    adjacent letters, delete one, substitute a QWERTY neighbour, insert a neighbour or a copy of
    an adjacent letter — at most one per word, under an edit budget ``k`` (one run at the
    largest budget gives the result at every smaller one exactly, since greedy search only
    stops earlier)."""

    family = "char"

    def __init__(self, budgets: Sequence[int] = (1, 2, 4), *, candidates_per_word: int = 8, keep_ends: bool = False,
                 min_word_length: int = 3, query_budget: int = 500, seed: int = 0, parallel: int = 32,
                 lexicon: Lexicon | None = None, show_progress: bool = False) -> None:
        budgets = sorted({int(k) for k in budgets})
        if not budgets or budgets[0] < 1:
            raise ValueError(f"character edit budgets must be positive integers, got {budgets}")
        if candidates_per_word < 1 or query_budget < 2:
            raise ValueError("candidates_per_word must be >= 1 and query_budget >= 2")
        self.budgets = budgets
        self.candidates_per_word = int(candidates_per_word)
        self.keep_ends = bool(keep_ends)
        self.min_word_length = int(min_word_length)
        self.query_budget = int(query_budget)
        self.seed = int(seed)
        self.parallel = int(parallel)
        self.lexicon = lexicon or Lexicon.load()
        self.show_progress = show_progress

    def config(self) -> dict[str, Any]:
        return {
            "threat_model": "keyboard typos: adjacent swap, deletion, QWERTY-neighbour substitution, neighbour/copy insertion",
            "edit_budgets": list(self.budgets), "one_edit_per_word": True,
            "candidates_per_word": self.candidates_per_word, "keep_first_last_letter": self.keep_ends,
            "min_word_length": self.min_word_length, "skipped_words": "stopwords and negators",
            "query_budget": self.query_budget, "ranking": "gradient saliency (one backward pass per example)",
            "search": "greedy over words; per word the best candidate, valid (unflagged) ones first; stop at the first flip",
            "seed": self.seed,
        }

    def _search(self, i: int, text: str, label: int, saliency: np.ndarray) -> Search:
        rng = random.Random(f"{self.seed}/char/{i}")
        seen = {text}
        queries = 1
        p0 = (yield ("probs", [text]))[0]
        if int(p0.argmax()) != label:
            return _Run(True, p0, [], queries)
        view = WordView(text)
        original = WordView(text)
        allowed = [j for j in range(len(view)) if attackable(view.word(j), self.min_word_length)]
        cur = p0
        steps: list[dict[str, Any]] = []
        k_max = self.budgets[-1]
        for j in _order(saliency, allowed):
            if len(steps) >= k_max or queries >= self.query_budget:
                break
            word = view.word(j)
            texts, edits = [], []
            for e in sample_char_edits(word, self.candidates_per_word, rng, self.keep_ends):
                t = view.replaced(j, e.apply(word))
                if t not in seen:
                    seen.add(t)
                    texts.append(t)
                    edits.append(e)
            room = self.query_budget - queries
            texts, edits = texts[:room], edits[:room]
            if not texts:
                continue
            P = yield ("probs", texts)
            queries += len(texts)
            flags = [self.lexicon.flags(word, e.apply(word)) for e in edits]
            b = _choose(P, label, cur[label], np.array([not f for f in flags], dtype=bool))
            if b is not None:
                new = edits[b].apply(word)
                view.replace(j, new)
                cur = P[b]
                a, z = original.span(j)
                edit = Edit(j, a, z, word, new, edits[b].kind, ["char"], flags[b])
                steps.append({"text": view.text, "probs": cur, "queries": queries, "edit": edit})
                if int(cur.argmax()) != label:
                    break
        return _Run(False, p0, steps, queries)

    def run(self, victim: Victim, texts: Sequence[str], labels: Sequence[int], *, ids: Sequence[str] | None = None,
            indices: Sequence[int] | None = None, encoder: Any = None, saliency_batch: int = 32) -> dict[int, list[AttackRecord]]:
        """Attack every text; returns ``{k: [record per text]}`` for each edit budget ``k``."""
        texts, labels = list(texts), [int(y) for y in labels]
        ids = list(ids) if ids is not None else [str(i) for i in range(len(texts))]
        indices = list(indices) if indices is not None else list(range(len(texts)))
        sal = word_saliency(victim.bundle, texts, labels, max_length=victim.max_length, batch_size=saliency_batch)
        runs = run_searches([self._search(indices[n], t, y, s) for n, (t, y, s) in enumerate(zip(texts, labels, sal))],
                            victim, parallel=self.parallel, desc="character attack", show_progress=self.show_progress)
        out: dict[int, list[AttackRecord]] = {}
        for k in self.budgets:
            out[k] = [_record(run, k, idx, id_, t, y) for run, idx, id_, t, y in zip(runs, indices, ids, texts, labels)]
        _verify([r for recs in out.values() for r in recs], victim)
        if encoder is not None:
            _similarities([r for recs in out.values() for r in recs], encoder)
        return out


def _record(run: _Run, k: int, index: int, id_: str, text: str, label: int) -> AttackRecord:
    """The record of a char-attack run as if its edit budget had been ``k``."""
    n_words = len(WordView(text))
    rec = AttackRecord(index=index, id=id_, text=text, label=label, original_prediction=int(run.p0.argmax()),
                       original_probabilities=[float(x) for x in run.p0], status="skipped", queries=run.queries,
                       n_words=n_words, budget=k)
    if run.skipped:
        return rec
    steps = run.steps[:k]
    flipped = bool(steps) and int(steps[-1]["probs"].argmax()) != label
    # With budget k the search stops right after its k-th accepted edit (or at the flip);
    # a run with fewer accepted edits went on to its end, exactly as it would have with budget k.
    rec.queries = steps[-1]["queries"] if (flipped or len(steps) == k) else run.queries
    _fill(rec, steps, flipped)
    return rec


def _fill(rec: AttackRecord, steps: list[dict[str, Any]], flipped: bool) -> None:
    """Status and, for a success, the adversarial example (the state after the last edit)."""
    rec.status = "success" if flipped else "failed"
    if not flipped:
        return
    last = steps[-1]
    rec.edits = [s["edit"] for s in steps]
    rec.adversarial_text = last["text"]
    rec.adversarial_probabilities = [float(x) for x in last["probs"]]
    rec.adversarial_prediction = int(np.argmax(last["probs"]))
    rec.words_changed = len(rec.edits)
    rec.words_changed_fraction = rec.words_changed / rec.n_words if rec.n_words else None
    rec.chars_changed = levenshtein(rec.text, rec.adversarial_text)
    rec.chars_changed_fraction = rec.chars_changed / len(rec.text) if rec.text else None
    rec.similarity = last.get("similarity")
    rec.flags = sorted({f for e in rec.edits for f in e.flags})
    rec.queries_at_success = last["queries"]


def _verify(records: Sequence[AttackRecord], victim: Victim) -> None:
    """Re-score every adversarial text from scratch and keep only flips that reproduce."""
    todo = [r for r in records if r.status == "success"]
    uniq = list(dict.fromkeys(r.adversarial_text for r in todo))
    fresh = dict(zip(uniq, victim.verify(uniq))) if uniq else {}
    for r in todo:
        p = fresh[r.adversarial_text]
        r.adversarial_probabilities = [float(x) for x in p]
        r.adversarial_prediction = int(np.argmax(p))
        r.verified = r.adversarial_prediction != r.label
        if not r.verified:
            r.status = "unverified"
            r.queries_at_success = None


def _similarities(records: Sequence[AttackRecord], encoder: Any) -> None:
    todo = [r for r in records if r.adversarial_text is not None and r.similarity is None]
    for r in todo:
        r.similarity = float(encoder.similarity(r.text, [r.adversarial_text])[0])


class WordAttack:
    """Word-level attack: greedy substitution of salient words by candidates from the lexicon,
    the victim's embedding neighbours and optionally a masked LM, under a sentence-similarity
    constraint (an encoder that is not the model under test), a maximum share of changed words
    and a per-example query budget."""

    family = "word"

    def __init__(self, candidates: CandidateGenerator, *, min_similarity: float = 0.85, max_words_fraction: float = 0.2,
                 query_budget: int = 500, parallel: int = 32, show_progress: bool = False) -> None:
        if not 0 < max_words_fraction <= 1:
            raise ValueError(f"max_words_fraction must be in (0, 1], got {max_words_fraction}")
        if query_budget < 2:
            raise ValueError("query_budget must be >= 2")
        self.candidates = candidates
        self.min_similarity = float(min_similarity)
        self.max_words_fraction = float(max_words_fraction)
        self.query_budget = int(query_budget)
        self.parallel = int(parallel)
        self.show_progress = show_progress

    def config(self, encoder: Any = None) -> dict[str, Any]:
        return {
            "candidates": self.candidates.info(),
            "sentence_encoder": encoder.info() if encoder is not None else None,
            "min_similarity": self.min_similarity if encoder is not None else None,
            "similarity_reference": "the original text",
            "max_words_fraction": self.max_words_fraction, "min_words_changed_allowed": 1,
            "query_budget": self.query_budget, "ranking": "gradient saliency (one backward pass per example)",
            "search": "greedy over words; per word the best candidate, valid (unflagged) ones first; stop at the first flip",
        }

    def max_words(self, n_words: int) -> int:
        return max(1, int(np.floor(self.max_words_fraction * n_words + 1e-9)))

    def _search(self, text: str, label: int, saliency: np.ndarray, cands: dict[int, list[Candidate]], use_sim: bool) -> Search:
        seen = {text}
        queries = 1
        p0 = (yield ("probs", [text]))[0]
        if int(p0.argmax()) != label:
            return _Run(True, p0, [], queries)
        view = WordView(text)
        original = WordView(text)
        limit = self.max_words(len(view))
        cur = p0
        steps: list[dict[str, Any]] = []
        for j in _order(saliency, [j for j, c in cands.items() if c]):
            if len(steps) >= limit or queries >= self.query_budget:
                break
            texts, chosen = [], []
            for c in cands[j]:
                t = view.replaced(j, c.word)
                if t not in seen:
                    seen.add(t)
                    texts.append(t)
                    chosen.append(c)
            sims = np.full(len(texts), np.nan)
            if use_sim and texts:
                sims = yield ("similarity", text, texts)
                keep = [n for n, s in enumerate(sims) if s >= self.min_similarity]
                texts, chosen, sims = [texts[n] for n in keep], [chosen[n] for n in keep], sims[keep]
            room = self.query_budget - queries
            texts, chosen, sims = texts[:room], chosen[:room], sims[:room]
            if not texts:
                continue
            P = yield ("probs", texts)
            queries += len(texts)
            b = _choose(P, label, cur[label], np.array([not c.flags for c in chosen], dtype=bool))
            if b is not None:
                view.replace(j, chosen[b].word)
                cur = P[b]
                a, z = original.span(j)
                edit = Edit(j, a, z, original.word(j), chosen[b].word, "word", list(chosen[b].sources), list(chosen[b].flags))
                steps.append({"text": view.text, "probs": cur, "queries": queries, "edit": edit,
                              "similarity": float(sims[b]) if np.isfinite(sims[b]) else None})
                if int(cur.argmax()) != label:
                    break
        return _Run(False, p0, steps, queries)

    def run(self, victim: Victim, texts: Sequence[str], labels: Sequence[int], *, ids: Sequence[str] | None = None,
            indices: Sequence[int] | None = None, encoder: Any = None, saliency_batch: int = 32) -> list[AttackRecord]:
        """Attack every text; returns one record per text."""
        texts, labels = list(texts), [int(y) for y in labels]
        ids = list(ids) if ids is not None else [str(i) for i in range(len(texts))]
        indices = list(indices) if indices is not None else list(range(len(texts)))
        sal = word_saliency(victim.bundle, texts, labels, max_length=victim.max_length, batch_size=saliency_batch)
        positions = [[j for j, w in enumerate(WordView(t).words()) if attackable(w, self.candidates.min_word_length)]
                     for t in texts]
        cands = self.candidates.for_texts(texts, positions)
        searches = [self._search(t, y, s, c, encoder is not None) for t, y, s, c in zip(texts, labels, sal, cands)]
        runs = run_searches(searches, victim, encoder, parallel=self.parallel, desc="word attack",
                            show_progress=self.show_progress)
        records = []
        for run, idx, id_, t, y in zip(runs, indices, ids, texts, labels):
            rec = AttackRecord(index=idx, id=id_, text=t, label=y, original_prediction=int(run.p0.argmax()),
                               original_probabilities=[float(x) for x in run.p0], status="skipped", queries=run.queries,
                               n_words=len(WordView(t)))
            if not run.skipped:
                flipped = bool(run.steps) and int(run.steps[-1]["probs"].argmax()) != y
                _fill(rec, run.steps, flipped)
            records.append(rec)
        _verify(records, victim)
        if encoder is not None:
            _similarities(records, encoder)
        return records


__all__ = ["CharAttack", "WordAttack", "AttackRecord", "Edit", "run_searches"]
