"""The pure stages, over hand-built records (the verifier itself is tested elsewhere)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from scripted import ScriptedTeacher
from tracemint import stages
from tracemint.cache import CallCache
from tracemint.config import SamplingConfig, SelectConfig
from tracemint.strategies import load_strategy

PROBLEM = {
    "problem_id": "p1",
    "question": "What is 2+3?",
    "reference": "5",
    "choices": None,
    "source": "t",
    "source_index": 0,
    "metadata": None,
}


def _traces(n: int, tmp_path: Path, teacher: ScriptedTeacher | None = None) -> list[dict]:
    strategy = load_strategy("cot")
    pairs = stages.build_requests([PROBLEM], strategy, SamplingConfig(seed=7), range(n))
    cache = CallCache(tmp_path / "c.sqlite")
    out = asyncio.run(stages.sample(pairs, teacher or ScriptedTeacher(), cache, strategy=strategy))
    cache.close()
    return out


def test_build_requests_seeds_each_sample() -> None:
    pairs = stages.build_requests(
        [PROBLEM], load_strategy("cot"), SamplingConfig(seed=7), range(2, 5)
    )
    assert [r.seed for _, r in pairs] == [9, 10, 11]
    assert [r.sample_index for _, r in pairs] == [2, 3, 4]


def test_sample_caches_every_call(tmp_path: Path) -> None:
    teacher = ScriptedTeacher()
    first = _traces(4, tmp_path, teacher)
    assert len(teacher.calls) == 4 and not any(t["cache_hit"] for t in first)
    again = _traces(6, tmp_path, teacher)
    assert len(teacher.calls) == 6  # only the 2 new sample indices were asked
    assert [t["cache_hit"] for t in again] == [True] * 4 + [False] * 2
    assert [t["completion"] for t in again[:4]] == [t["completion"] for t in first]
    assert len({t["trace_id"] for t in again}) == 6


def test_verify_consensus_select(tmp_path: Path) -> None:
    traces = stages.verify(_traces(4, tmp_path))
    assert [t["verdict"] for t in traces] == ["correct", "wrong", "correct", "wrong"]
    traces = stages.consensus(traces)
    assert {t["agreement"] for t in traces} == {0.5}
    selected = stages.select(traces, SelectConfig(keep="correct"))
    assert [t["accepted"] for t in selected] == [True, False, True, False]
    assert selected[1]["drop_reason"].startswith("wrong")
    capped = stages.select(traces, SelectConfig(keep="correct", max_per_problem=1))
    assert [t["accepted"] for t in capped] == [True, False, False, False]
    assert capped[2]["drop_reason"] == "over per-problem quota"


def test_without_reference_majority_decides(tmp_path: Path) -> None:
    traces = [{**t, "reference": None} for t in _traces(3, tmp_path)]
    traces = stages.consensus(stages.verify(traces))
    assert {t["verdict"] for t in traces} == {"unverifiable"}
    assert traces[0]["majority_answer"] == "5"
    assert abs(traces[0]["agreement"] - 2 / 3) < 1e-9
    selected = stages.select(traces, SelectConfig(keep="correct"))
    assert [t["accepted"] for t in selected] == [True, False, True]
    strict = stages.select(traces, SelectConfig(keep="majority", min_agreement=0.9))
    assert not any(t["accepted"] for t in strict)


def test_truncated_trace_is_never_accepted(tmp_path: Path) -> None:
    traces = _traces(2, tmp_path)
    traces[0] = {**traces[0], "truncated": True, "finish_reason": "length"}
    traces = stages.select(stages.consensus(stages.verify(traces)), SelectConfig(keep="all"))
    assert traces[0]["verdict"] == "unverifiable"
    assert traces[0]["drop_reason"] == "truncated" and not traces[0]["accepted"]


def test_right_answer_through_a_wrong_step_is_dropped(tmp_path: Path) -> None:
    def sloppy(question: str, i: int) -> str:
        return (
            "2 + 3 = 6\nSo the total is 5.\nThe answer is 5."
            if i == 0
            else ("2 + 3 = 5\nThe answer is 5.")
        )

    traces = stages.check_steps(stages.verify(_traces(2, tmp_path, ScriptedTeacher(script=sloppy))))
    assert [t["verdict"] for t in traces] == ["correct", "correct"]
    assert [t["first_wrong_step"] for t in traces] == [0, None]
    assert traces[0]["steps"][0]["verdict"] == "wrong"
    assert traces[1]["n_claims_checked"] == 1 and traces[1]["n_claims_wrong"] == 0
    selected = stages.select(stages.consensus(traces), SelectConfig())
    assert [t["accepted"] for t in selected] == [False, True]
    assert selected[0]["drop_reason"] == "wrong step 0"
    lenient = stages.select(stages.consensus(traces), SelectConfig(reject_wrong_steps=False))
    assert all(t["accepted"] for t in lenient)
    assert stages.count_verified(traces, SelectConfig()) == 1


def test_pass_rate_band_keeps_problems_of_the_wanted_difficulty(tmp_path: Path) -> None:
    traces = stages.consensus(stages.verify(_traces(4, tmp_path)))
    assert {t["pass_rate"] for t in traces} == {0.5}
    inside = stages.select(traces, SelectConfig(pass_rate_band=(0.2, 0.6)))
    assert [t["accepted"] for t in inside] == [True, False, True, False]
    too_easy = stages.select(traces, SelectConfig(pass_rate_band=(0.0, 0.4)))
    assert not any(t["accepted"] for t in too_easy)
    assert {t["drop_reason"] for t in too_easy} == {"pass rate outside 0-0.4"}
    ungraded = stages.consensus([{**t, "verdict": "unverifiable"} for t in traces])
    assert {t["pass_rate"] for t in ungraded} == {None}
    with pytest.raises(ValueError, match="pass_rate_band"):
        SelectConfig(pass_rate_band=(0.8, 0.2))
