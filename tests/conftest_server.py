"""Start the shipped test LLM server in a subprocess for integration tests.

A subprocess rather than a thread: fault tests then see real socket behaviour (aborted
connections, held requests) and the server's CPU does not compete with the client's GIL.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import tracemint
from tracemint.testing.server import spawn, stop

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
        stop(proc)


def reset_server(base_url: str) -> None:
    """Clear a running server's stats (``POST /reset``)."""
    fetch_json(base_url.removesuffix("/v1") + "/reset", method="POST")


def apples_problems(path: Path, start: int, stop: int) -> Path:
    """Append problems ``q{start}`` .. ``q{stop - 1}`` ("Tom has i apples and buys i + 3 more";
    answer 2i + 3) to a JSONL file: the shared arithmetic set of the pipeline tests. The
    ``(#i)`` suffix keeps every question distinct for the test server's answer book."""
    with open(path, "a") as f:
        for i in range(start, stop):
            q = f"Tom has {i} apples and buys {i + 3} more. How many apples does he have now?"
            q += f" (#{i})"
            f.write(json.dumps({"id": f"q{i}", "question": q, "answer": str(2 * i + 3)}) + "\n")
    return path


def server_recipe(
    path: Path,
    *,
    base_url: str,
    problems: Path,
    name: str = "srv",
    runs_dir: Path | None = None,
    teacher: dict[str, Any] | None = None,
    **tables: dict[str, Any],
) -> Path:
    """Write a recipe: a JSONL file source (``id`` field) and the openai teacher at the test
    server (model ``test-model`` unless ``teacher`` says otherwise), plus any other tables,
    e.g. ``budget={"samples": 4}, run={"workers": 2}``. Values are written as JSON, which
    TOML reads the same for strings, numbers, booleans and lists."""

    def table(title: str, values: dict[str, Any]) -> str:
        return f"[{title}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())

    runs = runs_dir if runs_dir is not None else path.parent / "runs"
    text = f"name = {json.dumps(name)}\nruns_dir = {json.dumps(str(runs))}\n"
    text += table("source", {"type": "file", "path": str(problems), "id_field": "id"})
    text += table(
        "teacher",
        {"type": "openai", "model": "test-model", "base_url": base_url, **(teacher or {})},
    )
    text += "".join(table(title, values) for title, values in tables.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
