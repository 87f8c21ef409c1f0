"""ConsRouterForTierSelection: forward, features, routing rule, checkpoints, bad input."""

from __future__ import annotations

import logging
import math
import os

import numpy as np
import pytest
import torch
from transformers import AutoModel

from consroute_hf import CheckpointError, ConsRouterForTierSelection, select_tiers
from consroute_hf.modeling_consroute import pool_hidden_states

QUERIES = ["What is 2 + 3?", "Find the sum of all integers that satisfy these conditions.", "def f(nums): return 1"]


# ---------------------------------------------------------------- the routing rule
@pytest.mark.parametrize(
    ("scores", "thresholds", "expected"),
    [
        ([0.9, 0.9], [0.5, 0.5], 0),  # device qualifies: cheapest wins even if edge does too
        ([0.4, 0.9], [0.5, 0.5], 1),  # device fails, edge qualifies
        ([0.4, 0.4], [0.5, 0.5], 2),  # nobody qualifies -> reference tier
        ([0.5, 0.1], [0.5, 0.5], 0),  # tie at the threshold qualifies
        ([0.49999, 0.5], [0.5, 0.5], 1),  # just below on device, tie on edge
        ([0.0, 0.0], [0.0, 0.0], 0),  # zero thresholds: everything on device
        ([1.0, 1.0], [1.0, 1.0], 0),  # score 1 reaches threshold 1
        ([0.99, 0.99], [1.0, 1.0], 2),  # threshold 1 is out of reach otherwise
    ],
)
def test_select_tiers_rule(scores, thresholds, expected):
    assert select_tiers(np.array([scores]), np.array(thresholds)).tolist() == [expected]


def test_select_tiers_per_row_thresholds():
    scores = np.array([[0.6, 0.2], [0.6, 0.2], [0.1, 0.8]])
    thresholds = np.array([[0.5, 0.5], [0.7, 0.1], [0.7, 0.9]])
    assert select_tiers(scores, thresholds).tolist() == [0, 1, 2]


def test_route_features_applies_cluster_thresholds(router):
    d = router.config.feature_dim
    # Two clusters far apart along dimension 0; cluster 0 routes everything to device, cluster 1 to cloud.
    centroids = np.zeros((2, d))
    centroids[1, 0] = 10.0
    router.config.feature_mean = [0.0] * d
    router.config.feature_std = [1.0] * d
    router.config.cluster_centroids = centroids.tolist()
    router.config.cluster_thresholds = [[0.0, 0.0], [1.0, 1.0]]
    router.config.validate_routing_fields()
    features = np.zeros((2, d), dtype=np.float32)
    features[1, 0] = 9.0
    decisions = router.route_features(features)
    assert [decision.cluster for decision in decisions] == [0, 1]
    assert [decision.tier for decision in decisions] == ["device", "cloud"]
    assert decisions[1].thresholds == {"device": 1.0, "edge": 1.0}
    scores = router.predict_scores(features)
    assert decisions[0].scores["edge"] == pytest.approx(float(scores[0, 1]))


def test_route_features_without_clusters_uses_defaults(router):
    router.config.default_thresholds = [1.0, 0.0]
    decisions = router.route_features(np.ones((3, router.config.feature_dim), dtype=np.float32))
    assert {d.tier for d in decisions} == {"edge"} and all(d.cluster is None for d in decisions)


def test_threshold_profile_selection(router):
    router.config.threshold_profiles = {"all-cloud": {"cluster_thresholds": None, "default_thresholds": [1.0, 1.0], "calibration": {}}}
    features = np.zeros((2, router.config.feature_dim), dtype=np.float32)
    assert {d.tier for d in router.route_features(features, profile="all-cloud")} == {"cloud"}
    with pytest.raises(ValueError, match="Unknown threshold profile 'nope'"):
        router.route_features(features, profile="nope")


# ---------------------------------------------------------------- forward and features
def test_loss_is_bce_on_soft_targets(router):
    features = torch.randn(4, router.config.feature_dim)
    labels = torch.tensor([[0.0, 1.0], [0.2, 0.8], [1.0, 1.0], [0.5, 0.25]])
    out = router(features=features, labels=labels)
    p = torch.sigmoid(out.logits)
    manual = -(labels * torch.log(p) + (1 - labels) * torch.log(1 - p)).mean()
    assert out.loss.item() == pytest.approx(manual.item(), rel=1e-5)
    assert out.scores.shape == (4, 2) and torch.all((out.scores > 0) & (out.scores < 1))


