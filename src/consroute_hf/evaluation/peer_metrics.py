"""Router metrics of RouteLLM (PGR, APGR, CPT) and RouterBench (AIQ) on deferral curves.

Conventions (three tiers; "weak" = device-only, "strong" = cloud-only):

* Cost axis: normalised cost ``c = cost_pct / 100``, the routed cost as a share of cloud-only cost,
  so cloud-only sits at ``c = 1``. (RouteLLM's axis, the share of strong calls, is the two-tier
  special case with a free weak model.)
* ``PGR(q) = (q - q_weak) / (q_strong - q_weak)``; not clipped.
* The PGR curve is *completed* with two anchors before integrating: ``(c=0, PGR=0)`` (the weak
  model at no cost, RouteLLM's "all weak" end) and ``(c=1, PGR=1)`` (cloud-only). Router points with
  ``c > 1`` (dearer than cloud-only) are dropped. Points are sorted by ``(c, PGR)`` and joined by
  straight lines (trapezoidal rule); mixing two routers' decisions at random realises any point on
  the segment between them.
"""

from __future__ import annotations

import numpy as np

from .curves import DeferralCurve


def pgr(accuracy: float | np.ndarray, q_weak: float, q_strong: float) -> float | np.ndarray:
    """Performance gap recovered: ``(accuracy - q_weak) / (q_strong - q_weak)``.

    Raises:
        ValueError: when ``q_strong <= q_weak`` (PGR needs a strong model that beats the weak one).
    """
    _check_gap(q_weak, q_strong)
    result = (np.asarray(accuracy, dtype=np.float64) - q_weak) / (q_strong - q_weak)
    return float(result) if result.ndim == 0 else result


def completed_pgr_curve(curve: DeferralCurve, q_weak: float, q_strong: float) -> tuple[np.ndarray, np.ndarray]:
    """The PGR curve with its anchors: ((P,) normalised cost in [0, 1], (P,) PGR), sorted by cost.

    See the module docstring for the completion rule.
    """
    _check_curve(curve)
    gains = np.asarray(pgr(curve.accuracy, q_weak, q_strong))
    cost = curve.cost_pct / 100.0
    keep = cost <= 1.0
    cost = np.concatenate([[0.0], cost[keep], [1.0]])
    gains = np.concatenate([[0.0], gains[keep], [1.0]])
    order = np.lexsort((gains, cost))
    return cost[order], gains[order]


def apgr(curve: DeferralCurve, q_weak: float, q_strong: float) -> float:
    """Average performance gap recovered: area under the completed PGR curve over c in [0, 1]."""
    cost, gains = completed_pgr_curve(curve, q_weak, q_strong)
    return float(np.trapezoid(gains, cost))


def cpt(curve: DeferralCurve, pgr_target: float, q_weak: float, q_strong: float) -> float:
    """Call-performance threshold: the smallest cost (as % of cloud-only) whose PGR reaches ``pgr_target``.

    Walks the completed PGR curve in cost order and interpolates linearly inside the first segment
    that reaches the target. Always defined for targets in (0, 1] (the cloud-only anchor has PGR 1).

    Args:
        pgr_target: a fraction, e.g. 0.5 for CPT(50%).
    """
    if not 0.0 < pgr_target <= 1.0:
        raise ValueError(f"`pgr_target` must be a fraction in (0, 1] (0.5 for CPT(50%)), got {pgr_target}.")
    cost, gains = completed_pgr_curve(curve, q_weak, q_strong)
    return 100.0 * _first_crossing(cost, gains, pgr_target)


def cost_at_accuracy(curve: DeferralCurve, target_accuracy: float) -> float | None:
    """The smallest cost (% of cloud-only) at which the curve reaches ``target_accuracy``.

    Walks the curve's own points in cost order (no anchors) and interpolates linearly inside the
    first segment that reaches the target. Returns None when no point reaches it.
    """
    _check_curve(curve)
    if not (curve.accuracy >= target_accuracy).any():
        return None
    return _first_crossing(curve.cost_pct, curve.accuracy, target_accuracy)


def aiq(curve: DeferralCurve) -> float:
    """RouterBench's average improvement in quality.

    The area under the non-decreasing upper convex hull of the (cost_pct, accuracy) points, divided
    by the cost range ``max(cost_pct) - min(cost_pct)``; the hull is flat at its best accuracy to
    the right of that point. The result is in accuracy units (a mean accuracy over the cost range).

    Raises:
        ValueError: an empty curve, or all points at one cost (no cost range).
    """
    _check_curve(curve)
    cost, accuracy = curve.cost_pct, curve.accuracy
    span = float(cost.max() - cost.min())
    if span <= 0:
        raise ValueError("AIQ needs points at two or more different costs (the cost range is 0).")
    hull = _upper_hull(cost, accuracy)
    best = int(np.argmax([point[1] for point in hull]))
    hull = hull[: best + 1] + [(float(cost.max()), hull[best][1])]
    hull_cost, hull_accuracy = np.array(hull).T
    return float(np.trapezoid(hull_accuracy, hull_cost) / span)


def _upper_hull(cost: np.ndarray, accuracy: np.ndarray) -> list[tuple[float, float]]:
    """Upper convex hull (Andrew's monotone chain) of points sorted by (cost, accuracy)."""
    hull: list[tuple[float, float]] = []
    for point in zip(cost.tolist(), accuracy.tolist()):
        if hull and hull[-1][0] == point[0]:
            hull.pop()  # same cost: sorted by accuracy, so the later point is better
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            # drop the middle point when it lies on or below the chord to the new point
            if (x2 - x1) * (point[1] - y1) - (y2 - y1) * (point[0] - x1) >= 0:
                hull.pop()
            else:
                break
        hull.append(point)
    return hull


def _first_crossing(x: np.ndarray, y: np.ndarray, target: float) -> float:
    """x where y first reaches ``target`` walking in order, interpolated from the previous point."""
    index = int(np.argmax(y >= target))
    if index == 0:
        return float(x[0])
    x0, x1, y0, y1 = x[index - 1], x[index], y[index - 1], y[index]
    return float(x0 + (target - y0) * (x1 - x0) / (y1 - y0))


def _check_gap(q_weak: float, q_strong: float) -> None:
    if not q_strong > q_weak:
        raise ValueError(
            f"PGR is undefined: the strong (cloud-only) accuracy {q_strong} does not exceed the weak "
            f"(device-only) accuracy {q_weak}. Use a split where the cloud tier is better."
        )


def _check_curve(curve: DeferralCurve) -> None:
    if len(curve) == 0:
        raise ValueError("The deferral curve has no points; evaluate at least one operating point.")


__all__ = ["pgr", "apgr", "cpt", "aiq", "cost_at_accuracy", "completed_pgr_curve"]
