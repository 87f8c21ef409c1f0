"""Router training with transformers.Trainer (consroute_hf.training)."""

from __future__ import annotations

import json
import math

import datasets
import numpy as np
import pytest
import torch
from tiny_models import save_tiny_device_lm

from consroute_hf import ConsRouterForTierSelection
from consroute_hf.recipe import Recipe, TrainingRecipe
from consroute_hf.training import routing_metrics, train_head, train_lora, train_router


def synthetic_problem(n: int = 240, dim: int = 64, seed: int = 0):
    """Features whose soft targets are a fixed logistic function of them; correctness = target > 0.5."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(n, dim, generator=generator)
    weights = torch.randn(dim, 2, generator=generator) / 2
    targets = torch.sigmoid(features @ weights)
    correct = np.concatenate([(targets.numpy() > 0.5).astype(float), np.ones((n, 1))], axis=1)
    return features, targets, correct


def fresh_router(causal_lm, seed: int = 0) -> ConsRouterForTierSelection:
    torch.manual_seed(seed)
    return ConsRouterForTierSelection.from_backbone(causal_lm, head_hidden_size=32, head_dropout=0.0)


def test_routing_metrics_match_hand_computed_values():
    scores = np.array([[0.9, 0.2], [0.6, 0.4], [0.3, 0.8], [0.1, 0.6]])
    targets = np.array([[1.0, 0.0], [0.5, 0.5], [0.5, 1.0], [0.0, 0.5]])
    correct = np.array([[1, 1, 1], [1, 0, 1], [0, np.nan, 1], [0, 1, 1]], dtype=float)
    metrics = routing_metrics(scores, targets, correct, ["device", "edge", "cloud"])
    assert metrics["mae_device"] == pytest.approx((0.1 + 0.1 + 0.2 + 0.1) / 4)
    assert metrics["mae_edge"] == pytest.approx((0.2 + 0.1 + 0.2 + 0.1) / 4)
    assert metrics["auroc_device"] == pytest.approx(1.0)  # device scores rank correctness perfectly
    # edge: known rows 0, 1, 3 -> scores 0.2 (1), 0.4 (0), 0.6 (1): one of two pairs ordered right
    assert metrics["auroc_edge"] == pytest.approx(0.5)
    assert metrics["brier_device"] == pytest.approx((0.01 + 0.16 + 0.09 + 0.01) / 4)
    assert metrics["brier_edge"] == pytest.approx((0.64 + 0.16 + 0.16) / 3)
    assert metrics["auroc"] == pytest.approx(0.75)
    one_class = routing_metrics(scores, targets, np.ones((4, 3)), ["device", "edge", "cloud"])
    assert math.isnan(one_class["auroc_device"])


def test_train_head_learns_soft_targets_and_reports_per_tier_metrics(causal_lm, tmp_path):
    features, targets, correct = synthetic_problem()
    router = fresh_router(causal_lm)
    backbone_before = {k: v.clone() for k, v in router.backbone.state_dict().items()}
    initial_loss = router(features=features[200:], labels=targets[200:]).loss.item()
    args = TrainingRecipe(num_train_epochs=10, learning_rate=1e-2, per_device_train_batch_size=32, early_stopping_patience=10)
    result = train_head(router, features[:200], targets[:200], features[200:], targets[200:], args, tmp_path, eval_correct=correct[200:])
    assert result.metrics["eval_loss"] < initial_loss - 0.05
    for tier in ("device", "edge"):
        assert result.metrics[f"eval_auroc_{tier}"] > 0.8
        assert 0 <= result.metrics[f"eval_mae_{tier}"] < 0.25
        assert f"eval_brier_{tier}" in result.metrics
    assert all(torch.equal(v, router.backbone.state_dict()[k]) for k, v in backbone_before.items()), "backbone frozen"
    assert sum("eval_loss" in entry for entry in result.log_history) >= 10


def test_early_stopping_stops_and_restores_the_best_epoch(causal_lm, tmp_path):
    features, targets, _ = synthetic_problem()
    noise = torch.rand(40, 2, generator=torch.Generator().manual_seed(3))  # validation targets unrelated to features
    router = fresh_router(causal_lm)
    args = TrainingRecipe(num_train_epochs=60, learning_rate=3e-2, per_device_train_batch_size=32, early_stopping_patience=2)
    result = train_head(router, features[:200], targets[:200], features[200:], noise, args, tmp_path)
    eval_losses = [entry["eval_loss"] for entry in result.log_history if "eval_loss" in entry][:-1]  # last = final evaluate()
    assert len(eval_losses) < 60, "stopped early"
    assert result.metrics["eval_loss"] == pytest.approx(min(eval_losses), abs=1e-6)
    assert result.metrics["best_epoch"] < len(eval_losses)


def test_training_is_reproducible_with_a_seed(causal_lm, tmp_path):
    features, targets, _ = synthetic_problem(n=120)
    args = TrainingRecipe(num_train_epochs=3, learning_rate=1e-2, per_device_train_batch_size=16, head_dropout=0.1)
    heads = []
    for run in range(2):
        torch.manual_seed(0)
        router = ConsRouterForTierSelection.from_backbone(causal_lm, head_hidden_size=32, head_dropout=0.1)
        train_head(router, features[:100], targets[:100], features[100:], targets[100:], args, tmp_path / str(run))
        heads.append(router.head.state_dict())
    assert all(torch.equal(heads[0][k], heads[1][k]) for k in heads[0])


def test_train_head_rejects_bad_labels(causal_lm, tmp_path):
    features, targets, _ = synthetic_problem(n=20)
    router = fresh_router(causal_lm)
    with pytest.raises(ValueError, match=r"\(N, T-1\)"):
        train_head(router, features, targets[:, :1], features, targets, TrainingRecipe(), tmp_path)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        train_head(router, features, targets * 3, features, targets, TrainingRecipe(), tmp_path)
    with pytest.raises(ValueError, match="D=64"):
        train_head(router, features[:, :10], targets, features, targets, TrainingRecipe(), tmp_path)


def test_train_lora_adapts_the_backbone_and_saves_the_adapter_alongside(router, tokenizer, tmp_path):
    queries = [f"What is {a} + {b}? The answer is {a + b}." for a in range(6) for b in range(4)]
    labels = np.random.default_rng(0).uniform(size=(len(queries), 2)).astype(np.float32)
    q_before = router.backbone.layers[0].self_attn.q_proj.weight.detach().clone()
    k_before = router.backbone.layers[0].self_attn.k_proj.weight.detach().clone()
    args = TrainingRecipe(num_train_epochs=1, learning_rate=1e-2, per_device_train_batch_size=8, lora_r=4)
    result = train_lora(router, tokenizer, queries[:20], labels[:20], queries[20:], labels[20:], args, tmp_path / "lora")
    assert type(result.router.backbone).__name__ == "LlamaModel", "adapters merged back"
    assert not torch.allclose(router.backbone.layers[0].self_attn.q_proj.weight, q_before)
    assert torch.equal(router.backbone.layers[0].self_attn.k_proj.weight, k_before), "only target modules adapted"
    adapter_config = json.loads((tmp_path / "lora" / "lora-adapter" / "adapter_config.json").read_text())
    assert adapter_config["r"] == 4 and set(adapter_config["target_modules"]) == {"q_proj", "v_proj"}
    router.save_pretrained(tmp_path / "full")
    reloaded = ConsRouterForTierSelection.from_pretrained(tmp_path / "full")
    expected = router.featurize(queries[:3], tokenizer)
    assert torch.allclose(reloaded.featurize(queries[:3], tokenizer), expected, atol=1e-5)


def routing_dataset(n: int = 60) -> datasets.Dataset:
    rng = np.random.default_rng(0)
    queries = [f"Question {i}: what is {i} times {i % 7}?" for i in range(n)]
    labels = rng.uniform(size=(n, 2)).round(3).tolist()
    rows = {"id": [str(i) for i in range(n)], "task": ["gsm"] * n, "query": queries, "reference": [None] * n}
    for t, tier in enumerate(("device", "edge", "cloud")):
        rows[f"response_{tier}"] = ["42"] * n
        rows[f"output_tokens_{tier}"] = [10 * (t + 1)] * n
        rows[f"correct_{tier}"] = [bool(x) for x in rng.integers(0, 2, n)]
    rows["labels"] = labels
    return datasets.Dataset.from_dict(rows)


def test_train_router_saves_full_and_head_only_checkpoints_that_score_alike(tmp_path, monkeypatch):
    monkeypatch.setenv("CONSROUTE_CACHE", str(tmp_path / "cache"))
    lm_dir = save_tiny_device_lm(tmp_path / "tiny-lm")
    recipe = Recipe.from_dict({
        "name": "unit", "output_dir": str(tmp_path / "runs"),
        "backbone": {"name_or_path": str(lm_dir), "dtype": "float32", "batch_size": 8},
        "training": {"num_train_epochs": 2, "head_hidden_size": 24, "per_device_train_batch_size": 16},
    })
    dataset = routing_dataset()
    result = train_router(recipe, dataset=dataset)
    run = recipe.run_dir
    summary = json.loads((run / "training_metrics.json").read_text())
    assert summary["n_fit"] + summary["n_validation"] == 36  # 60% of 60 rows
    assert list((tmp_path / "cache" / "features").glob("features-*.safetensors")), "features cached"
    queries = list(dataset["query"][:5])
    expected = result.router.predict_scores(result.router.featurize(queries))
    full = ConsRouterForTierSelection.from_pretrained(run / "router")
    head = ConsRouterForTierSelection.from_pretrained(run / "router-head")
    assert head.config.checkpoint_kind == "head_only" and full.head.mlp[1].out_features == 24
    for loaded in (full, head):
        np.testing.assert_allclose(loaded.predict_scores(loaded.featurize(queries)), expected, atol=1e-5)


def test_cli_features_then_train_on_a_jsonl_recipe(tmp_path, monkeypatch, capsys):
    from consroute_hf.cli import main

    monkeypatch.setenv("CONSROUTE_CACHE", str(tmp_path / "cache"))
    lm_dir = save_tiny_device_lm(tmp_path / "tiny-lm")
    with (tmp_path / "responses.jsonl").open("w") as handle:
        for i in range(40):
            answers = {"device": str(i if i % 3 else i + 1), "edge": str(i if i % 5 else i + 2), "cloud": str(i)}
            handle.write(json.dumps({
                "id": str(i), "task": "gsm", "query": f"What is {i} + 0?", "reference": str(i),
                **{f"response_{tier}": f'{{"reasoning": "easy", "answer": "{a}"}}' for tier, a in answers.items()},
            }) + "\n")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"name: cli\noutput_dir: {tmp_path / 'runs'}\n"
        f"data: {{source: jsonl, root: {tmp_path / 'responses.jsonl'}, targets: correctness, token_counter: {lm_dir}}}\n"
        f"backbone: {{name_or_path: {lm_dir}, dtype: float32, batch_size: 8}}\n"
        "training: {num_train_epochs: 1, head_hidden_size: 8}\n"
    )
    assert main(["features", "--recipe", str(recipe)]) == 0
    extracted = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert extracted["rows"] == 40 and extracted["dim"] == 64
    assert main(["train", "--recipe", str(recipe), "--set", "training.head_hidden_size=12"]) == 0
    router = ConsRouterForTierSelection.from_pretrained(tmp_path / "runs" / "cli" / "router")
    assert router.head.mlp[1].out_features == 12  # the --set override reached the head
    assert len(list((tmp_path / "cache" / "features").glob("features-*.safetensors"))) == 1  # train reused the cache
