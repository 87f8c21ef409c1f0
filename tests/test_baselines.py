"""Peer routers: data checks, fixed routers against hand-derived tiers, learned routers on a planted signal."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from consroute_hf import TierSpec
from consroute_hf.baselines import (
    BASELINES,
    FIXED_BASELINES,
    LEARNED_BASELINES,
    BaselineData,
    CloudOnly,
    DeviceOnly,
    EdgeOnly,
    HybridLLMRouter,
    LearnedRouter,
    Oracle,
    RandomRouter,
    RouteLLMMatrixFactorization,
    RouteLLMSimilarityWeighted,
    RouterBenchKNN,
    RouterBenchMLP,
    SingleTier,
)
from consroute_hf.baselines.hybrid_llm import average_pairwise_difference, gap_probability, probabilistic_labels


def planted_data(n: int = 400, dim: int = 16, seed: int = 0) -> BaselineData:
    """Device right iff embedding[:, 0] > 0.3, edge right iff embedding[:, 1] > -0.1 (each with 5% flips);
    the cloud is right on 85% of queries at random. Costs: device 1-2, edge 4-6, cloud 10-14 per query."""
    rng = np.random.default_rng(seed)
    embeddings = rng.normal(size=(n, dim))
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    embeddings *= np.sqrt(dim)  # unit-scale coordinates; norms do not matter to the routers
    flips = rng.random((n, 2)) < 0.05
    device = (embeddings[:, 0] > 0.3) ^ flips[:, 0]
    edge = (embeddings[:, 1] > -0.1) ^ flips[:, 1]
    cloud = rng.random(n) < 0.85
    cost = np.stack([rng.uniform(1, 2, n), rng.uniform(4, 6, n), rng.uniform(10, 14, n)], axis=1)
    return BaselineData(
        [f"query {i}" for i in range(n)], embeddings.astype(np.float32), np.stack([device, edge, cloud], axis=1),
        rng.uniform(size=(n, 2)), cost,
    )


def table_data() -> BaselineData:
    """Five hand-written queries, 3 tiers."""
    correct = np.array([
        [True, True, True],     # device right: cheapest correct is device (cost 1 < 5 < 10)
        [False, True, True],    # edge
        [False, False, True],   # cloud
        [False, False, False],  # nobody: cloud
        [True, True, False],    # device rambles (cost 8) and edge costs 3: edge is cheapest correct
    ])
    cost = np.array([[1, 5, 10], [1, 5, 10], [1, 5, 10], [1, 5, 10], [8, 3, 10]], dtype=float)
    return BaselineData([f"q{i}" for i in range(5)], np.eye(5, 4, dtype=np.float32), correct, np.full((5, 2), 0.5), cost)


def auroc(router: LearnedRouter, train: BaselineData, test: BaselineData) -> list[float]:
    scores = router.fit(train, seed=0).predict_scores(test)
    assert scores.shape == (len(test), 2)
    assert scores.min() >= 0.0 and scores.max() <= 1.0
    good = test.good_enough()
    return [roc_auc_score(good[:, t], scores[:, t]) for t in range(2)]


# --- data ---------------------------------------------------------------------------------------


def test_good_enough_is_tier_right_or_cloud_wrong():
    np.testing.assert_array_equal(
        table_data().good_enough(),
        [[True, True], [False, True], [False, False], [True, True], [True, True]],
    )


def test_subset_keeps_rows_in_order():
    part = table_data().subset(np.array([4, 1]))
    assert part.queries == ["q4", "q1"]
    np.testing.assert_array_equal(part.cost[:, 0], [8, 1])
    with pytest.raises(TypeError, match="integer row indices"):
        table_data().subset(np.array([True, False, True, False, True]))


def test_bad_shapes_and_missing_verdicts_are_explained():
    data = table_data()
    with pytest.raises(ValueError, match="`cost` must be"):
        BaselineData(data.queries, data.embeddings, data.correct, data.labels, data.cost[:, :2])
    with pytest.raises(ValueError, match="`labels` must be"):
        BaselineData(data.queries, data.embeddings, data.correct, data.labels + 1.0, data.cost)
    with pytest.raises(TypeError, match="drop them first"):
        BaselineData(data.queries, data.embeddings, data.correct.astype(object), data.labels, data.cost)


def test_from_routing_dataset_costs_params_times_tokens():
    tiers = [TierSpec("device", 2.0), TierSpec("cloud", 10.0)]
    columns = {
        "query": ["a", "b"], "labels": [[0.2], [0.9]],
        "correct_device": [True, False], "correct_cloud": [True, True],
        "output_tokens_device": [100, 7], "output_tokens_cloud": [30, 4],
    }
    data = BaselineData.from_routing_dataset(columns, tiers, np.zeros((2, 3)))
    np.testing.assert_array_equal(data.cost, [[200.0, 300.0], [14.0, 40.0]])
    np.testing.assert_array_equal(data.labels, [[0.2], [0.9]])
    columns["correct_cloud"] = [True, None]
    with pytest.raises(ValueError, match="without a verdict"):
        BaselineData.from_routing_dataset(columns, tiers, np.zeros((2, 3)))
    del columns["output_tokens_cloud"]
    with pytest.raises(ValueError, match=r"lacks columns \['output_tokens_cloud'\]"):
        BaselineData.from_routing_dataset(columns, tiers, np.zeros((2, 3)))


# --- fixed routers ------------------------------------------------------------------------------


def test_single_tier_routers():
    data = table_data()
    np.testing.assert_array_equal(DeviceOnly().assign(data), [0] * 5)
    np.testing.assert_array_equal(EdgeOnly().assign(data), [1] * 5)
    np.testing.assert_array_equal(CloudOnly().assign(data), [2] * 5)
    with pytest.raises(ValueError, match="out of range"):
        SingleTier(3).assign(data)


def test_oracle_takes_cheapest_correct_tier_and_cloud_when_none():
    np.testing.assert_array_equal(Oracle().assign(table_data()), [0, 1, 2, 2, 1])


def test_oracle_cheapest_fallback_sends_hopeless_queries_to_the_cheapest_tier():
    data = table_data()
    data.cost[3] = [7, 2, 10]  # nobody is right on query 3; the edge is its cheapest tier
    np.testing.assert_array_equal(Oracle(fallback="cheapest").assign(data), [0, 1, 2, 1, 1])
    with pytest.raises(ValueError, match="`fallback` must be one of"):
        Oracle(fallback="device")


def test_oracle_at_an_accuracy_target_drops_the_largest_savings_first():
    # Cloud-only gets 3 right (rows 0-2); the cheapest-fallback oracle [0, 1, 2, 0, 1] gets 4 right.
    # Savings of moving a right answer to the query's cheapest tier: row 1: 5 - 1 = 4, row 2: 10 - 1 = 9
    # (rows 0 and 4 already sit on their cheapest tier).
    data = table_data()
    np.testing.assert_array_equal(Oracle("cheapest", accuracy_target=1.0).assign(data), [0, 1, 0, 0, 1])  # 3 needed
    np.testing.assert_array_equal(Oracle("cheapest", accuracy_target=0.66).assign(data), [0, 0, 0, 0, 1])  # 2 needed
    with pytest.raises(ValueError, match="even the oracle gets 4 right, 5 are needed"):
        Oracle("cheapest", accuracy_target=1.5).assign(data)


def test_random_mix_gives_exact_counts_and_is_seeded():
    data = planted_data(n=101)
    tiers = RandomRouter(mix=[0.2, 0.3, 0.5], seed=3).assign(data)
    # 101 * (0.2, 0.3, 0.5) = (20.2, 30.3, 50.5): largest remainder gives the spare query to the cloud.
    np.testing.assert_array_equal(np.bincount(tiers, minlength=3), [20, 30, 51])
    np.testing.assert_array_equal(tiers, RandomRouter(mix=[0.2, 0.3, 0.5], seed=3).assign(data))
    assert not np.array_equal(tiers, RandomRouter(mix=[0.2, 0.3, 0.5], seed=4).assign(data))


@pytest.mark.parametrize("target", [0.45, 0.6, 0.9])
def test_random_cost_share_is_matched_on_the_split(target):
    data = planted_data()
    tiers = RandomRouter(cost_share=target, seed=1).assign(data)
    assert set(np.unique(tiers)) <= {1, 2}  # edge/cloud mix by default
    realised = data.cost[np.arange(len(data)), tiers].sum() / data.cost[:, 2].sum()
    assert abs(realised - target) <= data.cost.max() / data.cost[:, 2].sum()


def test_random_cost_share_below_the_tier_pair_needs_more_tiers():
    data = planted_data()
    with pytest.raises(ValueError, match=r"outside what tiers \[1, 2\] reach"):
        RandomRouter(cost_share=0.2).assign(data)
    tiers = RandomRouter(cost_share=0.2, tiers=(0, 1, 2), seed=0).assign(data)
    assert set(np.unique(tiers)) == {0, 1}  # device/edge mix brackets 20% of cloud cost
    realised = data.cost[np.arange(len(data)), tiers].sum() / data.cost[:, 2].sum()
    assert abs(realised - 0.2) < 0.01


def test_random_router_needs_exactly_one_target():
    with pytest.raises(ValueError, match="exactly one"):
        RandomRouter()
    with pytest.raises(ValueError, match="exactly one"):
        RandomRouter(cost_share=0.5, mix=[0, 0, 1])


# --- learned routers ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def planted_split() -> tuple[BaselineData, BaselineData]:
    data = planted_data(n=500)
    return data.subset(np.arange(300)), data.subset(np.arange(300, 500))


@pytest.mark.parametrize(
    "make",
    [
        lambda: RouteLLMMatrixFactorization(num_train_epochs=30),
        lambda: RouteLLMSimilarityWeighted(),
        lambda: RouterBenchKNN(n_neighbors=15),
        lambda: RouterBenchMLP(),
        lambda: HybridLLMRouter(num_train_epochs=40),
    ],
    ids=["routellm-mf", "routellm-sw", "routerbench-knn", "routerbench-mlp", "hybrid-llm"],
)
def test_learned_router_ranks_planted_good_enough_queries_first(make, planted_split):
    train, test = planted_split
    device_auc, edge_auc = auroc(make(), train, test)
    assert device_auc > 0.75 and edge_auc > 0.75, (device_auc, edge_auc)


@pytest.mark.parametrize("name", ["routellm-mf", "routerbench-mlp", "hybrid-llm"])
def test_seeded_fits_reproduce(name, planted_split):
    train, test = planted_split
    kwargs = {"routerbench-mlp": {}, "routellm-mf": {"num_train_epochs": 5}, "hybrid-llm": {"num_train_epochs": 5}}[name]
    first = BASELINES[name](**kwargs).fit(train, seed=7).predict_scores(test)
    again = BASELINES[name](**kwargs).fit(train, seed=7).predict_scores(test)
    other = BASELINES[name](**kwargs).fit(train, seed=8).predict_scores(test)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_sw_ranking_recovers_bradley_terry_share_by_hand():
    # All training queries alike (equal weights); the device ties the cloud on half (both right) and
    # loses on the other half. Doubled battles: device 0.5n wins, cloud 2 * 0.5n + 0.5n = 1.5n wins,
    # so the Bradley-Terry MLE gives P(device beats cloud) = 0.5n / 2n = 0.25.
    n = 40
    correct = np.zeros((n, 2), dtype=bool)
    correct[:, 1] = True
    correct[: n // 2, 0] = True
    train = BaselineData(["q"] * n, np.ones((n, 3), np.float32), correct, np.zeros((n, 1)), np.ones((n, 2)))
    scores = RouteLLMSimilarityWeighted().fit(train).predict_scores(train.subset([0]))
    assert abs(scores[0, 0] - 0.25) < 0.005


def test_knn_with_one_neighbour_copies_the_nearest_label():
    data = table_data()
    scores = RouterBenchKNN(n_neighbors=1).fit(data).predict_scores(data)
    np.testing.assert_array_equal(scores, data.good_enough().astype(float))


def test_knn_correctness_target_predicts_tier_correctness():
    data = table_data()
    scores = RouterBenchKNN(n_neighbors=1, target="correctness").fit(data).predict_scores(data)
    np.testing.assert_array_equal(scores, data.correct[:, :2].astype(float))
    with pytest.raises(ValueError, match="`target` must be one of"):
        RouterBenchKNN(target="wins")


def test_hybrid_llm_gap_probabilities_by_hand():
    # X ~ Beta(2, 1) (right once), Y ~ Beta(1, 2) (wrong once): P(X >= Y) = int 2(1-y)(1-y^2) dy = 5/6.
    assert gap_probability(True, False, 0.0) == pytest.approx(5 / 6, abs=1e-4)
    assert gap_probability(False, True, 0.0) == pytest.approx(1 / 6, abs=1e-4)
    assert gap_probability(True, True, 0.0) == pytest.approx(0.5, abs=1e-4)
    assert gap_probability(False, False, 0.0) == pytest.approx(0.5, abs=1e-4)
    assert gap_probability(False, True, 0.99) > 0.999  # relaxed almost to "always good enough"
    assert average_pairwise_difference(np.array([0.0, 1.0, 1.0])) == pytest.approx(2 / 3)


def test_hybrid_llm_labels_order_the_three_outcomes_and_pick_the_widest_spread():
    small = np.array([False, True, False, True])
    large = np.array([True, True, False, False])
    labels, relaxation = probabilistic_labels(small, large)
    assert labels[0] < labels[1] < labels[3]
    assert labels[1] == pytest.approx(labels[2])  # both right and both wrong are the same tie
    spreads = {t: average_pairwise_difference(probabilistic_labels(small, large, [t])[0]) for t in (0.0, 0.3, 0.6, 0.9)}
    assert average_pairwise_difference(labels) >= max(spreads.values()) - 1e-9
    assert 0.0 <= relaxation < 1.0


def test_unfitted_router_and_tier_mismatch_are_explained(planted_split):
    train, test = planted_split
    with pytest.raises(RuntimeError, match="not fitted"):
        RouterBenchKNN().predict_scores(test)
    fitted = RouterBenchKNN().fit(train)
    with pytest.raises(ValueError, match="fitted on 3 tiers"):
        fitted.predict_scores(table_data().subset([0]).__class__(
            ["q"], np.zeros((1, 16), np.float32), np.ones((1, 2), bool), np.zeros((1, 1)), np.ones((1, 2))))


def test_registry_lists_every_baseline():
    assert set(LEARNED_BASELINES) | set(FIXED_BASELINES) == set(BASELINES)
    assert not set(LEARNED_BASELINES) & set(FIXED_BASELINES)
    for name in LEARNED_BASELINES:
        assert isinstance(BASELINES[name](), LearnedRouter)


def test_torch_threads_restores_the_previous_count():
    import torch

    from consroute_hf.baselines.base import torch_threads

    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match=">= 1"), torch_threads(0):
        pass
    assert torch.get_num_threads() == before
