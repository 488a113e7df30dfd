"""``tracemint eval``'s progress bar: accuracy so far, not "accepted".

Why: an evaluation keeps every trace (``select.keep = "all"``), so the minting bar's
"13 accepted" counted answered samples and read like success while the accuracy was 0.000.
The eval bar shows the share of graded samples that are correct, live.

How, without a second runner or a second bar: ``EvalRunner`` is the normal ``LocalRunner``
whose stats also count verdicts (``EvalStats``) and whose bar (``_progress_bar``) is the
run's own ``RunProgress`` with the accuracy as its tally (same refresh throttle, tokens/s,
ETA and waiting calls, with or without worker processes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tracemint.records import Record
from tracemint.runner.common import RunStats
from tracemint.runner.local import LocalRunner
from tracemint.runner.progress import RunProgress
from tracemint.teachers.base import WaitingCalls


@dataclass
class EvalStats(RunStats):
    """Run counters plus the verdicts an evaluation scores (correct of graded)."""

    correct: int = 0
    graded: int = 0

    def add(self, traces: list[Record]) -> tuple[int, int]:
        self.count(t.get("verdict") for t in traces)
        return super().add(traces)

    def count(self, verdicts: Any) -> None:
        for verdict in verdicts:
            self.graded += verdict in ("correct", "wrong")
            self.correct += verdict == "correct"


def accuracy_text(stats: EvalStats) -> str:
    """The bar's accuracy field: ``accuracy 0.412 of 52 graded`` (rich markup)."""
    if not stats.graded:
        return "accuracy [dim]n/a[/] (none graded yet)"
    return f"accuracy [bold]{stats.correct / stats.graded:.3f}[/] of {stats.graded:,} graded"


class EvalProgress(RunProgress):
    """The run's bar, "evaluating", with the accuracy read from ``stats`` on each refresh."""

    def __init__(self, stats: EvalStats, total: int | None, **kwargs: Any) -> None:
        super().__init__(total, verb="evaluating", tally=lambda: accuracy_text(stats), **kwargs)


class EvalRunner(LocalRunner):
    """``LocalRunner`` whose bar shows accuracy (``EvalProgress``) instead of accepted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stats: EvalStats = EvalStats()

    def _progress_bar(self, total: int | None, waiting: Callable[[], WaitingCalls]) -> RunProgress:
        if self.stats.skipped:  # a resumed evaluation: the accuracy so far includes them
            self.stats.count(self.store.read_traces(columns=["verdict"]).column(0).to_pylist())
        return EvalProgress(self.stats, total, enabled=self.show_progress, waiting=waiting)
