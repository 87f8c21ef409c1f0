"""ConsRouteRuntime without HTTP servers: routing features from the device prefill, decoding from
the same KV cache, remote-tier clients (httpx mock transport), failover and deadlines."""

from __future__ import annotations

import json

import httpx
import pytest
import torch
from tiny_models import tiny_causal_lm

from consroute_hf import ConsRouterForTierSelection
from consroute_hf.runtime import (
    AllTiersFailedError,
    ChatCompletionsClient,
    ConsRouteRuntime,
    GenerationParams,
    RemoteTierConfig,
    RequestTimeoutError,
    RuntimeRequestError,
    TierError,
)

CONVERSATION = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "What is 2 + 3?"},
    {"role": "assistant", "content": "The answer is 5."},
    {"role": "user", "content": "Find the sum of all integers that satisfy these conditions."},
]


def make_router(causal_lm, **overrides) -> ConsRouterForTierSelection:
    torch.manual_seed(0)
    return ConsRouterForTierSelection.from_backbone(causal_lm, head_hidden_size=32, **overrides).eval()


def sse_body(pieces: list[str], usage: dict | None = None) -> bytes:
    lines = [json.dumps({"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}) for p in pieces]
    lines.append(json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    if usage:
        lines.append(json.dumps({"choices": [], "usage": usage}))
    return "".join(f"data: {line}\n\n" for line in lines + ["[DONE]"]).encode()


def mock_client(name: str, handler) -> ChatCompletionsClient:
    config = RemoteTierConfig(name, "http://tier.invalid/v1", f"{name}-model", max_retries=2, backoff_s=0.0)
    return ChatCompletionsClient(config, transport=httpx.MockTransport(handler))


def answering(text: str):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=sse_body([text[:3], text[3:]], {"prompt_tokens": 7, "completion_tokens": 4}))
    return handler


def failing(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def greedy_reference(causal_lm, tokenizer, prefix_ids: list[int], max_new_tokens: int) -> str:
    ids = torch.tensor([prefix_ids])
    output = causal_lm.generate(
        ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=max_new_tokens,
        pad_token_id=tokenizer.pad_token_id,
    )
    return tokenizer.decode(output[0, len(prefix_ids) :], skip_special_tokens=True)


@pytest.mark.parametrize(
    "pooling,layer,query,max_query_tokens",
    [
        ("last", -1, "What is 2 + 3?", 2048),
        ("mean", -1, "What is 2 + 3?", 2048),
        ("last", 1, CONVERSATION, 2048),
        ("mean", 1, CONVERSATION, 2048),
        ("last", -1, CONVERSATION, 30),  # the truncation rule drops the oldest turns
    ],
)
def test_runtime_feature_equals_router_features(causal_lm, tokenizer, pooling, layer, query, max_query_tokens):
    router = make_router(causal_lm, pooling=pooling, feature_layer=layer, max_query_tokens=max_query_tokens)
    runtime = ConsRouteRuntime(router, causal_lm, tokenizer, {"edge": None, "cloud": None})
    feature = runtime.featurize(query)
    reference = router.featurize([query], tokenizer)[0]
    assert feature.shape == reference.shape == (causal_lm.config.hidden_size,)
    assert torch.nn.functional.cosine_similarity(feature, reference, dim=0) >= 0.9999
    assert runtime.route(query).to_dict() == router.route([query], tokenizer)[0].to_dict()


def test_device_answer_reuses_the_query_cache_and_equals_greedy_generate(causal_lm, tokenizer):
    router = make_router(causal_lm, default_thresholds=[0.0, 0.0])
    runtime = ConsRouteRuntime(router, causal_lm, tokenizer, {"edge": None, "cloud": None})
    prefix_ids, prompt_ids = router.encode_query(CONVERSATION, tokenizer)
    expected = greedy_reference(causal_lm, tokenizer, prefix_ids, 12)

    seen_lengths: list[int] = []
    hook = router.backbone.register_forward_pre_hook(
        lambda module, args, kwargs: seen_lengths.append(kwargs["input_ids"].shape[1]), with_kwargs=True
    )
    try:
        result = runtime.generate(CONVERSATION, GenerationParams(max_new_tokens=12))
    finally:
        hook.remove()
    assert result.tier == result.routed_tier == "device" and not result.failed_over
    assert result.text == expected
    # one forward over query + prompt, then one token per decoding step (the query is never re-run)
    assert seen_lengths[0] == len(prefix_ids) + len(prompt_ids)
    steps = result.completion_tokens - (1 if result.finish_reason == "length" else 0)
    assert set(seen_lengths[1:]) <= {1} and len(seen_lengths) - 1 == steps
    assert result.prompt_tokens == len(prefix_ids)
    spec = router.config.tier_specs[0]
    assert result.estimated_cost == pytest.approx(spec.activated_params_b * result.completion_tokens)
    assert 0 < result.latency.routing_ms <= result.latency.ttft_ms <= result.latency.total_ms

    events = list(runtime.stream(CONVERSATION, GenerationParams(max_new_tokens=12)))
    assert "".join(e.delta for e in events[:-1]) == expected and events[-1].result.text == expected


def test_stop_string_ends_the_answer(causal_lm, tokenizer):
    router = make_router(causal_lm, default_thresholds=[0.0, 0.0])
    runtime = ConsRouteRuntime(router, causal_lm, tokenizer, {"edge": None, "cloud": None})
    prefix_ids, _ = router.encode_query("What is 2 + 3?", tokenizer)
    full = greedy_reference(causal_lm, tokenizer, prefix_ids, 16)
    stop = full[4:6]
    assert stop.strip() and full.find(stop) >= 0
    result = runtime.generate("What is 2 + 3?", GenerationParams(max_new_tokens=16, stop=(stop,)))
    assert result.text == full[: full.find(stop)] and result.finish_reason == "stop"


def test_remote_tier_answer_usage_and_auth(causal_lm, tokenizer, monkeypatch):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answering("Five, of course.")(request)

    monkeypatch.setenv("EDGE_KEY", "secret-123")
    config = RemoteTierConfig("edge", "http://edge.invalid/v1", "edge-model", api_key_env="EDGE_KEY")
    edge = ChatCompletionsClient(config, transport=httpx.MockTransport(handler))
    router = make_router(causal_lm, default_thresholds=[1.0, 0.0])
    runtime = ConsRouteRuntime(router, causal_lm, tokenizer, {"edge": edge, "cloud": mock_client("cloud", failing)})
    result = runtime.generate(CONVERSATION, GenerationParams(max_new_tokens=9, temperature=0.5, stop=("###",)))
    assert (result.tier, result.text, result.failed_over) == ("edge", "Five, of course.", False)
    assert (result.prompt_tokens, result.completion_tokens) == (7, 4)
    assert result.estimated_cost == pytest.approx(14.0 * 4)  # default edge profile: 14B activated params
    request = seen[0]
    assert str(request.url) == "http://edge.invalid/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer secret-123"
    payload = json.loads(request.content)
    assert payload["model"] == "edge-model" and payload["messages"] == CONVERSATION and payload["stream"] is True
    assert (payload["max_tokens"], payload["temperature"], payload["stop"]) == (9, 0.5, ["###"])


def test_transient_failures_are_retried_then_fail_over(causal_lm, tokenizer):
    calls = {"edge": 0}

    def flaky_edge(request: httpx.Request) -> httpx.Response:
        calls["edge"] += 1
        return httpx.Response(503, text="overloaded")

    router = make_router(causal_lm, default_thresholds=[1.0, 0.0])
    runtime = ConsRouteRuntime(
        router, causal_lm, tokenizer, {"edge": mock_client("edge", flaky_edge), "cloud": mock_client("cloud", answering("cloud says 5"))}
    )
    result = runtime.generate("What is 2 + 3?")
    assert calls["edge"] == 3  # one try + max_retries=2
    assert (result.tier, result.routed_tier, result.failed_over, result.text) == ("cloud", "edge", True, "cloud says 5")
    assert [(f.tier, f.attempts) for f in result.failures] == [("edge", 3)] and "503" in result.failures[0].error


def test_client_errors_are_not_retried(causal_lm, tokenizer):
    calls = {"edge": 0}

    def rejecting(request: httpx.Request) -> httpx.Response:
        calls["edge"] += 1
        return httpx.Response(401, json={"error": {"message": "bad key"}})

    router = make_router(causal_lm, default_thresholds=[1.0, 0.0])
    runtime = ConsRouteRuntime(
        router, causal_lm, tokenizer, {"edge": mock_client("edge", rejecting), "cloud": mock_client("cloud", answering("ok then"))}
    )
    result = runtime.generate("What is 2 + 3?")
    assert calls["edge"] == 1 and result.tier == "cloud" and result.failures[0].attempts == 1


def test_every_tier_failing_raises(causal_lm, tokenizer):
    router = make_router(causal_lm, default_thresholds=[1.0, 0.0])
    runtime = ConsRouteRuntime(
        router, causal_lm, tokenizer, {"edge": mock_client("edge", failing), "cloud": mock_client("cloud", failing)}
    )
    with pytest.raises(AllTiersFailedError, match="edge.*cloud") as info:
        runtime.generate("What is 2 + 3?")
    assert [f.tier for f in info.value.failures] == ["edge", "cloud"]


def test_bad_queries_and_deadlines(causal_lm, tokenizer):
    router = make_router(causal_lm, default_thresholds=[0.0, 0.0])
    runtime = ConsRouteRuntime(router, causal_lm, tokenizer, {"edge": None, "cloud": None})
    with pytest.raises(RuntimeRequestError, match="Empty query"):
        runtime.generate("   ")
    with pytest.raises(RuntimeRequestError, match="role"):
        runtime.generate([{"content": "no role"}])
    with pytest.raises(RequestTimeoutError):
        runtime.generate("What is 2 + 3?", timeout_s=0.0)


def test_runtime_rejects_a_router_on_another_model_and_missing_tiers(causal_lm, tokenizer):
    router = make_router(causal_lm)
    with pytest.raises(ValueError, match="from_backbone"):
        ConsRouteRuntime(router, tiny_causal_lm(seed=1), tokenizer, {"edge": None, "cloud": None})
    with pytest.raises(ValueError, match="missing \\['cloud'\\]"):
        ConsRouteRuntime(router, causal_lm, tokenizer, {"edge": None})
    with pytest.raises(ValueError, match="Unknown threshold profile"):
        ConsRouteRuntime(router, causal_lm, tokenizer, {"edge": None, "cloud": None}, profile="nope")


def test_tier_spec_parsing(monkeypatch):
    config = RemoteTierConfig.parse("edge=http://10.0.0.2:8000/v1,model=qwen3-14b,api_key_env=EDGE_KEY,timeout=5,retries=1")
    assert config == RemoteTierConfig("edge", "http://10.0.0.2:8000/v1", "qwen3-14b", "EDGE_KEY", 5.0, 1)
    for bad, message in [
        ("edge=http://h/v1", "model="),
        ("edge=ftp://h/v1,model=m", "http://"),
        ("edge=http://h/v1,model=m,colour=red", "unknown field"),
        ("edge", "expected NAME=URL"),
        ("edge=http://h/v1,model=m,retries=-1", "max_retries"),
    ]:
        with pytest.raises(ValueError, match=message):
            RemoteTierConfig.parse(bad)
    monkeypatch.delenv("NOT_SET_KEY", raising=False)
    with pytest.raises(ValueError, match="NOT_SET_KEY"):
        ChatCompletionsClient(RemoteTierConfig("edge", "http://h/v1", "m", api_key_env="NOT_SET_KEY"))


class _BrokenStream(httpx.SyncByteStream):
    """An SSE body that sends one delta, then the connection drops."""

    def __iter__(self):
        yield b'data: {"choices": [{"index": 0, "delta": {"content": "Half an answ"}, "finish_reason": null}]}\n\n'
        raise httpx.ReadError("connection reset")


def test_mid_answer_failure_fails_over_when_buffered_and_errors_when_streaming(causal_lm, tokenizer):
    def breaking(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_BrokenStream())

    router = make_router(causal_lm, default_thresholds=[1.0, 0.0])
    runtime = ConsRouteRuntime(
        router, causal_lm, tokenizer, {"edge": mock_client("edge", breaking), "cloud": mock_client("cloud", answering("whole answer"))}
    )
    result = runtime.generate("What is 2 + 3?")
    assert (result.tier, result.text, result.failed_over) == ("cloud", "whole answer", True)
    assert result.failures[0].attempts == 1  # text had arrived: no retry of a half-sent answer

    events = runtime.stream("What is 2 + 3?")
    assert next(events).delta == "Half an answ"
    with pytest.raises(TierError, match="mid-answer"):
        next(events)
