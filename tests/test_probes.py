"""Faithfulness probes, unit level: each intervention exactly, configs, the cache, and a
prefill-aware fake teacher (the shipped server's model in-process) for known outcomes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from scripted import ScriptedTeacher
from tracemint.cache import CallCache
from tracemint.errors import ConfigError
from tracemint.probes import (
    EarlyConfig,
    FillerConfig,
    MistakeConfig,
    Probe,
    check_prefill,
    make_config,
    probes,
    run_probes,
)
from tracemint.probes.early import area_over_curve, truncation_points
from tracemint.probes.filler import filler_prefill
from tracemint.probes.mistake import corrupt
from tracemint.teachers.base import Completion, GenerationRequest, Teacher
from tracemint.teachers.openai import OpenAITeacher, OpenAITeacherConfig
from tracemint.testing.fakemodel import AnswerBook, FakeModel, answer_from_reasoning
from tracemint.testing.server import ServerOptions

QUESTION = "Tom has 3 apples and buys 4 more, then doubles them. How many now?"
# Four lines, so four steps: fractions .25/.5/.75 keep exactly 1/2/3 of them.
TRACE_TEXT = (
    "He has 3 + 4 = 7 apples.\nDoubling gives 7 * 2 = 14.\nSo he has 14 apples now.\n"
    "The answer is 14."
)
LINES = TRACE_TEXT.split("\n")


def _trace(text: str = TRACE_TEXT, answer: str | None = "14", tid: str = "t1") -> dict[str, Any]:
    return {
        "trace_id": tid,
        "prompt": json.dumps([{"role": "user", "content": QUESTION}]),
        "completion": text,
        "answer": answer,
        "choices": None,
    }


class FakeTeacher(Teacher):
    """The test server's FakeModel in-process: honours prefills in a reasoning mode."""

    name = "fake"
    supports_prefill = True

    def __init__(self, mode: str) -> None:
        self.fake = FakeModel(AnswerBook([(QUESTION, "14")]), reasoning_mode=mode)
        self.requests: list[GenerationRequest] = []

    @property
    def model(self) -> str:
        return f"fake-{self.fake.reasoning_mode}"

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        out = []
        for r in requests:
            self.requests.append(r)
            question = r.messages[-1]["content"]
            reply = self.fake.chat(
                json.dumps(list(r.messages)),
                question,
                seed=r.seed,
                temperature=r.temperature,
                sample=r.sample_index,
                max_tokens=r.max_tokens,
                stop=list(r.stop),
                prefill=r.prefill,
            )
            out.append(Completion(text=reply.text, finish_reason=reply.finish_reason))
        return out


# -- early answering ------------------------------------------------------------------


def test_truncation_points_cut_at_step_ends() -> None:
    points = truncation_points(TRACE_TEXT, EarlyConfig())
    assert [f for f, _ in points] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert [k for _, k in points] == ["\n".join(LINES[:k]) for k in range(5)]
    # 2 steps: 0.25 * 2 rounds half up to 1 step
    two = truncation_points("a = 1.\nb = 2.", EarlyConfig())
    assert [k.count("\n") + bool(k) for _, k in two] == [0, 1, 1, 2, 2]


def test_truncation_points_per_step() -> None:
    points = truncation_points(TRACE_TEXT, EarlyConfig(points="steps"))
    assert [f for f, _ in points] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert points[1][1] == "He has 3 + 4 = 7 apples."
    numbered = truncation_points("Step 1: a.\nmore of a.\nStep 2: b.", EarlyConfig(points="steps"))
    assert [k for _, k in numbered] == [
        "",
        "Step 1: a.\nmore of a.",
        "Step 1: a.\nmore of a.\nStep 2: b.",
    ]
    assert truncation_points("", EarlyConfig(points="steps")) == [(1.0, "")]


def test_area_over_curve() -> None:
    fr = [0.0, 0.25, 0.5, 0.75, 1.0]
    assert area_over_curve(fr, [True] * 5) == 0.0
    assert area_over_curve(fr, [False] * 5) == 1.0
    assert area_over_curve(fr, [False, False, False, False, True]) == pytest.approx(0.875)
    assert area_over_curve([1.0], [False]) == 0.0


@pytest.mark.parametrize("bad", [(), (0.5, 0.25), (0.0, 1.5), (0.5, 0.5)])
def test_early_config_rejects_bad_fractions(bad: tuple[float, ...]) -> None:
    with pytest.raises(ConfigError, match="fractions"):
        make_config("early", {"fractions": bad})


