"""Load the device LM (causal LM + tokenizer) whose prefill hidden states are the routing features.

A spec is one of:

- a named offline model, e.g. ``"smollm2-135m-instruct"`` (a GGUF file shipped in a registry package,
  see ``consroute_hf.offline_models``);
- a GGUF file path (``path/to/model.gguf``), or a folder plus ``gguf_file=``;
- a local ``save_pretrained`` folder or a Hub id.

GGUF models are dequantised by transformers on load (slow: ~20 s for SmolLM2-135M), so they are
converted once into a plain safetensors folder cached under ``$CONSROUTE_CACHE/device-lm/<sha256>``
(default ``~/.cache/consroute``), keyed by the GGUF file's content hash; later loads take well
under 2 s. The converted model has no quantizer attached, so it can be trained (LoRA) and saved.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import uuid
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from .offline_models import OFFLINE_DEVICE_LMS, offline_gguf_file
from .recipe import CACHE_DIR_ENV

logger = logging.getLogger(__name__)

_HASH_INDEX = "gguf-hashes.json"


def default_cache_root() -> Path:
    """``$CONSROUTE_CACHE`` when set, else ``~/.cache/consroute``."""
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "consroute")


def cpu_supports_bf16() -> bool:
    """True when the CPU computes bfloat16 natively (x86 AVX512-BF16 or AMX tiles).

    CPUs without it emulate bf16 matmuls, which is slower than float32, so "auto" picks float32 there.
    """
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64", "i686"):
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    return False


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when present, else CPU; anything else is passed to ``torch.device``."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str | torch.dtype = "auto", device: str | torch.device = "auto") -> torch.dtype:
    """``"auto"`` -> bfloat16 on a CUDA device that supports it or a CPU with native bf16, else float32.

    Also accepts ``"bfloat16"``/``"bf16"``, ``"float16"``/``"fp16"``, ``"float32"``/``"fp32"`` or a ``torch.dtype``.
    """
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {
        "bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16,
        "half": torch.float16, "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    }
    if dtype in names:
        return names[dtype]
    if dtype != "auto":
        raise ValueError(f"Unknown dtype {dtype!r}: use 'auto', {sorted(names)} or a torch.dtype.")
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    if resolved.type == "cpu":
        return torch.bfloat16 if cpu_supports_bf16() else torch.float32
    return torch.float32


def _resolve_source(spec: str | os.PathLike, gguf_file: str | None) -> tuple[str, Path | None]:
    """(loadable name/folder, GGUF file or None) of a device-LM spec."""
    spec_str = str(spec)
    if gguf_file is not None:
        path = Path(spec_str) / gguf_file
        if not path.is_file():
            raise FileNotFoundError(f"GGUF file {gguf_file!r} not found in folder {spec_str!r}.")
        return spec_str, path
    if spec_str in OFFLINE_DEVICE_LMS:
        return spec_str, offline_gguf_file(spec_str)
    if spec_str.lower().endswith(".gguf"):
        path = Path(spec_str)
        if not path.is_file():
            raise FileNotFoundError(
                f"GGUF file {spec_str} does not exist; pass an existing .gguf path, a model folder, a Hub id "
                f"or one of the named offline models {sorted(OFFLINE_DEVICE_LMS)}."
            )
        return spec_str, path
    return spec_str, None


def gguf_sha256(path: Path, cache_root: Path | None = None) -> str:
    """SHA-256 of a GGUF file, memoised in ``<cache>/gguf-hashes.json`` by (path, size, mtime)."""
    cache_root = cache_root or default_cache_root()
    index_file = cache_root / _HASH_INDEX
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    index: dict[str, str] = {}
    if index_file.is_file():
        try:
            index = json.loads(index_file.read_text())
        except (OSError, json.JSONDecodeError):
            index = {}
    if key in index:
        return index[key]
    with open(path, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    index[key] = digest
    _atomic_write_text(index_file, json.dumps(index, indent=1))
    return digest


def converted_gguf_folder(spec: str | os.PathLike, gguf_file: str | None = None, cache_root: Path | None = None) -> Path:
    """The cached safetensors folder of a GGUF device LM, converting it on first use.

    The folder holds ``config.json``, ``model.safetensors`` (float32 dequantised weights, no
    quantization config) and the tokenizer files, and loads with ``AutoModelForCausalLM.from_pretrained``.
    """
    _, path = _resolve_source(spec, gguf_file)
    if path is None:
        raise ValueError(f"{spec!r} is not a GGUF model; only GGUF files are converted.")
    cache_root = cache_root or default_cache_root()
    target = cache_root / "device-lm" / gguf_sha256(path, cache_root)[:32]
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    logger.info("Converting %s to a cached safetensors model at %s (once; ~20 s).", path, target)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    make_trainable(model)
    model.config._name_or_path = str(target)
    staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / "consroute_source.json").write_text(json.dumps({"gguf_file": str(path)}, indent=1))
        try:
            os.replace(staging, target)
        except OSError:  # another process finished the same conversion first
            if not (target / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def make_trainable(model: PreTrainedModel) -> PreTrainedModel:
    """Detach the GGUF quantizer from a dequantised model so it can be trained and saved."""
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model


def loadable_path(spec: str | os.PathLike, gguf_file: str | None = None) -> str:
    """A name or folder ``from_pretrained`` can load: the converted folder for GGUF specs, else ``spec``."""
    name, path = _resolve_source(spec, gguf_file)
    return str(converted_gguf_folder(spec, gguf_file)) if path is not None else name


def load_device_lm(
    spec: str | os.PathLike,
    dtype: str | torch.dtype = "auto",
    device: str | torch.device = "auto",
    gguf_file: str | None = None,
) -> tuple[PreTrainedModel, Any]:
    """Load the device causal LM and its tokenizer (in eval mode).

    Args:
        spec: named offline model, GGUF path, local folder or Hub id (see the module docstring).
        dtype: ``"auto"`` (bf16 where the hardware computes it natively, else fp32) or an explicit dtype.
        device: ``"auto"`` (CUDA when present, else CPU) or a device string.
        gguf_file: GGUF file name inside the folder ``spec``.

    Returns:
        (causal LM, tokenizer). The tokenizer gets a pad token (EOS) when it has none.
    """
    folder = loadable_path(spec, gguf_file)
    target_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, target_device)
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch_dtype)
    except OSError as error:
        raise OSError(
            f"Could not load the device LM {spec!r}: {error}. Give a Hub id (online), a save_pretrained folder, "
            f"a .gguf file, or one of the named offline models {sorted(OFFLINE_DEVICE_LMS)}."
        ) from error
    make_trainable(model)
    tokenizer = load_device_tokenizer(folder)
    return model.to(target_device).eval(), tokenizer


def load_device_tokenizer(spec: str | os.PathLike, gguf_file: str | None = None) -> Any:
    """The device LM's tokenizer (same spec forms as [`load_device_lm`]), with a pad token set."""
    tokenizer = AutoTokenizer.from_pretrained(loadable_path(spec, gguf_file))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    temporary.write_text(text)
    os.replace(temporary, temporary.with_name(path.name))


__all__ = [
    "load_device_lm", "load_device_tokenizer", "converted_gguf_folder", "loadable_path", "resolve_dtype",
    "resolve_device", "cpu_supports_bf16", "make_trainable", "default_cache_root", "gguf_sha256",
]
