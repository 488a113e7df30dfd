"""A program's processes: it sees none but its own, and none of them outlives it.

Judged from the host: the pids that exist out here (the test runner, the zygote, every
other process on the machine) must not exist for the program, and after its verdict no
process of its uid may be alive, while the sandbox is still open, whatever it forked,
double-forked or detached.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable

from test_sandbox import (
    BYPASS,
    HOSTILE,
    assert_still_answers,
    hostile,  # noqa: F401  # the fixture
    needs,
    processes,
)
from tracemint.verify.sandbox import Sandbox


def test_host_pids_do_not_exist_for_a_program(hostile: Callable[..., Sandbox]) -> None:  # noqa: F811
    sb = hostile(HOSTILE)
    needs(sb, "pidns", "setuid")
    host = sorted(processes())  # this process, the zygote, its workers, everything else
    assert os.getpid() in host and sb._proc is not None and sb._proc.pid in host
    body = (
        "def solution():\n"
        "    seen = {}\n"
        f"    for pid in {host!r}:\n"
        "        try:\n"
        "            os.kill(pid, 0)\n"
        "            seen[pid] = 0\n"
        "        except OSError as exc:\n"
        "            seen[pid] = exc.errno\n"
        "    return os.getpid(), os.getppid(), seen\n"
    )
    result = sb.run(BYPASS + body)
    assert result.status == "ok", result
    me, parent, seen = eval(result.value or "")
    assert (me, parent) == (1, 0)  # PID 1 of its own namespace, no visible parent
    assert {pid: code for pid, code in seen.items() if pid != 1} == dict.fromkeys(
        [pid for pid in host if pid != 1], errno.ESRCH
    )


def test_nothing_a_program_forks_outlives_its_verdict(hostile: Callable[..., Sandbox]) -> None:  # noqa: F811
    """Children, a double-forked and detached grandchild, one that ignores SIGTERM/SIGHUP."""
    sb = hostile(HOSTILE)
    needs(sb, "setuid")
    body = (
        "def solution():\n"
        "    signal = os.sys.modules['signal']\n"
        "    for _ in range(2):\n"
        "        if os.fork() == 0:\n"
        "            os.setsid()\n"
        "            if os.fork() == 0:\n"
        "                for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):\n"
        "                    signal.signal(sig, signal.SIG_IGN)\n"
        "                while True:\n"
        "                    time.sleep(0.01)\n"
        "            os._exit(0)\n"
        "    time.sleep(0.2)  # the grandchildren are running now\n"
        "    return os.getuid()\n"
    )
    result = sb.run(BYPASS + "time = os.sys.modules['time']\n" + body)
    assert result.status == "ok", result
    uid = int(result.value or "0")
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        alive = [pid for pid, (owner, _) in processes().items() if owner == uid]
        if not alive:
            break
        time.sleep(0.02)
    assert alive == [], "processes of the program's uid outlived its verdict"
    assert_still_answers(sb)
