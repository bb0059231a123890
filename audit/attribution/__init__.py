"""Attribution methods behind one small interface: ``Method(config).explain(bundle, texts, targets)``."""

from .attention import AttentionMaps, AttentionRollout, attention_maps, rollout
from .base import Attribution, Explainer
from .integrated_gradients import IntegratedGradients, completeness_summary

METHODS = {
    IntegratedGradients.name: IntegratedGradients,
    AttentionRollout.name: AttentionRollout,
}

__all__ = [
    "METHODS",
    "AttentionMaps",
    "AttentionRollout",
    "Attribution",
    "Explainer",
    "IntegratedGradients",
    "attention_maps",
    "completeness_summary",
    "rollout",
]
