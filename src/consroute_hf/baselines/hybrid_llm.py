"""Hybrid LLM: a quality-gap router trained on probabilistic, relaxed labels.

Ding et al., "Hybrid LLM: Cost-Efficient and Quality-Aware Query Routing", ICLR 2024
(arXiv:2404.14618). The router predicts, for a small model S and a large model L, whether the
quality gap H(x) = q(S(x)) - q(L(x)) is small. Its best variant (r_trans) trains a classifier with
binary cross-entropy on soft labels y(x) = Pr[H(x) >= -t], the probability over sampled responses
that S is at most t worse than L, with the relaxation t* chosen to maximise the average pairwise
difference of the labels over the training set (labels that separate queries best).

Labels from one response per tier: the paper samples 10 responses per model to estimate that
probability; here each tier has one greedy answer graded right or wrong. That answer is taken as
one Bernoulli draw of the tier's success rate p on the query, so under a uniform prior
p ~ Beta(1 + c, 2 - c) (c = 1 if right), independently for the cheaper tier and the cloud, and the
label is y_t(x) = Pr[p_t - p_cloud >= -t] under those posteriors, computed on a grid. The labels
take three levels (t wrong and cloud right < both equal < t right and cloud wrong), their spacing
set by t*, chosen per tier on the training split as in the paper.

Three-tier adaptation: one (tier, cloud) gap per cheaper tier, i.e. T-1 outputs of one network.
Classifier: the paper fine-tunes DeBERTa-v3-large; to keep a fit within seconds on CPU this uses an
MLP on the frozen MiniLM embeddings (``routellm_bert`` covers the fine-tuned-encoder case).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from .base import BaselineData, LearnedRouter, check_trainable, torch_threads

_GRID = np.linspace(0.0, 1.0, 2001)


def gap_probability(small_correct: bool, large_correct: bool, relaxation: float | np.ndarray) -> np.ndarray:
    """Pr[p_small - p_large >= -relaxation] with p ~ Beta(1 + c, 2 - c) posteriors of one graded answer each.

    Args:
        relaxation: a scalar or (R,) values of t.

    Returns:
        an array shaped like ``relaxation``.
    """
    small = stats.beta(1 + int(small_correct), 2 - int(small_correct))
    large = stats.beta(1 + int(large_correct), 2 - int(large_correct))
    relaxation = np.asarray(relaxation, dtype=np.float64)
    # Integrate over p_large: Pr[p_small >= p_large - t] = E[1 - F_small(p_large - t)].
    integrand = large.pdf(_GRID) * small.sf(_GRID - relaxation[..., None])
    return np.clip(np.trapezoid(integrand, _GRID, axis=-1), 0.0, 1.0)


def average_pairwise_difference(values: np.ndarray) -> float:
    """Mean |y_i - y_j| over all pairs i < j of (N,) values (sorted-sum formula, O(N log N))."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    n = len(ordered)
    if n < 2:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float(np.sum(ordered * (2 * ranks - n - 1)) / (n * (n - 1) / 2))


def probabilistic_labels(
    small_correct: np.ndarray, large_correct: np.ndarray, relaxations: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """Hybrid LLM's transformed labels for one (small, large) pair.

    Args:
        small_correct, large_correct: (N,) bool gold verdicts of the two tiers' answers.
        relaxations: candidate t values (default 0, 0.01, ..., 0.99).

    Returns:
        (N,) labels y(x) = Pr[H(x) >= -t*] and the chosen t* (largest average pairwise difference).
    """
    small_correct = np.asarray(small_correct, dtype=bool)
    large_correct = np.asarray(large_correct, dtype=bool)
    relaxations = np.arange(0.0, 1.0, 0.01) if relaxations is None else np.asarray(relaxations, dtype=np.float64)
    # (4, R): the label of each (small right, large right) outcome under each candidate t.
    table = np.stack([gap_probability(s, c, relaxations) for s in (False, True) for c in (False, True)])
    outcome = 2 * small_correct.astype(np.int64) + large_correct.astype(np.int64)
    spreads = [average_pairwise_difference(table[outcome, r]) for r in range(len(relaxations))]
    best = int(np.argmax(spreads))  # the first (smallest) t among equal spreads
    return table[outcome, best], float(relaxations[best])


class HybridLLMRouter(LearnedRouter):
    """An MLP on query embeddings predicting Pr[quality gap of tier t vs cloud >= -t*] per cheaper tier.

    Args:
        hidden_size: MLP width. num_train_epochs, batch_size, learning_rate, weight_decay: AdamW training
            (10 epochs: on Gemma 2 ZeroEval, 60 epochs overfit the soft labels, edge AUROC 0.61 -> 0.57).
        dropout: dropout before the output layer.
    """

    def __init__(
        self, hidden_size: int = 128, num_train_epochs: int = 10, batch_size: int = 64, learning_rate: float = 1e-3,
        weight_decay: float = 1e-2, dropout: float = 0.1,
    ) -> None:
        self.hidden_size = hidden_size
        self.num_train_epochs = num_train_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.dropout = dropout

    def fit(self, train: BaselineData, seed: int = 0) -> "HybridLLMRouter":
        """Make the relaxed probabilistic labels (t* per tier, in ``relaxations_``) and train the MLP (seeded)."""
        check_trainable(train)
        cheaper = train.n_tiers - 1
        columns = [probabilistic_labels(train.correct[:, t], train.correct[:, -1]) for t in range(cheaper)]
        self.relaxations_ = [t for _, t in columns]
        targets = torch.from_numpy(np.stack([labels for labels, _ in columns], axis=1).astype(np.float32))
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        self.model_ = nn.Sequential(
            nn.Linear(train.embeddings.shape[1], self.hidden_size), nn.GELU(), nn.Dropout(self.dropout),
            nn.Linear(self.hidden_size, cheaper),
        )
        inputs = torch.from_numpy(train.embeddings)
        optimizer = torch.optim.AdamW(self.model_.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        self.model_.train()
        with torch_threads(1):
            for _ in tqdm(range(self.num_train_epochs), desc="Hybrid LLM", leave=False):
                for batch in torch.randperm(len(inputs), generator=generator).split(self.batch_size):
                    loss = F.binary_cross_entropy_with_logits(self.model_(inputs[batch]), targets[batch])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        self.model_.eval()
        self.n_tiers_ = train.n_tiers
        return self

    @torch.no_grad()
    def predict_scores(self, data: BaselineData) -> np.ndarray:
        """(N, T-1) predicted Pr[H_t(x) >= -t*] in [0, 1]."""
        self._check_predictable(data)
        return torch.sigmoid(self.model_(torch.from_numpy(data.embeddings))).double().numpy()
