"""Run a teacher-written ``solution()`` in a locked-down subprocess and return its value.

Program-aided reasoning asks the teacher for Python; this module runs it. Usage::

    with Sandbox(SandboxConfig(cpu_s=2)) as sandbox:
        result = sandbox.run("def solution():\\n    return 1 + 1")
        assert result.status == "ok" and result.value == "2"

Design (measured in ``benchmarks/sandbox_speed.py``): one *zygote* interpreter per
``Sandbox`` imports the allowed modules (sympy: ~0.3 s) once, then forks a fresh worker per
program, keeping ``pool_size`` workers pre-forked and already locked down. A worker runs one
program and exits; nothing survives from one program to the next.

What protects the host, strongest first (``docs/sandbox.md`` is the threat model):

* process limits (CPU, wall clock, address space, processes, file size, open files) and a
  random unprivileged uid per worker (only when the caller is root), which makes
  RLIMIT_NPROC bite and lets every descendant be killed afterwards;
* a network namespace with no interface up, an IPC namespace per worker (SysV IPC and
  POSIX message queues die with it), and a fresh, size-limited tmpfs per *program* over
  /tmp, /var/tmp, /dev/shm, /run/lock, all inside a minimal root that holds only the
  interpreter's directories, read-only and noexec: no binary to run, no checkout, runs,
  inputs or home to read (where the kernel allows; see :attr:`Sandbox.protections`);
* an empty environment (``PATH`` and ``LANG`` only) and a fresh working directory;
* *defence in depth only*: an import allow-list and ``open`` confined to the working
  directory. Both live inside the same CPython as the program and can be bypassed by a
  determined attacker; the limits above are the boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import subprocess
import sys
import threading
from collections.abc import Iterable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from tracemint.config import DEFAULT_ALLOWED_MODULES, SandboxConfig
from tracemint.errors import TracemintError

__all__ = [
    "DEFAULT_ALLOWED_MODULES",
    "Sandbox",
    "SandboxConfig",
    "SandboxError",
    "SandboxResult",
    "run_code",
]

_ZYGOTE = Path(__file__).with_name("_sandbox_zygote.py")
# -c, not the script path: a script's folder goes first on sys.path, and this folder has a
# numbers.py that would shadow the standard library's. Not -m either: importing the
# tracemint.verify package costs 0.4 s per sandbox.
_BOOT = "import runpy, sys; sys.path.pop(0); runpy.run_path(sys.argv[2], run_name='__main__')"
_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "PYTHONHASHSEED": "0",  # str hashes (set order) identical across sandboxes and runs
}
_GRACE_S = 10.0  # on top of wall_s before the caller gives up on the zygote itself


class SandboxError(TracemintError):
    """The sandbox itself failed (could not start, died, or cannot isolate as required).

    A *program* failing is never this error: that is a :class:`SandboxResult`.
    """

    exit_code = 8


@dataclass(frozen=True)
class SandboxResult:
    """What happened to one program. Every field is JSON-safe.

    ``status``: ``ok`` (``value`` is ``str()`` of the return value, ``value_type`` its type
    name), ``error`` (the program raised: ``error_type``, ``message``), ``timeout`` (wall
    clock), or ``killed`` (a limit: ``resource`` is ``cpu``, ``memory``, ``output``,
    ``processes``, ``disk`` or ``signal``).
    """

    status: Literal["ok", "error", "timeout", "killed"]
    value: str | None = None
    value_type: str | None = None
    error_type: str | None = None
    message: str | None = None
    resource: str | None = None
    stdout: str = ""
    stderr: str = ""
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


_STR_FIELDS = ("value", "value_type", "error_type", "message", "resource")


def _result_from(fields: object) -> SandboxResult:
    """A :class:`SandboxResult` from a zygote line's ``result``, checked field by field.

    The zygote already turns anything a program forged into a ``SandboxProtocolError``
    verdict; this second check keeps a mistake there from ever raising in the reader thread.
    """
    names = {*_STR_FIELDS, "status", "stdout", "stderr", "elapsed_s"}
    ok = (
        isinstance(fields, dict)
        and set(fields) <= names
        and fields.get("status") in ("ok", "error", "timeout", "killed")
        and all(isinstance(fields.get(k, ""), str) for k in ("stdout", "stderr"))
        and all(fields.get(k) is None or isinstance(fields[k], str) for k in _STR_FIELDS)
        and isinstance(fields.get("elapsed_s", 0.0), (int, float))
    )
    if not ok:
        return SandboxResult(
            status="error",
            error_type="SandboxProtocolError",
            message=f"the sandbox sent a malformed result: {str(fields)[:200]}",
        )
    assert isinstance(fields, dict)
    return SandboxResult(**fields)


class Sandbox:
    """A pool of one-shot sandboxed workers. Thread-safe; use as a context manager.

    The zygote starts on construction (about 0.3 s with sympy allowed), so construct once
    and reuse. :attr:`protections` says which kernel-level protections are active here.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._ids = itertools.count()
        self._pending: dict[int, Future[SandboxResult]] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._closed = False
        self.protections: dict[str, bool] = {}
        with self._lock:
            self._start()

    # ----------------------------------------------------------------- lifecycle

    def _start(self) -> None:
        """Start the zygote and wait for its ready line (caller holds ``_lock``)."""
        cfg = self.config.model_dump()
        cfg["allowed_modules"] = list(cfg["allowed_modules"])
        try:
            proc = subprocess.Popen(
                [sys.executable, "-s", "-c", _BOOT, json.dumps(cfg), str(_ZYGOTE)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=_ENV,
                cwd="/",
                close_fds=True,
            )
        except OSError as exc:
            raise SandboxError(
                f"cannot start the sandbox interpreter {sys.executable}: {exc}"
            ) from exc
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        try:
            self.protections = json.loads(ready)["protections"]
        except (ValueError, KeyError) as exc:
            proc.kill()
            _, err = proc.communicate()
            tail = err.decode(errors="replace")[-2000:]
            raise SandboxError(f"the sandbox did not start: {tail or exc}") from None
        self._proc = proc
        if self.config.require_isolation and not (
            self.protections.get("setuid") and self.protections.get("netns")
        ):
            self._shutdown()
            raise SandboxError(
                f"require_isolation is set but only {self.protections} is available here: "
                "run as root on Linux with network namespaces, or unset require_isolation"
            )
        self._reader = threading.Thread(
            target=self._read_results, args=(proc,), name="sandbox-reader", daemon=True
        )
        self._reader.start()

    def _read_results(self, proc: subprocess.Popen[bytes]) -> None:
        """Route result lines to their futures; on EOF, fail whatever is still pending.

        Nothing a line holds may end this thread: a dead reader leaves every later program
        waiting for a verdict that never comes. The zygote validates what programs write,
        and each line is validated again here (:func:`_result_from`).
        """
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                try:
                    self._route(line)
                except Exception:  # a bug in _route must not starve every later run
                    continue
        finally:
            with self._lock:
                pending, self._pending = self._pending, {}
                if self._proc is proc:
                    self._proc = None  # the next run starts a fresh zygote
            for future in pending.values():
                with contextlib.suppress(InvalidStateError):  # cancelled by an arun timeout
                    future.set_exception(SandboxError("the sandbox process exited unexpectedly"))

    def _route(self, line: bytes) -> None:
        """Resolve the future a zygote line names; a line naming none is dropped."""
        try:
            message = json.loads(line)
            request = message["id"]
            future = None
            if isinstance(request, int):
                with self._lock:
                    future = self._pending.pop(request, None)
        except (ValueError, RecursionError, TypeError, KeyError):
            return  # no request to route it to
        if future is not None:
            with contextlib.suppress(InvalidStateError):  # cancelled by an arun timeout
                future.set_result(_result_from(message.get("result")))

    def _shutdown(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        assert proc.stdin is not None
        try:
            proc.stdin.close()  # EOF: the zygote kills its workers and exits
            proc.wait(timeout=_GRACE_S)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=_GRACE_S)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    def close(self) -> None:
        """Kill every worker and the zygote. Idempotent."""
        with self._lock:
            self._closed = True
            proc = self._proc
        if proc is not None:
            self._shutdown()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ----------------------------------------------------------------- running

    def submit(self, code: str) -> Future[SandboxResult]:
        """Queue ``code``; the future resolves to its :class:`SandboxResult`."""
        future: Future[SandboxResult] = Future()
        with self._lock:
            if self._closed:
                raise SandboxError("this Sandbox is closed; create a new one")
            if self._proc is None:
                self._start()
            proc = self._proc
            request = next(self._ids)
            self._pending[request] = future
        assert proc is not None and proc.stdin is not None
        line = (json.dumps({"id": request, "code": code}) + "\n").encode()
        try:
            with self._write_lock:
                proc.stdin.write(line)
                proc.stdin.flush()
        except OSError as exc:
            with self._lock:
                self._pending.pop(request, None)
            raise SandboxError(f"the sandbox process is gone: {exc}") from None
        return future

    def _wait(self, future: Future[SandboxResult]) -> SandboxResult:
        try:
            return future.result(timeout=self.config.wall_s + _GRACE_S)
        except TimeoutError:
            raise SandboxError("the sandbox stopped answering; close it and retry") from None

    def run(self, code: str) -> SandboxResult:
        """Run ``code``, call its entrypoint, and return what happened. Never raises for
        anything the program does; raises :class:`SandboxError` if the sandbox breaks."""
        return self._wait(self.submit(code))

    async def arun(self, code: str) -> SandboxResult:
        """:meth:`run` for asyncio: waits without blocking the event loop (and, like
        :meth:`run`, raises :class:`SandboxError`, not a bare timeout, if none comes)."""
        future = self.submit(code)
        try:
            return await asyncio.wait_for(
                asyncio.wrap_future(future), timeout=self.config.wall_s + _GRACE_S
            )
        except TimeoutError:
            raise SandboxError("the sandbox stopped answering; close it and retry") from None

    def run_many(self, codes: Iterable[str]) -> list[SandboxResult]:
        """Run many programs, ``pool_size`` at a time; results in input order."""
        futures = [self.submit(code) for code in codes]
        return [self._wait(future) for future in futures]


def run_code(code: str, config: SandboxConfig | None = None) -> SandboxResult:
    """One-off convenience: a Sandbox for a single program (pays the start-up each time)."""
    with Sandbox(config) as sandbox:
        return sandbox.run(code)
