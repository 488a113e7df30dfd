"""The public grader: one completion against one reference, three-way, never lenient.

``grade`` never raises on teacher output and never says "correct" unless equality was
decided exactly. Anything it cannot decide is ``unverifiable`` with a reason, so a caller
can count, inspect or resample those rows instead of trusting a silent "wrong".

Reasons (``Verdict.reason``) for *unverifiable*: "truncated", "no reference", "no answer
found", "echoed question", "hedged answer", "parse failure", "too large to evaluate",
"time limit", "could not prove equality", "rounded decimal", "answer too long". For
*wrong* the reason may explain ("different units", "list vs single value", "not one of
the choices", "answer found by last-number fallback") or be None.

Thread- and asyncio-safe: no signals, no global mutable state; every step is bounded by
input caps (see ``symbolic`` and ``equivalence``) rather than by an alarm.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .equivalence import compare
from .extract import extract, extract_reference, parse_choices

VERIFIER_VERSION = "1"

_HEDGE = re.compile(
    r"\b(?:or|either|nor|maybe|possibly|perhaps|probably|between)\b|\\pm\b|±|\\mp\b",
    re.IGNORECASE,
)
_NUMBERS = re.compile(r"\d+(?:\.\d+)?")
_BOOLEANS = frozenset({"yes", "no", "true", "false"})


@dataclass(frozen=True)
class Verdict:
    """The outcome of grading one completion.

    ``verdict`` is "correct", "wrong" or "unverifiable"; ``answer`` and
    ``reference_answer`` are what was extracted (kept even when unverifiable, for audit);
    ``reason`` says why a row is unverifiable, and may explain a wrong one.
    """

    verdict: str
    answer: str | None
    reference_answer: str | None
    reason: str | None = None


def _squash(text: str) -> str:
    return " ".join(text.split()).lower()


def _hedged_tail(body: str) -> bool:
    """True when the last line hedges between numbers ("either 4 or 3"): a fallback there
    would pick whichever candidate happens to come last."""
    lines = [ln for ln in body[-2000:].splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    return bool(_HEDGE.search(last)) and len(_NUMBERS.findall(last)) >= 2


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
    ref_answer = extract_reference(reference, choices=choices) if reference else None
    body, echoed = _without_question(completion or "", question)
    prefer_boolean = ref_answer is not None and ref_answer.lower() in _BOOLEANS
    found = extract(body, choices=choices, prefer_boolean=prefer_boolean)
    answer = found.answer

    def verdict(kind: str, reason: str | None = None) -> Verdict:
        return Verdict(kind, answer, ref_answer, reason)

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
    if not _HEDGE.search(ref_answer) and (
        _HEDGE.search(answer) or (found.method == "fallback" and _hedged_tail(body))
    ):
        return verdict("unverifiable", "hedged answer")
    if choices and ref_answer in parse_choices(choices) and answer not in parse_choices(choices):
        return verdict("wrong", "not one of the choices")
    result = compare(answer, ref_answer)
    if result.equal:
        return verdict("correct")
    if result.equal is None:
        return verdict("unverifiable", result.reason or "parse failure")
    if result.reason is None and found.method == "fallback":
        return verdict("wrong", "answer found by last-number fallback")
    return verdict("wrong", result.reason)
