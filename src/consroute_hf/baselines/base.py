"""What every peer router reads (``BaselineData``) and the two router interfaces.

Fixed routers (``FixedRouter``) map a split straight to tier indices; learned routers
(``LearnedRouter``) fit on a training split and emit per-tier "good enough" scores that the
pipeline turns into tiers with ``consroute_hf.select_tiers`` and one calibrated threshold vector,
exactly as ConsRoute's global-threshold ablation does.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..configuration_consroute import TierSpec


@dataclass
class BaselineData:
    """One split of the routing dataset, as arrays.

    Attributes:
        queries: N query texts.
        embeddings: (N, E) float32 query embeddings (MiniLM, unit-normalised, from ``embed_texts``).
        correct: (N, T) bool, whether each tier's answer is right; the last tier is the cloud
            (reference) tier.
        labels: (N, T-1) float in [0, 1], ConsRoute's soft consistency targets of each cheaper tier.
        cost: (N, T) float, activated parameters x output tokens of each tier's answer.
    """

    queries: list[str]
    embeddings: np.ndarray
    correct: np.ndarray
    labels: np.ndarray
    cost: np.ndarray

    def __post_init__(self) -> None:
        self.queries = list(self.queries)
        if any(not isinstance(q, str) for q in self.queries):
            raise TypeError("`queries` must be a list of strings.")
        self.embeddings = np.asarray(self.embeddings, dtype=np.float32)
        correct = np.asarray(self.correct)
        if correct.dtype != bool:
            raise TypeError(
                f"`correct` must be a bool array (one gold verdict per tier), got dtype {correct.dtype}; rows "
                "without a reference answer cannot be used by the baselines: drop them first."
            )
        self.correct = correct
        self.labels = np.asarray(self.labels, dtype=np.float64)
        self.cost = np.asarray(self.cost, dtype=np.float64)
        n = len(self.queries)
        if self.correct.ndim != 2 or self.correct.shape[0] != n or self.correct.shape[1] < 2:
            raise ValueError(f"`correct` must be (N={n}, T>=2), got shape {self.correct.shape}.")
        n_tiers = self.correct.shape[1]
        expected = {"embeddings": (n, None), "labels": (n, n_tiers - 1), "cost": (n, n_tiers)}
        for name, (rows, cols) in expected.items():
            array = getattr(self, name)
            if array.ndim != 2 or array.shape[0] != rows or (cols is not None and array.shape[1] != cols):
                want = f"(N={rows}, {'E' if cols is None else cols})"
                raise ValueError(f"`{name}` must be {want} to match {n} queries and {n_tiers} tiers, got {array.shape}.")
        if not np.all(np.isfinite(self.labels)) or self.labels.min(initial=0.0) < 0 or self.labels.max(initial=0.0) > 1:
            raise ValueError("`labels` must be finite soft targets in [0, 1].")
        if not np.all(np.isfinite(self.cost)) or self.cost.min(initial=0.0) < 0:
            raise ValueError("`cost` must be finite and non-negative (activated parameters x output tokens).")

    @property
    def n_tiers(self) -> int:
        """T, the number of tiers (the last one is the cloud tier)."""
        return self.correct.shape[1]

    def __len__(self) -> int:
        return len(self.queries)

    def subset(self, indices: Sequence[int] | np.ndarray) -> "BaselineData":
        """The rows ``indices`` (an int index array, e.g. ``SplitIndices.train``) as a new ``BaselineData``."""
        indices = np.asarray(indices)
        if indices.dtype == bool or not np.issubdtype(indices.dtype, np.integer):
            raise TypeError(f"`indices` must be integer row indices, got dtype {indices.dtype}.")
        return BaselineData(
            [self.queries[i] for i in indices], self.embeddings[indices], self.correct[indices],
            self.labels[indices], self.cost[indices],
        )

    def good_enough(self) -> np.ndarray:
        """(N, T-1) bool: tier t's answer is as good as the cloud's (t right, or the cloud wrong).

        This is the win-or-tie label of RouteLLM-style routers, made from the gold answers.
        """
        return self.correct[:, :-1] | ~self.correct[:, -1:]

    @classmethod
    def from_routing_dataset(
        cls, dataset: Any, tiers: Sequence[TierSpec], embeddings: np.ndarray
    ) -> "BaselineData":
        """Build from the routing dataset (a ``datasets.Dataset`` or a column mapping).

        Args:
            dataset: rows with ``query``, ``labels`` and, per tier name t, ``correct_<t>`` and
                ``output_tokens_<t>``.
            tiers: the recipe's tiers, cheapest first (cost = ``activated_params_b`` x output tokens).
            embeddings: (N, E) query embeddings in row order.
        """
        columns: Mapping[str, Any] = dataset
        names = set(dataset.column_names) if hasattr(dataset, "column_names") else set(dataset)
        needed = ["query", "labels"] + [f"{p}_{t.name}" for t in tiers for p in ("correct", "output_tokens")]
        missing = [c for c in needed if c not in names]
        if missing:
            raise ValueError(f"The routing dataset lacks columns {missing}; rebuild it with `consroute prepare`.")
        correct = []
        for tier in tiers:
            verdicts = list(columns[f"correct_{tier.name}"])
            if any(v is None for v in verdicts):
                raise ValueError(
                    f"`correct_{tier.name}` has rows without a verdict (no reference answer); the baselines need "
                    "gold correctness: filter those rows out first."
                )
            correct.append(np.asarray(verdicts, dtype=bool))
        tokens = np.stack([np.asarray(columns[f"output_tokens_{t.name}"], dtype=np.float64) for t in tiers], axis=1)
        params = np.asarray([t.activated_params_b for t in tiers], dtype=np.float64)
        return cls(
            list(columns["query"]), embeddings, np.stack(correct, axis=1),
            np.asarray(list(columns["labels"]), dtype=np.float64).reshape(tokens.shape[0], len(tiers) - 1),
            tokens * params,
        )


class FixedRouter(abc.ABC):
    """A router that needs no training: ``assign`` gives each query's tier directly."""

    @abc.abstractmethod
    def assign(self, data: BaselineData) -> np.ndarray:
        """(N,) int tier indices in [0, T-1] for the N rows of ``data``."""


