"""``[run] workers = N``: minting in N local processes against the real test server.

The kill/Ctrl-C/fault acceptance tests of test_pipeline_server.py run with 1 and 2 workers;
these add what only a pool can get wrong: the same traces as one process, a worker that dies,
and the concurrency split.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest_server import apples_problems, server_recipe, start_test_server
from tracemint.config import load_recipe
from tracemint.errors import RunError, TeacherError, portable_error
from tracemint.runner.local import LocalRunner
from tracemint.runner.pool import auto_workers, concurrency_shares
from tracemint.store import RunStore
from tracemint.teachers.openai import OpenAITeacher, OpenAITeacherConfig

N = 30
DETERMINISTIC = ["problem_id", "sample_index", "completion", "answer", "verdict", "accepted"]


def write_problems(tmp: Path) -> Path:
    problems = tmp / "problems.jsonl"
    return problems if problems.exists() else apples_problems(problems, 0, N)


def write_recipe(tmp: Path, url: str, name: str, workers: int | str, concurrency: int = 8) -> Path:
    return server_recipe(
        tmp / f"{name}.toml",
        base_url=url,
        problems=write_problems(tmp),
        name=name,
        teacher={"model": "m", "concurrency": concurrency, "backoff_base_s": 0.01},
        sampling={"temperature": 0.7, "max_tokens": 100},
        budget={"samples": 3},
        run={"shard_rows": 10, "flush_seconds": 0.2, "workers": workers},
    )


def content(tmp: Path, name: str) -> list[tuple[object, ...]]:
    table = RunStore(tmp / "runs" / name).read_traces(columns=DETERMINISTIC)
    rows = zip(*(table.column(c).to_pylist() for c in DETERMINISTIC), strict=True)
    return sorted(rows, key=repr)


def test_concurrency_shares_add_up() -> None:
    assert concurrency_shares(256, 2) == [128, 128]
    assert concurrency_shares(7, 3) == [3, 2, 2]
    assert concurrency_shares(1, 2) == [1, 1]  # never 0: each worker can make progress


def test_auto_workers_follows_concurrency_cores_and_start_method(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cores = len(os.sched_getaffinity(0))
    # (forced: other tests' idle threads in this process would otherwise rule fork out)
    monkeypatch.setenv("TRACEMINT_WORKER_START", "fork")
    assert auto_workers(64) == 1 and auto_workers(None) == 1  # one process keeps up
    assert auto_workers(256) == (2 if cores >= 2 else 1)
    monkeypatch.setenv("TRACEMINT_WORKER_START", "exec")  # a slow start: not worth it
    assert auto_workers(256) == 1


@pytest.mark.parametrize(("concurrency", "expected"), [(8, 1), (128, 2)])
def test_the_default_recipe_picks_the_workers_and_records_them(
    tmp_path: Path, concurrency: int, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACEMINT_WORKER_START", "fork")
    if expected == 2 and len(os.sched_getaffinity(0)) < 2:
        expected = 1
    write_problems(tmp_path)
    with start_test_server(models="m") as (url, stats):
        recipe = load_recipe(write_recipe(tmp_path, url, "auto", "auto", concurrency))
        assert recipe.run.workers == "auto"
        m = LocalRunner(recipe, progress=False).run()
        assert stats()["ok"] == N * 3
    assert m["sessions"][-1]["workers"] == expected
    assert m["complete"] and len(content(tmp_path, "auto")) == N * 3


@pytest.mark.parametrize("start", ["fork", "exec"])
def test_two_workers_mint_the_same_traces_as_one(
    tmp_path: Path, start: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACEMINT_WORKER_START", start)
    answers = write_problems(tmp_path)
    with start_test_server(models="m", answers=answers, accuracy=0.6) as (url, stats):
        one = LocalRunner(load_recipe(write_recipe(tmp_path, url, "one", 1)), progress=False)
        m1 = one.run()
        first = stats()["ok"]
        two = LocalRunner(load_recipe(write_recipe(tmp_path, url, "two", 2)), progress=False)
        m2 = two.run()
        # each call was made once by each run: the pool neither drops nor repeats a call
        assert first == N * 3 and stats()["ok"] == 2 * N * 3
    assert content(tmp_path, "one") == content(tmp_path, "two")
    assert len(content(tmp_path, "two")) == N * 3
    for key in ("problems", "traces", "accepted", "verdicts"):
        assert m1["counts"][key] == m2["counts"][key]
    assert m2["complete"]


def test_a_dead_worker_stops_the_run_and_resume_finishes_it(tmp_path: Path) -> None:
    with start_test_server(models="m", latency=0.2) as (url, stats):
        recipe = write_recipe(tmp_path, url, "w", 2, concurrency=4)
        proc = subprocess.Popen(
            [sys.executable, "-m", "tracemint.cli", "run", str(recipe), "--no-progress"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while stats()["ok"] < 12 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        workers = [
            int(p.parent.name)
            for p in Path("/proc").glob("[0-9]*/cmdline")
            if _ppid(p.parent) == proc.pid
        ]
        assert len(workers) == 2
        # a single-threaded CLI forks its workers (ready in ms, no second import)
        names = sorted((Path(f"/proc/{w}/comm").read_text().strip()) for w in workers)
        assert names == ["tracemint-w0", "tracemint-w1"]
        os.kill(workers[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode != 0
        assert "minting worker" in err and "--resume" in err
        assert stats()["ok"] < N * 3, "the run stopped mid-way"
        m = LocalRunner(load_recipe(recipe), resume=True, progress=False).run()
    assert m["complete"]
    rows = content(tmp_path, "w")
    assert len(rows) == N * 3 and len({(r[0], r[1]) for r in rows}) == N * 3


def test_workers_refuse_an_injected_teacher(tmp_path: Path) -> None:
    recipe = load_recipe(write_recipe(tmp_path, "http://127.0.0.1:9/v1", "x", 2))
    teacher = OpenAITeacher(OpenAITeacherConfig(model="m", base_url="http://127.0.0.1:9/v1"))
    with pytest.raises(RunError, match="workers"):
        LocalRunner(recipe, progress=False, teacher=teacher).run()
    assert not (tmp_path / "runs" / "x").exists()  # refused before the run dir was touched


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _ppid(proc_dir: Path) -> int:
    try:
        return int((proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return -1


def test_a_worker_error_reaches_the_parent_as_the_same_exception(tmp_path: Path) -> None:
    with start_test_server(models="m", require_key="sk-test") as (url, _):
        recipe = load_recipe(write_recipe(tmp_path, url, "auth", 2))
        with pytest.raises(TeacherError, match="credentials"):
            LocalRunner(recipe, progress=False).run()


class _KeywordOnly(Exception):
    def __init__(self, *, detail: str) -> None:
        super().__init__(detail)


def test_portable_error_keeps_what_pickles_and_names_the_rest() -> None:
    err = TeacherError("teacher at x refused the credentials")
    again = portable_error(err, "worker 0")
    assert type(again) is TeacherError and str(again) == str(err)
    wrapped = portable_error(_KeywordOnly(detail="boom"), "worker 1")
    assert isinstance(wrapped, RunError)
    assert "worker 1" in str(wrapped) and "_KeywordOnly" in str(wrapped) and "boom" in str(wrapped)


def test_resume_after_retuning_the_teacher_keeps_the_traces(tmp_path: Path) -> None:
    """A run killed at concurrency 4 and resumed at 8 (with 2 workers instead of 1) goes on
    from its shards: tuning keys are not part of what the traces mean."""
    write_problems(tmp_path)
    with start_test_server(models="m") as (url, stats):
        LocalRunner(
            load_recipe(write_recipe(tmp_path, url, "tune", 1, concurrency=4)), progress=False
        ).run()
        shards = sorted(p.name for p in RunStore(tmp_path / "runs" / "tune").shards())
        calls = stats()["ok"]
        m = LocalRunner(
            load_recipe(write_recipe(tmp_path, url, "tune", 2, concurrency=8)),
            resume=True,
            progress=False,
        ).run()
        assert stats()["ok"] == calls  # nothing asked again
    assert sorted(p.name for p in RunStore(tmp_path / "runs" / "tune").shards()) == shards
    last = m["sessions"][-1]
    # resumed, not redone from the cache: no problem was minted again
    assert last["resumed"] and last["new_calls"] == 0 and last["cached_calls"] == 0
    assert m["complete"]
