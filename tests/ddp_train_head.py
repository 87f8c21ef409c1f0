"""Run by tests/test_training_ddp.py under ``torchrun --nproc_per_node 2`` (gloo, CPU).

Extracts features for a few queries with every process taking a share, trains the head for a few
steps with DDP, and writes (into the folder given as argv[2]): per-rank scores, the gathered
features, the initial scores and, from rank 0, a head-only checkpoint.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from accelerate import PartialState  # noqa: E402

from consroute_hf import ConsRouterForTierSelection  # noqa: E402
from consroute_hf.device_lm import load_device_lm  # noqa: E402
from consroute_hf.features import extract_features  # noqa: E402
from consroute_hf.recipe import TrainingRecipe  # noqa: E402
from consroute_hf.training import train_head  # noqa: E402

QUERIES = [f"Question {i}: what is {i} plus {i % 5}? The answer is {i + i % 5}." * (1 + i % 3) for i in range(40)]


def main(lm_dir: str, out: Path) -> None:
    state = PartialState()
    model, tokenizer = load_device_lm(lm_dir, dtype="float32", device="cpu")
    torch.manual_seed(0)
    router = ConsRouterForTierSelection.from_backbone(model, head_hidden_size=16, head_dropout=0.0, backbone_name_or_path=lm_dir)
    features = extract_features(router, QUERIES, tokenizer, batch_size=4, show_progress=False)
    labels = np.random.default_rng(0).uniform(size=(len(QUERIES), 2)).astype(np.float32)
    initial = router.predict_scores(features)
    args = TrainingRecipe(num_train_epochs=3, learning_rate=1e-2, per_device_train_batch_size=4, early_stopping_patience=5)
    result = train_head(router, features[:32], labels[:32], features[32:], labels[32:], args, out / "trainer")
    np.save(out / f"scores-rank{state.process_index}.npy", result.router.predict_scores(features))
    if state.is_main_process:
        np.save(out / "features.npy", features.numpy())
        np.save(out / "initial-scores.npy", initial)
        result.router.save_pretrained(out / "head", head_only=True)
        (out / "run.json").write_text(json.dumps({
            "num_processes": state.num_processes, "global_step": [e for e in result.log_history if "train_runtime" in e][0]["step"],
        }))
    state.wait_for_everyone()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
