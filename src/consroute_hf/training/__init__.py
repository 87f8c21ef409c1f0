"""Router training with ``transformers.Trainer``: head-only on cached features, or LoRA end to end."""

from .common import TrainingResult, training_arguments
from .head import train_head
from .lora import train_lora
from .metrics import make_compute_metrics, routing_metrics
from .pipeline import (
    RouterTrainingData,
    build_router,
    correctness_matrix,
    prepare_training_data,
    save_router_checkpoints,
    train_router,
)

__all__ = [
    "TrainingResult", "RouterTrainingData", "train_head", "train_lora", "train_router", "prepare_training_data",
    "build_router", "save_router_checkpoints", "correctness_matrix", "routing_metrics", "make_compute_metrics",
    "training_arguments",
]
