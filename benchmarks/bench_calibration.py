"""Calibration benchmark: per-cluster threshold tuning time (target: K=8 x 300 trials < 60 s on 2 CPU cores).

Synthetic calibration split the size of the Gemma 2 one (20% of 2,840 queries = 568 rows), three
tiers, K=8 clusters of 576-dimensional features (SmolLM2-135M's hidden size). Reported, each the
median of ``--repeats`` runs after one warm-up:

1. ``tune_thresholds`` with K=8 clusters, 300 TPE trials per cluster (plus the global study),
   budget mode with the global allocation, and the ratio to one global study (no clusters, 300
   trials) timed in the same run: the ratio is ~K+1 when per-cluster cost is all optuna overhead.
2. ``tune_threshold_sweep`` (the whole deferral curve, 10 targets) with the same K and trials.
3. ``fit_clusters`` with ``n_clusters="auto"`` over k in [2, 12] (elbow).

Prints a markdown table and a JSON object.

    .venv/bin/python benchmarks/bench_calibration.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from consroute_hf.calibration import fit_clusters, tune_threshold_sweep, tune_thresholds
from consroute_hf.evaluation import TierOutcomes


def synthetic_split(n: int, k: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, TierOutcomes]:
    rng = np.random.default_rng(seed)
    features = (rng.normal(size=(k, dim)) * 3.0)[np.arange(n) % k] + rng.normal(size=(n, dim))
    scores = rng.uniform(size=(n, 2))
    correct = np.stack([rng.uniform(size=n) < 0.2 + 0.4 * scores[:, 0], rng.uniform(size=n) < 0.4 + 0.4 * scores[:, 1],
                        rng.uniform(size=n) < 0.65], axis=1)
    tiers = [{"name": "device", "activated_params_b": 2.6}, {"name": "edge", "activated_params_b": 9.2},
             {"name": "cloud", "activated_params_b": 27.2}]
    outcomes = TierOutcomes(tiers, correct, rng.integers(50, 600, size=(n, 3)), rng.integers(30, 300, size=n))
    return features, scores, outcomes


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=568)
    parser.add_argument("--clusters", type=int, default=8)
    parser.add_argument("--dim", type=int, default=576)
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    features, scores, outcomes = synthetic_split(args.rows, args.clusters, args.dim)
    labels = fit_clusters(features, n_clusters=args.clusters).labels
    common = {"n_trials": args.trials, "show_progress": False, "min_cluster_size": 20}
    per_cluster = timed(lambda: tune_thresholds(scores, labels, outcomes, **common), args.repeats)
    global_only = timed(lambda: tune_thresholds(scores, None, outcomes, **common), args.repeats)
    sweep = timed(lambda: tune_threshold_sweep(scores, labels, outcomes, **common), args.repeats)
    clustering = timed(lambda: fit_clusters(features, n_clusters="auto", k_range=(2, 12)), args.repeats)
    report = {
        "rows": args.rows, "clusters": args.clusters, "dim": args.dim, "trials": args.trials, "repeats": args.repeats,
        "tune_k_clusters_s": per_cluster, "tune_global_s": global_only, "ratio_k_vs_global": per_cluster / global_only,
        "sweep_k_clusters_s": sweep, "fit_clusters_auto_s": clustering, "target_s": 60.0,
    }
    print("| measurement | median s |\n| --- | --- |")
    print(f"| tune_thresholds, K={args.clusters} x {args.trials} trials (+ global) | {per_cluster:.2f} |")
    print(f"| tune_thresholds, global only ({args.trials} trials) | {global_only:.2f} |")
    print(f"| ratio K-cluster / global | {per_cluster / global_only:.2f} |")
    print(f"| tune_threshold_sweep, K={args.clusters} x {args.trials} trials, 10 targets | {sweep:.2f} |")
    print(f"| fit_clusters auto k in [2, 12] (D={args.dim}) | {clustering:.2f} |")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
