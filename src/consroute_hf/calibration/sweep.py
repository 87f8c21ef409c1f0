"""A whole deferral curve from one calibration: budget-mode thresholds for many accuracy targets.

One multi-objective optuna TPE study per group (all rows, then each cluster large enough) explores
the (correct answers up, spend down) frontier of its thresholds. For each target the split-wide
constraint ``accuracy >= target x cloud-only`` is then met at least spend from those trials, as in
``tune_thresholds``'s budget mode (per-cluster choice, then the global allocation). Sweeping
``targets`` this way costs one calibration instead of one per target.

Shapes: N calibration queries, T tiers, K clusters.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import optuna
from tqdm.auto import tqdm

from ..evaluation.outcomes import NetworkProfile, TierOutcomes
from .thresholds import (
    CalibrationResult, _cluster_labels, _Group, _Problem, _quiet_optuna, _seed_for, _Tuned, _validate,
)

#: Accuracy targets (fractions of cloud-only accuracy) swept by default.
DEFAULT_SWEEP_TARGETS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.925, 0.95, 0.975, 1.0)


def tune_threshold_sweep(
    scores: np.ndarray,
    clusters: np.ndarray | None,
    outcomes: TierOutcomes,
    targets: Sequence[float] = DEFAULT_SWEEP_TARGETS,
    minimise: str = "cost",
    n_trials: int = 300,
    seed: int = 0,
    min_cluster_size: int = 20,
    network: str | NetworkProfile = "good",
    *,
    n_clusters: int | None = None,
    allocation: str = "global",
    show_progress: bool = True,
) -> list[CalibrationResult]:
    """Budget-mode calibrations for every target in ``targets``, sorted by target.

    Args:
        scores: (N, T-1) scores. clusters: (N,) cluster indices or None (global thresholds only).
        outcomes: the split's outcomes.
        targets: accuracy targets, fractions of cloud-only accuracy in (0, 1].
        minimise, n_trials, seed, min_cluster_size, network, n_clusters, allocation, show_progress:
            as in ``tune_thresholds`` (``n_trials`` per group, two anchor trials included).

    Returns:
        One ``CalibrationResult`` per target (ascending); apply each to a test split with
        ``result.route(scores, clusters)`` and pass the assignments to ``deferral_curve``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n_rows, n_tiers = outcomes.num_queries, len(outcomes.tiers)
    if len(targets) == 0:
        raise ValueError("`targets` is empty: give at least one accuracy target.")
    for target in targets:
        _validate(scores, n_rows, n_tiers, "budget", target, minimise, (1.0, 0.0, 0.0), n_trials, 0.0, allocation)
    labels, k = _cluster_labels(clusters, n_rows, n_clusters, None)
    problem = _Problem.build(scores, labels, k, outcomes, "budget", minimise, (1.0, 0.0, 0.0), network, min_cluster_size)
    explored: dict[int | None, _Tuned] = {}
    with _quiet_optuna():
        for index, cluster in enumerate(
            tqdm(problem.jobs, desc="Exploring thresholds", unit="cluster", disable=not show_progress, leave=False)
        ):
            explored[cluster] = _explore_group(problem.groups[cluster], problem.names, n_trials, _seed_for(seed, index))
    results = []
    for target in sorted(float(t) for t in targets):
        tuned = {
            group: _cheapest_reaching(trials, target * problem.groups[group].correct[:, -1].sum())
            for group, trials in explored.items()
        }
        settings = {
            "mode": "budget", "target": target, "margin": 0.0, "minimise": minimise, "allocation": allocation,
            "n_trials": int(n_trials), "seed": int(seed), "sweep": True,
        }
        results.append(problem.result(tuned, scores, outcomes, network, settings, target))
    return results


def _explore_group(grp: _Group, names: list[str], n_trials: int, seed: int) -> _Tuned:
    """Multi-objective TPE (maximise correct answers, minimise spend); every trial is recorded."""
    records: list[tuple[np.ndarray, float, float]] = []

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        thresholds = np.array([trial.suggest_float(name, 0.0, 1.0) for name in names])
        n_correct, spent, _ = grp.evaluate(thresholds)
        records.append((thresholds, n_correct, spent))
        return n_correct, spent

    sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    for anchor in (1.0, 0.0):  # all-cloud and all-cheapest
        study.enqueue_trial({name: anchor for name in names})
    study.optimize(objective, n_trials=max(n_trials, 1))
    thresholds, n_correct, spent = zip(*records)
    first = np.asarray(thresholds[0])
    return _Tuned(first, float(n_correct[0]), np.array(thresholds), np.array(n_correct), np.array(spent))


def _cheapest_reaching(trials: _Tuned, need: float) -> _Tuned:
    """The cheapest recorded trial with at least ``need`` correct answers (else the most accurate one)."""
    feasible = np.flatnonzero(trials.trial_correct >= need - 1e-9)
    if len(feasible):
        index = int(feasible[np.argmin(trials.trial_spend[feasible])])
    else:
        index = int(np.lexsort((trials.trial_spend, -trials.trial_correct))[0])
    return _Tuned(
        trials.trial_thresholds[index], float(trials.trial_correct[index]),
        trials.trial_thresholds, trials.trial_correct, trials.trial_spend,
    )


__all__ = ["tune_threshold_sweep", "DEFAULT_SWEEP_TARGETS"]
