"""consroute_hf: ConsRoute device/edge/cloud LLM routers on the Hugging Face stack.

Importing the package registers ``consroute`` with ``AutoConfig`` and ``AutoModel``, and marks the
classes for Hub remote code (saved checkpoints carry ``auto_map`` and the modeling code).
"""

from transformers import AutoConfig, AutoModel

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
from .recipe import Recipe

AutoConfig.register("consroute", ConsRouteConfig, exist_ok=True)
AutoModel.register(ConsRouteConfig, ConsRouterForTierSelection, exist_ok=True)
ConsRouteConfig.register_for_auto_class()
ConsRouterForTierSelection.register_for_auto_class("AutoModel")

__version__ = "0.1.0"

__all__ = [
    "ConsRouteConfig",
    "ConsRouterForTierSelection",
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
