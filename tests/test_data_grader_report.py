"""The grader report against ZeroEval summary files, on fixture files."""

from __future__ import annotations

import json

from test_data_loaders import _response, write_zeroeval

from consroute_hf.data.grader_report import format_table, grader_report, main, summary_names


def test_summary_names_cover_zeroeval_renames():
    assert "Llama-3.1-405B-Inst@hyperbolic" in summary_names("Meta-Llama-3.1-405B-Instruct@hyperbolic")
    assert "gemma-2-27b-it" in summary_names("gemma-2-27b-it@together")


def test_grader_report_compares_with_the_summary(tmp_path, capsys):
    records = [(f"g{i}", f"Q{i}", _response(str(i))) for i in range(4)]
    write_zeroeval(tmp_path, "gsm", "gemma-2-27b-it@together", records, {"g0": "# 0", "g1": "# 1", "g2": "# 5", "g3": "# 5"})
    (tmp_path / "gsm.summary.json").write_text(json.dumps([{"Model": "gemma-2-27b-it", "Mode": "greedy", "Acc": "50.00"}]))
    (check,) = grader_report(tmp_path, tasks=("gsm",), models=("gemma-2-27b-it",))
    assert (check.file_stem, check.total, check.accuracy, check.zeroeval_accuracy) == ("gemma-2-27b-it@together", 4, 50.0, 50.0)
    assert "| gsm | gemma-2-27b-it@together | 4 | 0 | 50.00 | 50.00 | +0.00 |" in format_table([check])
    (tmp_path / "gsm.summary.json").write_text(json.dumps([{"Model": "gemma-2-27b-it", "Mode": "greedy", "Acc": "75.00"}]))
    assert main(["--root", str(tmp_path), "--tasks", "gsm"]) == 1  # 25 points off
    assert "0/1 within 1.5 points" in capsys.readouterr().out
