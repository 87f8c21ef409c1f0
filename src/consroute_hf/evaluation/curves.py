"""Deferral curves: a router's (cost, quality, latency) points as its knob is swept.

Shapes: M operating points; N queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .operating_point import OperatingPoint, operating_point
from .outcomes import NetworkProfile, TierOutcomes


@dataclass
class DeferralCurve:
    """A router's operating points, sorted by cost (ties: by accuracy).

    Attributes:
        cost_pct: (M,) cost as % of cloud-only cost.
        accuracy: (M,) accuracy in [0, 1].
        latency_pct: (M,) latency as % of cloud-only latency (NaN where unknown).
        points: the M full ``OperatingPoint`` records in the same order, when the curve was built
            from outcomes (empty otherwise).
    """

    cost_pct: np.ndarray
    accuracy: np.ndarray
    latency_pct: np.ndarray | None = None
    points: list[OperatingPoint] = field(default_factory=list)

    def __post_init__(self) -> None:
        cost = np.asarray(self.cost_pct, dtype=np.float64).reshape(-1)
        accuracy = np.asarray(self.accuracy, dtype=np.float64).reshape(-1)
        latency = (
            np.full_like(cost, np.nan) if self.latency_pct is None
            else np.asarray(self.latency_pct, dtype=np.float64).reshape(-1)
        )
        if not len(cost) == len(accuracy) == len(latency):
            raise ValueError(
                f"`cost_pct`, `accuracy` and `latency_pct` must have one entry per point, got lengths "
                f"{len(cost)}, {len(accuracy)}, {len(latency)}."
            )
        if self.points and len(self.points) != len(cost):
            raise ValueError(f"`points` has {len(self.points)} entries for {len(cost)} curve points.")
        if not (np.isfinite(cost).all() and np.isfinite(accuracy).all()):
            raise ValueError("`cost_pct` and `accuracy` must be finite.")
        order = np.lexsort((accuracy, cost))
        self.cost_pct, self.accuracy, self.latency_pct = cost[order], accuracy[order], latency[order]
        self.points = [self.points[i] for i in order] if self.points else []

    def __len__(self) -> int:
        return len(self.cost_pct)

    @classmethod
    def from_points(cls, points: Sequence[OperatingPoint]) -> "DeferralCurve":
        """Build a curve from operating points (any order)."""
        return cls(
            np.array([p.cost_pct_of_cloud for p in points], dtype=np.float64),
            np.array([p.accuracy for p in points], dtype=np.float64),
            np.array([p.latency_pct_of_cloud for p in points], dtype=np.float64),
            list(points),
        )


def deferral_curve(
    outcomes: TierOutcomes,
    assignments: Sequence[np.ndarray],
    network: str | NetworkProfile = "good",
    router_overhead_ms: float | np.ndarray = 0.0,
) -> DeferralCurve:
    """Evaluate one tier assignment per knob setting and sort the points by cost.

    Args:
        outcomes: the split's outcomes (N rows).
        assignments: M arrays of shape (N,), tier indices, e.g. from sweeping a threshold or a target.
        network, router_overhead_ms: as in ``operating_point``.
    """
    if len(assignments) == 0:
        raise ValueError("`assignments` is empty: sweep the router's knob to get at least one assignment.")
    return DeferralCurve.from_points(
        [operating_point(outcomes, a, network=network, router_overhead_ms=router_overhead_ms) for a in assignments]
    )


__all__ = ["DeferralCurve", "deferral_curve"]
