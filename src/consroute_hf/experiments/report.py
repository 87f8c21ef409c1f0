"""Turn the main job's runs into metrics.json, results.md, deferral-curve PNGs and a model card."""

from __future__ import annotations

import json
import os
import platform
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .runs import SUMMARY_METRICS, RouterRun

if TYPE_CHECKING:
    from ..recipe import Recipe
    from .inputs import ExperimentInputs
    from .pipeline import ReproduceResult

#: Order and labels of the results table's columns.
TABLE_COLUMNS = (
    ("accuracy_pct_of_cloud", "acc % of cloud"), ("cost_pct_of_cloud", "cost %"),
    ("latency_pct_of_cloud", "latency % (good net)"), ("latency_pct_of_cloud_bad", "latency % (bad net)"),
    ("apgr", "APGR"), ("cpt50", "CPT(50%)"), ("cpt80", "CPT(80%)"), ("aiq", "AIQ"),
)


def aggregate(runs: list[RouterRun]) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """split kind -> router -> metric -> {"mean", "std", "n"} over that kind's splits (None values skipped)."""
    grouped: dict[str, dict[str, list[RouterRun]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        grouped[run.kind][run.router].append(run)
    results: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for kind, routers in grouped.items():
        results[kind] = {}
        for router, router_runs in routers.items():
            metrics = {}
            for metric in SUMMARY_METRICS:
                values = [run.summary()[metric] for run in router_runs if run.summary()[metric] is not None]
                if values:
                    metrics[metric] = {"mean": float(np.mean(values)), "std": float(np.std(values)), "n": len(values)}
            mixes = [run.test.tier_mix for run in router_runs]
            metrics["tier_mix"] = {tier: float(np.mean([mix[tier] for mix in mixes])) for tier in mixes[0]}
            results[kind][router] = metrics
    return results


def build_metrics(recipe: "Recipe", result: "ReproduceResult", inputs: "ExperimentInputs", router: Any) -> dict[str, Any]:
    """The metrics.json document (schema in the README's "Main job" section)."""
    results = aggregate(result.runs)
    headline_source = results["random"]["consroute"]
    headline = {
        "split": f"random 60/20/20, mean of {len(recipe.split.seeds)} seeds",
        "router": "consroute",
        **{metric: headline_source[metric]["mean"] for metric in SUMMARY_METRICS if metric in headline_source},
    }
    return {
        "recipe": recipe.name,
        "tiers": [tier.to_dict() for tier in recipe.tiers],
        "dataset": {
            "name": "ZeroEval responses (GSM8K, MATH level 5, CRUXEval)" if recipe.data.source == "zeroeval" else recipe.data.root,
            "n_queries": len(inputs.queries), "tasks": sorted(set(inputs.tasks.tolist())),
            "tier_accuracy": {name: float(acc) for name, acc in zip(recipe.tier_names, inputs.outcomes.tier_accuracy())},
        },
        "operating_target": recipe.calibration.target,
        "headline": headline,
        "results": results,
        "runs": [run.to_dict() for run in result.runs],
        "calibration": dict(router.config.calibration),
        "num_clusters": router.config.num_clusters,
        "router_overheads_ms": vars(inputs.overheads),
        "stage_seconds": result.stage_seconds,
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count()},
        "plots": ["deferral_cost.png", "deferral_latency.png"],
    }


def results_table(results: dict[str, dict[str, dict[str, Any]]], kind: str) -> str:
    """A markdown table of every router on one split kind (mean ± std)."""
    header = "| router | " + " | ".join(label for _, label in TABLE_COLUMNS) + " |"
    lines = [header, "|" + " --- |" * (len(TABLE_COLUMNS) + 1)]
    for router, metrics in results[kind].items():
        cells = []
        for metric, _ in TABLE_COLUMNS:
            if metric not in metrics:
                cells.append("–")
                continue
            mean, std = metrics[metric]["mean"], metrics[metric]["std"]
            cells.append(f"{mean:.3f} ± {std:.3f}" if metric in ("apgr", "aiq") else f"{mean:.1f} ± {std:.1f}")
        lines.append(f"| {router} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_results_markdown(recipe: "Recipe", metrics: dict[str, Any]) -> str:
    dataset = metrics["dataset"]
    accuracy = ", ".join(f"{name} {100 * acc:.1f}%" for name, acc in dataset["tier_accuracy"].items())
    parts = [
        f"# ConsRoute results: {recipe.name}",
        "",
        f"Reproduce: `consroute reproduce --recipe recipes/{recipe.name}.yaml`. Data: {dataset['name']}, "
        f"{dataset['n_queries']} queries; tier accuracy on all of them: {accuracy}.",
        "",
        f"Every router is tuned on the calibration rows to reach {100 * recipe.calibration.target:.0f}% of cloud-only "
        "accuracy at least cost, then measured on the test rows: *acc % of cloud* is what it actually reached there. "
        "Cost = activated parameters x output tokens; latency from the tier profiles plus each router's overhead "
        "(ConsRoute: its prompt, and the device prefill of queries it sends away, at the device profile's speed; "
        "separate-encoder routers: a MiniLM pass, `evaluation.encoder_overhead_ms`). APGR / CPT / AIQ come from the test deferral curve (threshold offsets swept). Fixed routers have "
        "no curve.",
    ]
    titles = {"random": "Random splits (60/20/20, mean ± std over seeds)",
              "leave_one_task_out": "Leave one task out (train + calibrate on two tasks, test on the third; mean ± std over tasks)"}
    for kind, title in titles.items():
        if kind in metrics["results"]:
            parts += ["", f"## {title}", "", results_table(metrics["results"], kind)]
    parts += ["", "![cost deferral curves](deferral_cost.png)", "", "![latency deferral curves](deferral_latency.png)", ""]
    return "\n".join(parts)


def plot_deferral_curves(runs: list[RouterRun], split_name: str, run_dir: Path) -> list[Path]:
    """Accuracy vs cost and vs latency on one split's test rows, every router with a curve; PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = [run for run in runs if run.split == split_name]
    paths = []
    for axis, label, filename in (("cost_pct", "cost, % of cloud-only", "deferral_cost.png"),
                                  ("latency_pct", "latency (good network), % of cloud-only", "deferral_latency.png")):
        figure, ax = plt.subplots(figsize=(7, 5))
        for run in chosen:
            if run.curve is not None:
                style = {"linewidth": 2.5, "color": "black"} if run.router == "consroute" else {"linewidth": 1, "alpha": 0.8}
                ax.plot(getattr(run.curve, axis), 100 * run.curve.accuracy, label=run.router, **style)
            else:
                point = run.test.cost_pct_of_cloud if axis == "cost_pct" else run.test.latency_pct_of_cloud
                ax.scatter([point], [100 * run.test.accuracy], marker="x", label=run.router)
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy, %")
        ax.set_title(f"Deferral curves, {split_name} test rows")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
        path = run_dir / filename
        figure.tight_layout()
        figure.savefig(path, dpi=120)
        plt.close(figure)
        paths.append(path)
    return paths


def write_json_atomic(path: Path, document: dict[str, Any]) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(document, indent=2))
    os.replace(temporary, path)


def write_report(recipe: "Recipe", result: "ReproduceResult", inputs: "ExperimentInputs", router: Any) -> dict[str, Any]:
    """Write metrics.json, results.md, the PNG curves and the model card README.md into the run folder."""
    from ..model_card import render_model_card

    run_dir = result.run_dir
    metrics = build_metrics(recipe, result, inputs, router)
    write_json_atomic(run_dir / "metrics.json", metrics)
    (run_dir / "results.md").write_text(render_results_markdown(recipe, metrics))
    plots = plot_deferral_curves(result.runs, f"random-seed{recipe.evaluation.router_split_seed}", run_dir)
    card = render_model_card(router, metrics, recipe=recipe, plots=[p.name for p in plots])
    card.save(str(run_dir / "README.md"))
    card.save(str(result.router_path / "README.md"))
    return metrics
