"""Throughput of the teacher client against the shipped test server.

    python benchmarks/throughput.py --requests 10000 --concurrency 64,256 --latency 0.2

Starts the test server in a subprocess, then runs each concurrency level in a fresh client
subprocess (so start-up time and peak RSS are per run, not cumulative) and prints one table:
records/s over the server's window (first request to last answer) and over the whole drive,
the ceiling (concurrency / latency), the fraction of it reached, client start-up (import +
first request, which includes one server latency; for the pipeline also the time from the
run's start to its first call), peak client RSS, and CPU time per request on each side
(where the time goes when the fraction is low).

Modes: ``teacher`` drives ``OpenAITeacher.generate`` directly (the client's own ceiling);
``pipeline`` drives the whole ``tracemint run`` path (source, prompts, call cache, grader,
shards) with one sample per problem and the default recipe (``[run] workers = "auto"``: two
minting processes from concurrency 128 on a 2+ core machine): the number users get;
``pipeline-1w`` / ``pipeline-2w`` the same with 1 / 2 minting processes forced. To add a
mode, write
``async def drive_x(base_url, n_requests, concurrency) -> int`` that
returns the number of records produced and add it to ``MODES``.

``--adapt latency,429`` runs every row once per ``[teacher] adapt_concurrency`` (the default
"latency" lowers concurrency when latency climbs; "429" is the control without that signal),
so the cost of the latency signal against a server that works every request in parallel is
a ratio measured in one run.
"""

from __future__ import annotations

import time

_T_START = time.perf_counter()

import argparse  # noqa: E402 - the clock above must start before any import
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

SRC = Path(__file__).resolve().parent.parent / "src"
DriveFn = Callable[[str, int, int], Awaitable[int]]
#: ``[teacher] adapt_concurrency`` for this process's drive (``--adapt``; None: the default)
ADAPT: str | None = None


def _adapt() -> dict[str, str]:
    return {} if ADAPT is None else {"adapt_concurrency": ADAPT}


def _requests(n: int, offset: int = 0) -> list[Any]:
    from tracemint.teachers.base import GenerationRequest

    return [
        GenerationRequest(
            messages=({"role": "user", "content": f"Question {i}: what is {i} plus {i * 7}?"},),
            max_tokens=256,
            temperature=0.7,
            seed=i,
            sample_index=0,
        )
        for i in range(offset, offset + n)
    ]


async def drive_teacher(base_url: str, n_requests: int, concurrency: int) -> int:
    """Push ``n_requests`` through one ``OpenAITeacher.generate`` call; records produced."""
    from tracemint.teachers.openai import OpenAITeacher, OpenAITeacherConfig

    teacher = OpenAITeacher(
        OpenAITeacherConfig(
            model="bench",
            base_url=base_url,
            concurrency=concurrency,
            **_adapt(),  # type: ignore[arg-type]
        )
    )
    try:
        completions = await teacher.generate(_requests(n_requests, offset=1))
    finally:
        await teacher.aclose()
    return len(completions)


async def drive_pipeline(
    base_url: str, n_requests: int, concurrency: int, workers: int | str = "auto"
) -> int:
    """The whole ``tracemint run`` path: file source -> prompts -> teacher -> SQLite call
    cache -> grader -> selection -> Parquet shards; one sample per problem. Records = traces
    in the shards. ``workers``: ``[run] workers`` (default "auto": 2 processes from
    concurrency 128 on 2+ cores, else 1)."""
    import tempfile

    from tracemint.config import parse_recipe
    from tracemint.runner.local import LocalRunner
    from tracemint.store import RunStore

    with tempfile.TemporaryDirectory() as tmp:
        problems = Path(tmp) / "problems.jsonl"
        with open(problems, "w") as f:
            for i in range(n_requests):
                f.write(
                    json.dumps({"question": f"What is {i} plus {i * 7}?", "answer": str(8 * i)})
                    + "\n"
                )
        recipe = parse_recipe(
            {
                "name": "bench",
                "runs_dir": tmp,
                "source": {"type": "file", "path": str(problems)},
                "teacher": {
                    "type": "openai",
                    "model": "bench",
                    "base_url": base_url,
                    "concurrency": concurrency,
                    **_adapt(),
                },
                "sampling": {"max_tokens": 256},
                "budget": {"samples": 1},
                "run": {"workers": workers},
            }
        )
        await LocalRunner(recipe, progress=False).arun()
        return RunStore(Path(tmp) / "bench").read_traces(columns=["trace_id"]).num_rows


