"""2-process DDP on CPU (gloo) through torchrun: sharded feature extraction + head training."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from tiny_models import save_tiny_device_lm

from consroute_hf import ConsRouterForTierSelection
from consroute_hf.device_lm import load_device_lm
from consroute_hf.features import extract_features

SCRIPT = Path(__file__).with_name("ddp_train_head.py")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_process_ddp_training_saves_a_head_that_scores_like_the_trained_router(tmp_path):
    lm_dir = save_tiny_device_lm(tmp_path / "tiny-lm")
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), str(SCRIPT), str(lm_dir), str(out),
    ]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-4000:]

    run = json.loads((out / "run.json").read_text())
    assert run["num_processes"] == 2
    assert run["global_step"] == 3 * 4  # 32 rows / (2 processes x 4 per device) = 4 steps per epoch
    rank0, rank1 = np.load(out / "scores-rank0.npy"), np.load(out / "scores-rank1.npy")
    np.testing.assert_allclose(rank0, rank1, atol=1e-6)  # DDP kept the replicas identical
    assert np.abs(rank0 - np.load(out / "initial-scores.npy")).max() > 1e-3  # training moved the head

    # Features gathered from two processes equal single-process features, in dataset order.
    sys.path.insert(0, str(SCRIPT.parent))
    from ddp_train_head import QUERIES

    model, tokenizer = load_device_lm(str(lm_dir), dtype="float32", device="cpu")
    local = ConsRouterForTierSelection.from_backbone(model, head_hidden_size=16)
    gathered = torch.from_numpy(np.load(out / "features.npy"))
    single = extract_features(local, QUERIES, tokenizer, batch_size=4, show_progress=False)
    assert torch.nn.functional.cosine_similarity(gathered, single).min() >= 0.9999

    # The saved head, loaded in this process onto its backbone, scores like the DDP-trained router.
    loaded = ConsRouterForTierSelection.from_pretrained(out / "head")
    np.testing.assert_allclose(loaded.predict_scores(gathered), rank0, atol=1e-5)
