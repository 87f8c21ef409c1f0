"""How well does the router's device score rank device correctness? Compared with probes on the same split.

    python -m consroute_hf.training.report --recipe recipes/zeroeval-gemma2.yaml

Trains the head on cached device-LM features (timing it), then reports, on the validation rows
(held out of the train split for early stopping) and on the test split, the ROC AUC of each
routable tier's predicted score against that tier's correctness, next to models trained on the
same fit rows to predict that correctness directly:

- the same head on the same features, trained on the tiers' own correctness instead of the
  recipe's soft targets (isolates the choice of target);
- MiniLM (all-MiniLM-L6-v2) query embeddings + logistic regression;
- the same device-LM features the router reads + logistic regression.

Writes ``<run_dir>/auroc_report.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegressionCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..commands._recipe_args import add_recipe_arguments, recipe_from_args
from ..embeddings import embed_texts
from ..recipe import Recipe
from .head import train_head
from .metrics import auroc_or_nan
from .pipeline import build_router, prepare_training_data, write_json_atomic

logger = logging.getLogger(__name__)


def fit_probe(train_x: np.ndarray, train_y: np.ndarray, seed: int):
    """A standardised, cross-validated (5-fold, AUROC) logistic regression predicting correctness.

    Args:
        train_x: (N, E) query representations; train_y: (N,) 1/0, NaN rows ignored.

    Returns:
        The fitted sklearn pipeline (``predict_proba(x)[:, 1]`` = P(correct)).
    """
    known = ~np.isnan(train_y)
    probe = make_pipeline(
        StandardScaler(), LogisticRegressionCV(Cs=8, cv=5, scoring="roc_auc", max_iter=2000, random_state=seed)
    )
    return probe.fit(train_x[known], train_y[known].astype(int))


def auroc_report(recipe: Recipe) -> dict[str, Any]:
    """Train the head and measure AUROCs of router scores and probes (see the module docstring)."""
    data = prepare_training_data(recipe)
    fit, val, test = data.fit, data.validation, data.split.test
    start = time.perf_counter()
    result = train_head(
        data.router, data.features[fit], data.labels[fit], data.features[val], data.labels[val],
        recipe.training, recipe.run_dir / "report-trainer", eval_correct=data.correct[val],
    )
    training_seconds = time.perf_counter() - start
    router = result.router
    # Ablation on the same features and split: the same head trained on the tiers' own correctness.
    known = ~np.isnan(data.correct[:, :-1]).any(axis=1)
    fit_c, val_c = fit[known[fit]], val[known[val]]
    correctness_router = build_router(recipe, data.router.backbone, data.tokenizer)
    train_head(
        correctness_router, data.features[fit_c], data.correct[fit_c, :-1], data.features[val_c],
        data.correct[val_c, :-1], recipe.training, recipe.run_dir / "report-trainer-correctness",
    )
    queries = list(data.dataset["query"])
    embeddings = embed_texts(queries, cache_dir=recipe.cache_path / "embeddings", show_progress_bar=False)
    features = data.features.numpy()
    tiers = recipe.tier_names
    seed = recipe.training.seed
    probes = {
        (name, t): fit_probe(x[fit], data.correct[fit, t], seed)
        for name, x in (("minilm_logreg", embeddings), ("device_lm_logreg", features))
        for t in range(len(tiers) - 1)
    }
    rows = []
    for split_name, index in (("validation", val), ("test", test)):
        scores = router.predict_scores(features[index])
        correctness_scores = correctness_router.predict_scores(features[index])
        for t, tier in enumerate(tiers[:-1]):
            outcome = data.correct[index, t]
            rows.append({
                "split": split_name, "tier": tier, "n": int((~np.isnan(outcome)).sum()),
                "positive_rate": float(np.nanmean(outcome)),
                "consroute_head": auroc_or_nan(outcome, scores[:, t]),
                "head_on_correctness": auroc_or_nan(outcome, correctness_scores[:, t]),
                "minilm_logreg": auroc_or_nan(outcome, probes["minilm_logreg", t].predict_proba(embeddings[index])[:, 1]),
                "device_lm_logreg": auroc_or_nan(outcome, probes["device_lm_logreg", t].predict_proba(features[index])[:, 1]),
            })
    report = {
        "recipe": recipe.name, "backbone": recipe.backbone.name_or_path, "split": data.split.name,
        "n_fit": len(fit), "n_validation": len(val), "n_test": len(test), "n_queries": len(data.dataset),
        "feature_seconds": round(data.extraction_seconds, 2), "head_training_seconds": round(training_seconds, 2),
        "best_epoch": result.metrics.get("best_epoch"), "eval_loss": result.metrics.get("eval_loss"), "auroc": rows,
    }
    write_json_atomic(recipe.run_dir / "auroc_report.json", report)
    return report


def format_report(report: dict[str, Any]) -> str:
    """A markdown table of the AUROC rows."""
    lines = [
        "| split | tier | n | share correct | ConsRoute head (device-LM features, recipe's soft targets) "
        "| same head trained on correctness | MiniLM + logistic regression | device-LM features + logistic regression |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["auroc"]:
        lines.append(
            f"| {row['split']} | {row['tier']} | {row['n']} | {row['positive_rate']:.3f} | {row['consroute_head']:.3f} | "
            f"{row['head_on_correctness']:.3f} | "
            f"{row['minilm_logreg']:.3f} | {row['device_lm_logreg']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consroute_hf.training.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_recipe_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    report = auroc_report(recipe_from_args(args))
    print(format_report(report))
    print(json.dumps({k: v for k, v in report.items() if k != "auroc"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
