"""The sandbox: normal programs give exact values; hostile ones end within their limits.

Hostile programs come in two flavours: as an LLM would write them (stopped by the import
allow-list, which is only defence in depth), and with the allow-list opened or bypassed on
purpose, so that the process-level boundary (rlimits, uid drop, namespaces) is what is
tested. After every hostile test no process of its sandboxes may survive (judged by the
uids they used, so another run's sandboxes on the same machine do not count).
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pydantic
import pytest
import sympy

from tracemint.errors import TracemintError
from tracemint.verify._sandbox_worker import _PRIVATE_TMP_DIRS, UID_MIN, UID_SPAN
from tracemint.verify.sandbox import (
    DEFAULT_ALLOWED_MODULES,
    Sandbox,
    SandboxConfig,
    SandboxError,
    SandboxResult,
)

# Small limits keep the suite fast and keep hostile programs cheap for the shared machine.
FAST = {"cpu_s": 1, "wall_s": 3, "memory_mb": 128, "max_processes": 4}
# Hostile programs need no sympy, and a zygote without it starts ~4x faster.
HOSTILE = SandboxConfig(
    **FAST, allowed_modules=tuple(m for m in DEFAULT_ALLOWED_MODULES if m != "sympy")
)
# Opens the allow-list on purpose so the kernel-level limits are what stops the program.
PERMISSIVE = SandboxConfig(**FAST, allowed_modules=("os", "time", "socket", "math"), pool_size=2)
# Reaches `os` without importing it: the classic escape from import hooks.
BYPASS = (
    "os = next(c for c in ().__class__.__base__.__subclasses__()"
    " if c.__name__ == '_wrap_close').__init__.__globals__['sys'].modules['os']\n"
)


def uid_and_parent(pid: int) -> tuple[int, int] | None:
    """(real uid, parent pid) of a process from /proc, or None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = dict(li.split(":", 1) for li in status.splitlines() if ":" in li)
    return int(fields["Uid"].split()[0]), int(fields["PPid"])


def processes() -> dict[int, tuple[int, int]]:
    """``pid -> (uid, ppid)`` of every process on the machine (one /proc scan)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (info := uid_and_parent(int(entry))) is not None:
            found[int(entry)] = info
    return found


def in_sandbox_range(uid: int) -> bool:
    return UID_MIN <= uid < UID_MIN + UID_SPAN


class SandboxWatch:
    """Learns which uids *our* sandboxes gave their workers, to judge leftovers by them.

    The machine is shared: another tracemint run (another user's, another test process)
    has sandbox-uid processes of its own, so "no process of any sandbox uid" is not ours to
    assert. Every worker gets a fresh random uid and is a descendant of its zygote while it
    runs (the zygote is a child subreaper, so even a double-forked escapee is reparented to
    it), so a /proc sampler that records the uids of our zygotes' descendants knows every
    uid our programs ran as. Workers are pre-forked and wait idle for their program, so each
    is seen. After the sandboxes close, no process of a recorded uid may remain.
    """

    def __init__(self, sandboxes: list[Sandbox]) -> None:
        self.sandboxes = sandboxes
        self.uids: set[int] = set()
        self.zygotes: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.sample()

    def sample(self) -> None:
        self.zygotes |= {sb._proc.pid for sb in list(self.sandboxes) if sb._proc is not None}
        table = processes()
        for pid, (uid, _) in table.items():
            if not in_sandbox_range(uid) or uid in self.uids:
                continue
            seen, ancestor = 0, pid
            while ancestor > 1 and seen < 64:  # walk up to our zygote, or to init
                if ancestor in self.zygotes:
                    self.uids.add(uid)
                    break
                ancestor, seen = table.get(ancestor, (0, 0))[1], seen + 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def leftovers(self) -> list[int]:
        """Our sandboxes' processes still alive: a recorded uid, or a zygote that is not gone."""
        return sorted(
            pid
            for pid, (uid, _) in processes().items()
            if uid in self.uids or (pid in self.zygotes and Path(f"/proc/{pid}").exists())
        )


def test_watch_learns_uids_only_from_its_own_sandboxes() -> None:
    """The judge of the leftover check: it must see our workers and nobody else's."""
    with Sandbox(SandboxConfig(**FAST)) as ours, Sandbox(SandboxConfig(**FAST)) as theirs:
        if not ours.protections.get("setuid"):
            pytest.skip(f"workers keep the caller's uid without root: {ours.protections}")
        watch = SandboxWatch([ours])
        try:
            assert ours.run(fn("return 1")).value == "1"
            assert theirs.run(fn("return 2")).value == "2"
            watch.sample()
        finally:
            watch.stop()
        assert theirs._proc is not None
        table = processes()  # their workers: the zygote's children (root, waiting) and theirs
        below = {pid for pid, (_, ppid) in table.items() if ppid == theirs._proc.pid}
        below |= {pid for pid, (_, ppid) in table.items() if ppid in below}
        their_uids = {table[pid][0] for pid in below if in_sandbox_range(table[pid][0])}
        assert watch.uids and their_uids and not (watch.uids & their_uids)
        assert watch.leftovers()  # our idle workers are alive until the sandbox closes
    watch.sample()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """Shared by the tests of *benign* programs (starting a sandbox costs ~0.3 s)."""
    with Sandbox(SandboxConfig(**FAST)) as sb:
        assert sb._proc is not None
        yield sb


@pytest.fixture
def hostile() -> Iterator[Callable[..., Sandbox]]:
    """A factory of sandboxes that are closed after the test, which then fails if any
    process of theirs is still alive (idle pre-forked workers and escapees included)."""
    made: list[Sandbox] = []
    watch = SandboxWatch(made)

    def make(config: SandboxConfig | None = None) -> Sandbox:
        made.append(Sandbox(config or HOSTILE))
        return made[-1]

    yield make
    watch.sample()
    for sb in made:
        sb.close()
    watch.stop()
    deadline = time.monotonic() + 2
    while watch.leftovers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert watch.leftovers() == []


@pytest.fixture
def sandbox_h(hostile: Callable[..., Sandbox]) -> Sandbox:
    return hostile()


@pytest.fixture
def permissive(hostile: Callable[..., Sandbox]) -> Sandbox:
    return hostile(PERMISSIVE)


def needs(sb: Sandbox, *protections: str) -> None:
    missing = [name for name in protections if not sb.protections.get(name)]
    if missing:
        pytest.skip(f"needs {missing} (run as root on Linux); active: {sb.protections}")


def fn(body: str, imports: str = "") -> str:
    """A program whose solution() runs ``body`` (one line)."""
    return f"{imports}\ndef solution():\n    {body}\n"


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cpu_s": 0},
        {"pool_size": 0},
        {"entrypoint": "not valid"},
        {"unknown": 1},
        {"allowed_modules": ("os.path",)},
        {"tmp_mb": 0},
    ],
)
def test_config_rejects_bad_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        SandboxConfig(**kwargs)  # type: ignore[arg-type]


