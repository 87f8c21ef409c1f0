"""Local ``evaluate`` module: RouteLLM's CPT of a deferral curve (offline; wraps consroute_hf).

Usage::

    metric = evaluate.load("<this folder>")
    metric.compute(cost_pct=[...], accuracy=[...], q_weak=0.33, q_strong=0.645, pgr_targets=[0.5, 0.8])
"""

import datasets
import evaluate

from consroute_hf.evaluation import DeferralCurve, cpt

_DESCRIPTION = (
    "Call-performance threshold (RouteLLM): the smallest cost, as % of cloud-only cost, at which the router "
    "recovers a given share of the weak-to-strong accuracy gap (linear interpolation along the completed PGR "
    "curve); see consroute_hf.evaluation.peer_metrics."
)
_INPUTS = """
Args:
    cost_pct: one float per curve point, the router's cost as % of cloud-only cost.
    accuracy: one float per curve point, in [0, 1].
    q_weak: device-only (weak) accuracy. q_strong: cloud-only (strong) accuracy.
    pgr_targets: PGR fractions to report (default [0.5, 0.8]).
Returns:
    {"cpt_50": float, "cpt_80": float} (one key per target, named by its percentage)
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _INPUTS)
class RoutingCpt(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Ong et al., RouteLLM: Learning to Route LLMs with Preference Data, 2024.",
            inputs_description=_INPUTS,
            features=datasets.Features({"cost_pct": datasets.Value("float64"), "accuracy": datasets.Value("float64")}),
        )

    def _compute(self, cost_pct, accuracy, q_weak: float, q_strong: float, pgr_targets=(0.5, 0.8)) -> dict:
        curve = DeferralCurve(cost_pct, accuracy)
        return {f"cpt_{round(100 * target):d}": cpt(curve, target, q_weak, q_strong) for target in pgr_targets}
