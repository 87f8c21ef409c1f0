"""Per-cluster routing thresholds tuned by Bayesian optimisation (optuna TPE) on a calibration split.

Shapes: N calibration queries, T tiers (T-1 routable tiers, the last is the reference "cloud"
tier), K clusters.

Two modes:

* ``"utility"`` (the paper's objective): maximise
  ``U = l1 * accuracy/acc_cloud - l2 * latency/latency_cloud - l3 * cost/cost_cloud``, each term
  relative to sending the whole split to the cloud tier. With those split-wide denominators U is a
  sum of per-cluster contributions, so tuning each cluster for its own contribution maximises the
  split's U exactly.
* ``"budget"`` (what users ask for): least cost (or latency) subject to
  ``accuracy >= (target + margin) * acc_cloud`` on the split. Each cluster is first tuned under its
  own share of the constraint (its accuracy >= (target + margin) x its own cloud-only accuracy);
  every trial's (correct, spend) is kept. The split-wide constraint is then met at least cost by
  choosing one trial per cluster: a Lagrangian greedy over each cluster's convex frontier
  (upgrading where an extra correct answer is cheapest) followed by single-cluster swaps that
  lower the spend while keeping the constraint; the cheaper of that and the per-cluster choice
  wins (``allocation="per_cluster"`` keeps the per-cluster choice). ``margin`` (e.g. 0.01) asks
  for a little more accuracy than the target on calibration so the target still holds on a test
  split. Thresholds picked on a split overfit it (the more clusters, the more), so a target met on
  calibration is usually missed by a few points on test. ``margin="auto"`` estimates that
  shortfall by ``cv_folds``-fold cross-validation on the calibration split (tune on the other
  folds, route the held-out fold, pool the held-out decisions) and uses it as the margin, capped
  at ``1 - target``.

Clusters with fewer than ``min_cluster_size`` calibration rows use the global thresholds, tuned
the same way on all rows. The router's own latency overhead is the same for every routing
decision, so it does not enter the objective.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np
import optuna
from sklearn.model_selection import KFold
from tqdm.auto import tqdm

from ..evaluation.operating_point import operating_point
from ..evaluation.outcomes import NetworkProfile, TierOutcomes
from ..modeling_consroute import select_tiers

logger = logging.getLogger(__name__)

MODES = ("budget", "utility")
MINIMISE = ("cost", "latency")
ALLOCATIONS = ("global", "per_cluster")


@dataclass
class CalibrationResult:
    """Tuned thresholds and how they were obtained.

    Attributes:
        cluster_thresholds: (K, T-1) thresholds per cluster (fallback clusters hold the global
            ones), or None when tuned without clusters.
        default_thresholds: (T-1,) global thresholds (tuned on all rows).
        metadata: JSON-ready record: mode, weights, target, margin, minimise, allocation,
            n_trials, seed, network, split_size, n_clusters, cluster_sizes, fallback_clusters,
            achieved (accuracy, accuracy/cost/latency % of cloud, tier mix on the split) and, in
            budget mode, constraint_met.
        assignment: (N,) tier chosen for each calibration row with the tuned thresholds.
    """

    cluster_thresholds: np.ndarray | None
    default_thresholds: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)
    assignment: np.ndarray | None = None

    def route(self, scores: np.ndarray, clusters: np.ndarray | None = None) -> np.ndarray:
        """Apply the tuned thresholds to another split (what the router does at serving time).

        Args:
            scores: (M, T-1) scores. clusters: (M,) cluster indices, or None for the global thresholds.

        Returns:
            (M,) tier indices (``consroute_hf.select_tiers``).
        """
        scores = np.asarray(scores, dtype=np.float64)
        if self.cluster_thresholds is not None and clusters is not None:
            return select_tiers(scores, self.cluster_thresholds[np.asarray(clusters)])
        if self.cluster_thresholds is not None:
            raise ValueError("These thresholds are per cluster: pass each row's cluster (e.g. ClusterModel.predict).")
        return select_tiers(scores, self.default_thresholds)


@dataclass
class _Group:
    """The precomputed arrays of one cluster (or of all rows): objective evaluations index into these."""

    scores: np.ndarray  # (n, T-1)
    correct: np.ndarray  # (n, T) float
    spend: np.ndarray  # (n, T) the budget-mode quantity (cost or latency)
    utility: np.ndarray  # (n, T) per-row utility contribution of each tier (utility mode)

    def evaluate(self, thresholds: np.ndarray) -> tuple[float, float, float]:
        """(T-1,) thresholds -> (correct answers, spend, utility) summed over the group."""
        tiers = select_tiers(self.scores, thresholds)
        rows = np.arange(len(tiers))
        return (
            float(self.correct[rows, tiers].sum()),
            float(self.spend[rows, tiers].sum()),
            float(self.utility[rows, tiers].sum()),
        )


@dataclass
class _Tuned:
    """One group's best thresholds and every trial's (thresholds, correct, spend)."""

    best: np.ndarray
    best_correct: float
    trial_thresholds: np.ndarray  # (M, T-1)
    trial_correct: np.ndarray  # (M,)
    trial_spend: np.ndarray  # (M,)


def tune_thresholds(
    scores: np.ndarray,
    clusters: np.ndarray | None,
    outcomes: TierOutcomes,
    mode: str = "budget",
    target: float = 0.95,
    minimise: str = "cost",
    weights: Sequence[float] = (1.0, 0.2, 0.2),
    n_trials: int = 300,
    seed: int = 0,
    min_cluster_size: int = 20,
    network: str | NetworkProfile = "good",
    warm_start: np.ndarray | None = None,
    *,
    warm_start_default: np.ndarray | None = None,
    n_clusters: int | None = None,
    margin: float | str = 0.0,
    allocation: str = "global",
    cv_folds: int = 5,
    show_progress: bool = True,
) -> CalibrationResult:
    """Tune routing thresholds (per cluster when ``clusters`` is given) with optuna TPE.

    Args:
        scores: (N, T-1) predicted consistency (or any score in [0, 1]; higher = safer to stay cheap).
        clusters: (N,) cluster of each row, or None to tune one global threshold vector.
        outcomes: the split's outcomes (N rows, T tiers).
        mode: ``"budget"`` or ``"utility"`` (see the module docstring).
        target: budget mode: accuracy >= target x cloud-only accuracy.
        minimise: budget mode: ``"cost"`` or ``"latency"``.
        weights: utility mode: (l1, l2, l3) on accuracy, latency, cost.
        n_trials: TPE trials per cluster (and for the global thresholds), warm-start and anchor
            trials included.
        seed: seeds every sampler; equal inputs give equal thresholds.
        min_cluster_size: clusters with fewer rows use the global thresholds.
        network: network profile of the latency model.
        warm_start: (K, T-1) thresholds tried first in each cluster (optuna ``enqueue_trial``).
        warm_start_default: (T-1,) thresholds tried first for the global thresholds.
        n_clusters: K (default ``clusters.max() + 1``, or ``len(warm_start)``); clusters with no
            calibration row fall back.
        margin: budget mode: extra accuracy fraction demanded on calibration (safety margin), or
            ``"auto"`` to estimate it by cross-validation (see the module docstring).
        cv_folds: folds of ``margin="auto"``.
        allocation: budget mode: ``"global"`` or ``"per_cluster"`` (see the module docstring).
        show_progress: a tqdm bar over clusters.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n_rows, n_tiers = outcomes.num_queries, len(outcomes.tiers)
    _validate(scores, n_rows, n_tiers, mode, target, minimise, weights, n_trials, margin, allocation)
    labels, k = _cluster_labels(clusters, n_rows, n_clusters, warm_start)
    cross_validation: dict[str, Any] = {}
    if margin == "auto":
        settings = dict(
            mode=mode, target=target, minimise=minimise, weights=weights, n_trials=n_trials, seed=seed,
            min_cluster_size=min_cluster_size, network=network, allocation=allocation,
        )
        margin, cross_validation = _cross_validated_margin(scores, labels, k, outcomes, settings, cv_folds, show_progress)
    warm = _check_thresholds(warm_start, (k, n_tiers - 1), "warm_start") if warm_start is not None else None
    warm_default = (
        _check_thresholds(warm_start_default, (n_tiers - 1,), "warm_start_default")
        if warm_start_default is not None else None
    )
    problem = _Problem.build(scores, labels, k, outcomes, mode, minimise, weights, network, min_cluster_size)
    required = target + margin
    starts = {None: warm_default, **{c: None if warm is None else warm[c] for c in problem.tuned_clusters}}
    tuned: dict[int | None, _Tuned] = {}
    with _quiet_optuna():
        for index, cluster in enumerate(
            tqdm(problem.jobs, desc="Calibrating thresholds", unit="cluster", disable=not show_progress, leave=False)
        ):
            tuned[cluster] = _tune_group(
                problem.groups[cluster], problem.names, mode, required, n_trials, _seed_for(seed, index), starts[cluster]
            )
    settings = {
        "mode": mode, "target": float(target), "margin": float(margin), "minimise": minimise,
        "weights": [float(w) for w in weights], "allocation": allocation, "n_trials": int(n_trials), "seed": int(seed),
    }
    if cross_validation:
        settings["margin_cross_validation"] = cross_validation
    return problem.result(tuned, scores, outcomes, network, settings, required if mode == "budget" else None)


