"""``train_router(recipe)``: routing dataset -> split -> device LM -> router -> features -> Trainer -> checkpoints."""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from accelerate import PartialState
from transformers import set_seed

from ..device_lm import load_device_lm, loadable_path
from ..features import extract_features
from ..modeling_consroute import ConsRouterForTierSelection
from ..recipe import Recipe
from ..splits import SplitIndices, random_split
from .common import TrainingResult
from .head import train_head
from .lora import train_lora

logger = logging.getLogger(__name__)

FULL_CHECKPOINT_DIR = "router"
HEAD_CHECKPOINT_DIR = "router-head"


@dataclass
class RouterTrainingData:
    """Everything a training run reads, aligned with the routing dataset's rows.

    Attributes:
        dataset: the routing dataset (N rows).
        split: train / calibration / test row indices (``recipe.split``).
        fit, validation: (N_fit,), (N_val,) row indices: the train split cut for early stopping.
        router: a fresh router on the device LM (head initialised with ``recipe.training.seed``).
        tokenizer: the device LM's tokenizer.
        features: (N, D) float32 routing features of every row.
        labels: (N, T-1) float32 soft targets.
        correct: (N, T) float64 tier correctness (1/0, NaN unknown).
        extraction_seconds: wall time of feature extraction (or cache load).
    """

    dataset: datasets.Dataset
    split: SplitIndices
    fit: np.ndarray
    validation: np.ndarray
    router: ConsRouterForTierSelection
    tokenizer: Any
    features: torch.Tensor
    labels: np.ndarray
    correct: np.ndarray
    extraction_seconds: float


def correctness_matrix(dataset: datasets.Dataset, tier_names: list[str]) -> np.ndarray:
    """(N, T) float64: ``correct_<tier>`` columns as 1/0, NaN where unknown (None or column absent)."""
    columns = []
    for name in tier_names:
        column = f"correct_{name}"
        values = list(dataset[column]) if column in dataset.column_names else [None] * len(dataset)
        columns.append([np.nan if value is None else float(value) for value in values])
    return np.asarray(columns, dtype=np.float64).T.reshape(len(dataset), len(tier_names))


