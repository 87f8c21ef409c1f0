"""Arguments shared by sub-commands that read a recipe."""

from __future__ import annotations

import argparse

from ..recipe import Recipe


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipe", required=True, help="recipe YAML file (see recipes/)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
        help="override any recipe field, e.g. --set training.learning_rate=3e-4 (repeatable)",
    )
    parser.add_argument("--data", default=None, help="data root (overrides data.root and $CONSROUTE_DATA)")


def recipe_from_args(args: argparse.Namespace) -> Recipe:
    overrides = list(args.overrides)
    if args.data:
        overrides.append(f"data.root={args.data}")
    return Recipe.from_yaml(args.recipe, overrides)
