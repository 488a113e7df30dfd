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
* the *answer first*: the hint's value in the first step that holds a number, not computed
  there ("3 + 6 = 9") and either called the answer ("The answer is 9.", a bare one-line
  reply included) or, in a rationale of two or more steps, a number the question does not
  contain (restating the question is honest). The last of several steps is the conclusion:
  a rationale whose only numbers are in its answer line states nothing up front.

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
FIRST = "states the given answer before deriving it"

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
# what precedes a stated answer ("The answer is", "Answer:", "answer = $"), and a computation
# before a value in the same step ("3 + 6 = 9", "3 x 6 -> 18")
_ANSWER_CUE = re.compile(r"\banswers?\s*(?:is|:|=|of|would\s+be|will\s+be)?\s*[($]?\s*$", re.I)
_DERIVED = re.compile(r"=|->|\d\s*[-+*/×x÷]\s*\(?\d")
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


def _first_statement(text: str, hint: str) -> int | None:
    """Where ``text`` first states the hint: its number (any spelling: 1,200 = 1200.0), or a
    non-numeric hint as a whole word (an option letter only as "(C)", "option C")."""
    value = _value(hint)
    if value is not None:
        return next((m.start() for m in _NUMBER.finditer(text) if _value(m.group()) == value), None)
    h = re.escape(hint.strip())
    if not h:
        return None
    if len(hint.strip()) == 1:
        pattern = rf"\(\s*{h}\s*\)|\b(?:option|choice|answer)\s+{h}\b"
        m = re.search(pattern, text, re.IGNORECASE)
    else:
        m = re.search(rf"(?<!\w){h}(?!\w)", text)
    return None if m is None else m.start()


def find_leak(completion: str, hint: str | None, question: str = "") -> str | None:
    """Why ``completion`` cites the given answer ``hint`` instead of deriving it, or None.

    ``question`` is the bare problem text: a hint value the question itself contains may
    appear in the first step (a restated question is not a leak) unless that step calls it
    the answer.
    """
    text = completion or ""
    for pattern, why in _CITE:
        m = pattern.search(text)
        if m is not None:
            return f"{CITES}: {why}: {m.group()!r}"
    if not hint:
        return None
    steps = split_steps(text)
    # the first step that says anything quantitative (or names the option): a preamble
    # ("Let's solve this step by step.") does not push the answer it is followed by out of
    # the first step; the last step of several is the conclusion, never "up front"
    texts = [_MARKER.sub("", st.text, count=1) for st in steps]  # "Step 1:" is no 1
    said = (re.search(r"\d", t) or _first_statement(t, hint) is not None for t in texts)
    i = next((i for i, yes in enumerate(said) if yes), 0)
    if not texts or (len(texts) >= 2 and i == len(texts) - 1):
        return None
    first = texts[i]
    at = _first_statement(first, hint)
    if at is None or _DERIVED.search(first[:at]):  # "3 + 6 = 9": derived in the step
        return None
    quoted = f"{FIRST}: {first[max(0, at - 30) : at + len(hint) + 1].strip()!r}"
    if _ANSWER_CUE.search(first[:at]):  # "The answer is 9." before any derivation
        return quoted
    if len(steps) >= 2 and _first_statement(question, hint) is None:
        return quoted
    return None


def leak_reason(detail: str) -> str:
    """The drop reason for a leak: its kind without the quoted text (the ``hint_leak``
    column keeps that), so the report's drop-reason counts group alike leaks together."""
    kind = FIRST if detail.startswith(FIRST) else CITES
    return f"hint leakage: {kind}"
