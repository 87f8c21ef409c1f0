"""build_routing_dataset: columns, targets, token counts, the on-disk cache and the `prepare` command."""

from __future__ import annotations

import argparse
import json
import logging

import numpy as np
import pytest
import yaml
from test_data_loaders import _response, write_zeroeval

from consroute_hf.commands import prepare
from consroute_hf.data import ConsistencyScorer, TokenCounter, build_routing_dataset, consistency_text
from consroute_hf.recipe import Recipe


class CountingScorer(ConsistencyScorer):
    """Scores 0.25 for pairs whose texts differ and 1.0 for equal ones; counts the pairs it scored."""

    fingerprint = "counting:v1"

    def __init__(self):
        self.pairs_scored = 0
        self.seen: list[tuple[str, str]] = []

    def _score(self, candidates, references):
        self.pairs_scored += len(candidates)
        self.seen.extend(zip(candidates, references))
        return np.array([1.0 if c == r else 0.25 for c, r in zip(candidates, references)])


@pytest.fixture()
def data_root(tmp_path):
    root = tmp_path / "result_dirs"
    gold = {"g0": "# 18", "g1": "# 1,000"}
    for stem, answers in [("small", ["18", "999"]), ("mid", ["18", "1000"]), ("big@together", ["17", "1000"])]:
        write_zeroeval(root, "gsm", stem, [("g0", "Q0", _response(answers[0])), ("g1", "Q1", _response(answers[1]))], gold)
    return root


def make_recipe(root, cache, targets="blend", **data):
    return Recipe.from_dict({
        "name": "tiny",
        "tiers": ["device", "edge", "cloud"],
        "cache_dir": str(cache),
        "data": {"source": "zeroeval", "root": str(root), "tasks": ["gsm"], "targets": targets, "blend_weight": 0.5,
                 "tier_files": {"device": {"gsm": "small"}, "edge": {"gsm": "mid"}, "cloud": {"gsm": "big@together"}}, **data},
    })


def test_build_columns_labels_and_tokens(data_root, tmp_path, tokenizer):
    scorer = CountingScorer()
    ds = build_routing_dataset(make_recipe(data_root, tmp_path / "cache"), scorer=scorer, token_counter=TokenCounter(tokenizer))
    assert ds["id"] == ["gsm/g0", "gsm/g1"]
    assert ds["answer_device"] == ["18", "999"] and ds["answer_cloud"] == ["17", "1000"]
    assert ds["correct_device"] == [True, False]
    assert ds["correct_edge"] == [True, True]
    assert ds["correct_cloud"] == [False, True]
    # device/edge vs cloud texts differ everywhere except edge == cloud on g1.
    np.testing.assert_allclose(ds["consistency"], [[0.25, 0.25], [0.25, 1.0]])
    # blend 0.5: g0 cloud wrong -> both "as good" (1); g1 device wrong and cloud right -> 0.
    np.testing.assert_allclose(ds["labels"], [[0.625, 0.625], [0.125, 1.0]])
    for tier in ("device", "edge", "cloud"):
        expected = [len(tokenizer(r, add_special_tokens=False)["input_ids"]) for r in ds[f"response_{tier}"]]
        assert ds[f"output_tokens_{tier}"] == expected
    # The scorer compares answer + reasoning, not the raw JSON blocks.
    assert scorer.seen[0] == (consistency_text(ds["response_device"][0]), consistency_text(ds["response_cloud"][0]))


def test_second_build_is_a_cache_hit(data_root, tmp_path, tokenizer):
    recipe = make_recipe(data_root, tmp_path / "cache")
    scorer = CountingScorer()
    first = build_routing_dataset(recipe, scorer=scorer, token_counter=TokenCounter(tokenizer))
    assert scorer.pairs_scored == 4
    second = build_routing_dataset(recipe, scorer=scorer, token_counter=TokenCounter(tokenizer))
    assert scorer.pairs_scored == 4  # nothing recomputed
    assert second.to_dict() == first.to_dict()
    saved = list((tmp_path / "cache" / "datasets").iterdir())
    assert len(saved) == 1 and saved[0].name.startswith("tiny-")  # no temporary folder left behind


