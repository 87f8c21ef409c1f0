"""Load multi-tier responses (ZeroEval result files, JSONL, Hub datasets) into one aligned Dataset.

Every loader returns a ``datasets.Dataset`` with one row per query and the columns ``id``, ``task``,
``query``, ``reference`` (str or None) and ``response_<tier>`` for each tier. Rows are joined by id
across the tiers' files; ids missing from a tier, duplicated within a tier, with an empty response,
or whose query text differs between tiers are counted in an :class:`AlignmentReport`. With
``on_missing="error"`` (default) any such id raises :class:`DataAlignmentError`; with
``on_missing="drop"`` those ids are dropped with a warning.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import datasets

logger = logging.getLogger(__name__)

ON_MISSING_CHOICES = ("error", "drop")
DEFAULT_TASKS = ("gsm", "math-l5", "crux")
ZEROEVAL_HINT = (
    "Get ZeroEval's result files with `git clone https://github.com/yuchenlin/ZeroEval` "
    "(folder result_dirs/) and point data.root (or $CONSROUTE_DATA, or --data) at that folder."
)


class DataAlignmentError(ValueError):
    """Tier files do not line up (missing, duplicated, empty or mismatched entries)."""


@dataclass
class TierRecord:
    """One tier's answer to one query, as read from a file."""

    id: str
    query: str
    response: str
    reference: str | None = None


@dataclass
class AlignmentReport:
    """Problems found while joining tiers by id: problem kind -> tier -> ids."""

    missing: dict[str, list[str]] = field(default_factory=dict)
    duplicate: dict[str, list[str]] = field(default_factory=dict)
    empty: dict[str, list[str]] = field(default_factory=dict)
    mismatched_query: dict[str, list[str]] = field(default_factory=dict)

    def kinds(self) -> dict[str, dict[str, list[str]]]:
        return {
            "missing": self.missing, "duplicate": self.duplicate, "empty": self.empty,
            "mismatched query": self.mismatched_query,
        }

    @property
    def bad_ids(self) -> set[str]:
        return {i for by_tier in self.kinds().values() for ids in by_tier.values() for i in ids}

    def merge(self, other: "AlignmentReport", prefix: str = "") -> None:
        for name in ("missing", "duplicate", "empty", "mismatched_query"):
            mine, theirs = getattr(self, name), getattr(other, name)
            for tier, ids in theirs.items():
                mine.setdefault(tier, []).extend(f"{prefix}{i}" for i in ids)

    def summary(self, examples: int = 3) -> str:
        parts = []
        for kind, by_tier in self.kinds().items():
            for tier, ids in by_tier.items():
                if ids:
                    parts.append(f"{len(ids)} {kind} in tier {tier!r} (e.g. {ids[:examples]})")
        return "; ".join(parts) if parts else "no problems"


def _check_on_missing(on_missing: str) -> None:
    if on_missing not in ON_MISSING_CHOICES:
        raise ValueError(f"on_missing must be one of {ON_MISSING_CHOICES}, got {on_missing!r}.")


def join_tiers(
    per_tier: Mapping[str, Iterable[TierRecord]], on_missing: str = "error", source: str = "data",
) -> tuple[list[dict[str, Any]], AlignmentReport]:
    """Join tier records by id.

    Args:
        per_tier: tier name -> its records, tiers in routing order (the last is the reference tier).
        on_missing: ``"error"`` raises on any problem; ``"drop"`` drops the ids concerned and warns.
        source: what was read, for messages.

    Returns:
        rows (``id``, ``query``, ``reference``, ``response_<tier>``) in first-seen order, and the report.
    """
    _check_on_missing(on_missing)
    tiers = list(per_tier)
    if not tiers:
        raise ValueError("At least one tier is needed.")
    report = AlignmentReport()
    by_tier: dict[str, dict[str, TierRecord]] = {}
    order: dict[str, None] = {}
    for tier in tiers:
        seen: dict[str, TierRecord] = {}
        for record in per_tier[tier]:
            order.setdefault(record.id, None)
            if record.id in seen:
                report.duplicate.setdefault(tier, []).append(record.id)
                continue
            seen[record.id] = record
            if not record.response or not record.response.strip():
                report.empty.setdefault(tier, []).append(record.id)
        by_tier[tier] = seen
    for tier in tiers:
        missing = [i for i in order if i not in by_tier[tier]]
        if missing:
            report.missing[tier] = missing
    first = tiers[0]
    for tier in tiers[1:]:
        mismatched = [
            i for i, record in by_tier[tier].items()
            if i in by_tier[first] and record.query.strip() != by_tier[first][i].query.strip()
        ]
        if mismatched:
            report.mismatched_query[tier] = mismatched
    bad = report.bad_ids
    if bad:
        message = f"{source}: {len(bad)} of {len(order)} ids cannot be aligned across tiers {tiers}: {report.summary()}."
        if on_missing == "error":
            raise DataAlignmentError(message + " Fix the files, or set on_missing='drop' (recipe: data.on_missing: drop) to drop these ids.")
        logger.warning("%s Dropping them (on_missing='drop').", message)
    rows = []
    for record_id in order:
        if record_id in bad:
            continue
        records = [by_tier[t][record_id] for t in tiers]
        reference = next((r.reference for r in reversed(records) if r.reference is not None), None)
        row = {"id": record_id, "query": records[-1].query, "reference": reference}
        row.update({f"response_{t}": r.response for t, r in zip(tiers, records)})
        rows.append(row)
    return rows, report


