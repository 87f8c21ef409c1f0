"""The OpenAI-compatible server over real HTTP on 127.0.0.1: a ConsRoute server whose edge and
cloud tiers are single-model servers (tiny random LMs), all started in-process on free ports."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from contextlib import contextmanager
from types import SimpleNamespace

import httpx
import pytest
import torch
from prometheus_client.parser import text_string_to_metric_families
from tiny_models import tiny_causal_lm

from consroute_hf import ConsRouterForTierSelection
from consroute_hf.runtime import ConsRouteRuntime, RemoteTierConfig, SingleModelRuntime, build_clients
from consroute_hf.serving import BackgroundServer, create_app

QUESTION = [{"role": "user", "content": "What is 2 + 3?"}]
CONVERSATION = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "Janet's ducks lay 16 eggs per day."},
    {"role": "assistant", "content": "She sells the remainder at the market."},
    {"role": "user", "content": "Find the sum of all integers that satisfy these conditions."},
]
MAX_TOKENS = 10


def greedy_answer(causal_lm, tokenizer, messages, max_new_tokens: int = MAX_TOKENS) -> str:
    """Plain transformers greedy generation on the chat-templated prompt (the reference answer)."""
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
    output = causal_lm.generate(
        ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=max_new_tokens,
        pad_token_id=tokenizer.pad_token_id,
    )
    return tokenizer.decode(output[0, ids.shape[1] :], skip_special_tokens=True)


@pytest.fixture(scope="module")
def stack(tokenizer):
    """Device, edge and cloud LMs; the edge and cloud single-model servers."""
    models = SimpleNamespace(device=tiny_causal_lm(0), edge=tiny_causal_lm(1), cloud=tiny_causal_lm(2))
    edge = BackgroundServer(create_app(SingleModelRuntime(models.edge, tokenizer, "edge-lm"))).start()
    cloud = BackgroundServer(create_app(SingleModelRuntime(models.cloud, tokenizer, "cloud-lm"))).start()
    yield SimpleNamespace(models=models, edge=edge, cloud=cloud, tokenizer=tokenizer)
    edge.stop()
    cloud.stop()


@contextmanager
def consroute_server(stack, thresholds, edge_url=None, cloud_url=None, request_timeout_s=30.0):
    torch.manual_seed(0)
    router = ConsRouterForTierSelection.from_backbone(
        stack.models.device, head_hidden_size=32, default_thresholds=thresholds
    ).eval()
    tiers = [
        RemoteTierConfig("edge", (edge_url or stack.edge.url) + "/v1", "edge-lm", timeout_s=10, max_retries=1, backoff_s=0.05),
        RemoteTierConfig("cloud", (cloud_url or stack.cloud.url) + "/v1", "cloud-lm", timeout_s=10, max_retries=1, backoff_s=0.05),
    ]
    runtime = ConsRouteRuntime(router, stack.models.device, stack.tokenizer, build_clients(tiers), request_timeout_s=request_timeout_s)
    with BackgroundServer(create_app(runtime)) as server:
        yield server
    runtime.close()


def ask(client: httpx.Client, messages=QUESTION, **extra) -> httpx.Response:
    return client.post("/v1/chat/completions", json={"model": "consroute", "messages": messages, "max_tokens": MAX_TOKENS, **extra})


def read_sse(response: httpx.Response) -> list:
    events = [line[len("data: ") :] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    return [json.loads(event) for event in events[:-1]]


def metric_values(text: str) -> dict:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text) for sample in family.samples
    }


@pytest.mark.parametrize("thresholds,tier", [([0.0, 0.0], "device"), ([1.0, 0.0], "edge"), ([1.0, 1.0], "cloud")])
def test_routes_each_tier_end_to_end(stack, thresholds, tier):
    expected = greedy_answer(getattr(stack.models, tier), stack.tokenizer, CONVERSATION)
    with consroute_server(stack, thresholds) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        response = ask(client, CONVERSATION)
        assert response.status_code == 200, response.text
        body = response.json()
        assert response.headers["x-consroute-tier"] == tier == body["consroute"]["tier"] == body["consroute"]["routed_tier"]
        assert body["choices"][0]["message"] == {"role": "assistant", "content": expected}
        assert body["model"] == "consroute" and body["object"] == "chat.completion"
        assert body["consroute"]["failed_over"] is False
        assert body["usage"]["completion_tokens"] == body["consroute"]["completion_tokens"] > 0
        latency = body["consroute"]["latency"]
        assert 0 < latency["routing_ms"] <= latency["ttft_ms"] <= latency["total_ms"]
        metrics = metric_values(client.get("/metrics").text)
        assert metrics[("consroute_requests_total", (("tier", tier),))] == 1.0
        assert metrics[("consroute_routing_overhead_seconds_count", ())] == 1.0


@pytest.mark.parametrize("thresholds,tier", [([0.0, 0.0], "device"), ([1.0, 1.0], "cloud")])
def test_streaming_matches_the_full_answer(stack, thresholds, tier):
    expected = greedy_answer(getattr(stack.models, tier), stack.tokenizer, QUESTION)
    with consroute_server(stack, thresholds) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        payload = {"model": "consroute", "messages": QUESTION, "max_tokens": MAX_TOKENS, "stream": True,
                   "stream_options": {"include_usage": True}}
        with client.stream("POST", "/v1/chat/completions", json=payload) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            chunks = read_sse(response)
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    content = [c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]]
    assert "".join(content) == expected and sum(1 for piece in content if piece) >= 2
    final, usage = chunks[-2], chunks[-1]
    assert final["choices"][0]["finish_reason"] == "length" and final["consroute"]["tier"] == tier
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == MAX_TOKENS


def test_failover_when_the_edge_server_stops(stack, tokenizer):
    edge = BackgroundServer(create_app(SingleModelRuntime(stack.models.edge, tokenizer, "edge-lm"))).start()
    edge_answer = greedy_answer(stack.models.edge, tokenizer, QUESTION)
    cloud_answer = greedy_answer(stack.models.cloud, tokenizer, QUESTION)
    with consroute_server(stack, [1.0, 0.0], edge_url=edge.url) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        first = ask(client).json()
        assert (first["consroute"]["tier"], first["choices"][0]["message"]["content"]) == ("edge", edge_answer)
        edge.stop()
        later = [ask(client) for _ in range(3)]
        payload = {"model": "consroute", "messages": QUESTION, "max_tokens": MAX_TOKENS, "stream": True}
        with client.stream("POST", "/v1/chat/completions", json=payload) as response:
            streamed = read_sse(response)
        for response in later:
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["choices"][0]["message"]["content"] == cloud_answer
            info = body["consroute"]
            assert (info["tier"], info["routed_tier"], info["failed_over"]) == ("cloud", "edge", True)
            assert [f["tier"] for f in info["failures"]] == ["edge"] and info["failures"][0]["attempts"] == 2
        assert "".join(c["choices"][0]["delta"].get("content", "") for c in streamed if c["choices"]) == cloud_answer
        assert streamed[-1]["consroute"]["failed_over"] is True
        metrics = metric_values(client.get("/metrics").text)
    assert metrics[("consroute_failovers_total", (("from_tier", "edge"),))] == 4.0
    assert metrics[("consroute_requests_total", (("tier", "cloud"),))] == 4.0
    assert metrics[("consroute_requests_total", (("tier", "edge"),))] == 1.0
    assert metrics[("consroute_routed_total", (("tier", "edge"),))] == 5.0


def test_fifty_concurrent_requests_and_a_responsive_health_check(stack, tokenizer):
    prompts = [[{"role": "user", "content": f"What is {i} + 3?"}] for i in range(5)]
    expected = [greedy_answer(stack.models.device, tokenizer, p, 6) for p in prompts]

    async def load(url: str):
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            async def one(i: int):
                return await client.post(
                    "/v1/chat/completions", json={"model": "consroute", "messages": prompts[i % 5], "max_tokens": 6}
                )

            async def health_checks():
                results = []
                for _ in range(10):
                    results.append(await client.get("/health", timeout=5))
                    await asyncio.sleep(0.05)
                return results

            return await asyncio.gather(asyncio.gather(*(one(i) for i in range(50))), health_checks())

    with consroute_server(stack, [0.0, 0.0]) as server:
        answers, health = asyncio.run(load(server.url))
        metrics = metric_values(httpx.get(server.url + "/metrics").text)
    assert [r.status_code for r in answers] == [200] * 50
    assert [r.json()["choices"][0]["message"]["content"] for r in answers] == [expected[i % 5] for i in range(50)]
    assert all(r.status_code == 200 and r.json()["status"] == "ok" for r in health)
    assert metrics[("consroute_requests_total", (("tier", "device"),))] == 50.0


@pytest.mark.parametrize(
    "body,param,message",
    [
        ('{"model": "consroute", "messages": [', None, "not valid JSON"),
        ('{"model": "consroute"}', "messages", "Field required"),
        ('{"model": "consroute", "messages": []}', "messages", "at least 1"),
        ('{"model": "consroute", "messages": [{"role": "user", "content": "  "}]}', "messages", "empty content"),
        ('{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}', "model", "Unknown model 'gpt-4o'"),
        ('{"model": "consroute", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}', "max_tokens", "greater than or equal to 1"),
        ('{"model": "consroute", "messages": [{"role": "wizard", "content": "hi"}]}', "messages.0.role", "Input should be"),
    ],
)
def test_bad_requests_get_openai_style_400(stack, body, param, message):
    with consroute_server(stack, [0.0, 0.0]) as server:
        response = httpx.post(server.url + "/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
    assert error["param"] == param and message in error["message"]


def test_models_health_and_single_model_mode(stack):
    with consroute_server(stack, [0.0, 0.0]) as server, httpx.Client(base_url=server.url) as client:
        assert [m["id"] for m in client.get("/v1/models").json()["data"]] == ["consroute"]
        assert client.get("/health").json() == {"status": "ok", "model": "consroute", "tiers": ["device", "edge", "cloud"]}
        assert client.get("/nope").json()["error"]["message"] == "Not Found"
    edge = httpx.post(
        stack.edge.url + "/v1/chat/completions", json={"model": "edge-lm", "messages": QUESTION, "max_tokens": MAX_TOKENS}
    ).json()
    assert edge["choices"][0]["message"]["content"] == greedy_answer(stack.models.edge, stack.tokenizer, QUESTION)
    assert edge["usage"]["completion_tokens"] == MAX_TOKENS


def test_a_hanging_tier_cannot_hang_the_request(stack):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections (kernel backlog) but never answers
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    try:
        with consroute_server(stack, [1.0, 1.0], cloud_url=url, request_timeout_s=1.0) as server:
            start = time.perf_counter()
            response = httpx.post(server.url + "/v1/chat/completions", json={"model": "consroute", "messages": QUESTION}, timeout=30)
            elapsed = time.perf_counter() - start
    finally:
        silent.close()
    assert response.status_code == 504 and response.json()["error"]["code"] == "timeout"
    assert elapsed < 6.0  # the 1 s deadline plus the server's 5 s grace at most


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_healthy(process, url: str, timeout_s: float = 90.0) -> None:
    give_up_at = time.monotonic() + timeout_s
    while time.monotonic() < give_up_at:
        assert process.poll() is None, process.stdout.read().decode(errors="replace")[-2000:]
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.25)
    raise AssertionError(f"{url} did not become healthy within {timeout_s}s")


def test_consroute_serve_cli_router_and_model_modes(stack, tokenizer, tmp_path):
    """`consroute serve --router` (edge/cloud = in-process servers) and `consroute serve --model`, as subprocesses."""
    import os
    import subprocess
    import sys

    lm_dir = tmp_path / "device-lm"
    stack.models.device.save_pretrained(lm_dir)
    tokenizer.save_pretrained(lm_dir)
    router = ConsRouterForTierSelection.from_backbone(
        stack.models.device, head_hidden_size=32, default_thresholds=[1.0, 0.0], backbone_name_or_path=str(lm_dir)
    )
    router.save_pretrained(tmp_path / "router", head_only=True)
    router_port, model_port = free_port(), free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "EDGE_TEST_KEY": "k"}
    common = ["--host", "127.0.0.1", "--dtype", "float32", "--device", "cpu", "--request-timeout", "30"]
    commands = [
        [sys.executable, "-m", "consroute_hf.cli", "serve", "--router", str(tmp_path / "router"), "--port", str(router_port),
         "--tier", f"edge={stack.edge.url}/v1,model=edge-lm,api_key_env=EDGE_TEST_KEY,retries=0",
         "--tier", f"cloud={stack.cloud.url}/v1,model=cloud-lm", *common],
        [sys.executable, "-m", "consroute_hf.cli", "serve", "--model", str(lm_dir), "--served-model-name", "tiny",
         "--port", str(model_port), *common],
    ]
    processes = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for c in commands]
    try:
        router_url, model_url = f"http://127.0.0.1:{router_port}", f"http://127.0.0.1:{model_port}"
        wait_healthy(processes[0], router_url)
        wait_healthy(processes[1], model_url)
        routed = httpx.post(router_url + "/v1/chat/completions", json={"model": "consroute", "messages": QUESTION, "max_tokens": MAX_TOKENS}, timeout=30)
        single = httpx.post(model_url + "/v1/chat/completions", json={"model": "tiny", "messages": QUESTION, "max_tokens": MAX_TOKENS}, timeout=30)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
    assert routed.status_code == 200 and routed.json()["consroute"]["tier"] == "edge"
    assert routed.json()["choices"][0]["message"]["content"] == greedy_answer(stack.models.edge, tokenizer, QUESTION)
    assert single.status_code == 200
    assert single.json()["choices"][0]["message"]["content"] == greedy_answer(stack.models.device, tokenizer, QUESTION)


def test_consroute_serve_cli_rejects_bad_tier_specs(tmp_path, caplog):
    from consroute_hf.cli import main

    assert main(["serve", "--router", str(tmp_path), "--tier", "edge=http://127.0.0.1:9/v1"]) == 2
    assert "model=" in caplog.text
    assert main(["serve", "--model", str(tmp_path), "--tier", "edge=http://127.0.0.1:9/v1,model=m"]) == 2
    assert "--tier applies to --router" in caplog.text
