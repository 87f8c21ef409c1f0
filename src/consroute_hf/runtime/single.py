"""One causal LM behind the same interface as [`ConsRouteRuntime`]: the stand-in for an edge or
cloud tier in tests and demos (``consroute serve --model <dir>``)."""

from __future__ import annotations

import time
from typing import Any, Iterator

from ..modeling_consroute import Query
from .local import LocalLM
from .types import ChatResult, Deadline, GenerationParams, LatencyBreakdown, RuntimeRequestError, StreamEvent


class SingleModelRuntime:
    """Answers every query with one local causal LM (chat template with ``add_generation_prompt``).

    Args:
        causal_lm, tokenizer: the model and its tokenizer.
        model_id: the name clients must send as ``model``.
        max_prompt_tokens: longer prompts are rejected (HTTP 400), not truncated.
        request_timeout_s: default deadline of one request.
    """

    def __init__(self, causal_lm: Any, tokenizer: Any, model_id: str, max_prompt_tokens: int = 4096, request_timeout_s: float = 120.0) -> None:
        self.lm = LocalLM(causal_lm, tokenizer)
        self.model_id = model_id
        self.tier_names = [model_id]
        self.max_prompt_tokens = max_prompt_tokens
        self.request_timeout_s = request_timeout_s

    def encode(self, query: Query) -> list[int]:
        """The prompt's token ids (S,)."""
        messages = [{"role": "user", "content": query}] if isinstance(query, str) else query
        tokenizer = self.lm.tokenizer
        if getattr(tokenizer, "chat_template", None):
            text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        else:
            ids = tokenizer("\n".join(m["content"] for m in messages), add_special_tokens=True)["input_ids"]
        if len(ids) > self.max_prompt_tokens:
            raise RuntimeRequestError(
                f"The prompt has {len(ids)} tokens; this model accepts at most {self.max_prompt_tokens}: shorten the conversation."
            )
        return ids

    def generate(self, query: Query, params: GenerationParams | None = None, timeout_s: float | None = None) -> ChatResult:
        """Answer ``query`` (see [`ConsRouteRuntime.generate`])."""
        for event in self.stream(query, params, timeout_s):
            if event.result is not None:
                return event.result
        raise AssertionError("the event stream ended without a result")

    def stream(self, query: Query, params: GenerationParams | None = None, timeout_s: float | None = None) -> Iterator[StreamEvent]:
        """Answer ``query`` as text deltas; the last event carries the ``ChatResult``."""
        params = params or GenerationParams()
        start = time.perf_counter()
        deadline = Deadline.after(self.request_timeout_s if timeout_s is None else timeout_s)
        ids = self.encode(query)
        cache = self.lm.new_cache()
        logits = self.lm.prefill(ids, cache).logits[:, -1]
        tokens = self.lm.decode(cache, logits, params, deadline)
        first_token_at = None
        for delta in tokens:
            first_token_at = first_token_at or time.perf_counter()
            yield StreamEvent(delta=delta)
        end = time.perf_counter()
        yield StreamEvent(result=ChatResult(
            text=tokens.text, tier=self.model_id, routed_tier=self.model_id, failed_over=False, failures=[],
            decision=None,
            latency=LatencyBreakdown(0.0, None if first_token_at is None else (first_token_at - start) * 1000.0, (end - start) * 1000.0),
            prompt_tokens=len(ids), completion_tokens=tokens.completion_tokens, finish_reason=tokens.finish_reason,
        ))

    def close(self) -> None:
        """Nothing to release (same interface as the router runtime)."""
