"""Validation metrics of a router's consistency scores (``compute_metrics`` for ``transformers.Trainer``).

Shapes: N queries, T tiers (T-1 routable tiers: all but the reference tier).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from sklearn.metrics import roc_auc_score
from transformers import EvalPrediction


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def auroc_or_nan(outcome: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of ``score`` against binary ``outcome`` (NaN entries ignored); NaN when only one class is present."""
    outcome = np.asarray(outcome, dtype=np.float64)
    known = ~np.isnan(outcome)
    if len(np.unique(outcome[known])) < 2:
        return float("nan")
    return float(roc_auc_score(outcome[known].astype(int), np.asarray(score)[known]))


def routing_metrics(
    scores: np.ndarray, targets: np.ndarray, correct: np.ndarray | None, tier_names: Sequence[str]
) -> dict[str, float]:
    """Per-tier quality of predicted consistency scores.

    Args:
        scores: (N, T-1) predicted scores in [0, 1].
        targets: (N, T-1) soft consistency targets in [0, 1].
        correct: (N, T) tier correctness (1/0, NaN = unknown), or None.
        tier_names: the T tier names, cheapest first.

    Returns:
        For each routable tier t: ``mae_<t>`` (|score - target|, soft targets), and with ``correct``:
        ``brier_<t>`` (mean (score - correct)^2) and ``auroc_<t>`` (ROC AUC of the score against the
        tier's own correctness; NaN when one class only). Also the means over tiers: ``mae``,
        ``brier``, ``auroc``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    n_routable = len(tier_names) - 1
    if scores.shape != targets.shape or scores.ndim != 2 or scores.shape[1] != n_routable:
        raise ValueError(
            f"`scores` and `targets` must both be (N, {n_routable}), got {scores.shape} and {targets.shape}."
        )
    metrics: dict[str, float] = {}
    for tier in range(n_routable):
        name = tier_names[tier]
        metrics[f"mae_{name}"] = float(np.abs(scores[:, tier] - targets[:, tier]).mean())
    if correct is not None:
        correct = np.asarray(correct, dtype=np.float64)
        if correct.shape != (len(scores), len(tier_names)):
            raise ValueError(f"`correct` must be (N, T) = ({len(scores)}, {len(tier_names)}), got {correct.shape}.")
        for tier in range(n_routable):
            name = tier_names[tier]
            known = ~np.isnan(correct[:, tier])
            metrics[f"brier_{name}"] = float(((scores[known, tier] - correct[known, tier]) ** 2).mean()) if known.any() else float("nan")
            metrics[f"auroc_{name}"] = auroc_or_nan(correct[:, tier], scores[:, tier])
    for kind in ("mae", "brier", "auroc"):
        values = [metrics[f"{kind}_{tier_names[t]}"] for t in range(n_routable) if f"{kind}_{tier_names[t]}" in metrics]
        if values:
            metrics[kind] = float(np.nanmean(values)) if not np.all(np.isnan(values)) else float("nan")
    return metrics


def make_compute_metrics(
    tier_names: Sequence[str], eval_correct: np.ndarray | None
) -> Callable[[EvalPrediction], dict[str, float]]:
    """A Trainer ``compute_metrics``: logits (N, T-1) and labels (N, T-1) -> [`routing_metrics`].

    ``eval_correct`` (N, T) must be in the evaluation dataset's row order (Trainer keeps that order,
    also under DDP).
    """

    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        labels = prediction.label_ids
        if eval_correct is not None and len(eval_correct) != len(logits):
            raise ValueError(f"`eval_correct` has {len(eval_correct)} rows but evaluation produced {len(logits)}.")
        return routing_metrics(_sigmoid(np.asarray(logits, dtype=np.float64)), labels, eval_correct, tier_names)

    return compute_metrics
