"""The Trainer run shared by head-only and LoRA training: early stopping, best weights, routing metrics."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from transformers import EarlyStoppingCallback, Trainer

from ..modeling_consroute import ConsRouterForTierSelection
from ..recipe import TrainingRecipe
from .common import BestWeightsCallback, keep_logits, training_arguments
from .metrics import make_compute_metrics


def fit_router(
    router: ConsRouterForTierSelection,
    args: TrainingRecipe,
    output_dir: str | os.PathLike,
    train_dataset: torch.utils.data.Dataset,
    eval_dataset: torch.utils.data.Dataset,
    eval_correct: np.ndarray | None,
    training_overrides: dict[str, Any],
    **trainer_kwargs: Any,
) -> tuple[Trainer, dict[str, float]]:
    """Train with early stopping on validation loss; the best epoch's trainable weights are restored.

    Returns:
        (the Trainer, final validation metrics plus ``train_runtime`` and ``best_epoch``).
    """
    best = BestWeightsCallback()
    trainer = Trainer(
        model=router,
        args=training_arguments(args, output_dir, **training_overrides),
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        compute_metrics=make_compute_metrics(router.config.tier_names, eval_correct),
        preprocess_logits_for_metrics=keep_logits,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=args.early_stopping_patience), best],
        **trainer_kwargs,
    )
    train_output = trainer.train()
    metrics = trainer.evaluate()
    metrics.update(train_runtime=train_output.metrics.get("train_runtime", float("nan")), best_epoch=best.best_epoch)
    return trainer, metrics
