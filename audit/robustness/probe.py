"""The robustness probe: four families of tests, each reported on its own.

* ``invariance`` — behavioural invariance tests (case, punctuation, typos, contractions, name /
  gender / nationality swaps);
* ``char`` — the character-level attack under edit budgets k (default 1, 2, 4);
* ``word`` — the word-level attack (lexicon + embedding neighbours, meaning constraint);
* ``radius1`` — the exhaustive radius-1 certificate on short inputs.

``RobustnessProbe(ProbeConfig(...)).run(bundle, dataset)`` returns a
:class:`RobustnessReport` whose ``to_dict()`` is the ``robustness`` section of results.json.
Every number is stored next to the protocol that produced it (sample sizes, budgets,
thresholds, constraint settings, seed).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping, Sequence

import numpy as np

FAMILIES = ("invariance", "char", "word", "radius1")


@dataclass
class ProbeConfig:
    """Every setting of the probe. Defaults keep the demo (≈100 evaluation texts per attack on
    two CPU cores) to a few minutes; raise ``n_attack``/``n_radius`` for tighter intervals."""

    families: tuple[str, ...] = FAMILIES
    # how many evaluation texts each family uses (a seeded random sample, the same for char and word)
    n_invariance: int = 200
    n_attack: int = 100
    n_radius: int = 25
    radius_max_words: int = 16
    # character attack
    char_budgets: tuple[int, ...] = (1, 2, 4)
    char_candidates_per_word: int = 8
    char_keep_ends: bool = False
    char_min_word_length: int = 3
    # word attack
    word_sources: tuple[str, ...] = ("lexicon", "embedding")
    lexicon_k: int = 12
    embedding_k: int = 8
    embedding_min_cosine: float = 0.4
    mlm_path: str | None = None
    mlm_k: int = 8
    encoder: str | None = "default"  # "default" (the bundled sentence encoder), a directory, or None (no constraint)
    min_similarity: float = 0.85
    max_words_fraction: float = 0.2
    exclude_flags: tuple[str, ...] = ("antonym", "polarity_flip", "negation")
    query_budget: int = 500
    # invariance
    typo_rates: tuple[float, ...] = (0.02, 0.05)
    invariance_variants: int = 3
    invariance_threshold: float = 0.05
    typo_threshold: float = 0.10
    invariance_thresholds: dict[str, float] = field(default_factory=dict)
    # summary checks
    max_attack_success: float = 0.5
    min_certified: float = 0.5
    # execution
    batch_size: int = 128
    parallel: int = 32
    max_length: int = 128
    examples: int = 8
    seed: int = 0
    show_progress: bool = False

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None, **overrides: Any) -> "ProbeConfig":
        """Build from a plain options dict (e.g. from a TOML file); unknown keys are an error."""
        options = dict(options or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"unknown robustness option(s) {unknown}; known options: {sorted(known)}")
        for key in ("families", "char_budgets", "word_sources", "exclude_flags", "typo_rates"):
            if key in options and options[key] is not None and not isinstance(options[key], (str, bytes)):
                options[key] = tuple(options[key])
            elif key in options and isinstance(options[key], str):
                options[key] = (options[key],)
        cfg = cls(**{**options, **overrides})
        cfg.validate()
        return cfg

    def validate(self) -> None:
        bad = [f for f in self.families if f not in FAMILIES]
        if bad:
            raise ValueError(f"unknown robustness famil{'y' if len(bad) == 1 else 'ies'} {bad}; choose from {list(FAMILIES)}")
        for name in ("n_invariance", "n_attack", "n_radius", "radius_max_words", "char_candidates_per_word",
                     "lexicon_k", "embedding_k", "mlm_k", "query_budget", "invariance_variants", "batch_size",
                     "parallel", "max_length", "char_min_word_length"):
            v = getattr(self, name)
            lowest = 0 if name.startswith("n_") else 1
            if not isinstance(v, int) or isinstance(v, bool) or v < lowest:
                kind = "non-negative" if lowest == 0 else "positive"
                raise ValueError(f"robustness option {name!r} must be a {kind} integer, got {v!r}")
        if not self.char_budgets or any(not isinstance(k, int) or k < 1 for k in self.char_budgets):
            raise ValueError(f"robustness option 'char_budgets' must be positive integers, got {self.char_budgets!r}")
        for name in ("min_similarity", "max_words_fraction", "invariance_threshold", "typo_threshold",
                     "max_attack_success", "min_certified", "embedding_min_cosine"):
            v = getattr(self, name)
            lo = -1.0 if name == "embedding_min_cosine" else 0.0
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not lo <= float(v) <= 1.0:
                raise ValueError(f"robustness option {name!r} must be a number in [{lo:g}, 1], got {v!r}")
        if not 0 < self.max_words_fraction <= 1:
            raise ValueError(f"robustness option 'max_words_fraction' must be in (0, 1], got {self.max_words_fraction}")
        if any(not 0 < r < 1 for r in self.typo_rates):
            raise ValueError(f"robustness option 'typo_rates' must be fractions in (0, 1), got {self.typo_rates!r}")
        from .candidates import SOURCES
        from .lexicon import FLAGS

        if any(s not in SOURCES for s in self.word_sources):
            raise ValueError(f"robustness option 'word_sources' must be among {list(SOURCES)}, got {self.word_sources!r}")
        if any(f not in FLAGS for f in self.exclude_flags):
            raise ValueError(f"robustness option 'exclude_flags' must be among {list(FLAGS)}, got {self.exclude_flags!r}")
        if "mlm" in self.word_sources and not self.mlm_path:
            raise ValueError("word source 'mlm' needs option 'mlm_path' (a local masked-language-model directory)")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        d.pop("show_progress")
        return d


@dataclass
class RobustnessReport:
    """Everything the probe found, family by family (``None`` for families not run)."""

    protocol: dict[str, Any]
    invariance: dict[str, Any] | None = None
    char_attack: dict[str, Any] | None = None
    word_attack: dict[str, Any] | None = None
    radius1: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    records: dict[str, Any] = field(default_factory=dict, repr=False)  # full per-example records (not serialised)

    def to_dict(self) -> dict[str, Any]:
        from ..results import _clean

        d = {"protocol": self.protocol, "timings": self.timings, "cpu_seconds": self.cpu_seconds}
        for key in ("invariance", "char_attack", "word_attack", "radius1"):
            value = getattr(self, key)
            if value is not None:
                d[key] = value
        return _clean(d)


def _sample(n_total: int, k: int, seed: int) -> list[int]:
    perm = np.random.default_rng(seed).permutation(n_total)
    return sorted(int(i) for i in perm[: min(k, n_total)])


def _pick_examples(records: Sequence[Any], n: int) -> list[dict[str, Any]]:
    """Up to ``n`` verified successes: valid ones first, then flagged ones, in sample order."""
    success = [r for r in records if r.status == "success"]
    chosen = [r for r in success if not r.flags][:n]
    chosen += [r for r in success if r.flags][: n - len(chosen)]
    keep = ("index", "id", "text", "label", "original_prediction", "original_probabilities", "adversarial_text",
            "adversarial_prediction", "adversarial_probabilities", "edits", "queries", "words_changed",
            "words_changed_fraction", "chars_changed", "chars_changed_fraction", "similarity", "flags", "verified", "budget")
    return [{k: v for k, v in r.to_dict().items() if k in keep} for r in sorted(chosen, key=lambda r: r.index)]


class RobustnessProbe:
    """Run the configured robustness families on a bundle and an evaluation dataset."""

    def __init__(self, config: ProbeConfig | None = None) -> None:
        self.config = config or ProbeConfig()
        self.config.validate()

    def run(self, bundle: Any, dataset: Any) -> RobustnessReport:
        from .._util import set_seed
        from .lexicon import Lexicon
        from .victim import Victim

        cfg = self.config
        if len(dataset) == 0:
            raise ValueError("the evaluation dataset is empty; the robustness probe needs texts")
        if dataset.num_labels != bundle.num_labels:
            raise ValueError(f"label-count mismatch: the model has {bundle.num_labels} labels, the data {dataset.num_labels}")
        set_seed(cfg.seed)
        victim = Victim(bundle, batch_size=cfg.batch_size, max_length=cfg.max_length)
        lexicon = Lexicon.load()
        texts, labels, ids = list(dataset.texts), list(dataset.labels), list(dataset.ids)
        protocol: dict[str, Any] = {
            "config": cfg.to_dict(), "n_eval": len(texts), "device": str(bundle.device), "seed": cfg.seed,
            "families": list(cfg.families), "lexicon": lexicon.info(),
            "selection": "a seeded random sample of the evaluation texts per family (numpy default_rng(seed).permutation); "
                         "the character and word attacks use the same texts",
            "query": "one new text scored by the model for one example; the original text is the first query",
            "max_length": cfg.max_length,
        }
        report = RobustnessReport(protocol=protocol)
        t_start = time.perf_counter()
        c_start = time.process_time()
        c0 = c_start
        encoder = None
        candidates = None

        def get_encoder():
            nonlocal encoder
            if encoder is None and cfg.encoder is not None:
                from .constraints import SentenceEncoder

                encoder = SentenceEncoder(None if cfg.encoder == "default" else cfg.encoder, device=bundle.device,
                                          batch_size=cfg.batch_size)
            return encoder

        def get_candidates():
            nonlocal candidates
            if candidates is None:
                from .candidates import CandidateGenerator, MaskedLMCandidates

                mlm = MaskedLMCandidates(cfg.mlm_path, k=cfg.mlm_k, device=bundle.device) if cfg.mlm_path else None
                sources = tuple(dict.fromkeys(cfg.word_sources + (("mlm",) if mlm else ())))
                candidates = CandidateGenerator(bundle, lexicon, sources=sources, lexicon_k=cfg.lexicon_k,
                                                embedding_k=cfg.embedding_k, embedding_min_cosine=cfg.embedding_min_cosine,
                                                mlm=mlm, exclude_flags=cfg.exclude_flags)
            return candidates

        if "invariance" in cfg.families:
            t0 = time.perf_counter()
            from .invariance import InvarianceSuite, default_tests

            idx = _sample(len(texts), cfg.n_invariance, cfg.seed)
            suite = InvarianceSuite(default_tests(cfg.typo_rates, n_variants=cfg.invariance_variants,
                                                  threshold=cfg.invariance_threshold, typo_threshold=cfg.typo_threshold,
                                                  thresholds=cfg.invariance_thresholds), seed=cfg.seed)
            results = suite.run(victim, [texts[i] for i in idx], ids=[ids[i] for i in idx], indices=idx)
            applicable = [r for r in results if r.passed is not None]
            report.invariance = {
                "protocol": suite.config() | {"n_texts": len(idx)},
                "n_texts": len(idx), "n_tests": len(results), "n_passed": sum(1 for r in applicable if r.passed),
                "n_failed": sum(1 for r in applicable if not r.passed),
                "n_not_applicable": len(results) - len(applicable),
                "tests": [r.to_dict() for r in results],
            }
            report.timings["invariance"] = time.perf_counter() - t0
            report.cpu_seconds["invariance"], c0 = time.process_time() - c0, time.process_time()

        attack_idx = _sample(len(texts), cfg.n_attack, cfg.seed + 1)
        a_texts = [texts[i] for i in attack_idx]
        a_labels = [labels[i] for i in attack_idx]
        a_ids = [ids[i] for i in attack_idx]

        if "char" in cfg.families:
            t0 = time.perf_counter()
            from .metrics import attack_metrics
            from .search import CharAttack

            attack = CharAttack(cfg.char_budgets, candidates_per_word=cfg.char_candidates_per_word,
                                keep_ends=cfg.char_keep_ends, min_word_length=cfg.char_min_word_length,
                                query_budget=cfg.query_budget, seed=cfg.seed, parallel=cfg.parallel, lexicon=lexicon,
                                show_progress=cfg.show_progress)
            by_k = attack.run(victim, a_texts, a_labels, ids=a_ids, indices=attack_idx, encoder=get_encoder())
            seconds = time.perf_counter() - t0
            k_max = max(by_k)
            report.char_attack = {
                "protocol": attack.config() | {"n": len(attack_idx)},
                "budgets": [{"k": k, **attack_metrics(recs, n_total=len(texts), max_queries=cfg.query_budget)}
                            for k, recs in sorted(by_k.items())],
                "examples": _pick_examples(by_k[k_max], cfg.examples),
                "seconds": seconds, "seconds_per_example": seconds / max(1, len(attack_idx)),
            }
            report.records["char"] = by_k
            report.timings["char_attack"] = seconds
            report.cpu_seconds["char_attack"], c0 = time.process_time() - c0, time.process_time()

        if "word" in cfg.families:
            t0 = time.perf_counter()
            from .metrics import attack_metrics
            from .search import WordAttack

            enc = get_encoder()
            attack_w = WordAttack(get_candidates(), min_similarity=cfg.min_similarity,
                                  max_words_fraction=cfg.max_words_fraction, query_budget=cfg.query_budget,
                                  parallel=cfg.parallel, show_progress=cfg.show_progress)
            recs = attack_w.run(victim, a_texts, a_labels, ids=a_ids, indices=attack_idx, encoder=enc)
            seconds = time.perf_counter() - t0
            report.word_attack = {
                "protocol": attack_w.config(enc) | {"n": len(attack_idx),
                                                    "n_candidates_excluded": get_candidates().n_excluded},
                **attack_metrics(recs, n_total=len(texts), max_queries=cfg.query_budget),
                "examples": _pick_examples(recs, cfg.examples),
                "seconds": seconds, "seconds_per_example": seconds / max(1, len(attack_idx)),
            }
            report.records["word"] = recs
            report.timings["word_attack"] = seconds
            report.cpu_seconds["word_attack"], c0 = time.process_time() - c0, time.process_time()

        if "radius1" in cfg.families:
            t0 = time.perf_counter()
            from .perturbations import WordView
            from .radius import Radius1Check, radius_summary

            order = np.random.default_rng(cfg.seed + 2).permutation(len(texts))
            short = [int(i) for i in order if len(WordView(texts[i])) <= cfg.radius_max_words][: cfg.n_radius]
            short.sort()
            check = Radius1Check(max_words=cfg.radius_max_words, keep_ends=cfg.char_keep_ends,
                                 min_char_word_length=cfg.char_min_word_length, parallel=max(1, cfg.parallel // 2),
                                 show_progress=cfg.show_progress)
            rrecs = check.run(victim, [texts[i] for i in short], [labels[i] for i in short], ids=[ids[i] for i in short],
                              indices=short, candidates=get_candidates())
            summary = radius_summary(rrecs, check.neighbourhoods)
            n_eligible = sum(1 for t in texts if len(WordView(t)) <= cfg.radius_max_words)
            report.radius1 = {
                "protocol": check.config(get_candidates()) | {"n": len(short), "n_eligible": n_eligible},
                "summary": summary,
                "certified_fraction": summary["all"]["certified_fraction_of_correct"],
                "examples": [r.to_dict() for r in rrecs if r.counterexample is not None][: cfg.examples],
            }
            report.records["radius1"] = rrecs
            report.timings["radius1"] = time.perf_counter() - t0
            report.cpu_seconds["radius1"], c0 = time.process_time() - c0, time.process_time()

        report.timings["total"] = time.perf_counter() - t_start
        report.cpu_seconds["total"] = time.process_time() - c_start
        protocol["model_texts_scored"] = victim.n_model_texts
        if encoder is not None:
            protocol["encoder"] = encoder.info()
            protocol["encoder_texts"] = encoder.n_encoded
        return report


__all__ = ["ProbeConfig", "RobustnessProbe", "RobustnessReport", "FAMILIES"]
