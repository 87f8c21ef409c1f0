"""Data types shared by the runtime, its tier clients and the server: generation parameters,
results, streaming events and the errors a request can end with."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ..modeling_consroute import RoutingDecision


@dataclass(frozen=True)
class GenerationParams:
    """How to generate one answer (the OpenAI request fields the runtime honours).

    Attributes:
        max_new_tokens: Upper bound on generated tokens (>= 1).
        temperature: 0 = greedy decoding; > 0 samples from the temperature-scaled distribution.
        top_p: Nucleus-sampling mass in (0, 1]; used only when sampling.
        stop: Strings that end the answer (the stop string itself is not returned).
        seed: Seed of the sampler for reproducible sampling (device tier), forwarded to remote tiers.
    """

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"`max_tokens` must be >= 1, got {self.max_new_tokens}.")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"`temperature` must be in [0, 2], got {self.temperature}.")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"`top_p` must be in (0, 1], got {self.top_p}.")


@dataclass
class LatencyBreakdown:
    """Milliseconds from the moment the request reached the runtime.

    Attributes:
        routing_ms: Device prefill + consistency-prompt extension + head (0 without a router).
        ttft_ms: Time to the first answer token (None when the answer is empty).
        total_ms: Time to the complete answer.
    """

    routing_ms: float
    ttft_ms: float | None
    total_ms: float


@dataclass
class TierFailure:
    """One tier that could not answer (the request then failed over to the next tier up)."""

    tier: str
    error: str
    attempts: int


@dataclass
class ChatResult:
    """One answered request.

    Attributes:
        text: The answer.
        tier: The tier that produced it.
        routed_tier: The tier the router chose (differs from ``tier`` after a failover).
        failed_over: Whether at least one tier failed before ``tier`` answered.
        failures: The tiers that failed, in order.
        decision: The router's decision (None for a single-model backend).
        latency: Routing, time-to-first-token and total latency.
        prompt_tokens: Prompt tokens as counted by the tier that answered (None if it did not say).
        completion_tokens: Generated tokens (None if a remote tier did not say).
        estimated_cost: ``activated_params_b x completion_tokens`` of the answering tier (the
            paper's cost model, in billions of parameter-tokens); None when unknown.
        estimated_usd: From the tier's ``usd_per_1k_output_tokens``, when set.
        finish_reason: ``"stop"`` (end of sequence or stop string) or ``"length"``.
    """

    text: str
    tier: str
    routed_tier: str
    failed_over: bool
    failures: list[TierFailure]
    decision: RoutingDecision | None
    latency: LatencyBreakdown
    prompt_tokens: int | None
    completion_tokens: int | None
    estimated_cost: float | None = None
    estimated_usd: float | None = None
    finish_reason: str = "stop"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (the ``consroute`` field of server responses)."""
        data = asdict(self)
        data.pop("text")
        data["decision"] = None if self.decision is None else self.decision.to_dict()
        return data


@dataclass
class StreamEvent:
    """One item of a streamed answer: a text delta, or (last item only) the finished ``result``."""

    delta: str = ""
    result: ChatResult | None = None


@dataclass
class Deadline:
    """The moment a request must be finished by (``time.perf_counter`` clock)."""

    at: float = field(default_factory=lambda: float("inf"))

    @classmethod
    def after(cls, seconds: float | None) -> "Deadline":
        return cls(float("inf") if seconds is None else time.perf_counter() + seconds)

    def remaining(self) -> float:
        """Seconds left (may be negative)."""
        return self.at - time.perf_counter()

    def check(self, what: str) -> None:
        """Raise [`RequestTimeoutError`] when the deadline has passed."""
        if self.remaining() <= 0:
            raise RequestTimeoutError(f"The request timed out while {what}.")


class RuntimeRequestError(ValueError):
    """The request itself is invalid (HTTP 400): the message says what to fix."""


class RequestTimeoutError(TimeoutError):
    """The request did not finish before its deadline (HTTP 504)."""


class TierError(RuntimeError):
    """A tier could not answer: a connection error, a timeout, an error status or a bad response."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.attempts = 1


class AllTiersFailedError(RuntimeError):
    """The routed tier and every tier above it failed (HTTP 502)."""

    def __init__(self, failures: list[TierFailure]) -> None:
        detail = "; ".join(f"{f.tier}: {f.error}" for f in failures)
        super().__init__(f"Every tier failed to answer ({detail}).")
        self.failures = failures
