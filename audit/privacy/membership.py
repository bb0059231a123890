"""Membership inference: per-record scores from a model, the attack interface, and the loss attack.

An attack turns (model, texts, labels) into one score per record, higher for records it believes
were in the training set. Every attack has the same small interface (:class:`MembershipAttack`):
``name``, ``title``, ``config()`` and ``score(bundle, texts, labels, target=None)``. Two are
provided: :class:`LossAttack` here (Yeom et al., CSF 2018: a record is a member when the model's
loss on it is low) and the reference-model calibrated attack in :mod:`.reference`.

:func:`membership_inference` runs attacks on a balanced set of members (training records) and
non-members (held-out records of the same distribution) and reports ROC-AUC, balanced accuracy
and TPR at low FPR with bootstrap intervals (:mod:`.stats`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..data import TextDataset
from .stats import DEFAULT_FPRS, AttackMetrics, attack_metrics

# ---------------------------------------------------------------------------------------------
# Per-record statistics of a model
# ---------------------------------------------------------------------------------------------


def predict_logits(bundle: Any, texts: Sequence[str], *, batch_size: int = 64, max_length: int | None = None,
                   show_progress: bool = False, desc: str = "scoring") -> np.ndarray:
    """Logits for every text, in chunks so long runs show progress; shape (n, num_labels)."""
    from .._device import batch_limits
    from .._util import CPU_BATCH_TOKENS, progress

    texts = list(texts)
    chunk = max(batch_limits(bundle, batch_size, CPU_BATCH_TOKENS, max_length=max_length).rows * 8, 256)
    out = np.zeros((len(texts), bundle.num_labels), dtype=np.float64)
    starts = range(0, len(texts), chunk)
    bar = progress(starts, desc=desc, enabled=show_progress and len(texts) > chunk, unit="chunk")
    for s in bar:
        out[s:s + chunk] = bundle.predict_logits(texts[s:s + chunk], batch_size=batch_size, max_length=max_length)
    return out


def _check_labels(labels: Sequence[int], k: int) -> np.ndarray:
    y = np.asarray(labels, dtype=int).reshape(-1)
    if y.size and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"labels must be in 0..{k - 1}")
    return y


def log_prob_from_logits(logits: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """log p(label | text) = -cross-entropy loss, computed stably."""
    from scipy.special import logsumexp

    z = np.asarray(logits, dtype=np.float64)
    y = _check_labels(labels, z.shape[1])
    return z[np.arange(len(y)), y] - logsumexp(z, axis=1)


def margin_from_logits(logits: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """Logit-scaled confidence log(p_y / (1 - p_y)) = z_y - logsumexp of the other logits (stable)."""
    from scipy.special import logsumexp

    z = np.asarray(logits, dtype=np.float64)
    y = _check_labels(labels, z.shape[1])
    others = z.copy()
    others[np.arange(len(y)), y] = -np.inf
    return z[np.arange(len(y)), y] - logsumexp(others, axis=1)


def log_prob_of_labels(bundle: Any, texts: Sequence[str], labels: Sequence[int], *, batch_size: int = 64,
                       max_length: int | None = None, show_progress: bool = False, desc: str = "scoring") -> np.ndarray:
    """log p(label | text) under ``bundle`` for each (text, label)."""
    logits = predict_logits(bundle, texts, batch_size=batch_size, max_length=max_length, show_progress=show_progress, desc=desc)
    return log_prob_from_logits(logits, labels)


@dataclass
class ExampleStats:
    """Per-record statistics of one model: log p(label) (= -loss) and the logit-scaled confidence."""

    log_prob: np.ndarray
    margin: np.ndarray

    @classmethod
    def from_logits(cls, logits: np.ndarray, labels: Sequence[int]) -> "ExampleStats":
        return cls(log_prob=log_prob_from_logits(logits, labels), margin=margin_from_logits(logits, labels))

    def __len__(self) -> int:
        return int(self.log_prob.size)


def example_stats(bundle: Any, texts: Sequence[str], labels: Sequence[int], *, batch_size: int = 64,
                  max_length: int | None = None, show_progress: bool = False, desc: str = "scoring") -> ExampleStats:
    """:class:`ExampleStats` of ``bundle`` on (text, label) pairs."""
    logits = predict_logits(bundle, texts, batch_size=batch_size, max_length=max_length, show_progress=show_progress, desc=desc)
    return ExampleStats.from_logits(logits, labels)


# ---------------------------------------------------------------------------------------------
# Attacks
# ---------------------------------------------------------------------------------------------


class MembershipAttack:
    """Common interface: one score per (text, label), higher meaning "more likely a training record"."""

    name: str = ""
    title: str = ""

    def config(self) -> dict[str, Any]:
        """The attack's settings, stored next to its numbers."""
        return {}

    def score(self, bundle: Any, texts: Sequence[str], labels: Sequence[int], *, target: ExampleStats | None = None) -> np.ndarray:
        raise NotImplementedError


