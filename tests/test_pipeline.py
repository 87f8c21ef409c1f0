"""pipeline("tier-selection"): inputs, batching, profiles, errors, and what a checkpoint carries for it."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from hub_fakes import QUERIES, calibrate_for_tests
from transformers import pipeline

from consroute_hf import ConsRouterForTierSelection, TierSelectionPipeline
from consroute_hf.pipeline_consroute import right_align


@pytest.fixture()
def calibrated(router):
    calibrate_for_tests(router)
    return router


def assert_same_decisions(actual: list[dict], expected: list[dict]) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        assert {k: got[k] for k in ("tier", "tier_index", "cluster", "thresholds")} == {
            k: want[k] for k in ("tier", "tier_index", "cluster", "thresholds")
        }
        assert got["scores"] == pytest.approx(want["scores"], abs=1e-5)


def test_pipeline_matches_route_for_strings_conversations_and_batches(calibrated):
    expected = [d.to_dict() for d in calibrated.route(QUERIES)]
    # Each centroid query lands in its own cluster: thresholds 0 -> device, thresholds 1 -> cloud.
    assert (expected[0]["tier"], expected[0]["cluster"]) == ("device", 0)
    assert (expected[1]["tier"], expected[1]["cluster"]) == ("cloud", 1)
    pipe = pipeline("tier-selection", model=calibrated)
    assert isinstance(pipe, TierSelectionPipeline)
    assert_same_decisions([pipe(QUERIES[0])], expected[:1])
    assert_same_decisions([pipe(QUERIES[2])], expected[2:3])  # one conversation
    assert_same_decisions(pipe(QUERIES), expected)
    assert_same_decisions(pipe(QUERIES, batch_size=3), expected)
    assert set(pipe(QUERIES[0])) == {"tier", "tier_index", "scores", "cluster", "thresholds"}


def test_batches_do_not_depend_on_the_tokenizers_padding_side(calibrated, tokenizer):
    left = copy.deepcopy(tokenizer)
    left.padding_side = "left"
    expected = [d.to_dict() for d in calibrated.route(QUERIES)]
    pipe = pipeline("tier-selection", model=calibrated, tokenizer=left)
    assert_same_decisions(pipe(QUERIES, batch_size=4), expected)


def test_right_align_moves_padding_to_the_end():
    ids = torch.tensor([[0, 0, 5, 6], [7, 8, 9, 1]])
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    aligned_ids, aligned_mask = right_align(ids, mask)
    assert aligned_ids.tolist() == [[5, 6, 0, 0], [7, 8, 9, 1]]
    assert aligned_mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]


def test_profile_and_budget_select_a_stored_calibration(calibrated):
    pipe = pipeline("tier-selection", model=calibrated)
    by_profile = pipe(QUERIES, profile="edge")
    assert [d["tier"] for d in by_profile] == ["edge"] * len(QUERIES)
    assert by_profile[0]["thresholds"] == {"device": 1.0, "edge": 0.0}
    assert pipe(QUERIES, budget="edge") == by_profile
    assert pipe(QUERIES[0])["tier"] == "device"  # the main calibration is untouched
    with pytest.raises(ValueError, match="Unknown threshold profile 'cheap'.*edge"):
        pipe(QUERIES[0], profile="cheap")
    with pytest.raises(ValueError, match="disagree"):
        pipe(QUERIES[0], profile="edge", budget="other")


def test_bad_inputs_get_clear_errors(calibrated):
    pipe = pipeline("tier-selection", model=calibrated)
    with pytest.raises(ValueError, match="Empty batch"):
        pipe([])
    with pytest.raises(ValueError, match="Empty query"):
        pipe("   ")
    with pytest.raises(ValueError, match="Empty query"):
        pipe([{"role": "user", "content": ""}])
    with pytest.raises(TypeError, match="Unknown tier-selection argument"):
        pipe(QUERIES[0], temperature=0.5)


def test_pipeline_without_a_tokenizer_says_how_to_fix_it(calibrated):
    calibrated.tokenizer = None
    with pytest.raises(ValueError, match="needs the device LM's tokenizer"):
        pipeline("tier-selection", model=calibrated)


@pytest.mark.parametrize("head_only", [False, True])
def test_checkpoint_carries_pipeline_code_and_tokenizer(calibrated, tmp_path, head_only):
    folder = tmp_path / "ckpt"
    calibrated.save_pretrained(folder, head_only=head_only)
    config = json.loads((folder / "config.json").read_text())
    assert config["custom_pipelines"] == {
        "tier-selection": {"impl": "pipeline_consroute.TierSelectionPipeline", "pt": ["AutoModel"], "type": "text"}
    }
    assert config["auto_map"]["AutoModel"] == "modeling_consroute.ConsRouterForTierSelection"
    for name in ("pipeline_consroute.py", "modeling_consroute.py", "configuration_consroute.py", "tokenizer.json"):
        assert (folder / name).is_file(), name
    loaded = ConsRouterForTierSelection.from_pretrained(folder).eval()
    assert loaded.tokenizer is not None
    expected = [d.to_dict() for d in calibrated.route(QUERIES)]
    assert_same_decisions([d.to_dict() for d in loaded.route(QUERIES)], expected)  # no tokenizer argument
    assert_same_decisions(pipeline("tier-selection", model=loaded)(QUERIES, batch_size=2), expected)
