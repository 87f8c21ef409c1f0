"""Rule-based answer extraction and graders for GSM8K, MATH and CRUXEval responses.

The ZeroEval prompt asks every model for a JSON block ``{"reasoning": "...", "answer": "..."}``.
:func:`extract_answer` reads the ``answer`` field from it, falling back to malformed blocks
(unescaped LaTeX backslashes, unquoted values, missing closing brace) and to a final
``\\boxed{...}``. The graders compare an extracted answer with a gold answer:

* :func:`grade_gsm` - numbers (commas, currency, units, trailing ``.0``, percentages, fractions);
* :func:`grade_math` - LaTeX (``\\boxed``, ``\\frac``/``\\dfrac``/``a/b``, ``\\left(``, ``^\\circ``,
  ``\\text{}``, intervals and tuples), with sympy equivalence where both sides parse;
* :func:`grade_crux` - Python literals compared with ``ast.literal_eval`` and strict types
  (a tuple is not a list, ``True`` is not ``1``).
"""

from __future__ import annotations

import ast
import json
import math
import re
import warnings
from typing import Callable

__all__ = [
    "extract_answer",
    "extract_json_answer",
    "grade",
    "grade_gsm",
    "grade_math",
    "grade_crux",
    "answers_agree",
    "normalize_gsm_reference",
    "parse_number",
    "GRADERS",
]

_KEY_RE = re.compile(r"""["']?answer["']?\s*:\s*""", re.IGNORECASE)
_BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


# ---------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------


def _balanced_objects(text: str) -> list[str]:
    """Top-level ``{...}`` substrings of ``text`` in order (braces inside strings are ignored)."""
    objects, depth, start, in_string, escaped = [], 0, None, False, False
    for i, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"' and depth > 0:
            in_string = True
        elif char == "{":
            if depth == 0:
                start = i
            depth += 1
        elif char == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                objects.append(text[start : i + 1])
    return objects


def _value_to_text(value: object) -> str:
    """A JSON value as answer text: strings as they are, other values as Python literals."""
    if isinstance(value, str):
        return value
    return repr(value)


def extract_json_answer(text: str) -> str | None:
    """The ``answer`` field of the first JSON object in ``text`` that parses and has one, else None."""
    for candidate in _balanced_objects(text):
        try:
            parsed = json.loads(candidate, strict=False)
        except json.JSONDecodeError:
            continue
        if isinstance(parsed, dict) and "answer" in parsed:
            # json turns an unescaped "\frac" into a form feed + "rac": restore such LaTeX.
            return _restore_latex_escapes(_value_to_text(parsed["answer"]))
    return None


def _restore_latex_escapes(text: str) -> str:
    return (
        text.replace("\x0c", "\\f").replace("\x08", "\\b").replace("\r", "\\r")
        .replace("\t", "\\t").replace("\x0b", "\\v")
    )


def _read_quoted(text: str, start: int) -> str | None:
    """The string value starting after the opening quote at ``start - 1``, up to the closing quote
    that is followed by ``,`` / ``}`` / end of text (unescaped quotes inside are kept)."""
    quote = text[start - 1]
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in (quote, "\\"):
            i += 2
            continue
        if char == quote:
            # A closing quote ends its line apart from punctuation, or is followed by "," / "}".
            if re.match(r"[ \t.;]*(?:$|\n|[,}`])", text[i + 1 :]):
                raw = text[start:i]
                return raw.replace("\\" + quote, quote).replace("\\\\", "\\")
        i += 1
    return None


def _regex_answer(text: str) -> str | None:
    """The ``answer`` value of a malformed block: quoted (broken escapes allowed) or bare."""
    matches = list(_KEY_RE.finditer(text))
    for match in reversed(matches):
        start = match.end()
        if start >= len(text):
            continue
        if text[start] in "\"'":
            value = _read_quoted(text, start + 1)
            if value is not None:
                return value
            # No closing quote where one belongs: up to the line's last quote, or the whole line
            # when the output was cut off.
            line = text[start + 1 :].split("\n", 1)[0]
            quote = text[start]
            value = line[: line.rindex(quote)] if quote in line else line.rstrip().rstrip('"}`,')
            value = value.strip()
            if value:
                return value
            continue
        bare = re.match(r"([^\n}]*)", text[start:]).group(1).strip().rstrip(",").strip()
        if bare:
            return bare
    return None


