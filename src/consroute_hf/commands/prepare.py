"""``consroute prepare``: build (or load from cache) the routing dataset of a recipe."""

from __future__ import annotations

import argparse
import logging
import time

from ._recipe_args import add_recipe_arguments, recipe_from_args

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prepare", help="build the routing dataset (responses, graded answers, token counts, soft targets)",
        description="Build the routing dataset a recipe describes and cache it under <cache_dir>/datasets/.",
    )
    add_recipe_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data import build_routing_dataset

    recipe = recipe_from_args(args)
    start = time.perf_counter()
    dataset = build_routing_dataset(recipe)
    elapsed = time.perf_counter() - start
    tiers = recipe.tier_names
    print(f"{recipe.name}: {len(dataset)} queries, tiers {tiers}, targets={recipe.data.targets} ({elapsed:.1f} s)")
    for tier in tiers:
        graded = [c for c in dataset[f"correct_{tier}"] if c is not None]
        tokens = dataset[f"output_tokens_{tier}"]
        accuracy = 100.0 * sum(graded) / len(graded) if graded else float("nan")
        print(f"  {tier:>8}: accuracy {accuracy:5.1f}%  mean output tokens {sum(tokens) / len(tokens):6.1f}")
    labels = dataset["labels"]
    for j, tier in enumerate(tiers[:-1]):
        values = [row[j] for row in labels]
        print(f"  label[{tier} vs {tiers[-1]}]: mean {sum(values) / len(values):.3f}")
    return 0
