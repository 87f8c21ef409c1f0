"""TierOutcomes, operating points and deferral curves against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import Dataset

from consroute_hf import TierSpec
from consroute_hf.evaluation import NETWORK_PROFILES, TierOutcomes, deferral_curve, operating_point

TIERS = [
    TierSpec("device", 1.0, usd_per_1k_output_tokens=0.1, network_rtt_ms=0.0, prefill_tokens_per_s=100.0, decode_tokens_per_s=10.0),
    TierSpec("cloud", 10.0, usd_per_1k_output_tokens=2.0, network_rtt_ms=50.0, prefill_tokens_per_s=1000.0, decode_tokens_per_s=50.0),
]


@pytest.fixture()
def outcomes() -> TierOutcomes:
    return TierOutcomes(
        TIERS,
        correct=np.array([[False, True], [True, True]]),
        output_tokens=np.array([[10, 20], [30, 40]]),
        prompt_tokens=np.array([100, 200]),
    )


def test_cost_is_params_times_output_tokens(outcomes):
    np.testing.assert_allclose(outcomes.cost(), [[1 * 10, 10 * 20], [1 * 30, 10 * 40]])
    np.testing.assert_allclose(outcomes.usd_cost(), [[0.1 * 10 / 1000, 2 * 20 / 1000], [0.1 * 30 / 1000, 2 * 40 / 1000]])


def test_latency_good_and_bad_network(outcomes):
    # device: 0 ms network + 1000 * prompt / 100 + 1000 * out / 10
    # cloud (good): 50 + 1000 * prompt / 1000 + 1000 * out / 50
    good = [[0 + 1000 + 1000, 50 + 100 + 400], [0 + 2000 + 3000, 50 + 200 + 800]]
    np.testing.assert_allclose(outcomes.latency_ms("good"), good)
    bad_rtt = 50 * NETWORK_PROFILES["bad"].rtt_scale + NETWORK_PROFILES["bad"].added_rtt_ms
    assert bad_rtt > 50
    np.testing.assert_allclose(outcomes.latency_ms("bad"), np.array(good) + [[0, bad_rtt - 50]] * 2)


def test_latency_without_prompt_tokens_leaves_prefill_out(outcomes):
    plain = TierOutcomes(TIERS, outcomes.correct, outcomes.output_tokens)
    np.testing.assert_allclose(plain.latency_ms("good"), [[1000, 50 + 400], [3000, 50 + 800]])


def test_operating_point_hand_computed(outcomes):
    point = operating_point(outcomes, np.array([0, 1]), network="good", router_overhead_ms=10.0)
    assert point.accuracy == pytest.approx(0.5)  # device wrong on row 0, cloud right on row 1
    assert point.accuracy_pct_of_cloud == pytest.approx(50.0)  # cloud-only accuracy is 1.0
    assert point.cost_pct_of_cloud == pytest.approx(100 * (10 + 400) / (200 + 400))
    # routed (2000 + 10, 1050 + 10) -> mean 1535; cloud-only mean (550 + 1050) / 2 = 800
    assert point.mean_latency_ms == pytest.approx(1535.0)
    assert point.latency_pct_of_cloud == pytest.approx(100 * 1535 / 800)
    assert point.tier_mix == {"device": 0.5, "cloud": 0.5}
    assert point.usd == pytest.approx(0.001 + 0.08)
    assert point.usd_pct_of_cloud == pytest.approx(100 * 0.081 / 0.12)


def test_operating_point_per_query_overhead(outcomes):
    point = operating_point(outcomes, np.array([1, 1]), router_overhead_ms=np.array([0.0, 20.0]))
    assert point.latency_pct_of_cloud == pytest.approx(100 * (800 + 10) / 800)
    assert point.cost_pct_of_cloud == pytest.approx(100.0)


def test_operating_point_without_prices_has_no_usd():
    plain = TierOutcomes(["device", "edge", "cloud"], np.ones((2, 3), bool), np.ones((2, 3), int))
    point = operating_point(plain, np.array([0, 2]))
    assert point.usd is None and point.usd_pct_of_cloud is None
    with pytest.raises(ValueError, match="price"):
        plain.usd_cost()


def test_bad_assignments_are_clear_errors(outcomes):
    with pytest.raises(ValueError, match=r"\(N,\)"):
        operating_point(outcomes, np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="outside"):
        operating_point(outcomes, np.array([0, 2]))
    with pytest.raises(ValueError, match="Unknown network"):
        operating_point(outcomes, np.array([0, 1]), network="satellite")


def test_deferral_curve_sorts_points_by_cost(outcomes):
    curve = deferral_curve(outcomes, [np.array([1, 1]), np.array([0, 0]), np.array([0, 1])])
    np.testing.assert_allclose(curve.cost_pct, [100 * 40 / 600, 100 * 410 / 600, 100.0])
    np.testing.assert_allclose(curve.accuracy, [0.5, 0.5, 1.0])
    assert [p.tier_mix["cloud"] for p in curve.points] == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match="empty"):
        deferral_curve(outcomes, [])


def test_from_dataset_reads_tier_columns():
    data = Dataset.from_dict({
        "id": ["a", "b", "c"],
        "correct_device": [True, False, None], "output_tokens_device": [5, 6, 7],
        "correct_cloud": [True, True, False], "output_tokens_cloud": [8, 9, 10],
    })
    with pytest.raises(ValueError, match=r"correct_device.*None in 1 row"):
        TierOutcomes.from_dataset(data, TIERS)
    outcomes = TierOutcomes.from_dataset(data, TIERS, prompt_tokens=[1, 2, 3], on_missing_correct="false")
    np.testing.assert_array_equal(outcomes.correct, [[True, True], [False, True], [False, False]])
    np.testing.assert_array_equal(outcomes.output_tokens, [[5, 8], [6, 9], [7, 10]])
    np.testing.assert_allclose(outcomes.tier_accuracy(), [1 / 3, 2 / 3])
    sub = outcomes.subset([2, 0])
    np.testing.assert_array_equal(sub.output_tokens, [[7, 10], [5, 8]])
    np.testing.assert_array_equal(sub.prompt_tokens, [3, 1])


def test_from_dataset_names_missing_columns():
    data = Dataset.from_dict({"correct_device": [True], "output_tokens_device": [1]})
    with pytest.raises(ValueError, match="correct_cloud"):
        TierOutcomes.from_dataset(data, TIERS)


def test_shape_checks():
    with pytest.raises(ValueError, match=r"\(N, T\)"):
        TierOutcomes(TIERS, np.ones((3, 3), bool), np.ones((3, 3), int))
    with pytest.raises(ValueError, match="output_tokens"):
        TierOutcomes(TIERS, np.ones((3, 2), bool), np.ones((2, 2), int))
