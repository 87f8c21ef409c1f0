"""Recipes: one YAML file holds data, tiers, features, training, calibration and evaluation settings.

Every field can be overridden from the command line with ``--set section.field=value`` (the value
is parsed as YAML, so ``--set training.learning_rate=3e-4`` gives a float).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .configuration_consroute import TierSpec, resolve_tiers

#: Environment variable that overrides ``data.root``.
DATA_ROOT_ENV = "CONSROUTE_DATA"
#: Environment variable that overrides where derived artefacts (datasets, features) are cached.
CACHE_DIR_ENV = "CONSROUTE_CACHE"


@dataclass
class DataRecipe:
    """Where routing data comes from and how soft targets are built.

    Attributes:
        source: ``"zeroeval"``, ``"jsonl"`` or ``"hub"``.
        root: ZeroEval ``result_dirs`` folder, a JSONL file, or a Hub dataset name.
        tasks: ZeroEval task folders to read.
        tier_files: tier name -> task -> file stem (ZeroEval names carry provider suffixes).
        on_missing: ``"error"`` or ``"drop"`` for ids missing, duplicated or empty in a tier.
        scorer: consistency scorer: ``"embedding"``, ``"cross-encoder"``, ``"judge"`` or ``"agreement"``.
        scorer_model: name or path of the scorer's model (None = the offline default).
        targets: ``"consistency"``, ``"correctness"`` or ``"blend"``.
        blend_weight: weight of the consistency score in ``"blend"`` (1 - weight on correctness agreement).
        token_counter: tokenizer used to count output tokens (name or path; None = offline SmolLM2).
    """

    source: str = "zeroeval"
    root: str = "../shared/data/zeroeval"
    tasks: list[str] = field(default_factory=lambda: ["gsm", "math-l5", "crux"])
    tier_files: dict[str, dict[str, str]] = field(default_factory=dict)
    on_missing: str = "error"
    scorer: str = "embedding"
    scorer_model: str | None = None
    targets: str = "blend"
    blend_weight: float = 0.5
    token_counter: str | None = None


@dataclass
class SplitRecipe:
    """Seeded splits: fractions are train / calibration / test; ``seeds`` for repeated splits."""

    seed: int = 0
    fractions: list[float] = field(default_factory=lambda: [0.6, 0.2, 0.2])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])


@dataclass
class BackboneRecipe:
    """The device LM whose prefill features the router reads."""

    name_or_path: str = "smollm2-135m-instruct"
    gguf_file: str | None = None
    dtype: str = "auto"
    device: str = "auto"
    feature_layer: int = -1
    pooling: str = "last"
    consistency_prompt: str | None = None
    max_query_tokens: int = 1024
    batch_size: int = 16


@dataclass
class TrainingRecipe:
    """Arguments of the head (or LoRA) training run with ``transformers.Trainer``."""

    mode: str = "head"  # "head" (cached features) or "lora" (end to end)
    num_train_epochs: float = 30.0
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    per_device_train_batch_size: int = 64
    per_device_eval_batch_size: int = 256
    early_stopping_patience: int = 5
    head_hidden_size: int = 256
    head_num_layers: int = 2
    head_dropout: float = 0.1
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    seed: int = 0
    validation_fraction: float = 0.1  # share of the train split held out for early stopping
    gradient_accumulation_steps: int = 1


@dataclass
class CalibrationRecipe:
    """Per-cluster threshold tuning (k-means + optuna TPE)."""

    mode: str = "budget"  # "budget" or "utility"
    target: float = 0.95  # budget mode: accuracy >= target x cloud-only accuracy
    minimise: str = "cost"  # budget mode: "cost" or "latency"
    weights: list[float] = field(default_factory=lambda: [1.0, 0.2, 0.2])  # utility: l1, l2, l3
    n_clusters: int | str = "auto"
    k_range: list[int] = field(default_factory=lambda: [2, 12])
    n_trials: int = 300
    min_cluster_size: int = 20
    network: str = "good"
    margin: float | str = 0.0  # budget mode: extra accuracy demanded on calibration, or "auto" (cross-validated)
    allocation: str = "global"  # budget mode: "global" or "per_cluster" (see calibration.thresholds)
    seed: int = 0


@dataclass
class EvaluationRecipe:
    """What the main job compares ConsRoute with, and how.

    Attributes:
        baselines: baseline names from ``consroute_hf.baselines.BASELINES`` to run on every split.
        ablations: ConsRoute ablations: ``"global-threshold"`` (no clusters),
            ``"consistency-targets"``, ``"correctness-targets"``, and ``"no-prompt"`` (features without
            the consistency prompt; opt-in, as it costs a second device-LM pass over every query,
            ~20-25 min on 2 CPU cores).
        single_split_baselines: baselines too slow for every split (on 2 CPU cores): run only on the
            ``router_split_seed`` split, so their table rows average one split.
        encoder_overhead_ms: latency a separate-encoder router (MiniLM embedding + classifier) adds
            per query; default: measured by benchmarks/bench_serving.py on a 2-core CPU.
        num_threads: torch / BLAS threads while training heads and baselines and calibrating (small
            models on cached features run fastest on one thread per process).
        baseline_trials: optuna trials for the one global threshold vector of each baseline/ablation.
        curve_offsets: number of threshold offsets swept (in [-1, 1]) for deferral curves.
        leave_one_task_out: also evaluate train-on-two-tasks / test-on-the-third splits.
        router_split_seed: the random split whose trained router is saved and published.
    """

    baselines: list[str] = field(default_factory=lambda: [
        "routellm-bert", "routellm-mf", "routellm-sw", "routerbench-knn", "routerbench-mlp", "hybrid-llm",
    ])
    ablations: list[str] = field(default_factory=lambda: [
        "global-threshold", "consistency-targets", "correctness-targets",
    ])
    single_split_baselines: list[str] = field(default_factory=lambda: ["routellm-bert"])
    encoder_overhead_ms: float = 44.0
    num_threads: int = 1
    baseline_trials: int = 100
    curve_offsets: int = 41
    leave_one_task_out: bool = True
    router_split_seed: int = 0


@dataclass
class Recipe:
    """A whole ConsRoute run: data -> features -> train -> calibrate -> evaluate."""

    name: str = "consroute"
    tiers: list[TierSpec] = field(default_factory=lambda: resolve_tiers(["device", "edge", "cloud"]))
    data: DataRecipe = field(default_factory=DataRecipe)
    split: SplitRecipe = field(default_factory=SplitRecipe)
    backbone: BackboneRecipe = field(default_factory=BackboneRecipe)
    training: TrainingRecipe = field(default_factory=TrainingRecipe)
    calibration: CalibrationRecipe = field(default_factory=CalibrationRecipe)
    evaluation: EvaluationRecipe = field(default_factory=EvaluationRecipe)
    output_dir: str = "runs"
    cache_dir: str = ".cache/consroute"

    @property
    def tier_names(self) -> list[str]:
        return [tier.name for tier in self.tiers]

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name

    @property
    def data_root(self) -> Path:
        """``data.root``, or ``$CONSROUTE_DATA`` when set."""
        return Path(os.environ.get(DATA_ROOT_ENV, self.data.root))

    @property
    def cache_path(self) -> Path:
        return Path(os.environ.get(CACHE_DIR_ENV, self.cache_dir))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "Recipe":
        """Build a recipe from nested dicts, rejecting unknown sections and fields by name."""
        raw = dict(raw)
        sections = {
            "data": DataRecipe, "split": SplitRecipe, "backbone": BackboneRecipe,
            "training": TrainingRecipe, "calibration": CalibrationRecipe, "evaluation": EvaluationRecipe,
        }
        unknown = set(raw) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"Unknown recipe section(s): {sorted(unknown)}.")
        kwargs: dict[str, Any] = {}
        for key, value in raw.items():
            if key in sections:
                section_cls = sections[key]
                allowed = {f.name for f in dataclasses.fields(section_cls)}
                bad = set(value or {}) - allowed
                if bad:
                    raise ValueError(f"Unknown field(s) {sorted(bad)} in recipe section `{key}`; allowed: {sorted(allowed)}.")
                kwargs[key] = section_cls(**(value or {}))
            elif key == "tiers":
                kwargs[key] = resolve_tiers(value)
            else:
                kwargs[key] = value
        return cls(**kwargs)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, overrides: list[str] | None = None) -> "Recipe":
        """Read a recipe file and apply ``section.field=value`` overrides."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"Recipe file {path} does not exist; see recipes/ for examples.")
        raw = yaml.safe_load(path.read_text()) or {}
        for override in overrides or []:
            apply_override(raw, override)
        return cls.from_dict(raw)


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Set ``a.b.c=value`` inside nested dicts; the value is parsed as YAML."""
    if "=" not in override:
        raise ValueError(f"Override {override!r} must look like section.field=value.")
    dotted, value = override.split("=", 1)
    *parents, leaf = dotted.strip().split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
    parsed = yaml.safe_load(value)
    if isinstance(parsed, str):  # YAML 1.1 reads "3e-4" as a string
        try:
            parsed = float(parsed)
        except ValueError:
            pass
    node[leaf] = parsed
