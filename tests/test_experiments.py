"""The main job's per-split evaluation and report, on a synthetic problem with a planted signal.

Queries have a latent difficulty u: the device answers right when u < 0.4, the edge when u < 0.7,
the cloud when u < 0.85 (nested), and the device-LM features and embeddings both carry u. A router
that reads u can send easy queries down and keep cloud accuracy at a fraction of the cost.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from huggingface_hub import ModelCard

from consroute_hf import Recipe
from consroute_hf.baselines import BaselineData
from consroute_hf.evaluation import TierOutcomes
from consroute_hf.experiments.inputs import ExperimentInputs, RouterOverheads, label_variants
from consroute_hf.experiments.pipeline import ReproduceResult, evaluate_split, make_splits
from consroute_hf.experiments.report import aggregate, write_report

N, D, E = 240, 64, 16
OUTPUT_TOKENS = 100


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Recipe:
    out = tmp_path_factory.mktemp("runs")
    return Recipe.from_dict({
        "name": "synthetic",
        "tiers": ["device", "edge", "cloud"],
        "output_dir": str(out),
        "split": {"seeds": [0], "seed": 0},
        "training": {"num_train_epochs": 15, "learning_rate": 0.02, "head_hidden_size": 32,
                     "per_device_train_batch_size": 64, "early_stopping_patience": 15},
        "calibration": {"n_trials": 30, "n_clusters": "auto", "k_range": [2, 3], "min_cluster_size": 10},
        "evaluation": {"baselines": ["routerbench-knn"], "ablations": ["global-threshold", "correctness-targets"],
                       "baseline_trials": 30, "curve_offsets": 11},
    })


@pytest.fixture(scope="module")
def inputs() -> ExperimentInputs:
    import datasets

    from tiny_models import tiny_causal_lm, tiny_tokenizer

    rng = np.random.default_rng(0)
    difficulty = rng.uniform(size=N)
    correct = np.stack([difficulty < 0.4, difficulty < 0.7, difficulty < 0.85], axis=1)
    features = rng.normal(scale=0.3, size=(N, D)).astype(np.float32)
    features[:, :8] += 3.0 * difficulty[:, None]
    embeddings = rng.normal(scale=0.3, size=(N, E)).astype(np.float32)
    embeddings[:, :4] += 3.0 * difficulty[:, None]
    good_enough = correct[:, :2] | ~correct[:, 2:]
    rows = {
        "id": [str(i) for i in range(N)], "task": ["gsm" if i % 2 else "crux" for i in range(N)],
        "query": [f"query {i}" for i in range(N)], "labels": good_enough.astype(np.float32).tolist(),
    }
    for index, tier in enumerate(["device", "edge", "cloud"]):
        rows[f"correct_{tier}"] = correct[:, index].tolist()
        rows[f"output_tokens_{tier}"] = [OUTPUT_TOKENS] * N
    dataset = datasets.Dataset.from_dict(rows)
    tiers = Recipe.from_dict({"tiers": ["device", "edge", "cloud"]}).tiers
    prompt_tokens = np.full(N, 50)
    return ExperimentInputs(
        dataset=dataset, queries=rows["query"], tasks=np.asarray(rows["task"]),
        outcomes=TierOutcomes.from_dataset(dataset, tiers, prompt_tokens=prompt_tokens),
        features=features, features_no_prompt=None, embeddings=embeddings,
        labels=label_variants(dataset, ["device", "edge", "cloud"]), prompt_tokens=prompt_tokens,
        overheads=RouterOverheads(prompt_extension_ms=2.0, prefill_ms_per_token=0.1, encoder_ms=15.0),
        causal_lm=tiny_causal_lm(), tokenizer=tiny_tokenizer(),
    )


@pytest.fixture(scope="module")
def split_runs(recipe, inputs):
    split = make_splits(recipe, inputs.tasks)[0]
    data = BaselineData.from_routing_dataset(inputs.dataset, recipe.tiers, inputs.embeddings)
    runs, router = evaluate_split(recipe, inputs, split, data)
    return split, {run.router: run for run in runs}, router, runs


def test_splits_cover_random_seeds_and_each_held_out_task(recipe, inputs):
    splits = make_splits(recipe, inputs.tasks)
    assert [s.name for s in splits] == ["random-seed0", "lotu-crux", "lotu-gsm"]
    for split in splits:
        assert not set(split.train) & set(split.test) and not set(split.calibration) & set(split.test)
    assert set(inputs.tasks[splits[1].test]) == {"crux"}


def test_every_router_is_measured(split_runs):
    _, runs, _, _ = split_runs
    assert set(runs) == {
        "consroute", "consroute/global-threshold", "consroute/correctness-targets", "routerbench-knn",
        "device-only", "edge-only", "cloud-only", "oracle", "oracle@95%", "random",
    }


def test_fixed_routers_match_hand_computed_points(split_runs, inputs):
    split, runs, _, _ = split_runs
    test_correct = inputs.outcomes.correct[split.test]
    cloud_accuracy = test_correct[:, 2].mean()
    assert runs["cloud-only"].test.cost_pct_of_cloud == pytest.approx(100.0)
    # same output tokens on every tier: cost share = activated parameters ratio (1.7B / 32B, 14B / 32B)
    assert runs["device-only"].test.cost_pct_of_cloud == pytest.approx(100 * 1.7 / 32)
    assert runs["edge-only"].test.cost_pct_of_cloud == pytest.approx(100 * 14 / 32)
    assert runs["edge-only"].test.accuracy == pytest.approx(test_correct[:, 1].mean())
    # nested correctness: the oracle sends each query to the cheapest right tier (the device when none
    # is right), so it matches cloud accuracy
    assert runs["oracle"].test.accuracy == pytest.approx(cloud_accuracy)
    device = test_correct[:, 0] | ~test_correct[:, 2]
    edge = test_correct[:, 1] & ~test_correct[:, 0]
    cloud = test_correct[:, 2] & ~test_correct[:, 1]
    expected_cost = (1.7 * device.sum() + 14 * edge.sum() + 32 * cloud.sum()) / (32 * len(device))
    assert runs["oracle"].test.cost_pct_of_cloud == pytest.approx(100 * expected_cost)


def test_consroute_finds_the_planted_signal(split_runs):
    _, runs, router, _ = split_runs
    consroute = runs["consroute"]
    assert consroute.test.accuracy_pct_of_cloud >= 90.0
    assert consroute.test.cost_pct_of_cloud < 75.0
    assert consroute.apgr > 0.6
    assert router.config.num_clusters in (2, 3)
    assert np.asarray(router.config.cluster_thresholds).shape == (router.config.num_clusters, 2)


def test_random_router_matches_consroute_cost(split_runs):
    _, runs, _, _ = split_runs
    assert runs["random"].test.cost_pct_of_cloud == pytest.approx(runs["consroute"].test.cost_pct_of_cloud, abs=2.0)
    assert runs["random"].test.accuracy < runs["consroute"].test.accuracy


def test_global_threshold_ablation_has_no_clusters(split_runs):
    _, runs, _, _ = split_runs
    ablation = runs["consroute/global-threshold"]
    assert ablation.curve is not None and len(ablation.curve) == 11


def test_report_files_and_aggregates(recipe, inputs, split_runs):
    split, runs, router, run_list = split_runs
    router.tokenizer = inputs.tokenizer
    run_dir = recipe.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    router.save_pretrained(run_dir / "router")
    result = ReproduceResult(runs=run_list, run_dir=run_dir, router_path=run_dir / "router", stage_seconds={"train": 1.0})
    metrics = write_report(recipe, result, inputs, router)

    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["headline"]["cost_pct_of_cloud"] == pytest.approx(runs["consroute"].test.cost_pct_of_cloud)
    assert saved["results"]["random"]["oracle"]["accuracy"]["mean"] == pytest.approx(100 * runs["oracle"].test.accuracy)
    assert metrics["num_clusters"] == router.config.num_clusters
    table = (run_dir / "results.md").read_text()
    for name in runs:
        assert f"| {name} |" in table
    for plot in ("deferral_cost.png", "deferral_latency.png"):
        assert (run_dir / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = ModelCard.load(run_dir / "README.md")
    results = card.data.eval_results
    assert results, "the model card carries model-index results"
    assert yaml.safe_load(card.content.split("---")[1])["model-index"]


def test_aggregate_means_and_spreads_over_splits(split_runs):
    _, runs, _, _ = split_runs
    first = runs["consroute"]
    second = type(first)(**{**vars(first), "split": "random-seed1"})
    second.test = type(first.test)(**{**vars(first.test), "cost_pct_of_cloud": first.test.cost_pct_of_cloud + 10.0})
    aggregated = aggregate([first, second])["random"]["consroute"]["cost_pct_of_cloud"]
    assert aggregated["mean"] == pytest.approx(first.test.cost_pct_of_cloud + 5.0)
    assert aggregated["std"] == pytest.approx(5.0)
    assert aggregated["n"] == 2


def test_consroute_overhead_follows_the_device_profile():
    from consroute_hf import TierSpec

    device = TierSpec("device", 2.6, prefill_tokens_per_s=400.0)
    overheads = RouterOverheads.from_profiles(device, prompt_tokens=18, encoder_ms=44.0)
    assert overheads.prompt_extension_ms == pytest.approx(18 / 400 * 1000)
    # a device-routed query reuses its prefill; one sent off the device paid it on the device first
    added = overheads.consroute(np.array([0, 1, 2]), np.array([100, 100, 40]))
    np.testing.assert_allclose(added, [45.0, 45.0 + 250.0, 45.0 + 100.0])
