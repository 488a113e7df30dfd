"""The ``openai`` teacher's patience: when a server has gone quiet, fail every waiting call.

Why a patience (``give_up_after_s``) on top of per-attempt timeouts and retries: a server that
accepts connections but never answers costs every request all its attempts, each a full
timeout (at 120 s x 9 attempts, 18 silent minutes) before anything fails. The patience looks
at the teacher as a whole instead: while calls are waiting and not one has been answered for
that long, the server is taken for dead and every waiting call fails at once.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

from tracemint.errors import TeacherUnavailableError
from tracemint.teachers.base import WaitingCalls


def _only_our_cancel(task: asyncio.Task[Any] | None) -> bool:
    """Whether the patience's cancel is the only one pending on ``task`` (so the call may
    raise the give-up error instead); a Ctrl-C that cancelled it too stays a cancel. Python
    3.10 has no ``uncancel``: there the patience's cancel is taken to be the only one."""
    uncancel = getattr(task, "uncancel", None)
    return uncancel is None or uncancel() == 0


class Patience:
    """The calls waiting for an answer, when the server last gave one, and one timer.

    A call ``enter``s before its first attempt and ``leave``s when it is done, however it
    ends; ``answered`` marks any answer. ``where`` names the server(s) in the give-up
    message and ``scrub`` keeps the API key out of it.
    """

    def __init__(
        self, give_up_after_s: float | None, where: str, scrub: Callable[[str], str]
    ) -> None:
        self.give_up_after_s = give_up_after_s
        self._where = where
        self._scrub = scrub
        # Calls waiting for an answer: id -> (monotonic start, the task awaiting it). Ids
        # grow, and a dict keeps insertion order, so the first entry is the oldest call:
        # O(1) to add and drop per call, cheap to read for a progress bar.
        self._calls: dict[int, tuple[float, asyncio.Task[Any] | None]] = {}
        self._call_ids = itertools.count()
        self._busy_since = 0.0  # when calls began to wait (the last time none were)
        self._last_ok = 0.0  # when the server last answered a call
        self.last_failure = ""  # why the last attempt since an answer failed (give-up message)
        self._timer: asyncio.TimerHandle | None = None
        self._given_up: dict[int, TeacherUnavailableError] = {}  # calls failed by patience

    def waiting(self) -> WaitingCalls:
        """Calls waiting for an answer and the age of the oldest (see ``Teacher.waiting``)."""
        calls = self._calls
        if not calls:
            return WaitingCalls()
        started, _ = next(iter(calls.values()))
        return WaitingCalls(len(calls), time.monotonic() - started)

    def enter(self) -> int:
        """Start waiting on behalf of the current task; the call's id, for ``leave``."""
        calls = self._calls
        now = time.monotonic()
        if not calls:
            self._busy_since = now
            if self._timer is None and self.give_up_after_s:
                self._arm(self.give_up_after_s)
        call = next(self._call_ids)
        calls[call] = (now, asyncio.current_task())
        return call

    def leave(self, call: int) -> None:
        del self._calls[call]
        if self._given_up:
            self._given_up.pop(call, None)

    def answered(self) -> None:
        self._last_ok = time.monotonic()
        self.last_failure = ""

    def gave_up_on(self, call: int) -> TeacherUnavailableError | None:
        """The error to raise instead of the ``CancelledError`` that ``call`` got, when the
        patience sent it (and nothing else did)."""
        error = self._given_up.pop(call, None)
        if error is not None and _only_our_cancel(asyncio.current_task()):
            return error
        return None

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, delay: float) -> None:
        self._timer = asyncio.get_running_loop().call_later(delay, self._check)

    def _check(self) -> None:
        """The patience timer: one per teacher, armed when calls begin to wait and moved to
        the new deadline whenever an answer came meanwhile, so it fires about once per
        ``give_up_after_s`` however many calls a second succeed (no per-call cost)."""
        self._timer = None
        patience = self.give_up_after_s
        calls = self._calls
        if not calls or not patience:
            return  # idle: the next call to wait arms it again
        quiet_since = max(self._last_ok, self._busy_since)
        now = time.monotonic()
        if now - quiet_since < patience:
            self._arm(quiet_since + patience - now)
            return
        self._give_up(now - quiet_since)
        # calls that start from now on get a whole new window
        self._busy_since = now
        self._arm(patience)

    def _give_up(self, quiet_s: float) -> None:
        """Fail every waiting call with one clear error: each waiting task is cancelled
        and ``gave_up_on`` turns that cancellation into the error (a cancel is the only
        way into a call blocked on a socket that never answers)."""
        calls = self._calls
        n = len(calls)
        last = f"; last failure: {self.last_failure}" if self.last_failure else ""
        message = self._scrub(
            f"teacher at {self._where} has not answered any request for {quiet_s:.0f} s "
            f"({n} call{'s' if n != 1 else ''} waiting{last}); check that the server is "
            "running and responsive, or raise [teacher] give_up_after_s. Finished work is "
            "kept: rerun with --resume"
        )
        for call, (_, task) in list(calls.items()):
            if task is not None and not task.done() and call not in self._given_up:
                self._given_up[call] = TeacherUnavailableError(message)
                task.cancel()
