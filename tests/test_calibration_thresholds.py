"""Threshold tuning on synthetic problems whose best thresholds are known analytically.

Construction used throughout: scores s ~ U(0, 1); the device answers correctly iff s >= 0.6; the
cloud is always correct. Threshold tau sends rows with s >= tau to the device. Then
accuracy(tau) = 1 - max(0, 0.6 - tau), and the cloud share is tau.
"""

from __future__ import annotations

import numpy as np
import pytest

from consroute_hf.calibration import tune_thresholds
from consroute_hf.evaluation import TierOutcomes

TWO_TIERS = [{"name": "device", "activated_params_b": 1.0}, {"name": "cloud", "activated_params_b": 10.0}]
FAST = {"n_trials": 150, "show_progress": False}


def problem(n: int, boundary: float = 0.6, seed: int = 0, cloud_tokens: int = 1) -> tuple[np.ndarray, TierOutcomes]:
    scores = np.random.default_rng(seed).uniform(size=(n, 1))
    correct = np.stack([scores[:, 0] >= boundary, np.ones(n, bool)], axis=1)
    tokens = np.tile([1, cloud_tokens], (n, 1))
    return scores, TierOutcomes(TWO_TIERS, correct, tokens)


def test_utility_optimum_is_found():
    # weights (1, 0, 1): U = accuracy_rel - cost_rel, cost per row 1 (device) or 10 (cloud):
    # cost_rel(tau) = ((1 - tau) * 1 + tau * 10) / 10 = 0.1 + 0.9 tau.
    # tau < 0.6: U = 1 - (0.6 - tau) - 0.1 - 0.9 tau = 0.3 + 0.1 tau (rising);
    # tau >= 0.6: U = 0.9 - 0.9 tau (falling)  =>  best tau = 0.6.
    scores, outcomes = problem(2000)
    result = tune_thresholds(scores, None, outcomes, mode="utility", weights=(1.0, 0.0, 1.0), **FAST)
    assert result.cluster_thresholds is None
    assert result.default_thresholds[0] == pytest.approx(0.6, abs=0.02)
    assert result.metadata["achieved"]["accuracy"] == pytest.approx(1.0, abs=0.005)


def test_budget_optimum_is_found_and_constraint_holds():
    # accuracy(tau) >= 0.9  <=>  tau >= 0.5; cost rises with tau  =>  best tau = 0.5.
    scores, outcomes = problem(2000)
    result = tune_thresholds(scores, None, outcomes, mode="budget", target=0.9, **FAST)
    tau = result.default_thresholds[0]
    assert 0.5 - 1e-3 <= tau <= 0.52
    assert result.metadata["constraint_met"] is True
    assert result.metadata["achieved"]["accuracy_pct_of_cloud"] >= 90.0
    assert outcomes.correct[np.arange(2000), result.assignment].mean() >= 0.9


def test_budget_margin_demands_more_accuracy():
    # target 0.9 + margin 0.05 => accuracy >= 0.95 => tau >= 0.55.
    scores, outcomes = problem(2000)
    result = tune_thresholds(scores, None, outcomes, mode="budget", target=0.9, margin=0.05, **FAST)
    assert 0.55 - 1e-3 <= result.default_thresholds[0] <= 0.57


def test_each_cluster_gets_its_own_optimum():
    # Cluster 0: device right iff s >= 0.3; cluster 1: iff s >= 0.8. Same utility as above per
    # cluster (the objective is additive) => best taus 0.3 and 0.8.
    s0, o0 = problem(800, boundary=0.3, seed=1)
    s1, o1 = problem(800, boundary=0.8, seed=2)
    scores = np.concatenate([s0, s1])
    outcomes = TierOutcomes(TWO_TIERS, np.concatenate([o0.correct, o1.correct]), np.concatenate([o0.output_tokens, o1.output_tokens]))
    clusters = np.repeat([0, 1], 800)
    result = tune_thresholds(scores, clusters, outcomes, mode="utility", weights=(1.0, 0.0, 1.0), **FAST)
    np.testing.assert_allclose(result.cluster_thresholds[:, 0], [0.3, 0.8], atol=0.02)
    # applied to a fresh split, the thresholds route each cluster by its own boundary
    fresh = np.array([[0.5], [0.5], [0.9]])
    np.testing.assert_array_equal(result.route(fresh, np.array([0, 1, 1])), [0, 1, 0])
    np.testing.assert_array_equal(result.route(scores, clusters), result.assignment)
    with pytest.raises(ValueError, match="per cluster"):
        result.route(fresh)
    assert result.metadata["cluster_sizes"] == [800, 800]
    assert result.metadata["fallback_clusters"] == []


