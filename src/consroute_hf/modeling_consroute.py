"""ConsRoute router: an MLP head on the device LM's own prefill hidden states.

This module is copied next to saved checkpoints as Hub remote code, so it imports nothing from
``consroute_hf``: only ``configuration_consroute`` (relative), ``transformers``, ``torch``,
``numpy`` and ``safetensors``.

Shapes: B queries in a batch, S tokens, D backbone hidden size, T tiers (T-1 routable tiers:
every tier but the reference one), K clusters.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedModel
from transformers.utils import ModelOutput, cached_file

from .configuration_consroute import ConsRouteConfig

logger = logging.getLogger(__name__)

WEIGHTS_NAME = "model.safetensors"
#: A conversation: a list of ``{"role": ..., "content": ...}`` messages.
Conversation = list[dict[str, str]]
Query = str | Conversation


class CheckpointError(OSError):
    """A checkpoint folder is missing a file, or a file in it is corrupt."""


@dataclass
class TierSelectionOutput(ModelOutput):
    """Output of [`ConsRouterForTierSelection.forward`].

    Attributes:
        loss: () BCE-with-logits against the soft targets, when ``labels`` were given.
        logits: (B, T-1) predicted consistency logits of each routable tier with the reference tier.
        scores: (B, T-1) ``sigmoid(logits)``, in [0, 1].
        features: (B, D) the routing features the head read.
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    scores: torch.Tensor | None = None
    features: torch.Tensor | None = None


@dataclass
class RoutingDecision:
    """Where one query goes, and why.

    Attributes:
        tier: Name of the chosen tier.
        tier_index: Its position in ``config.tiers`` (0 = cheapest).
        scores: Predicted consistency per routable tier, keyed by tier name.
        cluster: Index of the query's nearest centroid, or None without clusters.
        thresholds: Thresholds applied per routable tier, keyed by tier name.
    """

    tier: str
    tier_index: int
    scores: dict[str, float]
    cluster: int | None
    thresholds: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tier": self.tier, "tier_index": self.tier_index, "scores": dict(self.scores),
            "cluster": self.cluster, "thresholds": dict(self.thresholds),
        }


def select_tiers(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The ConsRoute routing rule, vectorised: the cheapest tier whose score reaches its threshold.

    Args:
        scores: (N, T-1) predicted consistency of each routable tier.
        thresholds: (N, T-1) or (T-1,) thresholds; a score equal to its threshold qualifies.

    Returns:
        (N,) int tier indices in [0, T-1]; T-1 (the reference tier) where no tier qualifies.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"`scores` must be (N, T-1), got shape {scores.shape}.")
    passes = scores >= np.broadcast_to(np.asarray(thresholds, dtype=np.float64), scores.shape)
    return np.where(passes.any(axis=1), passes.argmax(axis=1), scores.shape[1])


