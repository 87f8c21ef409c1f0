"""RouterBench's predictive routers: k-nearest neighbours and an MLP on query embeddings.

Hu et al., "RouterBench: A Benchmark for Multi-LLM Routing System", arXiv:2403.12031, section 4:
a predictor estimates each model's performance on a query from its embedding, by averaging the
model's performance on the k nearest training queries (kNN) or with a multi-layer perceptron; the
router then trades predicted performance against cost with a knob.

Here the predicted quantity is, per cheaper tier, "the tier's answer is as good as the cloud's"
(``BaselineData.good_enough``; ``target="correctness"`` predicts plain correctness of the tier, as
RouterBench does). The knob is the threshold vector the pipeline calibrates, the same for every
learned router. Both use scikit-learn on the (N, E) MiniLM embeddings.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsRegressor
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from .base import BaselineData, LearnedRouter, check_trainable

TARGETS = ("good_enough", "correctness")


def _targets(data: BaselineData, target: str) -> np.ndarray:
    """(N, T-1) float targets of the cheaper tiers."""
    if target == "good_enough":
        return data.good_enough().astype(np.float64)
    return data.correct[:, :-1].astype(np.float64)


def _check_target(target: str) -> str:
    if target not in TARGETS:
        raise ValueError(f"`target` must be one of {TARGETS}, got {target!r}.")
    return target


class RouterBenchKNN(LearnedRouter):
    """Score of tier t = share of the ``n_neighbors`` nearest training queries (cosine) where t was good enough.

    Args:
        n_neighbors: neighbours averaged (capped at the training size).
        target: ``"good_enough"`` (as good as the cloud) or ``"correctness"`` (tier right).
    """

    def __init__(self, n_neighbors: int = 100, target: str = "good_enough") -> None:
        if n_neighbors < 1:
            raise ValueError(f"`n_neighbors` must be >= 1, got {n_neighbors}.")
        self.n_neighbors = n_neighbors
        self.target = _check_target(target)

    def fit(self, train: BaselineData, seed: int = 0) -> "RouterBenchKNN":
        """Index the training embeddings (kNN is deterministic; ``seed`` is accepted for the common interface)."""
        check_trainable(train)
        self.model_ = KNeighborsRegressor(n_neighbors=min(self.n_neighbors, len(train)), metric="cosine")
        self.model_.fit(train.embeddings, _targets(train, self.target))
        self.n_tiers_ = train.n_tiers
        return self

    def predict_scores(self, data: BaselineData) -> np.ndarray:
        """(N, T-1) neighbour averages in [0, 1]."""
        self._check_predictable(data)
        return np.asarray(self.model_.predict(data.embeddings), dtype=np.float64).reshape(len(data), -1)


class RouterBenchMLP(LearnedRouter):
    """Score of tier t = an MLP's probability that t is good enough (multi-label, one output per cheaper tier).

    Args:
        hidden_layer_sizes: MLP hidden sizes.
        alpha: L2 penalty (strong: ~1,700 queries of 384-d embeddings overfit a 128-unit layer).
        max_iter: training epochs (Adam, no early stopping: on ~1,000 queries it stops too soon).
        target: ``"good_enough"`` or ``"correctness"``.
    """

    def __init__(
        self, hidden_layer_sizes: tuple[int, ...] = (128,), alpha: float = 1.0, max_iter: int = 100,
        target: str = "good_enough",
    ) -> None:
        self.hidden_layer_sizes = tuple(hidden_layer_sizes)
        self.alpha = alpha
        self.max_iter = max_iter
        self.target = _check_target(target)

    def fit(self, train: BaselineData, seed: int = 0) -> "RouterBenchMLP":
        """Fit the MLP on the embeddings (seeded)."""
        check_trainable(train, minimum=10)
        targets = _targets(train, self.target)
        self.model_ = MLPClassifier(
            hidden_layer_sizes=self.hidden_layer_sizes, alpha=self.alpha, max_iter=self.max_iter,
            random_state=seed,
        )
        # One BLAS thread: for these small matrices extra threads only contend (a fit took 37 s
        # with the default threads on a busy 2-core machine, 2 s with one).
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed epoch budget, not a failed fit
            self.model_.fit(train.embeddings, targets.astype(np.int64))
        self.n_tiers_ = train.n_tiers
        return self

    def predict_scores(self, data: BaselineData) -> np.ndarray:
        """(N, T-1) probabilities in [0, 1]."""
        self._check_predictable(data)
        return np.asarray(self.model_.predict_proba(data.embeddings), dtype=np.float64).reshape(len(data), -1)
