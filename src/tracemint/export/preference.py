"""Preference pairs in the conversational ``prompt``/``chosen``/``rejected`` layout of TRL.

A pair is a correct and an incorrect rationale of the same problem. "Incorrect" means a
``wrong`` verdict against a reference, never merely ``unverifiable``: a truncated or
unparseable rationale may still be right, and teaching a student to prefer against it
would be noise. Problems without a reference pair majority-agreeing traces (chosen)
against dissenting ones (rejected) only when the majority is strict (agreement > 0.5).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from tracemint.export.base import Exporter, exporters, provenance
from tracemint.records import Record


def _roles(group: list[Record]) -> tuple[list[Record], list[Record]]:
    if group[0].get("reference") is not None:
        good = [t for t in group if t.get("verdict") == "correct" and not t.get("truncated")]
        bad = [t for t in group if t.get("verdict") == "wrong" and not t.get("truncated")]
        return good, bad
    if (group[0].get("agreement") or 0.0) <= 0.5:
        return [], []
    good = [t for t in group if t.get("accepted")]
    bad = [
        t
        for t in group
        if not t.get("accepted") and t.get("answer") is not None and not t.get("truncated")
    ]
    return good, bad


@exporters.register("dpo")
class PreferenceExporter(Exporter):
    """Up to ``max_pairs_per_problem`` pairs per problem, each trace used at most once."""

    name = "dpo"

    def rows(self, traces: Iterable[Record]) -> Iterator[dict[str, Any]]:
        groups: dict[str, list[Record]] = defaultdict(list)
        for t in traces:
            groups[t["problem_id"]].append(t)
        for group in groups.values():
            good, bad = _roles(sorted(group, key=lambda t: t["sample_index"]))
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
                }
