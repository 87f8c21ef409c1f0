"""Routing features for a whole dataset: batched device-LM prefills, cached on disk.

Features come from the router's own ``prepare_inputs`` + ``extract_features`` (the code that also
runs at serving time), so training features equal serving features. Queries are sorted by token
length and batched (little padding), run under ``torch.inference_mode`` through the backbone only,
and put back in their original order. Results are cached as safetensors keyed by everything that
changes them: backbone weights, tokenizer, consistency prompt, layer, pooling, query truncation,
dtype and the dataset.

Under ``accelerate launch`` / ``torchrun`` each process extracts a share of the batches; the
results are gathered back in dataset order on every process.

Shapes: N queries, D backbone hidden size.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from accelerate import PartialState
from accelerate.utils import gather_object
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from .modeling_consroute import ConsRouterForTierSelection, Query

logger = logging.getLogger(__name__)

#: Values sampled per weight tensor when fingerprinting a backbone.
_FINGERPRINT_SAMPLES = 4096


def backbone_fingerprint(router: ConsRouterForTierSelection) -> str:
    """A short hash of the backbone's config and weights (a strided sample of every tensor plus its sum).

    Two routers wrapping the same device LM get the same fingerprint; a changed weight changes it.
    """
    digest = hashlib.sha256()
    config = router.backbone.config.to_dict()
    config.pop("_name_or_path", None)
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    with torch.inference_mode():
        for name, tensor in router.backbone.state_dict().items():
            flat = tensor.detach().reshape(-1)
            step = max(1, flat.numel() // _FINGERPRINT_SAMPLES)
            sample = flat[::step][:_FINGERPRINT_SAMPLES].float().cpu().numpy()
            digest.update(f"{name}|{tuple(tensor.shape)}|{tensor.dtype}|{flat.float().sum().item():.6e}".encode())
            digest.update(sample.tobytes())
    return digest.hexdigest()[:24]


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A short hash of a tokenizer's vocabulary, chat template and special tokens."""
    digest = hashlib.sha256()
    vocab = tokenizer.get_vocab()
    digest.update(json.dumps(sorted(vocab.items()), ensure_ascii=False).encode())
    digest.update(str(getattr(tokenizer, "chat_template", None)).encode())
    digest.update(json.dumps(tokenizer.all_special_tokens).encode())
    return digest.hexdigest()[:24]


def queries_fingerprint(queries: Sequence[Query]) -> str:
    """A short hash of the query texts (order matters)."""
    digest = hashlib.sha256()
    for query in queries:
        digest.update(json.dumps(query, ensure_ascii=False, sort_keys=True).encode() + b"\x00")
    return digest.hexdigest()[:24]


def feature_cache_key(
    router: ConsRouterForTierSelection, tokenizer: Any, queries: Sequence[Query], dataset_fingerprint: str | None
) -> dict[str, Any]:
    """Everything that determines the features, as a dict (hashed into the cache file name)."""
    config = router.config
    return {
        "backbone": backbone_fingerprint(router),
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "prompt": config.consistency_prompt,
        "layer": config.feature_layer,
        "pooling": config.pooling,
        "max_query_tokens": config.max_query_tokens,
        "dtype": str(next(router.backbone.parameters()).dtype),
        "dataset": dataset_fingerprint or queries_fingerprint(queries),
        "n": len(queries),
    }


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Index batches of ``batch_size`` over rows sorted by length (shortest first, stable)."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def extract_features(
    router: ConsRouterForTierSelection,
    queries: Sequence[Query],
    tokenizer: Any,
    batch_size: int = 16,
    cache_dir: str | os.PathLike | None = None,
    dataset_fingerprint: str | None = None,
    show_progress: bool = True,
) -> torch.Tensor:
    """Routing features of every query, in the order given.

    Args:
        router: the router whose backbone, prompt, layer and pooling define the features.
        queries: N strings or conversations.
        tokenizer: the device LM's tokenizer.
        batch_size: queries per forward pass.
        cache_dir: folder of the on-disk cache (None: no cache).
        dataset_fingerprint: identifies the queries (e.g. ``Dataset._fingerprint``); when None the
            query texts are hashed.
        show_progress: show a tqdm bar (main process only).

    Returns:
        (N, D) float32 CPU tensor; row i belongs to ``queries[i]``.
    """
    queries = list(queries)
    if not queries:
        raise ValueError("`queries` is empty: pass at least one query.")
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be >= 1, got {batch_size}.")
    state = PartialState()
    if state.num_processes > 1 and state.device.type != "cpu":
        router.to(state.device)
    cache_file = None
    if cache_dir is not None:
        key = feature_cache_key(router, tokenizer, queries, dataset_fingerprint)
        name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
        cache_file = Path(cache_dir) / f"features-{name}.safetensors"
        if cache_file.is_file():
            features = load_file(str(cache_file))["features"]
            if features.shape[0] == len(queries):
                logger.info("Loaded %d cached features from %s.", len(queries), cache_file)
                return features
            logger.warning("Ignoring cache file %s: it holds %d rows, expected %d.", cache_file, features.shape[0], len(queries))

    lengths = [sum(len(ids) for ids in router.encode_query(query, tokenizer)) for query in queries]
    batches = length_sorted_batches(lengths, batch_size)
    mine = batches[state.process_index :: state.num_processes]
    rows: list[np.ndarray] = []
    values: list[np.ndarray] = []
    was_training = router.training
    router.eval()
    try:
        with torch.inference_mode():
            for indices in tqdm(
                mine, desc="Extracting features", unit="batch", disable=not (show_progress and state.is_main_process)
            ):
                inputs = router.prepare_inputs([queries[i] for i in indices], tokenizer)
                rows.append(indices)
                values.append(router.extract_features(**inputs).float().cpu().numpy())
    finally:
        router.train(was_training)

    pieces = list(zip(rows, values))
    if state.num_processes > 1:
        pieces = gather_object(pieces)
    dim = router.config.feature_dim
    features = torch.empty((len(queries), dim), dtype=torch.float32)
    filled = np.zeros(len(queries), dtype=bool)
    for indices, block in pieces:
        features[torch.from_numpy(indices)] = torch.from_numpy(block)
        filled[indices] = True
    if not filled.all():
        raise RuntimeError(f"Feature extraction missed rows {np.flatnonzero(~filled)[:10].tolist()}; this is a bug.")

    if cache_file is not None:
        if state.is_main_process:
            _save_atomic(features, cache_file, key)
            logger.info("Cached %d features at %s.", len(queries), cache_file)
        state.wait_for_everyone()
    return features


def _save_atomic(features: torch.Tensor, path: Path, key: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    metadata = {k: str(v) for k, v in key.items()}
    save_file({"features": features.contiguous()}, str(temporary), metadata=metadata)
    os.replace(temporary, path)


__all__ = [
    "extract_features", "backbone_fingerprint", "tokenizer_fingerprint", "queries_fingerprint",
    "feature_cache_key", "length_sorted_batches",
]
