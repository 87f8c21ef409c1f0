"""RouteLLM similarity-weighted (SW) ranking router.

Ong et al., "RouteLLM: Learning to Route LLMs with Preference Data", arXiv:2406.18665, section
4.1: for a new query q, every training "battle" i is weighted by its similarity to q,
w_i = gamma^(1 + S(q, q_i)) with S the cosine similarity divided by its maximum over the training
set (gamma = 10, as RouteLLM's ``get_weightings``), and a Bradley-Terry model is fitted by
weighted logistic regression (RouteLLM's ``compute_elo_mle_with_tie``: a win counts twice, a tie
once for each side). The predicted win rate of one model over another follows from the two ratings.

Adaptation to three tiers, with gold answers instead of human votes: each training query holds one
battle per pair of tiers (device-edge, device-cloud, edge-cloud), won by the tier that answered
correctly when only one did and tied otherwise, so "tier t wins or ties the cloud" is exactly
``BaselineData.good_enough``. The Bradley-Terry fit only needs, per pair, the weighted counts of
each side's wins, so the weights of all training battles are summed with one matrix product and a
T-player logistic regression (scikit-learn) is fitted per query on those counts. The score of tier
t is its predicted probability of not losing to the cloud: 1 - P(cloud beats t).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from sklearn.linear_model import LogisticRegression
from tqdm.auto import tqdm

from .base import BaselineData, LearnedRouter, check_trainable


class RouteLLMSimilarityWeighted(LearnedRouter):
    """Similarity-weighted Bradley-Terry ratings per query.

    Args:
        gamma: base of the similarity weighting (RouteLLM uses 10).
        l2: inverse L2 strength ``C`` of the per-query logistic regression; a weak penalty that
            keeps ratings finite when one side never wins (the weighted counts are in the
            thousands, so it barely moves the ratings otherwise).
    """

    def __init__(self, gamma: float = 10.0, l2: float = 1.0) -> None:
        if gamma <= 1:
            raise ValueError(f"`gamma` must be > 1 (similar queries weigh more), got {gamma}.")
        self.gamma = gamma
        self.l2 = l2

    def fit(self, train: BaselineData, seed: int = 0) -> "RouteLLMSimilarityWeighted":
        """Store the battles of the training queries (deterministic; ``seed`` is accepted for the common interface)."""
        check_trainable(train)
        n_tiers = train.n_tiers
        self.pairs_ = list(itertools.combinations(range(n_tiers), 2))
        correct = train.correct.astype(np.float64)
        # (N_train, 2 * P): per pair (a, b), the doubled-battle win counts of a then of b.
        wins = []
        for a, b in self.pairs_:
            a_wins = correct[:, a] * (1 - correct[:, b])
            b_wins = correct[:, b] * (1 - correct[:, a])
            tie = 1 - a_wins - b_wins
            wins += [2 * a_wins + tie, 2 * b_wins + tie]
        self.wins_ = np.stack(wins, axis=1)
        embeddings = train.embeddings / np.linalg.norm(train.embeddings, axis=1, keepdims=True).clip(1e-12)
        self.train_embeddings_ = embeddings.astype(np.float32)
        self.n_tiers_ = n_tiers
        # One logistic-regression row per pair (a, b): +ln 10 on a, -ln 10 on b; stacked twice, as
        # "a wins" rows (y = 1, weighted by a's win count) and "b wins" rows (y = 0, by b's).
        design = np.zeros((len(self.pairs_), n_tiers))
        for k, (a, b) in enumerate(self.pairs_):
            design[k, [a, b]] = [math.log(10), -math.log(10)]
        self.design_ = np.concatenate([design, design])
        return self

    def ratings(self, data: BaselineData) -> np.ndarray:
        """(N, T) Bradley-Terry ratings (Elo scale / 400, base 10) of the tiers for each query of ``data``."""
        self._check_predictable(data)
        queries = data.embeddings / np.linalg.norm(data.embeddings, axis=1, keepdims=True).clip(1e-12)
        similarity = queries @ self.train_embeddings_.T  # (N, N_train)
        similarity = similarity / np.abs(similarity).max(axis=1, keepdims=True).clip(1e-12)
        weights = self.gamma ** (1.0 + similarity)  # RouteLLM: 10 * 10 ** (S / max S)
        counts = weights @ self.wins_  # (N, 2P) weighted win counts
        n_pairs = len(self.pairs_)
        labels = np.concatenate([np.ones(n_pairs), np.zeros(n_pairs)])
        ratings = np.empty((len(data), self.n_tiers_))
        model = LogisticRegression(fit_intercept=False, C=self.l2)
        for i in tqdm(range(len(data)), desc="SW ranking", leave=False, disable=len(data) < 200):
            model.fit(self.design_, labels, sample_weight=np.concatenate([counts[i, 0::2], counts[i, 1::2]]))
            ratings[i] = model.coef_[0]
        return ratings

    def predict_scores(self, data: BaselineData) -> np.ndarray:
        """(N, T-1) probability that each cheaper tier does not lose to the cloud, in [0, 1]."""
        ratings = self.ratings(data)
        cloud_wins = 1.0 / (1.0 + 10.0 ** (ratings[:, :-1] - ratings[:, -1:]))
        return 1.0 - cloud_wins
