"""Device-LM loading (consroute_hf.device_lm): folders, GGUF conversion and caching, dtype choice."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from gguf import GGUFWriter, TokenType
from tiny_models import save_tiny_device_lm, tiny_causal_lm, tiny_tokenizer

from consroute_hf import ConsRouterForTierSelection
from consroute_hf.device_lm import converted_gguf_folder, load_device_lm, load_device_tokenizer, resolve_dtype


def _permute_for_gguf(weight: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's q/k row order (convert_hf_to_gguf.py), which transformers undoes on load."""
    return weight.reshape(n_head, 2, weight.shape[0] // n_head // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def write_tiny_gguf(path: Path, model, tokenizer) -> Path:
    """Write a tiny Llama causal LM and its byte-level BPE tokenizer as an F32 GGUF file."""
    config = model.config
    writer = GGUFWriter(str(path), "llama")
    writer.add_name("tiny-llama")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_dimension_count(config.hidden_size // config.num_attention_heads)
    writer.add_rope_freq_base(float(config.rope_parameters["rope_theta"]))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)
    writer.add_tokenizer_model("gpt2")
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    special = set(tokenizer.all_special_ids) | {tokenizer.convert_tokens_to_ids(t) for t in ("<|user|>", "<|assistant|>", "<|system|>")}
    writer.add_token_list([token for token, _ in vocab])
    writer.add_token_types([TokenType.CONTROL if index in special else TokenType.NORMAL for _, index in vocab])
    merges = json.loads(tokenizer.backend_tokenizer.to_str())["model"]["merges"]
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    writer.add_bos_token_id(tokenizer.bos_token_id)
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_pad_token_id(tokenizer.pad_token_id)
    writer.add_chat_template(tokenizer.chat_template)
    state = {k: v.float().numpy() for k, v in model.state_dict().items()}
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    writer.add_tensor("token_embd.weight", state["model.embed_tokens.weight"])
    writer.add_tensor("output_norm.weight", state["model.norm.weight"])
    writer.add_tensor("output.weight", state["lm_head.weight"])
    for i in range(config.num_hidden_layers):
        p = f"model.layers.{i}."
        writer.add_tensor(f"blk.{i}.attn_norm.weight", state[p + "input_layernorm.weight"])
        writer.add_tensor(f"blk.{i}.attn_q.weight", _permute_for_gguf(state[p + "self_attn.q_proj.weight"], heads))
        writer.add_tensor(f"blk.{i}.attn_k.weight", _permute_for_gguf(state[p + "self_attn.k_proj.weight"], kv_heads))
        writer.add_tensor(f"blk.{i}.attn_v.weight", state[p + "self_attn.v_proj.weight"])
        writer.add_tensor(f"blk.{i}.attn_output.weight", state[p + "self_attn.o_proj.weight"])
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", state[p + "post_attention_layernorm.weight"])
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", state[p + "mlp.gate_proj.weight"])
        writer.add_tensor(f"blk.{i}.ffn_up.weight", state[p + "mlp.up_proj.weight"])
        writer.add_tensor(f"blk.{i}.ffn_down.weight", state[p + "mlp.down_proj.weight"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture()
def tiny_gguf(tmp_path, monkeypatch):
    monkeypatch.setenv("CONSROUTE_CACHE", str(tmp_path / "cache"))
    model, tokenizer = tiny_causal_lm(), tiny_tokenizer()
    return write_tiny_gguf(tmp_path / "tiny.gguf", model, tokenizer), model, tokenizer


def test_gguf_is_converted_once_into_a_cached_trainable_saveable_model(tiny_gguf, tmp_path):
    path, original, original_tokenizer = tiny_gguf
    model, tokenizer = load_device_lm(str(path), dtype="float32", device="cpu")
    ids = torch.tensor([[1, 10, 20, 30, 40, 50]])
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, original(ids).logits, atol=1e-4)
    text = "What is 2 + 3? The answer is 5."
    assert tokenizer(text, add_special_tokens=False)["input_ids"] == original_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert getattr(model, "hf_quantizer", None) is None and not hasattr(model.config, "quantization_config")

    folders = list((tmp_path / "cache" / "device-lm").iterdir())
    assert len(folders) == 1 and (folders[0] / "model.safetensors").is_file()
    assert converted_gguf_folder(str(path)) == folders[0]
    # The same file under another name hits the same cache entry (keyed by content hash).
    copy = tmp_path / "renamed.gguf"
    copy.write_bytes(path.read_bytes())
    assert converted_gguf_folder(str(tmp_path), gguf_file="renamed.gguf") == folders[0]
    # Trainable and saveable: one gradient step changes weights; save_pretrained works.
    model.train()
    loss = model(ids, labels=ids).loss
    loss.backward()
    assert model.model.layers[0].self_attn.q_proj.weight.grad is not None
    model.save_pretrained(tmp_path / "saved")
    assert (tmp_path / "saved" / "model.safetensors").is_file()


def test_local_folder_loads_with_the_requested_dtype_and_feeds_a_router(tmp_path):
    folder = save_tiny_device_lm(tmp_path / "lm")
    model, tokenizer = load_device_lm(str(folder), dtype="bfloat16", device="cpu")
    assert model.dtype == torch.bfloat16 and not model.training
    router = ConsRouterForTierSelection.from_backbone(model, head_hidden_size=16)
    features = router.featurize(["What is 2 + 3?"], tokenizer)
    assert features.shape == (1, 64) and torch.isfinite(features).all()
    assert load_device_tokenizer(str(folder)).get_vocab() == tokenizer.get_vocab()


def test_dtype_resolution():
    assert resolve_dtype("fp32", "cpu") == torch.float32
    assert resolve_dtype(torch.float16, "cpu") == torch.float16
    cpu_native_bf16 = bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    assert resolve_dtype("auto", "cpu") == (torch.bfloat16 if cpu_native_bf16 else torch.float32)
    with pytest.raises(ValueError, match="Unknown dtype"):
        resolve_dtype("int3", "cpu")


def test_missing_sources_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_device_lm(str(tmp_path / "nope.gguf"))
    with pytest.raises(FileNotFoundError, match="not found in folder"):
        load_device_lm(str(tmp_path), gguf_file="nope.gguf")
    with pytest.raises(OSError, match="Could not load the device LM"):
        load_device_lm(str(tmp_path / "no-such-folder"))
