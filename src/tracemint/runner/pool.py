"""Mint in several local processes: ``[run] workers = N``.

Why: one Python process tops out near 1,000 problems/s through the whole pipeline (teacher
client, prompts, call cache, grader, step checker: ~0.8 ms of CPU each), which is below what
one busy server at 256 concurrent requests can answer. N workers each run the unchanged
``mint_problem`` in their own event loop with 1/N of the teacher's concurrency, so the client
side scales with cores. The parent keeps the source, the problem filter, the progress bar and
every shard write, so a run directory is the same whether 1 or N processes minted it, and
``--resume`` works across any change of N.

``WorkerPool.mint(problem)`` is a drop-in for ``mint_problem(problem, ctx)``: the runner's
bounded window, flushing and failure handling are the same code for both.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from tracemint.config import Recipe
from tracemint.errors import RunError
from tracemint.records import Record
from tracemint.runner.worker import FrameReader, frame

#: a worker that does not answer "ready" within this long failed to start
START_TIMEOUT_S = 120.0


class _Proc:
    """The parent's view of one worker: its process, socket and problems in flight."""

    def __init__(self, index: int, proc: subprocess.Popen[bytes], sock: socket.socket) -> None:
        self.index = index
        self.proc = proc
        self.sock = sock
        self.reader = FrameReader()
        self.pending: dict[int, asyncio.Future[list[Record]]] = {}
        self.outbox: list[tuple[int, Record]] = []
        self.wbuf = bytearray()  # bytes the socket did not take yet (sent when writable)
        self.ready: asyncio.Future[None] | None = None
        self.dead = False


def concurrency_shares(total: int, workers: int) -> list[int]:
    """Split a concurrency limit over workers (the first ones get the remainder; each >= 1)."""
    base, extra = divmod(total, workers)
    return [max(1, base + (1 if i < extra else 0)) for i in range(workers)]