def test_sandbox_error_is_a_tracemint_error() -> None:
    assert issubclass(SandboxError, TracemintError)


# --------------------------------------------------------------------------- normal programs


@pytest.mark.parametrize(
    ("program", "value", "value_type"),
    [
        (fn("return 6 * 7"), "42", "int"),
        (fn("return 2 ** 100"), str(2**100), "int"),
        (fn("return Fraction(3, 6)", "from fractions import Fraction"), "1/2", "Fraction"),
        (fn("return 'forty-two'"), "forty-two", "str"),
        (
            fn("return sympy.sqrt(8) + sympy.Rational(1, 3)", "import sympy"),
            str(2 * sympy.sqrt(2) + sympy.Rational(1, 3)),
            "Add",
        ),
        (fn("return math.comb(10, 3)", "import math"), "120", "int"),
        (fn("return [1, 2]"), "[1, 2]", "list"),
    ],
)
def test_values(sandbox: Sandbox, program: str, value: str, value_type: str) -> None:
    result = sandbox.run(program)
    assert (result.status, result.value, result.value_type) == ("ok", value, value_type)


def test_exception_is_reported_with_type_and_message(sandbox: Sandbox) -> None:
    result = sandbox.run(fn("raise ValueError('no answer')"))
    assert (result.status, result.error_type, result.message) == (
        "error",
        "ValueError",
        "no answer",
    )
    assert sandbox.run("x = (").error_type == "SyntaxError"
    assert sandbox.run("def other(): return 1").error_type == "NameError"


def test_stdout_is_captured_and_entrypoint_configurable() -> None:
    with Sandbox(SandboxConfig(**FAST, entrypoint="main", pool_size=1)) as sb:
        result = sb.run("def main():\n    print('thinking')\n    return 1")
    assert (result.status, result.value, result.stdout) == ("ok", "1", "thinking\n")


def test_determinism_across_sandboxes(sandbox: Sandbox) -> None:
    program = fn("return [random.randint(0, 10**9) for _ in range(3)], hash('x')", "import random")
    first = sandbox.run(program).value
    with Sandbox(SandboxConfig(**FAST, pool_size=1)) as other:
        assert other.run(program).value == first
    assert sandbox.run(program).value == first


