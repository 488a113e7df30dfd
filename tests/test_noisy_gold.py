"""The controlled noisy teacher: gold passes every check, the stated fraction of steps slips,
and every slip is one tracemint's verifiers catch (silent slips only by the step checker)."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest
from pydantic import ValidationError

from tracemint.config import parse_recipe
from tracemint.errors import ConfigError, TeacherError
from tracemint.runner.local import LocalRunner
from tracemint.store import RunStore
from tracemint.synth.base import Family, Item, create_family, generate
from tracemint.synth.records import item_row
from tracemint.teachers.base import GenerationRequest
from tracemint.teachers.noisy_gold import (
    NoisyGoldTeacher,
    NoisyGoldTeacherConfig,
    checkable_claims,
    corrupt,
)
from tracemint.verify.arithmetic import check_steps

FAMILIES = [
    ("modular", {"max_modulus": 7, "difficulty": 2}),
    ("word_problems", {"max_start": 20, "max_factor": 5, "difficulty": 2}),
]


def _items(name: str, options: dict[str, object], n: int = 150) -> tuple[Family, list[Item]]:
    family = create_family(name, options)
    return family, list(generate(family, n, seed=3))


def _answer(text: str) -> str:
    last = text.strip().split("\n")[-1]
    assert last.startswith("The answer is ")
    return last.removeprefix("The answer is ").removesuffix(".")


def _problems_file(tmp_path: Path, name: str, options: dict[str, object], n: int) -> Path:
    family, items = _items(name, options, n)
    path = tmp_path / f"{name}.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i, item in enumerate(items):
            f.write(json.dumps(item_row(family, item, i, 3)) + "\n")
    return path


@pytest.mark.parametrize(("name", "options"), FAMILIES)
def test_gold_rationales_pass_the_answer_and_step_checks(
    name: str, options: dict[str, object]
) -> None:
    family, items = _items(name, options)
    for i, item in enumerate(items):
        c = corrupt(item.rationale, random.Random(i), noise=0.0, propagate=0.5)
        assert c.text == item.rationale and not c.slipped
        assert c.checkable_steps, "every gold rationale has checkable steps"
        check = check_steps(c.text)
        assert check.first_wrong_step is None and check.n_checked > 0
        assert family.check(_answer(c.text), item)


@pytest.mark.parametrize(("name", "options"), FAMILIES)
def test_the_stated_fraction_of_checkable_steps_slips(
    name: str, options: dict[str, object]
) -> None:
    _, items = _items(name, options, 300)
    for noise in (0.1, 0.3, 0.6):
        slipped = eligible = 0
        for i, item in enumerate(items):
            c = corrupt(item.rationale, random.Random(i), noise=noise, propagate=0.5)
            slipped += len(c.slipped)
            eligible += len(c.checkable_steps)
            assert set(c.slipped) <= set(c.checkable_steps)
        # ~900 Bernoulli(noise) draws: 0.05 is over 3 standard deviations
        assert abs(slipped / eligible - noise) < 0.05, (noise, slipped / eligible)


@pytest.mark.parametrize(("name", "options"), FAMILIES)
def test_every_slip_is_caught_by_check_steps_and_only_carried_ones_by_the_answer(
    name: str, options: dict[str, object]
) -> None:
    family, items = _items(name, options, 300)
    silent = carried = carried_wrong = 0
    for i, item in enumerate(items):
        c = corrupt(item.rationale, random.Random(i), noise=0.4, propagate=0.5)
        if not c.slipped:
            continue
        check = check_steps(c.text)
        assert check.first_wrong_step == c.slipped[0], c.text  # the first slip, located
        right = family.check(_answer(c.text), item)
        if c.propagated:
            carried += 1
            carried_wrong += not right
        else:
            silent += 1
            assert right, c.text  # a silent slip leaves the final answer right
    assert silent > 20 and carried > 20
    # a carried slip changes the answer unless a modulus maps it back (rare)
    assert carried_wrong / carried > 0.75


def test_carried_slips_keep_later_claims_consistent() -> None:
    _, items = _items("modular", {"max_modulus": 7, "difficulty": 3})
    for i, item in enumerate(items):
        c = corrupt(item.rationale, random.Random(i), noise=0.3, propagate=1.0)
        check = check_steps(c.text)
        # only the slipped lines hold wrong claims: later lines recompute from the slip
        wrong = [s.step.index for s in check.steps if s.verdict == "wrong"]
        assert wrong == sorted(set(c.slipped))


def test_checkable_claims_are_the_checker_verified_lines() -> None:
    rationale = "48 mod 7 = 6.\n6 + 13 = 19, and 19 mod 7 = 5.\nThe answer is 5."
    claims = checkable_claims(rationale)
    assert list(claims) == [1]  # "48 mod 7 = 6" is not a claim the checker reads


def test_teacher_is_deterministic_per_sample_and_answer_only(tmp_path: Path) -> None:
    path = _problems_file(tmp_path, "modular", {"max_modulus": 7, "difficulty": 2}, 20)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    teacher = NoisyGoldTeacher(NoisyGoldTeacherConfig(problems=path, noise=0.5, seed=1))

    def request(question: str, i: int) -> GenerationRequest:
        prompt = f"{question}\nThink step by step, then finish with a line of the form ..."
        return GenerationRequest(({"role": "user", "content": prompt},), sample_index=i)

    requests = [request(r["question"], i) for r in rows for i in range(3)]
    first = asyncio.run(teacher.generate(requests))
    again = asyncio.run(teacher.generate(requests))
    assert [c.text for c in first] == [c.text for c in again]
    texts = [c.text for c in first]
    assert len(set(texts)) > len(rows)  # samples of one problem differ
    plain = GenerationRequest(({"role": "user", "content": rows[0]["question"]},))
    gold = NoisyGoldTeacher(NoisyGoldTeacherConfig(problems=path))
    [bare] = asyncio.run(gold.generate([plain]))  # any template: the bare question too
    assert bare.text == rows[0]["rationale"]

    short = NoisyGoldTeacher(NoisyGoldTeacherConfig(problems=path, answer_only=True))
    [only] = asyncio.run(short.generate([request(rows[0]["question"], 0)]))
    assert only.text == f"The answer is {rows[0]['answer']}."
    assert teacher.identity() != short.identity()


def test_teacher_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        NoisyGoldTeacher(NoisyGoldTeacherConfig(problems=tmp_path / "missing.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "1"}\n')
    with pytest.raises(ConfigError, match=r"bad.jsonl:1: missing field 'rationale'"):
        NoisyGoldTeacher(NoisyGoldTeacherConfig(problems=bad))
    with pytest.raises(ValidationError):
        NoisyGoldTeacherConfig(problems=bad, noise=1.5)
    path = _problems_file(tmp_path, "modular", {"max_modulus": 7}, 3)
    teacher = NoisyGoldTeacher(NoisyGoldTeacherConfig(problems=path))
    with pytest.raises(TeacherError, match="question not in"):
        asyncio.run(teacher.generate([GenerationRequest(({"role": "user", "content": "What?"},))]))


def test_minted_through_the_pipeline_step_verification_drops_every_slip(tmp_path: Path) -> None:
    path = _problems_file(tmp_path, "word_problems", FAMILIES[1][1], 30)
    recipe = parse_recipe(
        {
            "name": "noisy",
            "runs_dir": str(tmp_path / "runs"),
            "source": {"type": "file", "path": str(path), "id_field": "id"},
            "teacher": {"type": "noisy_gold", "problems": str(path), "noise": 0.4},
            "budget": {"samples": 3},
            "select": {"keep": "correct", "reject_wrong_steps": True},
            "export": {"formats": ["sft", "sft_partial"], "file_types": ["jsonl"]},
        },
        where="test",
    )
    LocalRunner(recipe, progress=False).run()
    rows = RunStore(tmp_path / "runs" / "noisy").read_traces().to_pylist()
    assert len(rows) == 90
    wrong_step = [r for r in rows if r["first_wrong_step"] is not None]
    right_answer_wrong_step = [r for r in wrong_step if r["verdict"] == "correct"]
    assert wrong_step and right_answer_wrong_step  # silent slips reached the verifier
    assert all(r["verdict"] == "correct" for r in rows if r["first_wrong_step"] is None)
    accepted = [r for r in rows if r["accepted"]]
    assert accepted and all(r["first_wrong_step"] is None for r in accepted)
    assert not any(r["accepted"] for r in wrong_step)
