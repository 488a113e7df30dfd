"""A reply with ``content: null`` or nothing in it is no answer: retried, never cached.

Against the real test server (``--blank-replies N`` answers the first N requests of each
fingerprint with no content) and the real SQLite call cache.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from conftest_server import start_test_server
from test_teacher_openai import FAST, requests
from tracemint.cache import CallCache, call_key
from tracemint.errors import TeacherUnavailableError
from tracemint.stages.sample import CachedCaller
from tracemint.teachers.base import Completion, GenerationRequest
from tracemint.teachers.openai import OpenAITeacher, OpenAITeacherConfig, empty_reply


def _teacher(url: str, **cfg: Any) -> OpenAITeacher:
    return OpenAITeacher(OpenAITeacherConfig(model="m", base_url=url, **{**FAST, **cfg}))


def _generate(teacher: OpenAITeacher, reqs: list[GenerationRequest]) -> list[Completion]:
    async def go() -> list[Completion]:
        try:
            return await teacher.generate(reqs)
        finally:
            await teacher.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("kind", ["null", "empty"])
def test_blank_replies_are_retried(kind: str) -> None:
    with start_test_server(blank_replies=2, blank_kind=kind) as (url, stats):
        teacher = _teacher(url, max_retries=4)
        out = _generate(teacher, requests(3))
        s = stats()
    assert all(c.text.strip() for c in out)  # every call ended with a real answer
    assert teacher.stats.empty_replies == 6 and teacher.stats.retries == 6
    assert s["faults"]["blank"] == 6
    assert sorted(s["by_key"].values()) == [1, 1, 1]  # one real answer per request


def test_a_blank_reply_is_never_cached(tmp_path: Path) -> None:
    req = requests(1)[0]
    cache = CallCache(tmp_path / "calls.sqlite")
    try:
        with start_test_server(blank_replies=5) as (url, stats):
            teacher = _teacher(url, max_retries=2)
            caller = CachedCaller(teacher, cache)

            async def call() -> tuple[Completion, bool]:
                try:
                    return await caller.call(req)
                finally:
                    await teacher.aclose()

            with pytest.raises(TeacherUnavailableError, match="content null"):
                asyncio.run(call())
            assert stats()["faults"]["blank"] == 3
        key = call_key(teacher.identity(), req)
        assert cache.get(key) is None and len(cache) == 0  # nothing finished, nothing kept
        with start_test_server() as (url, stats):  # a healthy server: the call is made anew
            teacher = _teacher(url)
            caller = CachedCaller(teacher, cache)

            async def call_again() -> tuple[Completion, bool]:
                try:
                    return await caller.call(req)
                finally:
                    await teacher.aclose()

            completion, hit = asyncio.run(call_again())
            assert not hit and completion.text.strip()
            assert stats()["ok"] == 1
    finally:
        cache.close()


def test_an_empty_truncated_reply_is_an_answer() -> None:
    with start_test_server(blank_replies=3, blank_kind="empty") as (url, _):
        teacher = _teacher(url, max_retries=4)
        (c,) = _generate(teacher, requests(1, max_tokens=3))
    assert c.truncated and c.text == "" and teacher.stats.empty_replies == 0


def test_an_empty_continuation_of_a_prefill_is_an_answer() -> None:
    with start_test_server(blank_replies=3, blank_kind="empty") as (url, _):
        teacher = _teacher(url, max_retries=4)
        (c,) = _generate(teacher, requests(1, prefill="Step 1: 2 + 2 = 4. The answer is 4."))
    assert c.text == "" and teacher.stats.empty_replies == 0


@pytest.mark.parametrize(
    ("message", "finish", "problem"),
    [
        ({"content": None}, "stop", "reply with content null"),
        ({"content": "  \n"}, "stop", "empty reply"),
        ({"content": "<think>hmm</think>"}, "stop", "empty reply"),
        ({"content": "", "reasoning_content": "hmm"}, "stop", "empty reply"),
        ({"content": None}, "length", None),
        ({"content": ""}, "content_filter", None),
        ({"content": "The answer is 4."}, "stop", None),
    ],
)
def test_empty_reply_rules(message: dict, finish: str, problem: str | None) -> None:
    data = {"choices": [{"message": message, "finish_reason": finish}]}
    assert empty_reply(data) == problem