def test_run_many_keeps_order_and_arun_works(sandbox: Sandbox) -> None:
    import asyncio

    results = sandbox.run_many([fn(f"return {i} * 2") for i in range(20)])
    assert [r.value for r in results] == [str(i * 2) for i in range(20)]

    async def both() -> list[SandboxResult]:
        return list(
            await asyncio.gather(sandbox.arun(fn("return 1")), sandbox.arun(fn("return 2")))
        )

    assert [r.value for r in asyncio.run(both())] == ["1", "2"]


def test_thread_safe(sandbox: Sandbox) -> None:
    values: list[str | None] = [None] * 8

    def work(i: int) -> None:
        values[i] = sandbox.run(fn(f"return {i}")).value

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert values == [str(i) for i in range(8)]


def test_closed_sandbox_refuses() -> None:
    sb = Sandbox(SandboxConfig(**FAST, pool_size=1))
    sb.close()
    sb.close()
    with pytest.raises(SandboxError, match="closed"):
        sb.run(fn("return 1"))


# --------------------------------------------------------------------------- hostile, as written


@pytest.mark.parametrize(
    "module", ["os", "subprocess", "ctypes", "socket", "sys", "importlib", "os.path", "shutil"]
)
def test_dangerous_imports_are_refused(sandbox_h: Sandbox, module: str) -> None:
    result = sandbox_h.run(fn("return 1", f"import {module}"))
    assert (result.status, result.error_type) == ("error", "ImportError")
    assert "not allowed" in (result.message or "")


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "/etc/shadow", "../../etc/hostname", "/proc/self/environ", 0]
)
def test_open_outside_workdir_is_refused(sandbox_h: Sandbox, path: object) -> None:
    result = sandbox_h.run(fn(f"return open({path!r}).read()"))
    assert (result.status, result.error_type) == ("error", "PermissionError")


def test_open_inside_workdir_works(sandbox_h: Sandbox) -> None:
    program = fn("open('notes.txt', 'w').write('kept'); return open('notes.txt').read()")
    assert sandbox_h.run(program).value == "kept"
    # a fresh directory per execution: the file is gone
    assert sandbox_h.run(fn("return open('notes.txt').read()")).error_type == "FileNotFoundError"


def test_infinite_loop_is_killed_for_cpu(sandbox_h: Sandbox) -> None:
    start = time.monotonic()
    result = sandbox_h.run(fn("while True: pass"))
    assert (result.status, result.resource) == ("killed", "cpu")
    assert time.monotonic() - start < FAST["cpu_s"] + 2


def test_sleeping_program_times_out_on_wall_clock(hostile: Callable[..., Sandbox]) -> None:
    sb = hostile(SandboxConfig(**{**FAST, "wall_s": 0.5}, allowed_modules=("time",)))
    result = sb.run(fn("time.sleep(60)", "import time"))
    assert result.status == "timeout"
    assert 0.5 <= result.elapsed_s < 0.5 + 1.5


def test_memory_bomb_is_killed(sandbox_h: Sandbox) -> None:
    result = sandbox_h.run(fn("x = []\n    while True: x.append(bytearray(10**7))"))
    assert (result.status, result.resource) == ("killed", "memory")
    big = sandbox_h.run(fn("return len(bytearray(10**9))"))
    assert (big.status, big.resource) == ("killed", "memory")


def test_huge_output_is_cut(sandbox_h: Sandbox) -> None:
    result = sandbox_h.run(fn("while True: print('x' * 1000)"))
    assert (result.status, result.resource) == ("killed", "output")
    assert len(result.stdout) <= sandbox_h.config.max_output_bytes
    value = sandbox_h.run(fn("return 'y' * 10**6"))
    assert (value.status, value.resource) == ("killed", "output")
    assert value.value is None


def test_environment_is_not_inherited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEMINT_TEST_SECRET", "hunter2")
    with Sandbox(PERMISSIVE) as sb:  # started after the secret is set (closed before the check)
        result = sb.run(fn("return sorted(os.environ)", "import os"))
        bypass = sb.run(BYPASS + fn("return repr(os.environ)"))
    assert result.status == "ok"
    assert "TRACEMINT_TEST_SECRET" not in (result.value or "")
    assert "hunter2" not in (bypass.value or "")


# --------------------------------------------------------------------------- hostile, boundary