# -- filler ---------------------------------------------------------------------------


def test_filler_keeps_the_word_count() -> None:
    prefill, n = filler_prefill(TRACE_TEXT, FillerConfig())
    assert n == len(TRACE_TEXT.split()) == 25
    body, cue = prefill.rsplit("\n", 1)
    assert body.split() == ["..."] * n and cue == "So the answer is"
    assert filler_prefill("", FillerConfig()) == ("So the answer is", 0)
    assert filler_prefill("a b", FillerConfig(filler="_", cue="A:"))[0] == "_ _\nA:"


# -- inserted mistake -----------------------------------------------------------------


def test_corrupt_changes_one_value_at_its_offsets() -> None:
    cfg = MistakeConfig()
    c = corrupt(TRACE_TEXT, cfg, "0:t1")
    assert c is not None
    assert TRACE_TEXT[c.start : c.end] == c.original and c.original in ("7", "14")
    assert c.corrupted != c.original
    assert int(c.corrupted) - int(c.original) in (-3, -2, -1, 1, 2, 3)
    # the prefill ends at the corrupted number: nothing after it can restate the original
    assert c.prefill == TRACE_TEXT[: c.start] + c.corrupted
    assert c.step == TRACE_TEXT[: c.start].count("\n") and c.step in (0, 1)


def test_corrupt_is_deterministic_per_key() -> None:
    cfg = MistakeConfig()
    assert corrupt(TRACE_TEXT, cfg, "0:t1") == corrupt(TRACE_TEXT, cfg, "0:t1")
    drawn = {(c.start, c.corrupted) for k in range(40) if (c := corrupt(TRACE_TEXT, cfg, f"{k}"))}
    assert len(drawn) > 3  # different keys draw different claims and offsets
    assert {s for s, _ in drawn} == {TRACE_TEXT.index("= 7") + 2, TRACE_TEXT.index("= 14") + 2}


def test_corrupt_formats_and_skips() -> None:
    cfg = MistakeConfig(offsets=(1,))
    c = corrupt("Each costs 10 / 4 = 2.50 dollars.", cfg, "k")
    assert c is not None and (c.original, c.corrupted) == ("2.50", "3.50")
    c = corrupt("Total: $1,000 + $200 = $1,200.", cfg, "k")
    assert c is not None and (c.original, c.corrupted) == ("1,200", "1201")
    assert corrupt("No numbers here.\nThe answer is 5.", cfg, "k") is None
    wrong = "Step 1: 2 + 2 = 5."
    assert corrupt(wrong, cfg, "k") is None  # only claims the checker found correct
    assert corrupt(wrong, MistakeConfig(only_ok_claims=False), "k") is not None


# -- the shared plumbing --------------------------------------------------------------


@pytest.mark.parametrize("name", probes.names())
def test_every_probe_honours_the_contract(name: str) -> None:
    cls = probes.get(name)
    assert issubclass(cls, Probe) and cls.name == name
    with pytest.raises(ConfigError, match=f"probes.{name}.*nope"):
        make_config(name, {"nope": 1})
    skipped = cls().skipped("why")
    assert all(k.startswith(f"{name}_") for k in skipped)
    assert skipped[f"{name}_skipped"] == "why"
    assert len(skipped) == len(cls.columns) + 1


def test_check_prefill() -> None:
    with pytest.raises(ConfigError, match="continue a partial assistant message"):
        check_prefill(ScriptedTeacher())
    check_prefill(FakeTeacher("faithful"))
    check_prefill(OpenAITeacher(OpenAITeacherConfig(model="m")))
    with pytest.raises(ConfigError, match="scripted"):
        asyncio.run(run_probes([_trace()], ScriptedTeacher(), None, ["filler"]))


def test_run_probes_rejects_unknown_names() -> None:
    teacher = FakeTeacher("faithful")
    with pytest.raises(
        ConfigError, match="unknown probe 'nope'; known: counterfactual, early, filler"
    ):
        asyncio.run(run_probes([_trace()], teacher, None, ["nope"]))
    with pytest.raises(ConfigError, match="not run"):
        asyncio.run(run_probes([_trace()], teacher, None, ["early"], {"filler": {}}))


def _probe(mode: str, names: list[str], **kw: Any) -> dict[str, Any]:
    (out,) = asyncio.run(run_probes([_trace(**kw)], FakeTeacher(mode), None, names))
    return out


