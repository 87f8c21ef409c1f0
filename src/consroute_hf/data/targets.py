"""Soft routing targets: how far each non-reference tier can stand in for the reference tier.

For tiers ``t_0 .. t_{T-1}`` (the last is the reference, e.g. the cloud), each query gets ``T-1``
targets in [0, 1]:

* ``"consistency"`` - a scorer's consistency of ``response_t`` with the reference tier's response;
* ``"correctness"`` - 1.0 when tier ``t`` is "as good as" the reference on the gold answer
  (``correct_t or not correct_ref``), else 0.0; where no gold answer exists, the consistency score;
* ``"blend"`` - ``w * consistency + (1 - w) * correctness`` where a gold answer exists,
  consistency alone where it does not.

Comparing with the reference tier's answer rather than with the gold answer alone is what makes
routing work (a query the cloud also gets wrong costs nothing to keep on device); see
../shared/data/README.md.
"""

from __future__ import annotations

import json
from typing import Sequence

import numpy as np

from .graders import GRADERS, _balanced_objects, extract_answer, grade

TARGET_MODES = ("consistency", "correctness", "blend")


def consistency_text(response: str) -> str:
    """The text a scorer compares: ``"Answer: <final answer>\\n<reasoning>"`` when the response holds
    the JSON block, else the response itself.

    The answer comes first so that encoders that truncate long inputs (MiniLM keeps 256 word
    pieces) always see it, and the JSON boilerplate shared by every response is left out.
    """
    answer = extract_answer(response)
    reasoning = None
    for candidate in _balanced_objects(response):
        try:
            parsed = json.loads(candidate, strict=False)
        except json.JSONDecodeError:
            continue
        if isinstance(parsed, dict) and isinstance(parsed.get("reasoning"), str):
            reasoning = parsed["reasoning"]
            break
    if answer is None and reasoning is None:
        return response.strip()
    return f"Answer: {answer if answer is not None else ''}\n{reasoning if reasoning is not None else response.strip()}"


def grade_responses(tasks: Sequence[str], references: Sequence[str | None], answers: Sequence[str | None]) -> list[bool | None]:
    """Grade extracted answers: True/False, or None where there is no reference or no grader for the task."""
    out: list[bool | None] = []
    for task, reference, answer in zip(tasks, references, answers):
        if reference is None or task not in GRADERS:
            out.append(None)
        else:
            out.append(grade(task, answer, reference))
    return out


def soft_targets(
    consistency: np.ndarray | None,
    correct: np.ndarray,
    mode: str = "blend",
    blend_weight: float = 0.5,
) -> np.ndarray:
    """Soft targets of the non-reference tiers.

    Args:
        consistency: ``(N, T-1)`` scores in [0, 1] of each non-reference tier vs the reference tier;
            may be None only for ``"correctness"`` when every row has a gold answer.
        correct: ``(N, T)`` float, 1.0 / 0.0 for graded answers and NaN where no gold answer exists
            (the last column is the reference tier).
        mode: ``"consistency"``, ``"correctness"`` or ``"blend"``.
        blend_weight: weight of consistency in ``"blend"``.

    Returns:
        ``(N, T-1)`` float32 in [0, 1].
    """
    if mode not in TARGET_MODES:
        raise ValueError(f"targets must be one of {TARGET_MODES}, got {mode!r}.")
    if not 0.0 <= blend_weight <= 1.0:
        raise ValueError(f"blend_weight must lie in [0, 1], got {blend_weight}.")
    correct = np.asarray(correct, dtype=np.float64)
    if correct.ndim != 2 or correct.shape[1] < 2:
        raise ValueError(f"`correct` must be (N, T) with T >= 2, got shape {correct.shape}.")
    n, tiers = correct.shape
    graded = ~np.isnan(correct).any(axis=1)  # (N,) rows with a gold answer
    if consistency is None:
        if mode != "correctness" or not graded.all():
            raise ValueError(f"targets={mode!r} needs consistency scores (some rows have no gold answer or the mode uses them).")
        consistency = np.full((n, tiers - 1), np.nan)
    consistency = np.asarray(consistency, dtype=np.float64)
    if consistency.shape != (n, tiers - 1):
        raise ValueError(f"`consistency` must be (N, T-1) = {(n, tiers - 1)}, got {consistency.shape}.")
    as_good = np.where(graded[:, None], np.maximum(correct[:, :-1], 1.0 - correct[:, -1:]), np.nan)  # (N, T-1)
    if mode == "consistency":
        labels = consistency
    elif mode == "correctness":
        labels = np.where(graded[:, None], as_good, consistency)
    else:
        labels = np.where(graded[:, None], blend_weight * consistency + (1.0 - blend_weight) * as_good, consistency)
    if np.isnan(labels).any():
        raise ValueError("Some targets are undefined (NaN consistency scores); check the scorer's output.")
    return np.clip(labels, 0.0, 1.0).astype(np.float32)
