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

How workers start: on Linux, when this process has no other Python thread, by ``os.fork``
of the parent, which has already imported everything a worker needs: a worker is ready in
milliseconds instead of the ~0.9 s (2-3 s on a busy 2-core box) that a fresh interpreter
spends importing pyarrow, pydantic, aiohttp and the grader, which on a 10,000-problem run
is a tenth of the wall time. Otherwise (other threads, which fork would leave holding
locks; macOS; Windows) a worker is a fresh ``python -m tracemint.runner.worker FD``. Both
run the same ``worker.main``; ``TRACEMINT_WORKER_START=exec`` forces the second.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, NoReturn, Protocol

from tracemint.config import Recipe
from tracemint.errors import RunError
from tracemint.records import Record
from tracemint.runner.worker import FrameReader, frame
from tracemint.teachers.base import WaitingCalls

#: a worker that does not answer "ready" within this long failed to start
START_TIMEOUT_S = 120.0


class _Process(Protocol):
    """What the pool needs of a worker process (``subprocess.Popen`` has it)."""

    pid: int

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def kill(self) -> None: ...


class _Forked:
    """A forked worker, with the ``Popen`` methods the pool uses."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere
                self.returncode = -1
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"minting worker {self.pid}", timeout or 0)
            time.sleep(0.01)
        return code

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


def start_method() -> str:
    """``fork`` where it is safe and fast (see the module docstring), else ``exec``."""
    forced = os.environ.get("TRACEMINT_WORKER_START", "")
    if forced in ("fork", "exec"):
        return forced
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return "fork"
    return "exec"


#: ``workers = "auto"`` uses two processes from this many requests in flight: at a few
#: hundred, one process's ~0.7 ms of CPU per record is what limits a fast server
AUTO_MIN_CONCURRENCY = 128


def auto_workers(concurrency: int | None) -> int:
    """What ``[run] workers = "auto"`` means here: 2 when the teacher may keep 128+ requests
    in flight, the machine has 2+ cores and workers start by fork (in milliseconds, so a
    short run loses nothing), else 1. More than 2 is a choice for the recipe: past that the
    parent's shard writing and the server itself usually share the same cores."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    if concurrency is None or concurrency < AUTO_MIN_CONCURRENCY or cores < 2:
        return 1
    return 2 if start_method() == "fork" else 1


def _name_process(name: str) -> None:
    """Show the worker as ``tracemint-w0`` in ``ps``/``top`` (Linux; best effort)."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def _forked_worker(index: int, fd: int, inherited: list[socket.socket]) -> NoReturn:
    """The child side of a fork: drop what belongs to the parent, then be a worker."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides how a run stops
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        # the parent's event loop and its signal wake-up socket are not this process's
        signal.set_wakeup_fd(-1)
        asyncio.events._set_running_loop(None)
        asyncio.set_event_loop(None)
        for s in inherited:  # the parent's ends: holding them would hide its death (EOF)
            s.close()
        random.seed()  # retry jitter must differ between workers
        _name_process(f"tracemint-w{index}")
        from tracemint.runner.worker import main

        code = main([str(fd)])
    except BaseException:  # a child must never return into the parent's stack
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


class _Proc:
    """The parent's view of one worker: its process, socket and problems in flight."""

    def __init__(self, index: int, proc: _Process, sock: socket.socket) -> None:
        self.index = index
        self.proc = proc
        self.sock = sock
        self.reader = FrameReader()
        self.pending: dict[int, asyncio.Future[list[Record]]] = {}
        self.outbox: list[tuple[int, Record]] = []
        self.wbuf = bytearray()  # bytes the socket did not take yet (sent when writable)
        self.ready: asyncio.Future[None] | None = None
        self.dead = False
        # its teacher's last report: calls waiting, oldest age, this loop's time of the report
        self.waiting: tuple[int, float, float] = (0, 0.0, 0.0)


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
        self.start_method = "exec"
        self._next_token = 0
        self._flush_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def spawn(self) -> None:
        """Start the worker processes; they build their teachers meanwhile. Call from the
        running loop. Nothing touches the run directory until the first problem."""
        self._loop = asyncio.get_running_loop()
        shares = concurrency_shares(self.concurrency or self.workers, self.workers)
        self.start_method = start_method()
        for i in range(self.workers):
            mine, theirs = socket.socketpair()
            proc = self._start(i, mine, theirs)
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

    def _start(self, index: int, mine: socket.socket, theirs: socket.socket) -> _Process:
        if self.start_method == "fork":
            for stream in (sys.stdout, sys.stderr):  # else the child writes them out again
                with contextlib.suppress(Exception):
                    stream.flush()
            # a Ctrl-C between fork and the child's SIG_IGN must wait for the parent
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                pid = os.fork()
                if pid == 0:
                    _forked_worker(index, theirs.detach(), [mine, *(p.sock for p in self._procs)])
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # as the caller had it
            return _Forked(pid)
        env = dict(os.environ)
        # the workers must import this very package, also when it runs from a source tree
        src = str(Path(__file__).resolve().parent.parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        return subprocess.Popen(
            [sys.executable, "-m", "tracemint.runner.worker", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            env=env,
            stdin=subprocess.DEVNULL,
        )

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
        elif kind == "waiting":
            assert self._loop is not None
            p.waiting = (msg[1], msg[2], self._loop.time())
        elif kind == "failed":
            error = msg[1]
            if p.ready is not None and not p.ready.done():
                p.ready.set_exception(error)
            self._fail_pending(p, error)

    def waiting(self) -> WaitingCalls:
        """The workers' teachers' waiting calls together (``Teacher.waiting``), from their
        reports: each worker reports every ``WAITING_REPORT_S`` while it has calls waiting,
        and the oldest age is carried forward from the time of its report."""
        calls, oldest = 0, 0.0
        now = self._loop.time() if self._loop is not None else 0.0
        for p in self._procs:
            n, age, at = p.waiting
            if n and not p.dead:
                calls += n
                oldest = max(oldest, age + now - at)
        return WaitingCalls(calls, oldest)

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