class LossAttack(MembershipAttack):
    """Loss-threshold attack (Yeom et al. 2018): the score is the negative cross-entropy loss.

    It needs nothing but the model. Its weakness: records that are easy for any model look like
    members, hard ones like non-members, whether trained on or not; the reference attack corrects
    for that.
    """

    name = "loss"
    title = "Loss threshold (Yeom et al. 2018)"

    def __init__(self, batch_size: int = 64, max_length: int | None = None) -> None:
        self.batch_size = batch_size
        self.max_length = max_length

    def config(self) -> dict[str, Any]:
        return {"statistic": "negative cross-entropy loss of the true label", "reference_models": 0}

    def score(self, bundle: Any, texts: Sequence[str], labels: Sequence[int], *, target: ExampleStats | None = None) -> np.ndarray:
        if target is None:
            target = example_stats(bundle, texts, labels, batch_size=self.batch_size, max_length=self.max_length)
        if len(target) != len(texts):
            raise ValueError(f"target statistics cover {len(target)} records but {len(texts)} texts were given")
        return np.asarray(target.log_prob, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# The experiment
# ---------------------------------------------------------------------------------------------


@dataclass
class AttackResult:
    """One attack's metrics on the member/non-member experiment, with its configuration."""

    name: str
    title: str
    config: dict[str, Any]
    metrics: AttackMetrics

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "config": self.config, **self.metrics.to_dict()}


@dataclass
class MembershipResult:
    """Membership inference on a balanced member / non-member experiment."""

    n_members: int
    n_nonmembers: int
    member_source: str
    nonmember_source: str
    attacks: dict[str, AttackResult]
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def primary(self) -> str:
        """The attack reported first: the reference attack when it ran, else the loss attack."""
        return "reference" if "reference" in self.attacks else next(iter(self.attacks))

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_members": self.n_members, "n_nonmembers": self.n_nonmembers, "balanced": self.n_members == self.n_nonmembers,
            "member_source": self.member_source, "nonmember_source": self.nonmember_source,
            "primary": self.primary, "attacks": {k: v.to_dict() for k, v in self.attacks.items()},
            "notes": list(self.notes), **self.extra,
        }


def balanced_sample(members: TextDataset, nonmembers: TextDataset, max_per_side: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of equally many members and non-members (at most ``max_per_side`` each), drawn at random."""
    n = min(len(members), len(nonmembers))
    if max_per_side is not None:
        n = min(n, int(max_per_side))
    if n < 2:
        raise ValueError(f"membership inference needs at least 2 members and 2 non-members, got {len(members)} and {len(nonmembers)}")
    rng = np.random.default_rng([seed, 0x3E3B])
    return np.sort(rng.choice(len(members), n, replace=False)), np.sort(rng.choice(len(nonmembers), n, replace=False))


def membership_inference(
    bundle: Any,
    members: TextDataset,
    nonmembers: TextDataset,
    attacks: Sequence[MembershipAttack] | None = None,
    *,
    max_per_side: int | None = 1000,
    fprs: Sequence[float] = DEFAULT_FPRS,
    n_bootstrap: int = 200,
    ci_level: float = 0.95,
    batch_size: int = 64,
    max_length: int | None = None,
    seed: int = 0,
    show_progress: bool = False,
) -> MembershipResult:
    """Run ``attacks`` (default: the loss attack) on a balanced sample of members and non-members.

    ``members`` are records the model was trained on, ``nonmembers`` held-out records of the same
    distribution that it never saw. Both are sampled down to the same size.
    """
    attacks = list(attacks) if attacks else [LossAttack(batch_size=batch_size, max_length=max_length)]
    mi, oi = balanced_sample(members, nonmembers, max_per_side, seed)
    texts = [members.texts[i] for i in mi] + [nonmembers.texts[i] for i in oi]
    labels = [members.labels[i] for i in mi] + [nonmembers.labels[i] for i in oi]
    target = example_stats(bundle, texts, labels, batch_size=batch_size, max_length=max_length, show_progress=show_progress,
                           desc="membership scores")
    results = {}
    for attack in attacks:
        s = attack.score(bundle, texts, labels, target=target)
        metrics = attack_metrics(s[: len(mi)], s[len(mi):], fprs=fprs, n_bootstrap=n_bootstrap, ci_level=ci_level, seed=seed)
        results[attack.name] = AttackResult(attack.name, attack.title, attack.config(), metrics)
    return MembershipResult(n_members=len(mi), n_nonmembers=len(oi), member_source=members.source,
                            nonmember_source=nonmembers.source, attacks=results)