async def drive_pipeline_1w(base_url: str, n_requests: int, concurrency: int) -> int:
    """``pipeline`` with ``[run] workers = 1``: everything in one process."""
    return await drive_pipeline(base_url, n_requests, concurrency, workers=1)


async def drive_pipeline_2w(base_url: str, n_requests: int, concurrency: int) -> int:
    """``pipeline`` with ``[run] workers = 2``: the client's work spread over two processes."""
    return await drive_pipeline(base_url, n_requests, concurrency, workers=2)


MODES: dict[str, DriveFn] = {
    "teacher": drive_teacher,
    "pipeline": drive_pipeline,
    "pipeline-1w": drive_pipeline_1w,
    "pipeline-2w": drive_pipeline_2w,
}


async def _first_request(base_url: str) -> None:
    from tracemint.teachers.openai import OpenAITeacher, OpenAITeacherConfig

    teacher = OpenAITeacher(OpenAITeacherConfig(model="bench", base_url=base_url))
    try:
        await teacher.generate(_requests(1))
    finally:
        await teacher.aclose()


def child(args: argparse.Namespace) -> dict[str, Any]:
    """One measured run in this (fresh) process; returns one table row as a dict."""
    global ADAPT
    sys.path.insert(0, str(SRC))
    ADAPT = args.adapt or None
    run: Callable[[Awaitable[Any]], Any] = asyncio.run
    if not args.asyncio:  # the loop a run uses (runner/loop.py: uvloop when installed)
        from tracemint.runner.loop import run as product_run

        run = product_run
    t0 = time.perf_counter()
    import tracemint.teachers.openai

    if args.mode.startswith("pipeline"):
        import tracemint.runner.local  # noqa: F401 - the grader's sympy import is start-up

    import_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    run(_first_request(args.base_url))
    first_s = time.perf_counter() - t1
    root = args.base_url.removesuffix("/v1")
    _server_json(f"{root}/reset", post=True)  # the window starts at this run's first request
    cpu0 = _cpu_with_children()
    wall0 = time.time()
    t2 = time.perf_counter()
    records = run(MODES[args.mode](args.base_url, args.requests, args.concurrency))
    elapsed = time.perf_counter() - t2
    cpu = _cpu_with_children() - cpu0
    seen = _server_json(f"{root}/stats?keys=0")
    return {
        "records": records,
        "elapsed_s": elapsed,
        # the server's view: first request to last answer (client start-up and shutdown out)
        "window_s": seen["last_ok_at"] - seen["first_request_at"],
        "to_first_call_s": seen["first_request_at"] - wall0,
        "import_s": import_s,
        "process_to_import_s": t0 - _T_START,
        "first_request_s": first_s,
        "client_cpu_us": 1e6 * cpu / max(records, 1),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _cpu_with_children() -> float:
    """CPU seconds of this process and its reaped children (``[run] workers`` processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _server_json(url: str, post: bool = False) -> dict[str, Any]:
    import urllib.request

    req = urllib.request.Request(url, method="POST" if post else "GET", data=b"" if post else None)
    with urllib.request.urlopen(req, timeout=10) as resp:
        out: dict[str, Any] = json.loads(resp.read())
    return out


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of another process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_server(latency: float, uvloop: bool) -> tuple[subprocess.Popen[str], str]:
    sys.path.insert(0, str(SRC))
    from tracemint.testing.server import spawn

    argv = ["--latency", str(latency)] + ([] if uvloop else ["--no-uvloop"])
    proc, root = spawn(argv, env={**os.environ, "PYTHONPATH": str(SRC)})
    return proc, root + "/v1"


def parent(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Start the server, run one child per concurrency level, print and return the rows."""
    server, base_url = _start_server(args.latency, not args.no_server_uvloop)
    rows = []
    levels = [
        (m, int(c), a)
        for m in args.mode.split(",")
        for c in args.concurrency.split(",")
        for a in (args.adapt or "").split(",")
    ]
    try:
        for mode, conc, adapt in levels:
            cmd = [
                sys.executable,
                __file__,
                "--child",
                "--base-url",
                base_url,
                "--mode",
                mode,
                "--requests",
                str(args.requests),
                "--concurrency",
                str(conc),
            ]
            if args.asyncio:
                cmd.append("--asyncio")
            if adapt:
                cmd += ["--adapt", adapt]
            srv0 = _cpu_seconds(server.pid)
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            row = json.loads(out.strip().splitlines()[-1])
            row["server_cpu_us"] = 1e6 * (_cpu_seconds(server.pid) - srv0) / row["records"]
            row["concurrency"] = conc
            row["mode"] = mode
            row["adapt"] = adapt or "default"
            row["rate"] = row["records"] / row["elapsed_s"]
            row["steady_rate"] = row["records"] / row["window_s"]
            row["ceiling"] = conc / args.latency
            row["fraction"] = row["steady_rate"] / row["ceiling"]
            row["run_fraction"] = row["rate"] / row["ceiling"]
            row["startup_s"] = row["import_s"] + row["first_request_s"]
            rows.append(row)
    finally:
        from tracemint.testing.server import stop

        stop(server)
    print(
        f"mode={args.mode} requests={args.requests} latency={args.latency}s "
        f"client_loop={'asyncio' if args.asyncio else 'tracemint default'} "
        f"server_uvloop={not args.no_server_uvloop}"
    )
    head = (
        f"{'mode':>11} {'adapt':>7} {'conc':>5} {'steady/s':>9} {'ceiling':>8} {'fraction':>8} "
        f"{'run/s':>7} {'run_frac':>8} {'startup_s':>9} {'(import)':>8} {'1st_call_s':>10} "
        f"{'peak_rss_MB':>11} {'client_us/req':>13} {'server_us/req':>13}"
    )
    print(head)
    for r in rows:
        print(
            f"{r['mode']:>11} {r['adapt']:>7} {r['concurrency']:>5} {r['steady_rate']:>9.0f} "
            f"{r['ceiling']:>8.0f} {r['fraction']:>8.3f} {r['rate']:>7.0f} "
            f"{r['run_fraction']:>8.3f} {r['startup_s']:>9.3f} {r['import_s']:>8.3f} "
            f"{r['to_first_call_s']:>10.3f} {r['peak_rss_mb']:>11.1f} "
            f"{r['client_cpu_us']:>13.0f} {r['server_cpu_us']:>13.0f}"
        )
    print(
        "steady/s and fraction: records over the server's window (first request to last "
        "answer); run/s: over the whole drive, start-up included; 1st_call_s: drive start to "
        "the first request (worker start-up); client_us/req counts worker processes too"
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--mode",
        default="teacher,pipeline,pipeline-1w",
        help="comma-separated: " + ", ".join(MODES),
    )
    p.add_argument("--requests", type=int, default=10_000)
    p.add_argument("--concurrency", default="64,256", help="comma-separated levels")
    p.add_argument("--latency", type=float, default=0.2, help="server latency in seconds")
    p.add_argument(
        "--adapt",
        default="",
        help="comma-separated [teacher] adapt_concurrency values, one row each "
        "(latency, 429, off); empty: the default",
    )
    p.add_argument(
        "--asyncio", action="store_true", help="run the client on the stdlib loop, not uvloop"
    )
    p.add_argument(
        "--no-server-uvloop", action="store_true", help="run the server on the stdlib loop"
    )
    p.add_argument("--json", action="store_true", help="also print the rows as JSON")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--base-url", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0
    rows = parent(args)
    if args.json:
        print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
