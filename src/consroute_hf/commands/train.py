"""``consroute train``: train a router as a recipe says (``consroute_hf.training.train_router``)."""

from __future__ import annotations

import argparse
import json
import logging

from ._recipe_args import add_recipe_arguments, recipe_from_args

logger = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> int:
    from ..training import train_router

    recipe = recipe_from_args(args)
    result = train_router(recipe)
    shown = {k: v for k, v in result.metrics.items() if k.startswith(("eval_loss", "eval_mae", "eval_auroc", "eval_brier"))}
    print(json.dumps({"run_dir": str(recipe.run_dir), **shown}, indent=2))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train a router (head on cached device-LM features, or LoRA end to end)",
        description="Dataset -> split -> device LM -> features -> Trainer; saves <output_dir>/<name>/router "
        "(full) and router-head (head only). Multi-GPU: accelerate launch -m consroute_hf.cli train ...",
    )
    add_recipe_arguments(parser)
    parser.set_defaults(func=run)
