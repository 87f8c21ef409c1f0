"""Check the graders against ZeroEval's own accuracy figures (``<task>.summary.json``).

Run: ``python -m consroute_hf.data.grader_report --root ../shared/data/zeroeval``
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from .graders import extract_answer, grade
from .loaders import read_zeroeval_file

logger = logging.getLogger(__name__)

#: The models of the two recipes (tier files) whose accuracy the report checks.
DEFAULT_MODELS: tuple[str, ...] = (
    "gemma-2-2b-it", "gemma-2-9b-it", "gemma-2-27b-it",
    "Meta-Llama-3.1-8B-Instruct", "Meta-Llama-3.1-70B-Instruct", "Meta-Llama-3.1-405B-Instruct@hyperbolic",
)


@dataclass
class GraderCheck:
    """Our accuracy vs ZeroEval's for one model on one task (accuracies in percent)."""

    task: str
    model: str
    file_stem: str
    total: int
    no_answer: int
    accuracy: float
    zeroeval_accuracy: float | None

    @property
    def difference(self) -> float | None:
        return None if self.zeroeval_accuracy is None else self.accuracy - self.zeroeval_accuracy


def summary_names(stem: str) -> list[str]:
    """Names a result file may carry in ``<task>.summary.json`` (ZeroEval shortens some)."""
    base = stem.split("@")[0]
    short = stem.replace("Meta-Llama-3.1-", "Llama-3.1-").replace("-Instruct", "-Inst")
    return [stem, base, short]


def find_file_stem(task_dir: Path, model: str) -> str | None:
    """The result file of ``model`` in a task folder, allowing a provider suffix (``@together``)."""
    if (task_dir / f"{model}.json").is_file():
        return model
    candidates = sorted(p.stem for p in task_dir.glob(f"{model}@*.json"))
    return candidates[0] if candidates else None


def check_model(root: Path, task: str, model: str) -> GraderCheck | None:
    """Grade every response of one model on one task and look up ZeroEval's figure."""
    stem = find_file_stem(root / task, model)
    if stem is None:
        return None
    records = read_zeroeval_file(root / task / f"{stem}.json")
    correct = no_answer = 0
    for record in records:
        answer = extract_answer(record.response)
        no_answer += answer is None
        correct += grade(task, answer, record.reference)
    summary_file = root / f"{task}.summary.json"
    zeroeval = None
    if summary_file.is_file():
        rows = {row["Model"]: row for row in json.loads(summary_file.read_text()) if row.get("Mode", "greedy") == "greedy"}
        for name in summary_names(stem):
            if name in rows:
                zeroeval = float(rows[name]["Acc"])
                break
    return GraderCheck(task, model, stem, len(records), no_answer, 100.0 * correct / max(len(records), 1), zeroeval)


def grader_report(root: str | Path, tasks=("gsm", "math-l5", "crux"), models=DEFAULT_MODELS) -> list[GraderCheck]:
    """One :class:`GraderCheck` per (task, model) whose result file exists under ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder: point --root at ZeroEval's result_dirs (github.com/yuchenlin/ZeroEval).")
    checks = []
    for task in tasks:
        for model in models:
            check = check_model(root, task, model)
            if check is not None:
                checks.append(check)
    return checks


def format_table(checks: list[GraderCheck]) -> str:
    """A Markdown table of the checks."""
    lines = [
        "| task | model | n | no answer | ours (%) | ZeroEval (%) | diff |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in checks:
        zeroeval = "n/a" if c.zeroeval_accuracy is None else f"{c.zeroeval_accuracy:.2f}"
        diff = "n/a" if c.difference is None else f"{c.difference:+.2f}"
        lines.append(f"| {c.task} | {c.file_stem} | {c.total} | {c.no_answer} | {c.accuracy:.2f} | {zeroeval} | {diff} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="../shared/data/zeroeval", help="ZeroEval result_dirs folder")
    parser.add_argument("--tasks", nargs="+", default=["gsm", "math-l5", "crux"])
    parser.add_argument("--tolerance", type=float, default=1.5, help="allowed |ours - ZeroEval| in points")
    args = parser.parse_args(argv)
    checks = grader_report(args.root, tuple(args.tasks))
    print(format_table(checks))
    outside = [c for c in checks if c.difference is None or abs(c.difference) > args.tolerance]
    print(f"\n{len(checks) - len(outside)}/{len(checks)} within {args.tolerance} points of ZeroEval.")
    return 0 if not outside else 1


if __name__ == "__main__":
    sys.exit(main())
