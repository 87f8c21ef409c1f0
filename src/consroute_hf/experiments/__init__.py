"""The main job (``consroute reproduce``): ConsRoute against every baseline, on real data."""

from .pipeline import ReproduceResult, reproduce
from .runs import RouterRun

__all__ = ["reproduce", "ReproduceResult", "RouterRun"]