def test_token_path_equals_feature_path(router, tokenizer):
    inputs = router.prepare_inputs(QUERIES, tokenizer)
    from_tokens = router(**inputs)
    from_features = router(features=from_tokens.features)
    torch.testing.assert_close(from_tokens.scores, from_features.scores)


def test_inputs_end_with_consistency_prompt_after_chat_template(router, tokenizer):
    prefix, prompt = router.encode_query("What is 2 + 3?", tokenizer)
    expected_prefix = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2 + 3?"}], add_generation_prompt=True, tokenize=True, return_dict=False
    )
    assert prefix == list(expected_prefix)
    assert tokenizer.decode(prompt) == router.config.consistency_prompt
    inputs = router.prepare_inputs(["What is 2 + 3?"], tokenizer)
    assert inputs["input_ids"][0].tolist() == prefix + prompt


def test_batched_features_equal_single_query_features(router, tokenizer):
    batched = router.featurize(QUERIES, tokenizer, batch_size=3)
    singles = torch.cat([router.featurize([q], tokenizer) for q in QUERIES])
    cosine = torch.nn.functional.cosine_similarity(batched, singles)
    assert torch.all(cosine > 0.9999), cosine


def test_last_token_pooling_handles_left_and_right_padding():
    hidden = torch.arange(2 * 4 * 1, dtype=torch.float32).reshape(2, 4, 1)
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert pool_hidden_states(hidden, right, "last").flatten().tolist() == [1.0, 7.0]
    assert pool_hidden_states(hidden, left, "last").flatten().tolist() == [3.0, 7.0]
    assert pool_hidden_states(hidden, right, "mean").flatten().tolist() == [0.5, 5.5]


def test_conversation_routes_on_whole_conversation(router, tokenizer):
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2 + 3?"},
        {"role": "assistant", "content": "5"},
        {"role": "user", "content": "And times 2?"},
    ]
    prefix, _ = router.encode_query(conversation, tokenizer)
    rendered = tokenizer.decode(prefix)
    assert "Be brief." in rendered and "What is 2 + 3?" in rendered and rendered.endswith("<|assistant|>")


# ---------------------------------------------------------------- bad input
def test_empty_query_is_rejected(router, tokenizer):
    with pytest.raises(ValueError, match="Empty query"):
        router.route(["fine", "   "], tokenizer)


def test_non_string_query_is_rejected(router, tokenizer):
    with pytest.raises(TypeError, match="must be a non-empty string or a list of messages"):
        router.route(["fine", 42], tokenizer)


def test_empty_batch_is_rejected(router, tokenizer):
    with pytest.raises(ValueError, match="Empty batch"):
        router.route([], tokenizer)


def test_route_without_tokenizer_says_how_to_fix(router):
    router.tokenizer = None
    with pytest.raises(ValueError, match="pass `tokenizer=`"):
        router.route(["hello"])


def test_overlong_query_is_truncated_with_warning(router, tokenizer, caplog):
    router.config.max_query_tokens = 24
    long_query = "Janet's ducks lay 16 eggs per day. " * 40
    with caplog.at_level(logging.WARNING):
        decisions = router.route([long_query, "What is 2 + 3?"], tokenizer)
    assert "exceeds max_query_tokens=24" in caplog.text
    assert len(decisions) == 2
    prefix, _ = router.encode_query(long_query, tokenizer)
    assert len(prefix) <= 24


def test_overlong_conversation_drops_oldest_turns_first(router, tokenizer):
    router.config.max_query_tokens = 40
    old = {"role": "user", "content": "Janet's ducks lay 16 eggs per day. " * 10}
    conversation = [{"role": "system", "content": "Be brief."}, old, {"role": "assistant", "content": "ok"}, {"role": "user", "content": "What is 2 + 3?"}]
    rendered = tokenizer.decode(router.encode_query(conversation, tokenizer)[0])
    assert "Janet" not in rendered and "Be brief." in rendered and "What is 2 + 3?" in rendered


def test_nan_features_are_rejected(router):
    features = torch.zeros(3, router.config.feature_dim)
    features[1, 5] = math.nan
    with pytest.raises(ValueError, match=r"NaN or infinite values \(rows \[1\]\)"):
        router.route_features(features)


