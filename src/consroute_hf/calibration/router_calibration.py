"""Calibrate a ConsRoute router: fit clusters, tune thresholds, and write both into its config.

Shapes: N calibration queries, D feature size, T tiers, K clusters.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from ..evaluation.outcomes import TierOutcomes
from .clustering import fit_clusters
from .thresholds import CalibrationResult, tune_thresholds

logger = logging.getLogger(__name__)

#: Calibration settings an update re-uses from the router's previous calibration unless given.
_REUSED_SETTINGS = ("mode", "target", "margin", "minimise", "weights", "allocation", "n_trials", "min_cluster_size", "network")


def calibrate_router(
    router: Any,
    features: np.ndarray | torch.Tensor,
    scores: np.ndarray | None,
    outcomes: TierOutcomes,
    *,
    n_clusters: int | str | None = "auto",
    k_range: tuple[int, int] | list[int] = (2, 12),
    cluster_method: str = "elbow",
    profile: str | None = None,
    **tune_kwargs: Any,
) -> CalibrationResult:
    """Fit k-means clusters on ``features``, tune per-cluster thresholds, write them into ``router.config``.

    Args:
        router: a ``ConsRouterForTierSelection``.
        features: (N, D) routing features of the calibration split.
        scores: (N, T-1) the router's predicted scores on them, or None to compute them.
        outcomes: the split's outcomes (N rows; same tiers as the router).
        n_clusters: K, ``"auto"`` (chosen over ``k_range`` by ``cluster_method``), or None for one
            global threshold vector (no clusters: centroids and cluster thresholds are cleared).
        profile: write into ``config.threshold_profiles[profile]`` instead of the main calibration.
            Profiles share the router's centroids: existing ones are reused; a router without
            centroids gets clusters fitted (and stored) first.
        **tune_kwargs: passed to ``tune_thresholds`` (mode, target, minimise, weights, n_trials,
            seed, min_cluster_size, network, margin (a number or "auto"), cv_folds, allocation,
            show_progress).

    After the call, ``router.route_features(features, profile=profile)`` reproduces
    ``result.assignment``. Refitting the main clusters drops threshold profiles tied to the old
    clusters (with a warning). The config is validated; on a validation error it is left unchanged.
    """
    config = router.config
    x = _as_numpy(features, router)
    _check_tiers(router, outcomes)
    if scores is None:
        scores = router.predict_scores(x)
    seed = int(tune_kwargs.get("seed", 0))
    updates: dict[str, Any] = {}
    reuse = profile is not None and config.cluster_centroids is not None
    clustering: dict[str, Any] = {}
    if reuse:
        clusters, k = router.clusters_of(x), config.num_clusters
        clustering = {"reused": True, "k": k}
    elif n_clusters is None:
        if profile is not None:
            raise ValueError("A threshold profile without clusters is just default thresholds: pass n_clusters.")
        clusters, k = None, None
        updates.update(cluster_centroids=None, feature_mean=None, feature_std=None)
    else:
        model = fit_clusters(x, n_clusters=n_clusters, k_range=tuple(k_range), method=cluster_method, seed=seed)
        clusters, k = model.labels, model.k
        updates.update(
            cluster_centroids=model.centroids.tolist(), feature_mean=model.mean.tolist(), feature_std=model.std.tolist()
        )
        clustering = {
            "method": model.method, "k": model.k, "k_range": [int(v) for v in k_range],
            "selection_scores": {str(key): value for key, value in model.selection_scores.items()},
        }

    result = tune_thresholds(scores, clusters, outcomes, n_clusters=k, **tune_kwargs)
    result.metadata["clustering"] = clustering
    _write(router, result, profile, updates, main_refit=not reuse)
    return result


def update_router_thresholds(
    router: Any,
    features: np.ndarray | torch.Tensor,
    outcomes: TierOutcomes,
    *,
    scores: np.ndarray | None = None,
    profile: str | None = None,
    **tune_kwargs: Any,
) -> CalibrationResult:
    """Re-tune thresholds from logged outcomes, warm-started from the current ones; centroids are kept.

    Settings not given in ``tune_kwargs`` (mode, target, weights, ...) are taken from the router's
    previous calibration metadata. The current thresholds are the first trial of each cluster.

    Args:
        features: (N, D) features of the logged queries. outcomes: their per-tier outcomes.
        scores: (N, T-1) predicted scores, or None to compute them.
        profile: update ``config.threshold_profiles[profile]`` instead of the main calibration.
    """
    config = router.config
    x = _as_numpy(features, router)
    _check_tiers(router, outcomes)
    if scores is None:
        scores = router.predict_scores(x)
    if profile is not None:
        if profile not in config.threshold_profiles:
            raise ValueError(f"Unknown threshold profile {profile!r}; this router has {sorted(config.threshold_profiles)}.")
        current = config.threshold_profiles[profile]
        cluster_thresholds = current["cluster_thresholds"]
        default = current["default_thresholds"] or config.default_thresholds
        previous = current["calibration"]
    else:
        cluster_thresholds, default, previous = config.cluster_thresholds, config.default_thresholds, config.calibration
    for key in _REUSED_SETTINGS:
        if key in previous and key not in tune_kwargs:
            tune_kwargs[key] = previous[key]
    clusters = router.clusters_of(x)
    warm = None
    if clusters is not None and cluster_thresholds is not None:
        warm = np.asarray(cluster_thresholds, dtype=np.float64)
    result = tune_thresholds(
        scores, clusters, outcomes, n_clusters=config.num_clusters if clusters is not None else None,
        warm_start=warm, warm_start_default=np.asarray(default, dtype=np.float64), **tune_kwargs,
    )
    result.metadata["clustering"] = dict(previous.get("clustering", {}), reused=True)
    result.metadata["warm_started"] = True
    _write(router, result, profile, {}, main_refit=False)
    return result


def _write(router: Any, result: CalibrationResult, profile: str | None, updates: dict[str, Any], main_refit: bool) -> None:
    """Apply cluster updates and thresholds to ``router.config``, validate, roll back on error."""
    config = router.config
    cluster_thresholds = None if result.cluster_thresholds is None else result.cluster_thresholds.tolist()
    default = result.default_thresholds.tolist()
    updates = dict(updates)
    profiles = {name: dict(value) for name, value in config.threshold_profiles.items()}
    if profile is None:
        updates.update(cluster_thresholds=cluster_thresholds, default_thresholds=default, calibration=result.metadata)
        if main_refit:
            stale = [name for name, value in profiles.items() if value["cluster_thresholds"] is not None]
            if stale:
                logger.warning("Clusters were refitted: dropping threshold profiles %s tied to the old clusters.", stale)
            profiles = {name: value for name, value in profiles.items() if name not in stale}
    else:
        profiles[profile] = {
            "cluster_thresholds": cluster_thresholds, "default_thresholds": default, "calibration": result.metadata,
        }
    updates["threshold_profiles"] = profiles
    previous = {name: getattr(config, name) for name in updates}
    for name, value in updates.items():
        setattr(config, name, value)
    try:
        config.validate_routing_fields()
    except ValueError:
        for name, value in previous.items():
            setattr(config, name, value)
        raise


def _check_tiers(router: Any, outcomes: TierOutcomes) -> None:
    if outcomes.tier_names != router.config.tier_names:
        raise ValueError(
            f"The outcomes' tiers {outcomes.tier_names} differ from the router's tiers {router.config.tier_names}."
        )


def _as_numpy(features: np.ndarray | torch.Tensor, router: Any) -> np.ndarray:
    """(N, D) features as float32 numpy (what ``route_features`` computes with), shape-checked."""
    array = features.detach().float().cpu().numpy() if torch.is_tensor(features) else np.asarray(features, dtype=np.float32)
    dim = router.config.feature_dim
    if array.ndim != 2 or (dim is not None and array.shape[1] != dim):
        raise ValueError(f"`features` must be (N, D) with D={dim} (the router's feature size), got shape {array.shape}.")
    return array


__all__ = ["calibrate_router", "update_router_thresholds"]