@dataclass
class _Problem:
    """A calibration split cut into groups: all rows (key None) and each cluster (key c)."""

    labels: np.ndarray | None  # (N,) or None
    k: int
    sizes: np.ndarray  # (K,)
    min_cluster_size: int
    groups: dict[int | None, _Group]
    names: list[str]  # optuna parameter names, one per routable tier
    cloud_correct: float

    @classmethod
    def build(
        cls, scores: np.ndarray, labels: np.ndarray | None, k: int, outcomes: TierOutcomes, mode: str, minimise: str,
        weights: Sequence[float], network: str | NetworkProfile, min_cluster_size: int,
    ) -> "_Problem":
        correct = outcomes.correct.astype(np.float64)
        cloud = correct.shape[1] - 1
        cloud_correct = float(correct[:, cloud].sum())
        cost, latency = outcomes.cost(), outcomes.latency_ms(network)
        if mode == "utility":
            if cloud_correct == 0:
                raise ValueError("Cloud-only accuracy is 0 on this split: the utility's accuracy term is undefined.")
            if cost[:, cloud].sum() <= 0 or latency[:, cloud].sum() <= 0:
                raise ValueError("Cloud-only cost or latency is 0 on this split (no output tokens?): the utility is undefined.")
            l1, l2, l3 = (float(w) for w in weights)
            utility = l1 * correct / cloud_correct - l2 * latency / latency[:, cloud].sum() - l3 * cost / cost[:, cloud].sum()
        else:
            utility = np.zeros_like(correct)
        spend = cost if minimise == "cost" else latency

        def group(rows: np.ndarray) -> _Group:
            return _Group(scores[rows], correct[rows], spend[rows], utility[rows])

        groups: dict[int | None, _Group] = {None: group(np.arange(len(scores)))}
        sizes = np.array([], dtype=np.int64)
        if labels is not None:
            sizes = np.bincount(labels, minlength=k)
            groups.update({c: group(np.flatnonzero(labels == c)) for c in range(k)})
        names = [f"tau_{name}" for name in outcomes.tier_names[:-1]]
        return cls(labels, k, sizes, min_cluster_size, groups, names, cloud_correct)

    @property
    def tuned_clusters(self) -> list[int]:
        return [c for c in range(len(self.sizes)) if self.sizes[c] >= self.min_cluster_size]

    @property
    def fallback_clusters(self) -> list[int]:
        return [c for c in range(len(self.sizes)) if self.sizes[c] < self.min_cluster_size]

    @property
    def jobs(self) -> list[int | None]:
        """Groups that get a study: all rows first, then every cluster large enough."""
        return [None, *self.tuned_clusters]

    def result(
        self, tuned: dict[int | None, _Tuned], scores: np.ndarray, outcomes: TierOutcomes,
        network: str | NetworkProfile, settings: dict[str, Any], required: float | None,
    ) -> CalibrationResult:
        """Thresholds from the studies (global allocation in budget mode), the split's decisions, metadata.

        Args:
            required: budget mode: the accuracy fraction of cloud-only to reach; None in utility mode.
        """
        default = tuned[None].best
        per_row = np.tile(default, (len(scores), 1))
        cluster_thresholds = None
        if self.labels is not None:
            cluster_thresholds = np.tile(default, (self.k, 1))
            for c in self.tuned_clusters:
                cluster_thresholds[c] = tuned[c].best
            if required is not None and settings["allocation"] == "global" and self.tuned_clusters:
                cluster_thresholds = _allocate_globally(
                    cluster_thresholds, tuned, self.tuned_clusters, [self.groups[c] for c in range(self.k)],
                    required * self.cloud_correct,
                )
            per_row = cluster_thresholds[self.labels]
        assignment = select_tiers(scores, per_row)
        point = operating_point(outcomes, assignment, network=network)
        metadata: dict[str, Any] = {
            **settings,
            "network": network if isinstance(network, str) else network.name,
            "split_size": int(len(scores)),
            "n_clusters": int(self.k) if self.labels is not None else 0,
            "cluster_sizes": [int(size) for size in self.sizes],
            "min_cluster_size": int(self.min_cluster_size),
            "fallback_clusters": [int(c) for c in self.fallback_clusters],
            "achieved": {
                "accuracy": point.accuracy,
                "accuracy_pct_of_cloud": point.accuracy_pct_of_cloud,
                "cost_pct_of_cloud": point.cost_pct_of_cloud,
                "latency_pct_of_cloud": point.latency_pct_of_cloud,
                "tier_mix": point.tier_mix,
            },
        }
        if required is not None:
            reached = outcomes.correct[np.arange(len(scores)), assignment].sum()
            metadata["constraint_met"] = bool(reached >= required * self.cloud_correct - 1e-9)
            if not metadata["constraint_met"]:
                logger.warning(
                    "The accuracy constraint (%.3f x cloud-only) is not met on the calibration split: reached %.1f%% "
                    "of cloud accuracy. Scores equal to 1.0 pass every threshold, and with allocation='per_cluster' "
                    "small clusters on the global thresholds can fall short; try allocation='global'.",
                    required, point.accuracy_pct_of_cloud,
                )
        if self.labels is not None and self.fallback_clusters:
            logger.info(
                "Clusters %s have < %d calibration rows and use the global thresholds.",
                self.fallback_clusters, self.min_cluster_size,
            )
        return CalibrationResult(cluster_thresholds, default, metadata, assignment)


