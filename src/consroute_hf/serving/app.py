"""The OpenAI-compatible HTTP server around a runtime ([`ConsRouteRuntime`] or [`SingleModelRuntime`]).

Endpoints: ``POST /v1/chat/completions`` (JSON or SSE streaming), ``GET /v1/models``,
``GET /health``, ``GET /metrics`` (Prometheus text). Generation runs in worker threads (the event
loop stays free for ``/health``); the runtime serialises model access with its own lock. Every
request has a deadline: the runtime stops at it, and the server gives up a little after it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any, AsyncIterator, Iterator, Protocol

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..runtime import (
    AllTiersFailedError,
    ChatResult,
    GenerationParams,
    RequestTimeoutError,
    RuntimeRequestError,
    StreamEvent,
    TierError,
)
from .errors import APIError, bad_request, install_error_handlers
from .metrics import ServingMetrics
from .schemas import ChatCompletionRequest

logger = logging.getLogger(__name__)

#: Extra seconds the server waits past a request's deadline before answering 504 itself.
_GRACE_S = 5.0


class ChatRuntime(Protocol):
    """What the server needs from a runtime."""

    model_id: str
    tier_names: list[str]
    request_timeout_s: float

    def generate(self, query: Any, params: GenerationParams | None = None, timeout_s: float | None = None) -> ChatResult: ...

    def stream(self, query: Any, params: GenerationParams | None = None, timeout_s: float | None = None) -> Iterator[StreamEvent]: ...


def create_app(
    runtime: ChatRuntime,
    defaults: GenerationParams | None = None,
    request_timeout_s: float | None = None,
    metrics: ServingMetrics | None = None,
) -> FastAPI:
    """Build the FastAPI app serving ``runtime`` under the model name ``runtime.model_id``.

    Args:
        defaults: generation parameters for fields a request leaves out (greedy, 256 tokens).
        request_timeout_s: deadline of one request (default: ``runtime.request_timeout_s``).
        metrics: where to record metrics (a fresh registry by default).
    """
    defaults = defaults or GenerationParams()
    timeout_s = runtime.request_timeout_s if request_timeout_s is None else request_timeout_s
    metrics = metrics or ServingMetrics()
    app = FastAPI(title="ConsRoute OpenAI-compatible server")
    app.state.runtime, app.state.metrics = runtime, metrics
    install_error_handlers(app)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": runtime.model_id, "tiers": list(runtime.tier_names)}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": runtime.model_id, "object": "model", "created": 0, "owned_by": "consroute"}]}

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: ChatCompletionRequest) -> Response:
        if request.model != runtime.model_id:
            metrics.observe_error(400)
            raise bad_request(
                f"Unknown model {request.model!r}: this server serves {runtime.model_id!r} (see GET /v1/models).",
                param="model", code="model_not_found",
            )
        try:
            params = request.generation_params(defaults)
        except ValueError as error:
            metrics.observe_error(400)
            raise bad_request(str(error)) from error
        query = request.conversation()
        if request.stream:
            return await _streaming_response(runtime, metrics, request, query, params, timeout_s)
        try:
            result = await asyncio.wait_for(
                run_in_threadpool(runtime.generate, query, params, timeout_s), timeout_s + _GRACE_S
            )
        except Exception as error:
            raise _api_error(error, metrics) from error
        metrics.observe(result)
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        body = {
            "id": completion_id, "object": "chat.completion", "created": int(time.time()), "model": runtime.model_id,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": result.text}, "finish_reason": result.finish_reason}],
            "usage": _usage(result), "consroute": result.to_dict(),
        }
        return JSONResponse(body, headers={"x-consroute-tier": result.tier})

    return app


async def _streaming_response(
    runtime: ChatRuntime, metrics: ServingMetrics, request: ChatCompletionRequest, query: Any,
    params: GenerationParams, timeout_s: float,
) -> Response:
    """SSE answer. Routing and the first delta happen before the response starts, so an invalid
    query or a failure of every tier still gets a proper HTTP error status."""
    events = runtime.stream(query, params, timeout_s)
    give_up_at = time.perf_counter() + timeout_s + _GRACE_S
    try:
        first = await _next_event(events, give_up_at)
    except Exception as error:
        await _close(events)
        raise _api_error(error, metrics) from error
    completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    include_usage = bool(request.stream_options and request.stream_options.include_usage)

    def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> str:
        payload = {
            "id": completion_id, "object": "chat.completion.chunk", "created": created, "model": runtime.model_id,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}], **extra,
        }
        return f"data: {json.dumps(payload)}\n\n"

    async def body() -> AsyncIterator[str]:
        event: StreamEvent | None = first
        try:
            yield chunk({"role": "assistant", "content": ""})
            while event is not None:
                if event.result is not None:
                    metrics.observe(event.result)
                    yield chunk({}, event.result.finish_reason, consroute=event.result.to_dict())
                    if include_usage:
                        payload = {
                            "id": completion_id, "object": "chat.completion.chunk", "created": created,
                            "model": runtime.model_id, "choices": [], "usage": _usage(event.result),
                        }
                        yield f"data: {json.dumps(payload)}\n\n"
                    break
                if event.delta:
                    yield chunk({"content": event.delta})
                event = await _next_event(events, give_up_at)
        except Exception as error:  # mid-stream: the status is already sent, report in-band
            yield f"data: {json.dumps(_api_error(error, metrics).body())}\n\n"
        finally:
            await _close(events)
        yield "data: [DONE]\n\n"

    return StreamingResponse(body(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


async def _next_event(events: Iterator[StreamEvent], give_up_at: float) -> StreamEvent | None:
    """The next event from a worker thread, or None at the end; asyncio.TimeoutError past ``give_up_at``."""
    return await asyncio.wait_for(run_in_threadpool(next, events, None), max(0.0, give_up_at - time.perf_counter()))


async def _close(events: Iterator[StreamEvent]) -> None:
    close = getattr(events, "close", None)
    if close is None:
        return
    try:
        await run_in_threadpool(close)
    except ValueError:  # still running in a timed-out worker: it stops at its own deadline
        logger.debug("Stream still running at close; it ends at its deadline.")


def _api_error(error: Exception, metrics: ServingMetrics) -> APIError:
    """Map a runtime error to its HTTP error (and count it)."""
    if isinstance(error, APIError):
        api_error = error
    elif isinstance(error, RuntimeRequestError):
        api_error = bad_request(str(error), param="messages")
    elif isinstance(error, (RequestTimeoutError, asyncio.TimeoutError, TimeoutError)):
        api_error = APIError(504, str(error) or "The request timed out.", "timeout_error", code="timeout")
    elif isinstance(error, (AllTiersFailedError, TierError)):
        api_error = APIError(502, str(error), "upstream_error", code="tier_failed")
    else:
        logger.exception("Unexpected error while answering", exc_info=error)
        api_error = APIError(500, f"Internal error: {type(error).__name__}: {error}", "server_error")
    metrics.observe_error(api_error.status)
    return api_error


def _usage(result: ChatResult) -> dict[str, int]:
    prompt, completion = result.prompt_tokens or 0, result.completion_tokens or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
