"""End-to-end path: LoRA adapters on the device LM plus the head, trained with ``transformers.Trainer``.

Every step runs the backbone on the router's own ``prepare_inputs`` tokens (the serving-time
tokenisation), so it is meant for GPUs. The adapter is saved with peft (``<output_dir>/lora-adapter``)
and then merged into the backbone, so the returned router is a plain router whose full checkpoint
holds the adapted weights.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from peft import LoraConfig, get_peft_model
from ..modeling_consroute import ConsRouterForTierSelection, Query
from ..recipe import TrainingRecipe
from .common import QueryDataset, RouterCollator, TrainingResult, check_training_arrays
from .fit import fit_router

logger = logging.getLogger(__name__)

ADAPTER_DIR = "lora-adapter"


def train_lora(
    router: ConsRouterForTierSelection,
    tokenizer: Any,
    train_queries: Sequence[Query],
    train_labels: np.ndarray,
    eval_queries: Sequence[Query],
    eval_labels: np.ndarray,
    args: TrainingRecipe,
    output_dir: str | os.PathLike,
    eval_correct: np.ndarray | None = None,
    **training_overrides: Any,
) -> TrainingResult:
    """Train LoRA adapters (``args.lora_r``, ``lora_alpha``, ``lora_dropout``, ``lora_target_modules``)
    on the backbone together with the head, on raw queries.

    Args:
        router: router to train in place; its backbone gets the adapters (merged at the end).
        tokenizer: the device LM's tokenizer.
        train_queries: N queries; train_labels: (N, T-1) soft targets in [0, 1].
        eval_queries: M queries; eval_labels: (M, T-1), for early stopping on validation loss.
        args: training settings; output_dir: Trainer folder, also receives ``lora-adapter/``.
        eval_correct: (M, T) per-tier correctness for the AUROC / Brier metrics.

    Returns:
        [`TrainingResult`]; ``router.backbone`` holds the merged weights.
    """
    n_routable = router.config.num_tiers - 1
    train_labels = check_training_arrays(train_queries, train_labels, n_routable, "train")
    eval_labels = check_training_arrays(eval_queries, eval_labels, n_routable, "eval")
    lora_config = LoraConfig(
        r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
        target_modules=list(args.lora_target_modules),
    )
    router.freeze_backbone()
    router.backbone = get_peft_model(router.backbone, lora_config)
    trainable = sum(p.numel() for p in router.parameters() if p.requires_grad)
    logger.info("LoRA training: %d trainable parameters (adapters + head).", trainable)
    trainer, metrics = fit_router(
        router, args, output_dir, QueryDataset(train_queries, train_labels), QueryDataset(eval_queries, eval_labels),
        eval_correct, {"remove_unused_columns": False, **training_overrides},
        data_collator=RouterCollator(router, tokenizer),
    )
    if trainer.args.should_save:
        router.backbone.save_pretrained(Path(output_dir) / ADAPTER_DIR)
    router.backbone = router.backbone.merge_and_unload()
    router.freeze_backbone()
    router.eval()
    return TrainingResult(router=router, metrics=metrics, log_history=list(trainer.state.log_history))
