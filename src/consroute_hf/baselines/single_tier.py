"""Single-tier routers: every query goes to one tier (device-only, edge-only, cloud-only).

The fixed end points of every cost/quality plot; cloud-only is the reference of the relative
metrics. RouteLLM (Ong et al., "RouteLLM: Learning to Route LLMs with Preference Data",
arXiv:2406.18665) and RouterBench (Hu et al., arXiv:2403.12031) report the same single-model
points; ConsRoute (arXiv:2603.21237) compares against device-, edge- and cloud-only.
"""

from __future__ import annotations

import numpy as np

from .base import BaselineData, FixedRouter


class SingleTier(FixedRouter):
    """Send every query to tier ``index`` (negative indices count from the cloud tier, -1 = cloud)."""

    def __init__(self, index: int) -> None:
        self.index = int(index)

    def assign(self, data: BaselineData) -> np.ndarray:
        """(N,) the same tier index for every row."""
        n_tiers = data.n_tiers
        if not -n_tiers <= self.index < n_tiers:
            raise ValueError(f"Tier index {self.index} is out of range for {n_tiers} tiers.")
        return np.full(len(data), self.index % n_tiers, dtype=np.int64)


class DeviceOnly(SingleTier):
    """Every query stays on the device (tier 0)."""

    def __init__(self) -> None:
        super().__init__(0)


class EdgeOnly(SingleTier):
    """Every query goes to the edge (the tier just below the cloud, index T-2)."""

    def __init__(self) -> None:
        super().__init__(-2)


class CloudOnly(SingleTier):
    """Every query goes to the cloud (the last, reference tier)."""

    def __init__(self) -> None:
        super().__init__(-1)