def validation_cut(train: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split train rows into (fit, validation) with a seeded permutation; validation gets ``fraction``."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"`training.validation_fraction` must be in (0, 1), got {fraction}.")
    order = np.random.default_rng(seed).permutation(np.asarray(train))
    n_val = max(1, int(round(fraction * len(order))))
    if n_val >= len(order):
        raise ValueError(f"The train split has {len(order)} rows: too few to hold out a validation set.")
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def build_router(recipe: Recipe, device_lm: torch.nn.Module, tokenizer: Any) -> ConsRouterForTierSelection:
    """A router on ``device_lm`` with the recipe's tiers, feature settings and head sizes (seeded head)."""
    backbone, training = recipe.backbone, recipe.training
    overrides: dict[str, Any] = dict(
        feature_layer=backbone.feature_layer, pooling=backbone.pooling, max_query_tokens=backbone.max_query_tokens,
        head_hidden_size=training.head_hidden_size, head_num_layers=training.head_num_layers,
        head_dropout=training.head_dropout, backbone_name_or_path=loadable_path(backbone.name_or_path, backbone.gguf_file),
    )
    if backbone.consistency_prompt is not None:
        overrides["consistency_prompt"] = backbone.consistency_prompt
    set_seed(training.seed)
    router = ConsRouterForTierSelection.from_backbone(device_lm, tiers=recipe.tiers, **overrides)
    router.tokenizer = tokenizer
    return router.eval()


def prepare_training_data(recipe: Recipe, dataset: datasets.Dataset | None = None, show_progress: bool = True) -> RouterTrainingData:
    """Load (or take) the routing dataset, split it, load the device LM, build the router and
    extract (or load cached) features for every row."""
    state = PartialState()
    if dataset is None:
        from ..data import build_routing_dataset

        with state.main_process_first():  # the main process builds the cached dataset, the others load it
            dataset = build_routing_dataset(recipe)
    missing = {"query", "labels"} - set(dataset.column_names)
    if missing:
        raise ValueError(f"The routing dataset lacks column(s) {sorted(missing)}; see the data contract in README.")
    split = random_split(len(dataset), recipe.split.seed, recipe.split.fractions)
    fit, validation = validation_cut(split.train, recipe.training.validation_fraction, recipe.split.seed)
    backbone = recipe.backbone
    with state.main_process_first():  # a GGUF model is converted once, by the main process
        # under accelerate/torchrun, "auto" means this process's own device
        device = state.device if backbone.device == "auto" and state.num_processes > 1 else backbone.device
        device_lm, tokenizer = load_device_lm(backbone.name_or_path, backbone.dtype, device, backbone.gguf_file)
    router = build_router(recipe, device_lm, tokenizer)
    start = time.perf_counter()
    features = extract_features(
        router, list(dataset["query"]), tokenizer, batch_size=backbone.batch_size,
        cache_dir=recipe.cache_path / "features", dataset_fingerprint=dataset._fingerprint, show_progress=show_progress,
    )
    elapsed = time.perf_counter() - start
    labels = np.asarray(list(dataset["labels"]), dtype=np.float32)
    return RouterTrainingData(
        dataset, split, fit, validation, router, tokenizer, features, labels,
        correctness_matrix(dataset, recipe.tier_names), elapsed,
    )


def train_router(recipe: Recipe, dataset: datasets.Dataset | None = None, **training_overrides: Any) -> TrainingResult:
    """Train a ConsRoute router as the recipe says and save it under ``recipe.run_dir``.

    Writes ``router/`` (full checkpoint), ``router-head/`` (head-only checkpoint naming its
    backbone) and ``training_metrics.json``. ``recipe.training.mode`` is ``"head"`` (cached
    features, fast) or ``"lora"`` (end to end).

    Args:
        dataset: a routing dataset to use instead of ``build_routing_dataset(recipe)``.
        **training_overrides: extra ``TrainingArguments`` fields.
    """
    data = prepare_training_data(recipe, dataset)
    mode = recipe.training.mode
    trainer_dir = recipe.run_dir / "trainer"
    fit, val = data.fit, data.validation
    start = time.perf_counter()
    if mode == "head":
        result = train_head(
            data.router, data.features[fit], data.labels[fit], data.features[val], data.labels[val],
            recipe.training, trainer_dir, eval_correct=data.correct[val], **training_overrides,
        )
    elif mode == "lora":
        queries = list(data.dataset["query"])
        result = train_lora(
            data.router, data.tokenizer, [queries[i] for i in fit], data.labels[fit], [queries[i] for i in val],
            data.labels[val], recipe.training, trainer_dir, eval_correct=data.correct[val], **training_overrides,
        )
    else:
        raise ValueError(f"`training.mode` must be 'head' or 'lora', got {mode!r}.")
    training_seconds = time.perf_counter() - start
    if PartialState().is_main_process:
        save_router_checkpoints(result.router, recipe.run_dir)
        summary = {
            "mode": mode, "split": data.split.name, "n_fit": len(fit), "n_validation": len(val),
            "feature_seconds": data.extraction_seconds, "training_seconds": training_seconds,
            "metrics": result.metrics,
        }
        write_json_atomic(recipe.run_dir / "training_metrics.json", summary)
    PartialState().wait_for_everyone()
    return result


def save_router_checkpoints(router: ConsRouterForTierSelection, run_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Save ``run_dir/router`` (full) and ``run_dir/router-head`` (head only); returns both paths."""
    run_dir = Path(run_dir)
    full, head = run_dir / FULL_CHECKPOINT_DIR, run_dir / HEAD_CHECKPOINT_DIR
    router.save_pretrained(full)
    router.save_pretrained(head, head_only=True)
    logger.info("Saved the router to %s (full) and %s (head only).", full, head)
    return full, head


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    temporary.write_text(json.dumps(payload, indent=2, default=float))
    os.replace(temporary, path)
