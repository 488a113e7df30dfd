"""Latency-aware concurrency (issue 18): the openai teacher against a server that queues.

llama.cpp works one request at a time and holds the rest; 64 requests sent at once there
wait up to 64 service times, past any sane timeout. The limiter reads the queue from the
latency (``ratelimit.AdaptiveLimiter``) and the automatic timeout makes room for the
requests ahead (``OpenAIClient.queue_allowance_s``). The whole-run checks use the test
server's ``slots=1`` (a one-request-at-a-time server) with an explicit, small ``timeout_s``
that 64 queued requests overrun; ``adapt_concurrency = "429"`` (no latency signal) is the
control that shows they would.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from conftest_server import apples_problems, reset_server, server_recipe, start_test_server
from tracemint.config import load_recipe
from tracemint.errors import TeacherUnavailableError
from tracemint.runner.local import LocalRunner
from tracemint.teachers.base import Completion, GenerationRequest
from tracemint.teachers.openai import (
    AUTO_TIMEOUT_TOKENS_PER_S,
    OpenAITeacher,
    OpenAITeacherConfig,
)
from tracemint.teachers.openai_client import OpenAIClient
from tracemint.teachers.ratelimit import AdaptiveLimiter

FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05}
#: one answer per LATENCY seconds; TIMEOUT_S covers 24 queued, N at once would need 10 s
LATENCY, TIMEOUT_S, N = 0.2, 5.0, 50


def requests(n: int) -> list[GenerationRequest]:
    return [
        GenerationRequest(
            messages=({"role": "user", "content": f"Question {i}?"},),
            temperature=0.7,
            seed=i,
            sample_index=0,
            max_tokens=64,
        )
        for i in range(n)
    ]


def run(
    base_url: str, n: int, teacher: OpenAITeacher | None = None, **cfg: Any
) -> tuple[list[Completion], OpenAITeacher]:
    """``n`` requests through ``teacher`` (a new one from ``cfg`` when None)."""
    if teacher is None:
        teacher = OpenAITeacher(OpenAITeacherConfig(model="m", base_url=base_url, **cfg))
    t = teacher

    async def go() -> list[Completion]:
        try:
            return await t.generate(requests(n))
        finally:
            await t.aclose()

    return asyncio.run(go()), teacher


# --- the limiter alone ------------------------------------------------------------------------


async def _fill(lim: AdaptiveLimiter, n: int) -> list[asyncio.Task[int]]:
    """``n`` acquirers; the ones over the limit wait (so the limit binds)."""
    tasks = [asyncio.ensure_future(lim.acquire()) for _ in range(n)]
    await asyncio.sleep(0)
    return tasks


def test_slow_start_reaches_the_maximum_while_latency_holds() -> None:
    async def go() -> None:
        lim = AdaptiveLimiter(256, latency=True)
        assert lim.limit == AdaptiveLimiter.INITIAL_LIMIT
        tasks = await _fill(lim, 300)
        answers = 0
        while lim.limit < 256:
            lim.release()
            lim.on_success(0, 1.0)
            answers += 1
        assert answers <= 12  # about one round trip's answers from 8 slots, not 248
        assert lim.latency_decreases == 0
        for t in tasks:
            t.cancel()

    asyncio.run(go())


def test_a_queue_cuts_the_limit_once_per_epoch_and_settles_low() -> None:
    """A one-at-a-time server: latency = in flight x service time. The limit falls and
    stays within a few of 1; answers sent under an older limit are not held against it."""

    async def go() -> None:
        lim = AdaptiveLimiter(64, latency=True)
        tasks = await _fill(lim, 200)
        epochs = [t.result() for t in tasks if t.done()]
        lim.release()
        lim.on_success(epochs[0], 1.0)  # the first answer did not queue: the baseline
        assert lim.limit == 12  # slow start: +half
        peak, k = 12, 1
        while lim.epoch == 0:  # the next ones queued behind it: k service times
            k += 1
            lim.release()
            lim.on_success(epochs[0], float(k))
            peak = max(peak, lim.limit)
        assert k <= 10 and peak <= 13  # slow start stopped at once, the cut came soon
        assert lim.limit < 12 and lim.latency_decreases == 1
        before = lim.limit
        for _ in range(5):  # still the old window's answers: not counted again
            lim.release()
            lim.on_success(epochs[0], 9.0)
        assert lim.limit == before and lim.epoch == 1
        for _ in range(40):  # from now on latency = slots in flight x 1.0
            lim.release()
            lim.on_success(lim.epoch, float(max(1, lim.limit)))
        assert 1 <= lim.limit <= 3
        for t in tasks:
            t.cancel()

    asyncio.run(go())


def test_without_the_latency_signal_only_429s_count() -> None:
    async def go() -> None:
        lim = AdaptiveLimiter(64, increase_every=2)
        assert lim.limit == 64
        e = await lim.acquire()
        lim.release()
        for _ in range(10):
            lim.on_success(e, 50.0)  # slow answers change nothing
        assert lim.limit == 64
        lim.on_overload(e)
        assert lim.limit == 32

    asyncio.run(go())


def test_after_a_429_latency_grows_the_limit_slowly() -> None:
    async def go() -> None:
        lim = AdaptiveLimiter(64, increase_every=4, latency=True)
        tasks = await _fill(lim, 100)
        lim.on_overload(0)
        assert lim.limit == 4 and lim.rate_limited
        for _ in range(8):
            lim.release()
            lim.on_success(lim.epoch, 1.0)
        assert lim.limit == 6  # +1 per 4 answers: a quota latency does not see
        for t in tasks:
            t.cancel()

    asyncio.run(go())


# --- the automatic timeout ------------------------------------------------------------------


def test_the_auto_timeout_makes_room_for_the_requests_ahead() -> None:
    client = OpenAIClient(OpenAITeacherConfig(model="m"))
    per = 512 / AUTO_TIMEOUT_TOKENS_PER_S
    assert client.queue_allowance_s(512, 0) == 0
    assert client.queue_allowance_s(512, 3) == 3 * per  # nothing measured: the slow CPU
    client._limiter.on_success(0, 0.01)  # 10 ms per token: 5.76 s for 512 (+64)
    assert client.queue_allowance_s(512, 3) == pytest.approx(3 * 2 * 0.01 * 576)
    fixed = OpenAIClient(OpenAITeacherConfig(model="m", timeout_s=7))
    assert fixed.queue_allowance_s(512, 10) == 0  # an explicit timeout is the whole attempt


def test_adapt_concurrency_is_a_tuning_key() -> None:
    assert "adapt_concurrency" in OpenAITeacher.tuning_keys
    assert OpenAITeacherConfig(model="m").adapt_concurrency == "latency"


# --- against a one-request-at-a-time server ------------------------------------------------


def test_without_the_latency_signal_a_queueing_server_times_out() -> None:
    """The control: all N in flight at once, one answered per 0.2 s, a 5 s timeout."""
    with start_test_server(slots=1, latency=LATENCY, models="m") as (url, stats):
        with pytest.raises(TeacherUnavailableError, match="timed out"):
            run(url, N, adapt_concurrency="429", timeout_s=TIMEOUT_S, max_retries=0)
        s = stats()
    assert s["max_in_flight"] == N  # every request sent at once, to wait in the queue


def test_the_latency_signal_keeps_the_queue_short_enough() -> None:
    with start_test_server(slots=1, latency=LATENCY, models="m") as (url, stats):
        got, teacher = run(url, N, timeout_s=TIMEOUT_S, **FAST)
        s = stats()
        reset_server(url)  # /stats from here: max_in_flight is the settled queue
        again, _ = run(url, 20, teacher)  # the same teacher: its limit has settled
        settled = stats()
    assert len(got) == N and all(c.text for c in got)
    # no timeouts, no retries: each request reached the server once and was answered
    assert s["requests"] == s["ok"] == N and s["faults"] == {}
    assert s["repeated"] == {"ok": 0, "received": 0}
    assert teacher.stats.requests == N + 20 and teacher.stats.retries == 0
    # the start (8, +half per answer near the baseline: 12, or 18 when the second answer is
    # a long reply, whose time per token is low) is the deepest the queue got; then it came
    # down to where a one-at-a-time server settles: 2 to 4 (at 2 each answer takes twice
    # the baseline, within the tolerance, so the limit grows until 3 or 4 is not), up to 6
    # here, where every reply takes the same time, so the time per token that the limiter
    # weighs varies by 1.7x with the reply's length
    assert s["max_in_flight"] <= 18
    assert teacher.stats.latency_backoffs >= 2
    assert len(again) == 20 and settled["requests"] == settled["ok"] == 20
    assert settled["faults"] == {} and settled["max_in_flight"] <= 6
    assert teacher.stats.concurrency_limit <= 6


def test_a_parallel_server_gets_the_full_concurrency() -> None:
    with start_test_server(latency=0.05, models="m") as (url, stats):
        got, teacher = run(url, 400, concurrency=32)
        s = stats()
    assert len(got) == 400 and s["max_in_flight"] == 32
    assert teacher.stats.requests == 400


def test_a_run_at_default_settings_against_a_one_at_a_time_server(tmp_path: Path) -> None:
    """A whole ``tracemint run`` at the default teacher settings but the small timeout."""
    problems = apples_problems(tmp_path / "problems.jsonl", 0, 30)
    with start_test_server(answers=problems, slots=1, latency=LATENCY) as (url, stats):
        path = server_recipe(
            tmp_path / "recipe.toml",
            base_url=url,
            problems=problems,
            teacher={"timeout_s": TIMEOUT_S},
            budget={"samples": 1},
        )
        m = LocalRunner(load_recipe(path), progress=False).run()
        s = stats()
    assert m["complete"] and m["counts"]["problems"] == 30
    assert s["ok"] == s["requests"] and s["faults"] == {} and s["repeated"]["received"] == 0
    assert s["max_in_flight"] <= 18


def test_off_pins_the_concurrency() -> None:
    """``adapt_concurrency = "off"``: 429s are retried but lower nothing; all at once."""
    with start_test_server(latency=0.05, fault_rate=0.3, faults="429", models="m") as (url, st):
        got, teacher = run(url, 40, concurrency=16, adapt_concurrency="off", **FAST)
        s = st()
    assert len(got) == 40 and teacher.stats.rate_limited > 0
    assert teacher.stats.concurrency_limit == 16 and s["max_in_flight"] == 16