class LearnedRouter(abc.ABC):
    """A router fitted on a training split that scores how safe each cheaper tier is."""

    n_tiers_: int | None = None

    @abc.abstractmethod
    def fit(self, train: BaselineData, seed: int = 0) -> "LearnedRouter":
        """Fit on ``train`` (seeded, reproducible) and return ``self``."""

    @abc.abstractmethod
    def predict_scores(self, data: BaselineData) -> np.ndarray:
        """(N, T-1) scores in [0, 1]: confidence that tier t's answer is as good as the cloud's."""

    def _check_predictable(self, data: BaselineData) -> None:
        if self.n_tiers_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call `.fit(train_data)` first.")
        if data.n_tiers != self.n_tiers_:
            raise ValueError(f"{type(self).__name__} was fitted on {self.n_tiers_} tiers, got data with {data.n_tiers}.")


def check_trainable(train: BaselineData, minimum: int = 2) -> None:
    """Raise a clear error when ``train`` is too small or its good-enough labels are all one class."""
    if len(train) < minimum:
        raise ValueError(f"Need at least {minimum} training queries, got {len(train)}.")
    targets = train.good_enough()
    constant = [t for t in range(targets.shape[1]) if targets[:, t].all() or not targets[:, t].any()]
    if len(constant) == targets.shape[1]:
        raise ValueError(
            "Every tier's 'as good as cloud' label is a single class on the training split: nothing to learn; "
            "use a larger or more varied training split."
        )


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run torch on ``count`` intra-op threads inside the block (None: leave it), restoring the count after.

    The embedding routers train models of a few hundred thousand parameters on batches of 64:
    thread hand-offs cost more than they save, and on a busy machine 2 threads ran such a fit ~50x
    slower than 1 (30 s vs 0.6 s), so they train with ``torch_threads(1)``.
    """
    previous = torch.get_num_threads()
    if count is not None:
        if count < 1:
            raise ValueError(f"Thread count must be >= 1, got {count}.")
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
