"""A dead server is noticed: waiting calls on the progress bar, a per-attempt timeout that
scales with max_tokens, and ``[teacher] give_up_after_s``.

Real sockets throughout: a TCP server on 127.0.0.1 that accepts connections and never writes
a byte, and the shipped test server playing a slow one-request-at-a-time server
(``--slots 1``) or one that wedges mid-run (``--hang-after N``).
"""

from __future__ import annotations

import asyncio
import io
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from conftest_server import apples_problems, server_recipe, start_test_server
from tracemint.cache import CallCache
from tracemint.config import load_recipe
from tracemint.errors import TeacherUnavailableError
from tracemint.runner.manifest import recipe_fingerprint
from tracemint.runner.pool import WorkerPool
from tracemint.runner.progress import RunProgress, waiting_text
from tracemint.store import RunStore
from tracemint.teachers.base import GenerationRequest, WaitingCalls
from tracemint.teachers.openai import (
    AUTO_TIMEOUT_FLOOR_S,
    OpenAITeacher,
    OpenAITeacherConfig,
    auto_timeout_s,
)

FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05}


def requests(n: int, max_tokens: int = 64) -> list[GenerationRequest]:
    return [
        GenerationRequest(
            messages=({"role": "user", "content": f"Question {i}?"},),
            max_tokens=max_tokens,
            seed=i,
            sample_index=i,
        )
        for i in range(n)
    ]


class SilentServer:
    """Accepts every TCP connection on 127.0.0.1 and never reads or writes: a server whose
    process is alive (the kernel completes the handshake) but whose model is hung."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(conn)

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for c in self.accepted:
            c.close()
        self.sock.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    with SilentServer() as srv:
        yield srv


def teacher_at(base_url: str, **cfg: Any) -> OpenAITeacher:
    return OpenAITeacher(OpenAITeacherConfig(model="m", base_url=base_url, **{**FAST, **cfg}))


# --- the per-attempt timeout ----------------------------------------------------------------


def test_auto_timeout_grows_with_max_tokens_and_an_explicit_timeout_wins() -> None:
    auto = OpenAITeacher(OpenAITeacherConfig(model="m"))
    assert auto.config.timeout_s is None  # the default is automatic
    lengths = [16, 256, 512, 4096, 32768]
    timeouts = [auto.attempt_timeout_s(n) for n in lengths]
    assert timeouts == sorted(timeouts) and len(set(timeouts)) == len(timeouts)
    assert timeouts == [auto_timeout_s(n) for n in lengths]
    assert auto.attempt_timeout_s(16) >= AUTO_TIMEOUT_FLOOR_S  # connecting, queueing, prefill
    # the default sampling length gets at least the old fixed 120 s; a CPU server at 5 tok/s
    # finishes any length inside its timeout
    assert auto.attempt_timeout_s(512) >= 120
    assert all(t >= n / 5 for n, t in zip(lengths, timeouts, strict=True))
    assert auto.attempt_timeout_s(None) == auto_timeout_s(4096)  # a body without max_tokens

    fixed = OpenAITeacher(OpenAITeacherConfig(model="m", timeout_s=7))
    assert {fixed.attempt_timeout_s(n) for n in [*lengths, None]} == {7}


def test_an_explicit_timeout_cuts_each_attempt_at_a_silent_server(silent: SilentServer) -> None:
    teacher = teacher_at(silent.base_url, timeout_s=0.3, max_retries=1, give_up_after_s=0)

    async def go() -> float:
        t0 = time.monotonic()
        try:
            with pytest.raises(TeacherUnavailableError, match=r"after 2 attempts.*timed out"):
                await teacher.generate(requests(1, max_tokens=32768))  # auto: hours
        finally:
            await teacher.aclose()
        return time.monotonic() - t0

    assert 0.55 < asyncio.run(go()) < 5
    assert silent.accepted  # the connections were accepted; nothing ever came back


def test_tuning_keys_keep_the_run() -> None:
    assert {"give_up_after_s", "timeout_s"} <= OpenAITeacher.tuning_keys


# --- give_up_after_s ------------------------------------------------------------------------


def test_a_silent_server_is_given_up_on_with_a_clear_error(silent: SilentServer) -> None:
    teacher = teacher_at(silent.base_url, concurrency=4, give_up_after_s=2)

    async def go() -> tuple[WaitingCalls, float, TeacherUnavailableError]:
        t0 = time.monotonic()
        task = asyncio.ensure_future(teacher.generate(requests(6)))
        try:
            await asyncio.sleep(1.0)
            seen = teacher.waiting()
            with pytest.raises(TeacherUnavailableError) as info:
                await task
            return seen, time.monotonic() - t0, info.value
        finally:
            await teacher.aclose()

    seen, elapsed, error = asyncio.run(go())
    # all six calls wait (four on the wire, two for a slot), the oldest since the start
    assert seen.calls == 6 and 0.9 <= seen.oldest_s < 2
    assert 2 <= elapsed < 4, elapsed  # the patience, not 9 attempts x the timeout
    text = str(error)
    assert f"teacher at {silent.base_url} has not answered any request for 2 s" in text
    assert "6 calls waiting" in text
    assert "check that the server is running and responsive" in text
    assert "give_up_after_s" in text and "--resume" in text
    assert teacher.waiting() == WaitingCalls()  # every waiting call was failed and dropped


def test_a_cancel_from_outside_stays_a_cancel(silent: SilentServer) -> None:
    """Ctrl-C during a hang: the caller's cancel is not turned into the give-up error."""
    teacher = teacher_at(silent.base_url, give_up_after_s=0.5)

    async def go() -> None:
        task = asyncio.ensure_future(teacher.generate(requests(3)))
        await asyncio.sleep(0.2)
        task.cancel()
        try:
            with pytest.raises(asyncio.CancelledError):
                await task
            assert teacher.waiting() == WaitingCalls()
            await asyncio.sleep(0.6)  # the patience finds nothing waiting: no error anywhere
        finally:
            await teacher.aclose()

    asyncio.run(go())


