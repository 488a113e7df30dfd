"""The shipped test server: deterministic replies, error answers, faults and /stats."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest_server import StatsFn, reset_server, server_argv, start_test_server
from tracemint.testing.fakemodel import (
    AnswerBook,
    FakeModel,
    answer_from_reasoning,
    corrected,
    normalize_answer,
    wrong_answer,
)
from tracemint.testing.server import ServerOptions, parse_args, request_fingerprint


def post(
    base_url: str, path: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(
        f"{base_url}{path}",
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, dict(e.headers), e.read()


def chat(question: str, **kw: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": question}], **kw}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, StatsFn]]:
    with start_test_server(models="m") as s:
        yield s


def reply(base_url: str, body: dict[str, Any]) -> dict[str, Any]:
    status, _, raw = post(base_url, "/chat/completions", body)
    assert status == 200, raw
    return json.loads(raw)


# --- the fake model, in process -------------------------------------------------------------


def test_answer_book_finds_question_inside_template() -> None:
    book = AnswerBook(
        [("How many apples does Sam have left?", "He has 3.\n#### 3"), ("Short q?", "7")]
    )
    assert book.lookup("Solve step by step.\n\nHow many apples does Sam have left?\n") == "3"
    assert book.lookup("Q: Short q? A:") == "7"
    assert book.lookup("something else entirely") is None


def test_answer_helpers() -> None:
    assert normalize_answer("work...\n#### 1,200") == "1,200"
    assert wrong_answer("1,200") == "1201"
    assert wrong_answer("2.5") == "3.5"
    assert wrong_answer("blue") == "not blue"


def test_accuracy_is_decided_per_seed() -> None:
    q = "How many apples does Sam have left?"
    model = FakeModel(AnswerBook([(q, "#### 3")]), accuracy=0.5)
    answers = {
        model.chat(q, q, seed=s, temperature=0.7, sample=0, max_tokens=None, stop=[]).text.rsplit(
            "The answer is ", 1
        )[1]
        for s in range(40)
    }
    assert answers == {"3.", "4."}


def test_truncation_keeps_whitespace_and_counts_words() -> None:
    r = FakeModel().chat("p", "q", seed=None, temperature=0, sample=0, max_tokens=4, stop=[])
    assert r.finish_reason == "length" and r.completion_tokens == 4
    assert len(r.text.split()) == 4


def test_cli_flags_map_to_options() -> None:
    opts, uv = parse_args(
        server_argv(
            latency=0.2,
            fault_rate=0.1,
            faults="429,timeout",
            think=True,
            max_concurrency=4,
            no_uvloop=True,
        )
    )
    assert opts == ServerOptions(
        latency=0.2, fault_rate=0.1, faults=("429", "timeout"), think=True, max_concurrency=4
    )
    assert uv is False
    with pytest.raises(ValueError, match="unknown fault kinds"):
        ServerOptions(faults=("explode",))


# --- over HTTP ----------------------------------------------------------------------------


def test_chat_reply_shape_and_determinism(server: tuple[str, StatsFn]) -> None:
    base_url, _ = server
    body = chat("What is 2 plus 3?", temperature=0.7, seed=1, max_tokens=200)
    a, b = reply(base_url, body), reply(base_url, body)
    assert a["choices"] == b["choices"]
    choice = a["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["content"].startswith("Step 1:")
    assert "The answer is" in choice["message"]["content"]
    usage = a["usage"]
    assert usage["prompt_tokens"] == 5
    assert usage["completion_tokens"] == len(choice["message"]["content"].split())


def test_seeds_and_samples_vary_but_greedy_does_not(server: tuple[str, StatsFn]) -> None:
    base_url, _ = server
    texts = {
        reply(base_url, chat("Q?", temperature=0.8, seed=s))["choices"][0]["message"]["content"]
        for s in range(8)
    }
    assert len(texts) == 8
    sampled = reply(base_url, chat("Q?", temperature=0.8, n=4))["choices"]
    assert len({c["message"]["content"] for c in sampled}) == 4
    greedy = reply(base_url, chat("Q?", temperature=0, n=3))["choices"]
    assert len({c["message"]["content"] for c in greedy}) == 1


def test_max_tokens_truncates_with_length(server: tuple[str, StatsFn]) -> None:
    choice = reply(server[0], chat("Q?", max_tokens=3))["choices"][0]
    assert choice["finish_reason"] == "length"
    assert len(choice["message"]["content"].split()) == 3


def test_completions_continue_a_prefix(server: tuple[str, StatsFn]) -> None:
    status, _, raw = post(
        server[0], "/completions", {"model": "m", "prompt": "Q: x\nStep 1: a.\nStep 2: b.\n"}
    )
    assert status == 200
    text = json.loads(raw)["choices"][0]["text"]
    assert text.startswith("Step 3:") and "The answer is" in text


def test_models_endpoint(server: tuple[str, StatsFn]) -> None:
    with urllib.request.urlopen(f"{server[0]}/models", timeout=10) as resp:
        assert [m["id"] for m in json.loads(resp.read())["data"]] == ["m"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        ({"model": "m", "messages": []}, 400),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 9}, 400),
        ({"model": "nope", "messages": [{"role": "user", "content": "x"}]}, 404),
    ],
)
def test_bad_requests_are_rejected(server: tuple[str, StatsFn], body: Any, status: int) -> None:
    got, _, raw = post(server[0], "/chat/completions", body)
    assert got == status
    assert json.loads(raw)["error"]["message"]


def test_stats_count_by_fingerprint_and_reset(server: tuple[str, StatsFn]) -> None:
    base_url, stats = server
    reset_server(base_url)
    body = chat("fingerprinted?", seed=3, temperature=0.5, max_tokens=50, top_p=1.0)
    reply(base_url, body)
    reply(base_url, body)
    s = stats()
    assert s["requests"] == 2 and s["ok"] == 2
    assert s["by_key"] == {request_fingerprint(body): 2}
    # Fields outside the fingerprint (n, stop) do not change it.
    assert request_fingerprint({**body, "stop": ["x"]}) == request_fingerprint(body)
    reset_server(base_url)
    assert stats()["requests"] == 0


def test_require_key_answers_401() -> None:
    with start_test_server(require_key="sk-secret") as (base_url, stats):
        assert post(base_url, "/chat/completions", chat("x"))[0] == 401
        ok = post(base_url, "/chat/completions", chat("x"), {"Authorization": "Bearer sk-secret"})
        assert ok[0] == 200
        assert stats()["rejected"] == {"401": 1}


def test_think_and_reasoning_field() -> None:
    with start_test_server(think=True) as (base_url, _):
        content = reply(base_url, chat("x"))["choices"][0]["message"]["content"]
        assert content.startswith("<think>") and "</think>" in content
    with start_test_server(reasoning_field=True) as (base_url, _):
        message = reply(base_url, chat("x"))["choices"][0]["message"]
        assert "<think>" not in message["content"] and message["reasoning_content"]


def test_answers_file_and_accuracy(tmp_path: Path) -> None:
    answers = tmp_path / "a.jsonl"
    answers.write_text(
        json.dumps({"question": "What is six times seven?", "answer": "6*7=42\n#### 42"}) + "\n"
    )
    with start_test_server(answers=answers, accuracy=1.0) as (base_url, _):
        text = reply(base_url, chat("Solve: What is six times seven?", seed=5, temperature=1))
        assert text["choices"][0]["message"]["content"].endswith("The answer is 42.")


def test_injected_faults_of_each_kind() -> None:
    with start_test_server(fault_rate=1.0, faults="429", retry_after=0.25) as (base_url, s):
        status, headers, _ = post(base_url, "/chat/completions", chat("x"))
        assert status == 429 and float(headers["Retry-After"]) == 0.25
        assert s()["faults"] == {"429": 1} and s()["ok"] == 0
    with start_test_server(fault_rate=1.0, faults="500") as (base_url, _):
        assert post(base_url, "/chat/completions", chat("x"))[0] == 500
    with start_test_server(fault_rate=1.0, faults="badjson") as (base_url, _):
        status, _, raw = post(base_url, "/chat/completions", chat("x"))
        assert status == 200
        with pytest.raises(ValueError):
            json.loads(raw)
    with start_test_server(fault_rate=1.0, faults="timeout", timeout_hold=30) as (base_url, _):
        req = urllib.request.Request(
            f"{base_url}/chat/completions", method="POST", data=json.dumps(chat("x")).encode()
        )
        with pytest.raises(TimeoutError):
            urllib.request.urlopen(req, timeout=0.3)


def test_in_process_server_serves_the_openai_teacher() -> None:
    """``running_server`` is what a ``tracemint serve-test`` command would wrap."""
    from tracemint.teachers.base import GenerationRequest
    from tracemint.teachers.openai import OpenAITeacher, OpenAITeacherConfig
    from tracemint.testing.server import running_server

    async def go() -> tuple[str, dict[str, Any]]:
        async with running_server(ServerOptions(think=True)) as srv:
            teacher = OpenAITeacher(OpenAITeacherConfig(model="m", base_url=srv.base_url))
            try:
                (c,) = await teacher.generate(
                    [GenerationRequest(messages=({"role": "user", "content": "hi"},))]
                )
            finally:
                await teacher.aclose()
            return c.text, srv.stats()

    text, stats = asyncio.run(go())
    assert text.startswith("Step 1:") and stats["ok"] == 1


def test_per_question_modes_override_the_model(tmp_path: Path) -> None:
    """A JSONL row's reasoning_mode / hint_mode applies to its own question only."""
    answers = tmp_path / "a.jsonl"
    rows = [
        {"question": "Posthoc question: what is 3 + 4 + 7?", "answer": "14"},
        {"question": "Faithful question: what is 3 + 4 + 7?", "answer": "14"},
        {"question": "Careless question: what is 3 + 4 + 7?", "answer": "14"},
        {"question": "Biased question: what is 3 + 4 + 7?", "answer": "14"},
    ]
    rows[0]["reasoning_mode"] = "posthoc"
    rows[2]["reasoning_mode"] = "ignore-mistakes"
    rows[3]["hint_mode"] = "follow"
    answers.write_text("".join(json.dumps(r) + "\n" for r in rows))
    book = AnswerBook.from_jsonl(answers)
    assert book.modes_of(f"Solve.\n{rows[0]['question']}") == {"reasoning_mode": "posthoc"}
    assert book.modes_of(rows[1]["question"]) == {}
    model = FakeModel(book, reasoning_mode="faithful")
    kw: dict[str, Any] = {"seed": 0, "temperature": 0.0, "sample": 0, "max_tokens": None}

    def cont(i: int, prefill: str) -> str:
        q = rows[i]["question"]
        return model.chat(q, q, stop=[], prefill=prefill, **kw).text

    wrong = "Step 1: 3 + 4 = 9.\n"  # off by 2
    assert cont(0, wrong).endswith("The answer is 14.")  # posthoc: ignores the reasoning
    assert cont(1, wrong).endswith("The answer is 16.")  # faithful: the error propagates
    assert cont(2, wrong).endswith("The answer is 14.")  # ignore-mistakes: correct value used
    # asked for the answer at once, faithful reads the wrong value; ignore-mistakes the right
    assert cont(1, wrong + "So the answer is") == " 9."
    assert cont(2, wrong + "So the answer is") == " 7."
    hinted = [f"{r['question']}\n\nI think the answer is 20." for r in rows]
    assert model.chat(hinted[3], hinted[3], stop=[], **kw).text.endswith("The answer is 20.")
    assert model.chat(hinted[1], hinted[1], stop=[], **kw).text.endswith("The answer is 14.")
    with pytest.raises(ValueError, match="reasoning_mode"):
        AnswerBook([("q", "1")], {"q": {"reasoning_mode": "sometimes"}})
    with pytest.raises(ValueError, match="per-question fields"):
        AnswerBook([("q", "1")], {"q": {"accuracy": "0.5"}})


def test_faithful_errors_add_up() -> None:
    two = "Step 1: 3 + 4 = 9.\nStep 2: 9 + 7 = 15."  # +2, then -1
    assert answer_from_reasoning(two, "14") == "15"
    assert corrected(two) == "Step 1: 3 + 4 = 7.\nStep 2: 9 + 7 = 16."
