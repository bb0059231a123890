"""Fine-tuning: a plain loop (:mod:`.finetune`) and differentially private training."""

from .finetune import TrainingRecord, fine_tune

__all__ = ["TrainingRecord", "fine_tune"]
