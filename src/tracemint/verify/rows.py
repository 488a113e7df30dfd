"""A user's rows (``tracemint verify``) judged by the same verifiers as a run's traces.

A row becomes a record of the schema (question, reference, choices, completion, and the
metadata a generated problem's family check needs), goes through
``verify.answers.verify_answers`` (+ the ``steps`` verifier), and comes back as the row
plus the verdict columns a run writes: ``answer``, ``reference_answer``, ``verdict``,
``verdict_reason``, ``verifier_version`` (+ step columns). The columns the command wrote
before (``extracted_answer``, ``extracted_reference``, ``correct``) are kept as aliases so
existing readers of its files keep working.

An input field that a written column replaces (most often GSM8K's ``answer``, which is the
reference there) is kept as ``input_<name>``, so the output never loses what the file
held; when the input already has ``input_<name>`` (a file this command wrote, verified
again) that one is kept and the old column is simply recomputed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tracemint.records import Record
from tracemint.verify.answer_verifier import ANSWER_COLUMNS
from tracemint.verify.answers import verify_answers
from tracemint.verify.step_verifier import StepVerifier

# Defaults when no --*-field is given; the first one present in the row is used.
# ``input_answer`` before ``answer``: a GSM8K file verified once keeps its reference there.
RATIONALE_FIELDS = ("completion", "rationale", "response", "output", "solution")
REFERENCE_FIELDS = ("reference", "input_answer", "answer", "gold", "label")
CHOICES_FIELDS = ("choices", "options")
QUESTION_FIELDS = ("question", "problem")

# Backwards-compatible names of the command's first output format -> the schema column
# they copy (``correct`` as True/False/None: the verdict, null when unverifiable).
ALIASES = {
    "extracted_answer": "answer",
    "extracted_reference": "reference_answer",
    "correct": "verdict",
}


@dataclass(frozen=True)
class Fields:
    """Which row field holds each part of a record (None: the row has none)."""

    rationale: str
    reference: str
    question: str | None = None
    choices: str | None = None


def row_record(row: dict[str, Any], fields: Fields) -> Record:
    """The record a verifier reads for one row. Other fields become ``metadata`` the way
    ``FileSource`` stores them, so a ``tracemint generate`` file is judged by its family's
    check here as in a run; a ``truncated: true`` row (a run's traces) is never graded as
    if whole."""
    ref = row.get(fields.reference)
    used = {fields.rationale, fields.reference, fields.question, fields.choices}
    other = {k: v for k, v in row.items() if k not in used}
    question = fields.question
    return {
        "question": row.get(question) if question is not None else None,
        "reference": None if ref is None else str(ref),
        "choices": row.get(fields.choices) if fields.choices else None,
        "completion": row[fields.rationale],
        "truncated": row.get("truncated") is True,
        "metadata": json.dumps(other, ensure_ascii=False, default=str) if other else None,
    }


def _output_row(row: dict[str, Any], judged: Record, columns: Sequence[str]) -> dict[str, Any]:
    out = dict(row)
    written = {c: judged.get(c) for c in columns}
    written |= {alias: written[name] for alias, name in ALIASES.items()}
    written["correct"] = {"correct": True, "wrong": False}.get(str(written["verdict"]))
    for name in written:
        if name in row:
            out.setdefault(f"input_{name}", row[name])
    out.update(written)
    return out


def verify_rows(
    rows: Sequence[dict[str, Any]], fields: Sequence[Fields], *, steps: bool = False
) -> list[dict[str, Any]]:
    """Each row (read through its ``fields``) plus the verdict columns (and the step
    columns with ``steps``), in order."""
    records = verify_answers([row_record(r, f) for r, f in zip(rows, fields, strict=True)])
    columns: tuple[str, ...] = ANSWER_COLUMNS
    if steps:
        step_verifier = StepVerifier()
        records = step_verifier.verify(records)
        columns += step_verifier.columns
    return [_output_row(row, rec, columns) for row, rec in zip(rows, records, strict=True)]
