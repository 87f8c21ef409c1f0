"""Everything the main job computes once and every split reuses: dataset, features, embeddings, outcomes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..configuration_consroute import TierSpec
from ..modeling_consroute import ConsRouterForTierSelection
from ..recipe import Recipe

logger = logging.getLogger(__name__)


@dataclass
class RouterOverheads:
    """What each kind of router adds to a query's latency, in ms.

    Attributes:
        prompt_extension_ms: running the consistency prompt on the device after the query's prefill
            (ConsRoute, every query): prompt tokens / the device tier's prefill speed.
        prefill_ms_per_token: the device tier's prefill time per query token: a query ConsRoute
            sends off the device still paid its device prefill, which a device-routed query reuses
            for decoding.
        encoder_ms: one embedding + classifier pass of a separate-encoder router (every query).
    """

    prompt_extension_ms: float
    prefill_ms_per_token: float
    encoder_ms: float

    @classmethod
    def from_profiles(cls, device: TierSpec, prompt_tokens: int, encoder_ms: float) -> "RouterOverheads":
        """ConsRoute's overheads from the device tier's profile; the encoder's as measured."""
        per_token = 1000.0 / device.prefill_tokens_per_s
        return cls(prompt_tokens * per_token, per_token, encoder_ms)

    def consroute(self, assignment: np.ndarray, prompt_tokens: np.ndarray) -> np.ndarray:
        """(N,) ConsRoute overhead for a tier assignment (N,) and query lengths (N,)."""
        return self.prompt_extension_ms + (assignment != 0) * self.prefill_ms_per_token * prompt_tokens


@dataclass
class ExperimentInputs:
    """Inputs shared by every split of the main job (N queries, D device-LM width, E embedding width).

    Attributes:
        dataset: the routing dataset (``datasets.Dataset``).
        queries: (N,) query texts. tasks: (N,) task names.
        outcomes: ``TierOutcomes`` over all N queries.
        features: (N, D) ConsRoute features (templated query + consistency prompt).
        features_no_prompt: (N, D) features of the templated query alone (ablation), or None.
        embeddings: (N, E) MiniLM query embeddings (baselines).
        labels: target kind -> (N, T-1) soft targets (``blend`` / ``consistency`` / ``correctness``).
        prompt_tokens: (N,) device-prefill length of each query.
        overheads: the routers' latency overheads.
        causal_lm, tokenizer: the device LM (its base model is every router's backbone).
    """

    dataset: Any
    queries: list[str]
    tasks: np.ndarray
    outcomes: Any
    features: np.ndarray
    features_no_prompt: np.ndarray | None
    embeddings: np.ndarray
    labels: dict[str, np.ndarray]
    prompt_tokens: np.ndarray
    overheads: RouterOverheads
    causal_lm: Any
    tokenizer: Any


def new_router(recipe: Recipe, causal_lm: Any, consistency_prompt: str | None = None) -> ConsRouterForTierSelection:
    """A fresh (untrained head) router on the shared device LM, configured from the recipe."""
    backbone = recipe.backbone
    prompt = consistency_prompt if consistency_prompt is not None else backbone.consistency_prompt
    overrides: dict[str, Any] = {
        "feature_layer": backbone.feature_layer, "pooling": backbone.pooling,
        "max_query_tokens": backbone.max_query_tokens,
        "head_hidden_size": recipe.training.head_hidden_size, "head_num_layers": recipe.training.head_num_layers,
        "head_dropout": recipe.training.head_dropout, "backbone_name_or_path": backbone.name_or_path,
    }
    if prompt is not None:
        overrides["consistency_prompt"] = prompt
    return ConsRouterForTierSelection.from_backbone(causal_lm, tiers=recipe.tiers, **overrides)


def label_variants(dataset: Any, tier_names: list[str]) -> dict[str, np.ndarray]:
    """Soft-target matrices (N, T-1) for the recipe's targets and the two single-signal ablations."""
    reference = tier_names[-1]
    variants = {"blend": np.asarray(dataset["labels"], dtype=np.float32)}
    correct_ref = np.asarray([bool(x) for x in dataset[f"correct_{reference}"]])
    variants["correctness"] = np.stack(
        [np.asarray([bool(x) for x in dataset[f"correct_{t}"]]) | ~correct_ref for t in tier_names[:-1]], axis=1
    ).astype(np.float32)
    if "consistency" in dataset.column_names and all(row is not None for row in dataset["consistency"]):
        variants["consistency"] = np.asarray(dataset["consistency"], dtype=np.float32)
    return variants
