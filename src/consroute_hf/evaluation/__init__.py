"""Evaluation of routers on routing splits: operating points, deferral curves and peer metrics.

Local ``evaluate`` modules wrapping the same functions live in ``metric_modules/`` (see
``METRIC_MODULES_DIR``); ``evaluate.load(str(METRIC_MODULES_DIR / "routing_apgr"))`` works offline.
"""

from pathlib import Path

from .curves import DeferralCurve, deferral_curve
from .operating_point import OperatingPoint, operating_point
from .outcomes import NETWORK_PROFILES, NetworkProfile, TierOutcomes, network_profile
from .peer_metrics import aiq, apgr, completed_pgr_curve, cost_at_accuracy, cpt, pgr

#: Folder holding the local ``evaluate`` metric modules (routing_apgr, routing_cpt, routing_aiq).
METRIC_MODULES_DIR = Path(__file__).parent / "metric_modules"

__all__ = [
    "TierOutcomes", "NetworkProfile", "NETWORK_PROFILES", "network_profile",
    "OperatingPoint", "operating_point", "DeferralCurve", "deferral_curve",
    "pgr", "apgr", "cpt", "aiq", "cost_at_accuracy", "completed_pgr_curve", "METRIC_MODULES_DIR",
]
