"""``steps``: every arithmetic claim (``expr = value``) of every step, checked exactly.

Adds the step columns of the schema (``records.STEP_FIELDS``): ``steps``,
``first_wrong_step``, ``n_claims_checked``, ``n_claims_wrong``. It judges steps, not the
final answer, so it writes no verdict.
"""

from __future__ import annotations

from collections.abc import Sequence

from tracemint.records import STEP_FIELDS, Record
from tracemint.verify.arithmetic import check_steps, to_columns
from tracemint.verify.base import Verifier, verifiers


@verifiers.register("steps")
class StepVerifier(Verifier):
    """Arithmetic step checks; ``mode`` is how steps are split (auto, lines, numbered,
    sentences), as ``[verify] step_mode`` says."""

    name = "steps"
    columns = tuple(STEP_FIELDS)

    def __init__(self, mode: str = "auto") -> None:
        self.mode = mode

    def verify(self, records: Sequence[Record]) -> list[Record]:
        return [
            {**r, **to_columns(check_steps(r.get("completion") or "", mode=self.mode))}
            for r in records
        ]
