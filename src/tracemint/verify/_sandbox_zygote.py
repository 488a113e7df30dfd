"""The sandbox's zygote process and the worker code it forks. Runs in a separate interpreter.

Started by :class:`tracemint.verify.sandbox.Sandbox` as ``python -s -c BOOT <this file>`` with
an empty environment, never imported by the caller. This module is the event loop (requests
in, pre-forked workers out, verdicts back) and the cleanup after each program; the rest is
loaded from its siblings by path: isolating the zygote in
:mod:`tracemint.verify._sandbox_isolation`, checking result frames in
:mod:`tracemint.verify._sandbox_frames`, and the worker half in
:mod:`tracemint.verify._sandbox_worker`.

Why a zygote: a fresh interpreter that imports sympy costs ~0.3 s of CPU, so one process per
execution from scratch caps throughput
at a few runs per second on two cores. The zygote pays that once, then ``fork()``s a worker
per program (a few ms), keeping ``pool_size`` workers pre-forked and already locked down,
each waiting for exactly one program. Every worker runs one program and exits.

Layers, outermost first (the doc ``docs/sandbox.md`` has the threat model):

* zygote (root when the caller is): own network namespace (no interfaces up) and mount
  namespace with private tmpfs over the world-writable directories; child subreaper, so
  everything a program forks comes back here to be reaped;
* zygote, after preloading: ``pivot_root`` into a minimal, read-only, noexec root holding
  only the interpreter's directories (see
  :func:`tracemint.verify._sandbox_isolation.enter_minimal_root`);
* worker: new session, its own IPC namespace, its own PID namespace (the program is its
  PID 1: it sees only its own descendants, and they all die with it), and mount namespace
  with a fresh, size-limited tmpfs over each of those directories (nothing persists from
  one program to the next), rlimits (CPU, address space, processes, file size, open
  files, core), a fresh working directory, then ``setres[ug]id`` to a random, otherwise
  unused uid, so RLIMIT_NPROC is really enforced and ``kill(-1)`` as that uid removes
  every descendant;
  then a seccomp filter (no exec, no socket, no namespace or mount call; see
  :mod:`tracemint.verify._sandbox_filter`);
* in-interpreter (defence in depth only, bypassable by a determined attacker): an import
  allow-list, ``open`` confined to the working directory, capped stdout/stderr.

Protocol with the caller: JSON lines. In: ``{"id": n, "code": str}``; EOF means shut down.
Out: first ``{"ready": true, "protections": {...}}``, then ``{"id": n, "result": {...}}``.
From a worker: one JSON line on its result pipe, which the program can also write to, so it
is untrusted: :func:`tracemint.verify._sandbox_frames.check_frame` turns anything malformed
into the program's own ``SandboxProtocolError`` verdict, and the zygote never raises on it.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import math
import os
import random
import selectors
import shutil
import signal
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any


def _sibling(stem: str) -> Any:
    """``<stem>.py`` from this directory, by path and once per process.

    Never through the package: importing tracemint.verify costs 0.4 s per zygote. Cached in
    ``sys.modules`` so that every zygote module shares one worker module (and so one
    compiled syscall filter) however many of them load it.
    """
    name = f"_tracemint{stem}"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{stem}.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


if TYPE_CHECKING:
    from tracemint.verify._sandbox_frames import check_frame, protocol_error
    from tracemint.verify._sandbox_isolation import enter_minimal_root, interpreter_entries, isolate
    from tracemint.verify._sandbox_worker import (
        _PRIVATE_TMP_DIRS,
        UID_MIN,
        UID_SPAN,
        _error,
        worker_main,
    )
else:
    for _stem, _names in (
        ("_sandbox_worker", ("_PRIVATE_TMP_DIRS", "UID_MIN", "UID_SPAN", "_error", "worker_main")),
        ("_sandbox_isolation", ("enter_minimal_root", "interpreter_entries", "isolate")),
        ("_sandbox_frames", ("check_frame", "protocol_error")),
    ):
        _module = _sibling(_stem)
        globals().update({name: getattr(_module, name) for name in _names})


@dataclass
class _Worker:
    """A forked, locked-down worker waiting for (or running) one program."""

    pid: int
    uid: int | None
    workdir: str
    code_w: int
    result_r: int
    request: int | None = None
    started: float = 0.0
    buffer: bytearray = field(default_factory=bytearray)
    status: int | None = None  # wait status once reaped
    cpu_s: float = 0.0
    timed_out: bool = False


def pids_of_uid(uid: int) -> list[int]:
    """Processes whose real, effective or saved uid is ``uid`` (zombies included), from /proc.

    Reads ``status``, not the owner of ``/proc/<pid>``: after setuid a process is not
    dumpable and its /proc entry belongs to root.
    """
    found = []
    wanted = str(uid)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        if wanted in line.split()[1:4]:
                            found.append(int(entry))
                        break
        except OSError:
            continue  # exited while we looked
    return found


def _kill_uid(uid: int) -> None:
    """SIGKILL every process of ``uid`` from a helper that *is* ``uid``.

    ``kill(-1)`` as root would hit the whole machine, so the helper checks, after setuid,
    that it really is ``uid`` (never 0) before sending anything. (``kill(-1)`` reports
    success whenever any process exists, so callers check what is left via /proc.)
    """
    if uid < UID_MIN:
        return
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            if os.getresuid() == (uid, uid, uid) and uid != 0:
                with contextlib.suppress(OSError):
                    os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


class Zygote:
    """Single-threaded event loop: requests in, pre-forked workers out, results back."""

    def __init__(self, cfg: dict[str, Any], prot: dict[str, bool]) -> None:
        self.cfg, self.prot = cfg, prot
        self.sel = selectors.DefaultSelector()
        self.ready: deque[_Worker] = deque()
        self.running: dict[int, _Worker] = {}  # pid -> worker
        self.queue: deque[tuple[int, str]] = deque()
        self.inbuf = bytearray()
        self.tmp_root = tempfile.mkdtemp(prefix="tracemint-sandbox-")
        # interpreter entries each worker binds back into its fresh tmpfs (computed once)
        self.keep = {path: sorted(interpreter_entries(path)) for path in _PRIVATE_TMP_DIRS}
        os.chmod(self.tmp_root, 0o711)
        self.wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        self.sel.register(0, selectors.EVENT_READ, "stdin")
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")
        self.stdin_open = True

    def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        with contextlib.suppress(OSError):  # the caller is gone: nothing left to tell
            while data:
                data = data[os.write(1, data) :]

    def fork_worker(self) -> _Worker:
        uid = random.randrange(UID_MIN, UID_MIN + UID_SPAN) if self.prot["setuid"] else None
        workdir = tempfile.mkdtemp(prefix="run-", dir=self.tmp_root)
        if uid is not None:
            os.chown(workdir, uid, uid)
        os.chmod(workdir, 0o700)
        code_r, code_w = os.pipe()
        result_r, result_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.dup2(code_r, 3)
                os.dup2(result_w, 4)
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                os.closerange(5, 1 << 16)
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                worker_main(self.cfg, 3, 4, workdir, uid, self.prot, self.keep)
            finally:
                os._exit(71)
        os.close(code_r)
        os.close(result_w)
        os.set_blocking(result_r, False)
        return _Worker(pid, uid, workdir, code_w, result_r)

    def refill(self) -> None:
        target = self.cfg["pool_size"] if self.cfg["prefork"] else 0
        while len(self.ready) < target:
            self.ready.append(self.fork_worker())

    def dispatch(self) -> None:
        while self.queue and len(self.running) < self.cfg["pool_size"]:
            request, code = self.queue.popleft()
            worker = self.ready.popleft() if self.ready else self.fork_worker()
            worker.request, worker.started = request, time.monotonic()
            self.running[worker.pid] = worker
            self.sel.register(worker.result_r, selectors.EVENT_READ, worker)
            payload = code.encode()
            try:
                os.write(worker.code_w, len(payload).to_bytes(8, "big"))
                view = memoryview(payload)
                while view:
                    view = view[os.write(worker.code_w, view) :]
            except OSError:
                pass  # the worker died during setup; reaping reports it
            os.close(worker.code_w)
            worker.code_w = -1

    def read_stdin(self) -> None:
        chunk = os.read(0, 1 << 16)
        if not chunk:  # the caller closed or died: stop everything now
            self.stdin_open = False
            self.sel.unregister(0)
            self.queue.clear()
            for worker in self.running.values():
                worker.timed_out = True
            return
        self.inbuf += chunk
        while b"\n" in self.inbuf:
            line, _, rest = bytes(self.inbuf).partition(b"\n")
            self.inbuf = bytearray(rest)
            message = json.loads(line)
            self.queue.append((message["id"], message["code"]))

    def read_result(self, worker: _Worker) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while chunk := os.read(worker.result_r, 1 << 16):
                worker.buffer += chunk
                if len(worker.buffer) > self.frame_cap():
                    break  # larger than any honest result: stop reading, judge what we have

    def reap(self) -> None:
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = self.running.get(pid)
            if worker is not None:
                worker.status = status
                worker.cpu_s = usage.ru_utime + usage.ru_stime
            else:
                for idle in list(self.ready):  # a pre-forked worker died in setup
                    if idle.pid == pid:
                        self.ready.remove(idle)
                        self.cleanup(idle)

    def cleanup(self, worker: _Worker) -> None:
        """Kill everything the worker left behind, reap it, remove its directory."""
        if worker.uid is not None:
            for attempt in range(500):  # a capped fork bomb dies in a few rounds
                self.reap()
                if not pids_of_uid(worker.uid):
                    break
                _kill_uid(worker.uid)
                if attempt:
                    time.sleep(0.002)
        else:
            with contextlib.suppress(OSError):
                os.killpg(worker.pid, signal.SIGKILL)
            self.reap()
        for fd in (worker.code_w, worker.result_r):
            if fd >= 0:
                with contextlib.suppress(KeyError, ValueError):
                    self.sel.unregister(fd)
                with contextlib.suppress(OSError):
                    os.close(fd)
        shutil.rmtree(worker.workdir, ignore_errors=True)

    def frame_cap(self) -> int:
        """Bytes an honest result frame can take, at most.

        stdout, stderr and the value are capped at ``max_output_bytes`` UTF-8 bytes each, and
        JSON escaping grows a byte to at most 6 (``\\u0000``); 20x plus room for the message.
        """
        return 20 * self.cfg["max_output_bytes"] + (1 << 16)

    def judge(self, worker: _Worker) -> dict[str, Any] | None:
        """The worker's verdict once it has exited (or timed out), else None.

        The result pipe is untrusted: the program runs while its worker holds the write end,
        so it can write anything there. A verdict is only taken once the worker has exited
        (so a frame followed by more frames is seen as such) and only after
        :func:`check_frame`; anything else becomes this program's own error verdict.
        """
        if len(worker.buffer) > self.frame_cap():
            return protocol_error(f"the result channel carried more than {self.frame_cap()} "
                                   "bytes, more than any honest result")  # fmt: skip
        if worker.status is None:
            if worker.timed_out:
                return {**_error("TimeoutError", f"wall time exceeded {self.cfg['wall_s']} s"),
                        "status": "timeout"}  # fmt: skip
            return None
        self.read_result(worker)  # anything written just before exiting
        if len(worker.buffer) > self.frame_cap():
            return self.judge(worker)
        data = bytes(worker.buffer)
        if data.endswith(b"\n"):
            return check_frame(data, self.cfg["max_output_bytes"])
        if os.WIFSIGNALED(worker.status):
            sig = os.WTERMSIG(worker.status)
            name = signal.Signals(sig).name
            cpu_hit = sig == signal.SIGXCPU or worker.cpu_s >= math.ceil(self.cfg["cpu_s"]) - 0.05
            return {**_error(name, f"killed by {name}"), "status": "killed",
                    "resource": "cpu" if cpu_hit else "signal"}  # fmt: skip
        if data:
            return protocol_error(f"an unterminated frame of {len(data)} bytes")
        code = os.waitstatus_to_exitcode(worker.status)
        return _error("ExitWithoutResult", f"the process exited with status {code} early")

    def settle(self) -> None:
        now = time.monotonic()
        for worker in list(self.running.values()):
            if worker.status is None and now - worker.started > self.cfg["wall_s"]:
                worker.timed_out = True
            verdict = self.judge(worker)
            if verdict is None:
                continue
            del self.running[worker.pid]
            self.cleanup(worker)
            verdict["elapsed_s"] = round(time.monotonic() - worker.started, 6)
            self.send({"id": worker.request, "result": verdict})

    def serve(self) -> None:
        self.refill()
        self.send({"ready": True, "protections": self.prot})
        while self.stdin_open or self.queue or self.running:
            deadlines = [w.started + self.cfg["wall_s"] for w in self.running.values()]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            for key, _ in self.sel.select(timeout):
                if key.data == "stdin":
                    self.read_stdin()
                elif key.data == "wake":
                    with contextlib.suppress(BlockingIOError):
                        os.read(self.wake_r, 4096)
                else:
                    self.read_result(key.data)
            self.reap()
            self.settle()
            self.dispatch()
            if self.stdin_open:
                self.refill()
        for worker in list(self.ready):
            self.cleanup(worker)
        shutil.rmtree(self.tmp_root, ignore_errors=True)


def main() -> None:
    """Entry point: config from argv[1] (JSON), isolate, preload, serve until stdin closes."""
    cfg = json.loads(sys.argv[1])
    os.chdir("/")
    prot = isolate(cfg["syscall_filter"])
    for name in cfg["allowed_modules"]:  # preloaded once here, so workers fork warm
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    if not prot["netns"]:
        import socket  # noqa: F401 - preloaded so the fallback can patch it in workers
    prot["minimal_root"] = False
    if prot["mountns"] and prot["tmp_per_program"]:
        try:
            prot["minimal_root"] = enter_minimal_root()
        except OSError as exc:  # before pivot_root: the host's root, as without mountns
            os.chdir("/")
            print(f"sandbox: no minimal root: {exc}", file=sys.stderr)
    Zygote(cfg, prot).serve()


if __name__ == "__main__":
    main()