def _last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (balanced braces), else None."""
    matches = list(_BOXED_RE.finditer(text))
    if not matches:
        return None
    start = matches[-1].end()
    depth = 1
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start:i]
    return None


def extract_answer(text: str | None) -> str | None:
    """The final answer of a response, or None when it has none.

    Order: the ``answer`` field of the first JSON object that parses; the ``answer`` field of a
    malformed block (read with a tolerant pattern); the last ``\\boxed{...}``. Surrounding
    whitespace is stripped. A well-formed block whose answer is ``""`` gives ``""`` (in CRUXEval the
    empty string is a real answer); blank values of malformed blocks count as no answer.
    """
    if not text:
        return None
    json_answer = extract_json_answer(text)
    if json_answer is not None:
        return json_answer.strip()
    for extractor in (_regex_answer, _last_boxed):
        answer = extractor(text)
        if answer is not None and answer.strip():
            return answer.strip()
    return None


# ---------------------------------------------------------------------------------------------
# GSM8K
# ---------------------------------------------------------------------------------------------


def parse_number(text: str) -> float | None:
    """A number written as ``1,234``, ``$18.00``, ``25%``, ``3/4``, ``-7``, ``1.5e3``; else None."""
    cleaned = text.strip().replace(",", "").replace("$", "").replace("\\%", "").replace("%", "")
    cleaned = cleaned.replace("\\$", "").strip().rstrip(".")
    try:
        value = float(cleaned)
    except ValueError:
        fraction = re.fullmatch(r"(-?\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)", cleaned)
        if not fraction or float(fraction.group(2)) == 0:
            return None
        value = float(fraction.group(1)) / float(fraction.group(2))
    return value if math.isfinite(value) else None


def normalize_gsm_reference(reference: str) -> str:
    """The number of a GSM8K gold answer: ``"# 18"`` -> ``"18"``; a full solution ``"... #### 18"`` too."""
    return reference.split("#")[-1].strip()


def _gsm_prediction_number(prediction: str) -> float | None:
    text = prediction.strip()
    text = re.sub(r"\\boxed\{([^{}]*)\}", r"\1", text)
    text = re.sub(r"\\text\{([^{}]*)\}", r"\1", text)
    text = re.sub(r"\\frac\{(-?[\d.]+)\}\{([\d.]+)\}", r"\1/\2", text)
    whole = parse_number(text)
    if whole is not None:
        return whole
    cleaned = text.replace(",", "").replace("$", "")
    if "=" in cleaned:  # "5 * 3 = 15": the result follows the last "="
        cleaned = cleaned.rsplit("=", 1)[1]
    fraction = re.search(r"-?\d+(?:\.\d+)?\s*/\s*\d+(?:\.\d+)?", cleaned)
    number = _NUMBER_RE.search(cleaned)
    if fraction and number and fraction.start() == number.start():
        return parse_number(fraction.group())
    return float(number.group()) if number else None


def grade_gsm(prediction: str | None, reference: str) -> bool:
    """True when the prediction's number equals the gold number (relative tolerance 1e-6).

    The prediction's number is the whole answer when it parses (``"$1,234.00"``, ``"25%"``,
    ``"3/4"``), else the number after the last ``=``, else the first number (``"18 dollars"``).
    """
    if prediction is None:
        return False
    gold = parse_number(normalize_gsm_reference(reference))
    predicted = _gsm_prediction_number(prediction)
    if gold is None or predicted is None:
        return False
    return math.isclose(predicted, gold, rel_tol=1e-6, abs_tol=1e-9)


# ---------------------------------------------------------------------------------------------
# MATH
# ---------------------------------------------------------------------------------------------

_TEXT_COMMANDS = re.compile(r"\\(?:text|textbf|mathrm|mathbf|textit|operatorname|mbox)\s*\{([^{}]*)\}")
_UNIT_WORDS = re.compile(
    r"\s*(?:units?|square units|sq units|degrees?|cm|meters?|inches|inch|feet|foot|miles?|dollars?|cents?|"
    r"hours?|minutes?|seconds?|days?|ways|people|points?)\s*(?:\^?\{?2\}?)?$",
    re.IGNORECASE,
)


def _strip_outer_boxed(text: str) -> str:
    boxed = _last_boxed(text)
    return boxed if boxed is not None else text


def normalize_math(answer: str) -> str:
    """A canonical string for a LaTeX answer (used for exact comparison before sympy)."""
    text = _restore_latex_escapes(answer).strip()
    text = _strip_outer_boxed(text)
    text = text.replace("\\$", "").replace("$", "").replace("\n", " ")
    text = re.sub(r"\\[\[\]()]", "", text)  # \( \) \[ \] math delimiters
    for _ in range(3):
        text = _TEXT_COMMANDS.sub(r"\1", text)
    text = re.sub(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|°|\\degree", "", text)
    text = text.replace("\\left", "").replace("\\right", "").replace("\\!", "").replace("\\,", "")
    text = text.replace("\\;", "").replace("\\:", "").replace("\\ ", "").replace("~", "")
    text = re.sub(r"\\[dt]frac", r"\\frac", text)
    text = text.replace("\\displaystyle", "").replace("\\%", "").replace("%", "")
    text = text.replace("\\le ", "\\leq ").replace("\\ge ", "\\geq ").replace("\\dots", "\\ldots")
    text = _UNIT_WORDS.sub("", text)
    text = text.strip().rstrip(".").strip()
    # "x = 5", "k=3": keep the value when a single variable is named on the left.
    assignment = re.fullmatch(r"[a-zA-Z](?:_\w|_\{\w+\})?\s*=\s*(.+)", text)
    if assignment and "=" not in assignment.group(1):
        text = assignment.group(1)
    text = re.sub(r"\s+", "", text)
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)  # thousands separators
    text = re.sub(r"(\d+)\.0+(?!\d)", r"\1", text)  # "5.0" -> "5"
    text = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", text)  # \frac12
    text = re.sub(r"\\frac\{([^{}]+)\}(\d)", r"\\frac{\1}{\2}", text)
    text = re.sub(r"\\sqrt(\d+|[a-zA-Z])", r"\\sqrt{\1}", text)
    return text


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _latex_to_sympy_source(text: str) -> str:
    """Rewrite simple LaTeX into sympy source (fractions, roots, pi, powers, products)."""
    source = text
    for _ in range(5):  # nested \frac / \sqrt
        source = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"((\1)/(\2))", source)
        source = re.sub(r"\\sqrt\[([^{}\]]*)\]\{([^{}]*)\}", r"((\2)**(1/(\1)))", source)
        source = re.sub(r"\\sqrt\{([^{}]*)\}", r"sqrt(\1)", source)
    replacements = {
        "\\pi": "pi", "\\cdot": "*", "\\times": "*", "\\div": "/", "^": "**", "{": "(", "}": ")",
        "\\infty": "oo", "\\ln": "log", "\\log": "log", "\\sin": "sin", "\\cos": "cos", "\\tan": "tan",
        "\\exp": "exp",
    }
    for latex, python in replacements.items():
        source = source.replace(latex, python)
    return source


_SYMPY_WORDS = {"sqrt", "pi", "oo", "log", "sin", "cos", "tan", "exp"}


def _to_sympy(text: str):
    source = _latex_to_sympy_source(text)
    # parse_expr evaluates Python: only arithmetic on numbers, single-letter symbols and known functions.
    if len(text) > 80 or not re.fullmatch(r"[0-9a-zA-Z+\-*/().\s]*", source):
        return None
    if any(len(word) > 1 and word not in _SYMPY_WORDS for word in re.findall(r"[a-zA-Z]+", source)):
        return None
    from sympy.parsing.sympy_parser import (
        convert_xor, implicit_multiplication_application, parse_expr, standard_transformations,
    )

    try:
        return parse_expr(
            source,
            transformations=standard_transformations + (implicit_multiplication_application, convert_xor),
            evaluate=True,
        )
    except Exception:  # sympy raises many kinds of errors on text that is not an expression
        return None


def _sympy_equal(left: str, right: str) -> bool:
    import sympy

    a, b = _to_sympy(left), _to_sympy(right)
    if a is None or b is None:
        return False
    try:
        if not getattr(a, "free_symbols", True) and not getattr(b, "free_symbols", True):
            va, vb = complex(sympy.N(a)), complex(sympy.N(b))
            return abs(va - vb) <= 1e-6 * max(1.0, abs(vb))
        return bool(sympy.simplify(a - b) == 0)
    except Exception:  # non-numeric objects (sets, relations) or failed simplification
        return False


def _math_equal(prediction: str, reference: str) -> bool:
    if prediction == reference:
        return True
    pred_parts, ref_parts = _split_top_level(prediction), _split_top_level(reference)
    if len(pred_parts) > 1 or len(ref_parts) > 1:
        # Bare lists "1,2,3" are compared as sets; tuples/intervals keep order and brackets.
        if len(pred_parts) != len(ref_parts):
            return False
        return sorted(pred_parts) == sorted(ref_parts) or all(
            _math_equal(p, r) for p, r in zip(sorted(pred_parts), sorted(ref_parts))
        )
    bracket = re.fullmatch(r"([(\[])(.*)([)\]])", prediction), re.fullmatch(r"([(\[])(.*)([)\]])", reference)
    if bracket[0] and bracket[1]:
        (po, pi, pc), (ro, ri, rc) = bracket[0].groups(), bracket[1].groups()
        if (po, pc) != (ro, rc):
            return False
        pred_items, ref_items = _split_top_level(pi), _split_top_level(ri)
        return len(pred_items) == len(ref_items) and all(_math_equal(p, r) for p, r in zip(pred_items, ref_items))
    return _sympy_equal(prediction, reference)


def grade_math(prediction: str | None, reference: str) -> bool:
    """True when the LaTeX prediction equals the LaTeX reference after normalisation, or
    sympy finds them equal (numerically for constants, ``simplify(a - b) == 0`` otherwise)."""
    if prediction is None:
        return False
    return _math_equal(normalize_math(prediction), normalize_math(reference))


# ---------------------------------------------------------------------------------------------
# CRUXEval
# ---------------------------------------------------------------------------------------------

_NOT_PARSED = object()


def _literal(text: str) -> object:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)  # e.g. "invalid decimal literal"
            return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _NOT_PARSED


def _strict_equal(a: object, b: object) -> bool:
    """``a == b`` with exact types at every level (tuple != list, True != 1, 1.0 != 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_strict_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_strict_equal(a[k], b[k]) for k in a)
    if isinstance(a, (set, frozenset)):
        return a == b
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


