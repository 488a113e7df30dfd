"""Measuring one system's process session against the test server (runs in the repo's env).

Unlike the drivers beside it, this module runs in the benchmark's own interpreter:
``vs_anchors.py`` uses it to start the server, build the anchors' virtualenvs, and run each
system as a process session whose wall time, peak memory and server answers it records.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# -- server -------------------------------------------------------------------------------


def start_server(latency: float, src: Path) -> tuple[subprocess.Popen[str], str]:
    """The test server in its own process (its CPU apart from the client's); its root URL.

    ``src`` is the checkout's ``src`` directory, so the server is this checkout's code.
    """
    sys.path.insert(0, str(src))
    from tracemint.testing.server import spawn

    proc, root = spawn(["--latency", str(latency)], env=with_pythonpath(src))
    return proc, root


def stop_server(proc: subprocess.Popen[str]) -> None:
    from tracemint.testing.server import stop  # on sys.path since start_server

    stop(proc)


def server_call(root: str, path: str, post: bool = False) -> dict[str, Any]:
    req = urllib.request.Request(
        root + path, method="POST" if post else "GET", data=b"" if post else None
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        out: dict[str, Any] = json.loads(resp.read())
        return out


def stats(root: str) -> dict[str, Any]:
    return server_call(root, "/stats?keys=0")


# -- environments ---------------------------------------------------------------------------


def ensure_venv(venv: Path, requirements: list[str], log: Path) -> Path:
    """The venv's python, created and ``requirements`` installed unless its marker matches.

    The marker (the requirement list, written last) makes a later run reuse the venv, and a
    changed pin or an interrupted install rebuild it.
    """
    marker = venv / ".tracemint-bench-spec"
    base = getattr(sys, "_base_executable", sys.executable)  # not this venv's site-packages
    spec = "\n".join([f"python {sys.version.split()[0]}", *requirements])
    python = venv / "bin" / "python"
    if marker.exists() and marker.read_text() == spec and python.exists():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    print(f"installing {', '.join(requirements)} into {venv} ...", flush=True)
    with open(log, "w") as out:
        for cmd in (
            [base, "-m", "venv", str(venv)],
            [str(python), "-m", "pip", "install", "--quiet", *requirements],
        ):
            if subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode:
                raise RuntimeError(f"installing {spec!r} failed; see {log}")
    marker.write_text(spec)
    return python


def with_pythonpath(src: Path) -> dict[str, str]:
    """This environment with ``src`` first on PYTHONPATH (the checkout, not an install)."""
    path = os.pathsep.join(p for p in (str(src), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


# -- measuring one process session ----------------------------------------------------------


class SessionMemory(threading.Thread):
    """Peak of the summed RSS of every process in session ``sid``, sampled from /proc.

    The session (``start_new_session``) holds the process and all it spawns, multiprocessing
    workers included, and nothing else. Why members are looked up only every ``rescan_s``:
    walking all of /proc costs ~3 ms, which at 10 samples a second is 3% of a core taken
    from the system being measured on a 2-core box; reading the known members' stat files
    costs microseconds. A process younger than ``rescan_s`` is counted from the next scan.
    """

    def __init__(self, sid: int, interval: float = 0.1, rescan_s: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.sid, self.interval, self.rescan_s, self.peak = sid, interval, rescan_s, 0
        self._stop_event = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._members: list[str] = []
        self._scanned = -1e9

    def _stat(self, pid: str) -> list[str] | None:
        try:
            return Path("/proc", pid, "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited while we looked
            return None

    def sample(self) -> int:
        now = time.monotonic()
        if now - self._scanned >= self.rescan_s:
            self._scanned = now
            self._members = [e.name for e in os.scandir("/proc") if e.name.isdigit()]
        total, alive = 0, []
        for pid in self._members:
            fields = self._stat(pid)
            if fields is not None and int(fields[3]) == self.sid:  # field 6: session id
                total += int(fields[21]) * self._page  # field 24: rss in pages
                alive.append(pid)
        self._members = alive
        return total

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, self.sample())
            self._stop_event.wait(self.interval)

    def stop(self) -> float:
        self._stop_event.set()
        self.join()
        return self.peak / 2**20


@dataclass
class Session:
    """What one process session did: exit code, wall time, peak MB, killed or not."""

    rc: int
    wall_s: float
    peak_mb: float
    killed: bool
    last_line: str


def run_session(
    cmd: list[str],
    log: Path,
    root: str,
    limits: tuple[float, float],
    kill_at_ok: int | None = None,
    env: dict[str, str] | None = None,
) -> Session:
    """Run ``cmd`` in a new session; with ``kill_at_ok``, SIGKILL it once the server has
    answered that many requests.

    ``limits`` is (timeout, stall) in seconds: the whole session is killed past the timeout,
    or when the server has answered nothing new for ``stall`` seconds while the process
    lives (a resumed distilabel pipeline can wait forever; argilla-io/distilabel#1065).
    """
    timeout, stall = limits
    with open(log, "ab") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
        memory = SessionMemory(proc.pid)
        memory.start()
        killed, problem = False, ""
        last_ok, last_change = -1, t0
        try:
            while True:
                try:  # Popen.wait polls every <= 50 ms: the wall time's resolution
                    proc.wait(timeout=0.02 if kill_at_ok is not None else 0.25)
                    break
                except subprocess.TimeoutExpired:
                    pass
                now, ok = time.perf_counter(), stats(root)["ok"]
                if ok != last_ok:
                    last_ok, last_change = ok, now
                if kill_at_ok is not None and ok >= kill_at_ok:
                    killed = True
                elif now - t0 > timeout:
                    problem = f"ran past the {timeout:.0f} s timeout"
                elif now - last_change > stall:
                    problem = f"stalled: no answer for {stall:.0f} s ({ok} answered)"
                else:
                    continue
                os.killpg(proc.pid, signal.SIGKILL)
                break
            rc = proc.wait()
            wall = time.perf_counter() - t0
        finally:
            peak = memory.stop()
    if problem:
        raise RuntimeError(f"{problem}; log: {log}")
    lines = log.read_text(errors="replace").strip().splitlines()
    return Session(rc, wall, peak, killed, lines[-1] if lines else "")
