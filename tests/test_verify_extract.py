"""Answer extraction from completions and references."""

from __future__ import annotations

import pytest

from tracemint.verify import extract_answer, extract_reference

AQUA_CHOICES = ["A)5(√3 + 1)", "B)6(√3 + √2)", "C)7(√3 – 1)", "D)8(√3 – 2)", "E)None of these"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so we get $\\boxed{18}$.", "18"),
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("\\boxed{\\frac{\\sqrt{2}}{2}}", "\\frac{\\sqrt{2}}{2}"),
        ("first \\boxed{3}, then after checking \\boxed{4}", "4"),
        ("\\boxed{\\{1, 2\\}}", "\\lbrace 1, 2\\rbrace"),
        ("\\fbox{7}", "7"),
        ("\\boxed 5", "5"),
        ("The answer is 42.", "42"),
        ("the answer is: 42", "42"),
        ("The final answer is $3.5$. I hope it is correct.", "3.5"),
        ("Final Answer: The final answer is $\\frac{3}{4}$.", "\\frac{3}{4}"),
        ("**Final answer:** 18", "18"),
        ("Answer: 7", "7"),
        ("3 + 4 = 7\n#### 7", "7"),
        ("She pays $2 * 9 = $<<2*9=18>>18.\n#### 18", "18"),
        ("The answer is 18 because 9 * 2 = 18", "18"),
        ("The answer is 1,200, which is the total.", "1,200"),
        ("The answer is $18.", "$18"),
        ("The answer is 18 dollars.", "18 dollars"),
        ("The answer is \\(x = 5\\).", "5"),
        ("Final answer:\n\n42", "42"),
        ("The answer is yes.", "yes"),
        ("The answer is True", "True"),
        ("The answer is \\text{Tuesday}.", "Tuesday"),
        ("We add 3 and 4 to get 7 apples.", "7"),
        ("16 - 3 - 4 = 9 eggs", "9"),
        ("The loss is -5 dollars", "-5"),
        ("It costs 1,250.50 in total", "1250.50"),
        ("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs", "9"),
        ("So the probability is \\frac{3}{8}", "\\frac{3}{8}"),
        ("No, he cannot.", None),  # bare booleans only when the reference is boolean
        ("I have no idea.", None),
        ("", None),
        ("no digits at all here", None),
    ],
)
def test_extract_answer(text: str, expected: str | None) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is (B).", "B"),
        ("The answer is B", "B"),
        ("Answer: C) 7(√3 – 1)", "C"),
        ("so the correct option is (D)", "D"),
        ("... therefore B) is right", "B"),
        ("The answer is 5(√3 + 1)", "A"),  # option text maps to its letter
        ("\\boxed{5(\\sqrt{3}+1)}", "A"),
        ("\\boxed{E}", "E"),
        ("The answer is 42", "42"),  # not an option: kept, graded wrong
    ],
)
def test_extract_answer_with_choices(text: str, expected: str) -> None:
    assert extract_answer(text, choices=AQUA_CHOICES) == expected


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("18", "18"),
        ("$\\frac{1}{2}$", "\\frac{1}{2}"),
        ("\\frac{1}{2}", "\\frac{1}{2}"),
        ("\\boxed{\\sqrt{2}}", "\\sqrt{2}"),
        ("Paris", "Paris"),
        ("1, 2, 3", "1, 2, 3"),
        ("x^2+1", "x^2+1"),
        ("Janet sells 9 eggs.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 18", "18"),
        ("We compute 6 * 7 = 42. The answer is 42.", "42"),
        ("Step 1: 2 + 2 = 4\nStep 2: 4 * 3 = 12", "12"),
        ("   ", None),
    ],
)
def test_extract_reference(reference: str, expected: str | None) -> None:
    assert extract_reference(reference) == expected


def test_extract_reference_with_choices() -> None:
    assert extract_reference("C", choices=AQUA_CHOICES) == "C"
    assert extract_reference("7(√3 – 1)", choices=AQUA_CHOICES) == "C"


def test_nested_braces_in_boxed() -> None:
    assert extract_answer("$\\boxed{\\frac{\\sqrt{3}}{\\sqrt{2}+{1}}}$") == (
        "\\frac{\\sqrt{3}}{\\sqrt{2}+{1}}"
    )


def test_unclosed_box_is_not_an_answer() -> None:
    assert extract_answer("the answer is \\boxed{12") != "12"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("360 / 120 x 100 = Rs.300\nOption B", "B"),
        ("7! ways.\nC", "C"),
        ("so it is 12.\nAnswer: (D)", "D"),
        ("Profit% = 3%\nAnswer is B", "B"),
        ("= 1 hour and 31 minutes\ncorrect answer A", "A"),
        ("A total of 300 apples.", "B"),  # a sentence starting with "A" names no choice
    ],
)
def test_choice_on_the_last_line(text: str, expected: str) -> None:
    choices = ["A)5", "B)300", "C)5040", "D)12", "E)none"]
    assert extract_answer(text, choices=choices) == expected
