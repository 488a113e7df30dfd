"""tracemint vs distilabel vs Bespoke Curator: the same prompts, server and concurrency.

    python benchmarks/vs_anchors.py                      # 10,000 prompts, c=256, 200 ms
    python benchmarks/vs_anchors.py --n 1000 --only tracemint,curator --json out.json

One shipped test server (``tracemint.testing.server``, its own process, ``--latency``)
answers every system in turn; ``POST /reset`` between runs, ``GET /stats`` after each. Each
system is a separate process in its own session: tracemint is ``tracemint run`` on a generated
recipe in this interpreter's environment; the anchors are the drivers in
``benchmarks/anchors/`` run by their own virtual environments, which this script creates under
``~/.cache/tracemint-bench/venvs/NAME`` (pinned specs; a marker file makes later runs reuse
them). Every system sends one chat request per prompt: the bare question as the user message,
``max_tokens``, temperature 0.7, top_p 1.

Speed: wall time is process start to exit (imports, start-up, writing the dataset included);
the window is the server's first valid request to its last successful answer, which leaves
start-up and shutdown out; the fraction of the ceiling (concurrency / latency) is taken over
the window. Peak memory is the largest sum of RSS over every process in the system's session
(distilabel runs each step in its own process), sampled every 0.1 s from /proc. Caches: each
system keeps its own cache/resume store ON, in a fresh directory, so none reads anything back
and each pays for writing its own (tracemint cannot turn its call cache off; turning the
anchors' off would not spare them the writes, only the reuse).

Resume: each system again in a fresh directory; when the server has answered 50% of N, its
whole session is killed (SIGKILL), then the same command is rerun (tracemint with
``--resume``) to completion. ``repeated`` is the server's count of successful answers to a
request it had already answered (``GET /stats`` ``repeated.ok``): finished requests done
twice. A request answered by the server but not yet stored by the client at the kill is
repeated by any client; for tracemint the script also counts the calls in its cache at the
kill, so the finished-and-stored calls that were repeated (must be 0) are shown apart.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from anchors.harness import (  # noqa: E402 - benchmarks/ is not a package
    Session,
    ensure_venv,
    run_session,
    server_call,
    start_server,
    stats,
    stop_server,
    with_pythonpath,
)

SRC = HERE.parent / "src"
ANCHOR_DIR = HERE / "anchors"
VENV_ROOT = Path(os.environ.get("TRACEMINT_BENCH_VENVS", "~/.cache/tracemint-bench/venvs"))
MODEL = "tracemint-test"
TEMPERATURE = 0.7

# Pinned anchors. distilabel 1.5.3 imports `requests` in its OpenAI client module without
# declaring it (ModuleNotFoundError on a fresh venv), so it is listed here.
ANCHORS: dict[str, list[str]] = {
    "distilabel": ["distilabel[openai]==1.5.3", "requests"],
    "curator": ["bespokelabs-curator==0.1.31"],
}
SYSTEMS = ("tracemint", *ANCHORS)


@dataclass
class Result:
    """One system's speed run (and, filled later, its resume run)."""

    system: str
    version: str = ""
    records: int = 0
    server_ok: int = 0
    wall_s: float = 0.0
    window_s: float = 0.0
    peak_mb: float = 0.0
    error: str = ""
    resume: dict[str, Any] = field(default_factory=dict)


# -- the commands ---------------------------------------------------------------------------


def write_prompts(path: Path, n: int) -> None:
    with open(path, "w") as f:
        for i in range(n):
            q = f"Question {i}: what is {i} plus {i * 7}?"
            f.write(json.dumps({"id": f"q{i}", "question": q, "answer": str(8 * i)}) + "\n")


def tracemint_recipe(work: Path, prompts: Path, base_url: str, args: argparse.Namespace) -> Path:
    """A recipe sending the same request as the anchors: the bare question, one sample."""
    template = work / "plain.jinja"
    template.write_text("[user]\n{{ question }}\n")
    workers = args.workers if args.workers.isdigit() else json.dumps(args.workers)
    recipe = work / "recipe.toml"
    recipe.write_text(
        f"""name = "bench"
runs_dir = {json.dumps(str(work / "runs"))}

[source]
type = "file"
path = {json.dumps(str(prompts))}
id_field = "id"

[teacher]
type = "openai"
model = "{MODEL}"
base_url = "{base_url}"
concurrency = {args.concurrency}

[strategy]
name = {json.dumps(str(template))}

[sampling]
temperature = {TEMPERATURE}
max_tokens = {args.max_tokens}

[budget]
samples = 1

[select]
keep = "all"

[run]
workers = {workers}  # minting processes (runner/pool.py)

[export]
formats = []  # the anchors write one dataset; so does this (the Parquet shards)
"""
    )
    return recipe


