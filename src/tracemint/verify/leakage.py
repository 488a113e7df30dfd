"""Hint leakage: does a rationalized trace cite the answer it was given instead of deriving it?

STaR's rationalization shows the teacher the reference answer and asks for a rationale that
reaches it. The rationale is only worth training on if it reads as a derivation from the
question: a student never sees the hint, so a trace that leans on it ("we are told the
answer is 42", "working backwards from 42", or 42 stated in the first step) teaches the
student to assert answers it cannot know. Such a trace can still grade ``correct``, so the
check is separate from the verdict and rejects through ``drop_reason`` (``stages.select``).

Two rules, each a small attack surface of its own (tests/test_rationalize.py fuzzes both):

* a *citation* anywhere: a phrase that refers to the answer as given, told, known, hinted
  or suggested. Phrases need an answer-word next to the givenness word ("we are given 3
  apples" and "as a result" are honest; "we are given that the answer" is not);
* the *bare value first*: the hint's value in the first step of a rationale with two or more
  steps, unless the question itself contains that number (restating the question is honest).

An honest derivation that restates its result at the end ("So the answer is 42.") passes.
"""

from __future__ import annotations

import re
from fractions import Fraction

import pyarrow as pa

from tracemint.records import declare_columns
from tracemint.verify.steps import split_steps

#: the strategy name rationalized traces carry, and the column the check fills
RATIONALIZE = "rationalize"
LEAK_COLUMN = "hint_leak"
declare_columns({LEAK_COLUMN: pa.string()})
CITES = "cites the given answer"
FIRST = "states the given answer in the first step"

_ANSWER = r"(?:final\s+)?(?:answer|result)"
_ANSWER_WORD = r"(?:final\s+)?answer"  # "the result is given by 3 + 6" is honest
_GIVEN = r"(?:given|provided|stated|supplied|told|hinted|known|suggested|claimed|revealed)"
_WE = r"(?:we|i|you)(?:'re|'m|'ve\s+been|\s+are|\s+am|\s+were|\s+was|\s+have\s+been)"
_CITATIONS: tuple[tuple[str, str], ...] = (
    # "the answer is given as", "the answer was provided", "answer (stated) above"
    (
        rf"\b{_ANSWER_WORD}\s+(?:is\s+|was\s+|has\s+been\s+)?(?:already\s+)?{_GIVEN}\b",
        "answer given",
    ),
    # "the given answer", "the expected answer", "the reference answer"
    (
        rf"\b(?:{_GIVEN}|expected|reference|target|intended|official|supposed)\s+{_ANSWER_WORD}\b",
        "answer given",
    ),
    # "we are told the answer", "I was given that the answer", "we've been told that the result"
    (rf"\b{_WE}\s+(?:told|given|informed|shown)\s+(?:that\s+)?(?:the\s+)?{_ANSWER}\b", "told"),
    # "since we know the answer is", "we already know that the final answer"
    (rf"\b(?:we|i)\s+(?:already\s+)?know\s+(?:that\s+)?(?:the\s+)?{_ANSWER}\b", "known answer"),
    # "the answer we were given", "the answer I was told"
    (rf"\b{_ANSWER}\s+(?:that\s+)?{_WE}\s+(?:given|told|shown)\b", "told"),
    # "the problem says the answer", "the question tells us the answer"
    (
        r"\b(?:problem|question|prompt|task|teacher|user)\s+(?:says|states|tells\s+us|gives)"
        rf"\s+(?:that\s+)?(?:the\s+)?{_ANSWER}\b",
        "told",
    ),
    (r"\bhint(?:s|ed)?\b", "hint"),
    (r"\banswer[\s-]+key\b", "answer key"),
    # "as you said", "you suggested", "you told us"
    (r"\byou\s+(?:said|suggested|mentioned|told|gave|stated|claimed|think|thought)\b", "you said"),
    (r"\bwork(?:ing|ed|s)?\s+backwards?\b", "working backwards"),
    # "we need to show that the answer is", "let's verify that the answer is"
    (
        rf"\b(?:verify|confirm|justify|show|prove|check)\s+(?:that\s+|why\s+)?(?:the\s+)?"
        rf"{_ANSWER}\s+(?:is|of|equals)\b",
        "verifying the answer",
    ),
)
_CITE = [(re.compile(p, re.IGNORECASE), why) for p, why in _CITATIONS]
_MARKER = re.compile(r"^\s*(?:step\s*\d{1,3}\s*[:.)-]?|\(\d{1,3}\)|\d{1,3}[.)](?=\s))", re.I)
_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?:/\d+)?(?![\w])")


def _value(text: str) -> Fraction | None:
    """A plain number ("1,200", "2.5", "-3", "3/4") as an exact value, else None."""
    text = text.strip().replace(",", "").lstrip("$").rstrip("%").strip()
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None


def _values(text: str) -> set[Fraction]:
    out = set()
    for m in _NUMBER.finditer(text):
        v = _value(m.group())
        if v is not None:
            out.add(v)
    return out


def _states_value(text: str, hint: str) -> bool:
    """Whether ``text`` states the hint: its number (any spelling: 1,200 = 1200.0), or a
    non-numeric hint as a whole word (an option letter only as "(C)", "option C")."""
    value = _value(hint)
    if value is not None:
        return value in _values(text)
    h = re.escape(hint.strip())
    if not h:
        return False
    if len(hint.strip()) == 1:
        pattern = rf"\(\s*{h}\s*\)|\b(?:option|choice|answer)\s+{h}\b"
        return re.search(pattern, text, re.IGNORECASE) is not None
    return re.search(rf"(?<!\w){h}(?!\w)", text) is not None


def find_leak(completion: str, hint: str | None, question: str = "") -> str | None:
    """Why ``completion`` cites the given answer ``hint`` instead of deriving it, or None.

    ``question`` is the bare problem text: a hint value the question itself contains may
    appear in the first step (a restated question is not a leak).
    """
    text = completion or ""
    for pattern, why in _CITE:
        m = pattern.search(text)
        if m is not None:
            return f"{CITES}: {why}: {m.group()!r}"
    if not hint:
        return None
    steps = split_steps(text)
    if len(steps) < 2:
        return None
    first = _MARKER.sub("", steps[0].text, count=1)  # "Step 1:" is no statement of 1
    if _states_value(first, hint) and not _states_value(question, hint):
        return f"{FIRST}: {hint!r}"
    return None


def leak_reason(detail: str) -> str:
    """The drop reason for a leak: its kind without the quoted text (the ``hint_leak``
    column keeps that), so the report's drop-reason counts group alike leaks together."""
    kind = FIRST if detail.startswith(FIRST) else CITES
    return f"hint leakage: {kind}"