def test_bypassing_the_import_hook_still_runs_unprivileged(sandbox_h: Sandbox) -> None:
    needs(sandbox_h, "setuid")
    result = sandbox_h.run(BYPASS + fn("return os.getuid(), os.geteuid(), os.getgroups()"))
    assert result.status == "ok"
    uid, euid, groups = eval(result.value or "")  # a tuple of ints we produced above
    assert uid == euid >= UID_MIN and groups == []
    shadow = sandbox_h.run(BYPASS + fn("return os.read(os.open('/etc/shadow', os.O_RDONLY), 9)"))
    # unreadable for the uid, or not even there in the minimal root
    assert shadow.status == "error" and shadow.error_type in {"PermissionError",
                                                              "FileNotFoundError"}  # fmt: skip


def test_writes_outside_workdir_fail_or_stay_private(permissive: Sandbox) -> None:
    needs(permissive, "setuid")
    target = Path("/root") / f"pwned-{os.getpid()}"  # root's home: mode 0700, never a tmpfs
    result = permissive.run(fn(f"return os.open({str(target)!r}, os.O_CREAT | os.O_WRONLY)",
                               "import os"))  # fmt: skip
    # EACCES for the uid, or EROFS (OSError) in the read-only minimal root
    assert result.status == "error" and result.error_type in {"PermissionError", "OSError"}
    assert not target.exists()
    target.unlink(missing_ok=True)
    if permissive.protections.get("mountns"):
        marker = f"/tmp/tracemint-sandbox-probe-{os.getpid()}"
        permissive.run(fn(f"return os.open({marker!r}, os.O_CREAT | os.O_WRONLY)", "import os"))
        assert not Path(marker).exists()  # the program's /tmp is a private tmpfs


def test_file_size_is_limited(permissive: Sandbox) -> None:
    big = permissive.config.max_file_bytes + 1
    program = f"with open('f', 'wb') as f:\n        f.write(b'x' * {big})"
    result = permissive.run(fn(program))
    assert (result.status, result.resource) == ("killed", "disk")


def test_os_system_runs_nothing_harmful(sandbox_h: Sandbox, permissive: Sandbox) -> None:
    assert sandbox_h.run(fn("return os.system('true')", "import os")).error_type == "ImportError"
    needs(permissive, "setuid")
    result = permissive.run(fn("return os.system('id -u > /dev/null; cat /etc/shadow')",
                               "import os"))  # fmt: skip
    assert result.status == "ok" and result.value != "0"  # the shell could not read it


def test_no_network_even_to_loopback(sandbox_h: Sandbox, permissive: Sandbox) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    try:
        assert sandbox_h.run(fn("return 1", "import socket")).error_type == "ImportError"
        connect = f"socket.create_connection(('127.0.0.1', {port}), timeout=1); return 'connected'"
        result = permissive.run(fn(connect, "import socket"))
        assert result.status == "error", result
        with pytest.raises(OSError):  # nothing arrived
            server.accept()[0].close()
    finally:
        server.close()


def test_fork_bomb_is_capped_and_cleaned_up(hostile: Callable[..., Sandbox]) -> None:
    # Without a uid drop RLIMIT_NPROC does not bind root: never run the bomb unprotected.
    config = SandboxConfig(**{**FAST, "max_processes": 4}, allowed_modules=("os",), pool_size=1)
    sb = hostile(config)
    needs(sb, "setuid")
    bounded = sb.run(fn("return sum(1 for _ in range(50) if os.fork() or os._exit(0))",
                        "import os"))  # fmt: skip
    assert (bounded.status, bounded.resource) == ("killed", "processes")
    start = time.monotonic()
    bomb = sb.run(fn("while True:\n        try: os.fork()\n        except OSError: pass",
                     "import os"))  # fmt: skip
    assert bomb.status in {"killed", "timeout"}
    assert time.monotonic() - start < config.wall_s + 2
    assert sb.run(fn("return 'still fine'")).value == "still fine"


# ------------------------------------------------------------------------ hostile, persistence
# Nothing a program leaves in a world-writable place or in SysV IPC may reach the next program
# or outlive the sandbox (issue 15): a fresh tmpfs per program, an IPC namespace per worker.


def _tmp_dirs() -> list[str]:
    """The private tmp dirs this machine has (the worker skips missing ones and symlinks)."""
    return [d for d in _PRIVATE_TMP_DIRS if os.path.isdir(d) and not os.path.islink(d)]