def test_a_slow_one_at_a_time_server_is_not_given_up_on() -> None:
    """Answers every 0.6 s, one request at a time: the last of 6 queued calls waits ~3.6 s,
    longer than the 2 s patience, yet every answer restarts the patience."""
    with start_test_server(slots=1, latency=0.6, models="m") as (url, stats):
        teacher = teacher_at(url, concurrency=6, give_up_after_s=2)
        oldest: list[float] = []

        async def go() -> list[str]:
            task = asyncio.ensure_future(teacher.generate(requests(6)))
            try:
                while not task.done():
                    oldest.append(teacher.waiting().oldest_s)
                    await asyncio.sleep(0.1)
                return [c.text for c in await task]
            finally:
                await teacher.aclose()

        texts = asyncio.run(go())
        s = stats()
    assert len(texts) == 6 and all(texts)
    assert s["ok"] == 6 and s["max_in_flight"] == 6  # all sent at once, answered in turn
    assert max(oldest) > 2.5  # a call waited past the patience: the answers kept it alive
    assert teacher.stats.retries == 0


def test_a_new_call_after_a_long_idle_gets_a_whole_window() -> None:
    """The patience counts from when calls began to wait, not from the last answer long ago."""
    with start_test_server(slots=1, latency=0.3, models="m") as (url, _):
        teacher = teacher_at(url, give_up_after_s=0.5)

        async def go() -> None:
            try:
                await teacher.generate(requests(1))
                await asyncio.sleep(0.8)  # idle for longer than the patience
                await teacher.generate(requests(2))  # 0.3 s each, one at a time
            finally:
                await teacher.aclose()

        asyncio.run(go())


# --- the progress bar ---------------------------------------------------------------------


def test_waiting_text() -> None:
    assert waiting_text(WaitingCalls()) == ""
    assert waiting_text(WaitingCalls(1, 2.4)) == "1 call waiting, oldest 2 s"
    assert waiting_text(WaitingCalls(12, 41.2)) == "[yellow]12 calls waiting, oldest 41 s[/]"


def test_the_bar_shows_calls_waiting_on_a_silent_server(silent: SilentServer) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=250, color_system=None)
    teacher = teacher_at(silent.base_url, concurrency=2, give_up_after_s=0)

    async def go() -> None:
        with RunProgress(10, console=console, waiting=teacher.waiting):
            task = asyncio.ensure_future(teacher.generate(requests(3)))
            await asyncio.sleep(1.3)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await teacher.aclose()

    asyncio.run(go())
    shown = {int(s) for s in re.findall(r"3 calls waiting, oldest (\d+) s", out.getvalue())}
    assert shown and max(shown) >= 1, out.getvalue()[-2000:]  # and the age grows


