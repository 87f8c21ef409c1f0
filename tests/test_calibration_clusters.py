"""K-means clustering of routing features: K selection, standardisation, agreement with serving."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans

from consroute_hf import assign_clusters
from consroute_hf.calibration import fit_clusters


def blobs(k: int = 4, per: int = 60, dim: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim)) * 10.0
    truth = np.repeat(np.arange(k), per)
    return centres[truth] + rng.normal(size=(k * per, dim)), truth


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


@pytest.mark.parametrize("method", ["elbow", "silhouette"])
def test_auto_k_finds_the_true_number_of_blobs(method):
    features, truth = blobs()
    model = fit_clusters(features, n_clusters="auto", k_range=(2, 8), method=method)
    assert model.k == 4
    assert model.method == method
    assert sorted(model.selection_scores) == list(range(2, 9))
    assert same_partition(model.labels, truth)


def test_labels_agree_with_sklearn_and_serving_assignment():
    features, _ = blobs(k=3, dim=5, seed=1)
    model = fit_clusters(features, n_clusters=3, seed=0)
    standardised = (features - features.mean(0)) / features.std(0)
    reference = KMeans(n_clusters=3, n_init=3, random_state=0).fit(standardised)
    np.testing.assert_allclose(model.centroids, reference.cluster_centers_)
    np.testing.assert_array_equal(model.labels, reference.labels_)
    fresh = features[:7] + 0.1
    np.testing.assert_array_equal(model.predict(fresh), assign_clusters(fresh, model.centroids, model.mean, model.std))
    np.testing.assert_array_equal(model.predict(fresh), reference.predict((fresh - features.mean(0)) / features.std(0)))


def test_constant_dimensions_get_a_unit_std():
    features, truth = blobs(k=2, dim=3)
    features = np.concatenate([features, np.full((len(features), 1), 7.0)], axis=1)
    model = fit_clusters(features, n_clusters=2)
    assert model.std[-1] == 1.0 and model.mean[-1] == 7.0
    assert np.all(model.std > 0) and np.isfinite(model.centroids).all()
    assert same_partition(model.labels, truth)


def test_elbow_picks_k_min_with_two_candidates():
    features, _ = blobs(k=4)
    assert fit_clusters(features, k_range=(3, 4)).k == 3


def test_errors_are_clear():
    features, _ = blobs(k=2, per=3)
    with pytest.raises(ValueError, match="distinct"):
        fit_clusters(features, n_clusters=10)
    with pytest.raises(ValueError, match="distinct"):
        fit_clusters(np.ones((5, 2)), k_range=(2, 4))
    with pytest.raises(ValueError, match="k_range"):
        fit_clusters(features, k_range=(5, 2))
    with pytest.raises(ValueError, match="method"):
        fit_clusters(features, method="gap")
    with pytest.raises(ValueError, match="NaN"):
        fit_clusters(np.full((4, 2), np.nan))
    with pytest.raises(ValueError, match="n_clusters"):
        fit_clusters(features, n_clusters=0)
