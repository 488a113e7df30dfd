"""Answer equivalence: a table of cases, and strictness against one-digit/sign perturbations."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from tracemint.verify import answers_equal, grade

DATA = Path(__file__).parent / "data"
NOT_TRUE = "not-true"  # False or None: anything but acceptance

CASES: list[tuple[str, str, object]] = [
    # integers, separators, signs
    ("18", "18", True),
    ("18", "18.0", True),
    ("12.0", "12", True),
    ("12.00", "12", True),
    ("+5", "5", True),
    ("-5", "5", False),
    ("5", "-5", False),
    ("-0", "0", True),
    ("007", "7", True),
    ("1,200", "1200", True),
    ("1,200,000", "1200000", True),
    ("1,234.5", "1234.5", True),
    ("1,20", "120", NOT_TRUE),
    ("1200", "1300", False),
    ("1201", "1200", False),
    ("18", "81", False),
    ("100", "1000", False),
    ("0", "0.0", True),
    ("five", "5", True),
    ("twelve", "12", True),
    ("six", "7", False),
    # decimals are exact
    ("0.5", "0.50", True),
    (".5", "0.5", True),
    ("3.14159", "3.14158", False),
    ("3.14159", "3.14159", True),
    ("2.5", "2.50", True),
    ("2.5", "2.05", False),
    ("1.5e3", "1500", True),
    ("0.1", "0.10000001", False),
    ("1.0000001", "1", False),
    ("-0.0000003", "0", False),
    # rounded decimals are never accepted
    ("0.333", "1/3", None),
    ("0.33", "\\frac{1}{3}", None),
    ("0.3", "1/3", None),
    ("0.34", "1/3", False),
    ("3.14", "\\pi", None),
    ("3.15", "\\pi", False),
    ("1.41", "\\sqrt{2}", None),
    ("0.66", "2/3", False),
    ("0.67", "2/3", None),
    # fractions
    ("0.5", "\\frac{1}{2}", True),
    ("0.5", "\\dfrac{1}{2}", True),
    ("0.5", "\\tfrac12", True),
    ("0.5", "1/2", True),
    ("1/2", "2/4", True),
    ("\\frac{3}{4}", "0.75", True),
    ("\\frac{3}{4}", "0.74", False),
    ("-\\frac{1}{2}", "\\frac{-1}{2}", True),
    ("-\\frac{1}{2}", "\\frac{1}{2}", False),
    ("\\frac{1}{-2}", "-0.5", True),
    ("\\frac{7}{2}", "3.5", True),
    ("\\frac{22}{7}", "\\frac{22}{9}", False),
    ("\\frac{1}{3}", "\\frac{2}{6}", True),
    ("1/3", "1/4", False),
    ("2\\frac{1}{2}", "2.5", None),
    # percentages: % is a unit on the number before it
    ("50%", "50", True),
    ("50\\%", "50", True),
    ("50 percent", "50%", True),
    ("50%", "0.5", False),
    ("50%", "51%", False),
    ("12.5%", "12.5", True),
    # currency and units
    ("$1,200", "1200", True),
    ("\\$1,200", "1200", True),
    ("$18.00", "18", True),
    ("18 dollars", "18", True),
    ("18 dollars", "$18", True),
    ("-$5", "-5", True),
    ("-$5", "5", False),
    ("5 cm", "5", True),
    ("5cm", "5", True),
    ("5 cm", "5 m", False),
    ("\\text{5 cm}", "5", True),
    ("5\\text{ cm}", "5", True),
    ("18 eggs", "18", True),
    ("10 hours", "10", True),
    ("10 hours", "10 minutes", False),
    ("90^\\circ", "90", True),
    ("90^{\\circ}", "90", True),
    ("5x", "5", False),
    ("5 or 6", "5", NOT_TRUE),
    # delimiters and boxes
    ("$18$", "18", True),
    ("\\(18\\)", "18", True),
    ("\\[18\\]", "18", True),
    ("\\boxed{18}", "18", True),
    ("$\\boxed{18}$", "18", True),
    ("18.", "18", True),
    ("x = 5", "5", True),
    ("x=5", "-5", False),
    ("**18**", "18", True),
    # LaTeX / symbolic
    ("\\sqrt{2}/2", "\\frac{\\sqrt{2}}{2}", True),
    ("\\frac{1}{\\sqrt{2}}", "\\frac{\\sqrt{2}}{2}", True),
    ("\\frac{\\sqrt{2}}{2}", "\\frac{\\sqrt{3}}{2}", False),
    ("\\frac{\\sqrt{2}}{2}", "-\\frac{\\sqrt{2}}{2}", False),
    ("2\\pi", "2 \\pi", True),
    ("2\\pi", "3\\pi", False),
    ("\\pi", "-\\pi", False),
    ("\\frac{\\pi}{3}", "\\pi/3", True),
    ("\\frac{2\\pi}{3}", "\\frac{2}{3}\\pi", True),
    ("\\sqrt{8}", "2\\sqrt{2}", True),
    ("\\sqrt{8}", "2\\sqrt{3}", False),
    ("\\sqrt{12}", "2\\sqrt{3}", True),
    ("\\sqrt[3]{27}", "3", True),
    ("x^2+1", "1+x^2", True),
    ("x^2+1", "x^2-1", False),
    ("x^2+1", "x^3+1", False),
    ("(x+1)^2", "x^2+2x+1", True),
    ("(x+1)^2", "x^2+2x-1", False),
    ("\\frac{x^2-1}{x-1}", "x+1", True),
    ("2x+3", "3+2x", True),
    ("2x+3", "2y+3", False),
    ("x", "y", False),
    ("3^{4}", "81", True),
    ("3^4", "82", False),
    ("5!", "120", True),
    ("5!", "5", False),
    ("\\binom{6}{2}", "15", True),
    ("e^{i\\pi}", "-1", True),
    ("\\sin^2 x + \\cos^2 x", "1", True),
    ("\\log_2 8", "3", True),
    ("\\frac{1+\\sqrt{5}}{2}", "\\frac{\\sqrt{5}+1}{2}", True),
    ("\\frac{1+\\sqrt{5}}{2}", "\\frac{1-\\sqrt{5}}{2}", False),
    ("\\sqrt{5+2\\sqrt{6}}", "\\sqrt{2}+\\sqrt{3}", True),
    ("3.14159265358979323846264338327950288419716939937510", "\\pi", False),  # truncated pi
    ("x_1+x_2", "x_2+x_1", True),
    ("|-3|", "3", True),
    # intervals, tuples, sets, unions, lists
    ("[1, 2)", "[1,2)", True),
    ("[1, 2)", "(1, 2)", False),
    ("(1, 2]", "(1, 2)", False),
    ("(-\\infty, 3]", "(-\\infty,3]", True),
    ("(-\\infty, 3]", "(\\infty, 3]", False),
    ("(3, -4)", "(3,-4)", True),
    ("(3, -4)", "(-4, 3)", False),
    ("(3, 4)", "(3, -4)", False),
    ("(1, 2, 3)", "(1, 2)", False),
    ("\\{1, 2, 3\\}", "\\{3, 2, 1\\}", True),
    ("\\{1, 2, 3\\}", "\\{3, 2, 4\\}", False),
    ("1, 2, 3", "3, 2, 1", True),
    ("1, 2, 3", "1, 2", False),
    ("1, 2", "1, 2, 2", False),
    ("(-\\infty, 1) \\cup (2, \\infty)", "(-\\infty,1)\\cup(2,\\infty)", True),
    ("(-\\infty, 1) \\cup (2, \\infty)", "(-\\infty,1]\\cup(2,\\infty)", False),
    ("(\\frac{1}{2}, 3)", "(0.5, 3)", True),
    ("3, 4", "3", False),
    ("3", "3, 4", False),
    # multiple choice spellings and booleans
    ("(B)", "B", True),
    ("B)", "B", True),
    ("\\text{(B)}", "B", True),
    ("B", "C", False),
    ("True", "true", True),
    ("True", "False", False),
    ("Yes", "yes", True),
    ("Yes.", "yes", True),
    ("No", "yes", False),
    ("yes", "true", False),
    # free text
    ("The Beatles", "beatles", True),
    ("Paris", "paris", True),
    ("Paris", "London", False),
    ("New  York", "new york", True),
    ("red, green, blue", "blue, red, green", True),
    ("red, green, blue", "red, green", False),
    ("Tuesday", "tuesday.", True),
    ("Tuesday", "Wednesday", False),
    ("x-ray", "x ray", True),
    # empty
    ("", "5", False),
    ("   ", "5", False),
    # undecidable or refused, never accepted
    ("2^{2^{2^{2^{2^{10}}}}}", "5", None),
    ("1000000!", "5", None),
    ("10^{10^{10}}", "10", None),
    ("\\pm 2", "2", NOT_TRUE),
]


@pytest.mark.parametrize(("a", "b", "expected"), CASES, ids=[f"{a}|{b}" for a, b, _ in CASES])
def test_answers_equal(a: str, b: str, expected: object) -> None:
    result = answers_equal(a, b)
    if expected == NOT_TRUE:
        assert result is not True
    else:
        assert result is expected
    # symmetric: the grader must not depend on which side is the reference
    assert answers_equal(b, a) == result


def test_case_table_is_large() -> None:
    assert len(CASES) >= 150


GRADE_CASES: list[tuple[str, str, str, str | None]] = [
    ("The answer is 3 or 4.", "3", "unverifiable", "hedged answer"),
    ("So it is either 4 or 3", "3", "unverifiable", "hedged answer"),
    ("The answer is maybe 3", "3", "unverifiable", "hedged answer"),
    # a second value after the answer is a hedge, not a list (was "wrong", issue 14)
    ("The final answer is 3, 4", "3", "unverifiable", "hedged answer"),
    ("", "3", "unverifiable", "no answer found"),
    ("\\boxed{}", "3", "unverifiable", "no answer found"),
    ("The answer is 3.", "3", "correct", None),
    ("The answer is 0.333", "1/3", "unverifiable", "rounded decimal"),
]


@pytest.mark.parametrize(("completion", "reference", "verdict", "reason"), GRADE_CASES)
def test_grade_never_accepts_hedges_or_empties(
    completion: str, reference: str, verdict: str, reason: str | None
) -> None:
    result = grade(completion, reference)
    # reasons name the class first, then the detail: "hedged answer: 'or' in 3 or 4"
    assert (result.verdict, (result.reason or "").partition(":")[0] or None) == (verdict, reason)


def test_echoed_question_is_never_correct() -> None:
    question = "Tom has 3 apples and buys 4 more. How many apples does he have now?"
    for completion in (question, question[:36], f"**{question}**"):
        result = grade(completion, "4", question=question)
        assert result.verdict == "unverifiable"
        assert result.reason == "echoed question"
    # restating the question, then answering, is fine
    assert grade(f"{question}\n3 + 4 = 7. The answer is 7.", "7", question=question).verdict == (
        "correct"
    )


def _perturbations(answer: str) -> list[str]:
    out = []
    for i, ch in enumerate(answer):
        if ch.isdigit():
            out += [answer[:i] + d + answer[i + 1 :] for d in "0123456789" if d != ch]
    out.append(answer[1:] if answer.startswith("-") else "-" + answer)
    inner = next((i for i, ch in enumerate(answer) if ch in "+-" and i > 0), None)
    if inner is not None:
        flipped = "-" if answer[inner] == "+" else "+"
        out.append(answer[:inner] + flipped + answer[inner + 1 :])
    return out


def _same_number(a: str, b: str) -> bool:
    try:
        return Fraction(a) == Fraction(b)
    except (ValueError, ZeroDivisionError):
        return False


def test_one_digit_and_sign_perturbations_are_all_rejected() -> None:
    answers = json.loads((DATA / "verify_latex_cases.json").read_text())["answers"]
    answers += ["18", "1200", "-42", "0.05", "1,234", "99.99"]
    checked = 0
    for answer in answers:
        for wrong in _perturbations(answer):
            if _same_number(wrong.replace(",", ""), answer.replace(",", "")):
                continue  # "-0" / "00": not a different number
            result = grade(f"The final answer is $\\boxed{{{wrong}}}$.", answer)
            assert result.verdict != "correct", (answer, wrong, result)
            checked += 1
    assert checked > 1000


def test_latex_equivalents_are_accepted() -> None:
    pairs = json.loads((DATA / "verify_latex_cases.json").read_text())["equivalent"]
    for a, b in pairs:
        assert grade(f"Thus $\\boxed{{{a}}}$.", b).verdict == "correct", (a, b)
