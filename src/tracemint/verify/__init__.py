"""Answer verification: extract final answers and decide, exactly and three-way, if they match.

Public API::

    grade(completion, reference, *, choices=None, truncated=False, question=None) -> Verdict
    extract_answer(text, *, choices=None) -> str | None
    extract_reference(reference, *, choices=None) -> str | None
    answers_equal(a, b) -> bool | None        # None: cannot decide
    majority_vote(answers) -> (representative, agreement ratio)
    VERIFIER_VERSION                          # bump when any verdict may change

The runtime dependency is sympy only, behind guards: plain numbers never touch it.
Equivalence rules (percent, units, decimals, lists) are documented in
:mod:`tracemint.verify.equivalence`.
"""

from __future__ import annotations

from .consistency import majority_vote
from .equivalence import answers_equal
from .extract import extract_answer, extract_reference
from .grader import VERIFIER_VERSION, Verdict, grade

__all__ = [
    "VERIFIER_VERSION",
    "Verdict",
    "answers_equal",
    "extract_answer",
    "extract_reference",
    "grade",
    "majority_vote",
]

# Step segmentation and the arithmetic step checker (issue 3).
from .arithmetic import Claim, StepCheck, TraceCheck, check_steps, to_columns
from .steps import Step, split_steps

__all__ += ["Claim", "Step", "StepCheck", "TraceCheck", "check_steps", "split_steps", "to_columns"]
