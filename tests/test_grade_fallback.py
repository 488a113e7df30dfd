"""An answer read by the last-number fallback says so in ``verdict_reason``, whatever the
verdict: a "correct" that rests on guessing which number was meant is not firmly verified."""

from __future__ import annotations

from tracemint import stages
from tracemint.stages.grade import FALLBACK_NOTE

PROBLEM = {
    "problem_id": "p1",
    "question": "Tom has 2 apples and buys 3 more. How many apples does he have?",
    "reference": "5",
    "choices": None,
    "trace_id": "t",
    "truncated": False,
}


def _verify(completion: str, reference: str = "5") -> dict:
    (t,) = stages.verify([{**PROBLEM, "reference": reference, "completion": completion}])
    return t


def test_a_correct_fallback_answer_records_the_fallback() -> None:
    t = _verify("He has 2 + 3 = 5 apples now\n5")
    assert t["verdict"] == "correct" and t["verdict_reason"] == FALLBACK_NOTE


def test_a_wrong_fallback_answer_records_it_once() -> None:
    t = _verify("He has 2 + 4 = 6 apples now\n6")
    assert t["verdict"] == "wrong" and t["verdict_reason"].count(FALLBACK_NOTE) == 1


def test_a_marked_answer_has_no_fallback_note() -> None:
    t = _verify("2 + 3 = 5. The answer is 5.")
    assert t["verdict"] == "correct" and t["verdict_reason"] is None


def test_an_unverifiable_fallback_keeps_its_reason_first() -> None:
    t = _verify("He has 2 + 3 = 5 apples now\n5", reference="")
    assert t["verdict"] == "unverifiable"
    assert t["verdict_reason"] == f"no reference; {FALLBACK_NOTE}"