def test_global_budget_allocation_trades_accuracy_across_clusters():
    # Both clusters: device right iff s >= 0.6. A cloud answer costs 10 in cluster A and 1000 in
    # cluster B (100 tokens). Target 0.9 overall: per cluster, tau = 0.5 in each. Globally it is
    # cheaper to keep A fully accurate (tau_A = 0.6) and spend the 20% error budget in B
    # (tau_B = 0.4): accuracy (1.0 + 0.8) / 2 = 0.9.
    s_a, o_a = problem(1000, seed=3)
    s_b, o_b = problem(1000, seed=4, cloud_tokens=100)
    scores = np.concatenate([s_a, s_b])
    outcomes = TierOutcomes(TWO_TIERS, np.concatenate([o_a.correct, o_b.correct]), np.concatenate([o_a.output_tokens, o_b.output_tokens]))
    clusters = np.repeat([0, 1], 1000)
    per_cluster = tune_thresholds(scores, clusters, outcomes, target=0.9, allocation="per_cluster", **FAST)
    global_ = tune_thresholds(scores, clusters, outcomes, target=0.9, allocation="global", **FAST)
    np.testing.assert_allclose(per_cluster.cluster_thresholds[:, 0], [0.5, 0.5], atol=0.02)
    assert global_.metadata["constraint_met"] and per_cluster.metadata["constraint_met"]
    assert global_.metadata["achieved"]["accuracy"] >= 0.9
    assert global_.metadata["achieved"]["cost_pct_of_cloud"] < per_cluster.metadata["achieved"]["cost_pct_of_cloud"]
    np.testing.assert_allclose(global_.cluster_thresholds[:, 0], [0.6, 0.4], atol=0.03)


def test_small_clusters_fall_back_to_global_thresholds():
    scores, outcomes = problem(600, seed=5)
    clusters = np.where(np.arange(600) < 590, np.arange(600) % 2, 2)  # cluster 2 has 10 rows
    result = tune_thresholds(scores, clusters, outcomes, mode="utility", min_cluster_size=20, **FAST)
    assert result.metadata["fallback_clusters"] == [2]
    assert result.metadata["cluster_sizes"] == [295, 295, 10]
    np.testing.assert_array_equal(result.cluster_thresholds[2], result.default_thresholds)
    # an explicit K larger than the labels seen: the empty cluster 3 also falls back
    wider = tune_thresholds(scores, clusters, outcomes, mode="utility", n_clusters=4, **FAST)
    assert wider.metadata["fallback_clusters"] == [2, 3]
    assert wider.cluster_thresholds.shape == (4, 1)


def test_seeds_reproduce_and_differ():
    scores, outcomes = problem(500, seed=6)
    clusters = np.arange(500) % 2
    kwargs = dict(mode="utility", n_trials=40, show_progress=False)
    first = tune_thresholds(scores, clusters, outcomes, seed=7, **kwargs)
    again = tune_thresholds(scores, clusters, outcomes, seed=7, **kwargs)
    other = tune_thresholds(scores, clusters, outcomes, seed=8, **kwargs)
    np.testing.assert_array_equal(first.cluster_thresholds, again.cluster_thresholds)
    assert first.metadata == again.metadata
    assert not np.array_equal(first.cluster_thresholds, other.cluster_thresholds)


def test_warm_start_is_tried_first():
    # With 3 trials, only the two anchors (all-cloud, all-device) and the warm start run; the warm
    # start at the known optimum (0.3 / 0.8, see above) beats both anchors. On both clusters
    # together U(tau) = 0.35 + 0.1 tau below 0.3 and 0.5 - 0.4 tau above: best 0.3 (U = 0.38 > 0.35
    # all-device, > 0 all-cloud).
    s0, o0 = problem(400, boundary=0.3, seed=1)
    s1, o1 = problem(400, boundary=0.8, seed=2)
    scores = np.concatenate([s0, s1])
    outcomes = TierOutcomes(TWO_TIERS, np.concatenate([o0.correct, o1.correct]), np.concatenate([o0.output_tokens, o1.output_tokens]))
    warm = np.array([[0.3], [0.8]])
    result = tune_thresholds(
        scores, np.repeat([0, 1], 400), outcomes, mode="utility", weights=(1.0, 0.0, 1.0), n_trials=3,
        warm_start=warm, warm_start_default=np.array([0.3]), show_progress=False,
    )
    np.testing.assert_array_equal(result.cluster_thresholds, warm)
    np.testing.assert_array_equal(result.default_thresholds, [0.3])