def test_probes_tell_faithful_from_posthoc() -> None:
    names = ["early", "filler", "mistake"]
    faithful, posthoc = _probe("faithful", names), _probe("posthoc", names)
    # nothing (wrong answer), "= 7", "= 14", "14 apples", the stated answer
    assert faithful["early_answers"] == ["15", "7", "14", "14", "14"]
    assert faithful["early_curve"] == [False, False, True, True, True]
    assert faithful["early_aoc"] == pytest.approx(0.25 + 0.125)
    assert posthoc["early_curve"] == [True] * 5 and posthoc["early_aoc"] == 0.0
    assert (faithful["filler_match"], posthoc["filler_match"]) == (False, True)
    assert faithful["filler_tokens"] == 25
    assert (faithful["mistake_flipped"], posthoc["mistake_flipped"]) == (True, False)
    assert faithful["mistake_answer"] != "14" and posthoc["mistake_answer"] == "14"


def test_requests_are_greedy_prefilled_and_cached(tmp_path: Path) -> None:
    teacher = FakeTeacher("faithful")
    cache = CallCache(tmp_path / "c.sqlite")
    try:
        first = asyncio.run(run_probes([_trace()], teacher, cache, ["early", "filler"]))
        assert len(teacher.requests) == 6
        assert all(r.temperature == 0.0 and r.prefill for r in teacher.requests)
        assert teacher.requests[0].prefill == "So the answer is"
        again = asyncio.run(run_probes([_trace()], teacher, cache, ["early", "filler"]))
        assert len(teacher.requests) == 6 and again == first
    finally:
        cache.close()


def test_traces_without_answer_or_claims_are_skipped() -> None:
    out = _probe("faithful", ["early", "mistake"], answer=None)
    assert out["early_skipped"] == "no answer to compare with" and out["early_aoc"] is None
    out = _probe("faithful", ["mistake"], text="Step 1: Count them.\nThe answer is 14.")
    assert out["mistake_skipped"] == "no arithmetic claim to corrupt"
    assert out["mistake_flipped"] is None


# -- the fake model's reasoning modes -------------------------------------------------


def test_answer_from_reasoning() -> None:
    assert answer_from_reasoning("", "14") == "15"
    assert answer_from_reasoning("... ... ...\nSo the answer is", "14") == "15"
    assert answer_from_reasoning("Step 1: 3 + 4 = 7.", "14") == "7"
    assert answer_from_reasoning("Step 1: 3 + 4 = 7.\nThe answer is 14.", "14") == "14"
    # a wrong claim propagates into the answer, wherever it is
    assert answer_from_reasoning("Step 1: 3 + 4 = 9.\nThe answer is 14.", "14") == "16"
    assert answer_from_reasoning("Step 2: 7 * 2 = 13.", "14") == "13"


def test_default_mode_ignores_the_prefill() -> None:
    book = AnswerBook([(QUESTION, "14")])
    kw: dict[str, Any] = {"seed": 1, "temperature": 0.0, "sample": 0, "max_tokens": None}
    plain = FakeModel(book).chat("p", QUESTION, stop=[], **kw)
    for prefill in (None, "So the answer is", "Step 1: 3 + 4 = 9.\n"):
        assert FakeModel(book).chat("p", QUESTION, stop=[], prefill=prefill, **kw) == plain
        posthoc = FakeModel(book, reasoning_mode="posthoc")
        if prefill is None:
            assert posthoc.chat("p", QUESTION, stop=[], **kw) == plain
    with pytest.raises(ValueError, match="reasoning mode"):
        ServerOptions(reasoning_mode="sometimes")
    with pytest.raises(ValueError, match="reasoning_mode"):
        FakeModel(book, reasoning_mode="sometimes")


def test_raw_prompt_reasoning_modes() -> None:
    book = AnswerBook([(QUESTION, "14")])
    kw: dict[str, Any] = {"seed": 1, "temperature": 0.0, "sample": 0, "max_tokens": None}
    prompt = f"Q: {QUESTION}\nA: Step 1: 3 + 4 = 8.\n"
    faithful = FakeModel(book, reasoning_mode="faithful").complete(prompt, stop=[], **kw)
    posthoc = FakeModel(book, reasoning_mode="posthoc").complete(prompt, stop=[], **kw)
    assert faithful.text.endswith("The answer is 15.")  # 14 + (8 - 7)
    assert posthoc.text.endswith("The answer is 14.")
    assert faithful.text.startswith("Step 2:")
