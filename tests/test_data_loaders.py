"""Loaders on small fixture files in ZeroEval's and the JSONL layout, including every misalignment case."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from consroute_hf.data import DataAlignmentError, load_responses_jsonl, load_zeroeval


def _response(answer: str) -> str:
    return f'```json\n{{\n    "reasoning": "step",\n    "answer": "{answer}"\n}}\n```'


def write_zeroeval(root: Path, task: str, stem: str, records: list[tuple[str | int, str, str]], gold: dict | None = None) -> None:
    """records: (id, question, response); math-l5 uses `problem` and integer ids like ZeroEval."""
    gold = gold or {}
    question_key = "problem" if task == "math-l5" else "question"
    rows = [
        {"id": rid, question_key: question, "answer": gold.get(rid, "# 1" if task == "gsm" else "1"),
         "output": [response] if response is not None else [], "generator": stem, "dataset": task}
        for rid, question, response in records
    ]
    (root / task).mkdir(parents=True, exist_ok=True)
    (root / task / f"{stem}.json").write_text(json.dumps(rows))


TIERS = {"device": "small", "edge": "mid", "cloud": {"gsm": "big@together", "math-l5": "big"}}


@pytest.fixture()
def zeroeval_root(tmp_path):
    root = tmp_path / "result_dirs"
    gold = {"g0": "# 18", "g1": "# 1,000"}
    for stem, answers in [("small", ["18", "999"]), ("mid", ["18", "1000"]), ("big@together", ["17", "1000"])]:
        write_zeroeval(root, "gsm", stem, [("g0", "Q0", _response(answers[0])), ("g1", "Q1", _response(answers[1]))], gold)
    for stem in ("small", "mid", "big"):
        write_zeroeval(root, "math-l5", stem, [(0, "P0", _response("5")), (1, "P1", _response("\\\\frac{1}{2}"))], {0: "5", 1: "2"})
    return root


def test_load_zeroeval_joins_tiers_per_task(zeroeval_root):
    ds = load_zeroeval(zeroeval_root, TIERS, tasks=("gsm", "math-l5"))
    assert ds["id"] == ["gsm/g0", "gsm/g1", "math-l5/0", "math-l5/1"]
    assert ds["task"] == ["gsm", "gsm", "math-l5", "math-l5"]
    assert ds["query"] == ["Q0", "Q1", "P0", "P1"]
    assert ds["reference"] == ["18", "1,000", "5", "2"]  # gsm "# 18" -> "18"
    assert '"answer": "17"' in ds["response_cloud"][0]
    assert '"answer": "999"' in ds["response_device"][1]
    assert set(ds.column_names) == {"id", "task", "query", "reference", "response_device", "response_edge", "response_cloud"}


def test_load_zeroeval_missing_root_says_how_to_get_the_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="yuchenlin/ZeroEval"):
        load_zeroeval(tmp_path / "nowhere", TIERS, tasks=("gsm",))


def test_load_zeroeval_tier_without_file_for_task(zeroeval_root):
    with pytest.raises(ValueError, match="names no file for task 'crux'"):
        load_zeroeval(zeroeval_root, {"device": "small", "cloud": {"gsm": "big@together"}}, tasks=("crux",))


def _misaligned_root(tmp_path, cloud_records):
    root = tmp_path / "r"
    write_zeroeval(root, "gsm", "a", [("g0", "Q0", _response("1")), ("g1", "Q1", _response("2")), ("g2", "Q2", _response("3"))])
    write_zeroeval(root, "gsm", "b", cloud_records)
    return root


@pytest.mark.parametrize(
    ("cloud_records", "kind", "bad_id"),
    [
        ([("g0", "Q0", _response("1")), ("g2", "Q2", _response("3"))], "missing", "g1"),
        ([("g0", "Q0", _response("1")), ("g1", "Q1", _response("2")), ("g1", "Q1", _response("9")), ("g2", "Q2", _response("3"))], "duplicate", "g1"),
        ([("g0", "Q0", _response("1")), ("g1", "Q1", "   "), ("g2", "Q2", _response("3"))], "empty", "g1"),
        ([("g0", "Q0", _response("1")), ("g1", "Q1", None), ("g2", "Q2", _response("3"))], "empty", "g1"),  # output: []
        ([("g0", "Q0", _response("1")), ("g1", "another question", _response("2")), ("g2", "Q2", _response("3"))], "mismatched query", "g1"),
    ],
)
def test_misalignment_errors_by_default_and_drops_on_request(tmp_path, caplog, cloud_records, kind, bad_id):
    root = _misaligned_root(tmp_path, cloud_records)
    tiers = {"device": "a", "cloud": "b"}
    with pytest.raises(DataAlignmentError, match=f"1 {kind} in tier 'cloud'.*{bad_id}") as error:
        load_zeroeval(root, tiers, tasks=("gsm",))
    assert "on_missing" in str(error.value)
    with caplog.at_level(logging.WARNING):
        ds = load_zeroeval(root, tiers, tasks=("gsm",), on_missing="drop")
    assert ds["id"] == ["gsm/g0", "gsm/g2"]
    assert "Dropping" in caplog.text and kind in caplog.text


def test_id_only_in_a_later_tier_is_missing_from_the_first(tmp_path):
    root = tmp_path / "r"
    write_zeroeval(root, "gsm", "a", [("g0", "Q0", _response("1"))])
    write_zeroeval(root, "gsm", "b", [("g0", "Q0", _response("1")), ("g9", "Q9", _response("1"))])
    with pytest.raises(DataAlignmentError, match="1 missing in tier 'device'"):
        load_zeroeval(root, {"device": "a", "cloud": "b"}, tasks=("gsm",))


def test_on_missing_value_is_checked(zeroeval_root):
    with pytest.raises(ValueError, match="on_missing must be one of"):
        load_zeroeval(zeroeval_root, TIERS, tasks=("gsm",), on_missing="ignore")


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_load_responses_jsonl_both_layouts(tmp_path):
    path = _write_jsonl(tmp_path / "r.jsonl", [
        {"id": "a", "task": "gsm", "query": "q1", "reference": "3", "responses": {"small": "s1", "large": "l1"}},
        {"query": "q2", "response_small": "s2", "response_large": "l2"},
    ])
    ds = load_responses_jsonl(path, ["small", "large"])
    assert ds["id"] == ["a", "1"]
    assert ds["task"] == ["gsm", "default"]
    assert ds["reference"] == ["3", None]
    assert ds["response_small"] == ["s1", "s2"] and ds["response_large"] == ["l1", "l2"]


@pytest.mark.parametrize(
    ("rows", "kind"),
    [
        ([{"id": "a", "query": "q", "responses": {"small": "s"}}, {"id": "b", "query": "q2", "responses": {"small": "s", "large": "l"}}], "missing"),
        ([{"id": "a", "query": "q", "responses": {"small": "s", "large": ""}}, {"id": "b", "query": "q2", "responses": {"small": "s", "large": "l"}}], "empty"),
        ([{"id": "a", "query": "q", "responses": {"small": "s", "large": "l"}}, {"id": "a", "query": "q", "responses": {"small": "t", "large": "m"}},
          {"id": "b", "query": "q2", "responses": {"small": "s", "large": "l"}}], "duplicate"),
    ],
)
def test_load_responses_jsonl_misalignment(tmp_path, rows, kind):
    path = _write_jsonl(tmp_path / "r.jsonl", rows)
    with pytest.raises(DataAlignmentError, match=kind):
        load_responses_jsonl(path, ["small", "large"])
    assert load_responses_jsonl(path, ["small", "large"], on_missing="drop")["id"] == ["b"]


def test_load_responses_jsonl_row_without_any_response(tmp_path):
    path = _write_jsonl(tmp_path / "r.jsonl", [
        {"id": "a", "query": "q"}, {"id": "b", "query": "q2", "responses": {"small": "s", "large": "l"}},
    ])
    with pytest.raises(DataAlignmentError, match="no response for any tier"):
        load_responses_jsonl(path, ["small", "large"])
    assert load_responses_jsonl(path, ["small", "large"], on_missing="drop")["id"] == ["b"]


def test_load_responses_jsonl_bad_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"query": "q", "responses": {"a": "x"}}\nnot json\n')
    with pytest.raises(ValueError, match="r.jsonl:2 is not a JSON object"):
        load_responses_jsonl(path, ["a"])
