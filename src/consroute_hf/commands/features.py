"""``consroute features``: extract and cache the device-LM routing features of a recipe's dataset."""

from __future__ import annotations

import argparse
import json
import logging

from ._recipe_args import add_recipe_arguments, recipe_from_args

logger = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> int:
    from ..training import prepare_training_data

    recipe = recipe_from_args(args)
    data = prepare_training_data(recipe)
    print(json.dumps({
        "rows": int(data.features.shape[0]), "dim": int(data.features.shape[1]),
        "seconds": round(data.extraction_seconds, 2), "cache_dir": str(recipe.cache_path / "features"),
    }))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "features", help="extract and cache device-LM routing features for a recipe's dataset",
        description="Runs the device LM's prefill over every query (length-bucketed batches) and caches the "
        "features; later train/calibrate runs load them in seconds. Works under accelerate launch / torchrun.",
    )
    add_recipe_arguments(parser)
    parser.set_defaults(func=run)
