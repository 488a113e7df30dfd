"""``tracemint eval``'s progress bar: accuracy so far, not "accepted".

Why: an evaluation keeps every trace (``select.keep = "all"``), so the minting bar's
"13 accepted" counted answered samples and read like success while the accuracy was 0.000.
The eval bar shows the share of graded samples that are correct, live.

How, without a second runner: ``EvalRunner`` is the normal ``LocalRunner`` whose stats also
count verdicts (``EvalStats``) and whose minting loop reports to ``EvalProgress``, the
minting bar with an accuracy column in place of the accepted one (same refresh throttle,
tokens/s, ETA and waiting calls). The runner's own bar is turned off, so one bar shows.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tracemint.config import Recipe
from tracemint.records import Record
from tracemint.runner.common import RunStats, open_source
from tracemint.runner.local import LocalRunner, MintContext
from tracemint.runner.progress import RunProgress
from tracemint.teachers.base import Teacher, WaitingCalls


@dataclass
class EvalStats(RunStats):
    """Run counters plus the verdicts an evaluation scores (correct of graded)."""

    correct: int = 0
    graded: int = 0

    def add(self, traces: list[Record]) -> tuple[int, int]:
        for t in traces:
            if t.get("verdict") in ("correct", "wrong"):
                self.graded += 1
                self.correct += t["verdict"] == "correct"
        return super().add(traces)


def accuracy_text(stats: EvalStats) -> str:
    """The bar's accuracy field: ``accuracy 0.412 of 52 graded`` (rich markup)."""
    if not stats.graded:
        return "accuracy [dim]n/a[/] (none graded yet)"
    return f"accuracy [bold]{stats.correct / stats.graded:.3f}[/] of {stats.graded:,} graded"


class EvalProgress(RunProgress):
    """The minting bar with accuracy (read from ``stats`` on each refresh) for "accepted"."""

    def __init__(
        self,
        stats: EvalStats,
        total: int | None,
        *,
        enabled: bool = True,
        console: Console | None = None,
        waiting: Callable[[], WaitingCalls] | None = None,
    ) -> None:
        super().__init__(total, enabled=enabled, console=console, waiting=waiting)
        self.stats = stats
        self._progress = Progress(
            TextColumn("[bold]evaluating"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("problems"),
            TextColumn("{task.fields[accuracy]}"),
            TextColumn("{task.fields[tps]} tok/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[waiting]}"),
            console=console,
            disable=not enabled,
        )
        self._task = self._progress.add_task(
            "eval", total=total, accuracy=accuracy_text(stats), tps="0", waiting=""
        )

    def _show(self, now: float) -> None:
        self._progress.update(self._task, accuracy=accuracy_text(self.stats))
        super()._show(now)


class EvalRunner(LocalRunner):
    """``LocalRunner`` that shows the eval bar (``EvalProgress``) instead of the minting bar."""

    def __init__(
        self,
        recipe: Recipe,
        *,
        resume: bool = False,
        fresh: bool = False,
        progress: bool = True,
        teacher: Teacher | None = None,
    ) -> None:
        super().__init__(recipe, resume=resume, fresh=fresh, progress=False, teacher=teacher)
        self.stats: EvalStats = EvalStats()
        self.show_eval_bar = progress

    async def _mint_all(
        self,
        problems: Iterator[Record],
        done: set[str],
        mint: Callable[[Record], Coroutine[Any, Any, list[Record]]],
        ctx: MintContext,
        bar: RunProgress,
    ) -> None:
        if not self.show_eval_bar:
            await super()._mint_all(problems, done, mint, ctx, bar)
            return
        total = getattr(open_source(self.recipe), "count", lambda: None)()
        if done:  # a resumed evaluation: the accuracy so far includes the stored samples
            for verdict in self.store.read_traces(columns=["verdict"]).column(0).to_pylist():
                self.stats.graded += verdict in ("correct", "wrong")
                self.stats.correct += verdict == "correct"
        # with worker processes the calls wait in the workers: no waiting calls shown then
        with EvalProgress(self.stats, total, waiting=ctx.teacher.waiting) as mine:
            mine.advance(len(done), 0, 0)
            await super()._mint_all(problems, done, mint, ctx, mine)
