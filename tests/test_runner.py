"""The local runner over a real file source, the real cache and real Parquet shards."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import scripted
from tracemint.config import parse_recipe
from tracemint.errors import RunError, SourceError, TeacherError
from tracemint.runner.local import LocalRunner
from tracemint.store import RunStore


def recipe(tmp_path: Path, source: Path, **over: dict) -> object:
    data = {
        "name": "t",
        "runs_dir": str(tmp_path / "runs"),
        "source": {"type": "file", "path": str(source), "id_field": "id"},
        "teacher": {"type": "scripted"},
        "budget": {"samples": 4},
        "run": {"shard_rows": 5},
    }
    for k, v in over.items():
        data[k] = {**data.get(k, {}), **v}
    return parse_recipe(data)


def run(r: object, **kw: object) -> dict:
    return LocalRunner(r, progress=False, **kw).run()  # type: ignore[arg-type]


def test_run_writes_shards_and_manifest(tmp_path: Path, addition_problems: Path) -> None:
    m = run(recipe(tmp_path, addition_problems))
    store = RunStore(tmp_path / "runs" / "t")
    table = store.read_traces()
    assert table.num_rows == 24
    assert len(store.shards()) > 1  # shard_rows=5 forces several shards
    assert m["complete"] and m["counts"]["problems"] == 6
    assert m["counts"]["verdicts"] == {"correct": 12, "wrong": 12}
    assert m["counts"]["accepted"] == 12
    assert m["sessions"][0]["new_calls"] == 24
    row = table.slice(0, 1).to_pylist()[0]
    for col in ("teacher", "model", "template_hash", "sampling", "verifier_version", "source"):
        assert row[col], col  # provenance on every row
    assert json.loads(row["sampling"])["max_tokens"] == 512
    # every problem's traces live in exactly one shard
    owners: dict[str, set[str]] = {}
    for p in store.shards():
        for pid in pq.read_table(p, columns=["problem_id"]).column(0).to_pylist():
            owners.setdefault(pid, set()).add(p.name)
    assert all(len(v) == 1 for v in owners.values())


def test_rerun_needs_resume_and_repeats_nothing(tmp_path: Path, addition_problems: Path) -> None:
    r = recipe(tmp_path, addition_problems)
    run(r)
    with pytest.raises(RunError, match="--resume"):
        run(r)
    m = run(r, resume=True)
    assert m["sessions"][-1]["new_calls"] == 0
    assert m["sessions"][-1]["problems_skipped"] == 6
    assert RunStore(tmp_path / "runs" / "t").read_traces().num_rows == 24


def test_more_samples_only_makes_the_new_calls(tmp_path: Path, addition_problems: Path) -> None:
    run(recipe(tmp_path, addition_problems))
    m = run(recipe(tmp_path, addition_problems, budget={"samples": 8}))
    last = m["sessions"][-1]
    assert (last["new_calls"], last["cached_calls"]) == (24, 24)
    assert m["counts"]["traces"] == 48


def test_rejection_sampling_stops_at_quota(tmp_path: Path, addition_problems: Path) -> None:
    r = recipe(
        tmp_path, addition_problems, budget={"k_verified": 2, "round_size": 1, "max_samples": 10}
    )
    m = run(r)
    # scripted teacher: even samples right, odd wrong -> 3 draws give 2 correct
    assert m["counts"]["traces"] == 18
    rounds = RunStore(tmp_path / "runs" / "t").read_traces(columns=["round"]).column(0)
    assert sorted(set(rounds.to_pylist())) == [0, 1, 2]


def test_teacher_failure_keeps_finished_problems(tmp_path: Path, addition_problems: Path) -> None:
    calls = {"n": 0}

    def flaky(question: str, i: int) -> str:
        calls["n"] += 1
        if "5+50" in question:
            raise TeacherError("server said 400")
        return scripted.default_script(question, i)

    r = recipe(tmp_path, addition_problems, run={"max_inflight_problems": 1})
    with pytest.raises(TeacherError):
        run(r, teacher=scripted.ScriptedTeacher(script=flaky))
    store = RunStore(tmp_path / "runs" / "t")
    assert store.done_problem_ids() == {f"p{i}" for i in range(5)}
    assert not store.read_manifest()["complete"]
    teacher = scripted.ScriptedTeacher()
    m = run(r, resume=True, teacher=teacher)
    assert m["complete"] and m["counts"]["problems"] == 6
    assert len(teacher.calls) == 4  # only the failed problem's calls


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    src = tmp_path / "dup.jsonl"
    src.write_text('{"id": "a", "question": "What is 1+1?", "answer": "2"}\n' * 2)
    with pytest.raises(SourceError, match=r"line 2.*duplicate problem_id 'a'"):
        run(recipe(tmp_path, src))


def _program(question: str, i: int) -> str:
    a, b = (int(x) for x in question.split("What is ")[1].split("?")[0].split("+"))
    body = f"return {a} + {b}" if i % 2 == 0 else "return 1 / 0"
    return f"```python\ndef solution():\n    # add the two numbers\n    {body}\n```"


def test_program_aided_strategy_runs_programs_in_the_sandbox(
    tmp_path: Path, addition_problems: Path
) -> None:
    r = recipe(
        tmp_path,
        addition_problems,
        strategy={"name": "pal", "answer_from": "program"},
        budget={"samples": 2},
    )
    m = run(r, teacher=scripted.ScriptedTeacher(script=_program))
    assert m["counts"]["verdicts"] == {"correct": 6, "unverifiable": 6}
    t = RunStore(tmp_path / "runs" / "t").read_traces().to_pylist()
    ok = [x for x in t if x["sample_index"] == 0]
    bad = [x for x in t if x["sample_index"] == 1]
    assert all(x["program_status"] == "ok" and x["answer"] == x["reference"] for x in ok)
    assert all(x["program_status"] == "error" for x in bad)
    assert all("ZeroDivisionError" in x["verdict_reason"] for x in bad)
    assert all(x["steps"] is None for x in t)  # programs are not step-checked as prose


def test_cross_check_records_agreement(tmp_path: Path, addition_problems: Path) -> None:
    def both(question: str, i: int) -> str:
        if "solution()" in question:
            return _program(question, 0)
        return scripted.default_script(question, i)

    r = recipe(tmp_path, addition_problems, strategy={"cross_check": "pal"})
    run(r, teacher=scripted.ScriptedTeacher(script=both))
    t = RunStore(tmp_path / "runs" / "t").read_traces().to_pylist()
    assert len(t) == 24  # the program is a check, not a trace
    for x in t:
        assert x["cross_check_agrees"] is (x["verdict"] == "correct")
