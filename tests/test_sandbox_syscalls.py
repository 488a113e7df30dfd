"""The syscall filter, attacked from inside with the real ``ctypes`` and raw syscall numbers.

Every program here first reaches around the import allow-list (BYPASS, then ``ctypes`` from
``sys.modules``), so the kernel's answer is all that stands: each denied call must come back
``EPERM`` from the program's own process and from anything it forks; a syscall of another
ABI ends the program, not the sandbox. A sandbox with the filter switched off is the control:
there the same calls do not fail with ``EPERM``, so it is the filter that refuses them.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

import pytest

from test_sandbox import (
    BYPASS,
    HOSTILE,
    assert_still_answers,
    hostile,  # noqa: F401  # the fixture
    needs,
)
from tracemint.verify import _sandbox_filter
from tracemint.verify.sandbox import Sandbox

pyseccomp = pytest.importorskip("pyseccomp")
ARCH = pyseccomp.system_arch()
CTYPES = (
    "ctypes = os.sys.modules['ctypes']\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "def call(nr, *args):\n"
    "    ctypes.set_errno(0)\n"
    "    args = [ctypes.c_long(a) for a in args]\n"
    "    return 0 if libc.syscall(nr, *args) >= 0 else ctypes.get_errno()\n"
)


def nr(name: str) -> int:
    return int(pyseccomp.resolve_syscall(ARCH, name))


# Every denied syscall this kernel's ABI has, called with zero arguments. ``clone`` is left
# out: with no flags it is a plain fork (allowed), tested below with namespace flags.
RAW = {
    name: nr(name) for names in _sandbox_filter.DENIED.values() for name in names if nr(name) >= 0
}


def run(sb: Sandbox, body: str) -> object:
    result = sb.run(BYPASS + CTYPES + "def solution():\n" + body)
    assert result.status == "ok", result
    return eval(result.value or "None")  # a dict/list of ints the program built


@pytest.fixture
def filtered(hostile: Callable[..., Sandbox]) -> Sandbox:  # noqa: F811
    sb = hostile(HOSTILE)
    needs(sb, "seccomp", "setuid")
    return sb


def test_every_denied_syscall_is_refused_with_eperm(filtered: Sandbox) -> None:
    got = run(
        filtered, f"    return {{n: call(nr, 0, 0, 0, 0, 0, 0) for n, nr in {RAW!r}.items()}}\n"
    )
    assert got == dict.fromkeys(RAW, errno.EPERM)
    assert len(RAW) >= 50  # the groups in DENIED, as this ABI numbers them
    assert_still_answers(filtered)


def test_every_socket_family_is_refused(filtered: Sandbox) -> None:
    """Any family (AF_UNIX, INET, NETLINK, PACKET, VSOCK, ALG ...), through _socket and raw."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(st.integers(0, 45), st.integers(1, 10), st.integers(0, 300)),
                    min_size=1, max_size=20))  # fmt: skip
    def check(triples: list[tuple[int, int, int]]) -> None:
        body = (
            "    _socket = os.sys.modules.get('_socket')\n"
            "    out = []\n"
            f"    for family, kind, proto in {triples!r}:\n"
            f"        out.append(call({nr('socket')}, family, kind, proto))\n"
            f"        out.append(call({nr('socketpair')}, family, kind, proto, 0))\n"
            "    return out\n"
        )
        assert run(filtered, body) == [errno.EPERM] * (2 * len(triples))

    check()


def test_exec_namespaces_and_mounts_are_refused_by_name(filtered: Sandbox) -> None:
    """The calls a real escape would make, with real arguments, not zeros."""
    clone, ptrace, ioctl = nr("clone"), nr("ptrace"), nr("ioctl")
    body = (
        "    out = {}\n"
        "    out['execve'] = libc.execve(b'/bin/sh', None, None) and ctypes.get_errno()\n"
        "    out['os.execv'] = 0\n"
        "    try:\n"
        "        os.execv(os.sys.executable, [os.sys.executable, '-c', 'pass'])\n"
        "    except OSError as exc:\n"
        "        out['os.execv'] = exc.errno\n"
        "    out['unshare user'] = libc.unshare(0x10000000) and ctypes.get_errno()\n"
        "    out['unshare none'] = libc.unshare(0) and ctypes.get_errno()\n"
        f"    out['clone newuser'] = call({clone}, 0x10000000 | 17, 0, 0, 0, 0)\n"
        f"    out['clone newpid'] = call({clone}, 0x20000000 | 17, 0, 0, 0, 0)\n"
        "    out['mount'] = libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)"
        " and ctypes.get_errno()\n"
        "    out['chroot'] = libc.chroot(b'/tmp') and ctypes.get_errno()\n"
        f"    out['ptrace traceme'] = call({ptrace}, 0, 0, 0, 0)\n"
        f"    out['tiocsti'] = call({ioctl}, 0, 0x5412, 0)\n"
        "    return out\n"
    )
    got = run(filtered, body)
    assert got == dict.fromkeys(got, errno.EPERM) and len(got) == 10, got


def test_a_forked_child_inherits_the_filter_and_forks_still_work(filtered: Sandbox) -> None:
    """Forking within the budget is allowed; the child is as filtered as its parent."""
    body = (
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        f"        os._exit(call({nr('socket')}, 1, 1, 0))\n"
        "    status = os.waitpid(pid, 0)[1]\n"
        "    thread = os.sys.modules['_thread']\n"
        "    lock = thread.allocate_lock(); lock.acquire()\n"
        "    thread.start_new_thread(lock.release, ())\n"
        "    lock.acquire()  # a thread ran: clone3 fell back to clone\n"
        "    return [os.waitstatus_to_exitcode(status)]\n"
    )
    assert run(filtered, body) == [errno.EPERM]


def test_a_syscall_of_another_abi_ends_the_program_not_the_sandbox(filtered: Sandbox) -> None:
    """x32 numbers (0x40000000 | nr) would bypass a filter written for x86-64 numbers."""
    if ARCH != pyseccomp.Arch.X86_64:
        pytest.skip("x32 is an x86-64 ABI")
    zygote = filtered._proc.pid if filtered._proc is not None else None
    result = filtered.run(
        BYPASS + CTYPES + f"def solution():\n    return call({0x40000000 | 41}, 1, 1, 0)\n"
    )
    assert (result.status, result.resource) == ("killed", "signal"), result
    assert_still_answers(filtered, zygote)


def test_without_the_filter_the_same_calls_do_not_fail_with_eperm(
    hostile: Callable[..., Sandbox],  # noqa: F811
) -> None:
    """The control: the kernel's other defences alone answer differently, so the filter acts."""
    sb = hostile(HOSTILE.model_copy(update={"syscall_filter": False}))
    assert sb.protections["seccomp"] is False
    body = (
        f"    return [call({nr('socket')}, 1, 1, 0) , call({nr('unshare')}, 0),"
        f" call({nr('io_uring_setup')}, 0, 0)]\n"
    )
    unix_socket, unshare_nothing, io_uring = run(sb, body)
    assert unix_socket == 0 and unshare_nothing == 0  # allowed by everything but the filter
    assert io_uring != errno.EPERM
