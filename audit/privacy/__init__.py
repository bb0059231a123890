"""Privacy leakage audit: how much a trained classifier gives away about its training records.

Four measurements, each usable alone (plain functions and dataclasses with ``to_dict()``) and
together through :func:`analyse` (the pipeline plug-in, stored as
``models[name]["privacy_audit"]``) or :func:`privacy_section`:

* **Membership inference** (:mod:`.membership`, :mod:`.reference`): can an attacker tell training
  records from held-out records of the same distribution? Loss-threshold attack (Yeom et al.
  2018) and, when a reference population is given, a reference-model calibrated attack (offline
  LiRA). ROC-AUC, balanced accuracy, TPR at 1% and 0.1% FPR with bootstrap intervals, ROC.
* **Canaries** (:mod:`.canaries`): planted sentences with random secrets; exposure (Carlini et
  al. 2019) of each secret and its membership scores. Secrets are always masked in the output.
* **Empirical ε lower bound** (:mod:`.lower_bound`): the one-training-run audit of Steinke,
  Nasr & Jagielski (2023) on audit records included with probability 1/2, reported beside the
  claimed ε and the largest ε the audit could certify at all.
* **DP bound check** (:mod:`.bounds`): the measured TPR at FPR 1e-4 ... 1e-1 against the TPR the
  ledger's whole privacy curve allows (rebuilt with an independent accountant).

The combined audit lives in :mod:`.section` (its summary checks in :mod:`.checks`); personal-data
canary kinds (fake e-mail addresses and phone numbers from reserved ranges) in :mod:`.pii_canaries`.

Training texts are not written to the results unless ``show_training_text`` is set.
"""

from __future__ import annotations

from .bounds import DEFAULT_CHECK_FPRS, DPBoundCheck, Ledger, LedgerError, PrivacyCurve, dp_bound_check, single_pair_tpr_bound
from .canaries import CANARY_TEMPLATES, Canary, CanaryResult, CanarySpec, Exposure, canary_log_probs, exposure_from_scores, plant_canaries
from .lower_bound import (DEFAULT_GUESS_FRACTIONS, AuditRecords, OneRunAudit, append_rows, epsilon_lower_bound, guess_counts,
                          max_certifiable_epsilon, one_run_audit, p_value, split_audit_records)
from .membership import (AttackResult, ExampleStats, LossAttack, MembershipAttack, MembershipResult, balanced_sample, example_stats,
                         membership_inference)
from .checks import checks
from .pii_canaries import CANARY_KINDS, exposure_verdict, is_reserved
from .prepare import PreparedAudit, demo_privacy_pools, prepare_privacy_audit
from .reference import RECIPE_KEYS, ReferenceAttack, clear_reference_cache, reference_recipe
from .section import (DEFAULT_THRESHOLDS, OPTION_DEFAULTS, SECTION_VERSION, PrivacyAuditResult, _target_recipe, analyse, audit_privacy,
                      describe_options, privacy_section)
from .stats import DEFAULT_FPRS, AttackMetrics, as_plain, attack_metrics, auc, best_balanced_accuracy, clopper_pearson_lower, clopper_pearson_upper, roc_curve, tpr_at_fpr

__all__ = [
    "analyse", "checks", "privacy_section", "audit_privacy", "describe_options", "OPTION_DEFAULTS", "DEFAULT_THRESHOLDS", "PrivacyAuditResult",
    "prepare_privacy_audit", "PreparedAudit", "demo_privacy_pools",
    # membership
    "MembershipAttack", "LossAttack", "ReferenceAttack", "membership_inference", "MembershipResult", "AttackResult",
    "ExampleStats", "example_stats", "reference_recipe", "clear_reference_cache", "RECIPE_KEYS",
    # statistics
    "attack_metrics", "AttackMetrics", "auc", "roc_curve", "tpr_at_fpr", "best_balanced_accuracy",
    "clopper_pearson_lower", "clopper_pearson_upper",
    # canaries
    "plant_canaries", "Canary", "CanarySpec", "CanaryResult", "Exposure", "exposure_from_scores", "CANARY_TEMPLATES",
    "CANARY_KINDS", "exposure_verdict", "is_reserved",
    # one-run audit
    "split_audit_records", "AuditRecords", "one_run_audit", "OneRunAudit", "p_value", "epsilon_lower_bound",
    "max_certifiable_epsilon", "guess_counts", "append_rows",
    # DP bound
    "Ledger", "LedgerError", "PrivacyCurve", "dp_bound_check", "DPBoundCheck", "single_pair_tpr_bound",
]