def test_wrong_feature_width_is_rejected(router):
    with pytest.raises(ValueError, match="shape \\(B, D\\) with D=64"):
        router(features=torch.zeros(2, 10))


# ---------------------------------------------------------------- checkpoints
def test_full_checkpoint_round_trip(router, tmp_path):
    router.config.default_thresholds = [0.3, 0.6]
    router.save_pretrained(tmp_path / "full")
    loaded = AutoModel.from_pretrained(tmp_path / "full")
    assert type(loaded) is ConsRouterForTierSelection
    for name, tensor in router.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor, msg=name)
    assert loaded.config.default_thresholds == [0.3, 0.6]


def test_backbone_stays_frozen_after_loading(router, tmp_path):
    router.save_pretrained(tmp_path / "full")
    loaded = ConsRouterForTierSelection.from_pretrained(tmp_path / "full")
    assert not any(p.requires_grad for p in loaded.backbone.parameters())
    assert all(p.requires_grad for p in loaded.head.parameters())


def test_head_only_checkpoint_matches_full(router, causal_lm, tokenizer, tmp_path):
    router.save_pretrained(tmp_path / "full")
    router.save_pretrained(tmp_path / "head", head_only=True)
    full_size = os.path.getsize(tmp_path / "full" / "model.safetensors")
    head_size = os.path.getsize(tmp_path / "head" / "model.safetensors")
    assert head_size < full_size / 10
    full = ConsRouterForTierSelection.from_pretrained(tmp_path / "full")
    inputs = router.prepare_inputs(QUERIES, tokenizer)
    reference = full(**inputs).scores
    by_object = ConsRouterForTierSelection.from_pretrained(tmp_path / "head", backbone=causal_lm)
    by_name = ConsRouterForTierSelection.from_pretrained(tmp_path / "head")  # config names the device-LM folder
    assert by_object.backbone is causal_lm.model  # shared, not copied
    for loaded in (by_object, by_name):
        torch.testing.assert_close(loaded(**inputs).scores, reference)
        assert loaded.config.checkpoint_kind == "head_only"
    assert router.config.checkpoint_kind == "full"


def test_missing_weights_file_gives_checkpoint_error(router, tmp_path):
    router.save_pretrained(tmp_path / "r")
    (tmp_path / "r" / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="re-save it with save_pretrained"):
        ConsRouterForTierSelection.from_pretrained(tmp_path / "r")


def test_corrupt_weights_file_gives_checkpoint_error(router, tmp_path):
    router.save_pretrained(tmp_path / "r")
    path = tmp_path / "r" / "model.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt"):
        AutoModel.from_pretrained(tmp_path / "r")


def test_missing_checkpoint_folder_gives_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="Could not load a ConsRoute checkpoint"):
        ConsRouterForTierSelection.from_pretrained(tmp_path / "nowhere")


def test_failed_save_leaves_previous_checkpoint_intact(router, tmp_path, monkeypatch):
    target = tmp_path / "r"
    router.config.default_thresholds = [0.1, 0.2]
    router.save_pretrained(target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("transformers.modeling_utils.safe_save_file", crash)
    router.config.default_thresholds = [0.9, 0.9]
    with pytest.raises(RuntimeError, match="disk full"):
        router.save_pretrained(target)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".r.")] == []


def test_bf16_backbone_keeps_fp32_head_and_head_only_matches(tokenizer, tmp_path):
    from tiny_models import tiny_causal_lm

    lm = tiny_causal_lm().to(torch.bfloat16)
    lm.save_pretrained(tmp_path / "lm")
    tokenizer.save_pretrained(tmp_path / "lm")
    router = ConsRouterForTierSelection.from_backbone(lm, head_hidden_size=32, backbone_name_or_path=str(tmp_path / "lm"))
    router.save_pretrained(tmp_path / "full")
    router.save_pretrained(tmp_path / "head", head_only=True)
    full = ConsRouterForTierSelection.from_pretrained(tmp_path / "full")
    head_only = ConsRouterForTierSelection.from_pretrained(tmp_path / "head")
    assert next(full.backbone.parameters()).dtype == torch.bfloat16
    assert next(head_only.backbone.parameters()).dtype == torch.bfloat16
    assert {p.dtype for p in full.head.parameters()} == {torch.float32}
    inputs = full.prepare_inputs(QUERIES, tokenizer)
    torch.testing.assert_close(head_only(**inputs).scores, full(**inputs).scores, atol=2e-4, rtol=1e-3)  # bf16 kernels
