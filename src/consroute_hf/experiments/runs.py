"""One router on one split: train on train, calibrate on calibration, measure on test.

Every score-based router (ConsRoute, its ablations, the learned baselines) is routed with the same
rule (``select_tiers``) and measured the same way; only how its thresholds are tuned differs
(per cluster for ConsRoute, one global vector otherwise).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..modeling_consroute import ConsRouterForTierSelection, select_tiers
from ..recipe import Recipe
from ..splits import SplitIndices
from .inputs import ExperimentInputs, new_router

logger = logging.getLogger(__name__)

#: Headline metrics a run reports (percentages except APGR and AIQ, which are in [0, 1]).
SUMMARY_METRICS = (
    "accuracy", "accuracy_pct_of_cloud", "cost_pct_of_cloud", "latency_pct_of_cloud",
    "latency_pct_of_cloud_bad", "apgr", "cpt50", "cpt80", "aiq",
)


@dataclass
class RouterRun:
    """A router's results on one split's test rows.

    Attributes:
        router: router name. split: split name. kind: ``"random"`` or ``"leave_one_task_out"``.
        test, test_bad: operating points under the good and bad network profiles.
        calibration_accuracy_pct_of_cloud: what the tuned thresholds reached on the calibration rows.
        curve: test ``DeferralCurve`` from sweeping a threshold offset (None for fixed routers).
        apgr, cpt50, cpt80, aiq: RouteLLM / RouterBench metrics of that curve (None for fixed routers).
    """

    router: str
    split: str
    kind: str
    test: Any
    test_bad: Any
    calibration_accuracy_pct_of_cloud: float | None
    curve: Any
    apgr: float | None = None
    cpt50: float | None = None
    cpt80: float | None = None
    aiq: float | None = None

    def summary(self) -> dict[str, float | None]:
        return {
            "accuracy": 100.0 * self.test.accuracy,
            "accuracy_pct_of_cloud": self.test.accuracy_pct_of_cloud,
            "cost_pct_of_cloud": self.test.cost_pct_of_cloud,
            "latency_pct_of_cloud": self.test.latency_pct_of_cloud,
            "latency_pct_of_cloud_bad": self.test_bad.latency_pct_of_cloud,
            "apgr": self.apgr, "cpt50": self.cpt50, "cpt80": self.cpt80, "aiq": self.aiq,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "router": self.router, "split": self.split, "kind": self.kind, "summary": self.summary(),
            "tier_mix": dict(self.test.tier_mix),
            "calibration_accuracy_pct_of_cloud": self.calibration_accuracy_pct_of_cloud,
            "curve": None if self.curve is None else {
                "cost_pct": [float(x) for x in self.curve.cost_pct],
                "accuracy": [float(x) for x in self.curve.accuracy],
                "latency_pct": [float(x) for x in self.curve.latency_pct],
            },
        }


def split_kind(split: SplitIndices) -> str:
    return "leave_one_task_out" if split.name.startswith("lotu-") else "random"


def measure_scored_router(
    name: str,
    split: SplitIndices,
    inputs: ExperimentInputs,
    scores_test: np.ndarray,
    thresholds_test: np.ndarray,
    overhead: Callable[[np.ndarray], np.ndarray | float],
    calibration_accuracy_pct_of_cloud: float | None,
    n_offsets: int,
) -> RouterRun:
    """Test operating points, the offset-swept deferral curve and its APGR / CPT / AIQ.

    Args:
        scores_test: (N_test, T-1) predicted scores. thresholds_test: (N_test, T-1) tuned thresholds.
        overhead: tier assignment (N_test,) -> router overhead in ms (scalar or (N_test,)).
    """
    from ..evaluation import DeferralCurve, aiq, apgr, cpt, operating_point

    outcomes = inputs.outcomes.subset(split.test)
    assignment = select_tiers(scores_test, thresholds_test)
    test = operating_point(outcomes, assignment, "good", overhead(assignment))
    test_bad = operating_point(outcomes, assignment, "bad", overhead(assignment))
    points = []
    for offset in np.linspace(-1.0, 1.0, n_offsets):
        swept = select_tiers(scores_test, np.clip(thresholds_test + offset, 0.0, 1.0))
        points.append(operating_point(outcomes, swept, "good", overhead(swept)))
    curve = DeferralCurve.from_points(points)
    accuracy = outcomes.tier_accuracy()
    q_weak, q_strong = float(accuracy[0]), float(accuracy[-1])
    return RouterRun(
        router=name, split=split.name, kind=split_kind(split), test=test, test_bad=test_bad,
        calibration_accuracy_pct_of_cloud=calibration_accuracy_pct_of_cloud, curve=curve,
        apgr=apgr(curve, q_weak, q_strong), cpt50=cpt(curve, 0.5, q_weak, q_strong),
        cpt80=cpt(curve, 0.8, q_weak, q_strong), aiq=aiq(curve),
    )


def tune_kwargs(recipe: Recipe) -> dict[str, Any]:
    """``tune_thresholds`` keyword arguments from the recipe's calibration section."""
    calibration = recipe.calibration
    return {
        "mode": calibration.mode, "target": calibration.target, "minimise": calibration.minimise,
        "weights": tuple(calibration.weights), "seed": calibration.seed,
        "min_cluster_size": calibration.min_cluster_size, "network": calibration.network,
        "margin": calibration.margin, "allocation": calibration.allocation,
    }


