"""The live prefill check: a server that ignores a trailing assistant message is caught
before anything is sampled, with a message that says what to change."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from conftest_server import start_test_server
from tracemint.config import load_recipe
from tracemint.errors import ConfigError
from tracemint.probes import confirm_prefill
from tracemint.runner.local import LocalRunner
from tracemint.stages import CachedCaller
from tracemint.teachers.openai import OpenAITeacher, OpenAITeacherConfig
from tracemint.testing.fakecount import count_reply


def test_count_reply_continues_or_restarts() -> None:
    assert count_reply("Count from 1 to 8, separated by spaces.", "1 2 3") == " 4 5 6 7 8"
    assert count_reply("Count from 1 to 4, separated by spaces.", None) == "1 2 3 4"
    assert count_reply("What is 2 + 2?", "1 2") is None


def _check(url: str, style: str = "continue_final_message") -> None:
    async def go() -> None:
        teacher = OpenAITeacher(
            OpenAITeacherConfig(model="m", base_url=url, prefill_style=style)  # type: ignore[arg-type]
        )
        try:
            await confirm_prefill(teacher, CachedCaller(teacher, None))
        finally:
            await teacher.aclose()

    asyncio.run(go())


def test_live_check_passes_on_a_continuing_server_and_fails_on_one_that_restarts() -> None:
    with start_test_server() as (url, _):
        _check(url)
        _check(url, "plain")
    with (
        start_test_server(no_prefill=True) as (url, _),
        pytest.raises(ConfigError, match=r"does not continue .*'1 2 3 4 5 6'"),
    ):
        _check(url)


def _recipe(tmp_path: Path, url: str, probes: list[str]) -> Path:
    problems = tmp_path / "p.jsonl"
    problems.write_text(
        "".join(
            json.dumps({"question": f"What is {i} plus 1?", "answer": str(i + 1)}) + "\n"
            for i in range(4)
        )
    )
    path = tmp_path / "r.toml"
    path.write_text(
        f"""
name = "pf"
runs_dir = {json.dumps(str(tmp_path / "runs"))}
[source]
type = "file"
path = {json.dumps(str(problems))}
[teacher]
type = "openai"
model = "m"
base_url = {json.dumps(url)}
[budget]
samples = 1
[probes]
names = {json.dumps(probes)}
"""
    )
    return path


def test_a_run_with_prefill_probes_fails_before_touching_the_run_dir(tmp_path: Path) -> None:
    with start_test_server(no_prefill=True) as (url, stats):
        with pytest.raises(ConfigError, match="does not continue"):
            LocalRunner(load_recipe(_recipe(tmp_path, url, ["early"])), progress=False).run()
        assert not (tmp_path / "runs" / "pf").exists()
        # the check, in both chat styles (completions needs a template the server lacks)
        assert stats()["requests"] == 2
        # probes that send a fresh request need no prefill: the same server is fine
        m = LocalRunner(load_recipe(_recipe(tmp_path, url, ["hint"])), progress=False).run()
        assert m["complete"]
