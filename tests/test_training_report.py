"""The AUROC comparison script's probe (consroute_hf.training.report)."""

from __future__ import annotations

import numpy as np

from consroute_hf.training.metrics import auroc_or_nan
from consroute_hf.training.report import fit_probe


def test_probe_learns_correctness_and_ignores_unknown_rows():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8))
    y = (x[:, 0] + 0.3 * rng.normal(size=300) > 0).astype(float)
    y_with_unknown = y.copy()
    y_with_unknown[::10] = np.nan
    probe = fit_probe(x[:200], y_with_unknown[:200], seed=0)
    assert auroc_or_nan(y[200:], probe.predict_proba(x[200:])[:, 1]) > 0.9
    assert auroc_or_nan(y[200:], -probe.predict_proba(x[200:])[:, 1]) < 0.1
