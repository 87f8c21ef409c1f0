"""``consroute calibrate``: cluster a trained router's features and tune per-cluster thresholds."""

from __future__ import annotations

import argparse
import json
import logging

from ._recipe_args import add_recipe_arguments, recipe_from_args

logger = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> int:
    from ..calibration import calibrate_router
    from ..data import build_routing_dataset
    from ..evaluation import TierOutcomes
    from ..experiments.feature_store import features_by_query
    from ..experiments.runs import tune_kwargs
    from ..modeling_consroute import ConsRouterForTierSelection
    from ..splits import random_split

    recipe = recipe_from_args(args)
    dataset = build_routing_dataset(recipe)
    router = ConsRouterForTierSelection.from_pretrained(args.router)
    if router.tokenizer is None:
        raise ValueError(f"{args.router} holds no tokenizer: save the router with `router.tokenizer` set.")
    split = random_split(len(dataset), recipe.split.seed, recipe.split.fractions)
    rows = dataset.select(split.calibration)
    features = features_by_query(  # shared with `consroute reproduce`: nothing is extracted twice
        router, list(rows["query"]), router.tokenizer, recipe.backbone.batch_size, recipe.cache_path / "features"
    )
    calibration = recipe.calibration
    result = calibrate_router(
        router, features, router.predict_scores(features), TierOutcomes.from_dataset(rows, recipe.tiers),
        n_clusters=calibration.n_clusters, k_range=tuple(calibration.k_range), profile=args.profile,
        n_trials=calibration.n_trials, **tune_kwargs(recipe),
    )
    router.save_pretrained(args.output or args.router)
    print(json.dumps(result.metadata, indent=2, default=str))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("calibrate", help="tune per-cluster thresholds of a trained router (k-means + optuna)")
    add_recipe_arguments(parser)
    parser.add_argument("--router", required=True, help="trained router checkpoint folder (with its tokenizer)")
    parser.add_argument("--profile", default=None, help="store as a named threshold profile instead of the main calibration")
    parser.add_argument("--output", default=None, help="where to save the calibrated router (default: in place)")
    parser.set_defaults(func=run)