def train_consroute(
    recipe: Recipe, inputs: ExperimentInputs, split: SplitIndices, *, label_kind: str = "blend",
    no_prompt: bool = False, clusters: bool = True,
) -> tuple[ConsRouterForTierSelection, Any]:
    """Train a ConsRoute head on ``split.train`` and calibrate it on ``split.calibration``.

    Returns:
        (router with thresholds in its config, the ``CalibrationResult``).
    """
    from ..calibration import calibrate_router, tune_thresholds
    from ..training import train_head

    features = inputs.features_no_prompt if no_prompt else inputs.features
    labels = inputs.labels[label_kind]
    router = new_router(recipe, inputs.causal_lm, consistency_prompt="" if no_prompt else None)
    correct = inputs.outcomes.correct
    with tempfile.TemporaryDirectory() as output_dir:
        train_head(
            router, features[split.train], labels[split.train], features[split.calibration],
            labels[split.calibration], recipe.training, output_dir=output_dir,
            eval_correct=correct[split.calibration],
        )
    router.eval()
    calibration_outcomes = inputs.outcomes.subset(split.calibration)
    scores = router.predict_scores(features[split.calibration])
    if clusters:
        result = calibrate_router(
            router, features[split.calibration], scores, calibration_outcomes,
            n_clusters=recipe.calibration.n_clusters, k_range=tuple(recipe.calibration.k_range),
            n_trials=recipe.calibration.n_trials, **tune_kwargs(recipe),
        )
    else:
        result = tune_thresholds(
            scores, None, calibration_outcomes, n_trials=recipe.evaluation.baseline_trials, **tune_kwargs(recipe)
        )
        router.config.default_thresholds = [float(x) for x in result.default_thresholds]
        router.config.calibration = dict(result.metadata)
    return router, result


def run_consroute(
    name: str, recipe: Recipe, inputs: ExperimentInputs, split: SplitIndices, **variant: Any
) -> tuple[RouterRun, ConsRouterForTierSelection]:
    """Train, calibrate and measure one ConsRoute variant on one split."""
    router, result = train_consroute(recipe, inputs, split, **variant)
    features = inputs.features_no_prompt if variant.get("no_prompt") else inputs.features
    test_features = features[split.test]
    scores = router.predict_scores(test_features)
    thresholds = router.thresholds_for(router.clusters_of(test_features), len(split.test))
    prompt_tokens = inputs.prompt_tokens[split.test]
    run = measure_scored_router(
        name, split, inputs, scores, thresholds,
        overhead=lambda assignment: inputs.overheads.consroute(assignment, prompt_tokens),
        calibration_accuracy_pct_of_cloud=result.metadata["achieved"]["accuracy_pct_of_cloud"],
        n_offsets=recipe.evaluation.curve_offsets,
    )
    return run, router


def run_learned_baseline(name: str, recipe: Recipe, inputs: ExperimentInputs, split: SplitIndices, data: Any) -> RouterRun:
    """Fit a learned baseline on train, tune one global threshold vector on calibration, measure on test."""
    from ..baselines import BASELINES
    from ..calibration import tune_thresholds

    baseline = BASELINES[name]().fit(data.subset(split.train), seed=recipe.training.seed)
    scores_cal = baseline.predict_scores(data.subset(split.calibration))
    result = tune_thresholds(
        scores_cal, None, inputs.outcomes.subset(split.calibration),
        n_trials=recipe.evaluation.baseline_trials, **tune_kwargs(recipe),
    )
    scores_test = baseline.predict_scores(data.subset(split.test))
    thresholds = np.tile(np.asarray(result.default_thresholds, dtype=np.float64), (len(split.test), 1))
    return measure_scored_router(
        name, split, inputs, scores_test, thresholds, overhead=lambda assignment: inputs.overheads.encoder_ms,
        calibration_accuracy_pct_of_cloud=result.metadata["achieved"]["accuracy_pct_of_cloud"],
        n_offsets=recipe.evaluation.curve_offsets,
    )


def run_fixed_router(name: str, split: SplitIndices, inputs: ExperimentInputs, assignment: np.ndarray) -> RouterRun:
    """A router with no knob (single tier, oracle, random): its test operating points only."""
    from ..evaluation import operating_point

    outcomes = inputs.outcomes.subset(split.test)
    return RouterRun(
        router=name, split=split.name, kind=split_kind(split),
        test=operating_point(outcomes, assignment, "good"), test_bad=operating_point(outcomes, assignment, "bad"),
        calibration_accuracy_pct_of_cloud=None, curve=None,
    )
