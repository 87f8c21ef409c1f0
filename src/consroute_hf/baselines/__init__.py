"""Peer routers ConsRoute is compared with, on the same splits and metrics.

Fixed routers (``assign(data) -> (N,) tiers``): device-, edge- and cloud-only, the oracle and a
random router at matched cost. Learned routers (``fit(train, seed)`` then
``predict_scores(data) -> (N, T-1)`` "tier t is as good as the cloud" scores, routed with
``consroute_hf.select_tiers`` and one calibrated threshold vector): RouteLLM's BERT classifier,
matrix factorisation and similarity-weighted ranking, RouterBench's kNN and MLP, and Hybrid LLM.

``BASELINES`` maps each name to a factory (call it, with keyword overrides, to get a router).
"""

from __future__ import annotations

from collections.abc import Callable

from .base import BaselineData, FixedRouter, LearnedRouter
from .hybrid_llm import HybridLLMRouter
from .oracle import Oracle
from .random_router import RandomRouter
from .routellm_bert import RouteLLMBertRouter
from .routellm_mf import RouteLLMMatrixFactorization
from .routellm_sw import RouteLLMSimilarityWeighted
from .routerbench import RouterBenchKNN, RouterBenchMLP
from .single_tier import CloudOnly, DeviceOnly, EdgeOnly, SingleTier

#: Name -> factory of every baseline (fixed and learned).
BASELINES: dict[str, Callable[..., FixedRouter | LearnedRouter]] = {
    "device-only": DeviceOnly,
    "edge-only": EdgeOnly,
    "cloud-only": CloudOnly,
    "oracle": Oracle,
    "random": RandomRouter,
    "routellm-bert": RouteLLMBertRouter,
    "routellm-mf": RouteLLMMatrixFactorization,
    "routellm-sw": RouteLLMSimilarityWeighted,
    "routerbench-knn": RouterBenchKNN,
    "routerbench-mlp": RouterBenchMLP,
    "hybrid-llm": HybridLLMRouter,
}
#: Baselines that need ``fit`` and are routed by ``select_tiers`` on their scores.
LEARNED_BASELINES: tuple[str, ...] = (
    "routellm-bert", "routellm-mf", "routellm-sw", "routerbench-knn", "routerbench-mlp", "hybrid-llm",
)
#: Baselines whose ``assign`` gives the tiers directly ("random" needs ``cost_share=`` or ``mix=``).
FIXED_BASELINES: tuple[str, ...] = ("device-only", "edge-only", "cloud-only", "oracle", "random")

__all__ = [
    "BASELINES",
    "LEARNED_BASELINES",
    "FIXED_BASELINES",
    "BaselineData",
    "FixedRouter",
    "LearnedRouter",
    "SingleTier",
    "DeviceOnly",
    "EdgeOnly",
    "CloudOnly",
    "Oracle",
    "RandomRouter",
    "RouteLLMBertRouter",
    "RouteLLMMatrixFactorization",
    "RouteLLMSimilarityWeighted",
    "RouterBenchKNN",
    "RouterBenchMLP",
    "HybridLLMRouter",
]