def _crux_prediction_value(prediction: str) -> object:
    text = prediction.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("python").strip()
    assertion = re.fullmatch(r"(?:assert\s+)?f\(.*\)\s*==\s*(.+)", text, re.DOTALL)
    if assertion:
        text = assertion.group(1).strip()
    value = _literal(text)
    if value is _NOT_PARSED:
        return text  # an unquoted string answer: "28in" means '28in'
    return value


def grade_crux(prediction: str | None, reference: str) -> bool:
    """True when the predicted Python value equals the gold literal with the same types.

    The prediction is read with ``ast.literal_eval`` (so ``"hello"`` and ``'hello'`` are the same
    string); text that is no literal is taken as an unquoted string. ``assert f(...) == X`` keeps ``X``.
    """
    if prediction is None:
        return False
    gold = _literal(reference)
    if gold is _NOT_PARSED:
        return prediction.strip() == reference.strip()
    return _strict_equal(_crux_prediction_value(prediction), gold)


def answers_agree(a: str | None, b: str | None) -> bool:
    """Task-agnostic equivalence of two extracted answers (None on either side: False).

    Equal when the stripped texts match, when both are numbers that are equal, when both are
    Python literals that are strictly equal, or when their LaTeX forms are equal (sympy included).
    """
    if a is None or b is None:
        return False
    a, b = a.strip(), b.strip()
    if a == b:
        return True
    number_a, number_b = parse_number(a), parse_number(b)
    if number_a is not None and number_b is not None:
        return math.isclose(number_a, number_b, rel_tol=1e-6, abs_tol=1e-9)
    literal_a, literal_b = _literal(a), _literal(b)
    if literal_a is not _NOT_PARSED and literal_b is not _NOT_PARSED:
        return _strict_equal(literal_a, literal_b)
    return _math_equal(normalize_math(a), normalize_math(b))


#: Task name -> grader(prediction, reference) -> bool. ZeroEval's folder names are the keys.
GRADERS: dict[str, Callable[[str | None, str], bool]] = {
    "gsm": grade_gsm,
    "math-l5": grade_math,
    "math": grade_math,
    "crux": grade_crux,
}


def grade(task: str, prediction: str | None, reference: str) -> bool:
    """Grade an extracted answer (``None`` = no answer, always wrong) against the gold answer."""
    if task not in GRADERS:
        raise ValueError(f"No grader for task {task!r}; known tasks: {sorted(GRADERS)}.")
    return GRADERS[task](prediction, reference)
