"""Deferral-curve sweeps: budget thresholds for many targets from one exploration per cluster."""

from __future__ import annotations

import numpy as np
import pytest
from test_calibration_thresholds import TWO_TIERS, problem

from consroute_hf.calibration import tune_threshold_sweep
from consroute_hf.evaluation import TierOutcomes, apgr, deferral_curve


def test_sweep_finds_each_targets_optimum():
    # device right iff s >= 0.6, cloud always right: accuracy(tau) = 1 - max(0, 0.6 - tau) and the
    # cost rises with tau, so the least-cost tau for target a is 1.6 - a: 0.4, 0.5, 0.6.
    scores, outcomes = problem(2000)
    results = tune_threshold_sweep(scores, None, outcomes, targets=(1.0, 0.8, 0.9), n_trials=200, show_progress=False)
    assert [r.metadata["target"] for r in results] == [0.8, 0.9, 1.0]
    taus = [r.default_thresholds[0] for r in results]
    np.testing.assert_allclose(taus, [0.4, 0.5, 0.6], atol=0.03)
    for result in results:
        assert result.metadata["constraint_met"] and result.metadata["sweep"] is True
        assert result.metadata["achieved"]["accuracy"] >= result.metadata["target"]
    costs = [r.metadata["achieved"]["cost_pct_of_cloud"] for r in results]
    assert costs == sorted(costs)


def test_sweep_with_clusters_gives_a_curve_on_a_test_split():
    # Cluster 0: device right iff s >= 0.3; cluster 1: iff s >= 0.8.
    s0, o0 = problem(600, boundary=0.3, seed=1)
    s1, o1 = problem(600, boundary=0.8, seed=2)
    scores = np.concatenate([s0, s1])
    outcomes = TierOutcomes(TWO_TIERS, np.concatenate([o0.correct, o1.correct]), np.concatenate([o0.output_tokens, o1.output_tokens]))
    clusters = np.repeat([0, 1], 600)
    results = tune_threshold_sweep(scores, clusters, outcomes, targets=(0.7, 0.85, 1.0), n_trials=120, show_progress=False)
    # at target 1.0 each cluster must sit at its own boundary
    np.testing.assert_allclose(results[-1].cluster_thresholds[:, 0], [0.3, 0.8], atol=0.03)
    curve = deferral_curve(outcomes, [r.route(scores, clusters) for r in results])
    assert len(curve) == 3 and curve.accuracy[-1] == pytest.approx(1.0)
    device_only = outcomes.tier_accuracy()[0]
    assert 0.0 < apgr(curve, device_only, 1.0) <= 1.0


def test_sweep_rejects_bad_targets():
    scores, outcomes = problem(50)
    with pytest.raises(ValueError, match="empty"):
        tune_threshold_sweep(scores, None, outcomes, targets=(), show_progress=False)
    with pytest.raises(ValueError, match="target"):
        tune_threshold_sweep(scores, None, outcomes, targets=(0.9, 90), show_progress=False)
