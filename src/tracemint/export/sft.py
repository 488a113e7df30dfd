"""SFT rows in the conversational ``messages`` layout TRL's ``SFTTrainer`` reads."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from tracemint.export.base import Exporter, exporters, provenance
from tracemint.export.checks import is_accepted
from tracemint.records import Record


@exporters.register("sft")
class SFTExporter(Exporter):
    """One row per accepted trace: user question, assistant rationale.

    Only ``accepted is True`` counts: a row that selection never saw (null) is not data.
    """

    name = "sft"

    def rows(self, traces: Iterable[Record]) -> Iterator[dict[str, Any]]:
        for t in traces:
            if not is_accepted(t):
                continue
            yield {
                "messages": [
                    *self.prompt_messages(t),
                    {"role": "assistant", "content": t["completion"]},
                ],
                **provenance(t),
                "trace_id": t["trace_id"],
                "verdict": t.get("verdict"),
                "answer": t.get("answer"),
                "agreement": t.get("agreement"),
            }
