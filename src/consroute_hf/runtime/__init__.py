"""Collaborative inference: the ConsRoute runtime (route on the device prefill, answer on the device
from the same KV cache or on a remote tier with failover) and a single-model runtime."""

from .clients import ChatCompletionsClient, RemoteStream, RemoteTierConfig
from .local import LocalLM, TokenStream
from .runtime import CONSROUTE_MODEL_ID, ConsRouteRuntime, DevicePrefill, build_clients
from .single import SingleModelRuntime
from .types import (
    AllTiersFailedError,
    ChatResult,
    Deadline,
    GenerationParams,
    LatencyBreakdown,
    RequestTimeoutError,
    RuntimeRequestError,
    StreamEvent,
    TierError,
    TierFailure,
)

__all__ = [
    "ConsRouteRuntime", "SingleModelRuntime", "DevicePrefill", "CONSROUTE_MODEL_ID", "build_clients",
    "ChatCompletionsClient", "RemoteStream", "RemoteTierConfig", "LocalLM", "TokenStream",
    "GenerationParams", "ChatResult", "StreamEvent", "LatencyBreakdown", "TierFailure", "Deadline",
    "RuntimeRequestError", "RequestTimeoutError", "TierError", "AllTiersFailedError",
]