def _rows_to_dataset(rows: list[dict[str, Any]], tiers: list[str]) -> datasets.Dataset:
    features = datasets.Features(
        {"id": datasets.Value("string"), "task": datasets.Value("string"), "query": datasets.Value("string"),
         "reference": datasets.Value("string"), **{f"response_{t}": datasets.Value("string") for t in tiers}}
    )
    columns = {name: [row.get(name) for row in rows] for name in features}
    return datasets.Dataset.from_dict(columns, features=features)


# ---------------------------------------------------------------------------------------------
# ZeroEval
# ---------------------------------------------------------------------------------------------


def _zeroeval_reference(task: str, answer: Any) -> str | None:
    if answer is None:
        return None
    text = str(answer)
    return text.split("#")[-1].strip() if task == "gsm" else text


def read_zeroeval_file(path: str | Path, task: str | None = None) -> list[TierRecord]:
    """Records of one ZeroEval result file (a JSON list; see ../shared/data/README.md).

    The query is ``question`` (``problem`` in math-l5), the response is ``output[0]``, the
    reference is ``answer`` (for gsm, the number after ``#``). ``task`` defaults to the folder name.
    """
    path = Path(path)
    task = task or path.parent.name
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); expected ZeroEval's result format.") from error
    if not isinstance(records, list):
        raise ValueError(f"{path} must hold a JSON list of result records, got {type(records).__name__}.")
    out = []
    for index, record in enumerate(records):
        if "id" not in record:
            raise ValueError(f"{path}: record {index} has no `id` field.")
        query = record.get("question", record.get("problem"))
        if query is None:
            raise ValueError(f"{path}: record {record['id']!r} has neither `question` nor `problem`.")
        output = record.get("output") or [""]
        response = output[0] if isinstance(output, list) else output
        out.append(TierRecord(str(record["id"]), str(query), response or "", _zeroeval_reference(task, record.get("answer"))))
    return out


def _tier_file_stem(tiers: Mapping[str, str | Mapping[str, str]], tier: str, task: str) -> str:
    spec = tiers[tier]
    if isinstance(spec, str):
        return spec
    if task not in spec:
        raise ValueError(f"Tier {tier!r} names no file for task {task!r}; add `{task}: <file stem>` under data.tier_files.{tier}.")
    return spec[task]


def load_zeroeval(
    root: str | Path,
    tiers: Mapping[str, str | Mapping[str, str]],
    tasks: Iterable[str] = DEFAULT_TASKS,
    on_missing: str = "error",
) -> datasets.Dataset:
    """Read ZeroEval result files of several tiers and join them by id.

    Args:
        root: ZeroEval's ``result_dirs`` folder (holding ``<task>/<model>.json``).
        tiers: tier -> file stem, or tier -> {task: file stem}, in routing order (last = reference).
        tasks: task folders to read.
        on_missing: ``"error"`` or ``"drop"`` for misaligned ids (see module docstring).

    Returns:
        Dataset with ``id`` (``"<task>/<zeroeval id>"``), ``task``, ``query``, ``reference``, ``response_<tier>``.
    """
    _check_on_missing(on_missing)
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"ZeroEval data root {root} does not exist. {ZEROEVAL_HINT}")
    tier_names, tasks = list(tiers), list(tasks)
    stems = {(tier, task): _tier_file_stem(tiers, tier, task) for task in tasks for tier in tier_names}
    rows: list[dict[str, Any]] = []
    total = AlignmentReport()
    for task in tasks:
        per_tier = {}
        for tier in tier_names:
            path = root / task / f"{stems[tier, task]}.json"
            if not path.is_file():
                raise FileNotFoundError(f"Missing ZeroEval result file {path} (tier {tier!r}, task {task!r}). {ZEROEVAL_HINT}")
            per_tier[tier] = read_zeroeval_file(path, task)
        task_rows, report = join_tiers(per_tier, on_missing, source=f"{root}/{task}")
        total.merge(report, prefix=f"{task}/")
        for row in task_rows:
            row["id"] = f"{task}/{row['id']}"
            row["task"] = task
        rows.extend(task_rows)
    if not rows:
        raise DataAlignmentError(f"No aligned rows in {root} for tasks {list(tasks)} ({total.summary()}).")
    dataset = _rows_to_dataset(rows, tier_names)
    logger.info("Loaded %d queries from %s (%s).", len(dataset), root, total.summary())
    return dataset