def assign_clusters(features: np.ndarray, centroids: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Nearest centroid of each feature row in the standardised space.

    Args:
        features: (N, D) raw features. centroids: (K, D). mean, std: (D,).

    Returns:
        (N,) int cluster indices.
    """
    standardised = (np.asarray(features, dtype=np.float64) - mean) / std
    centroids = np.asarray(centroids, dtype=np.float64)
    distances = (
        (standardised**2).sum(1, keepdims=True) - 2.0 * standardised @ centroids.T + (centroids**2).sum(1)[None, :]
    )
    return distances.argmin(axis=1)


class TierConsistencyHead(nn.Module):
    """MLP mapping routing features (B, D) to consistency logits (B, T-1).

    LayerNorm first (LM hidden states carry a few very large dimensions), then
    ``head_num_layers - 1`` hidden blocks of Linear -> GELU -> Dropout, then a Linear output.
    """

    def __init__(self, config: ConsRouteConfig) -> None:
        super().__init__()
        dim = config.feature_dim
        if dim is None:
            raise ValueError("ConsRouteConfig needs a `backbone_config` (its hidden_size is the feature size D).")
        layers: list[nn.Module] = [nn.LayerNorm(dim)]
        width = dim
        for _ in range(config.head_num_layers - 1):
            layers += [nn.Linear(width, config.head_hidden_size), nn.GELU(), nn.Dropout(config.head_dropout)]
            width = config.head_hidden_size
        layers.append(nn.Linear(width, config.num_tiers - 1))
        self.mlp = nn.Sequential(*layers)

    def reset_parameters(self) -> None:
        for module in self.mlp:
            if isinstance(module, (nn.Linear, nn.LayerNorm)):
                module.reset_parameters()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """features: (B, D) -> logits: (B, T-1)."""
        return self.mlp(features)


class ConsRoutePreTrainedModel(PreTrainedModel):
    config_class = ConsRouteConfig
    base_model_prefix = "consroute"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True

    def _init_weights(self, module: nn.Module) -> None:
        # Only the head is ours to initialise: a wrapped device LM keeps its (pretrained) weights,
        # and a backbone built from a config was initialised by its own constructor.
        if isinstance(module, TierConsistencyHead):
            module.reset_parameters()


class ConsRouterForTierSelection(ConsRoutePreTrainedModel):
    """A ConsRoute router: device-LM backbone (no LM head) + [`TierConsistencyHead`].

    ``forward`` predicts, for each routable tier, how consistent its answer would be with the
    reference tier's answer; ``route`` turns those scores into tier decisions with the
    per-cluster thresholds stored in the config.
    """

    accepts_loss_kwargs = False

    def __init__(self, config: ConsRouteConfig, backbone: nn.Module | None = None) -> None:
        super().__init__(config)
        if backbone is None:
            if config.backbone_config is None:
                raise ValueError("ConsRouteConfig needs a `backbone_config` to build a backbone.")
            backbone = AutoModel.from_config(config.backbone_config)
        self.backbone = _base_model_of(backbone)
        hidden = getattr(self.backbone.config, "hidden_size", None)
        if hidden is not None and config.feature_dim is not None and hidden != config.feature_dim:
            raise ValueError(
                f"The backbone's hidden_size is {hidden} but the config's backbone_config says "
                f"{config.feature_dim}; routing features must match the head."
            )
        self.head = TierConsistencyHead(config)
        self.tokenizer = None  # optionally attached by loaders; `route` falls back to it
        self.post_init()
        if config.freeze_backbone:
            self.freeze_backbone()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_backbone(
        cls,
        model_or_name_or_path: nn.Module | str | os.PathLike,
        tiers: Sequence[Any] = ("device", "edge", "cloud"),
        **overrides: Any,
    ) -> "ConsRouterForTierSelection":
        """Wrap a device causal LM (an object, shared without copying; or a name/path, loaded).

        Args:
            model_or_name_or_path: a loaded causal LM / base model, or where to load one from.
            tiers: tier names, dicts or ``TierSpec`` objects, cheapest first.
            **overrides: any other ``ConsRouteConfig`` field.
        """
        if isinstance(model_or_name_or_path, (str, os.PathLike)):
            name = str(model_or_name_or_path)
            backbone = AutoModel.from_pretrained(name)
            overrides.setdefault("backbone_name_or_path", name)
        else:
            backbone = model_or_name_or_path
            overrides.setdefault("backbone_name_or_path", getattr(backbone.config, "_name_or_path", None) or None)
        base = _base_model_of(backbone)
        config = ConsRouteConfig(backbone_config=base.config.to_dict(), tiers=tiers, **overrides)
        model = cls(config, backbone=base)
        return model.to(next(base.parameters()).device)

    def freeze_backbone(self) -> None:
        """Stop gradients into the backbone (``from_pretrained`` re-applies this)."""
        for parameter in self.backbone.parameters():
            parameter.requires_grad_(False)

    # ------------------------------------------------------------------ features
    def encode_query(self, query: Query, tokenizer: Any) -> tuple[list[int], list[int]]:
        """Token ids the device would prefill for ``query``, and the consistency-prompt ids after it.

        A string query is wrapped as one user message. A conversation is rendered whole with the
        tokenizer's chat template (``add_generation_prompt=True``). Truncation rule, applied when
        the rendered query exceeds ``config.max_query_tokens``: drop the oldest non-system turns
        (never the last one) until it fits; if the last turn alone is still too long, keep the
        first ``max_query_tokens`` tokens of its content. Either way a warning is logged.

        Returns:
            (prefix_ids, prompt_ids): the device's prefill tokens and the prompt's tokens.
        """
        messages = _validate_query(query)
        limit = self.config.max_query_tokens
        prefix = _render(messages, tokenizer)
        if len(prefix) > limit:
            logger.warning(
                "Query of %d tokens exceeds max_query_tokens=%d; truncating (oldest turns first, "
                "then the end of the last message).", len(prefix), limit,
            )
            while len(prefix) > limit and sum(m["role"] != "system" for m in messages) > 1:
                first_turn = next(i for i, m in enumerate(messages) if m["role"] != "system")
                messages = messages[:first_turn] + messages[first_turn + 1 :]
                prefix = _render(messages, tokenizer)
            if len(prefix) > limit:
                content_ids = tokenizer(messages[-1]["content"], add_special_tokens=False)["input_ids"]
                overflow = len(prefix) - limit
                keep = max(1, len(content_ids) - overflow)
                messages = messages[:-1] + [{**messages[-1], "content": tokenizer.decode(content_ids[:keep])}]
                prefix = _render(messages, tokenizer)
        prompt = tokenizer(self.config.consistency_prompt, add_special_tokens=False)["input_ids"]
        return prefix, prompt

    def prepare_inputs(self, queries: Query | Sequence[Query], tokenizer: Any) -> dict[str, torch.Tensor]:
        """Template each query as the device would, append the consistency prompt, tokenise.

        Batches are right-padded (so positions match a one-query-at-a-time prefill).

        Returns:
            ``{"input_ids": (B, S) long, "attention_mask": (B, S) long}`` on the model's device.
        """
        batch = _as_query_list(queries)
        sequences = [sum(self.encode_query(query, tokenizer), []) for query in batch]
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
        width = max(len(ids) for ids in sequences)
        input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, ids in enumerate(sequences):
            input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, : len(ids)] = 1
        return {"input_ids": input_ids.to(self.device), "attention_mask": attention_mask.to(self.device)}

    def extract_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Routing features from the backbone's ``feature_layer`` with the configured pooling.

        Args:
            input_ids: (B, S). attention_mask: (B, S), 1 on real tokens; left or right padding.

        Returns:
            (B, D) features: the last real token's state (``"last"``) or the masked mean (``"mean"``).
        """
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        layer = self.config.feature_layer
        outputs = self.backbone(
            input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=layer != -1, use_cache=False,
        )
        hidden = outputs.last_hidden_state if layer == -1 else outputs.hidden_states[layer]
        return pool_hidden_states(hidden, attention_mask, self.config.pooling)

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        features: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> TierSelectionOutput:
        """Predict consistency scores.

        Args:
            input_ids, attention_mask: (B, S) token batch (from ``prepare_inputs``), or
            features: (B, D) precomputed features (skips the backbone: the cached-feature fast path).
            labels: (B, T-1) soft targets in [0, 1].
        """
        if features is None:
            if input_ids is None:
                raise ValueError("Pass either `input_ids` (with `attention_mask`) or precomputed `features`.")
            features = self.extract_features(input_ids, attention_mask)
        _check_features(features, self.config.feature_dim)
        head_dtype = self.head.mlp[-1].weight.dtype
        logits = self.head(features.to(head_dtype))
        loss = None
        if labels is not None:
            if labels.shape != logits.shape:
                raise ValueError(f"`labels` must have shape {tuple(logits.shape)} (B, T-1), got {tuple(labels.shape)}.")
            loss = nn.functional.binary_cross_entropy_with_logits(logits.float(), labels.float())
        return TierSelectionOutput(loss=loss, logits=logits, scores=torch.sigmoid(logits), features=features)

    # ------------------------------------------------------------------ routing
    @torch.inference_mode()
    def predict_scores(self, features: torch.Tensor | np.ndarray) -> np.ndarray:
        """(N, D) features -> (N, T-1) predicted consistency scores (eval mode, no gradients)."""
        was_training = self.training
        self.eval()
        try:
            tensor = torch.as_tensor(np.asarray(features) if not torch.is_tensor(features) else features)
            scores = self(features=tensor.to(self.device)).scores
        finally:
            self.train(was_training)
        return scores.float().cpu().numpy()

    def clusters_of(self, features: np.ndarray) -> np.ndarray | None:
        """(N, D) features -> (N,) nearest-centroid indices, or None when the router has no clusters."""
        config = self.config
        if config.cluster_centroids is None:
            return None
        return assign_clusters(
            features, np.asarray(config.cluster_centroids), np.asarray(config.feature_mean), np.asarray(config.feature_std)
        )

    def thresholds_for(self, clusters: np.ndarray | None, n: int, profile: str | None = None) -> np.ndarray:
        """(N, T-1) thresholds: each query's cluster row when calibrated, else the default thresholds.

        Args:
            clusters: (N,) cluster indices or None. n: N. profile: a name in
                ``config.threshold_profiles`` to use instead of the main calibration.
        """
        cluster_thresholds, default = self.config.cluster_thresholds, self.config.default_thresholds
        if profile is not None:
            if profile not in self.config.threshold_profiles:
                raise ValueError(
                    f"Unknown threshold profile {profile!r}; this router has {sorted(self.config.threshold_profiles)}."
                )
            chosen = self.config.threshold_profiles[profile]
            cluster_thresholds = chosen["cluster_thresholds"]
            default = chosen["default_thresholds"] or default
        if cluster_thresholds is not None and clusters is not None:
            return np.asarray(cluster_thresholds, dtype=np.float64)[clusters]
        return np.tile(np.asarray(default, dtype=np.float64), (n, 1))

    def route_features(
        self, features: torch.Tensor | np.ndarray, profile: str | None = None
    ) -> list[RoutingDecision]:
        """Route precomputed (N, D) features; see [`select_tiers`] for the rule."""
        features_np = torch.as_tensor(features).float().cpu().numpy() if torch.is_tensor(features) else np.asarray(features, dtype=np.float32)
        _check_features(torch.from_numpy(np.ascontiguousarray(features_np)), self.config.feature_dim)
        scores = self.predict_scores(features_np)
        clusters = self.clusters_of(features_np)
        thresholds = self.thresholds_for(clusters, len(features_np), profile)
        chosen = select_tiers(scores, thresholds)
        names = self.config.tier_names
        routable = names[:-1]
        return [
            RoutingDecision(
                tier=names[int(index)],
                tier_index=int(index),
                scores={name: float(value) for name, value in zip(routable, scores[row])},
                cluster=None if clusters is None else int(clusters[row]),
                thresholds={name: float(value) for name, value in zip(routable, thresholds[row])},
            )
            for row, index in enumerate(chosen)
        ]

    @torch.inference_mode()
    def featurize(self, queries: Query | Sequence[Query], tokenizer: Any = None, batch_size: int = 16) -> torch.Tensor:
        """Queries -> (N, D) routing features, in batches of ``batch_size``."""
        tokenizer = self._tokenizer_or_error(tokenizer)
        batch = _as_query_list(queries)
        chunks = []
        for start in range(0, len(batch), batch_size):
            inputs = self.prepare_inputs(batch[start : start + batch_size], tokenizer)
            chunks.append(self.extract_features(**inputs).float())
        return torch.cat(chunks)

    def route(
        self, queries: Query | Sequence[Query], tokenizer: Any = None, batch_size: int = 16, profile: str | None = None
    ) -> list[RoutingDecision]:
        """Route raw queries (strings or conversations): one [`RoutingDecision`] per query."""
        return self.route_features(self.featurize(queries, tokenizer, batch_size), profile=profile)

    def calibrate(self, features: Any, outcomes: Any, scores: Any = None, **kwargs: Any) -> Any:
        """Cluster (N, D) calibration features and tune per-cluster thresholds into this config.

        Thin wrapper over ``consroute_hf.calibration.calibrate_router`` (needs the package, with
        scikit-learn and optuna; not needed to load or route with a calibrated router).
        """
        try:  # inside `try`, so remote-code checkpoints still load where consroute_hf is not installed
            from consroute_hf.calibration import calibrate_router
        except ImportError as error:
            raise ImportError("Threshold calibration needs the consroute_hf package: pip install consroute_hf.") from error

        return calibrate_router(self, features, scores, outcomes, **kwargs)

    def update_thresholds(self, features: Any, outcomes: Any, **kwargs: Any) -> Any:
        """Re-tune thresholds from logged outcomes, warm-started from the current ones (online adaptation)."""
        try:  # inside `try`, so remote-code checkpoints still load where consroute_hf is not installed
            from consroute_hf.calibration import update_router_thresholds
        except ImportError as error:
            raise ImportError("Threshold calibration needs the consroute_hf package: pip install consroute_hf.") from error

        return update_router_thresholds(self, features, outcomes, **kwargs)

    def _tokenizer_or_error(self, tokenizer: Any) -> Any:
        tokenizer = tokenizer if tokenizer is not None else self.tokenizer
        if tokenizer is None:
            raise ValueError(
                "Routing raw queries needs the device LM's tokenizer: pass `tokenizer=` or set `router.tokenizer`."
            )
        return tokenizer

    # ------------------------------------------------------------------ checkpoints
    def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, head_only: bool = False, **kwargs: Any) -> None:
        """Save atomically (into a temporary folder, then renamed over ``save_directory``).

        Args:
            head_only: write only the head's weights and the config (with ``backbone_name_or_path``);
                load it back with ``from_pretrained(dir, backbone=...)`` or by the backbone's name.
        """
        target = Path(save_directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
        original_kind = self.config.checkpoint_kind
        try:
            if head_only:
                if not self.config.backbone_name_or_path:
                    raise ValueError("A head-only checkpoint needs `config.backbone_name_or_path` to name its backbone.")
                self.config.checkpoint_kind = "head_only"
                kwargs["state_dict"] = {f"head.{k}": v for k, v in self.head.state_dict().items()}
            # The tier-selection pipeline travels with the checkpoint: `custom_pipelines` names it and
            # the relative import makes `save_pretrained` copy pipeline_consroute.py as remote code.
            from .pipeline_consroute import custom_pipelines_entry

            self.config.custom_pipelines = custom_pipelines_entry()
            super().save_pretrained(staging, *args, **kwargs)
            if self.tokenizer is not None:  # the device tokenizer travels too (routing raw text needs it)
                self.tokenizer.save_pretrained(staging)
            _replace_directory(staging, target)
        finally:
            self.config.checkpoint_kind = original_kind
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike, *model_args: Any, backbone: Any = None, **kwargs: Any
    ) -> "ConsRouterForTierSelection":
        """Load a full or head-only checkpoint (local folder or Hub id); safetensors only.

        Args:
            backbone: for a head-only checkpoint, the device LM (an object, or a name/path); when
                omitted, ``config.backbone_name_or_path`` is loaded. Given with a full checkpoint, the
                head is loaded onto this backbone instead of the stored one.
        """
        path = str(pretrained_model_name_or_path)
        hub_kwargs = {k: kwargs[k] for k in _HUB_KWARGS if k in kwargs}
        try:
            config = kwargs.pop("config", None)
            if not isinstance(config, ConsRouteConfig):
                config = ConsRouteConfig.from_pretrained(path, **hub_kwargs)
            if backbone is None and config.checkpoint_kind == "head_only":
                backbone = config.backbone_name_or_path
                if not backbone:
                    raise CheckpointError(f"Head-only checkpoint {path} names no backbone: pass `backbone=`.")
            if backbone is not None:
                if isinstance(backbone, (str, os.PathLike)):
                    # the dtype the features were computed in, as the checkpoint recorded it
                    dtype = kwargs.get("dtype") or getattr(config.backbone_config, "dtype", None) or "auto"
                    backbone = _load_backbone(str(backbone), dtype)
                model = cls(config, backbone=backbone)
                weights = cached_file(path, WEIGHTS_NAME, **hub_kwargs)
                state = load_file(weights)
                head_state = {k[len("head.") :]: v for k, v in state.items() if k.startswith("head.")}
                model.head.load_state_dict(head_state, strict=True)
                model.head.to(next(model.backbone.parameters()).device)
                model.eval()  # as transformers' from_pretrained does
            else:
                kwargs.setdefault("use_safetensors", True)
                model = super().from_pretrained(path, *model_args, config=config, **kwargs)
                model.head.float()  # a tiny MLP saved in fp32: scores keep full precision on a bf16 backbone
        except SafetensorError as error:
            raise CheckpointError(
                f"The weights in {path} are corrupt ({error}). Re-save the router with save_pretrained or re-download it."
            ) from error
        except (OSError, EnvironmentError) as error:
            if isinstance(error, CheckpointError):
                raise
            raise CheckpointError(
                f"Could not load a ConsRoute checkpoint from {path}: {error}. A checkpoint folder holds "
                f"config.json and {WEIGHTS_NAME}; re-save it with save_pretrained."
            ) from error
        except RuntimeError as error:  # state-dict mismatch
            raise CheckpointError(f"The weights in {path} do not fit this config: {error}") from error
        if model.config.freeze_backbone:
            model.freeze_backbone()
        model.tokenizer = _saved_tokenizer(path, model.config.backbone_config, hub_kwargs)
        return model

    def push_to_hub(
        self, repo_id: str, *, head_only: bool = False, metrics: dict | None = None, plots: Sequence[Any] = (), **kwargs: Any
    ) -> Any:
        """Push weights, config, code, tokenizer and a results model card to the Hub.

        Delegates to ``consroute_hf.hub.push_router`` (needs the consroute_hf package, which renders
        the card); see there for ``metrics``, ``plots`` and the other keyword arguments.
        """
        try:
            from consroute_hf.hub import push_router
        except ImportError as error:
            raise ImportError(
                "router.push_to_hub builds its model card with the consroute_hf package; install it "
                "(pip install consroute_hf) or use save_pretrained + huggingface_hub.upload_folder."
            ) from error
        return push_router(self, repo_id, head_only=head_only, metrics=metrics, plots=plots, **kwargs)


