"""Start the shipped test LLM server in a subprocess for integration tests.

A subprocess rather than a thread: fault tests then see real socket behaviour (aborted
connections, held requests) and the server's CPU does not compete with the client's GIL.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import tracemint
from tracemint.teachers.testserver import spawn

_SRC = str(Path(tracemint.__file__).resolve().parent.parent)

StatsFn = Callable[[], dict[str, Any]]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def server_argv(**options: Any) -> list[str]:
    """``start_test_server`` keyword options -> CLI flags (True: bare flag; lists: a,b)."""
    argv: list[str] = []
    for name, value in options.items():
        if value is None or value is False:
            continue
        if value is True:
            argv.append(_flag(name))
        elif isinstance(value, (list, tuple)):
            argv += [_flag(name), ",".join(str(v) for v in value)]
        else:
            argv += [_flag(name), str(value)]
    return argv


def fetch_json(url: str, method: str = "GET") -> dict[str, Any]:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


@contextlib.contextmanager
def start_test_server(**options: Any) -> Iterator[tuple[str, StatsFn]]:
    """Run ``python -m tracemint.teachers.testserver`` with ``options`` as flags.

    Yields ``(base_url, stats)``: ``base_url`` ends in ``/v1`` (use it as the teacher's
    ``base_url``); ``stats()`` returns the server's ``GET /stats`` JSON. Options are the
    CLI flags with underscores, e.g. ``latency=0.05, fault_rate=0.2, faults="429,500",
    think=True, max_concurrency=8, require_key="sk-test", models="m1"``.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_SRC, env.get("PYTHONPATH")) if p)
    proc, root = spawn(server_argv(**options), env)
    try:
        yield f"{root}/v1", lambda: fetch_json(f"{root}/stats")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def reset_server(base_url: str) -> None:
    """Clear a running server's stats (``POST /reset``)."""
    fetch_json(base_url.removesuffix("/v1") + "/reset", method="POST")
