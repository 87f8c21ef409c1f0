"""Batched, cached routing-feature extraction (consroute_hf.features)."""

from __future__ import annotations

import pytest
import torch

from consroute_hf.features import backbone_fingerprint, extract_features, length_sorted_batches

QUERIES = [
    "What is 2 + 3?",
    "Janet's ducks lay 16 eggs per day. She sells the remainder at the market for $2 per egg. How much does she make?",
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Find the sum of all integers."}],
    "def f(nums): return sorted(nums) assert f([3, 1, 2]) == ??",
    "Yes or no?",
    "The answer is 5. " * 6,
    "question answer reasoning json",
]


def test_batched_features_equal_one_query_at_a_time_in_input_order(router, tokenizer):
    batched = extract_features(router, QUERIES, tokenizer, batch_size=3, show_progress=False)
    single = torch.cat([router.featurize([query], tokenizer) for query in QUERIES])
    assert batched.shape == (len(QUERIES), router.config.feature_dim)
    assert batched.dtype == torch.float32
    cosine = torch.nn.functional.cosine_similarity(batched, single)
    assert cosine.min() >= 0.9999
    # rows are not interchangeable: each row matches its own query best
    similarity = torch.nn.functional.normalize(batched, dim=1) @ torch.nn.functional.normalize(single, dim=1).T
    assert torch.equal(similarity.argmax(1), torch.arange(len(QUERIES)))


def test_mean_pooling_and_middle_layer_also_match_single_queries(router, tokenizer):
    router.config.pooling, router.config.feature_layer = "mean", 1
    batched = extract_features(router, QUERIES, tokenizer, batch_size=4, show_progress=False)
    single = torch.cat([router.featurize([query], tokenizer) for query in QUERIES])
    assert torch.nn.functional.cosine_similarity(batched, single).min() >= 0.9999


def test_length_sorted_batches_group_similar_lengths_and_cover_every_row():
    lengths = [5, 1, 9, 3, 7, 2, 8]
    batches = length_sorted_batches(lengths, 3)
    assert [b.tolist() for b in batches] == [[1, 5, 3], [0, 4, 6], [2]]


def test_cache_is_reused_and_keyed_by_prompt_pooling_and_dataset(router, tokenizer, tmp_path, monkeypatch):
    first = extract_features(router, QUERIES, tokenizer, cache_dir=tmp_path, dataset_fingerprint="ds1", show_progress=False)
    assert len(list(tmp_path.glob("features-*.safetensors"))) == 1

    def no_backbone(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(router, "extract_features", no_backbone)
    again = extract_features(router, QUERIES, tokenizer, cache_dir=tmp_path, dataset_fingerprint="ds1", show_progress=False)
    assert torch.equal(first, again)
    monkeypatch.undo()

    extract_features(router, QUERIES, tokenizer, cache_dir=tmp_path, dataset_fingerprint="ds2", show_progress=False)
    router.config.pooling = "mean"
    extract_features(router, QUERIES, tokenizer, cache_dir=tmp_path, dataset_fingerprint="ds1", show_progress=False)
    router.config.pooling = "last"
    router.config.consistency_prompt = "Is the small model's answer consistent?"
    changed = extract_features(router, QUERIES, tokenizer, cache_dir=tmp_path, dataset_fingerprint="ds1", show_progress=False)
    assert len(list(tmp_path.glob("features-*.safetensors"))) == 4
    assert not torch.allclose(changed, first)
    assert not list(tmp_path.glob(".*tmp*")), "no temporary files are left behind"


def test_backbone_fingerprint_changes_with_weights(router):
    before = backbone_fingerprint(router)
    assert backbone_fingerprint(router) == before
    with torch.no_grad():
        router.backbone.layers[0].mlp.down_proj.weight[0, 0] += 1.0
    assert backbone_fingerprint(router) != before


def test_bad_arguments_are_rejected_with_clear_errors(router, tokenizer):
    with pytest.raises(ValueError, match="empty"):
        extract_features(router, [], tokenizer, show_progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        extract_features(router, QUERIES, tokenizer, batch_size=0, show_progress=False)