def test_tmp_dirs_are_fresh_for_every_program(permissive: Sandbox) -> None:
    needs(permissive, "setuid", "tmp_per_program")
    dirs, marker = _tmp_dirs(), f"tracemint-left-behind-{os.getpid()}"
    write = (f"for d in {dirs!r}:\n        os.close(os.open(os.path.join(d, {marker!r}), "
             "os.O_CREAT | os.O_WRONLY))\n    return os.getuid(), sorted(os.listdir(d) "
             f"for d in {dirs!r})")  # fmt: skip
    a = permissive.run(fn(write, "import os"))
    assert a.status == "ok", a
    assert all(marker in listing for listing in eval(a.value or "")[1])  # A really wrote them
    look = f"return os.getuid(), [os.path.exists(os.path.join(d, {marker!r})) for d in {dirs!r}]"
    b = permissive.run(fn(look, "import os"))
    assert b.status == "ok", b
    uid_b, seen = eval(b.value or "")
    assert uid_b != eval(a.value or "")[0]  # another worker (each has a uid of its own)
    assert seen == [False] * len(dirs)
    assert not any(Path(d, marker).exists() for d in dirs)  # nor on the host


def test_filling_tmp_does_not_starve_the_next_program(hostile: Callable[..., Sandbox]) -> None:
    sb = hostile(PERMISSIVE.model_copy(update={"tmp_mb": 2}))
    needs(sb, "setuid", "tmp_per_program")
    fill = (
        "import os\n"
        "def solution():\n"
        "    for i in range(10000):\n"
        "        try:\n"
        "            fd = os.open(f'/tmp/fill-{i}', os.O_CREAT | os.O_WRONLY)\n"
        "            os.write(fd, b'x' * 65536)\n"
        "            os.close(fd)\n"
        "        except OSError as exc:\n"
        "            return os.strerror(exc.errno), i\n"
        "    return 'never full', i\n"
    )
    full = sb.run(fill)
    assert full.status == "ok" and eval(full.value or "")[0] == os.strerror(errno.ENOSPC), full
    small = ("fd = os.open('/tmp/small', os.O_CREAT | os.O_WRONLY); os.write(fd, b'ok'); "
             "os.close(fd); return sorted(os.listdir('/tmp'))")  # fmt: skip
    for _ in range(3):  # both pre-forked workers, then a fresh one
        after = sb.run(fn(small, "import os"))
        assert after.status == "ok", after
        assert "small" in (after.value or "") and "fill-" not in (after.value or ""), after
    workdir = sb.run(fn("open('f', 'w').write('x' * 1000); return 'ok'"))
    assert workdir.value == "ok", workdir


def _host_shm_keys() -> set[int]:
    """Keys of the host's SysV shared-memory segments (the test runs in the host's IPC ns)."""
    lines = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    return {int(line.split()[0]) for line in lines if line.strip()}


def test_sysv_shm_dies_with_the_worker(hostile: Callable[..., Sandbox]) -> None:
    sb = hostile(SandboxConfig(**FAST, allowed_modules=("ctypes", "os")))
    needs(sb, "setuid", "ipcns")
    key = 0x7E000000 + os.getpid() % 0xFFFFF  # judged by this key only: the machine is shared
    assert key not in _host_shm_keys()
    create = (f"libc = ctypes.CDLL(None, use_errno=True); shmid = libc.shmget({key}, 4096, "
              "0o1000 | 0o666); return shmid, ctypes.get_errno()")  # fmt: skip
    made = sb.run(fn(create, "import ctypes"))
    assert made.status == "ok" and eval(made.value or "")[0] >= 0, made  # it really existed
    lookup = f"return ctypes.CDLL(None, use_errno=True).shmget({key}, 0, 0)"
    assert sb.run(fn(lookup, "import ctypes")).value == "-1"  # the next program: gone
    assert key not in _host_shm_keys()
    sb.close()
    assert key not in _host_shm_keys()


def test_posix_shm_stays_out_of_the_hosts_dev_shm(permissive: Sandbox) -> None:
    needs(permissive, "setuid", "tmp_per_program")
    name = f"/dev/shm/tracemint-shm-{os.getpid()}"
    made = permissive.run(fn(f"os.close(os.open({name!r}, os.O_CREAT | os.O_RDWR)); "
                             f"return os.path.exists({name!r})", "import os"))  # fmt: skip
    assert made.value == "True", made
    assert permissive.run(fn(f"return os.path.exists({name!r})", "import os")).value == "False"
    assert not Path(name).exists()
    permissive.close()
    assert not Path(name).exists()


def test_host_is_unharmed_after_hostile_programs(sandbox_h: Sandbox) -> None:
    assert sandbox_h.run(fn("return 1 + 1")).value == "2"  # (leftovers: checked by `hostile`)
    # the test process can still make processes and files
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 7