# ---------------------------------------------------------------------------------------------
# JSONL and Hub
# ---------------------------------------------------------------------------------------------


def _record_from_mapping(row: Mapping[str, Any], tier: str, index: int, where: str) -> TierRecord | None:
    """A tier's record from a user row: ``responses: {tier: text}`` or a ``response_<tier>`` field."""
    if "query" not in row:
        raise ValueError(f"{where}: row {index} has no `query` field.")
    responses = row.get("responses")
    if isinstance(responses, Mapping):
        if tier not in responses:
            return None
        response = responses[tier]
    elif f"response_{tier}" in row:
        response = row[f"response_{tier}"]
    else:
        return None
    record_id = str(row["id"]) if row.get("id") is not None else str(index)
    reference = row.get("reference")
    return TierRecord(record_id, str(row["query"]), "" if response is None else str(response),
                      None if reference is None else str(reference))


def _rows_from_mappings(rows: Iterable[Mapping[str, Any]], tiers: list[str], on_missing: str, where: str) -> datasets.Dataset:
    rows = list(rows)
    per_tier = {t: [r for i, row in enumerate(rows) if (r := _record_from_mapping(row, t, i, where)) is not None] for t in tiers}
    all_ids = [str(row["id"]) if row.get("id") is not None else str(i) for i, row in enumerate(rows)]
    tasks: dict[str, str] = {}
    for record_id, row in zip(all_ids, rows):
        tasks.setdefault(record_id, str(row.get("task") or "default"))
    with_response = {r.id for records in per_tier.values() for r in records}
    no_response = [i for i in dict.fromkeys(all_ids) if i not in with_response]
    if no_response:
        message = f"{where}: {len(no_response)} rows hold no response for any tier {tiers} (e.g. {no_response[:3]})."
        if on_missing == "error":
            raise DataAlignmentError(message + " Fix the file, or set on_missing='drop' to skip them.")
        logger.warning("%s Dropping them.", message)
    joined_rows, _ = join_tiers(per_tier, on_missing, source=where)
    for row in joined_rows:
        row["task"] = tasks[row["id"]]
    if not joined_rows:
        raise DataAlignmentError(f"{where}: no rows with responses for all tiers {tiers}.")
    return _rows_to_dataset(joined_rows, tiers)


def load_responses_jsonl(path: str | Path, tiers: list[str], on_missing: str = "error") -> datasets.Dataset:
    """Read a JSONL file, one object per query.

    Each object holds ``query``, optional ``id`` (default: line number), optional ``task`` and
    ``reference``, and each tier's response either as ``"responses": {"<tier>": "..."}`` or as
    ``"response_<tier>": "..."``. ``tiers`` is the routing order (the last is the reference tier).
    """
    _check_on_missing(on_missing)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Responses file {path} does not exist.")
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{line_number} is not a JSON object ({error}).") from error
    return _rows_from_mappings(rows, list(tiers), on_missing, str(path))


def load_hub_responses(
    name: str, tiers: list[str], split: str = "train", on_missing: str = "error", **load_kwargs: Any,
) -> datasets.Dataset:
    """Read a Hub dataset (``datasets.load_dataset(name, split=split, **load_kwargs)``) whose rows
    follow the JSONL layout of :func:`load_responses_jsonl`."""
    _check_on_missing(on_missing)
    raw = datasets.load_dataset(name, split=split, **load_kwargs)
    return _rows_from_mappings(raw, list(tiers), on_missing, f"hub:{name}[{split}]")
