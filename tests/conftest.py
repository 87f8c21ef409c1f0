"""Shared fixtures: tiny random models built from configs, an in-memory tokenizer, no network."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))

from tiny_models import tiny_causal_lm, tiny_tokenizer  # noqa: E402

from consroute_hf import ConsRouterForTierSelection  # noqa: E402


@pytest.fixture(scope="session")
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture()
def causal_lm():
    return tiny_causal_lm()


@pytest.fixture()
def router(causal_lm, tokenizer, tmp_path):
    """A tiny router (eval mode) wrapping ``causal_lm``, which is also saved (with the tokenizer)
    at ``tmp_path/device-lm`` and named as the router's ``backbone_name_or_path``."""
    lm_dir = tmp_path / "device-lm"
    causal_lm.save_pretrained(lm_dir)
    tokenizer.save_pretrained(lm_dir)
    model = ConsRouterForTierSelection.from_backbone(causal_lm, head_hidden_size=32, backbone_name_or_path=str(lm_dir))
    model.tokenizer = tokenizer
    return model.eval()
