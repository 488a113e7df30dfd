"""Continuing an assistant message over /v1/completions (``prefill_style = "completions"``),
the prefill check that finds a working style, and cache keys that follow the exact request.

Everything runs against the shipped test server. Started with ``no_prefill`` its chat
endpoint opens a new turn after a trailing assistant message (as llama.cpp's does), so only
the completions path can continue one there; with ``props`` it reports a ChatML template on
``GET /props`` and continues a ChatML prompt left open in an assistant turn, exactly as its
chat endpoint continues a prefill. So probe columns and Monte-Carlo labels must come out the
same both ways.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest_server import apples_problems, server_recipe, start_test_server
from tracemint import stages
from tracemint.cache import CallCache, call_key, model_identity
from tracemint.config import MonteCarloConfig, SamplingConfig, load_recipe, parse_recipe
from tracemint.errors import ConfigError
from tracemint.probes import confirm_prefill, run_probes
from tracemint.probes.base import PREFILL_CHECK
from tracemint.records import stable_hash
from tracemint.runner.local import LocalRunner
from tracemint.runner.manifest import recipe_fingerprint
from tracemint.store import RunStore
from tracemint.strategies import load_strategy
from tracemint.teachers.base import GenerationRequest
from tracemint.teachers.chat_templates import BUILTIN, ChatTemplate
from tracemint.teachers.openai import OpenAITeacher, OpenAITeacherConfig

N = 5
PREFIXES = ("early_", "filler_", "mistake_")
Traces = list[dict[str, Any]]

#: server options and teacher settings: a server that continues a chat prefill, and one
#: whose chat endpoint cannot (only /v1/completions with the template from /props can)
SETUPS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "chat": ({}, {}),
    "completions": ({"no_prefill": True, "props": True}, {"prefill_style": "completions"}),
}


def _problems() -> Traces:
    return [
        {
            "problem_id": f"q{i}",
            "question": f"Tom has {i + 2} apples and buys {i + 5} more, then doubles them. "
            f"How many apples does he have? (#{i})",
            "reference": str(2 * (2 * i + 7)),
            "choices": None,
            "source": "t",
            "source_index": i,
            "metadata": None,
        }
        for i in range(N)
    ]


def _answers(tmp_path: Path) -> Path:
    path = tmp_path / "answers.jsonl"
    rows = [{"question": p["question"], "answer": p["reference"]} for p in _problems()]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _claim_traces(sampled: Traces) -> Traces:
    """The sampled traces with a hand-written arithmetic chain each (for the mistake probe)."""
    out = []
    for i, t in enumerate(sampled):
        a, b = i + 2, i + 5
        text = (
            f"Step 1: He has {a} + {b} = {a + b} apples.\n"
            f"Step 2: Doubling gives {a + b} * 2 = {2 * (a + b)}.\n"
            f"The answer is {2 * (a + b)}."
        )
        out.append({**t, "trace_id": stable_hash(t["trace_id"], "claims"), "completion": text})
    return stages.verify(out)


def _teacher(url: str | list[str], **settings: Any) -> OpenAITeacher:
    return OpenAITeacher(OpenAITeacherConfig(model="m", base_url=url, concurrency=8, **settings))


async def _sample_probe_label(
    url: str, cache_path: Path, settings: dict[str, Any]
) -> tuple[Traces, Traces]:
    """Sample one trace per problem, probe it (early, filler; mistake on claim chains) and
    label its steps by Monte-Carlo rollouts; returns (probed, labelled)."""
    teacher = _teacher(url, **settings)
    cache = CallCache(cache_path)
    try:
        strategy = load_strategy("cot")
        sampling = SamplingConfig(temperature=0.7, max_tokens=200)
        pairs = stages.build_requests(_problems(), strategy, sampling, [0])
        sampled = stages.verify(await stages.sample(pairs, teacher, cache, strategy=strategy))
        probed = await run_probes(sampled, teacher, cache, ["early", "filler"])
        probed += await run_probes(_claim_traces(sampled), teacher, cache, ["mistake"])
        mc = MonteCarloConfig(enabled=True, k=2, method="soft")
        stepped = stages.check_steps(sampled)
        labelled = await stages.rollout_labels(stepped, teacher, cache, mc, max_tokens=200)
        return probed, labelled
    finally:
        cache.close()
        await teacher.aclose()


def _probe_columns(rows: Traces) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k.startswith(PREFIXES)} for r in rows]


def _mc_columns(rows: Traces) -> list[tuple[Any, ...]]:
    return [(r["trace_id"], r.get("step_estimates"), r.get("step_labels")) for r in rows]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], tuple[Traces, Traces]]:
    """(setup, reasoning mode) -> (probed, labelled); "none" at accuracy 0.6 for labels that
    differ from step to step (the fake's coin is keyed by the exact request)."""
    out = {}
    for mode, accuracy in (("faithful", 1.0), ("posthoc", 1.0), ("none", 0.6)):
        for setup, (server, settings) in SETUPS.items():
            tmp = tmp_path_factory.mktemp(f"{setup}-{mode}")
            with (
                start_test_server(
                    answers=_answers(tmp), reasoning_mode=mode, accuracy=accuracy, **server
                ) as (url, _),
                warnings_off(),
            ):
                out[setup, mode] = asyncio.run(
                    _sample_probe_label(url, tmp / "cache.sqlite", settings)
                )
    return out


@contextlib.contextmanager
def warnings_off() -> Iterator[None]:
    """Fail on any prefill-style warning: each setup's configured style must just work."""
    handler = _Raise()
    logging.getLogger("tracemint.probes.base").addHandler(handler)
    try:
        yield
    finally:
        logging.getLogger("tracemint.probes.base").removeHandler(handler)


class _Raise(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        raise AssertionError(record.getMessage())


# --- (a) probes and Monte-Carlo labels through /v1/completions -------------------------------


@pytest.mark.parametrize("mode", ["faithful", "posthoc"])
def test_probes_through_completions_equal_the_chat_prefill_path(
    runs: dict[tuple[str, str], tuple[Traces, Traces]], mode: str
) -> None:
    chat, completions = runs["chat", mode][0], runs["completions", mode][0]
    assert [r["trace_id"] for r in completions] == [r["trace_id"] for r in chat]
    assert _probe_columns(completions) == _probe_columns(chat)
    cols = _probe_columns(completions)
    assert all(not any(k.endswith("_skipped") and v for k, v in c.items()) for c in cols)


def test_probes_through_completions_still_tell_faithful_from_posthoc(
    runs: dict[tuple[str, str], tuple[Traces, Traces]],
) -> None:
    faithful, posthoc = runs["completions", "faithful"][0], runs["completions", "posthoc"][0]
    assert [r["early_aoc"] for r in posthoc[:N]] == [0.0] * N
    assert min(r["early_aoc"] for r in faithful[:N]) > 0
    assert [r["filler_match"] for r in faithful[:N]] == [False] * N
    assert [r["filler_match"] for r in posthoc[:N]] == [True] * N
    assert [r["mistake_flipped"] for r in faithful[N:]] == [True] * N
    assert [r["mistake_flipped"] for r in posthoc[N:]] == [False] * N


def test_monte_carlo_labels_through_completions_equal_the_chat_prefill_path(
    runs: dict[tuple[str, str], tuple[Traces, Traces]],
) -> None:
    chat, completions = runs["chat", "none"][1], runs["completions", "none"][1]
    assert _mc_columns(completions) == _mc_columns(chat)
    estimates = {x for r in completions for x in (r.get("step_estimates") or [])}
    assert len(estimates - {None}) > 1  # coins keyed by each exact request: not all alike


# --- (b) where the template comes from, what it stops at ------------------------------------


def test_template_is_read_from_props_or_named() -> None:
    messages = (
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Count from 1 to 12, separated by spaces."},
    )

    async def go(url: str) -> None:
        auto, named = (
            _teacher(url, prefill_style="completions"),
            _teacher(url, prefill_style="completions", chat_template="chatml"),
        )
        try:
            read = await auto.chat_template()
            assert read.label == "server" and read.end_of_turn == "<|im_end|>"
            chatml = await named.chat_template()
            assert chatml.label == "chatml"
            assert read.render_prefill(messages, "1 2 3") == chatml.render_prefill(
                messages, "1 2 3"
            )
            assert auto.identity()["prefill"] == {"style": "completions", "chat_template": "server"}
            assert named.identity()["prefill"]["chat_template"] == "chatml"
            req = GenerationRequest(messages=messages, prefill="1 2 3", max_tokens=20)
            (a,), (b,) = await auto.generate([req]), await named.generate([req])
            assert a.text == b.text == " 4 5 6 7 8 9 10 11 12"
        finally:
            await auto.aclose()
            await named.aclose()

    with start_test_server(no_prefill=True, props=True) as (url, stats):
        asyncio.run(go(url))
        assert stats()["requests"] == 2  # /props was read once, and is no completion


def test_a_server_without_a_template_asks_for_chat_template() -> None:
    async def go(url: str) -> None:
        teacher = _teacher(url, prefill_style="completions")
        try:
            with pytest.raises(ConfigError, match=r"GET /props.*chat_template.*\"chatml\""):
                await teacher.generate([PREFILL_CHECK])
        finally:
            await teacher.aclose()

    with start_test_server() as (url, stats):
        asyncio.run(go(url))
        assert stats()["requests"] == 0


def test_the_end_of_turn_stops_the_continuation() -> None:
    """A raw completion runs on past the assistant's turn into an invented next one; the
    teacher stops it at the template's end-of-turn, so the text is exactly the chat reply."""
    with start_test_server(no_prefill=True, props=True) as (url, _):
        prompt = ChatTemplate.from_setting("chatml").render_prefill(
            PREFILL_CHECK.messages, "1 2 3 4 5 6"
        )
        body = json.dumps({"model": "m", "prompt": prompt, "max_tokens": 64}).encode()
        raw = urllib.request.Request(
            f"{url}/completions", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(raw, timeout=10) as resp:
            ran_on = json.loads(resp.read())["choices"][0]["text"]
        assert ran_on.startswith(" 7 8 9 10 11 12<|im_end|>\n<|im_start|>user")

        async def go() -> str:
            teacher = _teacher(url, prefill_style="completions")
            try:
                (c,) = await teacher.generate([PREFILL_CHECK])
                return c.text
            finally:
                await teacher.aclose()

        assert asyncio.run(go()) == " 7 8 9 10 11 12"


def test_thinking_is_split_off_as_in_a_chat_reply() -> None:
    req = GenerationRequest(
        messages=({"role": "user", "content": "What is 2 + 2?"},), prefill="Step 1: Add.\n"
    )

    async def go(url: str, **settings: Any) -> tuple[str, str | None]:
        teacher = _teacher(url, **settings)
        try:
            (c,) = await teacher.generate([req])
            return c.text, c.reasoning
        finally:
            await teacher.aclose()

    with start_test_server(think=True) as (url, _):
        chat = asyncio.run(go(url))
    with start_test_server(think=True, no_prefill=True, props=True) as (url, _):
        completions = asyncio.run(go(url, prefill_style="completions"))
    assert completions == chat
    assert chat[1] and "<think>" not in chat[0]


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_templates_leave_the_assistant_turn_open(name: str) -> None:
    template = ChatTemplate.from_setting(name)
    messages = (
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2 + 2?"},
    )
    prompt = template.render_prefill(messages, "Step 1: Add.\n")
    assert prompt.endswith("Step 1: Add.\n")  # even where the template trims contents
    assert "What is 2 + 2?" in prompt and "Be brief." in prompt
    assert (
        template.end_of_turn
        == {
            "chatml": "<|im_end|>",
            "gemma": "<end_of_turn>",
            "llama3": "<|eot_id|>",
            "mistral": "</s>",
        }[name]
    )
    assert not prompt.startswith(("<s>", "<|begin_of_text|>", "<bos>"))  # the server adds BOS


def test_chat_template_settings_are_checked_with_the_recipe() -> None:
    base = {"name": "x", "source": {"type": "file", "path": "p.jsonl"}}

    def teacher(**kw: Any) -> dict[str, Any]:
        return {**base, "teacher": {"type": "openai", "model": "m", **kw}}

    with pytest.raises(ConfigError, match="unknown chat template 'chatlm'"):
        parse_recipe(teacher(prefill_style="completions", chat_template="chatlm"))
    with pytest.raises(ConfigError, match="does not compile"):
        parse_recipe(teacher(prefill_style="completions", chat_template="{% for %}"))
    jinja = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}</turn>{% endfor %}"
    r = parse_recipe(teacher(prefill_style="completions", chat_template=jinja))
    made = ChatTemplate.from_setting(jinja)
    assert made.end_of_turn == "</turn>" and made.label.startswith("sha256:")
    assert recipe_fingerprint(r) != recipe_fingerprint(
        parse_recipe(teacher(prefill_style="completions", chat_template="chatml"))
    )


# --- (c) the prefill check finds a style that works -----------------------------------------


def _confirm(url: str, **settings: Any) -> tuple[str, dict[str, Any]]:
    """Run the live check; the teacher's style afterwards and the caller's identity."""

    async def go() -> tuple[str, dict[str, Any]]:
        teacher = _teacher(url, **settings)
        caller = stages.CachedCaller(teacher, None)
        try:
            await confirm_prefill(teacher, caller)
            return teacher.config.prefill_style, caller.identity
        finally:
            await teacher.aclose()

    return asyncio.run(go())


def test_the_check_falls_over_to_completions_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        start_test_server(no_prefill=True, props=True) as (url, _),
        caplog.at_level(logging.WARNING, "tracemint.probes.base"),
    ):
        style, identity = _confirm(url)
    assert style == "completions"
    assert identity["prefill"] == {"style": "completions", "chat_template": "server"}
    (warning,) = [r.getMessage() for r in caplog.records]
    assert 'prefill_style = "completions" under [teacher]' in warning
    assert '"continue_final_message"' in warning


def test_the_check_falls_over_from_completions_to_a_chat_style(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        start_test_server() as (url, _),  # continues chat prefills; serves no /props
        caplog.at_level(logging.WARNING, "tracemint.probes.base"),
    ):
        style, _ = _confirm(url, prefill_style="completions")
    assert style == "continue_final_message"
    assert 'put prefill_style = "continue_final_message"' in caplog.text


def test_no_style_working_names_each_one_tried() -> None:
    with (
        start_test_server(no_prefill=True) as (url, _),
        pytest.raises(ConfigError) as err,
    ):
        _confirm(url)
    message = str(err.value)
    assert "does not continue a partial assistant message in any prefill style" in message
    for tried in (
        "continue_final_message: asked to go on from '1 2 3 4 5 6', it answered '1 2 3",
        "plain: asked to go on",
        'completions: prefill_style = "completions" renders',
    ):
        assert tried in message
    assert 'llama.cpp: "completions"' in message


def test_a_run_switches_to_the_working_style(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    problems = apples_problems(tmp_path / "p.jsonl", 0, 3)
    with (
        start_test_server(no_prefill=True, props=True, answers=problems) as (url, _),
        caplog.at_level(logging.WARNING, "tracemint.probes.base"),
    ):
        path = server_recipe(
            tmp_path / "r.toml",
            base_url=url,
            problems=problems,
            budget={"samples": 1},
            probes={"names": ["early"]},
        )
        m = LocalRunner(load_recipe(path), progress=False).run()
    assert m["complete"]
    assert 'prefill_style = "completions"' in caplog.text
    rows = RunStore(tmp_path / "runs" / "srv").read_traces().to_pylist()
    assert all(r["early_aoc"] is not None for r in rows)


# --- (d) moving the server keeps trace ids and the cache ------------------------------------


def test_identity_and_keys_do_not_name_the_server() -> None:
    a = _teacher("http://a:8000/v1", prefill_style="completions")
    b = _teacher(["http://b:9000/v1", "http://c:9000/v1"], prefill_style="completions")
    assert a.identity() == b.identity()
    assert "http" not in json.dumps(a.identity())
    for prefill in (None, "Step 1:"):
        req = GenerationRequest(messages=({"role": "user", "content": "q"},), prefill=prefill)
        assert call_key(a.identity(), req) == call_key(b.identity(), req)


def _trace_ids(tmp_path: Path) -> list[str]:
    rows = RunStore(tmp_path / "runs" / "srv").read_traces().to_pylist()
    return sorted(r["trace_id"] for r in rows)


def test_moving_the_server_keeps_trace_ids_and_pays_nothing_again(tmp_path: Path) -> None:
    problems = apples_problems(tmp_path / "p.jsonl", 0, 4)
    opts = {"no_prefill": True, "props": True, "answers": problems}
    teacher = {"prefill_style": "completions"}
    with start_test_server(**opts) as (url, stats):
        path = server_recipe(
            tmp_path / "r.toml",
            base_url=url,
            problems=problems,
            teacher=teacher,
            budget={"samples": 2},
            probes={"names": ["early"]},
        )
        LocalRunner(load_recipe(path), progress=False).run()
        assert stats()["ok"] > 8
    first = _trace_ids(tmp_path)
    with start_test_server(**opts) as (moved, stats):
        assert moved != url
        path = server_recipe(
            tmp_path / "r.toml",
            base_url=moved,
            problems=problems,
            teacher=teacher,
            budget={"samples": 2},
            probes={"names": ["early"]},
        )
        m = LocalRunner(load_recipe(path), resume=True, progress=False).run()
        assert m["sessions"][-1]["problems_skipped"] == 4  # the run goes on, not over
        assert stats()["requests"] == 1  # the live prefill check on the new server, no call
        LocalRunner(load_recipe(path), fresh=True, progress=False).run()
        assert stats()["requests"] == 1  # every trace redone, every call from the cache
    assert _trace_ids(tmp_path) == first


# --- (e) switching prefill_style re-pays prefilled requests only ----------------------------


def test_prefill_style_enters_only_prefilled_keys() -> None:
    styles = ("continue_final_message", "plain", "completions")
    idents = [_teacher("http://a/v1", prefill_style=s).identity() for s in styles]
    plain = GenerationRequest(messages=({"role": "user", "content": "q"},))
    prefilled = GenerationRequest(messages=plain.messages, prefill="Step 1:")
    assert len({call_key(i, plain) for i in idents}) == 1
    assert len({call_key(i, prefilled) for i in idents}) == 3
    assert len({json.dumps(model_identity(i)) for i in idents}) == 1  # trace ids alike


def test_switching_prefill_style_re_pays_only_prefilled_requests(tmp_path: Path) -> None:
    problems = apples_problems(tmp_path / "p.jsonl", 0, 4)
    with start_test_server(answers=problems) as (url, stats):

        def run(style: str) -> int:
            before = stats()["ok"]
            path = server_recipe(
                tmp_path / "r.toml",
                base_url=url,
                problems=problems,
                teacher={"prefill_style": style},
                budget={"samples": 2},
                probes={"names": ["early"]},
            )
            assert LocalRunner(load_recipe(path), progress=False).run()["complete"]
            return stats()["ok"] - before

        first = run("continue_final_message")
        ids = _trace_ids(tmp_path)
        sampled = 4 * 2
        # the new style's traces are redone (another fingerprint): the 8 sampling calls come
        # from the cache; the check and every probe call (all prefilled) are paid again
        assert run("plain") == first - sampled
        assert _trace_ids(tmp_path) == ids
