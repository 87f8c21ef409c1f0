"""Fast path: train only the router's head with ``transformers.Trainer`` on cached features.

No backbone pass per epoch: each step reads (B, D) features from memory.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import torch
from ..modeling_consroute import ConsRouterForTierSelection
from ..recipe import TrainingRecipe
from .common import FeatureDataset, TrainingResult, check_training_arrays
from .fit import fit_router

logger = logging.getLogger(__name__)


def train_head(
    router: ConsRouterForTierSelection,
    train_features: torch.Tensor | np.ndarray,
    train_labels: torch.Tensor | np.ndarray,
    eval_features: torch.Tensor | np.ndarray,
    eval_labels: torch.Tensor | np.ndarray,
    args: TrainingRecipe,
    output_dir: str | os.PathLike,
    eval_correct: np.ndarray | None = None,
    **training_overrides: Any,
) -> TrainingResult:
    """Train ``router.head`` on precomputed features (the backbone stays frozen and unused).

    Loss: BCE-with-logits on the soft targets (the router's own ``forward``). Evaluates every
    epoch, stops after ``args.early_stopping_patience`` epochs without a lower validation loss, and
    ends with the best epoch's head.

    Args:
        router: router to train in place (its head; see ``from_backbone``).
        train_features: (N, D) float features; train_labels: (N, T-1) soft targets in [0, 1].
        eval_features: (M, D); eval_labels: (M, T-1) validation set for early stopping.
        args: learning rate, epochs, batch sizes, seed, patience.
        output_dir: Trainer's working folder (logs; no checkpoints are written there).
        eval_correct: (M, T) per-tier correctness (1/0, NaN unknown) for AUROC and Brier metrics.
        **training_overrides: extra ``TrainingArguments`` fields (e.g. ``max_steps``).

    Returns:
        [`TrainingResult`] with the trained router, final validation metrics and the log history.
    """
    n_routable = router.config.num_tiers - 1
    train_labels = check_training_arrays(train_features, train_labels, n_routable, "train")
    eval_labels = check_training_arrays(eval_features, eval_labels, n_routable, "eval")
    for name, array in (("train_features", train_features), ("eval_features", eval_features)):
        if tuple(np.shape(array))[1:] != (router.config.feature_dim,):
            raise ValueError(f"`{name}` must be (N, D) with D={router.config.feature_dim}, got {tuple(np.shape(array))}.")
    router.freeze_backbone()
    trainer, metrics = fit_router(
        router, args, output_dir, FeatureDataset(train_features, train_labels),
        FeatureDataset(eval_features, eval_labels), eval_correct, training_overrides,
    )
    router.eval()
    return TrainingResult(router=router, metrics=metrics, log_history=list(trainer.state.log_history))
