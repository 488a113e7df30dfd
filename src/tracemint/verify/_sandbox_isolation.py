"""Isolating the sandbox's zygote, once, before and after it preloads.

Loaded by :mod:`tracemint.verify._sandbox_zygote` by path (never through the package, which
costs 0.4 s per zygote), as it loads :mod:`tracemint.verify._sandbox_worker`. Two steps, both
here because both decide what every worker starts from:

* :func:`isolate`, first: the zygote's own network and mount namespaces (private tmpfs over
  the world-writable directories), child subreaper, and probes, each in a throwaway child,
  of what a worker will be able to do for itself (IPC and PID namespaces, a tmpfs per
  program, seccomp, a uid drop), so the protections are reported up front and a worker
  treats a later failure as fatal, never failing open;
* :func:`enter_minimal_root`, after preloading: ``pivot_root`` into a read-only, noexec root
  that holds only the interpreter's directories.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import sys
import tempfile
from typing import TYPE_CHECKING, Any


def _worker_module() -> Any:
    """The worker module the zygote loaded by path before this one (``_sandbox_zygote``'s
    ``_sibling``, which also loads this module); imported as part of the package instead
    (tests), the package's own copy."""
    return sys.modules.get("_tracemint_sandbox_worker") or importlib.import_module(
        "tracemint.verify._sandbox_worker"
    )


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
        _filter,
        _private_tmpfs,
    )
else:
    _worker = _worker_module()
    globals().update(
        {
            name: getattr(_worker, name)
            for name in (
                "_CLONE_NEWIPC",
                "_CLONE_NEWNET",
                "_CLONE_NEWNS",
                "_CLONE_NEWPID",
                "_LIBC",
                "_MNT_DETACH",
                "_MS_BIND",
                "_MS_NODEV",
                "_MS_NOEXEC",
                "_MS_NOSUID",
                "_MS_PRIVATE",
                "_MS_RDONLY",
                "_MS_REC",
                "_MS_REMOUNT",
                "_PR_SET_CHILD_SUBREAPER",
                "_PRIVATE_TMP_DIRS",
                "UID_MIN",
                "_filter",
                "_private_tmpfs",
            )
        }
    )


def interpreter_entries(path: str) -> set[str]:
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


def enter_minimal_root() -> bool:
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


def isolate(syscall_filter: bool) -> dict[str, bool]:
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
                keep = sorted(interpreter_entries(path))
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
