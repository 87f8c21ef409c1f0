"""Prometheus metrics of one server (its own ``CollectorRegistry``: no process-global state)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from ..runtime import ChatResult

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class ServingMetrics:
    """Counters and histograms exposed at ``/metrics``.

    - ``consroute_requests_total{tier}``: answered requests by the tier that answered;
    - ``consroute_routed_total{tier}``: requests by the tier the router chose;
    - ``consroute_failovers_total{from_tier}``: tiers that failed and handed a request up;
    - ``consroute_errors_total{status}``: requests that ended with an error, by HTTP status;
    - ``consroute_request_latency_seconds{tier}``, ``consroute_ttft_seconds{tier}``: histograms;
    - ``consroute_routing_overhead_seconds``: device prefill + prompt extension + head.
    """

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("consroute_requests", "Answered requests by answering tier", ["tier"], registry=self.registry)
        self.routed = Counter("consroute_routed", "Requests by routed tier", ["tier"], registry=self.registry)
        self.failovers = Counter("consroute_failovers", "Tier failures that failed over", ["from_tier"], registry=self.registry)
        self.errors = Counter("consroute_errors", "Requests that ended in an error", ["status"], registry=self.registry)
        self.latency = Histogram(
            "consroute_request_latency_seconds", "End-to-end latency", ["tier"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.ttft = Histogram(
            "consroute_ttft_seconds", "Time to first token", ["tier"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.routing = Histogram(
            "consroute_routing_overhead_seconds", "Routing overhead per request", buckets=_LATENCY_BUCKETS, registry=self.registry,
        )

    def observe(self, result: ChatResult) -> None:
        """Record one answered request."""
        self.requests.labels(result.tier).inc()
        self.routed.labels(result.routed_tier).inc()
        for failure in result.failures:
            self.failovers.labels(failure.tier).inc()
        self.latency.labels(result.tier).observe(result.latency.total_ms / 1000.0)
        if result.latency.ttft_ms is not None:
            self.ttft.labels(result.tier).observe(result.latency.ttft_ms / 1000.0)
        if result.decision is not None:
            self.routing.observe(result.latency.routing_ms / 1000.0)

    def observe_error(self, status: int) -> None:
        self.errors.labels(str(status)).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