# ---------------------------------------------------------------------- tuning one group
def _tune_group(
    grp: _Group, names: list[str], mode: str, required: float, n_trials: int, seed: int, start: np.ndarray | None
) -> _Tuned:
    """Run one TPE study on one group; budget mode minimises spend with a feasibility-first penalty."""
    need = required * grp.correct[:, -1].sum()
    # Every infeasible trial scores above every feasible one (spend ratios are <= worst_ratio).
    cloud_spend = max(grp.spend[:, -1].sum(), 1e-12)
    worst_ratio = grp.spend.max(axis=1).sum() / cloud_spend
    records: list[tuple[np.ndarray, float, float]] = []

    def objective(trial: optuna.Trial) -> float:
        thresholds = np.array([trial.suggest_float(name, 0.0, 1.0) for name in names])
        n_correct, spent, utility = grp.evaluate(thresholds)
        records.append((thresholds, n_correct, spent))
        if mode == "utility":
            return utility
        if n_correct >= need - 1e-9:
            return spent / cloud_spend
        return worst_ratio + 1.0 + (need - n_correct) / max(need, 1e-12)

    sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True)
    study = optuna.create_study(direction="maximize" if mode == "utility" else "minimize", sampler=sampler)
    for anchor in ([1.0] * len(names), [0.0] * len(names)):  # all-cloud (always feasible) and all-cheapest
        study.enqueue_trial(dict(zip(names, anchor)))
    if start is not None:
        study.enqueue_trial(dict(zip(names, (float(x) for x in start))))
    study.optimize(objective, n_trials=max(n_trials, 1))
    best = np.array([study.best_params[name] for name in names])
    thresholds, n_correct, spent = zip(*records)
    return _Tuned(best, float(n_correct[study.best_trial.number]), np.array(thresholds), np.array(n_correct), np.array(spent))


