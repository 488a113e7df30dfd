"""The sandbox's zygote process and the worker code it forks. Runs in a separate interpreter.

Started by :class:`tracemint.verify.sandbox.Sandbox` as ``python -s -c BOOT <this file>`` with
an empty environment, never imported by the caller; the worker half lives in
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
  only the interpreter's directories (see :func:`_enter_minimal_root`);
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
is untrusted: :func:`check_frame` turns anything malformed into the program's own
``SandboxProtocolError`` verdict, and the zygote never raises on it.
"""

from __future__ import annotations

import contextlib
import ctypes
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

if TYPE_CHECKING:
    from tracemint.verify._sandbox_worker import (
        _CLONE_NEWIPC,
        _CLONE_NEWNET,
        _CLONE_NEWNS,
        _CLONE_NEWPID,
        _LIBC,
        _MNT_DETACH,
        _MS_BIND,
        _MS_NODEV,
        _MS_NOEXEC,
        _MS_NOSUID,
        _MS_PRIVATE,
        _MS_RDONLY,
        _MS_REC,
        _MS_REMOUNT,
        _PR_SET_CHILD_SUBREAPER,
        _PRIVATE_TMP_DIRS,
        UID_MIN,
        UID_SPAN,
        _error,
        _filter,
        _private_tmpfs,
        worker_main,
    )
else:
    # By path, not through the package: importing tracemint.verify costs 0.4 s per zygote.
    _spec = importlib.util.spec_from_file_location(
        "_tracemint_sandbox_worker", Path(__file__).with_name("_sandbox_worker.py")
    )
    assert _spec is not None and _spec.loader is not None
    _worker = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_worker)
    globals().update(
        {
            name: getattr(_worker, name)
            for name in (
                "_CLONE_NEWIPC",
                "_CLONE_NEWNET",
                "_CLONE_NEWNS",
                "_CLONE_NEWPID",
                "_LIBC",
                "_MS_PRIVATE",
                "_MNT_DETACH",
                "_MS_REMOUNT",
                "_MS_RDONLY",
                "_MS_NOSUID",
                "_MS_NODEV",
                "_MS_NOEXEC",
                "_MS_BIND",
                "_MS_REC",
                "_PR_SET_CHILD_SUBREAPER",
                "_PRIVATE_TMP_DIRS",
                "UID_MIN",
                "UID_SPAN",
                "_error",
                "_filter",
                "_private_tmpfs",
                "worker_main",
            )
        }
    )


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


def _interpreter_entries(path: str) -> set[str]:
    """Top-level names under ``path`` that hold the interpreter or its packages.

    A checkout (and its virtualenv) under /tmp is common in CI: a tmpfs over /tmp would hide
    it and make every lazy import of the preloaded modules fail, so these entries are bound
    back into the private tmpfs. They stay root-owned, so programs can read but not write.
    """
    root = os.path.realpath(path) + os.sep
    needed = {sys.prefix, sys.exec_prefix, sys.base_prefix, *(p for p in sys.path if p)}
    out = set()
    for n in needed:
        real = os.path.realpath(n) + os.sep
        if real.startswith(root):
            name = real[len(root) :].split(os.sep, 1)[0]
            if os.path.exists(os.path.join(path, name)):  # not in a minimal root: not needed
                out.add(name)
    return out


_DEV_NODES = ("null", "zero", "random", "urandom")
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "arm64": 41}


def _interpreter_dirs() -> list[str]:
    """The directories the interpreter imports from, and nothing else of the host.

    ``sys.path`` entries below the interpreter's prefixes: the standard library, its
    extension modules and site-packages, wherever they live (a virtualenv inside the
    checkout included). Entries outside them (an editable install's ``src``, the working
    directory) are left out: workers load their own code by path before the switch, and
    the project, its runs, inputs and the user's home must stay invisible (issue 15, 5).
    """
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.exec_prefix, sys.base_prefix,
                                              sys.base_exec_prefix)}  # fmt: skip
    out: list[str] = []
    for entry in sys.path:
        if not entry or not os.path.isdir(entry):
            continue
        for path in {os.path.abspath(entry), os.path.realpath(entry)}:
            real = os.path.realpath(path)
            if any(real.startswith(p + os.sep) for p in prefixes) and path not in out:
                out.append(path)
    return out


def _mount_or_raise(source: bytes | None, target: str, fstype: bytes | None, flags: int,
                    data: bytes | None = None) -> None:  # fmt: skip
    if _LIBC.mount(source, target.encode(), fstype, flags, data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source!r} on {target}: {os.strerror(err)}")


