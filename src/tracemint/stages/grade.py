"""Grading: run programs, grade final answers, check steps, cross-check with a program."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tracemint.records import Record
from tracemint.verify import answers_equal
from tracemint.verify.answers import verify_answers
from tracemint.verify.grader import FALLBACK_NOTE
from tracemint.verify.programs import extract_program
from tracemint.verify.step_verifier import StepVerifier

__all__ = ["FALLBACK_NOTE", "check_steps", "cross_check", "execute", "verify"]


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


def verify(traces: Sequence[Record], verifier: str = "auto") -> list[Record]:
    """Grade each trace's final answer against its problem's reference.

    Through the registered verifiers (``verify.answers.verify_answers``): ``family`` for a
    generated problem, ``answer`` otherwise (a program's return value when the trace has
    one), the same path ``tracemint verify`` takes, so both write the same verdicts. A
    recipe's ``verify.answers`` names another registered verifier for every trace.
    """
    return verify_answers(traces, verifier)


def check_steps(traces: Sequence[Record], mode: str = "auto") -> list[Record]:
    """Check every arithmetic claim of every step (the ``steps`` verifier); adds the step
    columns of the schema."""
    return StepVerifier(mode=mode).verify(traces)


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
