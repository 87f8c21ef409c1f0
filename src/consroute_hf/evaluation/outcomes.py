"""Per-query, per-tier outcomes of a routing split, and the cost and latency models applied to them.

Shapes: N queries, T tiers (cheapest first; the last tier is the reference "cloud" tier).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..configuration_consroute import TierSpec, resolve_tiers


@dataclass(frozen=True)
class NetworkProfile:
    """How a network condition changes the round trip to a remote tier.

    A tier's round trip under the profile is ``network_rtt_ms * rtt_scale + added_rtt_ms`` when the
    tier is remote (``network_rtt_ms > 0``); an on-device tier (``network_rtt_ms == 0``) needs no
    network and keeps 0 ms under every profile.

    Attributes:
        name: Profile name.
        rtt_scale: Multiplier on each remote tier's own round trip.
        added_rtt_ms: Extra delay per remote call (queueing, retransmissions, radio wake-up).
    """

    name: str
    rtt_scale: float
    added_rtt_ms: float

    def rtt_ms(self, tier: TierSpec) -> float:
        """Round trip to ``tier`` under this profile, in milliseconds."""
        if tier.network_rtt_ms <= 0:
            return 0.0
        return tier.network_rtt_ms * self.rtt_scale + self.added_rtt_ms


#: The two network conditions latency is reported under (the paper emulated a good and a bad
#: network). "good": each remote tier's own ``network_rtt_ms`` (a wired or 5G link). "bad": a
#: congested mobile link, 4x the round trip plus 150 ms per remote call.
NETWORK_PROFILES: dict[str, NetworkProfile] = {
    "good": NetworkProfile("good", rtt_scale=1.0, added_rtt_ms=0.0),
    "bad": NetworkProfile("bad", rtt_scale=4.0, added_rtt_ms=150.0),
}


def network_profile(network: str | NetworkProfile) -> NetworkProfile:
    """Look a profile up by name (``"good"`` / ``"bad"``) or pass a ``NetworkProfile`` through."""
    if isinstance(network, NetworkProfile):
        return network
    if network not in NETWORK_PROFILES:
        raise ValueError(f"Unknown network profile {network!r}; use one of {sorted(NETWORK_PROFILES)} or a NetworkProfile.")
    return NETWORK_PROFILES[network]


@dataclass
class TierOutcomes:
    """What every tier did on every query of a split.

    Attributes:
        tiers: T tier profiles, cheapest first; the last is the reference (cloud) tier.
        correct: (N, T) bool, whether tier t answered query i correctly.
        output_tokens: (N, T) int, tokens tier t generated for query i.
        prompt_tokens: (N,) int prompt length of each query (for prefill time), or None to leave
            prefill out of the latency model.
    """

    tiers: list[TierSpec]
    correct: np.ndarray
    output_tokens: np.ndarray
    prompt_tokens: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.tiers = resolve_tiers(self.tiers)
        self.correct = np.asarray(self.correct)
        self.output_tokens = np.asarray(self.output_tokens)
        n_tiers = len(self.tiers)
        if self.correct.ndim != 2 or self.correct.shape[1] != n_tiers:
            raise ValueError(f"`correct` must be (N, T) with T={n_tiers} tiers, got shape {self.correct.shape}.")
        if self.correct.dtype != bool:
            if not np.isin(self.correct, (0, 1)).all():
                raise ValueError("`correct` must hold booleans (or 0/1); convert graded scores before building outcomes.")
            self.correct = self.correct.astype(bool)
        if self.output_tokens.shape != self.correct.shape:
            raise ValueError(
                f"`output_tokens` has shape {self.output_tokens.shape}, expected (N, T) = {self.correct.shape}."
            )
        if (self.output_tokens < 0).any():
            raise ValueError("`output_tokens` must be >= 0 everywhere.")
        self.output_tokens = self.output_tokens.astype(np.int64)
        if self.prompt_tokens is not None:
            self.prompt_tokens = np.asarray(self.prompt_tokens, dtype=np.int64)
            if self.prompt_tokens.shape != (len(self.correct),):
                raise ValueError(
                    f"`prompt_tokens` has shape {self.prompt_tokens.shape}, expected (N,) = ({len(self.correct)},)."
                )

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dataset(
        cls,
        dataset: Any,
        tiers: Sequence[str | dict | TierSpec],
        prompt_tokens: Sequence[int] | np.ndarray | None = None,
        on_missing_correct: str = "error",
    ) -> "TierOutcomes":
        """Read ``correct_<tier>`` and ``output_tokens_<tier>`` columns of a routing dataset.

        Args:
            dataset: a ``datasets.Dataset`` (or any mapping of column name -> list) with the columns.
            tiers: the tiers, cheapest first (names must match the column suffixes).
            prompt_tokens: optional (N,) prompt lengths.
            on_missing_correct: what a ``None`` in a ``correct_<tier>`` column means: ``"error"``
                (default: raise, naming the column and rows) or ``"false"`` (count it as wrong).
        """
        if on_missing_correct not in ("error", "false"):
            raise ValueError(f"`on_missing_correct` must be 'error' or 'false', got {on_missing_correct!r}.")
        specs = resolve_tiers(tiers)
        columns = set(getattr(dataset, "column_names", None) or dataset.keys())
        needed = [f"{kind}_{spec.name}" for spec in specs for kind in ("correct", "output_tokens")]
        missing = [name for name in needed if name not in columns]
        if missing:
            raise ValueError(f"The dataset lacks column(s) {missing}; it has {sorted(columns)}.")
        correct, tokens = [], []
        for spec in specs:
            raw = list(dataset[f"correct_{spec.name}"])
            unknown = [row for row, value in enumerate(raw) if value is None]
            if unknown and on_missing_correct == "error":
                raise ValueError(
                    f"Column `correct_{spec.name}` is None in {len(unknown)} row(s) (first: {unknown[:5]}): grade "
                    "those answers, drop the rows, or pass on_missing_correct='false' to count them as wrong."
                )
            correct.append([bool(value) for value in raw])
            tokens.append(list(dataset[f"output_tokens_{spec.name}"]))
        return cls(specs, np.array(correct, dtype=bool).T.reshape(-1, len(specs)),
                   np.array(tokens, dtype=np.int64).T.reshape(-1, len(specs)), prompt_tokens)

    def subset(self, index: np.ndarray | Sequence[int]) -> "TierOutcomes":
        """The outcomes of rows ``index`` ((M,) int indices or (N,) bool mask)."""
        index = np.asarray(index)
        prompts = None if self.prompt_tokens is None else self.prompt_tokens[index]
        return TierOutcomes(list(self.tiers), self.correct[index], self.output_tokens[index], prompts)

    # ------------------------------------------------------------------ views
    @property
    def num_queries(self) -> int:
        return int(self.correct.shape[0])

    @property
    def tier_names(self) -> list[str]:
        return [spec.name for spec in self.tiers]

    def tier_accuracy(self) -> np.ndarray:
        """(T,) accuracy of sending every query to each tier."""
        self._check_not_empty()
        return self.correct.mean(axis=0)

    def cost(self) -> np.ndarray:
        """(N, T) cost of each query on each tier: activated parameters (billions) x output tokens."""
        params = np.array([spec.activated_params_b for spec in self.tiers], dtype=np.float64)
        return self.output_tokens * params[None, :]

    def usd_cost(self) -> np.ndarray:
        """(N, T) USD cost: ``usd_per_1k_output_tokens`` x output tokens / 1000.

        Raises:
            ValueError: when some tier has no price.
        """
        unpriced = [spec.name for spec in self.tiers if spec.usd_per_1k_output_tokens is None]
        if unpriced:
            raise ValueError(f"Tier(s) {unpriced} have no `usd_per_1k_output_tokens`; set a price to report USD.")
        prices = np.array([spec.usd_per_1k_output_tokens for spec in self.tiers], dtype=np.float64)
        return self.output_tokens * prices[None, :] / 1000.0

    @property
    def has_prices(self) -> bool:
        return all(spec.usd_per_1k_output_tokens is not None for spec in self.tiers)

    def latency_ms(self, network: str | NetworkProfile = "good") -> np.ndarray:
        """(N, T) end-to-end latency of each query on each tier, in milliseconds.

        ``rtt(tier, network) + 1000 * prompt_tokens / prefill_tokens_per_s
        + 1000 * output_tokens / decode_tokens_per_s``; the prefill term is 0 when
        ``prompt_tokens`` is None. See ``NETWORK_PROFILES`` for the round trips.
        """
        profile = network_profile(network)
        rtt = np.array([profile.rtt_ms(spec) for spec in self.tiers], dtype=np.float64)
        prefill_speed = np.array([spec.prefill_tokens_per_s for spec in self.tiers], dtype=np.float64)
        decode_speed = np.array([spec.decode_tokens_per_s for spec in self.tiers], dtype=np.float64)
        latency = rtt[None, :] + 1000.0 * self.output_tokens / decode_speed[None, :]
        if self.prompt_tokens is not None:
            latency = latency + 1000.0 * self.prompt_tokens[:, None] / prefill_speed[None, :]
        return latency

    def _check_not_empty(self) -> None:
        if self.num_queries == 0:
            raise ValueError("These outcomes hold no queries; evaluate on a non-empty split.")


__all__ = ["TierOutcomes", "NetworkProfile", "NETWORK_PROFILES", "network_profile"]
