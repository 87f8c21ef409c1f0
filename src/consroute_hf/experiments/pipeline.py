"""The main job: prepare -> features -> train -> calibrate -> evaluate -> save (``consroute reproduce``)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from ..recipe import Recipe
from ..splits import SplitIndices, leave_one_task_out, random_split
from .feature_store import features_by_query
from .inputs import ExperimentInputs, RouterOverheads, label_variants, new_router
from .runs import RouterRun, run_consroute, run_fixed_router, run_learned_baseline

logger = logging.getLogger(__name__)

#: ConsRoute ablation name -> keyword arguments of ``run_consroute``.
ABLATIONS: dict[str, dict[str, Any]] = {
    "global-threshold": {"clusters": False},
    "no-prompt": {"no_prompt": True},
    "consistency-targets": {"label_kind": "consistency"},
    "correctness-targets": {"label_kind": "correctness"},
}


@dataclass
class ReproduceResult:
    """What the main job produced.

    Attributes:
        runs: every (router, split) result. run_dir: where artefacts were written.
        stage_seconds: wall time per stage. router_path: the saved full checkpoint.
    """

    runs: list[RouterRun]
    run_dir: Path
    router_path: Path
    stage_seconds: dict[str, float] = field(default_factory=dict)


def build_inputs(recipe: Recipe, stage_seconds: dict[str, float]) -> ExperimentInputs:
    """Dataset, device-LM features (with and without the prompt), embeddings, outcomes, overheads."""
    from ..data import build_routing_dataset
    from ..device_lm import load_device_lm
    from ..embeddings import embed_texts
    from ..evaluation import TierOutcomes

    start = time.perf_counter()
    dataset = build_routing_dataset(recipe)
    stage_seconds["prepare"] = time.perf_counter() - start

    start = time.perf_counter()
    backbone = recipe.backbone
    causal_lm, tokenizer = load_device_lm(
        backbone.name_or_path, dtype=backbone.dtype, device=backbone.device, gguf_file=backbone.gguf_file
    )
    queries = list(dataset["query"])
    router = new_router(recipe, causal_lm)
    feature_cache = recipe.cache_path / "features"
    features = features_by_query(
        router, queries, tokenizer, backbone.batch_size, feature_cache, dataset_fingerprint=dataset._fingerprint
    )
    features_no_prompt = None
    if "no-prompt" in recipe.evaluation.ablations:
        features_no_prompt = features_by_query(
            new_router(recipe, causal_lm, consistency_prompt=""), queries, tokenizer, backbone.batch_size,
            feature_cache, dataset_fingerprint=dataset._fingerprint,
        )
    prompt_tokens = np.array([len(router.encode_query(query, tokenizer)[0]) for query in queries])
    embeddings = embed_texts(queries, cache_dir=recipe.cache_path / "embeddings")
    stage_seconds["features"] = time.perf_counter() - start
    return ExperimentInputs(
        dataset=dataset, queries=queries, tasks=np.asarray(dataset["task"]),
        outcomes=TierOutcomes.from_dataset(dataset, recipe.tiers, prompt_tokens=prompt_tokens),
        features=features, features_no_prompt=features_no_prompt, embeddings=embeddings,
        labels=label_variants(dataset, recipe.tier_names), prompt_tokens=prompt_tokens,
        overheads=RouterOverheads.from_profiles(
            recipe.tiers[0], len(router.encode_query(queries[0], tokenizer)[1]), recipe.evaluation.encoder_overhead_ms
        ),
        causal_lm=causal_lm, tokenizer=tokenizer,
    )


def make_splits(recipe: Recipe, tasks: np.ndarray) -> list[SplitIndices]:
    """The seeded random splits, then (optionally) one leave-one-task-out split per task."""
    splits = [random_split(len(tasks), seed, recipe.split.fractions) for seed in recipe.split.seeds]
    if recipe.evaluation.leave_one_task_out:
        splits += [leave_one_task_out(tasks, task, seed=recipe.split.seed) for task in sorted(set(tasks.tolist()))]
    return splits


def evaluate_split(recipe: Recipe, inputs: ExperimentInputs, split: SplitIndices, baseline_data: Any) -> tuple[list[RouterRun], Any]:
    """Every router on one split. Returns the runs and the trained ConsRoute router."""
    from ..baselines import BASELINES, Oracle, RandomRouter

    consroute, router = run_consroute("consroute", recipe, inputs, split)
    runs = [consroute]
    for ablation in recipe.evaluation.ablations:
        variant = ABLATIONS[ablation]
        if variant.get("label_kind", "blend") not in inputs.labels:
            logger.warning("Skipping ablation %s: the dataset has no %s targets.", ablation, variant["label_kind"])
            continue
        runs.append(run_consroute(f"consroute/{ablation}", recipe, inputs, split, **variant)[0])
    router_split = f"random-seed{recipe.evaluation.router_split_seed}"
    for name in recipe.evaluation.baselines:
        if name not in BASELINES:
            raise ValueError(f"Unknown baseline {name!r}; known: {sorted(BASELINES)}.")
        if name in recipe.evaluation.single_split_baselines and split.name != router_split:
            continue
        runs.append(run_learned_baseline(name, recipe, inputs, split, baseline_data))
    test_data = baseline_data.subset(split.test)
    fixed = {
        "device-only": np.zeros(len(split.test), dtype=int),
        "edge-only": np.full(len(split.test), len(recipe.tiers) - 2),
        "cloud-only": np.full(len(split.test), len(recipe.tiers) - 1),
        "oracle": Oracle(fallback="cheapest").assign(test_data),
        f"oracle@{100 * recipe.calibration.target:.0f}%": Oracle(
            fallback="cheapest", accuracy_target=recipe.calibration.target
        ).assign(test_data),
        # a random mix of the two tiers whose costs bracket ConsRoute's (edge/cloud, or device/edge)
        "random": RandomRouter(
            cost_share=consroute.test.cost_pct_of_cloud / 100.0, tiers=range(len(recipe.tiers)), seed=recipe.split.seed
        ).assign(test_data),
    }
    runs += [run_fixed_router(name, split, inputs, assignment) for name, assignment in fixed.items()]
    return runs, router


def reproduce(recipe: Recipe) -> ReproduceResult:
    """Run the whole job and write ``runs/<name>/``: router, metrics.json, results.md, plots, model card."""
    from ..baselines import BaselineData
    from ..baselines.base import torch_threads
    from .report import write_report

    stage_seconds: dict[str, float] = {}
    data_root = recipe.data_root
    if recipe.data.source == "zeroeval" and not data_root.is_dir():
        raise FileNotFoundError(
            f"No ZeroEval data at {data_root}. Get `result_dirs/` from https://github.com/yuchenlin/ZeroEval "
            "(folders gsm/, math-l5/, crux/) and pass its path with --data or $CONSROUTE_DATA."
        )
    stages = tqdm(total=4, desc="reproduce", unit="stage")
    stages.set_postfix_str("prepare + features")
    inputs = build_inputs(recipe, stage_seconds)
    stages.update()
    baseline_data = BaselineData.from_routing_dataset(inputs.dataset, recipe.tiers, inputs.embeddings)

    stages.set_postfix_str("train + calibrate + evaluate")
    start = time.perf_counter()
    runs: list[RouterRun] = []
    saved_router = None
    splits = make_splits(recipe, inputs.tasks)
    # Heads, baselines and calibration are small models on cached features: thread hand-offs cost more
    # than they save, and oversubscribed cores slow them ~50x (see baselines.base.torch_threads).
    with torch_threads(recipe.evaluation.num_threads), threadpool_limits(recipe.evaluation.num_threads):
        for split in tqdm(splits, desc="splits", unit="split"):
            split_runs, router = evaluate_split(recipe, inputs, split, baseline_data)
            runs += split_runs
            if split.name == f"random-seed{recipe.evaluation.router_split_seed}":
                saved_router = router
    stage_seconds["train+calibrate+evaluate"] = time.perf_counter() - start
    stages.update()
    if saved_router is None:
        raise ValueError(
            f"evaluation.router_split_seed={recipe.evaluation.router_split_seed} is not in split.seeds={recipe.split.seeds}."
        )

    stages.set_postfix_str("save")
    start = time.perf_counter()
    run_dir = recipe.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    router_path = run_dir / "router"
    saved_router.tokenizer = inputs.tokenizer  # checkpoints carry the device tokenizer
    saved_router.save_pretrained(router_path)
    saved_router.save_pretrained(run_dir / "router-head", head_only=True)
    stage_seconds["save"] = time.perf_counter() - start
    stages.update()

    stages.set_postfix_str("report")
    result = ReproduceResult(runs=runs, run_dir=run_dir, router_path=router_path, stage_seconds=stage_seconds)
    write_report(recipe, result, inputs, saved_router)
    stages.update()
    stages.close()
    return result
