"""Calibrating a (tiny) router: config written and validated, decisions reproduced, save/load round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from consroute_hf import ConsRouterForTierSelection
from consroute_hf.calibration import calibrate_router, update_router_thresholds
from consroute_hf.evaluation import TierOutcomes

FAST = {"n_trials": 30, "show_progress": False, "min_cluster_size": 10}


def split(router, n: int = 150, seed: int = 0) -> tuple[np.ndarray, TierOutcomes]:
    """Three feature blobs (D = the router's hidden size) and outcomes where the device is right
    on the queries the head scores highest (so thresholds matter)."""
    rng = np.random.default_rng(seed)
    dim = router.config.feature_dim
    centres = rng.normal(size=(3, dim)) * 3.0
    features = (centres[np.arange(n) % 3] + rng.normal(size=(n, dim))).astype(np.float32)
    scores = router.predict_scores(features)
    correct = np.stack([scores[:, 0] >= np.median(scores[:, 0]), rng.uniform(size=n) < 0.8, np.ones(n, bool)], axis=1)
    tokens = rng.integers(20, 200, size=(n, 3))
    return features, TierOutcomes(router.config.tier_specs, correct, tokens, prompt_tokens=rng.integers(10, 50, size=n))


def tiers_of(router, features, profile=None) -> np.ndarray:
    return np.array([d.tier_index for d in router.route_features(features, profile=profile)])


def test_calibrate_writes_config_and_reproduces_decisions(router, tmp_path):
    features, outcomes = split(router)
    result = calibrate_router(router, features, None, outcomes, n_clusters=3, mode="budget", target=0.9, **FAST)
    config = router.config
    assert np.asarray(config.cluster_centroids).shape == (3, config.feature_dim)
    assert np.asarray(config.cluster_thresholds).shape == (3, 2)
    assert len(config.feature_mean) == len(config.feature_std) == config.feature_dim
    np.testing.assert_allclose(config.cluster_thresholds, result.cluster_thresholds)
    assert config.calibration["mode"] == "budget" and config.calibration["target"] == 0.9
    assert config.calibration["split_size"] == 150
    assert sum(config.calibration["cluster_sizes"]) == 150
    assert config.calibration["clustering"]["k"] == 3
    np.testing.assert_array_equal(tiers_of(router, features), result.assignment)
    assert result.metadata["achieved"]["accuracy_pct_of_cloud"] >= 90.0

    router.save_pretrained(tmp_path / "calibrated")
    loaded = ConsRouterForTierSelection.from_pretrained(tmp_path / "calibrated")
    assert loaded.config.calibration == json.loads(json.dumps(config.calibration))
    np.testing.assert_allclose(loaded.config.cluster_centroids, config.cluster_centroids)
    np.testing.assert_array_equal(tiers_of(loaded, features), result.assignment)


def test_profiles_share_the_centroids(router):
    features, outcomes = split(router, seed=1)
    calibrate_router(router, features, None, outcomes, n_clusters=3, mode="utility", **FAST)
    centroids = np.array(router.config.cluster_centroids)
    main_thresholds = np.array(router.config.cluster_thresholds)
    result = calibrate_router(
        router, features, None, outcomes, profile="low-latency", mode="budget", minimise="latency", target=0.85, **FAST
    )
    np.testing.assert_array_equal(router.config.cluster_centroids, centroids)
    np.testing.assert_array_equal(router.config.cluster_thresholds, main_thresholds)
    stored = router.config.threshold_profiles["low-latency"]
    assert stored["calibration"]["minimise"] == "latency"
    np.testing.assert_array_equal(tiers_of(router, features, profile="low-latency"), result.assignment)

    # refitting the main clusters drops the profile tied to the old clusters
    calibrate_router(router, features, None, outcomes, n_clusters=2, mode="utility", **FAST)
    assert router.config.threshold_profiles == {}


def test_update_keeps_centroids_and_warm_starts(router):
    features, outcomes = split(router, seed=2)
    calibrate_router(router, features, None, outcomes, n_clusters=3, mode="utility", weights=(1.0, 0.1, 0.5), **FAST)
    centroids = np.array(router.config.cluster_centroids)
    before = tiers_of(router, features)
    # Three trials: the two anchors and the current thresholds (the best of 30 trials on this very
    # data), so the decisions cannot change.
    result = update_router_thresholds(router, features, outcomes, n_trials=3, show_progress=False)
    np.testing.assert_array_equal(router.config.cluster_centroids, centroids)
    assert result.metadata["warm_started"] is True
    assert result.metadata["mode"] == "utility" and result.metadata["weights"] == [1.0, 0.1, 0.5]
    np.testing.assert_array_equal(tiers_of(router, features), before)

    # new outcomes where the device is always right: the update moves queries to the device
    always = TierOutcomes(outcomes.tiers, np.ones_like(outcomes.correct), outcomes.output_tokens, outcomes.prompt_tokens)
    update_router_thresholds(router, features, always, n_trials=30, show_progress=False)
    assert (tiers_of(router, features) == 0).mean() > (before == 0).mean()


def test_no_clusters_tunes_default_thresholds(router):
    features, outcomes = split(router, seed=3)
    result = calibrate_router(router, features, None, outcomes, n_clusters=None, mode="utility", **FAST)
    assert router.config.cluster_centroids is None and router.config.cluster_thresholds is None
    assert result.cluster_thresholds is None
    np.testing.assert_allclose(router.config.default_thresholds, result.default_thresholds)
    np.testing.assert_array_equal(tiers_of(router, features), result.assignment)


def test_mismatched_tiers_are_rejected(router):
    features, outcomes = split(router, n=30)
    other = TierOutcomes(["device", "cloud"], outcomes.correct[:, [0, 2]], outcomes.output_tokens[:, [0, 2]])
    with pytest.raises(ValueError, match="tiers"):
        calibrate_router(router, features, None, other, n_clusters=2, **FAST)


def test_wrong_feature_size_is_a_clear_error(router):
    features, outcomes = split(router, n=60, seed=4)
    with pytest.raises(ValueError, match="D=64"):
        calibrate_router(router, features[:, :10], None, outcomes, n_clusters=2, **FAST)


def test_a_config_that_fails_validation_is_rolled_back(router, monkeypatch):
    features, outcomes = split(router, n=60, seed=4)
    before = router.config.to_dict()

    def reject(self) -> None:
        raise ValueError("rejected by validation")

    monkeypatch.setattr(type(router.config), "validate_routing_fields", reject)
    with pytest.raises(ValueError, match="rejected"):
        calibrate_router(router, features, None, outcomes, n_clusters=2, **FAST)
    assert router.config.to_dict() == before


def test_router_methods_delegate_to_calibration(router):
    """`router.calibrate` / `router.update_thresholds` give what the calibration functions give."""
    features, outcomes = split(router, seed=3)
    twin = ConsRouterForTierSelection.from_backbone(router.backbone, head_hidden_size=32)
    twin.head.load_state_dict(router.head.state_dict())
    twin.eval()
    by_method = router.calibrate(features, outcomes, n_clusters=3, mode="budget", target=0.9, **FAST)
    by_function = calibrate_router(twin, features, None, outcomes, n_clusters=3, mode="budget", target=0.9, **FAST)
    np.testing.assert_allclose(router.config.cluster_thresholds, twin.config.cluster_thresholds)
    np.testing.assert_array_equal(by_method.assignment, by_function.assignment)
    new_features, new_outcomes = split(router, seed=4)
    updated = router.update_thresholds(new_features, new_outcomes, n_trials=30, show_progress=False)
    np.testing.assert_allclose(router.config.cluster_centroids, twin.config.cluster_centroids)  # kept
    np.testing.assert_allclose(router.config.cluster_thresholds, updated.cluster_thresholds)
