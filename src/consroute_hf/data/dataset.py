"""Build the routing dataset a recipe describes, and cache it on disk under a key of all its inputs.

Columns (T tiers, the last is the reference tier):

* ``id``, ``task``, ``query``, ``reference`` (gold answer or None);
* per tier ``t``: ``response_<t>``, ``answer_<t>`` (extracted final answer or None),
  ``output_tokens_<t>`` (tokens of the response), ``correct_<t>`` (bool, None without a gold answer);
* ``consistency``: T-1 scorer scores of each non-reference tier vs the reference tier (None when
  the targets need no scorer);
* ``labels``: the T-1 soft targets (see :mod:`consroute_hf.data.targets`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from ..recipe import Recipe
from .graders import extract_answer
from .loaders import ZEROEVAL_HINT, load_hub_responses, load_responses_jsonl, load_zeroeval
from .scorers import ConsistencyScorer, make_scorer
from .targets import TARGET_MODES, consistency_text, grade_responses, soft_targets
from .tokens import DEFAULT_TOKEN_COUNTER, TokenCounter

logger = logging.getLogger(__name__)

#: Bump when the dataset's content or layout changes for the same inputs (invalidates caches).
BUILD_VERSION = 1


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _input_files(recipe: Recipe) -> list[Path]:
    """The files the dataset is read from (their contents are part of the cache key)."""
    data, root = recipe.data, recipe.data_root
    if data.source == "zeroeval":
        if not root.is_dir():
            raise FileNotFoundError(f"ZeroEval data root {root} does not exist. {ZEROEVAL_HINT}")
        files = []
        for task in data.tasks:
            for tier in recipe.tier_names:
                spec = data.tier_files.get(tier)
                if spec is None:
                    raise ValueError(f"data.tier_files names no files for tier {tier!r}; tiers are {recipe.tier_names}.")
                stem = spec if isinstance(spec, str) else spec.get(task)
                if stem is None:
                    raise ValueError(f"data.tier_files.{tier} names no file for task {task!r}.")
                path = root / task / f"{stem}.json"
                if not path.is_file():
                    raise FileNotFoundError(f"Missing ZeroEval result file {path} (tier {tier!r}, task {task!r}). {ZEROEVAL_HINT}")
                files.append(path)
        return files
    if data.source == "jsonl":
        if not root.is_file():
            raise FileNotFoundError(f"Responses file {root} (data.root) does not exist.")
        return [root]
    if data.source == "hub":
        return []
    raise ValueError(f"Unknown data.source {data.source!r}; choose 'zeroeval', 'jsonl' or 'hub'.")


def dataset_cache_key(recipe: Recipe, scorer_fingerprint: str | None, token_counter_name: str) -> str:
    """A key of everything the dataset depends on: data settings, tier names, file contents,
    the scorer and the token counter."""
    data = recipe.data
    payload = {
        "version": BUILD_VERSION,
        "tiers": recipe.tier_names,
        "source": data.source,
        "root": str(recipe.data_root) if data.source == "hub" else None,
        "tasks": list(data.tasks),
        "tier_files": data.tier_files,
        "on_missing": data.on_missing,
        "targets": data.targets,
        "blend_weight": data.blend_weight if data.targets == "blend" else None,
        "scorer": scorer_fingerprint,
        "token_counter": token_counter_name,
        "files": [_file_digest(path) for path in _input_files(recipe)],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]


def load_recipe_responses(recipe: Recipe) -> datasets.Dataset:
    """The raw aligned responses (``id``, ``task``, ``query``, ``reference``, ``response_<t>``)."""
    data = recipe.data
    if data.source == "zeroeval":
        tiers = {tier: data.tier_files[tier] for tier in recipe.tier_names}
        return load_zeroeval(recipe.data_root, tiers, tasks=tuple(data.tasks), on_missing=data.on_missing)
    if data.source == "jsonl":
        return load_responses_jsonl(recipe.data_root, recipe.tier_names, on_missing=data.on_missing)
    return load_hub_responses(str(recipe.data_root), recipe.tier_names, on_missing=data.on_missing)


def _needs_scorer(recipe: Recipe, has_all_references: bool | None) -> bool:
    return recipe.data.targets != "correctness" or has_all_references is False


def add_routing_columns(
    raw: datasets.Dataset,
    tiers: list[str],
    scorer: ConsistencyScorer | None,
    token_counter: TokenCounter,
    targets: str = "blend",
    blend_weight: float = 0.5,
) -> datasets.Dataset:
    """Add ``answer_<t>``, ``output_tokens_<t>``, ``correct_<t>``, ``consistency`` and ``labels`` to raw responses."""
    if targets not in TARGET_MODES:
        raise ValueError(f"data.targets must be one of {TARGET_MODES}, got {targets!r}.")
    columns: dict[str, Any] = {}
    tasks, references = raw["task"], raw["reference"]
    correct = np.full((len(raw), len(tiers)), np.nan)  # (N, T)
    responses = {t: raw[f"response_{t}"] for t in tiers}
    for j, tier in enumerate(tiers):
        answers = [extract_answer(r) for r in responses[tier]]
        graded = grade_responses(tasks, references, answers)
        columns[f"answer_{tier}"] = answers
        columns[f"output_tokens_{tier}"] = token_counter.count(responses[tier]).tolist()
        columns[f"correct_{tier}"] = graded
        correct[:, j] = [np.nan if g is None else float(g) for g in graded]
    consistency = None
    if scorer is not None:
        texts = {t: [consistency_text(r) for r in responses[t]] for t in tiers}
        # One call for all tiers, so shared texts (the reference responses) are encoded once.
        candidates = [text for t in tiers[:-1] for text in texts[t]]
        scored = scorer.score(candidates, texts[tiers[-1]] * (len(tiers) - 1))  # ((T-1) * N,)
        consistency = scored.reshape(len(tiers) - 1, len(raw)).T  # (N, T-1)
    labels = soft_targets(consistency, correct, targets, blend_weight)  # (N, T-1)
    columns["consistency"] = None if consistency is None else consistency.astype(np.float32).tolist()
    columns["labels"] = labels.tolist()
    out = raw
    for name, values in columns.items():
        if name == "consistency" and values is None:
            values = [None] * len(raw)
        out = out.add_column(name, values)
    return out.cast(routing_features(tiers))


def routing_features(tiers: list[str]) -> datasets.Features:
    """The ``datasets.Features`` of a routing dataset with these tiers."""
    features: dict[str, Any] = {
        "id": datasets.Value("string"), "task": datasets.Value("string"),
        "query": datasets.Value("string"), "reference": datasets.Value("string"),
    }
    for tier in tiers:
        features[f"response_{tier}"] = datasets.Value("string")
    for tier in tiers:
        features[f"answer_{tier}"] = datasets.Value("string")
        features[f"output_tokens_{tier}"] = datasets.Value("int64")
        features[f"correct_{tier}"] = datasets.Value("bool")
    features["consistency"] = datasets.Sequence(datasets.Value("float32"), length=len(tiers) - 1)
    features["labels"] = datasets.Sequence(datasets.Value("float32"), length=len(tiers) - 1)
    return datasets.Features(features)


def _save_atomic(dataset: datasets.Dataset, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f".{target.name}.tmp{os.getpid()}"
    if temporary.exists():
        shutil.rmtree(temporary)
    dataset.save_to_disk(str(temporary))
    try:
        os.replace(temporary, target)
    except OSError:  # another process finished first: keep its copy
        shutil.rmtree(temporary, ignore_errors=True)
        if not target.is_dir():
            raise


def routing_dataset_path(recipe: Recipe, scorer_fingerprint: str | None, token_counter_name: str) -> Path:
    """Where :func:`build_routing_dataset` caches the dataset for these inputs."""
    return recipe.cache_path / "datasets" / f"{recipe.name}-{dataset_cache_key(recipe, scorer_fingerprint, token_counter_name)}"


def build_routing_dataset(
    recipe: Recipe, scorer: ConsistencyScorer | None = None, token_counter: TokenCounter | None = None,
) -> datasets.Dataset:
    """The routing dataset of ``recipe`` (see the module docstring for its columns).

    Args:
        recipe: data settings in ``recipe.data``, tier order in ``recipe.tiers``.
        scorer: consistency scorer; default ``make_scorer(recipe.data.scorer, recipe.data.scorer_model)``,
            built only when the dataset is not cached yet.
        token_counter: default ``TokenCounter(recipe.data.token_counter)`` (SmolLM2's tokenizer).

    The result is saved with ``save_to_disk`` under ``recipe.cache_path / "datasets" / <name>-<key>``
    (key: data settings, tiers, input file contents, scorer, tokenizer); a later call with the same
    inputs loads it and computes nothing.
    """
    data = recipe.data
    if data.targets not in TARGET_MODES:
        raise ValueError(f"data.targets must be one of {TARGET_MODES}, got {data.targets!r}.")
    if len(recipe.tier_names) < 2:
        raise ValueError("A routing dataset needs at least two tiers.")
    counter_name = token_counter.name if token_counter is not None else (data.token_counter or DEFAULT_TOKEN_COUNTER)
    # The scorer's identity enters the key; a scorer is only loaded when the key misses.
    if scorer is not None:
        scorer_fingerprint = scorer.fingerprint
    elif data.targets == "correctness" and data.source == "zeroeval":
        scorer_fingerprint = None  # every ZeroEval query has a gold answer
    else:
        scorer_fingerprint = f"{data.scorer}:{data.scorer_model}"
    path = routing_dataset_path(recipe, scorer_fingerprint, counter_name)
    if path.is_dir():
        logger.info("Routing dataset cache hit: %s", path)
        return datasets.load_from_disk(str(path))
    raw = load_recipe_responses(recipe)
    has_all_references = all(r is not None for r in raw["reference"])
    if scorer is None and _needs_scorer(recipe, has_all_references):
        kwargs = {"cache_dir": recipe.cache_path / "embeddings"} if data.scorer == "embedding" else {}
        scorer = make_scorer(data.scorer, data.scorer_model, **kwargs)
    if token_counter is None:
        token_counter = TokenCounter(data.token_counter)
    dataset = add_routing_columns(
        raw, recipe.tier_names, scorer if _needs_scorer(recipe, has_all_references) else None,
        token_counter, data.targets, data.blend_weight,
    )
    _save_atomic(dataset, path)
    logger.info("Routing dataset built: %d rows -> %s", len(dataset), path)
    return datasets.load_from_disk(str(path))