# ---------------------------------------------------------------------- global budget allocation
def _allocate_globally(
    per_cluster: np.ndarray, tuned: dict[int | None, _Tuned], tuned_clusters: list[int], groups: list[_Group],
    need: float,
) -> np.ndarray:
    """Pick one trial per tuned cluster: least total spend with total correct >= ``need``.

    Fallback clusters keep the global thresholds (a fixed contribution). Returns (K, T-1) thresholds.
    """
    fixed_correct = fixed_spend = 0.0
    for c, grp in enumerate(groups):
        if c not in tuned_clusters:
            n_correct, spent, _ = grp.evaluate(per_cluster[c])
            fixed_correct += n_correct
            fixed_spend += spent
    options = [_pareto(tuned[c]) for c in tuned_clusters]  # each: (thresholds, correct, spend), spend ascending
    # the per-cluster choice, as Pareto indices: the cheapest frontier point with at least its correct answers
    start = [int(np.argmax(opt[1] >= tuned[c].best_correct - 1e-9)) for opt, c in zip(options, tuned_clusters)]
    remaining = need - fixed_correct
    candidates = [start, _local_swaps(_greedy_hull(options, remaining), options, remaining)]
    candidates = [choice for choice in candidates if _total(options, choice, 1) >= remaining - 1e-9] or [start]
    choice = min(candidates, key=lambda ch: _total(options, ch, 2))
    result = per_cluster.copy()
    for c, opt, j in zip(tuned_clusters, options, choice):
        result[c] = opt[0][j]
    return result