_HUB_KWARGS = ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder")


def _saved_tokenizer(path: str, backbone_config: Any, hub_kwargs: dict[str, Any]) -> Any:
    """The device tokenizer saved inside a checkpoint (``tokenizer_config.json``), or None.

    Given the backbone's config, ``AutoTokenizer`` does not re-read the router's config (whose
    ``auto_map`` would otherwise ask about remote code a second time).
    """
    found = cached_file(
        path, "tokenizer_config.json", _raise_exceptions_for_missing_entries=False,
        _raise_exceptions_for_connection_errors=False, **hub_kwargs,
    )
    return None if found is None else AutoTokenizer.from_pretrained(path, config=backbone_config, **hub_kwargs)


def _load_backbone(spec: str, dtype: Any) -> nn.Module:
    """The base model of a device LM given by name, folder, Hub id or GGUF file (no LM head, no
    tokenizer: the checkpoint carries its own). With ``consroute_hf`` installed, offline names and
    GGUF files resolve to their converted folder; otherwise ``spec`` goes to ``AutoModel`` as is."""
    try:  # inside `try`, so remote-code checkpoints still load where consroute_hf is not installed
        from consroute_hf.device_lm import loadable_path
    except ImportError:
        return AutoModel.from_pretrained(spec, dtype=dtype)
    return AutoModel.from_pretrained(loadable_path(spec), dtype=dtype)


