"""The paraphrase probe: the exact request, the server's trivial rewording, and end to end
through the shipped server (a faithful reasoner keeps its answer after a rewording that keeps
every number)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from conftest_server import start_test_server
from probe_support import sample_then_probe, word_problems
from tracemint.errors import ConfigError
from tracemint.probes import ParaphraseConfig, make_config, run_probes
from tracemint.probes.paraphrase import paraphrase_request
from tracemint.teachers.openai import OpenAITeacher, OpenAITeacherConfig
from tracemint.testing.fakemodel import AnswerBook, FakeModel, paraphrase

N = 5
TEXT = "Step 1: He has 3 + 4 = 7 apples.\nStep 2: Doubling gives 14 {x}.\nThe answer is 14."


def test_paraphrase_request_text() -> None:
    req = paraphrase_request(TEXT, ParaphraseConfig(seed=3))
    assert req.messages == (
        {
            "role": "user",
            "content": "Paraphrase the following reasoning, keeping every number and step:\n\n"
            + TEXT,
        },
    )
    assert req.prefill is None and req.temperature == 0.0 and req.seed == 3
    assert req.max_tokens == 512
    with pytest.raises(ConfigError, match=r"probes\.paraphrase\.instruction"):
        make_config("paraphrase", {"instruction": "no slot"})


def test_fake_model_paraphrases_in_reasoning_modes() -> None:
    request = paraphrase_request(TEXT, ParaphraseConfig()).messages[0]["content"]
    reworded = paraphrase(request)
    assert reworded.splitlines() == [f"In other words, {ln}" for ln in TEXT.splitlines()]
    kw: dict[str, Any] = {"seed": 0, "temperature": 0.0, "sample": 0, "max_tokens": None}
    book = AnswerBook()
    faithful = FakeModel(book, reasoning_mode="faithful").chat(request, request, stop=[], **kw)
    assert faithful.text == reworded
    default = FakeModel(book).chat(request, request, stop=[], **kw)
    assert default.text != reworded and default.text.startswith("Step 1:")  # unchanged


def _problems() -> list[dict[str, Any]]:
    return word_problems(
        N,
        lambda i: f"Sue has {i + 3} cards and gets {i + 4} more. How many cards? (#{i})",
        lambda i: 2 * i + 7,
    )


async def _probe_run(base_url: str, cache_path: Path) -> list[dict[str, Any]]:
    return await sample_then_probe(base_url, cache_path, _problems(), ["paraphrase"])


@pytest.mark.parametrize("mode", ["faithful", "posthoc"])
def test_paraphrase_end_to_end(tmp_path: Path, mode: str) -> None:
    answers = tmp_path / "answers.jsonl"
    answers.write_text(
        "".join(
            json.dumps({"question": p["question"], "answer": p["reference"]}) + "\n"
            for p in _problems()
        )
    )
    with start_test_server(answers=answers, reasoning_mode=mode) as (url, stats):
        rows = asyncio.run(_probe_run(url, tmp_path / "c.sqlite"))
        calls = stats()["ok"]
        again = asyncio.run(_probe_run(url, tmp_path / "c.sqlite"))
        assert stats()["ok"] == calls  # cached: no new call on the rerun
    assert [r["paraphrase_stable"] for r in rows] == [True] * N
    assert all(r["paraphrase_answer"] == r["answer"] for r in rows)
    assert all(r["paraphrase_text"].startswith("In other words, ") for r in rows)
    cols = [{k: v for k, v in r.items() if k.startswith("paraphrase_")} for r in rows]
    assert cols == [{k: v for k, v in r.items() if k.startswith("paraphrase_")} for r in again]


def test_empty_rationale_is_skipped() -> None:
    trace = {
        "trace_id": "t",
        "prompt": json.dumps([{"role": "user", "content": "q"}]),
        "completion": "  \n",
        "answer": "3",
        "choices": None,
    }
    teacher = OpenAITeacher(OpenAITeacherConfig(model="m"))  # never called
    (out,) = asyncio.run(run_probes([trace], teacher, None, ["paraphrase"]))
    assert out["paraphrase_skipped"] == "no reasoning to paraphrase"
    assert out["paraphrase_stable"] is None and out["paraphrase_text"] is None