def _pareto(tuned: _Tuned) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trials that no other trial beats on both spend and correct, sorted by spend (correct rising)."""
    order = np.lexsort((-tuned.trial_correct, tuned.trial_spend))
    keep, best = [], -np.inf
    for i in order:
        if tuned.trial_correct[i] > best:
            keep.append(i)
            best = tuned.trial_correct[i]
    keep = np.array(keep)
    return tuned.trial_thresholds[keep], tuned.trial_correct[keep], tuned.trial_spend[keep]


def _greedy_hull(options: list[tuple[np.ndarray, np.ndarray, np.ndarray]], need: float) -> list[int]:
    """Lagrangian greedy: start cheapest everywhere, take the cheapest-per-correct-answer upgrades along
    each cluster's lower convex hull of (correct, spend) until ``need`` correct answers are reached."""
    hulls = [_lower_hull(opt[1], opt[2]) for opt in options]
    position = [0] * len(options)
    total = sum(opt[1][hull[0]] for opt, hull in zip(options, hulls))
    heap: list[tuple[float, int]] = []
    for g, (opt, hull) in enumerate(zip(options, hulls)):
        if len(hull) > 1:
            heapq.heappush(heap, (_slope(opt, hull[0], hull[1]), g))
    while total < need - 1e-9 and heap:
        _, g = heapq.heappop(heap)
        opt, hull = options[g], hulls[g]
        total += opt[1][hull[position[g] + 1]] - opt[1][hull[position[g]]]
        position[g] += 1
        if position[g] + 1 < len(hull):
            heapq.heappush(heap, (_slope(opt, hull[position[g]], hull[position[g] + 1]), g))
    return [hull[p] for hull, p in zip(hulls, position)]


