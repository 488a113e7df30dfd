"""Process supervision exports: TRL's stepwise PRM layout, and partially correct prefixes.

Every label comes from a check, and each row says which one in ``label_sources`` (a list
parallel to ``labels``):

* ``"arithmetic"``: the step checker evaluated the step's claims: ``wrong`` -> bad,
  ``ok`` -> good (exact arithmetic; it says nothing about the step's logic beyond that);
* ``"montecarlo"``: rollouts from the step's prefix (``step_labels``, written by
  ``stages/rollouts.py`` when ``[monte_carlo] enabled``) reached the reference or not;
* ``"answer"`` / ``"program"``: the last step holds the final answer, and the answer was
  graded against the reference (``"program"`` when a program-aided trace's answer is the
  value its program returned in the sandbox).

A step with a wrong claim is bad whatever the rollouts say (exact beats sampled); otherwise
a Monte-Carlo label wins over an arithmetic ``ok`` (rollouts also see logic errors). A step
nothing checked gets no label of its own: it is merged into the next labelled step (the
completion chunk runs from its start to that step's end, so the text is kept as written and
the label covers the chunk), and unlabelled steps after the last labelled one are dropped:
the row ends at the last checked step. The row is cut after the first bad label (what
follows a first error has no trustworthy label, the Math-Shepherd / PRM800K convention).
Truncated traces and traces with no checked step give no row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from tracemint.export.base import MESSAGES, PROVENANCE, Exporter, exporters, provenance
from tracemint.export.checks import step_checked_ok
from tracemint.records import Record

LABEL_SOURCES = ("arithmetic", "montecarlo", "answer", "program")


def step_texts(t: Record) -> list[str]:
    return [s["text"] for s in (t.get("steps") or [])]


def _step_label(t: Record, i: int, last: bool) -> tuple[bool, str] | None:
    """The label of step ``i`` and the check it came from, or None when nothing checked it."""
    step = t["steps"][i]
    if step.get("verdict") == "wrong":
        return False, "arithmetic"
    mc = t.get("step_labels")
    if mc is not None and i < len(mc) and mc[i] is not None:
        return bool(mc[i]), "montecarlo"
    if step_checked_ok(step):
        return True, "arithmetic"
    if last and t.get("reference") is not None and t.get("verdict") in ("correct", "wrong"):
        source = "program" if t.get("program_status") == "ok" else "answer"
        return t["verdict"] == "correct", source
    return None


@dataclass(frozen=True)
class LabelledChunk:
    """Steps ``first..last`` (inclusive) as one PRM completion, labelled by step ``last``."""

    first: int
    last: int
    label: bool
    source: str


def labelled_chunks(t: Record) -> list[LabelledChunk] | None:
    """The checked chunks of a trace (see the module doc), or None when there are none."""
    steps = t.get("steps") or []
    if not steps or t.get("truncated"):
        return None
    chunks: list[LabelledChunk] = []
    start = 0
    for i in range(len(steps)):
        found = _step_label(t, i, last=i == len(steps) - 1)
        if found is None:
            continue
        chunks.append(LabelledChunk(start, i, found[0], found[1]))
        start = i + 1
        if not found[0]:
            break
    return chunks or None


def step_labels(t: Record) -> list[bool] | None:
    """Per-chunk good/bad labels for a trace, or None when no step of it was checked."""
    chunks = labelled_chunks(t)
    return None if chunks is None else [c.label for c in chunks]


@exporters.register("prm")
class ProcessExporter(Exporter):
    """TRL ``PRMTrainer`` rows: ``prompt``, ``completions`` (steps), ``labels`` (per step),
    plus ``label_sources`` (the check behind each label) and ``step_ranges`` (which of the
    trace's steps each completion covers, as ``[first, last]``)."""

    name = "prm"
    columns = pa.schema(
        [
            ("prompt", pa.string()),
            ("completions", pa.list_(pa.string())),
            ("labels", pa.list_(pa.bool_())),
            ("label_sources", pa.list_(pa.string())),
            ("step_ranges", pa.list_(pa.list_(pa.int64()))),
            *PROVENANCE,
            ("trace_id", pa.string()),
            ("verdict", pa.string()),
        ]
    )

    def rows(self, traces: Iterable[Record]) -> Iterator[dict[str, Any]]:
        for t in traces:
            chunks = labelled_chunks(t)
            if chunks is None:
                continue
            steps, text = t["steps"], t["completion"]
            yield {
                "prompt": t["question"],
                "completions": [
                    text[steps[c.first]["start"] : steps[c.last]["end"]] for c in chunks
                ],
                "labels": [c.label for c in chunks],
                "label_sources": [c.source for c in chunks],
                "step_ranges": [[c.first, c.last] for c in chunks],
                **provenance(t),
                "trace_id": t["trace_id"],
                "verdict": t.get("verdict"),
            }


def checked_prefix_end(t: Record) -> int | None:
    """Index of the last arithmetic-``ok`` step before the first wrong one, or None."""
    k = t.get("first_wrong_step")
    steps = t.get("steps") or []
    if k is None or k > len(steps):
        return None
    return next((i for i in range(k - 1, -1, -1) if step_checked_ok(steps[i])), None)


@exporters.register("sft_partial")
class PartialSFTExporter(Exporter):
    """The checked-good prefix of a wrong trace, as an SFT conversation marked ``partial``.

    Only traces with a located first error qualify, and the prefix ends at the last step
    before it whose arithmetic claims checked out: it never contains the error, and it never
    ends on text nothing checked. A trace with no checked-ok step before its error gives no
    row. Use these as extra SFT data (the "partially correct solutions" result) or as
    prompts for continuation.
    """

    name = "sft_partial"
    columns = pa.schema(
        [
            ("messages", MESSAGES),
            ("partial", pa.bool_()),
            ("good_steps", pa.int64()),
            ("checked_steps", pa.int64()),
            *PROVENANCE,
            ("trace_id", pa.string()),
            ("verdict", pa.string()),
        ]
    )

    def rows(self, traces: Iterable[Record]) -> Iterator[dict[str, Any]]:
        for t in traces:
            if t.get("verdict") == "correct":
                continue
            end = checked_prefix_end(t)
            if end is None:
                continue
            steps = t["steps"]
            text = t["completion"][: steps[end]["end"]]
            yield {
                "messages": [
                    *self.prompt_messages(t),
                    {"role": "assistant", "content": text},
                ],
                "partial": True,
                "good_steps": end + 1,
                "checked_steps": sum(step_checked_ok(s) for s in steps[: end + 1]),
                **provenance(t),
                "trace_id": t["trace_id"],
                "verdict": t.get("verdict"),
            }
