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
    """A thin wrapper so the runner just reports numbers; ``enabled=False`` for tests."""

    def __init__(
        self, total: int | None, *, enabled: bool = True, console: Console | None = None
    ) -> None:
        self.enabled = enabled
        self.started = time.monotonic()
        self.tokens = 0
        self.accepted = 0
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
        self._progress.__exit__(et, e, tb)

    def advance(self, problems: int, accepted: int, new_tokens: int) -> None:
        self.tokens += new_tokens
        self.accepted += accepted
        rate = self.tokens / max(time.monotonic() - self.started, 1e-6)
        self._progress.update(
            self._task, advance=problems, accepted=self.accepted, tps=f"{rate:,.0f}"
        )
