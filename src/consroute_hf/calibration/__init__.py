"""Calibration of routing thresholds: k-means clusters of routing features and per-cluster
thresholds tuned by optuna TPE (``tune_thresholds``), written into a router's config."""

from .clustering import STD_FLOOR, ClusterModel, fit_clusters
from .router_calibration import calibrate_router, update_router_thresholds
from .sweep import DEFAULT_SWEEP_TARGETS, tune_threshold_sweep
from .thresholds import CalibrationResult, tune_thresholds

__all__ = [
    "ClusterModel", "fit_clusters", "STD_FLOOR", "CalibrationResult", "tune_thresholds",
    "calibrate_router", "update_router_thresholds", "tune_threshold_sweep", "DEFAULT_SWEEP_TARGETS",
]
