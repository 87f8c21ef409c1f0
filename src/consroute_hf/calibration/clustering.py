"""K-means clusters of routing features (scikit-learn), in the standardised feature space.

Shapes: N queries, D feature size, K clusters.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import silhouette_score

from ..modeling_consroute import assign_clusters

logger = logging.getLogger(__name__)

#: Feature dimensions whose standard deviation is at or below this are treated as constant: their
#: std is set to 1 so standardising leaves them at 0 (instead of dividing by ~0).
STD_FLOOR = 1e-6
#: Rows used to score a silhouette (the full score is O(N^2)).
SILHOUETTE_SAMPLE = 2000


@dataclass
class ClusterModel:
    """Fitted clusters.

    Attributes:
        centroids: (K, D) centroids in the standardised space.
        mean: (D,) feature mean. std: (D,) feature std (floored, always > 0).
        k: K.
        selection_scores: k -> inertia (``"elbow"``) or silhouette (``"silhouette"``) for every k
            tried; just ``{K: inertia}`` when K was fixed.
        method: ``"elbow"``, ``"silhouette"`` or ``"fixed"``.
        labels: (N,) cluster of each fitted row (nearest centroid, as at serving time).
    """

    centroids: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    k: int
    selection_scores: dict[int, float] = field(default_factory=dict)
    method: str = "fixed"
    labels: np.ndarray | None = None

    def predict(self, features: np.ndarray) -> np.ndarray:
        """(N, D) raw features -> (N,) nearest-centroid indices (``consroute_hf.assign_clusters``)."""
        return assign_clusters(features, self.centroids, self.mean, self.std)


def fit_clusters(
    features: np.ndarray,
    n_clusters: int | str = "auto",
    k_range: tuple[int, int] | list[int] = (2, 12),
    method: str = "elbow",
    seed: int = 0,
) -> ClusterModel:
    """Standardise features and fit ``KMeans``; with ``n_clusters="auto"`` pick K over ``k_range``.

    Args:
        features: (N, D) raw routing features.
        n_clusters: a fixed K, or ``"auto"``.
        k_range: inclusive (k_min, k_max) tried by ``"auto"``; k_max is capped by the number of
            distinct rows (and N - 1 for silhouettes).
        method: ``"elbow"``: the k farthest below the straight line joining the first and last
            points of the normalised inertia curve (the "knee"; k_min when fewer than 3 k values);
            ``"silhouette"``: the k with the highest silhouette score (on up to 2,000 sampled rows).
        seed: ``random_state`` of KMeans and of the silhouette sample.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"`features` must be a non-empty (N, D) array, got shape {x.shape}.")
    if not np.isfinite(x).all():
        raise ValueError("`features` holds NaN or infinite values; check how they were computed.")
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std = np.where(std > STD_FLOOR, std, 1.0)
    standardised = (x - mean) / std
    distinct = len(np.unique(standardised, axis=0))

    if n_clusters == "auto":
        if method not in ("elbow", "silhouette"):
            raise ValueError(f"`method` must be 'elbow' or 'silhouette', got {method!r}.")
        k_min, k_max = _check_k_range(k_range)
        k_max = min(k_max, distinct - (1 if method == "silhouette" else 0))
        if k_max < k_min:
            raise ValueError(
                f"Only {distinct} distinct feature rows: cannot choose K in [{k_min}, {k_range[1]}]; "
                "lower k_range or calibrate on more queries."
            )
        models = {k: _kmeans(standardised, k, seed) for k in range(k_min, k_max + 1)}
        if method == "elbow":
            scores = {k: float(model.inertia_) for k, model in models.items()}
            k = _elbow(scores)
        else:
            sample = min(len(standardised), SILHOUETTE_SAMPLE)
            scores = {
                k: float(silhouette_score(standardised, model.labels_, sample_size=sample, random_state=seed))
                for k, model in models.items()
            }
            k = max(scores, key=lambda key: (scores[key], -key))
        model = models[k]
        logger.info("Chose K=%d by %s over k in [%d, %d].", k, method, k_min, k_max)
    else:
        if isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer)) or n_clusters < 1:
            raise ValueError(f"`n_clusters` must be 'auto' or a positive int, got {n_clusters!r}.")
        k = int(n_clusters)
        if k > distinct:
            raise ValueError(f"`n_clusters`={k} exceeds the {distinct} distinct feature rows; use a smaller K.")
        model = _kmeans(standardised, k, seed)
        scores, method = {k: float(model.inertia_)}, "fixed"

    centroids = np.asarray(model.cluster_centers_, dtype=np.float64)
    result = ClusterModel(centroids, mean, std, k, scores, method)
    result.labels = result.predict(x)
    return result


def _kmeans(standardised: np.ndarray, k: int, seed: int) -> KMeans:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return KMeans(n_clusters=k, n_init=3, random_state=seed).fit(standardised)


def _elbow(inertia: dict[int, float]) -> int:
    """The knee of a decreasing inertia curve: the k farthest below the first-to-last chord."""
    ks = np.array(sorted(inertia), dtype=np.float64)
    if len(ks) < 3:
        return int(ks[0])
    values = np.array([inertia[int(k)] for k in ks])
    span = values[0] - values[-1]
    if span <= 0:
        return int(ks[0])
    x = (ks - ks[0]) / (ks[-1] - ks[0])
    y = (values - values[-1]) / span  # 1 at k_min, 0 at k_max
    below_chord = (1.0 - x) - y
    return int(ks[int(np.argmax(below_chord))])


def _check_k_range(k_range: tuple[int, int] | list[int]) -> tuple[int, int]:
    if len(k_range) != 2 or int(k_range[0]) < 1 or int(k_range[1]) < int(k_range[0]):
        raise ValueError(f"`k_range` must be (k_min, k_max) with 1 <= k_min <= k_max, got {tuple(k_range)}.")
    return int(k_range[0]), int(k_range[1])


__all__ = ["ClusterModel", "fit_clusters", "STD_FLOOR"]