def test_changed_file_contents_or_settings_rebuild(data_root, tmp_path, tokenizer):
    recipe = make_recipe(data_root, tmp_path / "cache")
    scorer = CountingScorer()
    build_routing_dataset(recipe, scorer=scorer, token_counter=TokenCounter(tokenizer))
    path = data_root / "gsm" / "small.json"
    records = json.loads(path.read_text())
    records[1]["output"] = [_response("1000")]
    path.write_text(json.dumps(records))
    rebuilt = build_routing_dataset(recipe, scorer=scorer, token_counter=TokenCounter(tokenizer))
    assert scorer.pairs_scored == 8 and rebuilt["correct_device"] == [True, True]
    build_routing_dataset(make_recipe(data_root, tmp_path / "cache", blend_weight=0.9), scorer=scorer, token_counter=TokenCounter(tokenizer))
    assert scorer.pairs_scored == 12


def test_correctness_targets_on_zeroeval_need_no_scorer(data_root, tmp_path, tokenizer):
    scorer = CountingScorer()
    ds = build_routing_dataset(make_recipe(data_root, tmp_path / "cache", targets="correctness"), scorer=scorer, token_counter=TokenCounter(tokenizer))
    assert scorer.pairs_scored == 0
    assert ds["consistency"] == [None, None]
    np.testing.assert_allclose(ds["labels"], [[1.0, 1.0], [0.0, 1.0]])


def test_jsonl_rows_without_reference_use_consistency(tmp_path, tokenizer):
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"id": "a", "task": "gsm", "query": "q", "reference": "5", "responses": {"device": _response("4"), "cloud": _response("5")}},
        {"id": "b", "query": "chat", "responses": {"device": "hello", "cloud": "hello"}},
    ]))
    recipe = Recipe.from_dict({"name": "j", "tiers": ["device", "cloud"], "cache_dir": str(tmp_path / "c"),
                               "data": {"source": "jsonl", "root": str(path), "targets": "blend", "blend_weight": 0.5}})
    ds = build_routing_dataset(recipe, scorer=CountingScorer(), token_counter=TokenCounter(tokenizer))
    assert ds["correct_device"] == [False, None]
    np.testing.assert_allclose(ds["labels"], [[0.125], [1.0]])


def test_missing_data_root_says_where_to_get_zeroeval(tmp_path, tokenizer):
    with pytest.raises(FileNotFoundError, match="github.com/yuchenlin/ZeroEval"):
        build_routing_dataset(make_recipe(tmp_path / "absent", tmp_path / "cache"), scorer=CountingScorer(), token_counter=TokenCounter(tokenizer))


def test_prepare_command_builds_then_hits_the_cache(data_root, tmp_path, tokenizer, capsys, caplog):
    tokenizer_dir = tmp_path / "tok"
    tokenizer.save_pretrained(tokenizer_dir)
    recipe = make_recipe(data_root, tmp_path / "cache", scorer="agreement", token_counter=str(tokenizer_dir))
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(yaml.safe_dump(recipe.to_dict()))
    parser = argparse.ArgumentParser()
    prepare.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["prepare", "--recipe", str(recipe_file)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "tiny: 2 queries" in out and "device: accuracy  50.0%" in out
    built = list((tmp_path / "cache" / "datasets").iterdir())
    args = parser.parse_args(["prepare", "--recipe", str(recipe_file), "--set", "data.blend_weight=0.5"])
    with caplog.at_level(logging.INFO, logger="consroute_hf.data.dataset"):
        assert args.func(args) == 0
    assert "cache hit" in caplog.text
    assert list((tmp_path / "cache" / "datasets").iterdir()) == built
