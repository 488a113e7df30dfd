"""Several replicas behind one openai teacher: least-outstanding balancing and health.

The pool's policy is unit-tested with a hand-driven clock; the teacher is tested against real
test servers on 127.0.0.1 (one slow, one failing, one that is not there at all).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from conftest_server import start_test_server
from tracemint.config import parse_recipe
from tracemint.errors import ConfigError
from tracemint.teachers.base import Completion, GenerationRequest
from tracemint.teachers.endpoints import EndpointPool
from tracemint.teachers.openai import OpenAITeacher, OpenAITeacherConfig

FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def requests(n: int) -> list[GenerationRequest]:
    return [
        GenerationRequest(
            messages=({"role": "user", "content": f"Question {i}?"},),
            temperature=0.7,
            seed=i,
            sample_index=i,
        )
        for i in range(n)
    ]


def generate(urls: list[str], n: int, **cfg: Any) -> tuple[list[Completion], OpenAITeacher]:
    teacher = OpenAITeacher(OpenAITeacherConfig(model="m", base_url=urls, **cfg))

    async def go() -> list[Completion]:
        try:
            return await teacher.generate(requests(n))
        finally:
            await teacher.aclose()

    return asyncio.run(go()), teacher


def free_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (the port was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# --- the pool's policy ------------------------------------------------------------------------


def test_least_outstanding_with_rotating_tie_break() -> None:
    pool = EndpointPool(["http://a/v1", "http://b/v1", "http://c/v1"], clock=Clock())
    first = [pool.acquire().base for _ in range(3)]
    assert sorted(first) == ["http://a/v1", "http://b/v1", "http://c/v1"]  # ties rotate
    b = pool.endpoints[1]
    pool.release(b, ok=True)  # b answered: it alone has nothing in flight now
    assert pool.acquire() is b
    assert [e.in_flight for e in pool.endpoints] == [1, 1, 1]


def test_failing_replica_rests_with_doubling_cooldown_and_comes_back() -> None:
    clock = Clock()
    pool = EndpointPool(["http://a/v1", "http://b/v1"], cooldown_s=1.0, clock=clock)
    a, b = pool.endpoints
    ep = pool.acquire()
    other = b if ep is a else a
    pool.release(ep, ok=False)
    assert not ep.healthy(clock.now) and ep.down_until == pytest.approx(clock.now + 1.0)
    for _ in range(5):  # while it rests, everything goes to the other one
        got = pool.acquire()
        assert got is other
        pool.release(got, ok=True)
    clock.now += 1.01  # cooldown over: it is tried again (the probe) ...
    while (got := pool.acquire()) is not ep:
        pool.release(got, ok=True)
    pool.release(ep, ok=False)  # ... fails again: the pause doubles
    assert ep.down_until == pytest.approx(clock.now + 2.0)
    clock.now += 2.01
    while (got := pool.acquire()) is not ep:
        pool.release(got, ok=True)
    pool.release(ep, ok=True)  # answered: healthy, failures forgotten
    assert ep.failures == 0 and ep.healthy(clock.now)


def test_retry_after_sets_the_pause_and_all_resting_picks_soonest_back() -> None:
    clock = Clock()
    pool = EndpointPool(["http://a/v1", "http://b/v1"], clock=clock)
    pool.release(pool.acquire(), ok=False, retry_after=10.0)
    pool.release(pool.acquire(), ok=False, retry_after=3.0)
    resting = {e.base: e.down_until - clock.now for e in pool.endpoints}
    assert sorted(resting.values()) == pytest.approx([3.0, 10.0])
    soonest = min(pool.endpoints, key=lambda e: e.down_until)
    assert pool.acquire() is soonest  # nobody healthy: no request is refused outright


def test_single_endpoint_never_rests() -> None:
    clock = Clock()
    pool = EndpointPool(["http://a/v1"], clock=clock)
    ep = pool.acquire()
    pool.release(ep, ok=False)
    assert ep.healthy(clock.now) and ep.failures == 1  # retries' own backoff paces it


# --- config -----------------------------------------------------------------------------------


def test_config_accepts_a_list_and_names_bad_values() -> None:
    cfg = OpenAITeacherConfig(model="m", base_url=["http://a/v1", "http://b/v1/"])
    assert cfg.base_urls == ["http://a/v1", "http://b/v1/"]
    data = {
        "name": "x",
        "source": {"type": "file", "path": "p.jsonl"},
        "teacher": {"type": "openai", "model": "m", "base_url": ["http://a/v1", "http://a/v1/"]},
    }
    with pytest.raises(ConfigError, match="base_url") as err:
        parse_recipe(data, "r.toml")
    assert "listed twice" in str(err.value) and "r.toml" in str(err.value)


def test_identity_holds_the_first_replica_only() -> None:
    one = OpenAITeacher(OpenAITeacherConfig(model="m", base_url="http://a/v1"))
    two = OpenAITeacher(OpenAITeacherConfig(model="m", base_url=["http://a/v1", "http://b/v1"]))
    # adding a replica keeps every cache key: the same model answers alike on each
    assert one.identity() == two.identity()


# --- against real servers ---------------------------------------------------------------------


def test_equal_replicas_share_the_load() -> None:
    with (
        start_test_server(models="m", latency=0.05) as (url_a, stats_a),
        start_test_server(models="m", latency=0.05) as (url_b, stats_b),
    ):
        out, _ = generate([url_a, url_b], 200, concurrency=16)
        assert len(out) == 200 and all(c.text for c in out)
        a, b = stats_a()["ok"], stats_b()["ok"]
        assert a + b == 200
        assert 60 <= a <= 140, (a, b)


def test_a_slow_replica_gets_fewer_requests() -> None:
    with (
        start_test_server(models="m", latency=0.01) as (fast, stats_fast),
        start_test_server(models="m", latency=0.2) as (slow, stats_slow),
    ):
        out, _ = generate([slow, fast], 300, concurrency=8)
        assert len(out) == 300
        f, s = stats_fast()["ok"], stats_slow()["ok"]
        assert f + s == 300
        assert f > 3 * s, (f, s)  # round robin would split 150/150


def test_a_dead_replica_is_rested_and_nothing_is_lost() -> None:
    dead = free_port_url()
    with start_test_server(models="m", latency=0.02) as (alive, stats):
        out, teacher = generate([dead, alive], 200, concurrency=8, **FAST)
        assert len(out) == 200 and stats()["ok"] == 200
        by_base = {e["base_url"]: e for e in teacher.endpoint_stats()}
        # after its first failures it rests (1 s, 2 s, ...): only a handful of tries reach it
        assert by_base[dead]["sent"] <= 12, by_base
        assert by_base[alive.rstrip("/")]["sent"] >= 200


def test_a_replica_answering_500_loses_its_share() -> None:
    with (
        start_test_server(models="m", latency=0.02, fault_rate=1.0, faults="500") as (bad, bad_s),
        start_test_server(models="m", latency=0.02) as (good, good_s),
    ):
        out, teacher = generate([bad, good], 150, concurrency=8, **FAST)
        assert len(out) == 150 and good_s()["ok"] == 150
        assert bad_s()["ok"] == 0
        assert bad_s()["requests"] <= 15  # rested after failing, not hammered
        assert teacher.stats.retries == bad_s()["requests"]
