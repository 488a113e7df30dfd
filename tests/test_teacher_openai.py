"""The openai teacher against the real test server on 127.0.0.1: retries, AIMD, errors."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest

from conftest_server import StatsFn, start_test_server
from tracemint.errors import ConfigError, TeacherError, TeacherUnavailableError
from tracemint.teachers.base import Completion, GenerationRequest, teachers
from tracemint.teachers.openai import OpenAITeacher, OpenAITeacherConfig, parse_retry_after
from tracemint.teachers.ratelimit import AdaptiveLimiter, TokenBucket

FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05}


def requests(n: int, **kw: Any) -> list[GenerationRequest]:
    return [
        GenerationRequest(
            messages=({"role": "user", "content": f"Question {i}?"},),
            temperature=0.7,
            seed=i,
            sample_index=i,
            **kw,
        )
        for i in range(n)
    ]


def run(
    base_url: str, reqs: list[GenerationRequest], **cfg: Any
) -> tuple[list[Completion], OpenAITeacher]:
    teacher = OpenAITeacher(OpenAITeacherConfig(model="m", base_url=base_url, **cfg))

    async def go() -> list[Completion]:
        try:
            return await teacher.generate(reqs)
        finally:
            await teacher.aclose()

    return asyncio.run(go()), teacher


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, StatsFn]]:
    with start_test_server(models="m") as s:
        yield s


# --- config and helpers -------------------------------------------------------------------


def test_registered_and_config_rejects_unknown_keys() -> None:
    assert teachers.get("openai") is OpenAITeacher
    assert OpenAITeacher.config_class is OpenAITeacherConfig
    with pytest.raises(pydantic.ValidationError, match="concurency"):
        OpenAITeacherConfig(model="m", concurency=3)  # type: ignore[call-arg]
    with pytest.raises(pydantic.ValidationError, match="concurrency"):
        OpenAITeacherConfig(model="m", concurrency=0)


def test_missing_key_env_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACEMINT_TEST_KEY", raising=False)
    with pytest.raises(ConfigError, match="TRACEMINT_TEST_KEY"):
        OpenAITeacher(OpenAITeacherConfig(model="m", api_key_env="TRACEMINT_TEST_KEY"))


def test_parse_retry_after() -> None:
    assert parse_retry_after("0.25") == 0.25
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    later = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8 < (parse_retry_after(later) or 0) <= 10


def test_limiter_halves_once_per_epoch_and_grows_back() -> None:
    async def go() -> None:
        lim = AdaptiveLimiter(16, increase_every=2)
        epochs = [await lim.acquire() for _ in range(16)]
        for e in epochs:  # a burst of 429s from one window halves once
            lim.on_overload(e)
        assert lim.limit == 8
        for _ in range(16):
            lim.release()
        for _ in range(4):
            lim.on_success()
        assert lim.limit == 10

    asyncio.run(go())


def test_token_bucket_paces() -> None:
    async def go() -> float:
        bucket = TokenBucket(per_minute=600, burst_s=0.5)  # 10/s, burst of 5
        t0 = time.perf_counter()
        for _ in range(8):
            await bucket.take(1)
        return time.perf_counter() - t0

    assert asyncio.run(go()) >= 0.25


# --- against the server -------------------------------------------------------------------


def test_generate_is_deterministic_and_seeds_differ(server: tuple[str, StatsFn]) -> None:
    base_url, _ = server
    first, teacher = run(base_url, requests(8))
    again, _ = run(base_url, requests(8))
    assert [c.text for c in first] == [c.text for c in again]
    assert len({c.text for c in first}) == 8
    c = first[0]
    assert c.finish_reason == "stop" and not c.truncated and c.reasoning is None
    assert c.text.startswith("Step 1:") and c.model == "m"
    assert c.prompt_tokens == 2 and c.completion_tokens > 5 and c.latency_s > 0
    assert teacher.stats.completed == 8 and teacher.stats.requests == 8
    assert teacher.stats.completion_tokens == sum(x.completion_tokens for x in first)


def test_truncation_passes_length_through(server: tuple[str, StatsFn]) -> None:
    (c,), _ = run(server[0], requests(1, max_tokens=4))
    assert c.finish_reason == "length" and c.truncated


def test_identity_has_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEMINT_TEST_KEY", "sk-very-secret")
    t = OpenAITeacher(OpenAITeacherConfig(model="m", api_key_env="TRACEMINT_TEST_KEY"))
    assert t.identity() == {
        "teacher": "openai",
        "model": "m",
        "prefill": {"style": "continue_final_message"},
    }
    assert "sk-very-secret" not in repr(t) + repr(t.config)


@pytest.mark.parametrize("mode", ["think", "reasoning_field"])
def test_reasoning_is_split_from_the_answer(mode: str) -> None:
    with start_test_server(**{mode: True}) as (base_url, _):
        (c,), _ = run(base_url, requests(1))
    assert c.reasoning and "<think>" not in c.text and c.text.startswith("Step 1:")


def test_every_request_completes_exactly_once_under_faults() -> None:
    reqs = requests(200)
    with start_test_server(latency=0.02) as (base_url, _):
        expected, _ = run(base_url, reqs)
    with start_test_server(
        latency=0.02,
        fault_rate=0.2,
        seed=1,
        faults="429,500,timeout,badjson,disconnect",
        retry_after=0.02,
    ) as (base_url, stats):
        got, teacher = run(base_url, reqs, concurrency=32, timeout_s=1.0, max_retries=10, **FAST)
        s = stats()
    assert [c.text for c in got] == [c.text for c in expected]
    assert s["ok"] == 200 and len(s["by_key"]) == 200 and set(s["by_key"].values()) == {1}
    assert set(s["faults"]) == {"429", "500", "timeout", "badjson", "disconnect"}
    assert teacher.stats.retries == sum(s["faults"].values())
    assert teacher.stats.rate_limited == s["faults"]["429"]


def test_aimd_converges_under_a_concurrency_cap() -> None:
    with start_test_server(latency=0.03, max_concurrency=8, retry_after=0.01) as (url, stats):
        got, teacher = run(url, requests(300), concurrency=64, **FAST)
        s = stats()
    assert len(got) == 300 and s["ok"] == 300
    assert 0 < teacher.stats.rate_limited < 150
    assert teacher.stats.concurrency_limit < 32


def test_retry_after_is_honoured_then_gives_up() -> None:
    with start_test_server(fault_rate=1.0, faults="429", retry_after=0.3) as (url, stats):
        t0 = time.perf_counter()
        with pytest.raises(TeacherUnavailableError, match="after 3 attempts"):
            run(url, requests(1), max_retries=2, **FAST)
        assert time.perf_counter() - t0 >= 0.6
        assert stats()["requests"] == 3


@pytest.mark.parametrize(
    ("model", "match"),
    [
        ("nope", r"model 'nope' not found at http://127\.0\.0\.1:\d+/v1"),
    ],
)
def test_404_names_model_and_url(server: tuple[str, StatsFn], model: str, match: str) -> None:
    base_url, stats = server
    before = stats()["requests"]
    teacher = OpenAITeacher(OpenAITeacherConfig(model=model, base_url=base_url, **FAST))

    async def go() -> None:
        try:
            await teacher.generate(requests(3))
        finally:
            await teacher.aclose()

    with pytest.raises(TeacherError, match=match) as info:
        asyncio.run(go())
    assert not isinstance(info.value, TeacherUnavailableError)
    assert teacher.stats.retries == 0
    assert stats()["requests"] - before <= 3  # one try per request, no retries


def test_400_is_not_retried(server: tuple[str, StatsFn]) -> None:
    with pytest.raises(TeacherError, match="HTTP 400") as info:
        run(server[0], requests(1), extra_body={"temperature": 7}, **FAST)
    assert not isinstance(info.value, TeacherUnavailableError)


def test_401_names_the_env_var_and_hides_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEMINT_TEST_KEY", "sk-wrong-key")
    with start_test_server(require_key="sk-right-key") as (url, stats):
        with pytest.raises(TeacherError, match=r"\$TRACEMINT_TEST_KEY") as info:
            run(url, requests(1), api_key_env="TRACEMINT_TEST_KEY", **FAST)
        assert stats()["requests"] == 1
        assert "sk-wrong-key" not in str(info.value)
        monkeypatch.setenv("TRACEMINT_TEST_KEY", "sk-right-key")
        (c,), _ = run(url, requests(1), api_key_env="TRACEMINT_TEST_KEY")
        assert c.text


def test_unavailable_error_hides_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEMINT_TEST_KEY", "sk-abc123")
    with (
        start_test_server(fault_rate=1.0, faults="500") as (url, _),
        pytest.raises(TeacherUnavailableError) as info,
    ):
        run(url, requests(1), api_key_env="TRACEMINT_TEST_KEY", max_retries=1, **FAST)
    assert "sk-abc123" not in str(info.value) and "HTTP 500" in str(info.value)
