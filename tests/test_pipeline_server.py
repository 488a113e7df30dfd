"""The whole pipeline against the shipped OpenAI-compatible server on 127.0.0.1.

These are the acceptance tests for reliability: injected faults lose and duplicate nothing,
and a run killed with SIGKILL resumes without repeating any call whose answer it had saved
(counted on the server, not by the client).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest_server import apples_problems, server_recipe, start_test_server
from tracemint.cache import CallCache
from tracemint.config import load_recipe
from tracemint.errors import RunError
from tracemint.runner.local import LocalRunner
from tracemint.store import RunStore
from tracemint.testing.server import request_fingerprint

N_PROBLEMS, SAMPLES = 40, 4


def _problems(tmp_path: Path) -> Path:
    return apples_problems(tmp_path / "problems.jsonl", 0, N_PROBLEMS)


def _recipe(
    tmp_path: Path, base_url: str, problems: Path, workers: int = 1, **teacher: object
) -> Path:
    return server_recipe(
        tmp_path / "recipe.toml",
        base_url=base_url,
        problems=problems,
        teacher={
            "concurrency": 8,
            "backoff_base_s": 0.01,
            "backoff_max_s": 0.2,
            "max_retries": 12,
            **teacher,
        },
        sampling={"temperature": 0.7, "max_tokens": 200},
        budget={"samples": SAMPLES},
        run={"shard_rows": 16, "flush_seconds": 0.2, "workers": workers},
    )


def _assert_complete(tmp_path: Path) -> None:
    table = RunStore(tmp_path / "runs" / "srv").read_traces()
    ids = table.column("trace_id").to_pylist()
    assert len(ids) == N_PROBLEMS * SAMPLES
    assert len(set(ids)) == len(ids)  # nothing duplicated
    assert set(table.column("problem_id").to_pylist()) == {f"q{i}" for i in range(N_PROBLEMS)}


@pytest.mark.parametrize("workers", [1, 2])
def test_faults_lose_and_duplicate_nothing(tmp_path: Path, workers: int) -> None:
    problems = _problems(tmp_path)
    with start_test_server(
        answers=problems,
        accuracy=0.5,
        fault_rate=0.2,
        faults="429,500,badjson,timeout",
        timeout_hold=5,
    ) as (url, stats):
        recipe = load_recipe(_recipe(tmp_path, url, problems, workers, timeout_s=0.5))
        m = LocalRunner(recipe, progress=False).run()
        s = stats()
    _assert_complete(tmp_path)
    assert sum(s["faults"].values()) > 10  # faults really were injected
    if workers == 1:  # the run records its teacher's retries (workers keep their own counts)
        session = RunStore(tmp_path / "runs" / "srv").read_manifest()["sessions"][-1]
        assert session["teacher_stats"]["retries"] >= sum(s["faults"].values()) // 2
    # every request the pipeline needed was answered exactly once
    assert len(s["by_key"]) == N_PROBLEMS * SAMPLES
    assert set(s["by_key"].values()) == {1}
    verdicts = m["counts"]["verdicts"]
    assert verdicts.get("correct", 0) > 0 and verdicts.get("wrong", 0) > 0


def _cached_fingerprints(cache_path: Path) -> set[str]:
    cache = CallCache(cache_path)
    rows = cache._db.execute("SELECT request FROM calls").fetchall()
    cache.close()
    out = set()
    for (raw,) in rows:
        req = json.loads(raw)
        out.add(request_fingerprint({"model": "test-model", **req}))
    return out


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run_until(recipe_path: Path, stats: Any, ok_calls: int) -> subprocess.Popen[str]:
    """Start `tracemint run` in a subprocess; return once the server has answered
    ``ok_calls`` requests (or the run ended), so the caller can interrupt it mid-run.

    The callers' server answers in 200 ms at concurrency 8, so the 160 calls take at least
    4 s: the interrupt lands mid-run even when a loaded machine polls slowly."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracemint.cli", "run", str(recipe_path), "--no-progress"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # a shell runs background jobs (`make test &`) with SIGINT ignored, and Python keeps
        # an ignored SIGINT ignored: give the run the Ctrl-C a terminal user would have
        preexec_fn=_default_sigint,
    )
    deadline = time.monotonic() + 60
    while stats()["ok"] < ok_calls and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    return proc


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc: no psutil needed)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _gone(pid: int) -> bool:
    """Exited (or a zombie nobody reaped: PID 1 in a container may not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


@pytest.mark.parametrize("workers", [1, 2])
def test_kill_9_then_resume_repeats_no_saved_call(tmp_path: Path, workers: int) -> None:
    problems = _problems(tmp_path)
    with start_test_server(answers=problems, latency=0.2) as (url, stats):
        recipe_path = _recipe(tmp_path, url, problems, workers)
        proc = _run_until(recipe_path, stats, ok_calls=60)
        orphans = _children(proc.pid)
        assert len(orphans) == (workers if workers > 1 else len(orphans))
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        # worker processes notice their parent is gone, commit their caches and exit
        deadline = time.monotonic() + 20
        while not all(_gone(p) for p in orphans) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(_gone(p) for p in orphans), "a worker outlived its killed parent"
        before = stats()
        assert 0 < before["ok"] < N_PROBLEMS * SAMPLES, "kill landed mid-run"
        saved = _cached_fingerprints(tmp_path / "runs" / "srv" / "cache.sqlite")
        assert saved and saved <= set(before["by_key"])

        if RunStore(tmp_path / "runs" / "srv").shards():  # finished work needs --resume
            with pytest.raises(RunError, match="--resume"):
                LocalRunner(load_recipe(recipe_path), progress=False).run()
        m = LocalRunner(load_recipe(recipe_path), resume=True, progress=False).run()
        after = stats()
    _assert_complete(tmp_path)
    assert m["complete"]
    # The acceptance point: a call whose answer was saved is never sent again ...
    assert all(after["by_key"][fp] == 1 for fp in saved)
    # ... and the only repeats are calls that were in flight at the kill (<= concurrency).
    repeats = sum(c - 1 for c in after["by_key"].values())
    assert repeats <= 8
    assert len(after["by_key"]) == N_PROBLEMS * SAMPLES


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_saves_finished_work_then_resume_completes(tmp_path: Path, workers: int) -> None:
    problems = _problems(tmp_path)
    with start_test_server(answers=problems, latency=0.2) as (url, stats):
        recipe_path = _recipe(tmp_path, url, problems, workers)
        proc = _run_until(recipe_path, stats, ok_calls=60)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "--resume" in err
        store = RunStore(tmp_path / "runs" / "srv")
        manifest = store.read_manifest()
        assert not manifest["complete"]
        saved = store.done_problem_ids()
        assert 0 < len(saved) < N_PROBLEMS  # finished problems were flushed on the way out
        sent_before = stats()["ok"]
        m = LocalRunner(load_recipe(recipe_path), resume=True, progress=False).run()
        assert m["sessions"][-1]["problems_skipped"] == len(saved)
        # the resumed run only asked for what was missing (in-flight calls at most repeat)
        assert stats()["ok"] - sent_before <= N_PROBLEMS * SAMPLES - 4 * len(saved)
    _assert_complete(tmp_path)


def test_monte_carlo_step_labels_end_to_end_and_cached(tmp_path: Path) -> None:
    problems = _problems(tmp_path)
    with start_test_server(answers=problems, accuracy=0.6) as (url, stats):
        path = _recipe(tmp_path, url, problems)
        path.write_text(
            path.read_text() + "[montecarlo]\nenabled = true\nk = 2\n"
            '[export]\nformats = ["prm", "sft"]\n'
        )
        recipe = load_recipe(path)
        m = LocalRunner(recipe, progress=False).run()
        calls = stats()["ok"]
        labelled = [
            t
            for t in RunStore(tmp_path / "runs" / "srv").read_traces().to_pylist()
            if t.get("mc_calls")
        ]
        assert labelled, "rollouts ran"
        for t in labelled:
            assert len(t["step_estimates"]) == len(t["steps"])
            known = [x for x in t["step_estimates"] if x is not None]
            assert all(0.0 <= x <= 1.0 for x in known)
            assert t["mc_calls"] == 2 * len(known)  # k continuations per evaluated prefix
        assert m["sessions"][-1]["new_calls"] == N_PROBLEMS * SAMPLES  # rollouts counted apart
        assert calls > N_PROBLEMS * SAMPLES  # ... but they did reach the server
        # Rollouts are cached calls like any other: redoing the run costs nothing.
        LocalRunner(recipe, fresh=True, progress=False).run()
        assert stats()["ok"] == calls
    from tracemint.export import export_run

    res = export_run(tmp_path / "runs" / "srv", ["prm"], tmp_path / "out", ("jsonl",))
    assert res["prm"]["rows"] > 0


def test_probes_in_the_recipe_and_on_an_existing_run(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tracemint.cli import app
    from tracemint.report import build_report

    problems = _problems(tmp_path)
    for mode in ("faithful", "posthoc", "plain"):
        (tmp_path / mode).mkdir()
    for mode in ("faithful", "posthoc"):
        with start_test_server(answers=problems, accuracy=1.0, reasoning_mode=mode) as (url, _):
            path = _recipe(tmp_path / mode, url, problems)
            path.write_text(
                path.read_text() + '[probes]\nnames = ["early", "filler"]\n'
                "[select]\nmin_columns = { early_aoc = 0.2 }\n"
            )
            m = LocalRunner(load_recipe(path), progress=False).run()
            rows = RunStore(tmp_path / mode / "runs" / "srv").read_traces().to_pylist()
            probed = [r for r in rows if r.get("early_aoc") is not None]
            assert len(probed) == N_PROBLEMS * SAMPLES
            if mode == "faithful":
                # (a few traces state the final number early on: a low AOC is right there)
                assert m["counts"]["accepted"] >= 0.9 * len(rows), m["counts"]
                assert all(r["filler_match"] is False for r in probed)
            else:  # post-hoc answers never depend on the reasoning: all filtered out
                assert m["counts"]["accepted"] == 0
                assert set(m["counts"]["drop_reasons"]) == {"early_aoc below 0.2"}
    page = build_report(tmp_path / "faithful" / "runs" / "srv").read_text()
    assert "early answering: mean AOC" in page and '<figure data-plot="Faithfulness">' in page

    # `tracemint probe` adds columns to a run made without probes
    with start_test_server(answers=problems, accuracy=0.5, reasoning_mode="faithful") as (
        url,
        stats,
    ):
        LocalRunner(load_recipe(_recipe(tmp_path / "plain", url, problems)), progress=False).run()
        run_dir = tmp_path / "plain" / "runs" / "srv"
        res = CliRunner().invoke(
            app, ["probe", str(run_dir), "--probes", "early", "--sample", "0.5"]
        )
        assert res.exit_code == 0, res.output
        calls = stats()["ok"]
        res = CliRunner().invoke(
            app, ["probe", str(run_dir), "--probes", "early", "--sample", "0.5"]
        )
        assert res.exit_code == 0 and stats()["ok"] == calls  # all from the cache
        rows = RunStore(run_dir).read_traces().to_pylist()
        probed = [r for r in rows if r.get("early_aoc") is not None]
        assert 0 < len(probed) < sum(r["accepted"] for r in rows)
        assert all(r["accepted"] for r in probed)  # by default only accepted traces
        assert len(rows) == N_PROBLEMS * SAMPLES  # nothing lost in the rewrite
        res = CliRunner().invoke(app, ["probe", str(run_dir), "--probes", "early", "--all"])
        assert res.exit_code == 0, res.output
    rows = RunStore(run_dir).read_traces().to_pylist()
    probed = [r for r in rows if r.get("early_aoc") is not None]
    assert any(not r["accepted"] for r in probed)  # --all: wrong traces too
    assert len(probed) == sum(1 for r in rows if r["answer"] is not None and not r["truncated"])
