"""Model cards for ConsRoute routers: ``huggingface_hub.ModelCard`` rendered from ``model_cards/``.

The card's YAML metadata holds a ``model-index`` built from ``metrics.json`` (the reproduce job's
results; every key is optional), so the Hub shows the evaluation results; the body describes the
tiers, the results tables and plots, training data, calibration, intended use and limitations.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData

logger = logging.getLogger(__name__)

#: The Jinja template rendered by [`render_model_card`].
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[2] / "model_cards" / "consroute_router.md"
#: The router whose results go into the card's model-index.
MODEL_ROUTER_NAME = "consroute"
#: The model-index task: routing is a per-query classification into tiers.
TASK_TYPE = "text-classification"
TASK_NAME = "LLM query routing (tier selection)"
#: Metric key -> (pretty name, decimals) for tables and the model-index, in display order.
METRIC_LABELS: dict[str, tuple[str, int]] = {
    "accuracy_pct_of_cloud": ("accuracy, % of cloud-only", 1),
    "cost_pct_of_cloud": ("cost, % of cloud-only", 1),
    "latency_pct_of_cloud": ("latency, % of cloud-only", 1),
    "latency_pct_of_cloud_bad": ("latency (bad network), % of cloud-only", 1),
    "accuracy": ("accuracy", 3),
    "apgr": ("APGR", 3),
    "aiq": ("AIQ", 3),
    "cpt50": ("CPT(50%)", 1),
    "cpt80": ("CPT(80%)", 1),
}
#: Calibration metadata keys that summarise a threshold profile in the card.
PROFILE_SUMMARY_KEYS = ("mode", "target", "minimise")
SPLIT_TITLES = {
    "random": "Random splits",
    "leave_one_task_out": "Leave one task out (test on a task unseen in training)",
}


@dataclass
class ResultTable:
    """One results table of the card: every router on one split kind.

    Attributes:
        title: Section title. columns: metric labels. rows: ``{"router": str, "cells": [str]}``.
    """

    title: str
    columns: list[str]
    rows: list[dict[str, Any]]


def eval_results_from_metrics(metrics: Mapping[str, Any] | None) -> list[EvalResult]:
    """The model-index entries of ConsRoute's own results in a ``metrics.json`` document.

    One entry per (split kind, metric) from ``results[kind]["consroute"][metric]["mean"]``; without
    any such results, the ``headline`` metrics (for the headline's split). Missing keys,
    non-numeric and non-finite values are skipped.
    """
    if not metrics:
        return []
    dataset = metrics.get("dataset") or {}
    dataset_name = str(dataset.get("name") or metrics.get("recipe") or "routing data")
    dataset_type = str(metrics.get("recipe") or dataset_name)
    entries: dict[tuple[str, str], EvalResult] = {}

    def add(split: str, metric: str, value: Any) -> None:
        if (split, metric) in entries or isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        if not math.isfinite(value):
            return
        label = METRIC_LABELS.get(metric, (metric, 3))[0]
        entries[(split, metric)] = EvalResult(
            task_type=TASK_TYPE, task_name=TASK_NAME, dataset_type=dataset_type, dataset_name=dataset_name,
            dataset_split=split, metric_type=metric, metric_name=f"{label} ({split})", metric_value=float(value),
        )

    for split, routers in (metrics.get("results") or {}).items():
        for metric, summary in ((routers or {}).get(MODEL_ROUTER_NAME) or {}).items():
            if isinstance(summary, Mapping):
                add(str(split), str(metric), summary.get("mean"))
    headline = metrics.get("headline") or {}
    if not entries and headline.get("router", MODEL_ROUTER_NAME) == MODEL_ROUTER_NAME:
        split = str(headline.get("split") or "headline")
        for metric in METRIC_LABELS:
            if metric in headline:
                add(split, metric, headline[metric])
    return list(entries.values())


def result_tables(metrics: Mapping[str, Any] | None) -> list[ResultTable]:
    """Markdown-ready tables (mean ± std) of every router, one per split kind in ``results``."""
    tables = []
    for split, routers in ((metrics or {}).get("results") or {}).items():
        present = [m for m in METRIC_LABELS if any(isinstance((r or {}).get(m), Mapping) for r in routers.values())]
        if not present:
            continue
        rows = []
        for router, values in routers.items():
            cells = [_mean_std(((values or {}).get(metric)), METRIC_LABELS[metric][1]) for metric in present]
            rows.append({"router": f"**{router}**" if router == MODEL_ROUTER_NAME else router, "cells": cells})
        tables.append(ResultTable(SPLIT_TITLES.get(split, split), [METRIC_LABELS[m][0] for m in present], rows))
    return tables


def render_model_card(
    router: Any,
    metrics: Mapping[str, Any] | None,
    recipe: Any = None,
    plots: Sequence[str | os.PathLike] = (),
    *,
    repo_id: str | None = None,
    head_only: bool | None = None,
    tags: Sequence[str] = (),
    template_path: str | os.PathLike = DEFAULT_TEMPLATE,
) -> ModelCard:
    """Render the router's model card.

    Args:
        router: a ``ConsRouterForTierSelection`` (only its ``config`` and ``head`` are read).
        metrics: the ``metrics.json`` document (see the module docstring), or None.
        recipe: the ``Recipe`` (or its dict) the router was trained with, shown in the card.
        plots: image files the card shows; only their file names are used, so they must sit next to
            the card (``push_router`` uploads them to the repository root).
        repo_id: the Hub repository, for the usage snippet and the model-index name.
        head_only: describe a head-only checkpoint (default: ``config.checkpoint_kind``).
        tags: extra Hub tags.
        template_path: the Jinja template.

    Returns:
        The card; ``card.data.eval_results`` holds the model-index entries.
    """
    template = Path(template_path)
    if not template.is_file():
        raise FileNotFoundError(f"Model card template {template} is missing; it ships in the repository's model_cards/.")
    config = router.config
    metrics = dict(metrics or {})
    name = repo_id.split("/")[-1] if repo_id else f"consroute-{metrics.get('recipe') or 'router'}"
    kind = ("head_only" if head_only else "full") if head_only is not None else config.checkpoint_kind
    backbone = config.backbone_name_or_path or "(unnamed device LM)"
    eval_results = eval_results_from_metrics(metrics)
    card_data = ModelCardData(
        model_name=name,
        library_name="transformers",
        license="apache-2.0",
        base_model=backbone if _looks_like_repo_id(backbone) else None,
        tags=sorted({"consroute", "llm-routing", "tier-selection", "custom_code", *tags}),
        eval_results=eval_results or None,
    )
    profiles = [
        {"name": profile_name, "description": _describe(profile.get("calibration") or {})}
        for profile_name, profile in sorted(config.threshold_profiles.items())
    ]
    return ModelCard.from_template(
        card_data,
        template_path=str(template),
        model_name=name,
        repo_id=repo_id or f"<your-org>/{name}",
        tiers=config.tiers,
        tier_names=config.tier_names,
        reference_tier=config.tier_names[-1],
        consistency_prompt=config.consistency_prompt,
        checkpoint_kind=kind,
        backbone=backbone,
        max_query_tokens=config.max_query_tokens,
        feature_layer_text="-1 (last layer)" if config.feature_layer == -1 else str(config.feature_layer),
        pooling=config.pooling,
        head_num_layers=config.head_num_layers,
        head_hidden_size=config.head_hidden_size,
        head_parameters=f"{sum(p.numel() for p in router.head.parameters()):,}",
        num_clusters=config.num_clusters,
        default_thresholds=", ".join(f"{t}: {v:.3f}" for t, v in zip(config.tier_names, config.default_thresholds)),
        calibration_items=_flatten(config.calibration),
        profiles=profiles,
        headline=_format_headline(metrics.get("headline")),
        operating_target_pct=f"{100 * float(metrics.get('operating_target') or 0.95):.0f}",
        result_tables=result_tables(metrics),
        plots=[{"file": Path(p).name, "alt": Path(p).stem.replace("_", " ")} for p in plots],
        dataset=metrics.get("dataset") or {},
        recipe_yaml=_recipe_yaml(recipe),
    )


def _mean_std(summary: Any, decimals: int) -> str:
    if not isinstance(summary, Mapping) or not isinstance(summary.get("mean"), (int, float)):
        return "–"
    text = f"{summary['mean']:.{decimals}f}"
    if isinstance(summary.get("std"), (int, float)):
        text += f" ± {summary['std']:.{decimals}f}"
    return text


def _format_headline(headline: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not headline:
        return None
    formatted = {"split": str(headline.get("split") or "held-out test rows")}
    for metric, (_, decimals) in METRIC_LABELS.items():
        value = headline.get(metric)
        formatted[metric] = f"{value:.{decimals}f}" if isinstance(value, (int, float)) else "n/a"
    return formatted


def _describe(calibration: Mapping[str, Any]) -> str:
    """One line for a threshold profile: its objective and what it reached on the calibration split."""
    text = ", ".join(f"{key}={_format_value(calibration[key])}" for key in PROFILE_SUMMARY_KEYS if key in calibration)
    achieved = calibration.get("achieved") or {}
    if isinstance(achieved, Mapping) and {"accuracy_pct_of_cloud", "cost_pct_of_cloud"} <= set(achieved):
        text += (
            f"; calibration split: {achieved['accuracy_pct_of_cloud']:.1f}% of cloud accuracy at "
            f"{achieved['cost_pct_of_cloud']:.1f}% of cloud cost"
        )
    return text


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested calibration metadata -> sorted ``(dotted.key, short text)`` rows."""
    rows = []
    for key, value in sorted(mapping.items()):
        if isinstance(value, Mapping) and value:
            rows += _flatten(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", _format_value(value)))
    return rows


def _format_value(value: Any, limit: int = 80) -> str:
    if isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, (list, tuple)):
        text = ", ".join(_format_value(item, limit) for item in value)
    else:
        text = str(value)
    text = text.replace("|", "/").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _recipe_yaml(recipe: Any) -> str | None:
    if recipe is None:
        return None
    document = recipe.to_dict() if hasattr(recipe, "to_dict") else dict(recipe)
    return yaml.safe_dump(document, sort_keys=False).strip()


def _looks_like_repo_id(name: str) -> bool:
    """``org/name`` that is not an existing local path."""
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not os.path.exists(name)


__all__ = ["render_model_card", "eval_results_from_metrics", "result_tables", "ResultTable", "DEFAULT_TEMPLATE"]
