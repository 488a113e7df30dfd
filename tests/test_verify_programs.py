from __future__ import annotations

from tracemint.verify import extract_answer
from tracemint.verify.programs import extract_program, program_answer_text


def test_extracts_the_last_fenced_solution() -> None:
    text = (
        "Draft:\n```python\ndef helper():\n    return 1\n```\n"
        "Final:\n```python\ndef solution():\n    # 3 apples plus 2\n    return 3 + 2\n```\n"
    )
    assert extract_program(text) == "def solution():\n    # 3 apples plus 2\n    return 3 + 2"


def test_unfenced_and_unclosed_programs() -> None:
    assert extract_program("def solution():\n    return 7\n") == "def solution():\n    return 7"
    assert extract_program("```\ndef solution():\n  return 1") == "def solution():\n  return 1"
    assert extract_program("The answer is 7.") is None
    assert extract_program("```python\nprint(1)\n```") is None


def test_program_values_are_read_back_exactly() -> None:
    for value in ["5", "-3", "3/4", "2.5", "C"]:
        assert extract_answer(program_answer_text(value)) == value
