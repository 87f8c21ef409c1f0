"""Seeded splits of a routing dataset: random train/calibration/test, and leave-one-task-out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SplitIndices:
    """Row indices (into the routing dataset) of one split.

    Attributes:
        name: e.g. ``"random-seed0"`` or ``"lotu-crux"``.
        train, calibration, test: (N_split,) int arrays, disjoint.
    """

    name: str
    train: np.ndarray
    calibration: np.ndarray
    test: np.ndarray


def random_split(n_rows: int, seed: int, fractions: tuple[float, float, float] | list[float] = (0.6, 0.2, 0.2)) -> SplitIndices:
    """A seeded permutation cut into train / calibration / test by ``fractions`` (summing to 1)."""
    if len(fractions) != 3 or abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) <= 0:
        raise ValueError(f"`fractions` must be 3 positive numbers summing to 1, got {list(fractions)}.")
    if n_rows < 3:
        raise ValueError(f"Need at least 3 rows to split, got {n_rows}.")
    order = np.random.default_rng(seed).permutation(n_rows)
    n_train = int(round(fractions[0] * n_rows))
    n_cal = int(round(fractions[1] * n_rows))
    return SplitIndices(
        f"random-seed{seed}", np.sort(order[:n_train]), np.sort(order[n_train : n_train + n_cal]),
        np.sort(order[n_train + n_cal :]),
    )


def leave_one_task_out(tasks: list[str] | np.ndarray, held_out: str, seed: int, calibration_fraction: float = 0.25) -> SplitIndices:
    """Test on every row of ``held_out``; train and calibrate on the other tasks (seeded cut)."""
    tasks = np.asarray(tasks)
    if held_out not in set(tasks.tolist()):
        raise ValueError(f"Task {held_out!r} is not in the dataset (tasks: {sorted(set(tasks.tolist()))}).")
    test = np.flatnonzero(tasks == held_out)
    rest = np.random.default_rng(seed).permutation(np.flatnonzero(tasks != held_out))
    n_cal = int(round(calibration_fraction * len(rest)))
    return SplitIndices(f"lotu-{held_out}", np.sort(rest[n_cal:]), np.sort(rest[:n_cal]), np.sort(test))
