"""Soft targets and the text the scorers compare."""

from __future__ import annotations

import numpy as np
import pytest

from consroute_hf.data import consistency_text, grade_responses, soft_targets

NAN = np.nan
# Rows: (device, edge, cloud) correctness; the last row has no gold answer.
CORRECT = np.array([[1, 1, 0], [0, 1, 1], [0, 0, 0], [NAN, NAN, NAN]], dtype=float)
CONSISTENCY = np.array([[0.2, 0.4], [0.6, 0.8], [0.1, 0.3], [0.5, 0.9]])


def test_correctness_targets_compare_with_the_reference_tier():
    labels = soft_targets(CONSISTENCY, CORRECT, "correctness")
    # device/edge "as good as" cloud: correct, or the cloud is wrong too; no gold -> consistency.
    np.testing.assert_allclose(labels, [[1, 1], [0, 1], [1, 1], [0.5, 0.9]])


def test_blend_targets():
    labels = soft_targets(CONSISTENCY, CORRECT, "blend", blend_weight=0.25)
    expected = [[0.25 * 0.2 + 0.75, 0.25 * 0.4 + 0.75], [0.25 * 0.6, 0.25 * 0.8 + 0.75], [0.25 * 0.1 + 0.75, 0.25 * 0.3 + 0.75], [0.5, 0.9]]
    np.testing.assert_allclose(labels, expected, atol=1e-6)
    assert labels.dtype == np.float32 and labels.shape == (4, 2)


def test_consistency_targets_are_the_scores():
    np.testing.assert_allclose(soft_targets(CONSISTENCY, CORRECT, "consistency"), CONSISTENCY, atol=1e-6)


def test_correctness_without_scores_needs_gold_answers_everywhere():
    np.testing.assert_allclose(soft_targets(None, CORRECT[:3], "correctness"), [[1, 1], [0, 1], [1, 1]])
    with pytest.raises(ValueError, match="needs consistency scores"):
        soft_targets(None, CORRECT, "correctness")
    with pytest.raises(ValueError, match="needs consistency scores"):
        soft_targets(None, CORRECT[:3], "blend")


def test_soft_target_arguments_are_checked():
    with pytest.raises(ValueError, match="targets must be one of"):
        soft_targets(CONSISTENCY, CORRECT, "oracle")
    with pytest.raises(ValueError, match="blend_weight"):
        soft_targets(CONSISTENCY, CORRECT, "blend", blend_weight=1.5)
    with pytest.raises(ValueError, match=r"\(N, T-1\)"):
        soft_targets(CONSISTENCY[:, :1], CORRECT, "blend")


def test_consistency_text_puts_the_answer_first_and_drops_the_json_wrapper():
    response = '```json\n{\n    "reasoning": "16 - 3 - 4 = 9 eggs; 9 * $2 = $18.",\n    "answer": "18"\n}\n```'
    assert consistency_text(response) == "Answer: 18\n16 - 3 - 4 = 9 eggs; 9 * $2 = $18."
    assert consistency_text("  plain text without a block ") == "plain text without a block"


def test_grade_responses_leaves_ungraded_rows_none():
    graded = grade_responses(["gsm", "gsm", "open-ended"], ["18", None, "x"], ["18", "18", "x"])
    assert graded == [True, None, None]