# ---------------------------------------------------------- hostile, processes and host files
# Issue 15, items 4-6: the minimal root. A program that reaches `os` can neither start a
# process (nothing visible is executable), nor read the checkout, its runs, the inputs or a
# home directory (they are not there), nor reach a host AF_UNIX socket.

CHECKOUT = Path(__file__).resolve().parents[1]
EXECS = {
    "popen via random._os": "return random._os.popen('id > {m}; id').read()",
    "os.system": "return os.system('id > {m}')",
    "execv /bin/sh": "os.execv('/bin/sh', ['sh', '-c', 'id > {m}'])",
    "execv /proc/self/exe": "os.execv('/proc/self/exe', ['py', '-c', \"open('{m}', 'w')\"])",
    "posix_spawn": "return os.posix_spawn('/bin/sh', ['sh', '-c', 'id > {m}'], {{}})",
    "fork + execv": "pid = os.fork()\n    if pid == 0:\n        try:\n            os.execv("
                    "'/bin/sh', ['sh', '-c', 'id > {m}'])\n        finally:\n            "
                    "os._exit(99)\n    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])",
    "own file": "open('x', 'w').write('#!/bin/sh\\nid > {m}\\n')\n    os.chmod('x', 0o755)"
                "\n    os.execv('./x', ['x'])",
}  # fmt: skip


