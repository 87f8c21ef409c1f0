"""ConsRoute collaborative inference: route on the device prefill, then answer on the device from
the same KV cache, or on a remote tier with failover to the tiers above it.

Per request (see GUIDE.md section 1, "Keeping training and serving identical"):

1. ``router.encode_query`` gives the device's prefill tokens (chat template, truncation rule) and
   the consistency-prompt tokens: the exact tokens the router was trained on.
2. One device forward over query + prompt fills a ``DynamicCache``. Attention is causal, so the
   query's part of it is exactly a query-only prefill: the first answer token's logits are read at
   the query's last position, the feature at ``config.feature_layer`` with ``config.pooling``
   ("last" token of the prompt, or "mean" over query + prompt), and ``cache.crop`` then drops the
   prompt's entries. (GUIDE.md's two-step form, query then prompt as an extension, computes the
   same; one pass saves a forward's fixed cost, which dominates short extensions on CPU.)
4. ``router.route_features`` decides. Device: decoding continues from the query's cache (no second
   prefill). Remote: the tier's OpenAI-compatible endpoint, then each tier above it on failure.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import torch
from transformers import DynamicCache

from ..modeling_consroute import ConsRouterForTierSelection, Query, RoutingDecision
from .clients import ChatCompletionsClient, RemoteTierConfig
from .local import LocalLM
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

logger = logging.getLogger(__name__)

#: The ``model`` name a ConsRoute server answers to.
CONSROUTE_MODEL_ID = "consroute"


@dataclass
class DevicePrefill:
    """The device's prefill of one query.

    Attributes:
        prefix_ids: (S,) the query's prefill tokens. cache: holds exactly those S tokens.
        next_logits: (1, V) logits of the first answer token. feature: (D,) the routing feature.
    """

    prefix_ids: list[int]
    cache: DynamicCache
    next_logits: torch.Tensor
    feature: torch.Tensor


class ConsRouteRuntime:
    """Answers queries with the tier a ConsRoute router picks.

    Args:
        router: the router; ``router.backbone`` must be ``causal_lm``'s base model (shared weights:
            build it with ``from_backbone(causal_lm)`` or ``from_pretrained(dir, backbone=causal_lm)``).
        causal_lm: the device LM (tier 0 answers with it).
        tokenizer: the device LM's tokenizer.
        clients: a client for every tier above the device, keyed by tier name.
        profile: a name in ``router.config.threshold_profiles`` to route with, or None.
        request_timeout_s: default deadline of one request.
    """

    model_id = CONSROUTE_MODEL_ID

    def __init__(
        self,
        router: ConsRouterForTierSelection,
        causal_lm: Any,
        tokenizer: Any,
        clients: Mapping[str, ChatCompletionsClient],
        profile: str | None = None,
        request_timeout_s: float = 120.0,
    ) -> None:
        if getattr(causal_lm, "base_model", None) is not router.backbone:
            raise ValueError(
                "router.backbone is not the device LM's base model: build the router with "
                "ConsRouterForTierSelection.from_backbone(causal_lm) or from_pretrained(router_dir, backbone=causal_lm), "
                "so routing reuses the device's own prefill."
            )
        names = router.config.tier_names
        missing = [name for name in names[1:] if name not in clients]
        unknown = sorted(set(clients) - set(names[1:]))
        if missing or unknown:
            raise ValueError(
                f"The router's tiers are {names} ({names[0]!r} runs locally): give a client for each of {names[1:]}"
                + (f"; missing {missing}" if missing else "") + (f"; unknown {unknown}" if unknown else "") + "."
            )
        if profile is not None and profile not in router.config.threshold_profiles:
            raise ValueError(f"Unknown threshold profile {profile!r}; this router has {sorted(router.config.threshold_profiles)}.")
        self.router = router.eval()
        self.device_lm = LocalLM(causal_lm, tokenizer)
        self.clients = dict(clients)
        self.profile = profile
        self.request_timeout_s = request_timeout_s
        self.tier_specs = {spec.name: spec for spec in router.config.tier_specs}
        self.tier_names = names

    @classmethod
    def from_pretrained(
        cls,
        router_name_or_path: str,
        tiers: Sequence[RemoteTierConfig],
        device_lm: str | None = None,
        dtype: str = "auto",
        device: str = "auto",
        profile: str | None = None,
        request_timeout_s: float = 120.0,
    ) -> "ConsRouteRuntime":
        """Load a router (folder or Hub id) onto its device LM and connect the remote tiers.

        Args:
            tiers: one config per tier above the device.
            device_lm: the device LM spec for ``consroute_hf.device_lm.load_device_lm`` (default: the
                router config's ``backbone_name_or_path``).
        """
        from ..configuration_consroute import ConsRouteConfig
        from ..device_lm import load_device_lm

        spec = device_lm or ConsRouteConfig.from_pretrained(router_name_or_path).backbone_name_or_path
        if not spec:
            raise ValueError(f"The router {router_name_or_path} names no device LM (backbone_name_or_path): pass device_lm=.")
        causal_lm, tokenizer = load_device_lm(spec, dtype=dtype, device=device)
        router = ConsRouterForTierSelection.from_pretrained(router_name_or_path, backbone=causal_lm)
        return cls(router, causal_lm, tokenizer, build_clients(tiers), profile=profile, request_timeout_s=request_timeout_s)

    # ------------------------------------------------------------------ routing
    def prefill(self, query: Query) -> DevicePrefill:
        """One device prefill of ``query`` -> its cache (query tokens only) and routing feature."""
        try:
            prefix_ids, prompt_ids = self.router.encode_query(query, self.device_lm.tokenizer)
        except (TypeError, ValueError) as error:
            raise RuntimeRequestError(str(error)) from error
        config = self.router.config
        n_query, lm = len(prefix_ids), self.device_lm
        cache = lm.new_cache()
        # One forward over query + prompt: causal attention keeps the query's states and cache
        # entries exactly those of a query-only prefill, the first answer token's logits come from
        # the query's last position, and the feature from the prompt (as in router.featurize).
        out = lm.prefill(prefix_ids + prompt_ids, cache, logits_at=n_query - 1, output_hidden_states=True)
        cache.crop(-len(prompt_ids))
        hidden = out.hidden_states[config.feature_layer][0]
        feature = hidden.float().mean(0) if config.pooling == "mean" else hidden[-1].float()
        return DevicePrefill(prefix_ids, cache, out.logits[:, -1], feature)

    def featurize(self, query: Query) -> torch.Tensor:
        """The (D,) routing feature of ``query``, read from the device prefill (equals ``router.featurize``)."""
        return self.prefill(query).feature

    def route(self, query: Query) -> RoutingDecision:
        """The router's decision for ``query``."""
        return self.router.route_features(self.featurize(query)[None], profile=self.profile)[0]

    # ------------------------------------------------------------------ answering
    def generate(self, query: Query, params: GenerationParams | None = None, timeout_s: float | None = None) -> ChatResult:
        """Route and answer ``query``; remote answers are buffered, so failover can happen at any point.

        Raises:
            RuntimeRequestError: invalid query. RequestTimeoutError: past the deadline.
            AllTiersFailedError: the routed tier and every tier above it failed.
        """
        for event in self._events(query, params, timeout_s, streaming=False):
            if event.result is not None:
                return event.result
        raise AssertionError("the event stream ended without a result")

    def stream(self, query: Query, params: GenerationParams | None = None, timeout_s: float | None = None) -> Iterator[StreamEvent]:
        """Route and answer ``query`` as text deltas; the last event carries the ``ChatResult``.

        A tier that fails before its first delta fails over to the next tier up; once text has been
        sent, a failure raises [`TierError`].
        """
        return self._events(query, params, timeout_s, streaming=True)

    def _events(self, query: Query, params: GenerationParams | None, timeout_s: float | None, streaming: bool) -> Iterator[StreamEvent]:
        params = params or GenerationParams()
        start = time.perf_counter()
        deadline = Deadline.after(self.request_timeout_s if timeout_s is None else timeout_s)
        state = self.prefill(query)
        decision = self.router.route_features(state.feature[None], profile=self.profile)[0]
        routing_ms = (time.perf_counter() - start) * 1000.0
        deadline.check("routing")
        messages = _as_messages(query)
        failures: list[TierFailure] = []
        for name in self.tier_names[decision.tier_index :]:
            if name == self.tier_names[0]:
                source: Any = self.device_lm.decode(state.cache, state.next_logits, params, deadline)
            else:
                source = self.clients[name].stream_chat(messages, params, deadline)
            pieces: list[str] = []
            first_token_at: float | None = None
            try:
                for delta in source:
                    first_token_at = first_token_at or time.perf_counter()
                    if streaming:
                        yield StreamEvent(delta=delta)
                    pieces.append(delta)
            except RequestTimeoutError:
                raise
            except Exception as error:  # a tier failed: fail over unless text already went out
                if streaming and pieces:
                    raise TierError(f"tier {name!r} failed mid-answer: {error}", retryable=False) from error
                if not isinstance(error, TierError):
                    logger.exception("The %s tier raised while answering.", name)
                failures.append(TierFailure(name, str(error), getattr(error, "attempts", 1)))
                logger.warning("Tier %s failed (%s); failing over.", name, error)
                continue
            if not streaming and pieces:
                yield StreamEvent(delta="".join(pieces))
            end = time.perf_counter()
            spec = self.tier_specs[name]
            tokens = source.completion_tokens
            yield StreamEvent(result=ChatResult(
                text="".join(pieces), tier=name, routed_tier=decision.tier, failed_over=bool(failures),
                failures=failures, decision=decision,
                latency=LatencyBreakdown(
                    routing_ms=routing_ms,
                    ttft_ms=None if first_token_at is None else (first_token_at - start) * 1000.0,
                    total_ms=(end - start) * 1000.0,
                ),
                prompt_tokens=source.prompt_tokens, completion_tokens=tokens,
                estimated_cost=None if tokens is None else spec.activated_params_b * tokens,
                estimated_usd=None if tokens is None or spec.usd_per_1k_output_tokens is None
                else spec.usd_per_1k_output_tokens * tokens / 1000.0,
                finish_reason=source.finish_reason,
            ))
            return
        raise AllTiersFailedError(failures)

    def close(self) -> None:
        """Close the remote tiers' connection pools."""
        for client in self.clients.values():
            client.close()


def _as_messages(query: Query) -> list[dict[str, str]]:
    return [{"role": "user", "content": query}] if isinstance(query, str) else [dict(m) for m in query]


def build_clients(configs: Sequence[RemoteTierConfig]) -> dict[str, ChatCompletionsClient]:
    """``RemoteTierConfig`` objects -> one client per tier name (names must be unique)."""
    clients: dict[str, ChatCompletionsClient] = {}
    for config in configs:
        if config.name in clients:
            raise ValueError(f"Tier {config.name!r} is configured twice.")
        clients[config.name] = ChatCompletionsClient(config)
    return clients
