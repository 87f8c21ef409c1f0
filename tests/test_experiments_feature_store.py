"""The per-query feature store: datasets sharing queries share features; only new queries are extracted."""

from __future__ import annotations

import numpy as np

from consroute_hf.experiments import feature_store

QUERIES = ["What is 2 + 3?", "Find the sum of all integers.", "def f(nums): return 1", "Janet's ducks lay 16 eggs."]


def test_shared_queries_are_extracted_once(router, tokenizer, tmp_path, monkeypatch):
    extracted: list[list[str]] = []
    real_extract = feature_store.extract_features

    def counting_extract(router, queries, *args, **kwargs):
        extracted.append(list(queries))
        return real_extract(router, queries, *args, **kwargs)

    monkeypatch.setattr(feature_store, "extract_features", counting_extract)
    first = feature_store.features_by_query(router, QUERIES[:3], tokenizer, 2, tmp_path)
    reordered = feature_store.features_by_query(router, [QUERIES[2], QUERIES[0]], tokenizer, 2, tmp_path)
    grown = feature_store.features_by_query(router, QUERIES, tokenizer, 2, tmp_path)

    assert extracted == [QUERIES[:3], [QUERIES[3]]]
    np.testing.assert_array_equal(reordered, first[[2, 0]])
    np.testing.assert_array_equal(grown[:3], first)
    direct = router.featurize(QUERIES[3:], tokenizer).numpy()
    np.testing.assert_allclose(grown[3:], direct, rtol=1e-4, atol=1e-5)


def test_another_prompt_gets_another_store(router, tokenizer, tmp_path):
    first = feature_store.store_path(router, tokenizer, tmp_path)
    router.config.consistency_prompt = "Is the small model's answer as good?"
    assert feature_store.store_path(router, tokenizer, tmp_path) != first
