"""RouteLLM matrix-factorisation (MF) router.

Ong et al., "RouteLLM: Learning to Route LLMs with Preference Data", arXiv:2406.18665, section
4.1: a bilinear scoring function s(M, q) = w^T (v_M * (W q)), with a learned embedding v_M per
model (L2-normalised), a projection W of the query embedding q and a linear classifier w (no
biases); P(M_a beats M_b | q) = sigmoid(s(M_a, q) - s(M_b, q)), trained with binary cross-entropy
(RouteLLM's ``train_matrix_factorization.py``: dim 128, Adam, lr 3e-4, weight decay 1e-5,
Gaussian noise on the query embedding while training).

Adaptation to three tiers: one model embedding per tier, one pair (tier t, cloud) per training
query and cheaper tier, with the binary label "tier t as good as the cloud"
(``BaselineData.good_enough``: t right, or the cloud wrong; RouteLLM's win-or-tie). The score of
tier t is sigmoid(s(t, q) - s(cloud, q)). The query embedding is MiniLM (384-d) instead of
OpenAI's text-embedding-3-small.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from .base import BaselineData, LearnedRouter, check_trainable, torch_threads


class MatrixFactorizationModel(nn.Module):
    """s(M, q) = w^T (normalise(v_M) * (W q)).

    Args:
        n_models: number of tiers T. text_dim: E. dim: factor size.
    """

    def __init__(self, n_models: int, text_dim: int, dim: int = 128) -> None:
        super().__init__()
        self.model_embeddings = nn.Embedding(n_models, dim)
        self.text_proj = nn.Linear(text_dim, dim, bias=False)
        self.classifier = nn.Linear(dim, 1, bias=False)

    def forward(self, model_a: torch.Tensor, model_b: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """Logit of "model_a beats model_b": (B,) from (B,) model ids and (B, E) query embeddings."""
        difference = F.normalize(self.model_embeddings(model_a), dim=-1) - F.normalize(self.model_embeddings(model_b), dim=-1)
        return self.classifier(difference * self.text_proj(query)).squeeze(-1)


class RouteLLMMatrixFactorization(LearnedRouter):
    """Bilinear model-query factorisation trained on (tier, cloud) pairs.

    Args:
        dim: factor size. num_train_epochs, batch_size, learning_rate, weight_decay: Adam training.
        noise: std of the Gaussian noise added to query embeddings while training.
    """

    def __init__(
        self, dim: int = 128, num_train_epochs: int = 100, batch_size: int = 64, learning_rate: float = 3e-4,
        weight_decay: float = 1e-5, noise: float = 0.02,
    ) -> None:
        self.dim = dim
        self.num_train_epochs = num_train_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.noise = noise

    def fit(self, train: BaselineData, seed: int = 0) -> "RouteLLMMatrixFactorization":
        """Train on every (cheaper tier, cloud) pair of ``train`` (seeded)."""
        check_trainable(train)
        generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        n, cheaper = len(train), train.n_tiers - 1
        self.model_ = MatrixFactorizationModel(train.n_tiers, train.embeddings.shape[1], self.dim)
        queries = torch.from_numpy(train.embeddings).repeat_interleave(cheaper, dim=0)
        tiers = torch.arange(cheaper).repeat(n)
        cloud = torch.full_like(tiers, cheaper)
        targets = torch.from_numpy(train.good_enough().reshape(-1).astype(np.float32))
        optimizer = torch.optim.Adam(self.model_.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        self.model_.train()
        with torch_threads(1):
            for _ in tqdm(range(self.num_train_epochs), desc="RouteLLM MF", leave=False):
                for batch in torch.randperm(len(targets), generator=generator).split(self.batch_size):
                    query = queries[batch] + self.noise * torch.randn(queries[batch].shape, generator=generator)
                    loss = F.binary_cross_entropy_with_logits(self.model_(tiers[batch], cloud[batch], query), targets[batch])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        self.model_.eval()
        self.n_tiers_ = train.n_tiers
        return self

    @torch.no_grad()
    def predict_scores(self, data: BaselineData) -> np.ndarray:
        """(N, T-1) sigmoid(s(t, q) - s(cloud, q)) in [0, 1]."""
        self._check_predictable(data)
        n, cheaper = len(data), self.n_tiers_ - 1
        queries = torch.from_numpy(data.embeddings).repeat_interleave(cheaper, dim=0)
        tiers = torch.arange(cheaper).repeat(n)
        logits = self.model_(tiers, torch.full_like(tiers, cheaper), queries)
        return torch.sigmoid(logits).reshape(n, cheaper).double().numpy()
