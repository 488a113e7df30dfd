"""Preference pairs in the conversational ``prompt``/``chosen``/``rejected`` layout of TRL.

A pair is an accepted and a known-wrong rationale of the same problem (see
``export/checks.py``). ``chosen`` is always a trace selection accepted, so it passed every
check selection ran (the answer against the reference or a strict majority, and the step
checker unless ``reject_wrong_steps`` is off), and it is never itself known wrong.
``rejected`` is known wrong: a ``wrong`` verdict, a located wrong step (a right answer
reached through a wrong step teaches a wrong habit), or, without a reference, an answer
against the majority. Never merely ``unverifiable``: a truncated or unparseable rationale
may still be right, and teaching a student to prefer against it would be noise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa

from tracemint.export.base import MESSAGES, PROVENANCE, Exporter, exporters, provenance
from tracemint.export.checks import is_chosen, is_wrong
from tracemint.records import Record


def roles(group: list[Record]) -> tuple[list[Record], list[Record]]:
    """(chosen candidates, rejected candidates) of one problem's traces, in sample order."""
    good = [t for t in group if is_chosen(t)]
    if not good:  # nothing verified to prefer: no pair, however many wrong traces
        return [], []
    bad = [t for t in group if is_wrong(t)]
    return good, bad


@exporters.register("dpo")
class PreferenceExporter(Exporter):
    """Up to ``max_pairs_per_problem`` pairs per problem, each trace used at most once."""

    name = "dpo"
    columns = pa.schema(
        [
            ("prompt", MESSAGES),
            ("chosen", MESSAGES),
            ("rejected", MESSAGES),
            *PROVENANCE,
            *((k, pa.string()) for k in ("chosen_trace_id", "rejected_trace_id")),
            *((k, pa.string()) for k in ("chosen_verdict", "rejected_verdict")),
            *((k, pa.string()) for k in ("chosen_answer", "rejected_answer")),
            ("rejected_wrong_step", pa.int64()),
        ]
    )

    def rows(self, traces: Iterable[Record]) -> Iterator[dict[str, Any]]:
        groups: dict[str, list[Record]] = defaultdict(list)
        for t in traces:
            groups[t["problem_id"]].append(t)
        for group in groups.values():
            good, bad = roles(sorted(group, key=lambda t: t["sample_index"]))
            pairs = list(zip(good, bad, strict=False))[: self.max_pairs_per_problem]
            for chosen, rejected in pairs:
                yield {
                    "prompt": self.prompt_messages(chosen),
                    "chosen": [{"role": "assistant", "content": chosen["completion"]}],
                    "rejected": [{"role": "assistant", "content": rejected["completion"]}],
                    **provenance(chosen),
                    "chosen_trace_id": chosen["trace_id"],
                    "rejected_trace_id": rejected["trace_id"],
                    "chosen_verdict": chosen.get("verdict"),
                    "rejected_verdict": rejected.get("verdict"),
                    "chosen_answer": chosen.get("answer"),
                    "rejected_answer": rejected.get("answer"),
                    "rejected_wrong_step": rejected.get("first_wrong_step"),
                }
