"""``family``: a generated problem judged by its family's own strict check.

A family's check is format-aware (an ordering, a knight/knave assignment) where the
generic grader is not. The answer is still read by the generic reader first, so a hedged,
conflicting, truncated or echoed answer stays ``unverifiable`` before any check runs.
Which problems are generated is read from the structured ``family``/``data`` entries of
the problem's metadata (``synth.records.family_of``); a record from elsewhere is
``unverifiable`` here ("not a generated problem"): this verifier never guesses.
"""

from __future__ import annotations

from dataclasses import replace

from tracemint.records import Record
from tracemint.verify.answer_verifier import AnswerVerifier
from tracemint.verify.base import verifiers
from tracemint.verify.grader import Verdict

# Grader reasons that mean no committed answer was found: the family check never overrides.
_UNDECIDABLE = frozenset(
    {"truncated", "no answer found", "echoed question", "hedged answer", "conflicting answers"}
)
NOT_GENERATED = "not a generated problem"


@verifiers.register("family")
class FamilyVerifier(AnswerVerifier):
    """A generated problem's answer judged by ``Family.check`` (same columns as ``answer``)."""

    name = "family"

    def judge(self, record: Record, v: Verdict) -> Verdict:
        from tracemint.synth.records import family_of

        found = family_of(record)
        if found is None:
            return replace(v, verdict="unverifiable", reason=NOT_GENERATED)
        if v.answer is None or (v.reason or "").partition(":")[0] in _UNDECIDABLE:
            return v
        family, item = found
        if family.check(v.answer, item):
            return replace(v, verdict="correct", reference_answer=item.answer, reason=None)
        return replace(
            v, verdict="wrong", reference_answer=item.answer, reason=f"{family.name} check"
        )
