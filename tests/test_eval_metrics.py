"""RouteLLM / RouterBench metrics against hand-computed values."""

from __future__ import annotations

import evaluate
import numpy as np
import pytest

from consroute_hf.evaluation import (
    METRIC_MODULES_DIR, DeferralCurve, aiq, apgr, completed_pgr_curve, cost_at_accuracy, cpt, pgr,
)

# q_weak = 0.3 (device-only), q_strong = 0.6 (cloud-only); points given out of cost order.
CURVE = DeferralCurve(cost_pct=[100.0, 10.0, 40.0], accuracy=[0.6, 0.3, 0.5])


def test_pgr_hand_computed():
    assert pgr(0.45, 0.3, 0.6) == pytest.approx(0.5)  # (0.45 - 0.3) / (0.6 - 0.3)
    np.testing.assert_allclose(pgr(np.array([0.3, 0.6, 0.75]), 0.3, 0.6), [0.0, 1.0, 1.5])  # not clipped


def test_curve_is_sorted_by_cost():
    np.testing.assert_allclose(CURVE.cost_pct, [10.0, 40.0, 100.0])
    np.testing.assert_allclose(CURVE.accuracy, [0.3, 0.5, 0.6])


def test_apgr_hand_computed():
    # Completed curve (c, PGR): (0, 0) anchor, (0.1, 0), (0.4, 2/3), (1, 1) router, (1, 1) anchor.
    # Trapezoids: 0.1 * 0 + 0.3 * (0 + 2/3) / 2 + 0.6 * (2/3 + 1) / 2 = 0 + 0.1 + 0.5 = 0.6
    assert apgr(CURVE, 0.3, 0.6) == pytest.approx(0.6)


def test_apgr_drops_points_dearer_than_cloud_and_adds_cloud_anchor():
    # (c, PGR): anchor (0, 0), (0.5, 0.5); (1.2, 1.5) is dropped (c > 1); anchor (1, 1).
    # Area: 0.5 * (0 + 0.5) / 2 + 0.5 * (0.5 + 1) / 2 = 0.125 + 0.375 = 0.5
    curve = DeferralCurve([50.0, 120.0], [0.45, 0.75])
    cost, gains = completed_pgr_curve(curve, 0.3, 0.6)
    np.testing.assert_allclose(cost, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(gains, [0.0, 0.5, 1.0])
    assert apgr(curve, 0.3, 0.6) == pytest.approx(0.5)


def test_cpt_hand_computed():
    # CPT(50%): first segment reaching 0.5 is (0.1, 0) -> (0.4, 2/3): c = 0.1 + 0.5 * 0.3 / (2/3) = 0.325
    assert cpt(CURVE, 0.5, 0.3, 0.6) == pytest.approx(32.5)
    # CPT(80%): segment (0.4, 2/3) -> (1, 1): c = 0.4 + (0.8 - 2/3) * 0.6 / (1/3) = 0.64
    assert cpt(CURVE, 0.8, 0.3, 0.6) == pytest.approx(64.0)
    # A target reached exactly at a point is that point's cost.
    assert cpt(DeferralCurve([20.0, 60.0], [0.45, 0.6]), 0.5, 0.3, 0.6) == pytest.approx(20.0 * 0.5 / 0.5)


def test_cpt_rejects_percent_targets():
    with pytest.raises(ValueError, match="fraction"):
        cpt(CURVE, 50, 0.3, 0.6)


def test_cost_at_accuracy_hand_computed():
    # 0.55 lies between (40, 0.5) and (100, 0.6): 40 + (0.55 - 0.5) * 60 / 0.1 = 70
    assert cost_at_accuracy(CURVE, 0.55) == pytest.approx(70.0)
    assert cost_at_accuracy(CURVE, 0.2) == pytest.approx(10.0)  # the cheapest point already reaches it
    assert cost_at_accuracy(CURVE, 0.7) is None


def test_aiq_hand_computed():
    # Points (0, .3), (50, .5), (60, .4), (100, .6): upper hull (0, .3), (50, .5), (100, .6);
    # area 50 * (.3 + .5) / 2 + 50 * (.5 + .6) / 2 = 20 + 27.5 = 47.5; cost range 100 -> 0.475
    assert aiq(DeferralCurve([0.0, 50.0, 60.0, 100.0], [0.3, 0.5, 0.4, 0.6])) == pytest.approx(0.475)


def test_aiq_hull_is_non_decreasing():
    # Hull (0, .3), (40, .7), (100, .5) falls after its best point: flat at .7 from 40 to 100.
    # Area 40 * (.3 + .7) / 2 + 60 * .7 = 20 + 42 = 62; / 100 -> 0.62
    assert aiq(DeferralCurve([0.0, 40.0, 100.0], [0.3, 0.7, 0.5])) == pytest.approx(0.62)


def test_degenerate_gap_is_a_clear_error():
    with pytest.raises(ValueError, match="strong"):
        pgr(0.5, 0.4, 0.4)
    with pytest.raises(ValueError, match="strong"):
        apgr(CURVE, 0.6, 0.6)
    with pytest.raises(ValueError, match="strong"):
        cpt(CURVE, 0.5, 0.7, 0.6)


def test_empty_curve_is_a_clear_error():
    empty = DeferralCurve([], [])
    for call in (lambda: apgr(empty, 0.3, 0.6), lambda: aiq(empty), lambda: cost_at_accuracy(empty, 0.5)):
        with pytest.raises(ValueError, match="no points"):
            call()
    with pytest.raises(ValueError, match="cost range"):
        aiq(DeferralCurve([50.0, 50.0], [0.3, 0.4]))


def test_curve_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="one entry per point"):
        DeferralCurve([1.0, 2.0], [0.5])


@pytest.mark.parametrize(
    ("module", "kwargs", "expected"),
    [
        ("routing_apgr", {"q_weak": 0.3, "q_strong": 0.6}, {"apgr": 0.6}),
        ("routing_cpt", {"q_weak": 0.3, "q_strong": 0.6}, {"cpt_50": 32.5, "cpt_80": 64.0}),
        ("routing_aiq", {}, {"aiq": 0.5}),
    ],
)
def test_local_evaluate_modules_load_offline_and_match(module, kwargs, expected):
    # AIQ for (10, .3), (40, .5), (100, .6): hull is all three (slopes 1/150 > 1/600);
    # area 30 * (.3 + .5) / 2 + 60 * (.5 + .6) / 2 = 12 + 33 = 45 over range 90 -> 0.5
    metric = evaluate.load(str(METRIC_MODULES_DIR / module))
    result = metric.compute(cost_pct=[100.0, 10.0, 40.0], accuracy=[0.6, 0.3, 0.5], **kwargs)
    assert result.keys() == expected.keys()
    for key, value in expected.items():
        assert result[key] == pytest.approx(value)
