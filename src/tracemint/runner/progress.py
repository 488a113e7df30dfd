"""The run's progress bar: problems done, accepted traces, tokens/s, ETA (rich), and the
teacher's calls waiting for an answer with the age of the oldest.

Why the waiting calls: a server that accepts connections but never answers otherwise looks
exactly like a slow one, a bar that does not move; "12 calls waiting, oldest 41 s" says
which it is long before the teacher gives up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
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

from tracemint.teachers.base import WaitingCalls

#: from this age on, the oldest waiting call is shown in yellow: past what a working GPU
#: server takes for one answer
SLOW_CALL_S = 30.0


def waiting_text(w: WaitingCalls) -> str:
    """The bar's waiting-calls field (rich markup); empty while nothing waits."""
    if not w.calls:
        return ""
    text = f"{w.calls} call{'s' if w.calls != 1 else ''} waiting, oldest {w.oldest_s:.0f} s"
    return f"[yellow]{text}[/]" if w.oldest_s >= SLOW_CALL_S else text


class RunProgress:
    """A thin wrapper so the runner just reports numbers; ``enabled=False`` for tests.

    Updates reach rich at most every ``REFRESH_S``: a rich update costs ~30 us, which at
    1,000+ problems/s is a measurable share of the event loop, and the bar redraws only a few
    times a second anyway.

    ``waiting`` (e.g. ``Teacher.waiting``) is asked every ``WAITING_REFRESH_S`` by a timer on
    the running event loop, not on each update: when the server hangs there are no updates.
    """

    REFRESH_S = 0.1
    WAITING_REFRESH_S = 0.5

    def __init__(
        self,
        total: int | None,
        *,
        enabled: bool = True,
        console: Console | None = None,
        waiting: Callable[[], WaitingCalls] | None = None,
        verb: str = "minting",
        tally: Callable[[], str] | None = None,
    ) -> None:
        self.enabled = enabled
        # the count beside the bar (rich markup), asked on each refresh: accepted traces by
        # default; an evaluation shows its accuracy instead (evaluate/progress.py)
        self._tally = tally or (lambda: f"[green]{self.accepted} accepted")
        self._waiting = waiting
        self._waiting_timer: asyncio.TimerHandle | None = None
        self.started = time.monotonic()
        self.tokens = 0
        self.accepted = 0
        self._unshown = 0  # problems finished since the last update
        self._last_update = 0.0
        self._progress = Progress(
            TextColumn(f"[bold]{verb}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("problems"),
            TextColumn("{task.fields[tally]}"),
            TextColumn("{task.fields[tps]} tok/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[waiting]}"),
            console=console,
            disable=not enabled,
        )
        self._task: TaskID = self._progress.add_task(
            verb, total=total, tally=self._tally(), tps="0", waiting=""
        )

    def __enter__(self) -> RunProgress:
        self._progress.__enter__()
        if self.enabled and self._waiting is not None:
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # no loop (a synchronous caller): no waiting calls shown
                pass
            else:
                self._show_waiting()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._waiting_timer is not None:
            self._waiting_timer.cancel()
            self._waiting_timer = None
            assert self._waiting is not None
            self._progress.update(self._task, waiting=waiting_text(self._waiting()))
        self._show(time.monotonic())
        self._progress.__exit__(et, e, tb)

    def _show_waiting(self) -> None:
        assert self._waiting is not None
        self._progress.update(self._task, waiting=waiting_text(self._waiting()))
        self._waiting_timer = asyncio.get_running_loop().call_later(
            self.WAITING_REFRESH_S, self._show_waiting
        )

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
            self._task, advance=self._unshown, tally=self._tally(), tps=f"{rate:,.0f}"
        )
        self._unshown = 0
