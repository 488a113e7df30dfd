"""``answer``: a rationale's final answer against its problem's reference.

The generic, strict grader (:func:`~tracemint.verify.grader.grade`) reads the answer; for a
program-aided trace (``program_status`` set by ``stages.execute``) the program's return
value is the answer instead of the text, and a program that returned nothing is
``unverifiable`` with the reason. Subclasses re-judge the graded answer through ``judge``
(the ``family`` verifier does), so reading, hedges and the fallback note stay in one place.
"""

from __future__ import annotations

from collections.abc import Sequence

from tracemint.records import Record
from tracemint.verify.base import Verifier, verifiers
from tracemint.verify.grader import FALLBACK_NOTE, VERIFIER_VERSION, Verdict, grade
from tracemint.verify.programs import program_answer_text

ANSWER_COLUMNS = ("answer", "reference_answer", "verdict", "verdict_reason", "verifier_version")


def fallback_reason(v: Verdict) -> str | None:
    """``v.reason``, plus a note when the answer came from the weak fallback (the last
    number or letter, no answer marker), whatever the verdict: a "correct" that rests on a
    guess at which number was meant must say so, or it reads as firmly verified."""
    if v.answer is None or v.method != "fallback":
        return v.reason
    if v.reason is not None and FALLBACK_NOTE in v.reason:
        return v.reason
    return f"{v.reason}; {FALLBACK_NOTE}" if v.reason else FALLBACK_NOTE


@verifiers.register("answer")
class AnswerVerifier(Verifier):
    """Final answer vs reference (or the program's return value when the trace has one)."""

    name = "answer"
    columns = ANSWER_COLUMNS

    def verify(self, records: Sequence[Record]) -> list[Record]:
        return [{**r, **self.columns_for(r)} for r in records]

    def columns_for(self, record: Record) -> Record:
        """The verdict columns of one record."""
        status = record.get("program_status")
        if status is not None and status != "ok":
            return {
                "answer": None,
                "reference_answer": None,
                "verdict": "unverifiable",
                "verdict_reason": f"program {status}: {record.get('program_error')}",
                "verifier_version": VERIFIER_VERSION,
            }
        text = record.get("completion") or ""
        if status == "ok":
            text = program_answer_text(str(record.get("program_value")))
        v = grade(
            text,
            record.get("reference"),
            choices=record.get("choices"),
            truncated=bool(record.get("truncated")),
            question=record.get("question"),
        )
        v = self.judge(record, v)
        return {
            "answer": v.answer,
            "reference_answer": v.reference_answer,
            "verdict": v.verdict,
            "verdict_reason": fallback_reason(v),
            "verifier_version": VERIFIER_VERSION,
        }

    def judge(self, record: Record, v: Verdict) -> Verdict:
        """The final verdict given the grader's; the generic grader's verdict stands here."""
        return v