def _bind_read_only(source: str, target: str, rec: bool = False) -> None:
    """Bind ``source`` on ``target``, then make that mount read-only, noexec, nosuid, nodev."""
    _mount_or_raise(source.encode(), target, None, _MS_BIND | (_MS_REC if rec else 0))
    locked = _MS_RDONLY | _MS_NOEXEC | _MS_NOSUID | _MS_NODEV
    _mount_or_raise(None, target, None, _MS_REMOUNT | _MS_BIND | locked)


def _enter_minimal_root() -> bool:
    """Switch the zygote (and so every worker) to a root that holds only the interpreter.

    A tmpfs root with read-only, **noexec** binds of :func:`_interpreter_dirs`, /proc (for
    the zygote's cleanup; workers unmount it), four device nodes, and private noexec tmpfs
    over the world-writable dirs. Nothing visible can be executed, so ``os.system``,
    ``popen``, ``execv`` and ``posix_spawn`` fail with no shell or binary in reach (issue
    15, item 4) even though the program reaches ``os``; the checkout, its runs, inputs and
    home directories are simply not there (item 5); host AF_UNIX path sockets have no path
    (item 6). Done once, after preloading, so no worker pays for it. The running interpreter
    needs no exec; a C extension the preload did not load cannot be loaded later.
    """
    number = _SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is None:
        return False
    dirs = _interpreter_dirs()
    new = tempfile.mkdtemp(prefix="tracemint-root-")
    _mount_or_raise(b"tmpfs", new, b"tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC,
                    b"size=1m,mode=755")  # fmt: skip
    for path in _PRIVATE_TMP_DIRS:
        if os.path.isdir(path) and not os.path.islink(path):
            inside = new + path
            os.makedirs(inside, exist_ok=True)
            if not _private_tmpfs(inside, 64):
                return False
    os.makedirs(new + "/proc")
    _mount_or_raise(b"/proc", new + "/proc", None, _MS_BIND | _MS_REC)
    locked = _MS_NOEXEC | _MS_NOSUID | _MS_NODEV
    _mount_or_raise(None, new + "/proc", None, _MS_REMOUNT | _MS_BIND | locked)
    os.makedirs(new + "/dev", exist_ok=True)
    for name in _DEV_NODES:
        if os.path.exists(f"/dev/{name}"):
            open(f"{new}/dev/{name}", "w").close()
            _mount_or_raise(f"/dev/{name}".encode(), f"{new}/dev/{name}", None, _MS_BIND)
            flags = _MS_REMOUNT | _MS_BIND | _MS_NOEXEC | _MS_NOSUID
            _mount_or_raise(None, f"{new}/dev/{name}", None, flags)
    for path in sorted(dirs, key=len):  # a parent first, so it cannot hide a child's bind
        os.makedirs(new + path, exist_ok=True)
        _bind_read_only(path, new + path)
    os.chdir(new)
    if _LIBC.syscall(number, b".", b".") != 0:  # pivot_root(".", "."): the old root on top
        err = ctypes.get_errno()
        raise OSError(err, f"pivot_root: {os.strerror(err)}")
    try:  # past pivot_root there is no way back: a failure ends the zygote (fail closed)
        _mount_or_raise(None, ".", None, _MS_REC | _MS_PRIVATE)
        if _LIBC.umount2(b".", _MNT_DETACH) != 0:  # ... and gone
            err = ctypes.get_errno()
            raise OSError(err, f"umount the old root: {os.strerror(err)}")
        os.chdir("/")
        _mount_or_raise(None, "/", None, _MS_REMOUNT | _MS_RDONLY | locked)
    except OSError as exc:
        raise RuntimeError(f"sandbox: half-entered minimal root: {exc}") from exc
    return True


def _probe(flags: int, mount_tmp: bool) -> bool:
    """Can a worker ``unshare(flags)`` (and mount a tmpfs)? Tried once, in a throwaway child.

    Workers do this for real before every program; the probe lets the zygote report the
    protection up front and lets a worker treat a later failure as fatal, never fail open.
    """
    pid = os.fork()
    if pid == 0:
        try:
            ok = _LIBC.unshare(flags) == 0
            if ok and mount_tmp:
                ok = _private_tmpfs("/tmp", 1)
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(1)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def _isolate(syscall_filter: bool) -> dict[str, bool]:
    """Namespaces and privilege checks; each one is best effort and reported."""
    prot = {"setuid": False, "netns": False, "mountns": False, "no_new_privs": True,
            "ipcns": False, "pidns": False, "tmp_per_program": False,
            "seccomp": False}  # fmt: skip
    if _LIBC.unshare(_CLONE_NEWNET) == 0:
        prot["netns"] = True
    if _LIBC.unshare(_CLONE_NEWNS) == 0 and (
        _LIBC.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) == 0
    ):
        mounted = True
        for path in _PRIVATE_TMP_DIRS:
            if os.path.isdir(path) and not os.path.islink(path):
                keep = sorted(_interpreter_entries(path))
                mounted = _private_tmpfs(path, 64, keep) and mounted
        prot["mountns"] = mounted
    prot["ipcns"] = _probe(_CLONE_NEWIPC, mount_tmp=False)
    prot["pidns"] = _probe(_CLONE_NEWPID, mount_tmp=False)
    prot["tmp_per_program"] = prot["mountns"] and _probe(_CLONE_NEWNS, mount_tmp=True)
    # before pivot_root: finding libseccomp runs ldconfig
    prot["seccomp"] = syscall_filter and _filter.probe()
    _LIBC.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    if os.geteuid() == 0:  # probe: can a child really become an unprivileged uid?
        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups([])
                os.setresgid(UID_MIN, UID_MIN, UID_MIN)
                os.setresuid(UID_MIN, UID_MIN, UID_MIN)
                os._exit(0 if os.geteuid() == UID_MIN else 1)
            except BaseException:
                os._exit(1)
        prot["setuid"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    return prot


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


_RESULT_FIELDS = ("status", "value", "value_type", "error_type", "message", "resource",
                  "stdout", "stderr")  # fmt: skip
_STATUSES = frozenset({"ok", "error", "timeout", "killed"})
_RESOURCES = frozenset({None, "cpu", "memory", "output", "processes", "disk", "signal"})


def _protocol_error(what: str) -> dict[str, Any]:
    """The verdict for a program whose result channel held something no worker writes."""
    return _error("SandboxProtocolError", f"the result channel held {what}")


def check_frame(data: bytes, max_output_bytes: int) -> dict[str, Any]:
    """Validate everything a worker's result pipe carried; never raises.

    The program can write to that pipe (its worker holds the write end while it runs), so
    the bytes are untrusted: exactly one newline-terminated JSON object, byte for byte as
    :func:`json.dumps` writes it, with exactly the result fields, each of the right type,
    or a ``SandboxProtocolError`` verdict that names what was wrong. A program can at worst
    report a result of its own making, which is no more than ``return`` gives it; it can
    never break the zygote or the caller.
    """
    frames = data.count(b"\n")
    if frames != 1 or not data.endswith(b"\n"):
        return _protocol_error(f"{frames} frames, not one")
    try:
        frame = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        return _protocol_error("a frame that is not UTF-8")
    except (ValueError, RecursionError):
        return _protocol_error("a frame that is not JSON")
    if not isinstance(frame, dict):
        return _protocol_error(f"a JSON {type(frame).__name__}, not an object")
    if (json.dumps(frame) + "\n").encode() != data:
        # json.loads forgives whitespace, duplicate keys and escapes a worker never writes:
        # anything else on the channel (a program's stray "\t" before the frame) is its own
        return _protocol_error("a frame not byte for byte in the worker's encoding")
    extra = sorted(set(frame) - set(_RESULT_FIELDS))
    missing = [name for name in _RESULT_FIELDS if name not in frame]
    if extra or missing:
        return _protocol_error(f"a frame with unexpected keys {extra[:5]} / missing {missing}")
    for name in _RESULT_FIELDS:
        value = frame[name]
        if not isinstance(value, str) and (value is not None or name in ("status", "stdout",
                                                                         "stderr")):  # fmt: skip
            return _protocol_error(f"a frame whose {name!r} is a {type(value).__name__}")
    if frame["status"] not in _STATUSES or frame["resource"] not in _RESOURCES:
        return _protocol_error(f"a frame with status {frame['status']!r:.40} and resource "
                               f"{frame['resource']!r:.40}")  # fmt: skip
    if frame["status"] == "ok" and (frame["value"] is None or frame["value_type"] is None):
        return _protocol_error("an ok frame without a value")
    for name in ("value", "stdout", "stderr"):
        if len(frame[name] or "") > max_output_bytes:
            return _protocol_error(f"a frame whose {name!r} is over {max_output_bytes} characters")
    return frame


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
        self.keep = {path: sorted(_interpreter_entries(path)) for path in _PRIVATE_TMP_DIRS}
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
            return _protocol_error(f"the result channel carried more than {self.frame_cap()} "
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
            return _protocol_error(f"an unterminated frame of {len(data)} bytes")
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
    prot = _isolate(cfg["syscall_filter"])
    for name in cfg["allowed_modules"]:  # preloaded once here, so workers fork warm
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    if not prot["netns"]:
        import socket  # noqa: F401 - preloaded so the fallback can patch it in workers
    prot["minimal_root"] = False
    if prot["mountns"] and prot["tmp_per_program"]:
        try:
            prot["minimal_root"] = _enter_minimal_root()
        except OSError as exc:  # before pivot_root: the host's root, as without mountns
            os.chdir("/")
            print(f"sandbox: no minimal root: {exc}", file=sys.stderr)
    Zygote(cfg, prot).serve()


if __name__ == "__main__":
    main()
