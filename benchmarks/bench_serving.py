"""Serving benchmark: what ConsRoute's routing costs on the device (SmolLM2-135M-Instruct on CPU).

Two figures, each a ratio measured in the same run (median over queries of per-query medians of
``--repeats`` interleaved runs, after a warm-up):

1. TTFT ratio: time to first token of a device-routed request through ``ConsRouteRuntime``
   (template, prefill, consistency-prompt extension, head, crop, first token from the same cache)
   over plain device generation on the same prompt (template, ``generate(max_new_tokens=1)``).
   Target <= 1.05.
2. Added-routing ratio: the latency ConsRoute adds to a device-routed request (its TTFT minus the
   plain TTFT) over the latency a separate-encoder router adds (MiniLM sentence embedding +
   logistic-regression classifier, RouteLLM-BERT style, run before the device can start).
   Target < 1/1.5 = 0.667. The full ConsRoute routing time (prefill + extension + head, all of it
   extra when the query goes to edge or cloud) is reported too.

Queries are real GSM8K / MATH / CRUXEval prompts from ``../shared/data/zeroeval``. The router head
is untrained (latency does not depend on its weights) with thresholds 0, so every query stays on
the device. Prints a markdown table and a JSON object.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_serving.py --queries 12 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from tqdm import tqdm

from consroute_hf import ConsRouterForTierSelection
from consroute_hf.device_lm import load_device_lm
from consroute_hf.embeddings import load_embedder
from consroute_hf.runtime import ConsRouteRuntime, GenerationParams

TASK_FILES = {"gsm": "question", "math-l5": "problem", "crux": "question"}


def load_queries(root: Path, count: int) -> list[str]:
    """``count`` prompts, taken in turn from GSM8K, MATH level 5 and CRUXEval."""
    per_task = []
    for task, field in TASK_FILES.items():
        path = root / task / "gemma-2-2b-it.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: pass --data pointing at the shared zeroeval folder.")
        per_task.append([record[field] for record in json.loads(path.read_text())])
    return [per_task[i % 3][i // 3] for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device-lm", default="smollm2-135m-instruct")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "zeroeval"))
    parser.add_argument("--queries", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json-out", default=None, help="also write the JSON result to this file")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    queries = load_queries(Path(args.data), args.queries)
    causal_lm, tokenizer = load_device_lm(args.device_lm, dtype=args.dtype, device="cpu")
    router = ConsRouterForTierSelection.from_backbone(causal_lm, default_thresholds=[0.0, 0.0]).eval()
    runtime = ConsRouteRuntime(router, causal_lm, tokenizer, {"edge": None, "cloud": None})
    embedder = load_embedder()
    rng = np.random.default_rng(0)
    classifier = LogisticRegression().fit(
        rng.normal(size=(64, embedder.get_embedding_dimension())), np.arange(64) % 2
    )  # weights do not change its latency
    one_token = GenerationParams(max_new_tokens=1)

    def plain_ttft(query: str) -> float:
        start = time.perf_counter()
        text = tokenizer.apply_chat_template([{"role": "user", "content": query}], add_generation_prompt=True, tokenize=False)
        ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
        with torch.inference_mode():
            causal_lm.generate(
                ids, attention_mask=torch.ones_like(ids), max_new_tokens=1, do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
        return time.perf_counter() - start

    def consroute_ttft(query: str) -> float:
        start = time.perf_counter()
        for event in runtime.stream(query, one_token):
            if event.delta or event.result is not None:
                break
        return time.perf_counter() - start

    def consroute_routing(query: str) -> float:
        start = time.perf_counter()
        runtime.route(query)
        return time.perf_counter() - start

    def encoder_routing(query: str) -> float:
        start = time.perf_counter()
        embedding = embedder.encode([query], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        classifier.predict_proba(embedding)
        return time.perf_counter() - start

    measures = {"plain_ttft": plain_ttft, "consroute_ttft": consroute_ttft,
                "consroute_routing": consroute_routing, "encoder_routing": encoder_routing}
    for measure in measures.values():  # warm-up
        measure(queries[0])
    times: dict[str, list[list[float]]] = {name: [[] for _ in queries] for name in measures}
    for repeat in tqdm(range(args.repeats), desc="repeats"):
        for index, query in enumerate(queries):
            order = list(measures.items())
            if (repeat + index) % 2:
                order.reverse()  # alternate the order to cancel drift
            for name, measure in order:
                times[name][index].append(measure(query))

    per_query = {name: [statistics.median(runs) * 1000.0 for runs in values] for name, values in times.items()}
    # Ratios of runs measured back to back (same load on a shared machine), then the median.
    ttft_ratios = [
        c / p for cs, ps in zip(times["consroute_ttft"], times["plain_ttft"]) for c, p in zip(cs, ps)
    ]
    added = [
        (c - p) / e for cs, ps, es in zip(times["consroute_ttft"], times["plain_ttft"], times["encoder_routing"])
        for c, p, e in zip(cs, ps, es)
    ]
    ttft_ratio = statistics.median(ttft_ratios)
    added_ours = [
        (c - p) * 1000.0 for cs, ps in zip(times["consroute_ttft"], times["plain_ttft"]) for c, p in zip(cs, ps)
    ]
    median = {name: statistics.median(values) for name, values in per_query.items()}
    prefill_tokens = [len(router.encode_query(q, tokenizer)[0]) for q in queries]
    result = {
        "device_lm": args.device_lm, "dtype": str(causal_lm.dtype), "threads": torch.get_num_threads(),
        "queries": len(queries), "repeats": args.repeats,
        "prefill_tokens_median": statistics.median(prefill_tokens),
        "prompt_tokens": len(router.encode_query(queries[0], tokenizer)[1]),
        "median_ms": median,
        "consroute_added_ms": statistics.median(added_ours),
        "ttft_ratio": ttft_ratio,
        "added_routing_ratio": statistics.median(added),
        "targets": {"ttft_ratio": "<= 1.05", "added_routing_ratio": "< 0.667"},
        "per_query": [
            {"prefill_tokens": n, "plain_ttft_ms": p, "consroute_ttft_ms": c,
             "ttft_ratio": statistics.median(a / b for a, b in zip(cs, ps))}
            for n, p, c, cs, ps in zip(
                prefill_tokens, per_query["plain_ttft"], per_query["consroute_ttft"], times["consroute_ttft"], times["plain_ttft"]
            )
        ],
    }
    rows = [
        ("TTFT, plain device generation (ms)", median["plain_ttft"]),
        ("TTFT, device-routed through ConsRoute (ms)", median["consroute_ttft"]),
        ("TTFT ratio ConsRoute / plain (target <= 1.05)", ttft_ratio),
        ("latency ConsRoute adds to a device-routed request (ms)", result["consroute_added_ms"]),
        ("latency a MiniLM + classifier router adds (ms)", median["encoder_routing"]),
        ("added-latency ratio ConsRoute / MiniLM router (target < 0.667)", result["added_routing_ratio"]),
        ("full ConsRoute routing: prefill + prompt + head (ms)", median["consroute_routing"]),
    ]
    print(f"\n{args.device_lm} ({result['dtype']}, {result['threads']} threads), {len(queries)} queries x {args.repeats} runs, "
          f"median prefill {result['prefill_tokens_median']} tokens + {result['prompt_tokens']} prompt tokens\n")
    print("| measure | value |\n| --- | ---: |")
    for label, value in rows:
        print(f"| {label} | {value:.1f} |" if label.endswith("(ms)") else f"| {label} | {value:.3f} |")
    text = json.dumps(result, indent=2)
    print(text)
    if args.json_out:
        Path(args.json_out).write_text(text + "\n")


if __name__ == "__main__":
    main()
