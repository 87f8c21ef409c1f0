"""Sentence embeddings (MiniLM by default) for consistency scoring and embedding-based baselines."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .offline_models import OFFLINE_EMBEDDERS, offline_embedder_path

logger = logging.getLogger(__name__)


def resolve_embedder(name_or_path: str | None) -> str:
    """A named offline embedder (or None = all-MiniLM-L6-v2) -> its folder; anything else is returned as is."""
    if name_or_path is None or name_or_path in OFFLINE_EMBEDDERS:
        return str(offline_embedder_path(name_or_path or "all-minilm-l6-v2"))
    return name_or_path


def load_embedder(name_or_path: str | None = None, device: str | None = None):
    """A ``SentenceTransformer`` (offline MiniLM by default, or any name/path)."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(resolve_embedder(name_or_path), device=device or "cpu")


def embed_texts(
    texts: Sequence[str],
    model=None,
    batch_size: int = 64,
    cache_dir: str | os.PathLike | None = None,
    show_progress_bar: bool = True,
) -> np.ndarray:
    """Unit-normalised embeddings of ``texts``: (N, E) float32.

    Args:
        model: a ``SentenceTransformer``, a name/path, or None for the offline MiniLM.
        cache_dir: when given, results are cached as ``.npy`` keyed by model and texts.
    """
    if isinstance(texts, str) or any(not isinstance(t, str) for t in texts):
        raise TypeError("`texts` must be a list of strings.")
    if model is None or isinstance(model, str):
        model = load_embedder(model)
    cache_file = None
    if cache_dir is not None:
        digest = hashlib.sha256()
        digest.update(str(getattr(model.tokenizer, "name_or_path", type(model).__name__)).encode())
        for text in texts:
            digest.update(text.encode("utf-8", "replace") + b"\x00")
        cache_file = Path(cache_dir) / f"embeddings-{digest.hexdigest()[:20]}.npy"
        if cache_file.is_file():
            return np.load(cache_file)
    vectors = model.encode(
        list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
        show_progress_bar=show_progress_bar,
    ).astype(np.float32)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache_file.with_suffix(f".tmp{os.getpid()}.npy")
        np.save(temporary, vectors)
        os.replace(temporary, cache_file)
    return vectors
