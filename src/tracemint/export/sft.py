"""SFT rows in TRL's conversational layouts: ``prompt``/``completion`` (default) or ``messages``.

``sft`` writes the prompt-completion layout: ``prompt`` is the conversation up to the user
turn, ``completion`` is ``[assistant message]``. Why the default: TRL's ``SFTTrainer``
computes the loss on the completion only for this layout (``completion_only_loss``, on by
default), while a ``messages`` row is trained on every token, system prompt and question
included, unless ``assistant_only_loss`` is set, which needs a chat template with
generation markers that most small models' templates (SmolLM2's among them) do not have.
``sft_messages`` writes the older single-column ``messages`` layout, for tools that want it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa

from tracemint.export.base import MESSAGES, PROVENANCE, Exporter, exporters, provenance
from tracemint.export.checks import is_accepted
from tracemint.records import Record

_SFT_TAIL = pa.schema(
    [
        *PROVENANCE,
        ("trace_id", pa.string()),
        ("verdict", pa.string()),
        ("answer", pa.string()),
        ("agreement", pa.float64()),
    ]
)


@exporters.register("sft")
class SFTExporter(Exporter):
    """One row per accepted trace: ``prompt`` (system?, user), ``completion`` (assistant).

    Only ``accepted is True`` counts: a row that selection never saw (null) is not data.
    """

    name = "sft"
    columns = pa.schema([("prompt", MESSAGES), ("completion", MESSAGES), *_SFT_TAIL])

    def rows(self, traces: Iterable[Record]) -> Iterator[dict[str, Any]]:
        for t in traces:
            if not is_accepted(t):
                continue
            yield {
                "prompt": self.prompt_messages(t),
                "completion": [{"role": "assistant", "content": t["completion"]}],
                **_tail(t),
            }


@exporters.register("sft_messages")
class SFTMessagesExporter(Exporter):
    """The same rows as ``sft``, as one ``messages`` conversation (user question, assistant
    rationale). TRL trains on every token of it by default; see the module docstring."""

    name = "sft_messages"
    columns = pa.schema([("messages", MESSAGES), *_SFT_TAIL])

    def rows(self, traces: Iterable[Record]) -> Iterator[dict[str, Any]]:
        for t in traces:
            if not is_accepted(t):
                continue
            yield {
                "messages": [
                    *self.prompt_messages(t),
                    {"role": "assistant", "content": t["completion"]},
                ],
                **_tail(t),
            }


def _tail(t: Record) -> dict[str, Any]:
    """Provenance and verdict columns, shared by every SFT layout."""
    return {
        **provenance(t),
        "trace_id": t["trace_id"],
        "verdict": t.get("verdict"),
        "answer": t.get("answer"),
        "agreement": t.get("agreement"),
    }


#: Task prefixes of ``sft_multitask``, in front of the question ("Distilling step-by-step",
#: Hsieh et al. 2023). At test time the student is asked with the answer prefix only, so the
#: rationale shapes training and costs nothing at inference.
TASK_PREFIXES = {"answer": "[answer] ", "rationale": "[rationale] "}


@exporters.register("sft_multitask")
class SFTMultitaskExporter(Exporter):
    """Rationales as a second task: two ``messages`` rows per accepted trace, the question
    behind ``[answer] `` answered with the final answer alone, and behind ``[rationale] ``
    answered with the whole rationale. ``task`` names the row's task."""

    name = "sft_multitask"
    columns = pa.schema([("messages", MESSAGES), ("task", pa.string()), *_SFT_TAIL])

    def rows(self, traces: Iterable[Record]) -> Iterator[dict[str, Any]]:
        for t in traces:
            if not is_accepted(t) or t.get("answer") is None:
                continue  # an accepted trace has an answer; a row without one is no data
            *system, user = self.prompt_messages(t)
            outputs = {"answer": f"The answer is {t['answer']}.", "rationale": t["completion"]}
            for task, output in outputs.items():
                asked = {**user, "content": TASK_PREFIXES[task] + user["content"]}
                yield {
                    "messages": [*system, asked, {"role": "assistant", "content": output}],
                    "task": task,
                    **_tail(t),
                }
