"""One router operating point: accuracy, cost, latency and tier mix of a tier assignment.

Shapes: N queries, T tiers. "Cloud" is the last (reference) tier; percentages compare the routed
split against sending every query to it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .outcomes import NetworkProfile, TierOutcomes


@dataclass
class OperatingPoint:
    """Where a router lands on a split.

    Attributes:
        accuracy: Share of queries answered correctly, in [0, 1].
        accuracy_pct_of_cloud: ``100 * accuracy / cloud-only accuracy``.
        cost_pct_of_cloud: ``100 * total cost / total cloud-only cost`` (params x output tokens).
        latency_pct_of_cloud: ``100 * mean routed latency (plus router overhead) / mean cloud-only latency``.
        mean_latency_ms: Mean end-to-end latency of the routed queries, router overhead included.
        tier_mix: Tier name -> share of queries sent there (sums to 1).
        network: The network profile the latency was computed under.
        usd: Total USD cost of the routed queries, when every tier has a price.
        usd_pct_of_cloud: ``100 * usd / cloud-only USD``, when prices are set.
        num_queries: N.
    """

    accuracy: float
    accuracy_pct_of_cloud: float
    cost_pct_of_cloud: float
    latency_pct_of_cloud: float
    mean_latency_ms: float
    tier_mix: dict[str, float]
    network: str
    usd: float | None = None
    usd_pct_of_cloud: float | None = None
    num_queries: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def operating_point(
    outcomes: TierOutcomes,
    assignment: np.ndarray,
    network: str | NetworkProfile = "good",
    router_overhead_ms: float | np.ndarray = 0.0,
) -> OperatingPoint:
    """Evaluate a tier assignment.

    Args:
        outcomes: per-query, per-tier outcomes of the split (N rows).
        assignment: (N,) int tier index chosen for each query.
        network: ``"good"``, ``"bad"`` or a ``NetworkProfile``.
        router_overhead_ms: the router's own time per query (scalar or (N,)), added to every routed
            query's latency; the cloud-only reference has no router and pays none.
    """
    assignment = _check_assignment(outcomes, assignment)
    rows = np.arange(outcomes.num_queries)
    cloud = len(outcomes.tiers) - 1
    overhead = np.broadcast_to(np.asarray(router_overhead_ms, dtype=np.float64), assignment.shape)
    if (overhead < 0).any():
        raise ValueError("`router_overhead_ms` must be >= 0.")

    accuracy = float(outcomes.correct[rows, assignment].mean())
    cloud_accuracy = float(outcomes.correct[:, cloud].mean())
    cost = outcomes.cost()
    latency = outcomes.latency_ms(network)
    routed_latency = latency[rows, assignment] + overhead
    usd = usd_pct = None
    if outcomes.has_prices:
        usd_matrix = outcomes.usd_cost()
        usd = float(usd_matrix[rows, assignment].sum())
        usd_pct = _percent(usd, float(usd_matrix[:, cloud].sum()), "cloud-only USD cost")
    counts = np.bincount(assignment, minlength=len(outcomes.tiers))
    return OperatingPoint(
        accuracy=accuracy,
        accuracy_pct_of_cloud=_percent(accuracy, cloud_accuracy, "cloud-only accuracy"),
        cost_pct_of_cloud=_percent(float(cost[rows, assignment].sum()), float(cost[:, cloud].sum()), "cloud-only cost"),
        latency_pct_of_cloud=_percent(float(routed_latency.mean()), float(latency[:, cloud].mean()), "cloud-only latency"),
        mean_latency_ms=float(routed_latency.mean()),
        tier_mix={name: float(count) / len(assignment) for name, count in zip(outcomes.tier_names, counts)},
        network=network if isinstance(network, str) else network.name,
        usd=usd,
        usd_pct_of_cloud=usd_pct,
        num_queries=len(assignment),
    )


def _check_assignment(outcomes: TierOutcomes, assignment: np.ndarray) -> np.ndarray:
    outcomes._check_not_empty()
    assignment = np.asarray(assignment)
    if assignment.shape != (outcomes.num_queries,):
        raise ValueError(f"`assignment` must be (N,) = ({outcomes.num_queries},), got shape {assignment.shape}.")
    if not np.issubdtype(assignment.dtype, np.integer):
        if not np.all(np.mod(assignment, 1) == 0):
            raise ValueError("`assignment` must hold integer tier indices.")
        assignment = assignment.astype(np.int64)
    n_tiers = len(outcomes.tiers)
    if assignment.min() < 0 or assignment.max() >= n_tiers:
        raise ValueError(f"`assignment` holds tier indices outside [0, {n_tiers - 1}].")
    return assignment


def _percent(value: float, reference: float, what: str) -> float:
    if reference <= 0:
        raise ValueError(f"The {what} is {reference}: percentages of it are undefined on this split.")
    return 100.0 * value / reference


__all__ = ["OperatingPoint", "operating_point"]
