"""Grading: run programs, grade final answers, check steps, cross-check with a program."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tracemint.records import Record
from tracemint.verify import VERIFIER_VERSION, answers_equal, grade
from tracemint.verify.arithmetic import check_steps as check_arithmetic
from tracemint.verify.arithmetic import to_columns
from tracemint.verify.extract import extract
from tracemint.verify.grader import Verdict
from tracemint.verify.programs import extract_program, program_answer_text


async def execute(traces: Sequence[Record], sandbox: Any) -> list[Record]:
    """Program-aided traces: run each completion's ``solution()`` in the sandbox.

    Adds ``program_status`` (ok | error | timeout | killed | missing), ``program_value`` and
    ``program_error``; ``verify`` then grades the returned value, not the text.
    """
    out = []
    for t in traces:
        code = extract_program(t["completion"] or "")
        if code is None:
            cols = {
                "program_status": "missing",
                "program_value": None,
                "program_error": "no solution() found in the completion",
            }
        else:
            r = await sandbox.arun(code)
            error = None
            if r.status != "ok":
                error = ": ".join(x for x in (r.error_type or r.resource, r.message) if x)
            cols = {"program_status": r.status, "program_value": r.value, "program_error": error}
        out.append({**t, **cols})
    return out


_UNDECIDABLE = {
    "truncated",
    "no answer found",
    "echoed question",
    "hedged answer",
    "conflicting answers",
}


def _by_family(trace: Record, v: Verdict) -> Verdict:
    """A generated problem is judged by its family's own verifier (exact, format-aware:
    an ordering, a knight/knave assignment), once an answer was found at all."""
    if '"family"' not in (trace.get("metadata") or ""):
        return v
    from tracemint.synth.records import family_of

    found = family_of(trace)
    if found is None or v.answer is None or (v.reason or "").partition(":")[0] in _UNDECIDABLE:
        return v
    family, item = found
    if family.check(v.answer, item):
        return Verdict("correct", v.answer, item.answer, None)
    return Verdict("wrong", v.answer, item.answer, f"{family.name} check")


FALLBACK_NOTE = "answer found by last-number fallback"


def _fallback_reason(v: Verdict, text: str, choices: list[str] | None) -> str | None:
    """``v.reason``, plus a note when the answer came from the weak fallback (the last
    number or letter, no answer marker), whatever the verdict: a "correct" that rests on a
    guess at which number was meant must say so, or it reads as firmly verified.

    Read from the extractor's own report (``Extraction.method``) because ``Verdict`` does
    not carry it. The extractor runs on the full text here, while the grader first removes
    a restated question; a marker inside a restated question could differ, which is rare.
    """
    if v.answer is None or (v.reason is not None and FALLBACK_NOTE in v.reason):
        return v.reason
    if extract(text, choices=choices).method != "fallback":
        return v.reason
    return f"{v.reason}; {FALLBACK_NOTE}" if v.reason else FALLBACK_NOTE


def verify(traces: Sequence[Record]) -> list[Record]:
    """Grade each trace's final answer against its problem's reference.

    For program-aided traces (``program_status`` set) the program's return value is the
    answer; a program that did not return one is ``unverifiable`` with the reason.
    """
    out = []
    for t in traces:
        status = t.get("program_status")
        if status is not None and status != "ok":
            out.append(
                {
                    **t,
                    "answer": None,
                    "reference_answer": None,
                    "verdict": "unverifiable",
                    "verdict_reason": f"program {status}: {t.get('program_error')}",
                    "verifier_version": VERIFIER_VERSION,
                }
            )
            continue
        text = t["completion"] or ""
        if status == "ok":
            text = program_answer_text(str(t.get("program_value")))
        v = grade(
            text,
            t.get("reference"),
            choices=t.get("choices"),
            truncated=bool(t.get("truncated")),
            question=t.get("question"),
        )
        v = _by_family(t, v)
        out.append(
            {
                **t,
                "answer": v.answer,
                "reference_answer": v.reference_answer,
                "verdict": v.verdict,
                "verdict_reason": _fallback_reason(v, text, t.get("choices")),
                "verifier_version": VERIFIER_VERSION,
            }
        )
    return out


def check_steps(traces: Sequence[Record], mode: str = "auto") -> list[Record]:
    """Check every arithmetic claim of every step; adds the step columns of the schema."""
    return [{**t, **to_columns(check_arithmetic(t["completion"] or "", mode=mode))} for t in traces]


def cross_check(traces: Sequence[Record], check: Record) -> list[Record]:
    """Record on each trace the answer of an independent program-aided solution and whether
    the two agree (None when either has no answer)."""
    other = check.get("answer")
    out = []
    for t in traces:
        a = t.get("answer")
        agrees = None if a is None or other is None else answers_equal(a, other)
        out.append(
            {
                **t,
                "cross_check_answer": other,
                "cross_check_agrees": agrees,
                "cross_check_trace": check.get("completion"),
            }
        )
    return out
