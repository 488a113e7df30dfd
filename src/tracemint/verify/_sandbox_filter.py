"""The sandbox's syscall filter: the kernel calls a program may not make, whatever it imports.

Every other layer of the sandbox can be reached around by a program that gets hold of
``ctypes`` or of the real ``os`` (see the BYPASS programs in the tests): the filter is what
the kernel enforces on the worker's process and everything it forks, after the uid drop and
``no_new_privs`` and before the program's first byte is read. Built with libseccomp (through
``pyseccomp``, a ctypes binding with libseccomp's own Python API) rather than hand-written
BPF: libseccomp resolves syscall numbers per architecture, refuses syscalls of other ABIs
(i386 ``int 0x80`` and x32 numbers on x86-64 end the process), and is what Docker, systemd
and Chromium trust for the same job.

A deny list, not an allow list: CPython, sympy and numpy make a long, version-dependent tail
of harmless calls, and an allow list that misses one turns a correct program into a crash
that looks like the model's fault. What is denied is every call that reaches outside the
worker: starting a program (``execve``), any socket of any family, namespaces, mounts,
tracing other processes, kernel interfaces that have been the door of past escapes
(``io_uring``, ``bpf``, ``userfaultfd``, keyrings, ``perf_event_open``) and the host's
global state (clock, hostname, modules, swap, reboot). Denied calls fail with ``EPERM``, so
a program sees an ordinary ``PermissionError``. How many processes a program may fork is
RLIMIT_NPROC's job (the worker runs as a uid of its own, so the limit counts only its
processes); the filter only refuses ``clone`` with namespace flags and makes ``clone3``,
whose flags it cannot read, fall back to ``clone``.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import tempfile
from typing import Any

# Grouped by what they would give a program; each name is skipped on kernels and
# libseccomp builds that do not know it.
DENIED: dict[str, tuple[str, ...]] = {
    "start a program": ("execve", "execveat", "uselib"),
    "open a socket (any family, AF_UNIX included)": ("socket", "socketpair"),
    "leave or change namespaces": ("unshare", "setns"),
    "change the mounts": (
        "mount", "umount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
        "fsopen", "fsmount", "fsconfig", "fspick", "mount_setattr",
    ),
    "reach into another process": (
        "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
        "process_madvise",
    ),
    "use kernel interfaces with a record of escapes": (
        "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
        "io_uring_register", "keyctl", "add_key", "request_key", "fanotify_init",
        "open_by_handle_at", "name_to_handle_at", "lookup_dcookie", "personality",
    ),
    "change the host": (
        "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
        "reboot", "swapon", "swapoff", "acct", "syslog", "quotactl", "iopl", "ioperm",
        "sethostname", "setdomainname", "settimeofday", "clock_settime", "clock_adjtime",
        "adjtimex", "mknod", "mknodat", "vhangup",
    ),
}  # fmt: skip

# clone(2) flags that make a namespace; a fork within the process budget stays allowed.
_NAMESPACE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
    0x00000080,  # CLONE_NEWTIME
)
_TIOCSTI = 0x5412  # push characters into a terminal's input: a classic tty escape


def available() -> bool:
    """Whether pyseccomp and the system's libseccomp load (import only; nothing installed)."""
    try:
        import pyseccomp  # noqa: F401  # ctypes.util.find_library runs ldconfig once here
    except (ImportError, OSError, RuntimeError):
        return False
    return True


def build() -> Any:
    """The filter, not yet loaded: ``ALLOW`` by default, ``EPERM`` for everything denied."""
    import pyseccomp as seccomp

    flt = seccomp.SyscallFilter(seccomp.ALLOW)
    flt.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.KILL_PROCESS)
    eperm = seccomp.ERRNO(errno.EPERM)
    for names in DENIED.values():
        for name in names:
            _add(flt, eperm, name)
    for flag in _NAMESPACE_FLAGS:
        _add(flt, eperm, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    _add(flt, seccomp.ERRNO(errno.ENOSYS), "clone3")  # glibc then falls back to clone
    _add(flt, eperm, "ioctl", seccomp.Arg(1, seccomp.MASKED_EQ, 0xFFFFFFFF, _TIOCSTI))
    return flt


def _add(flt: Any, action: int, name: str, *args: Any) -> None:
    """One rule; a syscall this kernel or libseccomp does not know is not there to deny."""
    with contextlib.suppress(OSError, ValueError, RuntimeError):
        flt.add_rule(action, name, *args)


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2
_compiled: bytes | None = None


def compile_once() -> bytes:
    """libseccomp's BPF program for :func:`build`, made once (in the zygote) and kept.

    ``seccomp_load`` compiles the rules again on every call (~0.7 ms, a quarter of a trivial
    program's whole cost); the bytes it would load are the same for every worker.
    """
    global _compiled
    if _compiled is None:
        with tempfile.TemporaryFile() as out:
            build().export_bpf(out)
            out.seek(0)
            _compiled = out.read()
    return _compiled


def install() -> None:
    """Load the filter into this process (and all it forks from now on); needs no_new_privs."""
    program = compile_once()
    buffer = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.addressof(buffer))  # 8 bytes per instruction
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp filter: {os.strerror(err)}")


def probe() -> bool:
    """In a throwaway child: does the filter load, and does the kernel then refuse a socket?

    Also compiles the filter here, in the parent, so every worker it forks inherits it.
    """
    if not available():
        return False
    try:
        compile_once()
    except (OSError, RuntimeError, ValueError):
        return False
    pid = os.fork()
    if pid == 0:
        try:
            import _socket

            ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
            install()
            try:
                _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM).close()
            except PermissionError:
                os._exit(0)
            os._exit(1)
        except BaseException:
            os._exit(1)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