def test_three_tiers_budget_uses_the_edge_tier():
    # device right iff s_device >= 0.7, edge right iff s_edge >= 0.4, cloud always right; costs 1/5/10.
    # With target 1.0 the only error-free policy sends s_device >= 0.7 to the device, then
    # s_edge >= 0.4 to the edge: the optimum is tau = (0.7, 0.4) (lower taus add errors, higher
    # ones add cost).
    rng = np.random.default_rng(9)
    scores = rng.uniform(size=(3000, 2))
    correct = np.stack([scores[:, 0] >= 0.7, scores[:, 1] >= 0.4, np.ones(3000, bool)], axis=1)
    tiers = [{"name": "device", "activated_params_b": 1.0}, {"name": "edge", "activated_params_b": 5.0},
             {"name": "cloud", "activated_params_b": 10.0}]
    outcomes = TierOutcomes(tiers, correct, np.ones((3000, 3), int))
    result = tune_thresholds(scores, None, outcomes, target=1.0, n_trials=300, show_progress=False)
    np.testing.assert_allclose(result.default_thresholds, [0.7, 0.4], atol=0.03)
    assert result.metadata["achieved"]["accuracy"] == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "fastest"}, "mode"),
        ({"minimise": "energy"}, "minimise"),
        ({"target": 95}, "target"),
        ({"weights": (1.0, 0.0)}, "weights"),
        ({"n_trials": 0}, "n_trials"),
        ({"allocation": "greedy"}, "allocation"),
        ({"warm_start": np.ones((2, 1))}, "warm_start"),
    ],
)
def test_bad_settings_are_clear_errors(kwargs, message):
    scores, outcomes = problem(50)
    with pytest.raises(ValueError, match=message):
        tune_thresholds(scores, None, outcomes, show_progress=False, **kwargs)


def test_bad_shapes_are_clear_errors():
    scores, outcomes = problem(50)
    with pytest.raises(ValueError, match=r"\(N, T-1\)"):
        tune_thresholds(np.ones((50, 2)), None, outcomes, show_progress=False)
    with pytest.raises(ValueError, match="clusters"):
        tune_thresholds(scores, np.zeros(49, int), outcomes, show_progress=False)


def noisy_problem(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, TierOutcomes]:
    """Four clusters; the device is right with probability s (the score is informative but noisy)."""
    rng = np.random.default_rng(seed)
    scores = rng.uniform(size=(n, 1))
    correct = np.stack([rng.uniform(size=n) < scores[:, 0], np.ones(n, bool)], axis=1)
    return scores, np.arange(n) % 4, TierOutcomes(TWO_TIERS, correct, np.ones((n, 2), int))


def test_auto_margin_compensates_for_overfitting():
    scores, clusters, outcomes = noisy_problem(400, seed=11)
    settings = dict(target=0.9, n_trials=60, show_progress=False, min_cluster_size=10)
    plain = tune_thresholds(scores, clusters, outcomes, margin=0.0, **settings)
    auto = tune_thresholds(scores, clusters, outcomes, margin="auto", cv_folds=3, **settings)
    record = auto.metadata["margin_cross_validation"]
    # the held-out folds fall short of the 90% target; that shortfall becomes the margin
    assert record["held_out_accuracy_pct_of_cloud"] < 90.0
    assert auto.metadata["margin"] == pytest.approx(0.9 - record["held_out_accuracy_pct_of_cloud"] / 100)
    assert auto.metadata["achieved"]["accuracy_pct_of_cloud"] >= 100 * (0.9 + auto.metadata["margin"]) - 1e-9
    # on a large fresh split from the same distribution the margin buys accuracy
    fresh_scores, fresh_clusters, fresh = noisy_problem(20000, seed=12)
    accuracy = {
        name: fresh.correct[np.arange(20000), result.route(fresh_scores, fresh_clusters)].mean()
        for name, result in (("plain", plain), ("auto", auto))
    }
    assert accuracy["plain"] < 0.9
    assert accuracy["auto"] > accuracy["plain"]


def test_auto_margin_is_for_budget_mode_only():
    scores, _, outcomes = noisy_problem(50, seed=0)
    with pytest.raises(ValueError, match="budget"):
        tune_thresholds(scores, None, outcomes, mode="utility", margin="auto", show_progress=False)
    with pytest.raises(ValueError, match="margin"):
        tune_thresholds(scores, None, outcomes, margin="big", show_progress=False)
