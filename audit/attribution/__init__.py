"""Attribution methods behind one small interface: ``Method(config).explain(bundle, texts, targets)``.

``METHODS`` maps each method's name to its class; every class can be built as
``METHODS[name](max_length=..., show_progress=...)`` and returns one :class:`Attribution` per text.
Explanation quality (faithfulness, plausibility, agreement, sanity) lives in ``faithfulness``,
``plausibility``, ``agreement``, ``sanity``, and the audit analysis that combines them in ``quality``.
"""

from .attention import AttentionMaps, AttentionRollout, attention_maps, rollout
from .base import Attribution, Explainer
from .gradient_x_input import GradientXInput
from .integrated_gradients import IntegratedGradients, completeness_summary
from .occlusion import Occlusion
from .random_reference import RandomAttribution
from .shap_text import SHAPText

METHODS = {
    IntegratedGradients.name: IntegratedGradients,
    AttentionRollout.name: AttentionRollout,
    SHAPText.name: SHAPText,
    Occlusion.name: Occlusion,
    GradientXInput.name: GradientXInput,
}

__all__ = [
    "METHODS",
    "AttentionMaps",
    "AttentionRollout",
    "Attribution",
    "Explainer",
    "GradientXInput",
    "IntegratedGradients",
    "Occlusion",
    "RandomAttribution",
    "SHAPText",
    "attention_maps",
    "completeness_summary",
    "rollout",
]
