"""One minting worker process of the local runner's process pool (``[run] workers``).

Started by ``runner/pool.py`` as ``python -m tracemint.runner.worker FD``, where FD is its end
of a socket pair; each message is an 8-byte length and a pickle (``frame``). Why not
``multiprocessing.Connection``: the parent reads its end from the event loop, which makes
the socket non-blocking, and ``Connection.recv`` cannot resume a half-arrived message.

It builds its own teacher (with its share of the concurrency), call cache
and sandbox, then mints whatever problems arrive with the same ``mint_problem`` the
in-process runner uses, and sends back each problem's traces. Messages are pickled tuples:

    parent -> worker   ("mint", [(token, problem), ...])   ("stop",)
    worker -> parent   ("ready",)   ("done", [(token, traces | None, error | None), ...])
                       ("waiting", calls, oldest_s)

``waiting`` is its teacher's ``Teacher.waiting()``, sent every ``WAITING_REPORT_S`` while
calls wait (and once more when none do), so the parent's progress bar shows a hung server
whichever process is waiting on it.

Why the worker never writes shards: the parent writes every shard, so shard numbering, the
manifest's counts and the progress bar stay exactly those of a one-process run. Why a
reader thread: the parent may send at any time, and a send must never wait for this loop.
A closed socket (the parent was killed) stops the worker after it committed its cache, so
every call that returned is answered from the cache on ``--resume``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import pickle
import signal
import socket
import struct
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tracemint.errors import portable_error

_HEADER = struct.Struct("!Q")

#: how often a worker with calls waiting reports them to the parent's progress bar
WAITING_REPORT_S = 0.5


def frame(obj: Any) -> bytes:
    """One message on the wire: its pickled length, then the pickle."""
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(payload)) + payload


class FrameReader:
    """Reassembles messages from whatever chunks a non-blocking socket hands over."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> Iterator[Any]:
        buf = self._buf
        buf += data
        size = _HEADER.size
        while len(buf) >= size:
            (n,) = _HEADER.unpack_from(buf)
            if len(buf) < size + n:
                break
            obj = pickle.loads(memoryview(buf)[size : size + n])
            del buf[: size + n]
            yield obj


