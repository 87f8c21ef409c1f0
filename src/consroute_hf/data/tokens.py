"""Count output tokens of responses with a real tokenizer (default: SmolLM2's, from the offline GGUF)."""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

#: The tokenizer used when ``data.token_counter`` is not set.
DEFAULT_TOKEN_COUNTER = "smollm2-135m-instruct"


class TokenCounter:
    """Counts tokens of texts (no special tokens added).

    Args:
        tokenizer: a loaded tokenizer, ``"smollm2-135m-instruct"`` (offline GGUF), a Hub name or a
            local folder; None = :data:`DEFAULT_TOKEN_COUNTER`.
        batch_size: texts per tokenizer call.
    """

    def __init__(self, tokenizer: Any = None, batch_size: int = 512):
        if tokenizer is None or isinstance(tokenizer, str):
            self.name = tokenizer or DEFAULT_TOKEN_COUNTER
            self.tokenizer = load_counting_tokenizer(self.name)
        else:
            self.name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
            self.tokenizer = tokenizer
        self.batch_size = batch_size

    def count(self, texts: Sequence[str]) -> np.ndarray:
        """Token counts: ``(N,)`` int64."""
        counts = []
        for start in tqdm(range(0, len(texts), self.batch_size), desc="count tokens", unit="batch", disable=len(texts) <= self.batch_size):
            encoded = self.tokenizer(list(texts[start : start + self.batch_size]), add_special_tokens=False)["input_ids"]
            counts.extend(len(ids) for ids in encoded)
        return np.asarray(counts, dtype=np.int64)


def load_counting_tokenizer(name_or_path: str):
    """A tokenizer by name: ``"smollm2-135m-instruct"`` loads from the offline GGUF package."""
    from transformers import AutoTokenizer

    from ..offline_models import OFFLINE_DEVICE_LMS, offline_gguf_file

    if name_or_path in OFFLINE_DEVICE_LMS:
        gguf = offline_gguf_file(name_or_path)
        return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    return AutoTokenizer.from_pretrained(name_or_path)
