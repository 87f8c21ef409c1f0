"""Pieces shared by the head-only and LoRA training paths: datasets, Trainer arguments, callbacks, results."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from transformers import TrainerCallback, TrainingArguments

from ..modeling_consroute import ConsRouterForTierSelection
from ..recipe import TrainingRecipe

logger = logging.getLogger(__name__)


@dataclass
class TrainingResult:
    """What a training run produced.

    Attributes:
        router: the trained router (best validation-loss weights restored).
        metrics: final validation metrics (``eval_loss``, ``eval_mae_<tier>``, ``eval_auroc_<tier>``, ...)
            plus ``train_runtime`` and ``best_epoch``.
        log_history: ``Trainer.state.log_history`` (one dict per logging / evaluation event).
    """

    router: ConsRouterForTierSelection
    metrics: dict[str, float]
    log_history: list[dict[str, Any]] = field(default_factory=list)


class FeatureDataset(torch.utils.data.Dataset):
    """Cached features (N, D) and soft targets (N, T-1) as Trainer examples ``{"features", "labels"}``."""

    def __init__(self, features: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray) -> None:
        self.features = torch.as_tensor(np.asarray(features) if not torch.is_tensor(features) else features).float()
        self.labels = torch.as_tensor(np.asarray(labels) if not torch.is_tensor(labels) else labels).float()

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"features": self.features[index], "labels": self.labels[index]}


class QueryDataset(torch.utils.data.Dataset):
    """Raw queries and soft targets (N, T-1), tokenised by [`RouterCollator`] (end-to-end training)."""

    def __init__(self, queries: Sequence[Any], labels: torch.Tensor | np.ndarray) -> None:
        self.queries = list(queries)
        self.labels = torch.as_tensor(np.asarray(labels)).float()

    def __len__(self) -> int:
        return len(self.queries)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"query": self.queries[index], "labels": self.labels[index]}


class RouterCollator:
    """Batches queries with the router's own ``prepare_inputs`` (the serving-time tokenisation)."""

    def __init__(self, router: ConsRouterForTierSelection, tokenizer: Any) -> None:
        self.router = router
        self.tokenizer = tokenizer

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        inputs = self.router.prepare_inputs([example["query"] for example in examples], self.tokenizer)
        batch = {name: tensor.cpu() for name, tensor in inputs.items()}
        batch["labels"] = torch.stack([example["labels"] for example in examples])
        return batch


class BestWeightsCallback(TrainerCallback):
    """Keeps the trainable weights of the lowest-``eval_loss`` evaluation in memory and restores them
    at the end of training (``load_best_model_at_end`` without writing a checkpoint per epoch: a full
    router checkpoint holds the whole backbone).
    """

    def __init__(self) -> None:
        self.best_loss: float | None = None
        self.best_epoch: float | None = None
        self.best_state: dict[str, torch.Tensor] | None = None

    def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
        loss = (metrics or {}).get("eval_loss")
        if loss is None or model is None:
            return
        if self.best_loss is None or loss < self.best_loss:
            self.best_loss, self.best_epoch = float(loss), state.epoch
            self.best_state = {
                name: param.detach().clone() for name, param in _unwrap(model).named_parameters() if param.requires_grad
            }

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if self.best_state is None or model is None:
            return
        parameters = dict(_unwrap(model).named_parameters())
        with torch.no_grad():
            for name, value in self.best_state.items():
                parameters[name].copy_(value)
        logger.info("Restored the weights of epoch %s (eval_loss %.5f).", self.best_epoch, self.best_loss)


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, "module", model)


def training_arguments(args: TrainingRecipe, output_dir: str | Path, **overrides: Any) -> TrainingArguments:
    """``TrainingArguments`` from a [`TrainingRecipe`]: evaluate every epoch, early stopping on
    ``eval_loss``, no per-epoch checkpoints (see [`BestWeightsCallback`]), CPU when no CUDA."""
    kwargs: dict[str, Any] = dict(
        output_dir=str(output_dir),
        num_train_epochs=args.num_train_epochs,
        learning_rate=args.learning_rate,
        weight_decay=args.weight_decay,
        per_device_train_batch_size=args.per_device_train_batch_size,
        per_device_eval_batch_size=args.per_device_eval_batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        eval_strategy="epoch",
        logging_strategy="epoch",
        save_strategy="no",
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        load_best_model_at_end=False,
        seed=args.seed,
        data_seed=args.seed,
        report_to="none",
        label_names=["labels"],
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
    )
    kwargs.update(overrides)
    return TrainingArguments(**kwargs)


def keep_logits(logits: Any, labels: Any) -> torch.Tensor:
    """``preprocess_logits_for_metrics``: keep the (B, T-1) logits, drop scores and features."""
    return logits[0] if isinstance(logits, tuple) else logits


def check_training_arrays(features_or_queries: Any, labels: Any, n_routable: int, what: str) -> np.ndarray:
    """Validate (N, T-1) soft targets against N inputs; returns the labels as float32 (N, T-1)."""
    labels = np.asarray(labels, dtype=np.float32)
    n = len(features_or_queries)
    if n == 0:
        raise ValueError(f"{what}: no rows; training needs at least one example.")
    if labels.shape != (n, n_routable):
        raise ValueError(f"{what}: labels must have shape (N, T-1) = ({n}, {n_routable}), got {labels.shape}.")
    if not np.isfinite(labels).all() or labels.min() < 0 or labels.max() > 1:
        raise ValueError(f"{what}: labels must be finite soft targets in [0, 1].")
    return labels
