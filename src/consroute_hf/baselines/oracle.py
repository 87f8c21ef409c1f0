"""Oracle router: each query goes to its cheapest tier that answers it correctly.

The upper bound of RouteLLM's and RouterBench's evaluations (Ong et al., arXiv:2406.18665;
Hu et al., "RouterBench: A Benchmark for Multi-LLM Routing System", arXiv:2403.12031), which
route with hindsight of every model's answer. "Cheapest" is by the query's own cost (activated
parameters x that tier's output tokens; ties go to the lower tier), so a device that rambles can
cost more than the edge on a query.

Queries that no tier gets right go to the cloud (``fallback="cloud"``, the reference answer) or,
as in RouterBench's oracle (best performer, cheapest among equals: all score 0 there), to the
cheapest tier (``fallback="cheapest"``). Accuracy is the same either way; only cost differs.

With ``accuracy_target`` (a fraction of cloud-only accuracy on the routed data, e.g. 0.95) the
oracle is the cheapest hindsight routing that still reaches that accuracy: starting from the
routing above, the queries whose correct tier costs most above their cheapest tier are moved to
the cheapest tier, largest saving first, while the accuracy stays at or above the target. Each move
loses exactly one right answer, so taking the largest savings first is optimal. This is the oracle
point of the data README ("cost of 95% of cloud accuracy, perfect routing").
"""

from __future__ import annotations

import numpy as np

from .base import BaselineData, FixedRouter

FALLBACKS = ("cloud", "cheapest")


class Oracle(FixedRouter):
    """Cheapest correct tier per query (by that query's cost); ``fallback`` where none is correct.

    Args:
        fallback: ``"cloud"`` (the reference tier) or ``"cheapest"`` (that query's cheapest tier).
        accuracy_target: None, or the share of cloud-only accuracy to reach at least cost.
    """

    def __init__(self, fallback: str = "cloud", accuracy_target: float | None = None) -> None:
        if fallback not in FALLBACKS:
            raise ValueError(f"`fallback` must be one of {FALLBACKS}, got {fallback!r}.")
        if accuracy_target is not None and not 0 <= accuracy_target:
            raise ValueError(f"`accuracy_target` must be a non-negative share of cloud accuracy, got {accuracy_target}.")
        self.fallback = fallback
        self.accuracy_target = accuracy_target

    def assign(self, data: BaselineData) -> np.ndarray:
        """(N,) tier indices."""
        cheapest_correct = np.argmin(np.where(data.correct, data.cost, np.inf), axis=1)  # first minimum: lower tier
        if self.fallback == "cloud":
            none_right = np.full(len(data), data.n_tiers - 1)
        else:
            none_right = np.argmin(data.cost, axis=1)
        assignment = np.where(data.correct.any(axis=1), cheapest_correct, none_right).astype(np.int64)
        if self.accuracy_target is None:
            return assignment
        rows = np.arange(len(data))
        needed = int(np.ceil(self.accuracy_target * data.correct[:, -1].sum() - 1e-9))
        right = int(data.correct[rows, assignment].sum())
        if needed > right:
            raise ValueError(
                f"No routing reaches {self.accuracy_target:.3f} of cloud accuracy here: even the oracle gets {right} "
                f"right, {needed} are needed."
            )
        cheapest = np.argmin(data.cost, axis=1)
        saving = np.where(
            data.correct[rows, assignment] & ~data.correct[rows, cheapest],
            data.cost[rows, assignment] - data.cost[rows, cheapest], -np.inf,
        )
        candidates = np.argsort(-saving, kind="stable")[: right - needed]
        moved = candidates[saving[candidates] > 0]
        assignment[moved] = cheapest[moved]
        return assignment
