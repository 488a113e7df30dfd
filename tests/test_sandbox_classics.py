"""The classic escapes, each judged from the host: the sandbox, the host and other programs.

Every program reaches around the import allow-list first (BYPASS), so what is tested is the
process boundary. For each one the program's own verdict must be what the class predicts,
a program running *at the same time* in another worker must still return its answer, the
sandbox must answer the next program at once, and (the ``hostile`` fixture) no process of
the program's uid may be left once the sandbox closes.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable

import pytest

from test_sandbox import BYPASS, FAST, SandboxConfig, assert_still_answers, hostile, needs  # noqa: F401
from tracemint.verify.sandbox import Sandbox, SandboxResult

CONFIG = SandboxConfig(**{**FAST, "wall_s": 2}, allowed_modules=("math",), pool_size=2)
SIGNAL = "signal = os.sys.modules['signal']\n"
CTYPES = "ctypes = os.sys.modules['ctypes']\nlibc = ctypes.CDLL(None, use_errno=True)\n"
# A connection by whatever works: the socket module if it can be imported around the hook,
# else libc's socket()/connect()/sendto() through ctypes. Reaching the address returns.
NET = CTYPES + (
    "def net(kind, port, host='127.0.0.1'):\n"
    "    try:\n"
    "        s = os.sys.modules['importlib'].import_module('socket')\n"
    "    except ImportError:\n"
    "        s = None\n"
    "    if s is not None:\n"
    "        sock = s.socket(s.AF_INET, kind)\n"
    "        sock.settimeout(1)\n"
    "        if kind == 1:\n"
    "            sock.connect((host, port))\n"
    "        else:\n"
    "            sock.sendto(b'hi', (host, port))\n"
    "        return 'reached'\n"
    "    fd = libc.socket(2, kind, 0)\n"
    "    if fd < 0:\n"
    "        raise OSError(ctypes.get_errno(), 'socket() refused')\n"
    "    ip = bytes(int(x) for x in host.split('.'))\n"
    "    addr = (2).to_bytes(2, 'little') + port.to_bytes(2, 'big') + ip + bytes(8)\n"
    "    r = libc.connect(fd, addr, 16) if kind == 1 else libc.sendto(fd, b'hi', 2, 0, addr, 16)\n"
    "    if r < 0:\n"
    "        raise OSError(ctypes.get_errno(), 'connect()/sendto() refused')\n"
    "    return 'reached'\n"
)

# name -> (program body of solution(), the verdicts the class allows: (status, resource))
ATTACKS: dict[str, tuple[str, set[tuple[str, str | None]]]] = {
    "cpu loop ignoring SIGXCPU and SIGTERM": (
        "    for s in (signal.SIGXCPU, signal.SIGTERM, signal.SIGINT):\n"
        "        signal.signal(s, signal.SIG_IGN)\n"
        "    while True:\n"
        "        pass\n",
        {("killed", "cpu"), ("timeout", None)},
    ),
    "sleep ignoring SIGTERM and SIGHUP": (
        "    for s in (signal.SIGTERM, signal.SIGHUP):\n"
        "        signal.signal(s, signal.SIG_IGN)\n"
        "    os.sys.modules['time'].sleep(60)\n",
        {("timeout", None)},
    ),
    "thread bomb": (
        "    thread = os.sys.modules['_thread']\n"
        "    lock = thread.allocate_lock(); lock.acquire()\n"
        "    for _ in range(10000):\n"
        "        thread.start_new_thread(lock.acquire, ())\n",
        {("error", None), ("killed", "processes"), ("killed", "memory")},
    ),
    "pipe flood on fd 1 and 2": (
        "    data = b'x' * 65536\n    while True:\n"
        "        os.write(1, data)\n        os.write(2, data)\n",
        {("killed", "cpu"), ("timeout", None)},
    ),
    "become root": (
        "    os.setresuid(0, 0, 0)\n    return os.getuid()\n",
        {("error", None)},
    ),
    "join root's groups": ("    os.setgroups([0])\n", {("error", None)}),
    "raise its own limits": (
        "    resource = os.sys.modules['resource']\n"
        "    resource.setrlimit(resource.RLIMIT_CPU, (10**6, 10**6))\n"
        "    resource.setrlimit(resource.RLIMIT_NPROC, (10**6, 10**6))\n",
        {("error", None)},
    ),
    "kill(-1) as its own uid": (
        "    os.kill(-1, signal.SIGKILL)\n    return 'still here'\n",
        {("ok", None), ("error", None)},
    ),
    "kill its parent and process group 0": (
        "    for pid in (os.getppid(), 1):\n"
        "        try:\n            os.kill(pid, signal.SIGKILL)\n        except OSError:\n"
        "            pass\n    return 'still here'\n",
        {("ok", None), ("killed", "signal")},
    ),
    "ptrace the zygote": (
        CTYPES.replace("\n", "\n    ").join(("    ", "")) + "r = libc.ptrace(16, {zygote}, 0, 0)\n"
        "    return r, ctypes.get_errno()\n",
        {("ok", None)},
    ),
    "user namespace to regain root": (
        CTYPES.replace("\n", "\n    ").join(("    ", "")) + "r = libc.unshare(0x10000000)\n"
        "    return r, ctypes.get_errno()\n",
        {("ok", None)},
    ),
    "DNS lookup (UDP to 8.8.8.8:53)": ("    return net(2, 53, '8.8.8.8')\n", {("error", None)}),
    "UDP to the host": ("    return net(2, {udp})\n", {("error", None)}),
    "TCP to the host": ("    return net(1, {tcp})\n", {("error", None)}),
}


@pytest.fixture(scope="module")
def listeners() -> dict[str, object]:
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(1)
    tcp.setblocking(False)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.setblocking(False)
    yield {"tcp": tcp, "udp": udp}
    tcp.close()
    udp.close()


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_a_classic_attack_is_contained(
    hostile: Callable[..., Sandbox],  # noqa: F811
    listeners: dict[str, socket.socket],
    name: str,
) -> None:
    sb = hostile(CONFIG)
    needs(sb, "setuid", "netns")
    assert sb._proc is not None
    zygote = sb._proc.pid
    body, allowed = ATTACKS[name]
    program = (
        BYPASS
        + SIGNAL
        + NET
        + "def solution():\n"
        + body.format(
            zygote=zygote,
            tcp=listeners["tcp"].getsockname()[1],
            udp=listeners["udp"].getsockname()[1],
        )
    )
    bystander: list[SandboxResult] = []
    side = threading.Thread(
        target=lambda: bystander.append(
            sb.run("def solution():\n    return sum(i * i for i in range(300000))\n")
        )
    )
    side.start()
    result = sb.run(program)
    side.join()
    assert (result.status, result.resource) in allowed, result
    assert result.elapsed_s < CONFIG.wall_s + 1
    if name in ("ptrace the zygote", "user namespace to regain root"):
        assert eval(result.value or "")[0] == -1, result  # refused
    if result.status == "error":  # refused by the boundary, not a slip in the attack itself
        assert result.error_type in {"PermissionError", "OSError", "RuntimeError",
                                     "ValueError", "ProcessLookupError", "ImportError",
                                     "MemoryError"}, result  # fmt: skip
    if name == "kill(-1) as its own uid" and result.status == "ok":
        assert result.value == "still here"
    assert [(r.status, r.value) for r in bystander] == [
        ("ok", str(sum(i * i for i in range(300000))))
    ]
    assert_still_answers(sb, zygote)
    for kind in ("tcp", "udp"):  # nothing reached the host
        with pytest.raises(BlockingIOError):
            if kind == "tcp":
                listeners["tcp"].accept()[0].close()
            else:
                listeners["udp"].recvfrom(16)
    assert os.getpid() > 0  # the test process itself was not signalled
