"""The run's progress bar: problems done, accepted traces, tokens/s, ETA (rich)."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class RunProgress:
    """A thin wrapper so the runner just reports numbers; ``enabled=False`` for tests.

    Updates reach rich at most every ``REFRESH_S``: a rich update costs ~30 us, which at
    1,000+ problems/s is a measurable share of the event loop, and the bar redraws only a few
    times a second anyway."""

    REFRESH_S = 0.1

    def __init__(
        self, total: int | None, *, enabled: bool = True, console: Console | None = None
    ) -> None:
        self.enabled = enabled
        self.started = time.monotonic()
        self.tokens = 0
        self.accepted = 0
        self._unshown = 0  # problems finished since the last update
        self._last_update = 0.0
        self._progress = Progress(
            TextColumn("[bold]minting"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("problems"),
            TextColumn("[green]{task.fields[accepted]} accepted"),
            TextColumn("{task.fields[tps]} tok/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled,
        )
        self._task: TaskID = self._progress.add_task("mint", total=total, accepted=0, tps="0")

    def __enter__(self) -> RunProgress:
        self._progress.__enter__()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._show(time.monotonic())
        self._progress.__exit__(et, e, tb)

    def advance(self, problems: int, accepted: int, new_tokens: int) -> None:
        self.tokens += new_tokens
        self.accepted += accepted
        self._unshown += problems
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_update >= self.REFRESH_S:
            self._show(now)

    def _show(self, now: float) -> None:
        self._last_update = now
        rate = self.tokens / max(now - self.started, 1e-6)
        self._progress.update(
            self._task, advance=self._unshown, accepted=self.accepted, tps=f"{rate:,.0f}"
        )
        self._unshown = 0