@pytest.fixture
def host_dir() -> Iterator[Path]:
    """A world-writable directory in the checkout: visible to the host, and to a program
    that is not confined to the minimal root (so the tests below would see an escape)."""
    path = CHECKOUT / f".sandbox-probe-{os.getpid()}-{os.urandom(4).hex()}"
    path.mkdir(mode=0o777)
    path.chmod(0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("attack", sorted(EXECS))
def test_no_process_can_be_spawned(hostile: Callable[..., Sandbox], host_dir: Path,
                                   attack: str) -> None:  # fmt: skip
    config = SandboxConfig(**FAST, allowed_modules=("os", "random"), pool_size=1)
    sb = hostile(config)
    needs(sb, "setuid", "minimal_root")
    marker = host_dir / "spawned"
    result = sb.run(fn(EXECS[attack].format(m=str(marker)), "import os, random"))
    assert not marker.exists(), f"{attack}: a process ran: {marker.read_text()!r}"
    if result.status == "ok":  # the call returned: no output, and the shell's status
        assert "uid=" not in (result.value or "") + result.stdout, result
        assert result.value in {"", "32512", "99"}, result  # 32512: 127, "not found"
    else:
        assert result.status == "error", result
        # ImportError: popen's lazily imported C extension cannot be mapped from noexec mounts
        assert result.error_type in {"FileNotFoundError", "PermissionError", "ImportError"}, (
            result)  # fmt: skip


def test_checkout_runs_inputs_and_home_are_invisible(hostile: Callable[..., Sandbox],
                                                     tmp_path: Path) -> None:  # fmt: skip
    sb = hostile(PERMISSIVE)
    needs(sb, "setuid", "minimal_root")
    secret = f"reference-answer-{os.urandom(8).hex()}"
    run_dir = CHECKOUT / "runs" / f"sandbox-probe-{os.getpid()}-{os.urandom(4).hex()}"
    created_runs = not run_dir.parent.exists()
    run_dir.mkdir(parents=True)
    try:
        for folder in (run_dir, run_dir.parent):  # world-readable: only hiding protects it
            folder.chmod(0o755)
        (run_dir / "cache.sqlite").write_text(f"completion with {secret}")
        (run_dir / "cache.sqlite").chmod(0o644)
        problems = tmp_path / "problems.jsonl"
        problems.write_text(f'{{"question": "1+1", "answer": "{secret}"}}\n')
        home = Path.home()
        readable = [CHECKOUT / "README.md", CHECKOUT / "pyproject.toml",
                    run_dir / "cache.sqlite", problems]  # fmt: skip
        listed = [CHECKOUT, CHECKOUT / "runs", run_dir, home, home / ".cache", Path("/root"),
                  tmp_path]  # fmt: skip
        program = (
            "def solution():\n"
            "    seen = {}\n"
            f"    for path in {[str(p) for p in readable]!r}:\n"
            "        try:\n"
            "            seen[path] = os.read(os.open(path, os.O_RDONLY), 1 << 16).decode()\n"
            "        except OSError as exc:\n"
            "            seen[path] = type(exc).__name__\n"
            f"    for path in {[str(p) for p in listed]!r}:\n"
            "        try:\n"
            "            seen[path] = sorted(os.listdir(path))\n"
            "        except OSError as exc:\n"
            "            seen[path] = type(exc).__name__\n"
            "    return repr(seen)\n"
        )
        result = sb.run("import os\n" + program)
        assert result.status == "ok", result
        seen = eval(result.value or "")  # a dict of str / list of str we produced above
        assert secret not in result.value + result.stdout
        for path in readable:
            assert seen[str(path)] == "FileNotFoundError", (path, seen[str(path)][:200])
        for path in listed:  # gone, or only the way down to the interpreter (the venv)
            entries = seen[str(path)]
            assert entries == "FileNotFoundError" or not {"README.md", "pyproject.toml",
                "runs", "src", "tests", "cache.sqlite", "problems.jsonl"} & set(entries), (
                path, entries)  # fmt: skip
    finally:
        shutil.rmtree(run_dir if not created_runs else run_dir.parent, ignore_errors=True)


def test_host_unix_sockets_are_unreachable(hostile: Callable[..., Sandbox],
                                           host_dir: Path) -> None:  # fmt: skip
    sb = hostile(PERMISSIVE)
    needs(sb, "setuid", "netns", "minimal_root")
    tag = f"tracemint-probe-{os.getpid()}-{os.urandom(4).hex()}"
    servers = []
    try:
        for address in (str(host_dir / "s"), f"/tmp/{tag}.sock", "\0" + tag):
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.bind(address)
            if not address.startswith("\0"):
                os.chmod(address, 0o777)  # anyone who can see it may connect
            server.listen(1)
            server.setblocking(False)
            servers.append((address, server))
        connect = (
            "def solution():\n"
            "    out = []\n"
            f"    for address in {[a for a, _ in servers]!r}:\n"
            "        try:\n"  # the syscall filter already refuses the socket itself
            "            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect(address)\n"
            "            out.append('connected')\n"
            "        except OSError as exc:\n"
            "            out.append(type(exc).__name__)\n"
            "    return out\n"
        )
        result = sb.run("import socket\n" + connect)
        assert result.status == "ok", result
        assert "connected" not in (result.value or ""), result
        for _address, server in servers:
            with pytest.raises(BlockingIOError):  # nothing arrived
                server.accept()[0].close()
    finally:
        for address, server in servers:
            server.close()
            if not address.startswith("\0"):
                Path(address).unlink(missing_ok=True)


# ------------------------------------------------------------------------ hostile, result channel
# A worker holds its result pipe's write end (fd 4) while the program runs, so a program that
# reaches `os` can write there. Whatever it writes must become its own verdict (an error, or a
# value it could have returned anyway), never a dead reader thread or a dead zygote.

FORGED_OK = (
    '{"status": "ok", "value": "999", "value_type": "int", "error_type": null, '
    '"message": null, "resource": null, "stdout": "", "stderr": ""}\n'
)
# Writes PAYLOAD (a bytes expression) to every descriptor the program can reach, then THEN.
FORGE_ALL_FDS = (
    "def solution():\n"
    "    data = {payload}\n"
    "    for fd in range(64):\n"
    "        try:\n"
    "            os.write(fd, data)\n"
    "        except OSError:\n"
    "            pass\n"
    "    {then}\n"
)


def forge(payload: str, then: str = "return 7", reach: str = BYPASS) -> str:
    return reach + FORGE_ALL_FDS.format(payload=payload, then=then)


def assert_still_answers(sb: Sandbox, zygote: int | None = None) -> None:
    """The same sandbox (same zygote, live reader) runs a normal program, quickly."""
    start = time.monotonic()
    result = sb.run(fn("return 6 * 7"))
    assert (result.status, result.value) == ("ok", "42"), result
    assert time.monotonic() - start < 2
    assert sb._reader is not None and sb._reader.is_alive()
    if zygote is not None:
        assert sb._proc is not None and sb._proc.pid == zygote  # the zygote did not die


FORGERIES = {
    "extra key": repr(FORGED_OK.replace('"stderr": ""', '"stderr": "", "pwned": 1').encode()),
    "list": "b'[1]\\n'",
    "huge line": "b'x' * 10**7",
    "huge line, newline": "b'x' * 10**7 + b'\\n'",
    "invalid utf-8": "b'\\xff\\xfe\\xfd\\n'",
    "many lines": "b'{}\\n' * 20000",
    "deep nesting": "b'[' * 100000 + b'\\n'",
    "huge int": "b'1' * 100000 + b'\\n'",
    "wrong types": repr(FORGED_OK.replace('"value": "999"', '"value": 999').encode()),
    "bad status": repr(FORGED_OK.replace('"ok"', '"pwned"').encode()),
    "no newline": "b'{\"status\": '",
    "forged ok": repr(FORGED_OK.encode()),
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_forged_result_frames_are_the_programs_own_error(
    hostile: Callable[..., Sandbox], name: str
) -> None:
    sb = hostile()
    zygote = sb._proc.pid if sb._proc is not None else None
    result = sb.run(forge(FORGERIES[name]))
    # its own frame plus the worker's real one (or garbage): never a valid single frame
    assert (result.status, result.error_type) == ("error", "SandboxProtocolError"), result
    assert "result channel" in (result.message or "")
    assert_still_answers(sb, zygote)


@pytest.mark.parametrize(
    ("payload", "then"),
    [
        (repr(FORGED_OK.encode()), "os._exit(0)"),  # a forged ok alone: no more than `return`
        (repr(FORGED_OK.encode()), "os.close(4); return 7"),
        ("b''", "os.close(4); return 7"),  # no result at all
        ("b''", "os.dup2(0, 4); return 7"),  # /dev/null over the result pipe
        ("b''", "os.dup2(4, 1); os.dup2(4, 3); os.write(1, b'[2]\\n'); return 7"),
        ("b''", "os.closerange(0, 64); return 7"),
    ],
)
def test_forged_ok_or_broken_fds_never_break_the_sandbox(
    hostile: Callable[..., Sandbox], payload: str, then: str
) -> None:
    """The verdict is an error or the program's own forged value (``'999'``), and the same
    sandbox answers the next program."""
    sb = hostile()
    zygote = sb._proc.pid if sb._proc is not None else None
    result = sb.run(forge(payload, then=then))
    assert result.status == "error" or (result.status, result.value) == ("ok", "999"), result
    if payload == "b''":
        assert result.status == "error", result
    assert_still_answers(sb, zygote)


def test_forging_through_an_allowed_modules_internals(sandbox_h: Sandbox) -> None:
    """`random._os` is reachable without any import trick; the reader survives it."""
    reach = "import random\nos = random._os\n"
    for payload in (FORGERIES["extra key"], FORGERIES["list"]):
        result = sandbox_h.run(forge(payload, reach=reach))
        assert (result.status, result.error_type) == ("error", "SandboxProtocolError")
    assert_still_answers(sandbox_h)


def test_random_bytes_on_the_result_fd_never_break_the_sandbox() -> None:
    from hypothesis import HealthCheck, example, given, settings
    from hypothesis import strategies as st

    with Sandbox(HOSTILE) as sb:
        zygote = sb._proc.pid if sb._proc is not None else None

        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.binary(max_size=2048))
        @example(b"\t")  # whitespace json.loads would forgive before the worker's own frame
        @example(b" ")
        @example(b"\r")
        @example(b"{")
        def check(data: bytes) -> None:
            result = sb.run(BYPASS + fn(f"os.write(4, {data!r}); return 1"))
            if data:
                assert (result.status, result.error_type) == ("error", "SandboxProtocolError")
            else:
                assert (result.status, result.value) == ("ok", "1")
            assert sb._reader is not None and sb._reader.is_alive()

        check()
        assert_still_answers(sb, zygote)


def test_pal_execute_records_a_forging_program_as_an_error(sandbox_h: Sandbox) -> None:
    """The PAL stage gets a verdict it records (so `--resume` meets a row, not a crash)."""
    import asyncio

    from tracemint.stages.grade import execute

    program = forge(FORGERIES["list"])
    traces = [{"completion": f"```python\n{program}```"}, {"completion": "no program"}]
    rows = asyncio.run(execute(traces, sandbox_h))
    assert rows[0]["program_status"] == "error"
    assert "SandboxProtocolError" in rows[0]["program_error"]
    assert rows[1]["program_status"] == "missing"
    assert_still_answers(sandbox_h)


@pytest.mark.parametrize(
    "fields",
    [
        None,
        [1],
        {"status": "ok", "pwned": 1},
        {"status": "maybe"},
        {"status": "ok", "value": 1},
        {"status": "ok", "elapsed_s": "slow"},
    ],
)
def test_caller_side_turns_a_malformed_result_into_an_error(fields: object) -> None:
    """Second line of defence: the reader thread validates what the zygote sends too."""
    from tracemint.verify.sandbox import _result_from

    result = _result_from(fields)
    assert (result.status, result.error_type) == ("error", "SandboxProtocolError")
    assert _result_from({"status": "ok", "value": "1", "elapsed_s": 0.1}).value == "1"
