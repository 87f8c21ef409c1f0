"""Local ``evaluate`` module: RouterBench's AIQ of a deferral curve (offline; wraps consroute_hf).

Usage::

    metric = evaluate.load("<this folder>")
    metric.compute(cost_pct=[10.5, 40.0, 100.0], accuracy=[0.33, 0.55, 0.645])
"""

import datasets
import evaluate

from consroute_hf.evaluation import DeferralCurve, aiq

_DESCRIPTION = (
    "Average improvement in quality (RouterBench): area under the non-decreasing upper convex hull of the "
    "router's (cost, accuracy) points divided by the cost range; see consroute_hf.evaluation.peer_metrics."
)
_INPUTS = """
Args:
    cost_pct: one float per curve point, the router's cost as % of cloud-only cost.
    accuracy: one float per curve point, in [0, 1].
Returns:
    {"aiq": float}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _INPUTS)
class RoutingAiq(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Hu et al., RouterBench: A Benchmark for Multi-LLM Routing System, 2024.",
            inputs_description=_INPUTS,
            features=datasets.Features({"cost_pct": datasets.Value("float64"), "accuracy": datasets.Value("float64")}),
        )

    def _compute(self, cost_pct, accuracy) -> dict:
        return {"aiq": aiq(DeferralCurve(cost_pct, accuracy))}
