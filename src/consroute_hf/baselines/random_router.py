"""Random router at matched cost: queries go to tiers at random, in a given mix or at a given cost.

RouteLLM's random baseline (Ong et al., "RouteLLM: Learning to Route LLMs with Preference Data",
arXiv:2406.18665) sends a random share of queries to the strong model; a learned router is worth
using only above that line. Here it is seeded and made exact on the split it routes:

- ``mix``: a tier mix (one share per tier); the counts are the shares times N, rounded by largest
  remainder, and the queries that get each tier are a random permutation.
- ``cost_share``: a target cost as a fraction of cloud-only cost on the routed split (e.g. the
  cost ConsRoute reached). The queries are put in a random order and, walking it, moved from the
  dearer to the cheaper of the two tiers (among ``tiers``, by their total cost on the split) whose
  single-tier costs bracket the target, stopping at the count whose *realised* cost is nearest the
  target: the match is within one query's cost difference, not only in expectation. By default
  ``tiers`` is edge and cloud, the "random edge/cloud mix" of the data README.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import BaselineData, FixedRouter


class RandomRouter(FixedRouter):
    """Seeded random routing at a fixed tier mix or at a target cost share.

    Args:
        cost_share: target cost relative to cloud-only on the routed data (e.g. 0.5).
        mix: (T,) tier shares summing to 1. Give exactly one of ``cost_share`` and ``mix``.
        tiers: tier indices that ``cost_share`` may mix (default: the last two, edge and cloud).
        seed: seed of the random order.
    """

    def __init__(
        self,
        cost_share: float | None = None,
        mix: Sequence[float] | None = None,
        tiers: Sequence[int] | None = None,
        seed: int = 0,
    ) -> None:
        if (cost_share is None) == (mix is None):
            raise ValueError("Give exactly one of `cost_share` (fraction of cloud-only cost) or `mix` (tier shares).")
        if mix is not None:
            shares = np.asarray(mix, dtype=np.float64)
            if shares.ndim != 1 or shares.min() < 0 or abs(shares.sum() - 1.0) > 1e-6:
                raise ValueError(f"`mix` must be non-negative tier shares summing to 1, got {list(mix)}.")
            if tiers is not None:
                raise ValueError("`tiers` applies to `cost_share` only; a `mix` names a share for every tier.")
        if cost_share is not None and not (np.isfinite(cost_share) and cost_share >= 0):
            raise ValueError(f"`cost_share` must be a non-negative number, got {cost_share}.")
        self.cost_share = cost_share
        self.mix = None if mix is None else [float(s) for s in mix]
        self.tiers = None if tiers is None else [int(t) for t in tiers]
        self.seed = seed

    def assign(self, data: BaselineData) -> np.ndarray:
        """(N,) tier indices: the exact mix, or the random two-tier mix whose realised cost is nearest the target."""
        order = np.random.default_rng(self.seed).permutation(len(data))
        if self.mix is not None:
            return self._assign_mix(order, data.n_tiers)
        return self._assign_cost(order, data)

    def _assign_mix(self, order: np.ndarray, n_tiers: int) -> np.ndarray:
        if len(self.mix) != n_tiers:
            raise ValueError(f"`mix` has {len(self.mix)} shares but the data has {n_tiers} tiers.")
        n = len(order)
        exact = np.asarray(self.mix) * n
        counts = np.floor(exact).astype(np.int64)
        remainder_order = np.argsort(-(exact - counts), kind="stable")
        counts[remainder_order[: n - counts.sum()]] += 1
        assignment = np.empty(n, dtype=np.int64)
        assignment[order] = np.repeat(np.arange(n_tiers), counts)
        return assignment

    def _assign_cost(self, order: np.ndarray, data: BaselineData) -> np.ndarray:
        n_tiers = data.n_tiers
        tiers = self.tiers if self.tiers is not None else [n_tiers - 2, n_tiers - 1]
        if len(tiers) < 2 or any(not -n_tiers <= t < n_tiers for t in tiers):
            raise ValueError(f"`tiers` must name at least two of the {n_tiers} tiers, got {tiers}.")
        tiers = sorted({t % n_tiers for t in tiers})
        cloud_total = data.cost[:, -1].sum()
        if cloud_total <= 0:
            raise ValueError("Cloud-only cost is zero on this data, so a cost share is undefined.")
        shares = {t: data.cost[:, t].sum() / cloud_total for t in tiers}
        by_cost = sorted(tiers, key=lambda t: shares[t])
        low, high = shares[by_cost[0]], shares[by_cost[-1]]
        if not low - 1e-12 <= self.cost_share <= high + 1e-12:
            raise ValueError(
                f"Target cost share {self.cost_share:.4f} is outside what tiers {tiers} reach on this data "
                f"({low:.4f} .. {high:.4f}); pick a target in that range or add tiers (e.g. tiers=(0, 1, 2))."
            )
        pair = next(
            (cheap, dear) for cheap, dear in zip(by_cost[:-1], by_cost[1:]) if shares[cheap] <= self.cost_share + 1e-12
            and self.cost_share <= shares[dear] + 1e-12
        )
        cheap, dear = pair
        # Realised cost after moving the first k queries of the random order from `dear` to `cheap`.
        moved = np.concatenate([[0.0], np.cumsum(data.cost[order, cheap] - data.cost[order, dear])])
        realised = (data.cost[:, dear].sum() + moved) / cloud_total
        k = int(np.argmin(np.abs(realised - self.cost_share)))
        assignment = np.full(len(data), dear, dtype=np.int64)
        assignment[order[:k]] = cheap
        return assignment
