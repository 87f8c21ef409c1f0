"""A per-query feature store, so that datasets sharing queries share their device-LM features.

Both ZeroEval tier families ask the same 2,840 questions (the Llama 3.1 dataset keeps 2,825 of
them); features depend only on the query and the router's feature settings, so a query extracted
for one family is never extracted again for the other.
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
from safetensors.torch import load_file, save_file

from ..features import extract_features, feature_cache_key

logger = logging.getLogger(__name__)


def _query_digest(query: Any) -> bytes:
    return hashlib.sha256(json.dumps(query, ensure_ascii=False, sort_keys=True).encode()).digest()


def store_path(router: Any, tokenizer: Any, cache_dir: str | os.PathLike) -> Path:
    """The store file of the router's feature settings (backbone, tokenizer, prompt, layer, pooling...)."""
    settings = feature_cache_key(router, tokenizer, [], None)
    settings.pop("dataset"), settings.pop("n")
    name = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:24]
    return Path(cache_dir) / f"query-store-{name}.safetensors"


def features_by_query(
    router: Any, queries: Sequence[Any], tokenizer: Any, batch_size: int, cache_dir: str | os.PathLike,
    dataset_fingerprint: str | None = None,
) -> np.ndarray:
    """(N, D) features of ``queries``: rows already in the store are read, the rest extracted.

    Extraction goes through ``consroute_hf.features.extract_features`` (its own whole-dataset cache
    included); the store then keeps every row under the SHA-256 of its query.
    """
    path = store_path(router, tokenizer, cache_dir)
    digests = [_query_digest(query) for query in queries]
    stored: dict[bytes, np.ndarray] = {}
    if path.is_file():
        tensors = load_file(str(path))
        stored = {bytes(row): vector for row, vector in zip(tensors["digests"].numpy(), tensors["features"].numpy())}
    missing = sorted({i for i, digest in enumerate(digests) if digest not in stored})
    if missing:
        subset = [queries[i] for i in missing]
        extracted = extract_features(
            router, subset, tokenizer, batch_size=batch_size, cache_dir=cache_dir,
            dataset_fingerprint=dataset_fingerprint if len(missing) == len(queries) else None,
        ).numpy()
        stored.update({digests[i]: vector for i, vector in zip(missing, extracted)})
        _save(path, stored)
    else:
        logger.info("All %d query features found in %s.", len(queries), path)
    return np.stack([stored[digest] for digest in digests]).astype(np.float32)


def _save(path: Path, stored: dict[bytes, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = list(stored)
    tensors = {
        "digests": torch.from_numpy(np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 32).copy()),
        "features": torch.from_numpy(np.stack([stored[key] for key in keys]).astype(np.float32)),
    }
    temporary = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    save_file(tensors, str(temporary))
    os.replace(temporary, path)