def tracemint_cmd(recipe: Path, resume: bool) -> list[str]:
    script = Path(sys.executable).with_name("tracemint")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "tracemint.cli"]
    return [*head, "run", str(recipe), "--no-progress", *(["--resume"] if resume else [])]


def anchor_cmd(
    python: Path, name: str, work: Path, prompts: Path, base_url: str, args: argparse.Namespace
) -> list[str]:
    return [
        str(python),
        str(ANCHOR_DIR / f"{name}_driver.py"),
        *("--prompts", str(prompts), "--base-url", base_url, "--model", MODEL),
        *("--concurrency", str(args.concurrency), "--max-tokens", str(args.max_tokens)),
        *("--temperature", str(TEMPERATURE), "--work", str(work)),
    ]


def tracemint_records(work: Path) -> int:
    import pyarrow.parquet as pq

    shards = sorted((work / "runs" / "bench" / "traces").glob("*.parquet"))
    return sum(pq.ParquetFile(s).metadata.num_rows for s in shards)


def tracemint_cached(work: Path) -> int:
    path = work / "runs" / "bench" / "cache.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM calls").fetchone()[0])


def tracemint_version() -> str:
    from importlib.metadata import version

    return version("tracemint")


# -- one system -----------------------------------------------------------------------------


def prepare(
    system: str, work: Path, prompts: Path, root: str, args: argparse.Namespace
) -> tuple[list[str], list[str], dict[str, str]]:
    """(first command, rerun command, env) for ``system`` in the fresh dir ``work``."""
    work.mkdir(parents=True)
    base_url = root + "/v1"
    if system == "tracemint":
        recipe = tracemint_recipe(work, prompts, base_url, args)
        env = with_pythonpath(SRC)
        return tracemint_cmd(recipe, False), tracemint_cmd(recipe, True), env
    venv = VENV_ROOT.expanduser() / system
    python = ensure_venv(venv, ANCHORS[system], venv.with_name(f"{system}-install.log"))
    cmd = anchor_cmd(python, system, work, prompts, base_url, args)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return cmd, cmd, env


def records_of(system: str, work: Path, session: Session) -> tuple[int, str]:
    if system == "tracemint":
        return tracemint_records(work), tracemint_version()
    out = json.loads(session.last_line)
    return int(out["records"]), str(out["version"])


def measure_speed(system: str, work: Path, prompts: Path, root: str, args: Any) -> Result:
    res = Result(system)
    try:
        cmd, _, env = prepare(system, work, prompts, root, args)
        server_call(root, "/reset", post=True)
        s = run_session(cmd, work / "run.log", root, (args.timeout, args.stall), env=env)
        if s.rc != 0:
            raise RuntimeError(f"exit {s.rc}: {s.last_line[:200]} (log: {work / 'run.log'})")
        res.records, res.version = records_of(system, work, s)
        st = stats(root)
        res.server_ok, res.wall_s, res.peak_mb = st["ok"], s.wall_s, s.peak_mb
        res.window_s = st["last_ok_at"] - st["first_request_at"]
    except Exception as e:  # one system failing must not lose the others' numbers
        res.error = str(e)
    return res