class BlockingChannel:
    """The worker's end: blocking reads on the reader thread, locked whole-message sends."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._lock = threading.Lock()
        self._reader = FrameReader()
        self._ready: list[Any] = []

    def send(self, obj: Any) -> None:
        data = frame(obj)
        with self._lock:
            self.sock.sendall(data)

    def recv(self) -> Any:
        while not self._ready:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError
            self._ready.extend(self._reader.feed(chunk))
        return self._ready.pop(0)


def teacher_with_concurrency(recipe: Any, share: int) -> Any:
    """The recipe's teacher with this worker's share of its concurrency limit (teachers
    without one, e.g. the embedded model, are built as configured)."""
    from tracemint import plugins
    from tracemint.config import component_config

    cls = plugins.teachers.get(recipe.teacher.type)
    cfg = component_config(recipe.teacher, cls)
    if "concurrency" in type(cfg).model_fields:
        cfg = cfg.model_copy(update={"concurrency": share})
    return cls(cfg)


class _Worker:
    def __init__(self, conn: BlockingChannel, setup: dict[str, Any]) -> None:
        self.conn = conn
        self.setup = setup
        self.name = f"worker {setup['index']}"
        self.tasks: set[asyncio.Task[None]] = set()
        self.outbox: list[tuple[int, Any, Any]] = []
        self.flush_scheduled = False
        self.stopping: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ctx: Any = None  # the MintContext, built in the worker's own loop
        self.mint_problem: Any = None
        self.reported_calls = 0  # calls waiting in the last "waiting" report
        self.reporter: asyncio.TimerHandle | None = None

    async def run(self) -> None:
        from tracemint.runner.mint import mint_context, mint_problem
        from tracemint.strategies import load_strategy

        self.mint_problem = mint_problem
        recipe = self.setup["recipe"]
        self.loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        teacher = teacher_with_concurrency(recipe, self.setup["concurrency"])
        strategy = load_strategy(recipe.strategy.name, recipe.strategy.template_dir)
        # the cache is opened with the first problem: until then the parent may still find
        # that the run directory must not be touched (a mistaken rerun)
        ctx = self.ctx = mint_context(recipe, teacher, strategy, None)
        gc.freeze()  # as in the one-process runner: keep full collections off the hot path
        threading.Thread(target=self._read, name="tracemint-worker-reader", daemon=True).start()
        self.conn.send(("ready",))
        self.reporter = self.loop.call_later(WAITING_REPORT_S, self._report_waiting, teacher)
        try:
            await self.stopping.wait()
        finally:
            self.reporter.cancel()
            for t in list(self.tasks):
                t.cancel()
            if self.tasks:
                await asyncio.gather(*self.tasks, return_exceptions=True)
            self._flush()
            if ctx.cache is not None:
                ctx.cache.close()
            if ctx.sandbox is not None:
                ctx.sandbox.close()
            await teacher.aclose()

    def _report_waiting(self, teacher: Any) -> None:
        """Every ``WAITING_REPORT_S``: tell the parent what the teacher is waiting for (nothing
        is sent while nothing waits: an idle worker costs one timer a tick)."""
        assert self.loop is not None and self.stopping is not None
        calls, oldest_s = teacher.waiting()
        if calls or self.reported_calls:
            self.reported_calls = calls
            try:
                self.conn.send(("waiting", calls, oldest_s))
            except OSError:
                self.stopping.set()  # the parent is gone
                return
        self.reporter = self.loop.call_later(WAITING_REPORT_S, self._report_waiting, teacher)

    def _read(self) -> None:
        """Reader thread: hand every message to the loop; EOF (parent gone) stops it."""
        assert self.loop is not None
        while True:
            try:
                msg = self.conn.recv()
            except (EOFError, OSError):
                msg = ("stop",)
            try:
                self.loop.call_soon_threadsafe(self._handle, msg)
            except RuntimeError:  # the loop already closed
                return
            if msg[0] == "stop":
                return

    def _handle(self, msg: tuple[Any, ...]) -> None:
        assert self.stopping is not None
        if msg[0] == "stop":
            self.stopping.set()
            return
        if self.ctx.cache is None:
            from tracemint.cache import CallCache

            self.ctx.cache = CallCache(Path(self.setup["cache_path"]))
        for token, problem in msg[1]:
            task = asyncio.ensure_future(self._mint(token, problem))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _mint(self, token: int, problem: dict[str, Any]) -> None:
        try:
            traces = await self.mint_problem(problem, self.ctx)
        except asyncio.CancelledError:
            raise
        except BaseException as e:
            self._send(token, None, portable_error(e, self.name))
        else:
            self._send(token, traces, None)

    def _send(self, token: int, traces: Any, error: Any) -> None:
        self.outbox.append((token, traces, error))
        if not self.flush_scheduled:
            self.flush_scheduled = True
            assert self.loop is not None
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        """One message per loop iteration: results that finished together travel together."""
        self.flush_scheduled = False
        if self.outbox:
            batch, self.outbox = self.outbox, []
            try:
                self.conn.send(("done", batch))
            except (BrokenPipeError, ConnectionResetError, OSError):
                assert self.stopping is not None
                self.stopping.set()  # the parent is gone: nobody to report to


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    # Ctrl-C reaches the whole process group: the parent decides how the run stops, and it
    # then tells this worker to cancel, commit its cache and exit.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = BlockingChannel(socket.socket(fileno=int(args[0])))
    setup = conn.recv()
    worker = _Worker(conn, setup)

    async def go() -> None:
        await worker.run()

    from tracemint.runner.loop import run as run_loop

    try:
        run_loop(go())
    except Exception as e:  # a failure to start (bad teacher config): tell the parent
        with contextlib.suppress(OSError):
            conn.send(("failed", portable_error(e, worker.name)))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
