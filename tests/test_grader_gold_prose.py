"""Gold stays gold: words of doubt that belong to the *reasoning* never void a right answer.

The strict reader voids an answer that its own sentence makes conditional or uncertain
("If ..., the answer is", "Maybe the answer is", "I'm not sure. The answer is"). Real
rationales use the same words about the problem ("his guess is off by 36", "the students
who did not pass", "he could buy 5 more, so the answer is 5"): those are arithmetic about
the world, not doubt about the answer. Found on GSM8K's own gold (one of 1,319 test
solutions was rejected); closed here as a class, with the hedges that must still count.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracemint.verify import grade

DATA = Path(__file__).parent / "data"
# words a problem's own story uses, in a clause of reasoning before "so"/"thus"/...
STORY = [
    "his guess is off by {v}",
    "the students who did not pass number {v}",
    "he could buy {v} more",
    "it takes about {v} hours per trip",
    "either way the total is {v}",
    "if he buys {v} more he has them all",
    "she might keep {v} of them",
    "the boxes that are not full hold {v}",
    "they guessed {v} marbles",
    "whether it rains or not, {v} people come",
]
CONNECTORS = ["so", "thus", "therefore", "hence", "which means", "so, "]
ENDINGS = ["the answer is {v}.", "the final answer is {v}.", "the answer is: {v}"]
# doubt about the answer itself: must stay unverifiable however it is phrased
DOUBT = [
    "If x = 2, then the answer is {v}.",
    "Maybe the answer is {v}.",
    "I guess the answer is {v}.",
    "I'm not sure, so the answer is {v}.",
    "I am not sure. The answer is {v}.",
    "My best guess: the answer is {v}.",
    "Perhaps, the answer is {v}.",
    "Assuming I read it right, the answer is {v}.",
    "I have no idea, so the answer is {v}.",
]


@settings(deadline=None)  # the first call pays for sympy's imports
@given(
    story=st.sampled_from(STORY),
    connector=st.sampled_from(CONNECTORS),
    ending=st.sampled_from(ENDINGS),
    value=st.integers(min_value=0, max_value=10**6),
    newline=st.booleans(),
)
def test_doubt_words_in_the_reasoning_keep_a_right_answer(
    story: str, connector: str, ending: str, value: int, newline: bool
) -> None:
    v = str(value)
    text = f"{story.format(v=v).capitalize()}, {connector} {ending.format(v=v)}"
    if newline:  # GSM8K's form: the reasoning line, then "#### N"
        text = f"{story.format(v=v).capitalize()}\n#### {v}"
    verdict = grade(text, v)
    assert verdict.verdict == "correct", (text, verdict)


@pytest.mark.parametrize("template", DOUBT)
def test_doubt_about_the_answer_still_voids_it(template: str) -> None:
    verdict = grade(template.format(v=42), "42")
    assert verdict.verdict == "unverifiable", verdict
    assert (verdict.reason or "").startswith("hedged answer"), verdict


def test_every_gsm8k_gold_solution_in_the_slice_is_correct() -> None:
    """The committed slice of GSM8K test: every reference solution, as written (with its
    ``<<...>>`` annotations and ``#### N``) and as a teacher would end it."""
    lines = (DATA / "verify_gsm8k_test_300.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    rejected = []
    for row in rows:
        solution = row["answer"]
        gold = solution.split("####")[-1].strip()
        body = solution.split("####")[0].rstrip()
        for text in (solution, f"{body}\nThe answer is {gold}."):
            v = grade(text, gold)
            if v.verdict != "correct":
                rejected.append((text[-120:], v.reason))
    assert rejected == []


@settings(deadline=None)  # the first call pays for sympy's imports
@given(
    a=st.integers(min_value=1, max_value=999),
    b=st.integers(min_value=1, max_value=999),
    lead=st.sampled_from(["", "therefore ", "thus ", "then ", "so, "]),
    unit=st.sampled_from(["", " pints", " dollars"]),
    annotated=st.booleans(),
)
def test_answers_worked_out_in_place_read_their_result(
    a: int, b: int, lead: str, unit: str, annotated: bool
) -> None:
    """ "The final answer is 15 gallons * 8 pints / gallon = <<15*8=120>>120 pints": the
    stated value is the result; a connective or a calculator note changes nothing; a wrong
    result is wrong, and a bare "x = y" with no operator never reads as y."""
    note = f"<<{a}*{b}={a * b}>>" if annotated else ""
    text = f"The final answer is {lead}{a}{unit} * {b} = {note}{a * b}{unit}.\n#### {a * b}"
    assert grade(text, str(a * b)).verdict == "correct", text
    wrong = f"The answer is {lead}{a} * {b} = {a * b + 1}{unit}."
    assert grade(wrong, str(a * b)).verdict != "correct", wrong
    bare = f"The answer is {a * b + 1} = {a * b}."
    assert grade(bare, str(a * b)).verdict != "correct", bare
