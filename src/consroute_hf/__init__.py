"""consroute_hf: ConsRoute device/edge/cloud LLM routers on the Hugging Face stack.

Importing the package registers ``consroute`` with ``AutoConfig`` and ``AutoModel``, and marks the
classes for Hub remote code (saved checkpoints carry ``auto_map`` and the modeling code). It also
registers ``pipeline("tier-selection")`` (checkpoints carry it as ``custom_pipelines``).
"""

from transformers import AutoConfig, AutoModel
from transformers.pipelines import PIPELINE_REGISTRY

from .configuration_consroute import DEFAULT_CONSISTENCY_PROMPT, ConsRouteConfig, TierSpec, resolve_tiers
from .modeling_consroute import (
    CheckpointError,
    ConsRouterForTierSelection,
    RoutingDecision,
    TierConsistencyHead,
    TierSelectionOutput,
    assign_clusters,
    select_tiers,
)
from .pipeline_consroute import TIER_SELECTION_TASK, TierSelectionPipeline
from .recipe import Recipe

AutoConfig.register("consroute", ConsRouteConfig, exist_ok=True)
AutoModel.register(ConsRouteConfig, ConsRouterForTierSelection, exist_ok=True)
ConsRouteConfig.register_for_auto_class()
ConsRouterForTierSelection.register_for_auto_class("AutoModel")
PIPELINE_REGISTRY.register_pipeline(
    TIER_SELECTION_TASK, pipeline_class=TierSelectionPipeline, pt_model=AutoModel, type="text"
)

__version__ = "0.1.0"

__all__ = [
    "ConsRouteConfig",
    "ConsRouterForTierSelection",
    "TierSelectionPipeline",
    "TierConsistencyHead",
    "TierSelectionOutput",
    "RoutingDecision",
    "CheckpointError",
    "TierSpec",
    "Recipe",
    "resolve_tiers",
    "select_tiers",
    "assign_clusters",
    "DEFAULT_CONSISTENCY_PROMPT",
]