def pool_hidden_states(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """(B, S, D) hidden states + (B, S) mask -> (B, D): the last real token, or the masked mean.

    Works for left and right padding: "last" takes the rightmost position whose mask is 1.
    """
    mask = attention_mask.to(hidden.device)
    if pooling == "mean":
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
    width = mask.shape[1]
    last = width - 1 - mask.flip(1).long().argmax(1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def _base_model_of(model: nn.Module) -> nn.Module:
    """The decoder of a causal LM (no LM head); a base model is returned as is."""
    if hasattr(model, "lm_head") and hasattr(model, "base_model") and model.base_model is not model:
        return model.base_model
    return model


def _check_features(features: torch.Tensor, dim: int | None) -> None:
    if features.ndim != 2 or (dim is not None and features.shape[1] != dim):
        raise ValueError(f"`features` must have shape (B, D) with D={dim}, got {tuple(features.shape)}.")
    if features.shape[0] == 0:
        raise ValueError("`features` is an empty batch: route at least one query.")
    if not torch.isfinite(features).all():
        bad = (~torch.isfinite(features)).any(1).nonzero().flatten().tolist()
        raise ValueError(f"`features` holds NaN or infinite values (rows {bad[:10]}); check the backbone's dtype and inputs.")


def _as_query_list(queries: Query | Sequence[Query]) -> list[Query]:
    if isinstance(queries, str) or (isinstance(queries, list) and queries and isinstance(queries[0], dict)):
        return [queries]  # one string or one conversation
    if not isinstance(queries, Sequence):
        raise TypeError(f"Queries must be a string, a conversation or a list of them, got {type(queries).__name__}.")
    if len(queries) == 0:
        raise ValueError("Empty batch: pass at least one query.")
    return list(queries)


def _validate_query(query: Query) -> Conversation:
    """Check one query and return it as a list of messages."""
    if isinstance(query, str):
        if not query.strip():
            raise ValueError("Empty query: a query must contain non-whitespace text.")
        return [{"role": "user", "content": query}]
    if isinstance(query, list) and query and all(isinstance(m, dict) for m in query):
        for index, message in enumerate(query):
            if not isinstance(message.get("role"), str) or not isinstance(message.get("content"), str):
                raise ValueError(f"Message {index} needs string `role` and `content`, got {message!r}.")
        if not query[-1]["content"].strip():
            raise ValueError("Empty query: the conversation's last message has no content.")
        return [{"role": m["role"], "content": m["content"]} for m in query]
    raise TypeError(f"A query must be a non-empty string or a list of messages, got {type(query).__name__}: {query!r:.80}.")


def _render(messages: Conversation, tokenizer: Any) -> list[int]:
    """The device's prefill token ids for a conversation (chat template when the tokenizer has one)."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return tokenizer(text, add_special_tokens=False)["input_ids"]
    text = "\n".join(m["content"] for m in messages)
    return tokenizer(text, add_special_tokens=True)["input_ids"]


def _replace_directory(staging: Path, target: Path) -> None:
    """Move ``staging`` to ``target``; an existing ``target`` is replaced only once staging is complete."""
    if target.exists():
        backup = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(target, backup)
        os.replace(staging, target)
        shutil.rmtree(backup, ignore_errors=True)
    else:
        os.replace(staging, target)


__all__ = [
    "ConsRouterForTierSelection", "ConsRoutePreTrainedModel", "TierConsistencyHead", "TierSelectionOutput",
    "RoutingDecision", "CheckpointError", "select_tiers", "assign_clusters", "pool_hidden_states",
]