def test_the_worker_pool_reports_its_workers_waiting_calls(tmp_path: Path) -> None:
    problems = apples_problems(tmp_path / "problems.jsonl", 0, 2)
    with start_test_server(hang_after=0) as (url, stats):
        recipe = load_recipe(
            server_recipe(
                tmp_path / "r.toml",
                base_url=url,
                problems=problems,
                teacher={"concurrency": 4, "give_up_after_s": 0},
                budget={"samples": 2},
            )
        )
        RunStore(recipe.run_dir()).create()
        pool = WorkerPool(recipe, RunStore(recipe.run_dir()).cache_path, 2, 4)

        async def go() -> WaitingCalls:
            pool.spawn()
            try:
                await pool.ready()
                minting = [asyncio.ensure_future(pool.mint(p)) for p in _read(problems)]
                deadline = time.monotonic() + 20
                seen = pool.waiting()
                while (seen.calls < 4 or seen.oldest_s < 1) and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                    seen = pool.waiting()
                # the client counts a call as waiting once it is sent; on a loaded machine
                # the server may not have read all of them yet
                while stats()["faults"].get("hang", 0) < 4 and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                for t in minting:
                    t.cancel()
                await asyncio.gather(*minting, return_exceptions=True)
                return seen
            finally:
                await pool.aclose()

        seen = asyncio.run(go())
        assert stats()["faults"]["hang"] == 4
    assert seen.calls == 4 and seen.oldest_s >= 1  # both workers' calls, summed


def _read(path: Path) -> list[dict[str, Any]]:
    from tracemint.sources.files import FileSource, FileSourceConfig

    return list(FileSource(FileSourceConfig(path=str(path), id_field="id")))


# --- a whole run ----------------------------------------------------------------------------

N_PROBLEMS, SAMPLES, ANSWERED = 12, 2, 10
PATIENCE = 3


@pytest.mark.parametrize("workers", [1, 2])
def test_a_run_against_a_wedged_server_stops_then_resumes(tmp_path: Path, workers: int) -> None:
    """The server answers some calls, then holds every request. The run stops within the
    patience of the last answer with the clear error (exit 5, no traceback), every answer is
    kept, and --resume against a working server finishes without asking any of them again."""
    problems = apples_problems(tmp_path / "problems.jsonl", 0, N_PROBLEMS)
    with start_test_server(answers=problems, hang_after=ANSWERED) as (url, stats):
        path = server_recipe(
            tmp_path / "recipe.toml",
            base_url=url,
            problems=problems,
            teacher={"concurrency": 4, "give_up_after_s": PATIENCE, **FAST},
            sampling={"temperature": 0.7, "max_tokens": 200},
            budget={"samples": SAMPLES},
            run={"shard_rows": 4, "flush_seconds": 0.2, "workers": workers},
        )
        done = _cli("run", str(path), "--no-progress")
        stopped_at = time.time()
        first = stats()
    assert done.returncode == 5, done.stderr
    assert "Traceback" not in done.stderr
    message = " ".join(done.stderr.split())  # rich wraps the line
    assert f"teacher at {url} has not answered any request for {PATIENCE} s" in message
    assert "raise [teacher] give_up_after_s" in message and "--resume" in message
    assert first["ok"] >= ANSWERED and first["faults"].get("hang", 0) > 0
    # stopped the patience after the last answer (plus the exit), not minutes later
    assert PATIENCE - 0.5 < stopped_at - first["last_ok_at"] < PATIENCE + 10

    store = RunStore(tmp_path / "runs" / "srv")
    manifest = store.read_manifest()
    assert not manifest["complete"]
    cache = CallCache(store.cache_path)
    saved = cache._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    cache.close()
    assert saved == first["ok"]  # every answer the server gave is kept

    # the same URL (it is in the recipe's fingerprint), now a working server
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with start_test_server(answers=problems, port=port) as (again, stats):
        assert again == url
        resumed = _cli("run", str(path), "--no-progress", "--resume")
        second = stats()
    assert resumed.returncode == 0, resumed.stderr
    m = store.read_manifest()
    assert m["complete"] and m["counts"]["problems"] == N_PROBLEMS
    assert m["recipe_fingerprint"] == recipe_fingerprint(load_recipe(path))
    assert store.read_traces().num_rows == N_PROBLEMS * SAMPLES
    # nothing answered before the hang was asked again
    assert not set(second["by_key"]) & set(first["by_key"])
    assert second["ok"] == N_PROBLEMS * SAMPLES - first["ok"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracemint.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