class WorkerPool:
    """N worker processes minting problems for one run (see the module docstring)."""

    def __init__(
        self, recipe: Recipe, cache_path: Path, workers: int, concurrency: int | None
    ) -> None:
        """``concurrency``: the teacher's limit, split over the workers (None: it has none)."""
        if workers < 2:
            raise ValueError("a worker pool needs at least 2 workers")
        self.recipe = recipe
        self.cache_path = cache_path
        self.workers = workers
        self.concurrency = concurrency
        self._procs: list[_Proc] = []
        self._next_token = 0
        self._flush_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def spawn(self) -> None:
        """Start the worker processes; they import and build their teachers meanwhile. Call
        from the running loop. Nothing touches the run directory until the first problem."""
        self._loop = asyncio.get_running_loop()
        shares = concurrency_shares(self.concurrency or self.workers, self.workers)
        env = dict(os.environ)
        # the workers must import this very package, also when it runs from a source tree
        src = str(Path(__file__).resolve().parent.parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        for i in range(self.workers):
            mine, theirs = socket.socketpair()
            proc = subprocess.Popen(
                [sys.executable, "-m", "tracemint.runner.worker", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                env=env,
                stdin=subprocess.DEVNULL,
            )
            theirs.close()
            mine.setblocking(False)
            p = _Proc(i, proc, mine)
            p.ready = self._loop.create_future()
            self._procs.append(p)
            self._send(
                p,
                {
                    "index": i,
                    "recipe": self.recipe,
                    "concurrency": shares[i],
                    "cache_path": str(self.cache_path),
                },
            )
            self._loop.add_reader(mine.fileno(), self._on_readable, p)

    async def ready(self) -> None:
        """Wait until every worker has built its teacher (a failure to do so is raised)."""
        try:
            await asyncio.wait_for(
                asyncio.gather(*(p.ready for p in self._procs if p.ready is not None)),
                START_TIMEOUT_S,
            )
        except asyncio.TimeoutError:
            raise RunError(
                f"minting workers did not start within {START_TIMEOUT_S:.0f} s"
            ) from None

    async def mint(self, problem: Record) -> list[Record]:
        """The traces of one problem, minted by the least busy worker."""
        live = [p for p in self._procs if not p.dead]
        if not live:
            raise RunError("every minting worker has stopped")
        proc = min(live, key=lambda p: len(p.pending))
        assert self._loop is not None
        token = self._next_token
        self._next_token += 1
        fut: asyncio.Future[list[Record]] = self._loop.create_future()
        proc.pending[token] = fut
        proc.outbox.append((token, problem))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        try:
            return await fut
        finally:
            proc.pending.pop(token, None)

    def _flush(self) -> None:
        """Send each worker what was queued for it this loop iteration, in one message."""
        self._flush_scheduled = False
        for p in self._procs:
            if p.outbox and not p.dead:
                batch, p.outbox = p.outbox, []
                self._send(p, ("mint", batch))

    def _send(self, p: _Proc, msg: Any) -> None:
        """Write at once what the socket takes; the rest waits for it to become writable,
        in order, so messages never interleave and the caller never waits."""
        data = frame(msg)
        if p.wbuf:
            p.wbuf += data
            return
        try:
            sent = p.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._died(p)
            return
        if sent < len(data):
            p.wbuf += data[sent:]
            assert self._loop is not None
            self._loop.add_writer(p.sock.fileno(), self._on_writable, p)

    def _on_writable(self, p: _Proc) -> None:
        assert self._loop is not None
        try:
            sent = p.sock.send(p.wbuf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._loop.remove_writer(p.sock.fileno())
            self._died(p)
            return
        del p.wbuf[:sent]
        if not p.wbuf:
            self._loop.remove_writer(p.sock.fileno())

    def _on_readable(self, p: _Proc) -> None:
        while True:
            try:
                data = p.sock.recv(1 << 20)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self._died(p)
                return
            for msg in p.reader.feed(data):
                self._handle(p, msg)

    def _handle(self, p: _Proc, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "ready":
            if p.ready is not None and not p.ready.done():
                p.ready.set_result(None)
        elif kind == "done":
            for token, traces, error in msg[1]:
                fut = p.pending.get(token)
                if fut is None or fut.done():
                    continue  # the runner gave up on it (cancelled)
                if error is not None:
                    fut.set_exception(error)
                else:
                    fut.set_result(traces)
        elif kind == "failed":
            error = msg[1]
            if p.ready is not None and not p.ready.done():
                p.ready.set_exception(error)
            self._fail_pending(p, error)

    def _died(self, p: _Proc) -> None:
        if p.dead:
            return
        p.dead = True
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(p.sock.fileno())
        code = p.proc.poll()
        error = RunError(
            f"minting worker {p.index} (pid {p.proc.pid}) stopped"
            + (f" with exit code {code}" if code is not None else "")
            + "; finished problems are kept: rerun with --resume"
        )
        if p.ready is not None and not p.ready.done():
            p.ready.set_exception(error)
        self._fail_pending(p, error)

    def _fail_pending(self, p: _Proc, error: BaseException) -> None:
        for fut in list(p.pending.values()):
            if not fut.done():
                fut.set_exception(error)

    async def aclose(self) -> None:
        """Stop the workers: they cancel what is in flight, commit their caches and exit."""
        for p in self._procs:
            if not p.dead:
                self._send(p, ("stop",))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while any(p.wbuf and not p.dead for p in self._procs) and loop.time() < deadline:
            await asyncio.sleep(0.01)  # let the "stop" messages drain
        for p in self._procs:
            try:
                await loop.run_in_executor(None, p.proc.wait, 30)
            except subprocess.TimeoutExpired:
                p.proc.kill()
                await loop.run_in_executor(None, p.proc.wait)
            if not p.dead:
                p.dead = True
                with contextlib.suppress(Exception):
                    loop.remove_reader(p.sock.fileno())
            with contextlib.suppress(Exception):
                loop.remove_writer(p.sock.fileno())
            p.sock.close()