def measure_resume(system: str, work: Path, prompts: Path, root: str, args: Any) -> dict[str, Any]:
    """Kill at 50% answered, rerun to completion; what the server saw twice."""
    out: dict[str, Any] = {}
    try:
        first, rerun, env = prepare(system, work, prompts, root, args)
        server_call(root, "/reset", post=True)
        limits = (args.timeout, args.stall)
        s1 = run_session(first, work / "run.log", root, limits, args.n // 2, env)
        time.sleep(0.5)  # the server cancels the killed client's handlers
        out.update(killed=s1.killed, ok_at_kill=stats(root)["ok"])
        if system == "tracemint":
            out["cached_at_kill"] = tracemint_cached(work)
        try:
            s2 = run_session(rerun, work / "run.log", root, limits, env=env)
            if s2.rc != 0:
                raise RuntimeError(f"rerun exit {s2.rc}: {s2.last_line[:200]}")
            out["records"] = records_of(system, work, s2)[0]
        finally:  # what the server saw counts even when the rerun failed
            st = stats(root)
            out.update(
                server_ok=st["ok"],
                repeated_ok=st["repeated"]["ok"],
                repeated_received=st["repeated"]["received"],
            )
        if "cached_at_kill" in out:  # answered but not yet stored: the only allowed repeats
            unstored = out["ok_at_kill"] - out["cached_at_kill"]
            out["repeated_stored"] = max(0, out["repeated_ok"] - unstored)
    except Exception as e:
        out["error"] = str(e)
    return out


# -- the table ------------------------------------------------------------------------------


def derive(results: list[Result], n: int, concurrency: int, latency: float) -> list[dict[str, Any]]:
    """Rows with rates, fractions of the ceiling and ratios to tracemint (1.0 for itself)."""
    ceiling = concurrency / latency
    rows = []
    for r in results:
        row = asdict(r)
        ok = not r.error and r.wall_s > 0 and r.window_s > 0
        row["rate_wall"] = r.records / r.wall_s if ok else None
        row["rate_window"] = r.records / r.window_s if ok else None
        row["ceiling"] = ceiling
        row["fraction"] = row["rate_window"] / ceiling if ok else None
        row["fraction_wall"] = row["rate_wall"] / ceiling if ok else None
        row["counts_ok"] = ok and r.records == n and r.server_ok == n
        rows.append(row)
    base = next((x for x in rows if x["system"] == "tracemint" and not x["error"]), None)
    for row in rows:
        for key in ("wall_s", "rate_window", "peak_mb"):
            v, b = row.get(key), base.get(key) if base else None
            row[f"{key}_x"] = v / b if v and b and not row["error"] else None
    return rows


def _f(v: Any, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def targets(rows: list[dict[str, Any]]) -> list[str]:
    """The issue's targets, checked on this run: met or missed, with the numbers."""
    tm = next((r for r in rows if r["system"] == "tracemint" and not r["error"]), None)
    if tm is None:
        return []
    out = []
    anchors = [r for r in rows if r["system"] != "tracemint" and r["rate_window"]]
    if anchors:
        best = max(anchors, key=lambda r: r["rate_window"])
        met = tm["rate_window"] >= best["rate_window"]
        out.append(
            f"target: at least as fast as the fastest anchor ({best['system']}): "
            f"{'met' if met else 'MISSED'} ({tm['rate_window']:.0f} vs "
            f"{best['rate_window']:.0f} rec/s over the window; wall "
            f"{tm['wall_s']:.1f} vs {best['wall_s']:.1f} s)"
        )
    frac = tm["fraction"]
    out.append(
        f"target: at least 0.9 of the ceiling: {'met' if frac >= 0.9 else 'MISSED'} "
        f"({frac:.3f} over the window, {tm['fraction_wall']:.3f} over the wall time)"
    )
    stored = tm["resume"].get("repeated_stored")
    if stored is not None:
        out.append(
            f"target: no finished (stored) request repeated on resume: "
            f"{'met' if stored == 0 else 'MISSED'} ({stored})"
        )
    return out


def table(rows: list[dict[str, Any]], header: str) -> str:
    """The printed comparison: speed, then resume."""
    out = [header, ""]
    out.append(
        f"{'system':<11}{'version':<9}{'records':>8}{'srv ok':>8}{'wall s':>8}{'window s':>9}"
        f"{'rec/s':>8}{'rec/s win':>10}{'of ceil':>8}{'peak MB':>8}"
        f"{'wall x':>8}{'rate x':>8}{'mem x':>7}"
    )
    for r in rows:
        if r["error"]:
            out.append(f"{r['system']:<11}FAILED: {r['error'][:100]}")
            continue
        out.append(
            f"{r['system']:<11}{r['version']:<9}{r['records']:>8}{r['server_ok']:>8}"
            f"{r['wall_s']:>8.1f}{r['window_s']:>9.1f}{_f(r['rate_wall'], '.0f'):>8}"
            f"{_f(r['rate_window'], '.0f'):>10}{_f(r['fraction'], '.3f'):>8}"
            f"{r['peak_mb']:>8.0f}{_f(r['wall_s_x'], '.2f'):>8}"
            f"{_f(r['rate_window_x'], '.2f'):>8}{_f(r['peak_mb_x'], '.2f'):>7}"
        )
    out.append(
        "wall: process start to exit; window: server's first request to last answer; "
        "of ceil: rec/s win / (concurrency / latency); x: ratio to tracemint"
    )
    out += targets(rows)
    if any(r["resume"] for r in rows):
        out += ["", "resume: killed at 50% answered, rerun to completion"]
        out.append(
            f"{'system':<11}{'ok@kill':>8}{'stored':>8}{'records':>8}{'srv ok':>8}"
            f"{'repeated':>9}{'of them stored':>15}{'re-sent':>8}"
        )
        for r in rows:
            x = r["resume"]
            if not x:
                continue
            if "server_ok" in x:
                out.append(
                    f"{r['system']:<11}{_f(x.get('ok_at_kill'), 'd'):>8}"
                    f"{_f(x.get('cached_at_kill'), 'd'):>8}{_f(x.get('records'), 'd'):>8}"
                    f"{x['server_ok']:>8}{x['repeated_ok']:>9}"
                    f"{_f(x.get('repeated_stored'), 'd'):>15}{x['repeated_received']:>8}"
                )
            if not x.get("killed", True):
                out.append(f"{'':<11}(finished before the kill: nothing to resume)")
            if "error" in x:
                out.append(
                    f"{'' if 'server_ok' in x else r['system']:<11}FAILED: {x['error'][:110]}"
                )
        out.append(
            "repeated: answers to a request already answered; of them stored: those the "
            "client had stored before the kill (tracemint's cache); re-sent: requests "
            "received twice, in-flight ones included"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=10_000, help="prompts (one request each)")
    p.add_argument("--concurrency", type=int, default=256)
    p.add_argument("--latency", type=float, default=0.2, help="server latency, seconds")
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument(
        "--workers",
        default="auto",
        help="tracemint's [run] workers (minting processes): auto (the default: 2 at "
        "concurrency 128+ on 2+ cores), or a number; 1 = one process",
    )
    p.add_argument("--only", default=",".join(SYSTEMS), help="comma-separated systems")
    p.add_argument("--no-resume", action="store_true", help="skip the kill-and-resume runs")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per process")
    p.add_argument(
        "--stall", type=float, default=120, help="kill a process after this long with no answer"
    )
    p.add_argument("--json", help="also write the rows here")
    p.add_argument("--workdir", help="keep the runs here (default: a temporary dir, removed)")
    args = p.parse_args(argv)
    systems = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        p.error(f"unknown systems {sorted(unknown)}; known: {', '.join(SYSTEMS)}")
    load0 = os.getloadavg()[0]  # the machine may be shared: say how busy it was
    top = Path(args.workdir or tempfile.mkdtemp(prefix="vs-anchors-"))
    top.mkdir(parents=True, exist_ok=True)
    prompts = top / "prompts.jsonl"
    write_prompts(prompts, args.n)
    server, root = start_server(args.latency, SRC)
    try:
        results = []
        for system in systems:
            print(f"{system}: speed run ...", flush=True)
            results.append(measure_speed(system, top / system / "speed", prompts, root, args))
        if not args.no_resume:
            for res in results:
                print(f"{res.system}: kill at 50% and resume ...", flush=True)
                res.resume = measure_resume(
                    res.system, top / res.system / "resume", prompts, root, args
                )
    finally:
        stop_server(server)
    rows = derive(results, args.n, args.concurrency, args.latency)
    failed = any(r["error"] or "error" in r["resume"] for r in rows)
    if not args.workdir and not failed:
        shutil.rmtree(top, ignore_errors=True)
    elif failed:
        print(f"logs of every run kept in {top}")
    load = os.getloadavg()
    header = (
        f"n={args.n} concurrency={args.concurrency} latency={args.latency}s "
        f"max_tokens={args.max_tokens} tracemint_workers={args.workers} "
        f"ceiling={args.concurrency / args.latency:.0f} rec/s "
        f"cpus={os.cpu_count()} load(1 min) at start {load0:.2f}, at end {load[0]:.2f} "
        f"(5/15 min {load[1]:.2f}/{load[2]:.2f}) "
        f"date={time.strftime('%Y-%m-%d %H:%M')}"
    )
    print(table(rows, header))
    if args.json:
        Path(args.json).write_text(json.dumps({"header": header, "rows": rows}, indent=1))
    return 0 if all(r["counts_ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
