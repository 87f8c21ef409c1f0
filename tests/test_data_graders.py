"""Answer extraction and graders, on answer formats copied from the ZeroEval responses."""

from __future__ import annotations

import pytest

from consroute_hf.data import answers_agree, extract_answer, grade, grade_crux, grade_gsm, grade_math

# (prediction as extracted, ZeroEval gold answer, expected) - gsm answers as the models wrote them.
GSM_CASES = [
    ("18", "# 18", True),
    ("5.00", "# 5", True),
    ("$120", "# 120", True),
    ("$14.00", "# 14", True),
    ("$224,000", "# 224000", True),
    ("60,000", "# 60000", True),
    ("6600", "# 6,600", True),
    ("50%", "# 50", True),
    ("14 boxes", "# 14", True),
    ("15000 + 5000 = 20000", "# 20000", True),
    ("15 * (2/3) = 10", "# 10", True),
    ("2000 / 10 = 200 bags, 200 bags * $5/bag = $1000", "# 1000", True),
    ("7 * 3 + 1 = 22", "# 26", False),
    ("0.081", "# 81", False),
    ("2.67", "# 2", False),
    ("21,600", "# 43200", False),
    ("Cannot be determined with the given information", "# 26", False),
    (None, "# 18", False),
]

MATH_CASES = [
    ("\\frac{9}{1}", "9", True),
    ("17,700", "17700", True),
    ("10.0", "10", True),
    ("1112112_3", "1112112_3", True),
    ("1121121_3", "1112112_3", False),
    ("4\\sqrt{77}", "28", False),
    ("225√2", "240", False),
    ("305/3", "15", False),
    ("-2.0176", "-2", False),
    ("___", "254", False),
    ("Not possible", "19", False),
    # LaTeX forms of the MATH answer key.
    ("\\boxed{\\dfrac{1}{2}}", "\\frac12", True),
    ("0.5", "\\frac{1}{2}", True),
    ("1/2", "\\tfrac{1}{2}", True),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})", True),
    ("[-2, 5)", "[-2,5)", True),
    ("(-2,5)", "[-2,5)", False),
    ("90^\\circ", "90", True),
    ("\\text{(C)}", "(C)", True),
    ("2\\sqrt{3}", "\\sqrt{12}", True),
    ("x^2+2x+1", "(x+1)^2", True),
    ("5 \\text{ cm}", "5", True),
    ("x = 5", "5", True),
    ("2\\sqrt{3}", "2", False),
]

CRUX_CASES = [
    ("'GENERAL NAGOOR'", "'GENERAL NAGOOR'", True),
    ("28in", "'2nm_28in'", False),
    ("28in", "'28in'", True),  # unquoted string answer
    ('{"l": 1, "t": 2}', "{'l': 1, 't': 2}", True),  # quoting style
    ('""', "''", True),
    ("", "''", True),  # "answer": "" is the empty string
    ('"     7     "', "'     7     '", True),
    ("8.50", "8.5", True),
    ("19", "7", False),
    ("[ [1, 2, 3], [], [1, 2, 3] ]", "[[1, 2, 3], [], [1, 2, 3]]", True),
    ("('a', 123), ('b', 456)", "(('a', 123), ('b', 456))", True),
    ("[0, 'xxxxxxxxxxxxxxxxxx']", "(0, 'xxxxxxxxxxxxxxxxxx')", False),  # list is not tuple
    ("1", "True", False),  # int is not bool
    ("True", "True", True),
    ("{}", "{'l': 1, 't': 2}", False),
    ("assert f('a') == 'b'", "'b'", True),
    ("b'111; 115; 124; '", "b'111; 115; 124; '", True),
]


@pytest.mark.parametrize(("prediction", "reference", "expected"), GSM_CASES)
def test_grade_gsm(prediction, reference, expected):
    assert grade_gsm(prediction, reference) is expected
    assert grade("gsm", prediction, reference) is expected


@pytest.mark.parametrize(("prediction", "reference", "expected"), MATH_CASES)
def test_grade_math(prediction, reference, expected):
    assert grade_math(prediction, reference) is expected
    assert grade("math-l5", prediction, reference) is expected


@pytest.mark.parametrize(("prediction", "reference", "expected"), CRUX_CASES)
def test_grade_crux(prediction, reference, expected):
    assert grade_crux(prediction, reference) is expected
    assert grade("crux", prediction, reference) is expected


def test_grade_rejects_unknown_task():
    with pytest.raises(ValueError, match="No grader for task 'mmlu'"):
        grade("mmlu", "A", "A")


# Response endings copied from the data (Gemma 2 and Llama 3.1 outputs).
EXTRACTION_CASES = [
    ('```json\n{\n    "reasoning": "9 eggs * $2/egg = $18. \\n",\n    "answer": "18"\n}\n```', "18"),
    ('{\n  "reasoning": "the number of possible values of $n$ is 6.",\n  "answer": "6"\n}', "6"),
    # a period after the closing quote breaks the JSON
    ('```json\n{\n    "reasoning": "the assertion should be `f({}) == {}`.",\n    "answer": "{}".\n}\n```', "{}"),
    # unescaped LaTeX: "\f" parses as a form feed, "\s" does not parse at all
    ('{"reasoning": "r", "answer": "\\frac{1}{2}"}', "\\frac{1}{2}"),
    ('{"reasoning": "r", "answer": "2\\sqrt{3}"}', "2\\sqrt{3}"),
    ('```json\n{\n    "reasoning": "x",\n    "answer": 42\n}\n```', "42"),
    ('{"reasoning": "x", "answer": [1, 2]}', "[1, 2]"),
    ('{"reasoning": "x", "answer": true}', "True"),
    ('```json\n{\n    "reasoning": "an empty string.",\n    "answer": ""\n}\n```', ""),
    ('"reasoning": "cut off", "answer": "12', "12"),
    ("Therefore, the final answer is: $\\boxed{36}$", "36"),
    ("The sum of all integers that satisfy the given conditions is -171 + 171 - 14 = -14. However, this is not the correct answer.", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), EXTRACTION_CASES)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_answers_agree_across_formats():
    assert answers_agree("$1,000", "1000")
    assert answers_agree("\\frac{1}{2}", "0.5")
    assert answers_agree('{"a": 1}', "{'a': 1}")
    assert not answers_agree("[1, 2]", "(1, 2)")
    assert not answers_agree("18", "19")
    assert not answers_agree(None, "18")


def test_math_grader_never_evaluates_code_in_answers(tmp_path):
    marker = tmp_path / "ran"
    answer = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    assert grade_math(answer, "1") is False
    assert not marker.exists()