def _lower_hull(correct: np.ndarray, spend: np.ndarray) -> list[int]:
    """Indices of the lower convex hull of Pareto points (correct and spend both rising)."""
    hull: list[int] = []
    for i in range(len(correct)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (correct[b] - correct[a]) * (spend[i] - spend[a]) - (spend[b] - spend[a]) * (correct[i] - correct[a])
            if cross <= 0:  # b lies on or above the chord a -> i
                hull.pop()
            else:
                break
        hull.append(i)
    return hull


def _slope(option: tuple[np.ndarray, np.ndarray, np.ndarray], a: int, b: int) -> float:
    return float((option[2][b] - option[2][a]) / max(option[1][b] - option[1][a], 1e-12))


def _local_swaps(choice: list[int], options: list[tuple[np.ndarray, np.ndarray, np.ndarray]], need: float) -> list[int]:
    """Move single clusters to cheaper trials while the constraint still holds, biggest saving first."""
    choice = list(choice)
    while True:
        total = _total(options, choice, 1)
        best_gain, best_move = 0.0, None
        for g, (opt, j) in enumerate(zip(options, choice)):
            allowed = total - opt[1][j] + opt[1] >= need - 1e-9
            gains = np.where(allowed, opt[2][j] - opt[2], 0.0)
            k = int(np.argmax(gains))
            if gains[k] > best_gain + 1e-12:
                best_gain, best_move = float(gains[k]), (g, k)
        if best_move is None:
            return choice
        choice[best_move[0]] = best_move[1]


def _total(options: list[tuple[np.ndarray, np.ndarray, np.ndarray]], choice: list[int], field_index: int) -> float:
    return float(sum(opt[field_index][j] for opt, j in zip(options, choice)))


# ---------------------------------------------------------------------- cross-validated margin
def _cross_validated_margin(
    scores: np.ndarray, labels: np.ndarray | None, k: int, outcomes: TierOutcomes, settings: dict[str, Any],
    folds: int, show_progress: bool,
) -> tuple[float, dict[str, Any]]:
    """How far below the target the held-out folds land: (margin, record for the metadata)."""
    n_rows = outcomes.num_queries
    if not 2 <= folds <= n_rows:
        raise ValueError(f"`cv_folds` must be in [2, N={n_rows}] for margin='auto', got {folds}.")
    splitter = KFold(n_splits=folds, shuffle=True, random_state=int(settings["seed"]))
    assignment = np.empty(n_rows, dtype=np.int64)
    for train, held_out in tqdm(
        splitter.split(scores), total=folds, desc="Cross-validating the margin", disable=not show_progress, leave=False
    ):
        fold = tune_thresholds(
            scores[train], None if labels is None else labels[train], outcomes.subset(train), n_clusters=k if labels is not None else None,
            margin=0.0, show_progress=False, **settings,
        )
        assignment[held_out] = fold.route(scores[held_out], None if labels is None else labels[held_out])
    correct = outcomes.correct
    ratio = float(correct[np.arange(n_rows), assignment].sum() / max(correct[:, -1].sum(), 1))
    target = float(settings["target"])
    margin = float(np.clip(target - ratio, 0.0, 1.0 - target))
    record = {"folds": int(folds), "held_out_accuracy_pct_of_cloud": 100.0 * ratio, "margin": margin}
    logger.info("Cross-validated margin: held-out folds reach %.1f%% of cloud accuracy -> margin %.3f.", 100 * ratio, margin)
    return margin, record


# ---------------------------------------------------------------------- helpers
@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Silence optuna's per-trial logs and its experimental-feature warnings, restoring them after."""
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(previous)


def _seed_for(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def _cluster_labels(
    clusters: np.ndarray | None, n_rows: int, n_clusters: int | None, warm_start: np.ndarray | None
) -> tuple[np.ndarray | None, int]:
    if clusters is None:
        if warm_start is not None:
            raise ValueError("`warm_start` holds per-cluster thresholds but `clusters` is None; use warm_start_default.")
        return None, 0
    labels = np.asarray(clusters)
    if labels.shape != (n_rows,) or not np.issubdtype(labels.dtype, np.integer) or (n_rows and labels.min() < 0):
        raise ValueError(f"`clusters` must be (N,) = ({n_rows},) non-negative ints, got {labels.dtype} {labels.shape}.")
    k = n_clusters if n_clusters is not None else (len(warm_start) if warm_start is not None else int(labels.max()) + 1)
    if n_rows and labels.max() >= k:
        raise ValueError(f"`clusters` holds index {int(labels.max())} but there are only {k} clusters.")
    return labels.astype(np.int64), int(k)


def _check_thresholds(values: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != shape:
        raise ValueError(f"`{name}` has shape {array.shape}, expected {shape}.")
    if not (np.isfinite(array).all() and (array >= 0).all() and (array <= 1).all()):
        raise ValueError(f"`{name}` must hold thresholds in [0, 1].")
    return array


def _validate(
    scores: np.ndarray, n_rows: int, n_tiers: int, mode: str, target: float, minimise: str,
    weights: Sequence[float], n_trials: int, margin: float | str, allocation: str,
) -> None:
    if n_rows == 0:
        raise ValueError("The calibration split is empty; calibrate on at least one query.")
    if scores.shape != (n_rows, n_tiers - 1):
        raise ValueError(f"`scores` must be (N, T-1) = ({n_rows}, {n_tiers - 1}), got shape {scores.shape}.")
    if not np.isfinite(scores).all():
        raise ValueError("`scores` holds NaN or infinite values.")
    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {MODES}, got {mode!r}.")
    if minimise not in MINIMISE:
        raise ValueError(f"`minimise` must be one of {MINIMISE}, got {minimise!r}.")
    if allocation not in ALLOCATIONS:
        raise ValueError(f"`allocation` must be one of {ALLOCATIONS}, got {allocation!r}.")
    if not 0.0 < target <= 1.0:
        raise ValueError(f"`target` is a fraction of cloud-only accuracy in (0, 1], got {target}.")
    if margin == "auto":
        if mode != "budget":
            raise ValueError("margin='auto' is for budget mode (it protects the accuracy target).")
    elif isinstance(margin, str) or margin < 0:
        raise ValueError(f"`margin` must be a number >= 0 or 'auto', got {margin!r}.")
    if len(weights) != 3 or any(w < 0 for w in weights) or not any(w > 0 for w in weights):
        raise ValueError(f"`weights` must be three non-negative numbers (l1, l2, l3), not all 0; got {list(weights)}.")
    if int(n_trials) < 1:
        raise ValueError(f"`n_trials` must be >= 1, got {n_trials}.")


__all__ = ["CalibrationResult", "tune_thresholds"]
