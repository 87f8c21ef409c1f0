"""``consroute reproduce``: prepare -> features -> train -> calibrate -> evaluate -> save."""

from __future__ import annotations

import argparse
import logging

from ._recipe_args import add_recipe_arguments, recipe_from_args

logger = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> int:
    from ..experiments import reproduce

    result = reproduce(recipe_from_args(args))
    logger.info("Wrote %s (router, metrics.json, results.md, plots, README.md).", result.run_dir)
    print((result.run_dir / "results.md").read_text())
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("reproduce", help="run the main job of a recipe and write runs/<name>/")
    add_recipe_arguments(parser)
    parser.set_defaults(func=run)
