"""Local ``evaluate`` module: RouteLLM's APGR of a deferral curve (offline; wraps consroute_hf).

Usage::

    metric = evaluate.load("<this folder>")
    metric.compute(cost_pct=[10.5, 40.0, 100.0], accuracy=[0.33, 0.55, 0.645], q_weak=0.33, q_strong=0.645)
"""

import datasets
import evaluate

from consroute_hf.evaluation import DeferralCurve, apgr

_DESCRIPTION = (
    "Average performance gap recovered (RouteLLM): area under PGR = (q - q_weak) / (q_strong - q_weak) over the "
    "cost axis c = cost_pct / 100 in [0, 1], completed with the anchors (0, 0) and (1, 1); see "
    "consroute_hf.evaluation.peer_metrics."
)
_INPUTS = """
Args:
    cost_pct: one float per curve point, the router's cost as % of cloud-only cost.
    accuracy: one float per curve point, in [0, 1].
    q_weak: device-only (weak) accuracy. q_strong: cloud-only (strong) accuracy.
Returns:
    {"apgr": float}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _INPUTS)
class RoutingApgr(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Ong et al., RouteLLM: Learning to Route LLMs with Preference Data, 2024.",
            inputs_description=_INPUTS,
            features=datasets.Features({"cost_pct": datasets.Value("float64"), "accuracy": datasets.Value("float64")}),
        )

    def _compute(self, cost_pct, accuracy, q_weak: float, q_strong: float) -> dict:
        return {"apgr": apgr(DeferralCurve(cost_pct, accuracy), q_weak, q_strong)}
