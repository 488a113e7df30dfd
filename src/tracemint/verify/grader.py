"""The public grader: one completion against one reference, three-way, never lenient.

``grade`` never raises on teacher output and never says "correct" unless equality was
decided exactly. Anything it cannot decide is ``unverifiable`` with a reason, so a caller
can count, inspect or resample those rows instead of trusting a silent "wrong".

Reasons (``Verdict.reason``) for *unverifiable*: "truncated", "no reference", "no answer
found", "echoed question", "hedged answer: <what and where>", "conflicting answers: <a> vs
<b>", "unevaluated expression", "parse failure", "too large to evaluate", "time limit",
"could not prove equality", "rounded decimal", "answer too long". For
*wrong* the reason may explain ("different units", "list vs single value", "not one of
the choices", "answer found by last-number fallback") or be None.

"Verified" means the completion committed to one answer: the reader
(:mod:`~tracemint.verify.extract`) looks at the whole text after the final answer, so a
hedge, a retraction, a candidate list or a second stated answer is never graded as if the
first value were the answer (rules in docs/grading.md, attacks in
tests/test_grader_adversarial.py). Digits of any script are read as ASCII digits.

Thread- and asyncio-safe: no signals, no global mutable state; every step is bounded by
input caps (see ``symbolic`` and ``equivalence``) rather than by an alarm.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .equivalence import compare
from .extract import extract, extract_reference, parse_choices
from .hedges import ANSWER_HEDGE, snippet
from .latex import clean
from .numbers import ascii_digits, parse_number
from .reading import reading_for

VERIFIER_VERSION = "2"  # 2: the whole answer region is read (hedges, conflicts, digits)
# Said of an answer read by the weak fallback (no answer marker): callers append it to
# whatever reason a verdict has, so a "correct" resting on a guess never reads as firm.
FALLBACK_NOTE = "answer found by last-number fallback"

# An arithmetic expression of plain numbers ("17 + 25", "6*7"): an unevaluated answer.
_EXPRESSION = re.compile(r"[-+]?[\d.,\s]+(?:[-+*/×÷^]\s*\(?\s*[-+]?[\d.,]+\s*\)?\s*)+")
_DIGITS = re.compile(r"\d+(?:\.\d+)?")
_BOOLEANS = frozenset({"yes", "no", "true", "false"})


@dataclass(frozen=True)
class Verdict:
    """The outcome of grading one completion.

    ``verdict`` is "correct", "wrong" or "unverifiable"; ``answer`` and
    ``reference_answer`` are what was extracted (kept even when unverifiable, for audit);
    ``reason`` says why a row is unverifiable, and may explain a wrong one. ``method`` is
    the extraction rule that found the answer ("boxed", "phrase", "fallback", ...), carried
    so a caller can say when a verdict rests on the weak last-number fallback without
    reading the text a second time; it is provenance, not outcome, so it takes no part in
    equality (two verdicts that judge the same are equal however the answer was found).
    """

    verdict: str
    answer: str | None
    reference_answer: str | None
    reason: str | None = None
    method: str | None = field(default=None, compare=False)


def _squash(text: str) -> str:
    return " ".join(text.split()).lower()


def _without_question(completion: str, question: str | None) -> tuple[str, bool]:
    """Remove a restated question; report whether nothing of substance is left."""
    if not question or not question.strip():
        return completion, False
    q = _squash(question)
    flat = _squash(completion)
    if flat and flat in q:
        return "", True  # the completion is (a piece of) the question: nothing was answered
    if q not in flat:
        return completion, False
    rest = flat.replace(q, " ")
    if completion.count(question.strip()):
        completion = completion.replace(question.strip(), " ")
    else:
        completion = rest
    return completion, not re.search(r"[0-9A-Za-z]", rest)


def _unevaluated(answer: str, ref_answer: str, question: str | None) -> str | None:
    """Why an arithmetic expression ("17 + 25") is not an answer to a numeric reference:
    nothing was computed, and when its numbers are the question's, the question was echoed."""
    if not _EXPRESSION.fullmatch(answer.strip()):
        return None  # checked first: it is cheap and almost every answer fails it
    ref, got = parse_number(ref_answer), parse_number(answer)
    if ref is None:
        return None
    if got is not None:
        # "84/2" for 42: a fraction left unreduced to an integer was not computed either
        if not (ref.value.denominator == 1 and "/" not in ref_answer and "/" in answer):
            return None
        if got.value.denominator != 1:
            return None
    numbers = _DIGITS.findall(answer)
    if question and all(n in _DIGITS.findall(question) for n in numbers):
        return "echoed question"
    return "unevaluated expression"


def grade(
    completion: str,
    reference: str | None,
    *,
    choices: list[str] | None = None,
    truncated: bool = False,
    question: str | None = None,
) -> Verdict:
    """Grade ``completion`` against ``reference`` (a bare answer or a full solution).

    ``choices`` (e.g. ``['A)5', 'B)6']``) switches to multiple-choice grading by letter;
    ``truncated`` marks a completion cut off by max_tokens (never graded as if whole);
    ``question`` lets the grader ignore a restated question and reject a pure echo.
    """
    completion = ascii_digits(completion or "")
    reference = ascii_digits(reference) if reference else reference
    question = ascii_digits(question) if question else question
    ref_answer = extract_reference(reference, choices=choices) if reference else None
    body, echoed = _without_question(completion, question)
    if echoed and ref_answer and compare(clean(completion.strip()), ref_answer).equal:
        # "True" for "... Answer True or False.": a bare answer that is also a word of the
        # question is the answer, not an echo.
        body, echoed = completion, False
    prefer_boolean = ref_answer is not None and ref_answer.lower() in _BOOLEANS
    options = parse_choices(choices) if choices else None
    reading = reading_for(ref_answer, question=question, options=options)
    found = extract(body, choices=choices, prefer_boolean=prefer_boolean, reading=reading)
    answer = found.answer

    def verdict(kind: str, reason: str | None = None) -> Verdict:
        return Verdict(kind, answer, ref_answer, reason, found.method)

    if truncated:
        return verdict("unverifiable", "truncated")
    if ref_answer is None:
        return verdict("unverifiable", "no reference")
    if echoed:
        return verdict("unverifiable", "echoed question")
    if answer is None or not answer.strip():
        return verdict("unverifiable", "no answer found")
    if question and _squash(answer) == _squash(question):
        return verdict("unverifiable", "echoed question")
    if found.problem is not None:
        return verdict("unverifiable", found.problem)
    raw = found.raw or answer
    hedge = None if ANSWER_HEDGE.search(ref_answer) else ANSWER_HEDGE.search(raw)
    if hedge is not None:
        return verdict(
            "unverifiable", f"hedged answer: {hedge.group(0).strip()!r} in {snippet(raw)}"
        )
    unevaluated = _unevaluated(answer, ref_answer, question)
    if unevaluated is not None:
        return verdict("unverifiable", unevaluated)
    if choices and ref_answer in parse_choices(choices) and answer not in parse_choices(choices):
        return verdict("wrong", "not one of the choices")
    result = compare(answer, ref_answer)
    if result.equal:
        return verdict("correct")
    if result.equal is None:
        return verdict("unverifiable", result.reason or "parse failure")
    if result.reason is None and found.method == "fallback":
        return verdict("wrong", FALLBACK_NOTE)
    return verdict("wrong", result.reason)
