"""Benchmark: batched routing-feature extraction vs one query at a time (SmolLM2, ZeroEval queries).

Compared on the same queries, same model, same dtype, in the same process:

- ``batched``: ``consroute_hf.features.extract_features`` (length-bucketed batches, backbone only,
  ``torch.inference_mode``), no cache;
- ``naive``: the obvious loop: per query, the full causal LM (with its LM head) under
  ``torch.no_grad`` with ``output_hidden_states=True``, reading the last token's last hidden state;
- ``single`` (with ``--with-single``): ``extract_features`` with ``batch_size=1`` (isolates the batching gain).

Median of ``--repeats`` timed runs after a warm-up on a few queries. Prints one markdown line and a JSON record.

    python benchmarks/bench_features.py --queries 64 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from consroute_hf import ConsRouterForTierSelection
from consroute_hf.data.loaders import read_zeroeval_file
from consroute_hf.device_lm import load_device_lm
from consroute_hf.features import extract_features

TASKS = ("gsm", "math-l5", "crux")


def zeroeval_queries(root: Path, n: int) -> list[str]:
    """The first queries of each ZeroEval task (device-tier file), interleaved, ``n`` in all."""
    per_task = [read_zeroeval_file(root / task / "gemma-2-2b-it.json", task) for task in TASKS]
    queries = [records[i].query for i in range(n) for records in per_task]
    return queries[:n]


def naive_loop(router: ConsRouterForTierSelection, lm: torch.nn.Module, queries: list[str], tokenizer) -> torch.Tensor:
    rows = []
    with torch.no_grad():
        for query in queries:
            inputs = router.prepare_inputs([query], tokenizer)
            outputs = lm(**inputs, output_hidden_states=True)
            rows.append(outputs.hidden_states[-1][0, -1].float())
    return torch.stack(rows)


def timed(function, repeats: int) -> tuple[float, torch.Tensor]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("CONSROUTE_DATA", "../shared/data/zeroeval"))
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--queries", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--with-single", action="store_true", help="also time extract_features with batch_size=1")
    args = parser.parse_args(argv)

    lm, tokenizer = load_device_lm(args.model, dtype=args.dtype)
    router = ConsRouterForTierSelection.from_backbone(lm).eval()
    queries = zeroeval_queries(Path(args.data), args.queries)

    warm_up = queries[:4]
    extract_features(router, warm_up, tokenizer, batch_size=args.batch_size, show_progress=False)
    naive_loop(router, lm, warm_up, tokenizer)
    batched_s, batched = timed(
        lambda: extract_features(router, queries, tokenizer, batch_size=args.batch_size, show_progress=False), args.repeats
    )
    naive_s, naive = timed(lambda: naive_loop(router, lm, queries, tokenizer), args.repeats)
    single_s = float("nan")
    if args.with_single:
        single_s, _ = timed(lambda: extract_features(router, queries, tokenizer, batch_size=1, show_progress=False), args.repeats)
    cosine = torch.nn.functional.cosine_similarity(batched, naive).min().item()
    record = {
        "benchmark": "features", "model": args.model, "dtype": str(lm.dtype), "device": str(lm.device),
        "threads": torch.get_num_threads(), "queries": len(queries), "batch_size": args.batch_size,
        "repeats": args.repeats, "batched_s": round(batched_s, 3), "naive_s": round(naive_s, 3),
        "single_s": round(single_s, 3), "speedup_vs_naive": round(naive_s / batched_s, 2),
        "speedup_vs_single": round(single_s / batched_s, 2), "min_cosine_batched_vs_naive": round(cosine, 6),
    }
    print(
        f"| features | {args.model} {record['dtype']} | {len(queries)} ZeroEval queries, batch {args.batch_size} | "
        f"batched {batched_s:.2f} s vs naive loop {naive_s:.2f} s: **{record['speedup_vs_naive']}x**"
        + (f" (vs batch-1 extract_features {single_s:.2f} s: {record['speedup_vs_single']}x)" if args.with_single else "")
        + f" | median of {args.repeats} |"
    )
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
