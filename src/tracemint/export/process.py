"""Process supervision exports: TRL's stepwise PRM layout, and partially correct prefixes.

Step labels come from the best evidence a trace carries, in this order:

1. ``step_labels`` (Monte-Carlo estimates, when a rollout stage has run): used as given;
2. the step checker: a trace whose answer is ``correct`` and whose claims all check out is
   labelled all-good; a trace with a ``first_wrong_step`` k is labelled good before k and bad
   at k, and cut there (what follows a first error has no trustworthy label, the
   Math-Shepherd / PRM800K convention);
3. otherwise (a wrong answer with no located error) the trace is skipped: guessing which
   step went wrong would put noise in exactly the labels a PRM learns from.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from tracemint.export.base import Exporter, exporters, provenance
from tracemint.records import Record


def step_texts(t: Record) -> list[str]:
    return [s["text"] for s in (t.get("steps") or [])]


def step_labels(t: Record) -> list[bool] | None:
    """Per-step good/bad labels for a trace, or None when there is no trustworthy label."""
    steps = step_texts(t)
    if not steps or t.get("truncated"):
        return None
    given = t.get("step_labels")
    if given is not None:  # Monte-Carlo labels; stop at the first step left unlabelled
        known = []
        for x in given[: len(steps)]:
            if x is None:
                break
            known.append(bool(x))
        return known or None
    first_wrong = t.get("first_wrong_step")
    if first_wrong is not None:
        return [True] * first_wrong + [False]
    if t.get("verdict") == "correct":
        return [True] * len(steps)
    return None


@exporters.register("prm")
class ProcessExporter(Exporter):
    """TRL ``PRMTrainer`` rows: ``prompt``, ``completions`` (steps), ``labels`` (per step)."""

    name = "prm"

    def rows(self, traces: Iterable[Record]) -> Iterator[dict[str, Any]]:
        for t in traces:
            labels = step_labels(t)
            if labels is None:
                continue
            yield {
                "prompt": t["question"],
                "completions": step_texts(t)[: len(labels)],
                "labels": labels,
                **provenance(t),
                "trace_id": t["trace_id"],
                "verdict": t.get("verdict"),
            }


@exporters.register("sft_partial")
class PartialSFTExporter(Exporter):
    """The verified-good prefix of a wrong trace, as an SFT conversation marked ``partial``.

    Only traces with a located first error and at least one good step before it qualify;
    the prefix ends at that step, so it never contains the error. Use these as extra SFT
    data (the "partially correct solutions" result) or as prompts for continuation.
    """

    name = "sft_partial"

    def rows(self, traces: Iterable[Record]) -> Iterator[dict[str, Any]]:
        for t in traces:
            k = t.get("first_wrong_step")
            steps = t.get("steps") or []
            if t.get("verdict") == "correct" or not k or k > len(steps):
                continue
            text = t["completion"][: steps[k - 1]["end"]]
            yield {
                "messages": [
                    *self.prompt_messages(t),
                    {"role": "assistant", "content": text},
                ],
                "partial": True,
                "good_steps": k,
                **provenance(t),
                "trace_id": t["trace_id"],
                "verdict": t.get("verdict"),
            }
