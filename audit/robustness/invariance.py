"""Invariance tests (behavioural testing in the CheckList / Giskard style).

Each test applies a label-preserving transformation to every text it applies to (changing the
case, removing punctuation, adding keyboard typos at a fixed rate, contracting or expanding,
swapping person names, gender words or nationalities) and counts a text as *failed* when the
predicted label of any variant differs from the prediction on the original. Each test reports
its fail rate with a 95% Wilson interval, the mean shift in the confidence of the original
prediction, and pass/fail against its own threshold; passed tests are reported as well.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .metrics import rate, wilson_interval
from .perturbations import (add_typos, contract, expand, strip_punctuation, swap_gender, swap_name,
                            swap_nationality, swap_origin, title_case)
from .victim import Victim

Transform = Callable[[str, random.Random], "str | None"]


@dataclass
class InvarianceTest:
    """A named label-preserving transformation with its failure threshold."""

    name: str
    family: str
    description: str
    transform: Transform
    threshold: float = 0.05
    n_variants: int = 1  # > 1 only for randomised transformations

    def variants(self, text: str, seed: int, index: int) -> list[str]:
        out: list[str] = []
        for v in range(self.n_variants):
            t = self.transform(text, random.Random(f"{seed}/{self.name}/{index}/{v}"))
            if t is not None and t != text and t not in out:
                out.append(t)
        return out


@dataclass
class InvarianceResult:
    """The outcome of one invariance test."""

    name: str
    family: str
    description: str
    threshold: float
    n_texts: int
    n_applicable: int
    n_variants: int
    n_failed: int
    fail_rate: float | None
    fail_rate_ci95: list[float | None]
    mean_confidence_shift: float | None
    mean_abs_confidence_shift: float | None
    max_abs_confidence_shift: float | None
    passed: bool | None
    status: str  # "pass", "fail" or "not_applicable"
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _upper(text: str, rng: random.Random) -> str:
    return text.upper()


def _lower(text: str, rng: random.Random) -> str:
    return text.lower()


def _title(text: str, rng: random.Random) -> str:
    return title_case(text)


def _punct(text: str, rng: random.Random) -> str:
    return strip_punctuation(text)


def _contract(text: str, rng: random.Random) -> str:
    return contract(text)


def _expand(text: str, rng: random.Random) -> str:
    return expand(text)


def _typos(rate_: float) -> Transform:
    def f(text: str, rng: random.Random) -> str:
        return add_typos(text, rate_, rng)

    return f


def default_tests(typo_rates: Sequence[float] = (0.02, 0.05), *, n_variants: int = 3, threshold: float = 0.05,
                  typo_threshold: float = 0.10, thresholds: Mapping[str, float] | None = None) -> list[InvarianceTest]:
    """The standard suite. ``thresholds`` overrides the threshold of single tests by name."""
    tests = [
        InvarianceTest("uppercase", "case", "every letter upper case", _upper, threshold),
        InvarianceTest("lowercase", "case", "every letter lower case", _lower, threshold),
        InvarianceTest("titlecase", "case", "every word capitalised", _title, threshold),
        InvarianceTest("no_punctuation", "punctuation", "punctuation removed (apostrophes inside words kept)", _punct, threshold),
        *[InvarianceTest(f"typos_{r * 100:g}pct".replace(".", "_"), "typos",
                         f"keyboard typos in {r:.0%} of the letters (at least one; swap, delete, neighbour key, insert)",
                         _typos(r), typo_threshold, 1) for r in typo_rates],
        InvarianceTest("contract", "contractions", "expanded forms contracted (was not -> wasn't)", _contract, threshold),
        InvarianceTest("expand", "contractions", "contractions expanded (wasn't -> was not)", _expand, threshold),
        InvarianceTest("name_swap", "names", "person names replaced by other names (any gender or origin)", swap_name,
                       threshold, n_variants),
        InvarianceTest("name_origin_swap", "nationality", "person names replaced by names of the same gender from another "
                       "cultural origin", swap_origin, threshold, n_variants),
        InvarianceTest("gender_swap", "gender", "names swapped to the other gender (same origin) and gendered words swapped "
                       "(he/she, husband/wife, ...)", swap_gender, threshold, n_variants),
        InvarianceTest("nationality_swap", "nationality", "nationality adjectives and country names replaced by others",
                       swap_nationality, threshold, n_variants),
    ]
    for t in tests:
        if thresholds and t.name in thresholds:
            t.threshold = float(thresholds[t.name])
    unknown = sorted(set(thresholds or {}) - {t.name for t in tests})
    if unknown:
        raise ValueError(f"invariance thresholds given for unknown tests {unknown}; tests are {[t.name for t in tests]}")
    return tests


class InvarianceSuite:
    """Run a list of invariance tests over texts with one batched model call."""

    def __init__(self, tests: Sequence[InvarianceTest] | None = None, *, seed: int = 0, max_examples: int = 3) -> None:
        self.tests = list(tests) if tests is not None else default_tests()
        names = [t.name for t in self.tests]
        if len(set(names)) != len(names):
            raise ValueError(f"invariance test names must be unique, got {names}")
        self.seed = int(seed)
        self.max_examples = int(max_examples)

    def config(self) -> dict[str, Any]:
        return {
            "tests": [{"name": t.name, "family": t.family, "threshold": t.threshold, "n_variants": t.n_variants}
                      for t in self.tests],
            "failure": "the predicted label of any variant differs from the prediction on the original text",
            "confidence_shift": "probability of the original prediction on the variant minus on the original "
                                "(mean over variants, then over texts)",
            "interval": "95% Wilson score interval", "pass_rule": "fail rate <= threshold", "seed": self.seed,
        }

    def run(self, victim: Victim, texts: Sequence[str], *, ids: Sequence[str] | None = None,
            indices: Sequence[int] | None = None) -> list[InvarianceResult]:
        texts = list(texts)
        ids = list(ids) if ids is not None else [str(i) for i in range(len(texts))]
        indices = list(indices) if indices is not None else list(range(len(texts)))
        variants = {t.name: [t.variants(x, self.seed, indices[n]) for n, x in enumerate(texts)] for t in self.tests}
        everything = texts + [v for per in variants.values() for vs in per for v in vs]
        victim.probs(everything)  # one batched, length-bucketed call; the rest are cache hits
        p0 = victim.probs(texts)
        pred0 = p0.argmax(1)
        out = []
        for test in self.tests:
            failed = 0
            applicable = 0
            shifts: list[float] = []
            examples: list[dict[str, Any]] = []
            for n, vs in enumerate(variants[test.name]):
                if not vs:
                    continue
                applicable += 1
                P = victim.probs(vs)
                pv = P.argmax(1)
                c = int(pred0[n])
                shifts.append(float(np.mean(P[:, c] - p0[n, c])))
                if np.any(pv != c):
                    failed += 1
                    if len(examples) < self.max_examples:
                        k = int(np.argmin(P[:, c]))
                        examples.append({
                            "index": indices[n], "id": ids[n], "text": texts[n], "variant": vs[k],
                            "prediction": c, "variant_prediction": int(pv[k]),
                            "confidence": float(p0[n, c]), "variant_confidence": float(P[k, c]),
                        })
            fr = rate(failed, applicable)
            lo, hi = wilson_interval(failed, applicable)
            passed = None if fr is None else bool(fr <= test.threshold)
            out.append(InvarianceResult(
                name=test.name, family=test.family, description=test.description, threshold=test.threshold,
                n_texts=len(texts), n_applicable=applicable, n_variants=test.n_variants, n_failed=failed,
                fail_rate=fr, fail_rate_ci95=[lo, hi],
                mean_confidence_shift=float(np.mean(shifts)) if shifts else None,
                mean_abs_confidence_shift=float(np.mean(np.abs(shifts))) if shifts else None,
                max_abs_confidence_shift=float(np.max(np.abs(shifts))) if shifts else None,
                passed=passed, status="not_applicable" if passed is None else ("pass" if passed else "fail"),
                examples=examples,
            ))
        return out


__all__ = ["InvarianceTest", "InvarianceResult", "InvarianceSuite", "default_tests"]
