"""Tiny, fast, random models and an in-memory tokenizer for tests (no downloads).

Importable from test modules and from subprocess scripts (``sys.path`` must include ``tests/``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

_CORPUS = [
    "What is 2 + 3? The answer is 5.",
    "Janet's ducks lay 16 eggs per day. She sells the remainder at the market for $2 per egg.",
    "Find the sum of all integers that satisfy these conditions.",
    "def f(nums): return sorted(nums) assert f([3, 1, 2]) == [1, 2, 3]",
    "The consistency between the small language model and large language model responses for the above query is:",
    "Yes no true false answer reasoning json question",
] * 20


def tiny_tokenizer(vocab_size: int = 300) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained in memory on a small corpus, with a chat template."""
    backend = Tokenizer(models.BPE(unk_token=None))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<pad>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|system|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    backend.train_from_iterator(_CORPUS, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def tiny_llama_config(vocab_size: int = 300, hidden_size: int = 64, layers: int = 2) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=512, bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )


def tiny_causal_lm(seed: int = 0, **config_kwargs) -> LlamaForCausalLM:
    """A 2-layer, 64-wide random Llama causal LM (builds in ~10 ms)."""
    torch.manual_seed(seed)
    return LlamaForCausalLM(tiny_llama_config(**config_kwargs)).eval()


def save_tiny_device_lm(folder: str | Path, seed: int = 0) -> Path:
    """Write a tiny causal LM and its tokenizer to ``folder`` (a local "Hub" checkpoint)."""
    folder = Path(folder)
    tiny_causal_lm(seed).save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder
