"""The code a forked sandbox worker runs: lock itself down, run one program, report, exit.

Imported by the zygote (:mod:`tracemint.verify._sandbox_zygote`) before it forks, so this
costs nothing per execution. Order of :func:`_lock_down` matters: rlimits and the working
directory while still root, then the uid drop, then the syscall filter
(:mod:`tracemint.verify._sandbox_filter`), then the in-interpreter guards (which are
defence in depth only) just before the program runs.
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import json
import math
import os
import random
import resource
import signal
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracemint.verify import _sandbox_filter as _filter
else:  # by path, like this module itself in the zygote: no tracemint package import there
    import importlib.util
    from pathlib import Path

    _spec = importlib.util.spec_from_file_location(
        "_tracemint_sandbox_filter", Path(__file__).with_name("_sandbox_filter.py")
    )
    _filter = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_filter)

USER_MODULE = "__sandbox__"
UID_MIN = 1_500_000_000  # random per-worker uids come from [UID_MIN, UID_MIN + UID_SPAN)
UID_SPAN = 500_000_000
_PRIVATE_TMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
_CLONE_NEWNS = 0x00020000
_CLONE_NEWNET = 0x40000000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWPID = 0x20000000
_TMP_INODES = 4096  # files per private tmpfs: empty files cost kernel memory, not size
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_NO_NEW_PRIVS = 38
_MS_NOSUID, _MS_NODEV, _MS_REC, _MS_PRIVATE = 2, 4, 1 << 14, 1 << 18
_MS_BIND = 4096
_MS_RDONLY, _MS_NOEXEC, _MS_REMOUNT = 1, 8, 32
_MNT_DETACH = 2
_LIBC = ctypes.CDLL(None, use_errno=True)


def _finish(fd: int, owner: int, result: dict[str, Any]) -> None:
    """Send the one result line and exit at once, so user code can never catch its way on."""
    if os.getpid() == owner:  # a forked copy of the worker must not speak for it
        data = (json.dumps(result) + "\n").encode()
        with contextlib.suppress(OSError):
            while data:
                data = data[os.write(fd, data) :]
    os._exit(0)


class _CappedStream:
    """A text stream that ends the program (killed/output) once ``limit`` bytes are written."""

    def __init__(self, limit: int, on_overflow: Any) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit
        self.on_overflow = on_overflow

    def write(self, text: str) -> int:
        self.size += len(text.encode("utf-8", "replace"))
        if self.size > self.limit:
            self.on_overflow()
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered outside ``parts``."""

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def text(self) -> str:
        return "".join(self.parts)


def _guard_imports(allowed: frozenset[str]) -> None:
    """Only user code (globals named ``USER_MODULE``) is held to the allow-list.

    Library code (sympy's lazy internal imports) is trusted and passes unchecked; that is
    also why this is defence in depth: user code can forge the ``globals`` argument.
    """
    real_import = builtins.__import__

    def guarded(
        name: str,
        globals: dict[str, Any] | None = None,
        locals: Any = None,
        fromlist: Any = (),
        level: int = 0,
    ) -> Any:
        if globals is None or globals.get("__name__") == USER_MODULE:
            top = name.partition(".")[0]
            if level != 0 or top not in allowed:
                raise ImportError(
                    f"sandbox: import of {name!r} is not allowed "
                    f"(allowed: {', '.join(sorted(allowed))})",
                    name=name,
                )
        return real_import(name, globals, locals, fromlist, level)

    builtins.__import__ = guarded  # type: ignore[assignment]


def _guard_open(workdir: str) -> None:
    """Confine ``open`` to the working directory (paths resolved, file descriptors refused)."""
    real_open = builtins.open
    root = os.path.realpath(workdir)

    def guarded_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, int):
            raise PermissionError("sandbox: open() of a file descriptor is not allowed")
        path = os.path.realpath(os.fspath(file))
        if path != root and not path.startswith(root + os.sep):
            raise PermissionError(
                f"sandbox: open() is limited to the working directory; {file!r} is outside it"
            )
        return real_open(file, *args, **kwargs)

    builtins.open = guarded_open


def _deny_sockets() -> None:
    """Fallback when no network namespace could be made: sockets fail at creation."""
    import _socket
    import socket

    def denied(*_args: Any, **_kwargs: Any) -> Any:
        raise PermissionError("sandbox: network access is not allowed")

    for module in (socket, _socket):
        for name in ("socket", "socketpair", "fromfd", "create_connection", "create_server"):
            if hasattr(module, name):
                setattr(module, name, denied)


def _count_processes(uid: int) -> int:
    """Processes (and threads do not matter here) whose real uid is ``uid``, from /proc."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += 1
    return count


def _vm_size() -> int:
    """Current address-space size in bytes (the preloaded runtime the limit sits on top of)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _private_tmpfs(path: str, size_mb: int, keep: list[str] | tuple[str, ...] = ()) -> bool:
    """Mount a fresh tmpfs of ``size_mb`` over ``path``, binding ``keep`` entries back in.

    ``keep`` names the entries of ``path`` that hold the interpreter (a checkout and its
    virtualenv under /tmp is common in CI): hiding them would make lazy imports fail. They
    are bound from the directory as it was before the mount and stay root-owned.
    """
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY) if keep else -1
    try:
        opts = f"size={size_mb}m,nr_inodes={_TMP_INODES},mode=1777".encode()
        # noexec: a program must not write a binary here and run it (issue 15, item 4)
        flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
        if _LIBC.mount(b"tmpfs", path.encode(), b"tmpfs", flags, opts) != 0:
            return False
        for name in keep:
            target = os.path.join(path, name)
            os.makedirs(target, exist_ok=True)
            source = f"/proc/self/fd/{fd}/{name}".encode()
            if _LIBC.mount(source, target.encode(), None, _MS_BIND | _MS_REC, None) != 0:
                return False
        return True
    finally:
        if fd >= 0:
            os.close(fd)


def _unshare(flags: int) -> None:
    """``unshare(2)`` or an OSError: a protection the zygote reported must not fail open."""
    if _LIBC.unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare({flags:#x}): {os.strerror(err)}")


def _fresh_tmp(cfg: dict[str, Any], uid: int | None, workdir: str,
               keep: dict[str, list[str]]) -> None:  # fmt: skip
    """This worker's own mount namespace with a fresh, size-limited tmpfs per private dir.

    Per program, not per sandbox: a tmpfs shared by the zygote's workers lets one program
    read what an earlier one left there, or fill it so every later program gets ENOSPC.
    The mounts die with the worker's last process, so nothing needs cleaning up. The working
    directory usually lives under /tmp, so it is made again inside the fresh tmpfs, where
    its files count against the same size limit.
    """
    _unshare(_CLONE_NEWNS)
    for path in _PRIVATE_TMP_DIRS:
        usable = os.path.isdir(path) and not os.path.islink(path)
        if usable and not _private_tmpfs(path, cfg["tmp_mb"], keep.get(path, ())):
            err = ctypes.get_errno()
            raise OSError(err, f"mount tmpfs on {path}: {os.strerror(err)}")
    if not os.path.isdir(workdir):
        parent = os.path.dirname(workdir)
        os.makedirs(parent, mode=0o711, exist_ok=True)
        os.chmod(parent, 0o711)
        os.mkdir(workdir, 0o700)
        if uid is not None:
            os.chown(workdir, uid, uid)


def _hide_proc(already_own_ns: bool) -> None:
    """Unmount /proc in this worker's own mount namespace, the last thing root does here.

    The zygote needs /proc (it finds a program's leftovers there), the program does not:
    ``/proc/self/exe`` is a magic link to the interpreter on the *host's* file system, so
    it would bypass the noexec minimal root and let a program ``execve`` a new process.
    """
    if not already_own_ns:
        _unshare(_CLONE_NEWNS)
    if _LIBC.umount2(b"/proc", _MNT_DETACH) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"umount /proc: {os.strerror(err)}")


def _enter_pid_namespace() -> None:
    """Go on as PID 1 of a PID namespace of this program's own; returns only in there.

    ``unshare(CLONE_NEWPID)`` moves the caller's *children*, so the worker forks once more:
    the child carries on to run the program, the parent (still root, invisible from inside
    and holding no pipe) only waits and dies the way its child died, so the zygote's verdict
    (a signal, an exit status, the CPU both used) reads as before. A program then sees no pid
    but its own descendants', and when it ends the kernel kills everything it forked.
    """
    _unshare(_CLONE_NEWPID)
    child = os.fork()
    if child == 0:
        return
    for fd in (0, 1, 2, 3, 4):
        with contextlib.suppress(OSError):
            os.close(fd)
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    while True:
        try:
            status = os.waitpid(child, 0)[1]
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        with contextlib.suppress(OSError, ValueError):
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status))


def _lock_down(cfg: dict[str, Any], uid: int | None, workdir: str, prot: dict[str, bool],
               keep: dict[str, list[str]] | None = None) -> None:  # fmt: skip
    """Everything a worker does to itself before it may see a program (the order matters).

    Namespaces and mounts need root, so they come first; ``keep`` maps each private tmp dir
    to the interpreter entries to bind back into its fresh tmpfs (see :func:`_fresh_tmp`).
    """
    os.setsid()  # own process group: the fallback cleanup is killpg
    if prot.get("ipcns"):  # SysV IPC and POSIX message queues die with this worker
        _unshare(_CLONE_NEWIPC)
    if prot.get("pidns"):
        _enter_pid_namespace()
    if prot.get("tmp_per_program"):
        _fresh_tmp(cfg, uid, workdir, keep or {})
    os.chdir(workdir)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversized writes raise EFBIG instead
    limits = {
        resource.RLIMIT_CPU: (math.ceil(cfg["cpu_s"]), math.ceil(cfg["cpu_s"]) + 1),
        # on top of what the preloaded interpreter already maps: the user gets memory_mb
        resource.RLIMIT_AS: (_vm_size() + cfg["memory_mb"] * 2**20,) * 2,
        resource.RLIMIT_FSIZE: (cfg["max_file_bytes"],) * 2,
        resource.RLIMIT_NOFILE: (cfg["max_open_files"],) * 2,
        resource.RLIMIT_CORE: (0, 0),
    }
    nproc = cfg["max_processes"]
    if uid is None:  # not root: the limit counts every process of our real uid
        nproc += _count_processes(os.getuid())
    limits[resource.RLIMIT_NPROC] = (nproc, nproc)
    for which, value in limits.items():
        resource.setrlimit(which, value)
    if prot.get("minimal_root"):
        _hide_proc(already_own_ns=bool(prot.get("tmp_per_program")))
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        if os.getuid() == 0 or os.geteuid() == 0:  # never run user code as root
            os._exit(70)
    if prot["no_new_privs"]:
        _LIBC.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    # after setuid, which clears it: die with the zygote
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if not prot["netns"]:
        _deny_sockets()
    if prot.get("seccomp"):  # last: from here on no exec, socket, namespace or mount call
        _filter.install()


def _describe(value: Any) -> tuple[str, str]:
    """``(str(value), type name)``; str, not repr: ``1/2`` and ``abc`` are what graders want."""
    return str(value), type(value).__name__


def worker_main(cfg: dict[str, Any], code_fd: int, result_fd: int, workdir: str,
                uid: int | None, prot: dict[str, bool],
                keep: dict[str, list[str]] | None = None) -> None:  # fmt: skip
    """Lock down, wait for one program, run it, send one result line, exit."""
    limit = cfg["max_output_bytes"]
    try:
        _lock_down(cfg, uid, workdir, prot, keep)
    except BaseException as exc:
        _finish(result_fd, os.getpid(), _error("SandboxSetupError", repr(exc)))
    me = os.getpid()  # after the lock-down, which may have forked into a PID namespace
    # Blocking read of the program: 8-byte length, then UTF-8 source.
    header = _read_exact(code_fd, 8)
    code = _read_exact(code_fd, int.from_bytes(header, "big")).decode()
    os.close(code_fd)

    out = _CappedStream(limit, lambda: overflow())
    err = _CappedStream(limit, lambda: overflow())

    def result(**fields: Any) -> dict[str, Any]:
        base = {
            "status": "ok", "value": None, "value_type": None, "error_type": None,
            "message": None, "resource": None,
            "stdout": out.text()[:limit], "stderr": err.text()[:limit],
        }  # fmt: skip
        base.update(fields)
        return base

    def overflow() -> None:
        _finish(result_fd, me, result(status="killed", resource="output",
                                      message=f"output exceeded {limit} bytes"))  # fmt: skip

    def on_xcpu(_sig: int, _frame: Any) -> None:
        _finish(result_fd, me, result(status="killed", resource="cpu",
                                      message=f"CPU time exceeded {cfg['cpu_s']} s"))  # fmt: skip

    signal.signal(signal.SIGXCPU, on_xcpu)
    random.seed(cfg["seed"])  # fork inherits, then random reseeds: pin it for determinism
    sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
    _guard_open(workdir)
    _guard_imports(frozenset(cfg["allowed_modules"]))
    final: dict[str, Any]
    try:
        namespace: dict[str, Any] = {"__name__": USER_MODULE, "__builtins__": builtins}
        exec(compile(code, "<solution>", "exec"), namespace)
        entry = namespace.get(cfg["entrypoint"])
        if not callable(entry):
            raise NameError(f"the program defines no function {cfg['entrypoint']}()")
        text, type_name = _describe(entry())
        if len(text.encode("utf-8", "replace")) > limit:
            final = result(status="killed", resource="output",
                           message=f"return value longer than {limit} bytes")  # fmt: skip
        else:
            final = result(value=text, value_type=type_name)
    except MemoryError:
        final = result(status="killed", resource="memory",
                       message=f"memory limit of {cfg['memory_mb']} MB exceeded")  # fmt: skip
    except BaseException as exc:
        final = _classify(exc, result)
    _finish(result_fd, me, final)


def _classify(exc: BaseException, result: Any) -> dict[str, Any]:
    """Resource exhaustion surfaced as an exception is 'killed', anything else 'error'."""
    import errno

    try:
        message = str(exc)[:2000]
    except BaseException:
        message = "<unprintable>"
    kind = type(exc).__name__
    if isinstance(exc, OSError) and exc.errno == errno.EAGAIN and "fork" in repr(exc.filename):
        return result(status="killed", resource="processes", error_type=kind, message=message)
    if isinstance(exc, BlockingIOError) and exc.errno == errno.EAGAIN:
        return result(status="killed", resource="processes", error_type=kind, message=message)
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return result(status="killed", resource="disk", error_type=kind, message=message)
    result_dict: dict[str, Any] = result(status="error", error_type=kind, message=message)
    return result_dict


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"status": "error", "value": None, "value_type": None, "error_type": kind,
            "message": message, "resource": None, "stdout": "", "stderr": ""}  # fmt: skip


def _read_exact(fd: int, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, n - got)
        if not chunk:
            os._exit(0)  # zygote went away before sending a program
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
