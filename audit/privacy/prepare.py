"""Everything that must happen *before* training for a full privacy audit, in one call.

Canaries and one-run audit records only mean something if they are planted before the model is
trained, and every audited model (a plain one and a private one) must be trained on the same
augmented set. :func:`prepare_privacy_audit` plants both and returns that set with the options
the audit needs afterwards; :func:`demo_privacy_pools` generates the extra records the demo uses
for audit records and reference models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from ..data import TextDataset
from .canaries import CanarySpec, plant_canaries
from .lower_bound import AuditRecords, split_audit_records


@dataclass
class PreparedAudit:
    """The training set to use and what was planted in it."""

    train: TextDataset  # the original training set + included audit records + canary copies
    canaries: CanarySpec | None
    audit_records: AuditRecords | None
    reference_population: TextDataset | None
    settings: dict[str, Any] = field(default_factory=dict)

    def options(self, **extra: Any) -> dict[str, Any]:
        """Analysis options for :func:`audit.privacy.analyse` (``extra`` adds or overrides keys)."""
        out: dict[str, Any] = {}
        if self.canaries is not None:
            out["canaries"] = self.canaries
        if self.audit_records is not None:
            out["audit_records"] = self.audit_records
        if self.reference_population is not None:
            out["reference_population"] = self.reference_population
        out.update(extra)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A description without texts or secrets."""
        return {
            "train": {"source": self.train.source, "sha256": self.train.sha256, "n_rows": len(self.train)},
            "canaries": self.canaries.to_dict() if self.canaries is not None else None,
            "audit_records": self.audit_records.to_dict() if self.audit_records is not None else None,
            "reference_population": None if self.reference_population is None else {
                "source": self.reference_population.source, "sha256": self.reference_population.sha256,
                "n_rows": len(self.reference_population)},
            "settings": dict(self.settings),
        }


def prepare_privacy_audit(
    train: TextDataset,
    *,
    audit_pool: TextDataset | None = None,
    reference_population: TextDataset | None = None,
    n_canaries: int = 6,
    canary_repetitions: Sequence[int] = (1, 4, 16),
    n_digits: int = 5,
    canary_kinds: Sequence[str] = ("classic",),
    flip_audit_labels: bool = False,
    seed: int = 0,
) -> PreparedAudit:
    """Plant audit records (each included with probability 1/2) and canaries into ``train``.

    ``audit_pool`` (records never otherwise used) becomes the one-run audit records; ``None``
    skips them. ``n_canaries = 0`` skips canaries; ``canary_kinds`` chooses their kinds in turn
(``"classic"`` digit codes, ``"email"`` and ``"phone"`` personal-data canaries; see
:func:`audit.privacy.plant_canaries`). Train every audited model on ``.train`` and pass
    ``.options(...)`` (plus the ledger of a private model) to the audit.
    """
    if audit_pool is not None:
        clash = set(audit_pool.texts) & set(train.texts)
        if clash:
            raise ValueError(f"{len(clash)} audit-pool records also occur in the training set; audit records must be fresh")
    records = split_audit_records(audit_pool, seed=seed, flip_labels=flip_audit_labels) if audit_pool is not None else None
    out = records.training_set(train) if records is not None else train
    spec = None
    if n_canaries:
        out, spec = plant_canaries(out, k=n_canaries, repetitions=canary_repetitions, n_digits=n_digits, seed=seed,
                                    kinds=canary_kinds)
    return PreparedAudit(train=out, canaries=spec, audit_records=records, reference_population=reference_population,
                         settings={"seed": seed, "n_canaries": n_canaries, "canary_repetitions": list(canary_repetitions),
                                   "n_digits": n_digits, "canary_kinds": list(canary_kinds), "flip_audit_labels": flip_audit_labels})


def demo_privacy_pools(train: TextDataset, eval_data: TextDataset, *, n_audit: int = 256, n_reference: int = 400,
                       seed: int = 0) -> tuple[TextDataset, TextDataset]:
    """Extra generated demo reviews for audit records and reference models, disjoint from ``train`` and ``eval_data``.

    Drawn with another seed than the demo data, any text already in either split removed, and given
    their own ids (``privacy-audit-*``, ``privacy-ref-*``) so they can be appended to the training set.
    """
    from ..demo import make_demo_dataset

    if n_audit < 2 or n_reference < 4:
        raise ValueError(f"need n_audit >= 2 and n_reference >= 4, got {n_audit} and {n_reference}")
    taken = set(train.texts) | set(eval_data.texts)
    extra = make_demo_dataset(int((n_audit + n_reference) * 1.2) + 20, seed=seed + 7919)
    fresh = [i for i, t in enumerate(extra.texts) if t not in taken]
    if len(fresh) < n_audit + n_reference:  # pragma: no cover - the generator has a huge text space
        raise ValueError("could not generate enough fresh demo records")
    audit = extra.subset(fresh[:n_audit])
    ref = extra.subset(fresh[n_audit:n_audit + n_reference])
    audit.ids = [f"privacy-audit-{i:05d}" for i in range(len(audit))]
    ref.ids = [f"privacy-ref-{i:05d}" for i in range(len(ref))]
    audit.source, ref.source = "generated demo reviews (audit records)", "generated demo reviews (reference population)"
    return audit, ref
