"""Clients for the remote tiers: any OpenAI-compatible ``/chat/completions`` endpoint, streamed.

Every attempt streams (``stream: true`` with ``stream_options.include_usage``), so time to first
token is measured the same way for every tier. Transient failures (connection errors, timeouts,
HTTP 429 / 5xx) are retried a bounded number of times with exponential back-off, but only while
nothing has been yielded yet; then a [`TierError`] tells the runtime to fail over.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Iterator

import httpx

from .types import Deadline, GenerationParams, RequestTimeoutError, TierError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemoteTierConfig:
    """Where and how to reach one remote tier.

    Attributes:
        name: The tier's name in the router config (e.g. ``"edge"``).
        base_url: The endpoint's base URL including the API version, e.g. ``http://host:8000/v1``
            (as for the OpenAI SDK); requests go to ``{base_url}/chat/completions``.
        model: The ``model`` field sent to the endpoint.
        api_key_env: Name of the environment variable holding the API key (sent as a Bearer token),
            or None for endpoints without authentication.
        timeout_s: Limit of one attempt (connect, and each wait for data).
        max_retries: Extra attempts after a transient failure (0 = try once).
        backoff_s: Wait before the first retry; doubled for each further retry.
    """

    name: str
    base_url: str
    model: str
    api_key_env: str | None = None
    timeout_s: float = 30.0
    max_retries: int = 2
    backoff_s: float = 0.2

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"Tier {self.name!r}: base_url must start with http:// or https://, got {self.base_url!r}.")
        if not self.model:
            raise ValueError(f"Tier {self.name!r}: give the endpoint's model name (model=...).")
        if self.timeout_s <= 0 or self.max_retries < 0 or self.backoff_s < 0:
            raise ValueError(f"Tier {self.name!r}: timeout_s must be > 0, max_retries and backoff_s >= 0.")

    @classmethod
    def parse(cls, text: str) -> "RemoteTierConfig":
        """Parse ``NAME=URL,model=MODEL[,api_key_env=VAR][,timeout=S][,retries=N]`` (the CLI's ``--tier``)."""
        fields: dict[str, str] = {}
        for index, part in enumerate(text.split(",")):
            key, sep, value = part.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise ValueError(
                    f"Bad tier spec {text!r}: expected NAME=URL,model=MODEL[,api_key_env=VAR][,timeout=S][,retries=N]."
                )
            if index == 0:
                fields["name"], fields["base_url"] = key.strip(), value.strip()
            else:
                fields[key.strip()] = value.strip()
        known = {"name", "base_url", "model", "api_key_env", "timeout", "retries"}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(f"Bad tier spec {text!r}: unknown field(s) {unknown}; known: model, api_key_env, timeout, retries.")
        if "model" not in fields:
            raise ValueError(f"Bad tier spec {text!r}: add model=<the endpoint's model name>.")
        try:
            return cls(
                name=fields["name"], base_url=fields["base_url"], model=fields["model"],
                api_key_env=fields.get("api_key_env"), timeout_s=float(fields.get("timeout", 30.0)),
                max_retries=int(fields.get("retries", 2)),
            )
        except ValueError as error:
            raise ValueError(f"Bad tier spec {text!r}: {error}") from error

    def api_key(self) -> str | None:
        """The key from ``api_key_env``; raises ValueError when that variable is unset or empty."""
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ValueError(
                f"Tier {self.name!r} reads its API key from ${self.api_key_env}, which is not set: export it "
                "or drop api_key_env for an endpoint without authentication."
            )
        return key


class ChatCompletionsClient:
    """A streaming client of one OpenAI-compatible tier (thread-safe: one pooled ``httpx.Client``).

    Args:
        config: the tier's endpoint settings. The API key is read once, here.
        transport: an ``httpx`` transport (tests); None for real network connections.
    """

    def __init__(self, config: RemoteTierConfig, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        headers = {"Content-Type": "application/json"}
        key = config.api_key()
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        self._http = httpx.Client(
            base_url=config.base_url.rstrip("/"), headers=headers, transport=transport,
            limits=httpx.Limits(max_connections=128, max_keepalive_connections=32),
        )

    def close(self) -> None:
        self._http.close()

    def stream_chat(self, messages: list[dict[str, str]], params: GenerationParams, deadline: Deadline) -> "RemoteStream":
        """Ask the tier to answer ``messages``; iterate the result for text deltas."""
        return RemoteStream(self, messages, params, deadline)

    def request_body(self, messages: list[dict[str, str]], params: GenerationParams) -> dict[str, Any]:
        """The JSON body of a streamed chat-completions request for ``messages``."""
        payload: dict[str, Any] = {
            "model": self.config.model, "messages": messages, "stream": True,
            "stream_options": {"include_usage": True}, "max_tokens": params.max_new_tokens,
            "temperature": params.temperature, "top_p": params.top_p,
        }
        if params.stop:
            payload["stop"] = list(params.stop)
        if params.seed is not None:
            payload["seed"] = params.seed
        return payload


class RemoteStream:
    """Iterating yields the tier's text deltas; afterwards ``text``, ``prompt_tokens``,
    ``completion_tokens`` (None when the endpoint reports no usage) and ``finish_reason`` are set.

    Raises:
        TierError: the tier failed (after its retries); ``.attempts`` says how often it was tried.
        RequestTimeoutError: the request's own deadline passed.
    """

    def __init__(self, client: ChatCompletionsClient, messages: list[dict[str, str]], params: GenerationParams, deadline: Deadline) -> None:
        self._client = client
        self._payload = client.request_body(messages, params)
        self._deadline = deadline
        self.attempts = 0
        self.text = ""
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.finish_reason = "stop"

    def __iter__(self) -> Iterator[str]:
        config = self._client.config
        delay = config.backoff_s
        while True:
            self.attempts += 1
            yielded = False
            try:
                for delta in self._attempt():
                    yielded = True
                    yield delta
                return
            except TierError as error:
                last_try = self.attempts > config.max_retries
                if yielded or not error.retryable or last_try or self._deadline.remaining() <= delay:
                    error.attempts = self.attempts
                    raise
                logger.warning("Tier %s failed (%s); retry %d of %d in %.2fs.", config.name, error, self.attempts, config.max_retries, delay)
                time.sleep(delay)
                delay *= 2

    def _attempt(self) -> Iterator[str]:
        config = self._client.config
        self._deadline.check(f"waiting for tier {config.name!r}")
        limit = min(config.timeout_s, self._deadline.remaining())
        give_up_at = time.perf_counter() + config.timeout_s
        try:
            with self._client._http.stream("POST", "/chat/completions", json=self._payload, timeout=httpx.Timeout(limit)) as response:
                if response.status_code != 200:
                    body = response.read().decode("utf-8", "replace")[:300]
                    retryable = response.status_code == 429 or response.status_code >= 500
                    raise TierError(f"HTTP {response.status_code}: {body}", retryable=retryable)
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[len("data:") :].strip()
                    if data == "[DONE]":
                        return
                    delta = self._read_chunk(data)
                    if delta:
                        self.text += delta
                        yield delta
                    if time.perf_counter() > give_up_at:
                        raise TierError(f"the answer took longer than timeout_s={config.timeout_s}")
                    self._deadline.check(f"streaming from tier {config.name!r}")
        except httpx.TimeoutException as error:
            if self._deadline.remaining() <= 0:
                raise RequestTimeoutError(f"The request timed out while waiting for tier {config.name!r}.") from error
            raise TierError(f"timed out ({type(error).__name__})") from error
        except httpx.HTTPError as error:
            raise TierError(f"{type(error).__name__}: {error}") from error
        raise TierError("the stream ended without [DONE]")

    def _read_chunk(self, data: str) -> str:
        try:
            chunk = json.loads(data)
        except json.JSONDecodeError as error:
            raise TierError(f"malformed stream chunk {data[:80]!r}", retryable=False) from error
        if "error" in chunk:
            raise TierError(f"error in stream: {chunk['error']}", retryable=False)
        usage = chunk.get("usage")
        if usage:
            self.prompt_tokens = usage.get("prompt_tokens")
            self.completion_tokens = usage.get("completion_tokens")
        choices = chunk.get("choices") or []
        if not choices:
            return ""
        if choices[0].get("finish_reason"):
            self.finish_reason = choices[0]["finish_reason"]
        return (choices[0].get("delta") or {}).get("content") or ""
