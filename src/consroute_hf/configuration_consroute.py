"""Configuration of a ConsRoute router.

This module is copied next to saved checkpoints as Hub remote code, so it imports nothing from
``consroute_hf``: only the standard library, ``transformers`` and ``numpy``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

from transformers import AutoConfig, PreTrainedConfig

DEFAULT_CONSISTENCY_PROMPT = (
    "The consistency between the small language model and large language model responses "
    "for the above query is:"
)


@dataclass
class TierSpec:
    """One tier of LLMs, ordered cheapest first; the last tier is the reference ("cloud") tier.

    Attributes:
        name: Unique, non-empty tier name, e.g. ``"device"``.
        activated_params_b: Parameters activated per generated token, in billions (cost model).
        usd_per_1k_output_tokens: Optional price, for USD cost reports.
        network_rtt_ms: Network round trip to reach the tier, in milliseconds (0 for on-device).
        prefill_tokens_per_s: Prompt-processing speed of the tier.
        decode_tokens_per_s: Generation speed of the tier.
    """

    name: str
    activated_params_b: float
    usd_per_1k_output_tokens: float | None = None
    network_rtt_ms: float = 0.0
    prefill_tokens_per_s: float = 1000.0
    decode_tokens_per_s: float = 30.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Profiles given to plain tier names. Sizes follow the paper's Qwen3 tiers (1.7B / 14B / 32B);
#: speeds and round trips are typical for a phone, an edge GPU box and a cloud endpoint.
DEFAULT_TIER_PROFILES: dict[str, TierSpec] = {
    "device": TierSpec("device", 1.7, None, 0.0, 400.0, 20.0),
    "edge": TierSpec("edge", 14.0, None, 20.0, 3000.0, 40.0),
    "cloud": TierSpec("cloud", 32.0, None, 80.0, 8000.0, 60.0),
}


def resolve_tiers(tiers: Sequence[str | Mapping[str, Any] | TierSpec]) -> list[TierSpec]:
    """Turn plain names, dicts or ``TierSpec`` objects into a validated list of ``TierSpec``.

    Raises:
        ValueError: fewer than 2 tiers, an empty or duplicate name, an unknown plain name, or a
            non-positive size.
    """
    if isinstance(tiers, (str, bytes)) or not isinstance(tiers, Sequence):
        raise ValueError(
            f"`tiers` must be a list of tier names, dicts or TierSpec objects, got {type(tiers).__name__}."
        )
    specs: list[TierSpec] = []
    for tier in tiers:
        if isinstance(tier, TierSpec):
            spec = TierSpec(**tier.to_dict())
        elif isinstance(tier, str):
            if tier not in DEFAULT_TIER_PROFILES:
                raise ValueError(
                    f"Unknown tier name {tier!r}: plain names get default profiles only for "
                    f"{sorted(DEFAULT_TIER_PROFILES)}; give a dict with `name` and "
                    "`activated_params_b` for any other tier."
                )
            spec = TierSpec(**DEFAULT_TIER_PROFILES[tier].to_dict())
        elif isinstance(tier, Mapping):
            unknown = set(tier) - set(TierSpec.__dataclass_fields__)
            if unknown:
                raise ValueError(f"Unknown tier field(s) {sorted(unknown)} in {dict(tier)!r}.")
            if "name" not in tier or "activated_params_b" not in tier:
                raise ValueError(f"A tier dict needs `name` and `activated_params_b`, got {dict(tier)!r}.")
            spec = TierSpec(**tier)
        else:
            raise ValueError(f"A tier must be a name, a dict or a TierSpec, got {type(tier).__name__}.")
        if not isinstance(spec.name, str) or not spec.name.strip():
            raise ValueError("`tiers`: every tier needs a non-empty name.")
        if not spec.activated_params_b > 0:
            raise ValueError(f"`tiers`: tier {spec.name!r} needs activated_params_b > 0.")
        specs.append(spec)
    if len(specs) < 2:
        raise ValueError(f"`tiers`: a router needs at least 2 tiers, got {len(specs)}.")
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"`tiers`: tier names must be unique, {duplicates} repeat.")
    return specs


def _as_matrix(value: Any) -> list[list[float]] | None:
    if value is None:
        return None
    if hasattr(value, "tolist"):
        value = value.tolist()
    return [[float(x) for x in row] for row in value]


def _as_vector(value: Any) -> list[float] | None:
    if value is None:
        return None
    if hasattr(value, "tolist"):
        value = value.tolist()
    return [float(x) for x in value]


class ConsRouteConfig(PreTrainedConfig):
    r"""Configuration of [`ConsRouterForTierSelection`].

    Args:
        backbone_config: Config of the device causal LM whose prefill hidden states are the
            routing features (a ``PreTrainedConfig`` or its dict). Its ``hidden_size`` is D.
        backbone_name_or_path: Where the device LM comes from (Hub id, folder or GGUF file).
        tiers: T >= 2 tiers, cheapest first; the last is the reference tier.
        feature_layer: Index into the backbone's ``hidden_states`` (L + 1 entries; -1 = last).
        pooling: ``"last"`` (final real token) or ``"mean"`` (mean over real tokens).
        consistency_prompt: Text appended after the (chat-templated) query before reading features.
        max_query_tokens: Longer queries are truncated (with a warning) to this many tokens.
        head_hidden_size / head_num_layers / head_dropout: Sizes of the MLP head.
        freeze_backbone: Keep the backbone frozen (also after ``from_pretrained``).
        cluster_centroids: (K, D) k-means centroids in the standardised feature space, or None.
        feature_mean / feature_std: (D,) standardisation of features before clustering.
        cluster_thresholds: (K, T-1) per-cluster routing thresholds in [0, 1], or None.
        default_thresholds: (T-1,) thresholds used without clusters (default 0.5 each).
        calibration: Free-form metadata of how thresholds were tuned (mode, weights, split size).
        threshold_profiles: Named alternative calibrations, each a dict with ``cluster_thresholds``
            (K, T-1), optional ``default_thresholds`` (T-1) and ``calibration`` metadata.
        checkpoint_kind: ``"full"`` (backbone weights inside) or ``"head_only"``.
    """

    model_type = "consroute"
    sub_configs = {"backbone_config": AutoConfig}

    def __init__(
        self,
        backbone_config: PreTrainedConfig | dict | None = None,
        backbone_name_or_path: str | None = None,
        tiers: Sequence[str | Mapping[str, Any] | TierSpec] = ("device", "edge", "cloud"),
        feature_layer: int = -1,
        pooling: str = "last",
        consistency_prompt: str = DEFAULT_CONSISTENCY_PROMPT,
        max_query_tokens: int = 2048,
        head_hidden_size: int = 1024,
        head_num_layers: int = 2,
        head_dropout: float = 0.1,
        freeze_backbone: bool = True,
        cluster_centroids: Any = None,
        feature_mean: Any = None,
        feature_std: Any = None,
        cluster_thresholds: Any = None,
        default_thresholds: Any = None,
        calibration: dict | None = None,
        threshold_profiles: dict | None = None,
        checkpoint_kind: str = "full",
        **kwargs: Any,
    ) -> None:
        if isinstance(backbone_config, dict):
            backbone_config = dict(backbone_config)
            model_type = backbone_config.pop("model_type", None)
            if model_type is None:
                raise ValueError("`backbone_config` needs a `model_type` (e.g. 'llama').")
            backbone_config = AutoConfig.for_model(model_type, **backbone_config)
        self.backbone_config = backbone_config
        self.backbone_name_or_path = backbone_name_or_path
        self.tiers = [spec.to_dict() for spec in resolve_tiers(tiers)]
        self.feature_layer = int(feature_layer)
        self.pooling = pooling
        self.consistency_prompt = consistency_prompt
        self.max_query_tokens = int(max_query_tokens)
        self.head_hidden_size = int(head_hidden_size)
        self.head_num_layers = int(head_num_layers)
        self.head_dropout = float(head_dropout)
        self.freeze_backbone = bool(freeze_backbone)
        self.cluster_centroids = _as_matrix(cluster_centroids)
        self.feature_mean = _as_vector(feature_mean)
        self.feature_std = _as_vector(feature_std)
        self.cluster_thresholds = _as_matrix(cluster_thresholds)
        n_routable = len(self.tiers) - 1
        self.default_thresholds = (
            [0.5] * n_routable if default_thresholds is None else _as_vector(default_thresholds)
        )
        self.calibration = dict(calibration or {})
        self.threshold_profiles = {
            name: {
                "cluster_thresholds": _as_matrix(profile.get("cluster_thresholds")),
                "default_thresholds": _as_vector(profile.get("default_thresholds")),
                "calibration": dict(profile.get("calibration") or {}),
            }
            for name, profile in (threshold_profiles or {}).items()
        }
        self.checkpoint_kind = checkpoint_kind
        super().__init__(**kwargs)
        self.validate_routing_fields()

    # ------------------------------------------------------------------ derived views
    @property
    def tier_specs(self) -> list[TierSpec]:
        """The tiers as ``TierSpec`` objects, cheapest first."""
        return [TierSpec(**tier) for tier in self.tiers]

    @property
    def tier_names(self) -> list[str]:
        return [tier["name"] for tier in self.tiers]

    @property
    def num_tiers(self) -> int:
        return len(self.tiers)

    @property
    def feature_dim(self) -> int | None:
        """D, the backbone hidden size, or None when no backbone config is set."""
        if self.backbone_config is None:
            return None
        return int(self.backbone_config.hidden_size)

    @property
    def num_clusters(self) -> int:
        return 0 if self.cluster_centroids is None else len(self.cluster_centroids)

    # ------------------------------------------------------------------ validation
    def validate_routing_fields(self) -> None:
        """Check that every routing field has the shape and range it must have.

        Raises:
            ValueError: naming the field, its shape and the expected shape.
        """
        if self.pooling not in ("last", "mean"):
            raise ValueError(f"`pooling` must be 'last' or 'mean', got {self.pooling!r}.")
        if self.checkpoint_kind not in ("full", "head_only"):
            raise ValueError(f"`checkpoint_kind` must be 'full' or 'head_only', got {self.checkpoint_kind!r}.")
        if self.max_query_tokens < 1:
            raise ValueError(f"`max_query_tokens` must be >= 1, got {self.max_query_tokens}.")
        if not 0.0 <= self.head_dropout < 1.0:
            raise ValueError(f"`head_dropout` must be in [0, 1), got {self.head_dropout}.")
        if self.head_num_layers < 1 or self.head_hidden_size < 1:
            raise ValueError("`head_num_layers` and `head_hidden_size` must be >= 1.")
        if self.backbone_config is not None:
            n_layers = int(self.backbone_config.num_hidden_layers)
            if not -(n_layers + 1) <= self.feature_layer <= n_layers:
                raise ValueError(
                    f"`feature_layer`={self.feature_layer} is out of range for a backbone with "
                    f"{n_layers} layers (hidden_states has {n_layers + 1} entries)."
                )
        n_routable = self.num_tiers - 1
        dim = self.feature_dim
        _check_vector("default_thresholds", self.default_thresholds, n_routable, "T-1", probability=True)
        _check_vector("feature_mean", self.feature_mean, dim, "D")
        _check_vector("feature_std", self.feature_std, dim, "D")
        if self.feature_std is not None and any(x <= 0 for x in self.feature_std):
            raise ValueError("`feature_std` must be > 0 everywhere.")
        centroids = self.cluster_centroids
        if centroids is not None:
            _check_matrix("cluster_centroids", centroids, None, dim, "(K, D)")
            if self.feature_mean is None or self.feature_std is None:
                raise ValueError(
                    "`cluster_centroids` live in the standardised feature space: also set "
                    "`feature_mean` and `feature_std` (each of shape (D,))."
                )
        k = None if centroids is None else len(centroids)
        if self.cluster_thresholds is not None:
            if centroids is None:
                raise ValueError("`cluster_thresholds` is set but `cluster_centroids` is None: set both or neither.")
            _check_matrix("cluster_thresholds", self.cluster_thresholds, k, n_routable, "(K, T-1)", probability=True)
        for name, profile in self.threshold_profiles.items():
            if profile["cluster_thresholds"] is not None:
                if centroids is None:
                    raise ValueError(f"threshold profile {name!r} has cluster thresholds but the config has no centroids.")
                _check_matrix(
                    f"threshold_profiles[{name!r}].cluster_thresholds",
                    profile["cluster_thresholds"], k, n_routable, "(K, T-1)", probability=True,
                )
            _check_vector(
                f"threshold_profiles[{name!r}].default_thresholds",
                profile["default_thresholds"], n_routable, "T-1", probability=True,
            )


def _check_vector(field: str, values: list[float] | None, size: int | None, size_name: str, probability: bool = False) -> None:
    if values is None:
        return
    if size is not None and len(values) != size:
        raise ValueError(f"`{field}` has shape ({len(values)},), expected ({size_name},) = ({size},).")
    _check_values(field, values, probability)


def _check_matrix(
    field: str, rows: list[list[float]], n_rows: int | None, n_cols: int | None, shape_name: str,
    probability: bool = False,
) -> None:
    widths = {len(row) for row in rows}
    if not rows or len(widths) != 1:
        raise ValueError(f"`{field}` must be a non-empty {shape_name} matrix with rows of equal length.")
    width = widths.pop()
    if (n_rows is not None and len(rows) != n_rows) or (n_cols is not None and width != n_cols):
        raise ValueError(
            f"`{field}` has shape ({len(rows)}, {width}), expected {shape_name} = "
            f"({n_rows if n_rows is not None else 'K'}, {n_cols})."
        )
    for row in rows:
        _check_values(field, row, probability)


def _check_values(field: str, values: list[float], probability: bool) -> None:
    for value in values:
        if not math.isfinite(value):
            raise ValueError(f"`{field}` holds a non-finite value ({value}).")
        if probability and not 0.0 <= value <= 1.0:
            raise ValueError(f"`{field}` holds {value}: thresholds must lie in [0, 1].")


__all__ = ["ConsRouteConfig", "TierSpec", "resolve_tiers", "DEFAULT_CONSISTENCY_PROMPT", "DEFAULT_TIER_PROFILES"]
