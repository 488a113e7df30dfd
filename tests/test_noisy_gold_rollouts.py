"""The noisy_gold teacher continues a prefix from what it says, and Monte-Carlo step labels
built on it select what they can see.

A continuation "believes what was written": the attack is every cut of every rationale, with
slips before the cut, against the chain a fully carried corruption would have written."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracemint.config import parse_recipe
from tracemint.errors import ConfigError
from tracemint.export import export_run
from tracemint.runner.local import LocalRunner
from tracemint.store import RunStore
from tracemint.synth.base import create_family, generate
from tracemint.synth.records import item_row
from tracemint.teachers.base import GenerationRequest
from tracemint.teachers.noisy_gold import (
    _NUMBER,
    NoisyGoldTeacher,
    NoisyGoldTeacherConfig,
    corrupt,
)
from tracemint.verify.arithmetic import check_steps

FAMILIES = {
    "modular": {"max_modulus": 7, "difficulty": 2},
    "parity": {"max_modulus": 2, "difficulty": 1},
    "word_problems": {"max_start": 20, "max_factor": 5, "difficulty": 2},
}


def _problems(tmp: Path, name: str, n: int) -> tuple[Path, list[dict[str, str]]]:
    options = FAMILIES[name]
    family = create_family("modular" if name == "parity" else name, options)
    rows = [item_row(family, item, i, 7) for i, item in enumerate(generate(family, n, seed=7))]
    path = tmp / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path, rows


def _continue(teacher: NoisyGoldTeacher, row: dict[str, str], prefix: str, seed: int) -> str:
    request = GenerationRequest(
        messages=({"role": "user", "content": row["question"]},), prefill=prefix, seed=seed
    )
    return teacher.reply(request).text


@pytest.fixture(scope="module")
def problem_sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list]]:
    tmp = tmp_path_factory.mktemp("problems")
    return {name: _problems(tmp, name, 40) for name in FAMILIES}


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(sorted(FAMILIES)),
    index=st.integers(0, 39),
    cut=st.integers(1, 8),
    rng_seed=st.integers(0, 2**32 - 1),
    propagate=st.sampled_from([0.0, 0.5, 1.0]),
)
def test_a_continuation_goes_on_from_the_values_the_prefix_wrote(
    problem_sets: dict[str, tuple[Path, list]],
    name: str,
    index: int,
    cut: int,
    rng_seed: int,
    propagate: float,
) -> None:
    """Whatever the prefix slipped (carried or silent), a noise-free continuation is
    arithmetically right from the cut on, and a chain goes on from the last value written."""
    path, rows = problem_sets[name]
    row = rows[index]
    gold = row["rationale"].split("\n")
    cut = min(cut, len(gold))
    slipped = corrupt(row["rationale"], random.Random(rng_seed), 0.6, propagate)
    prefix = slipped.text.split("\n")[:cut]
    teacher = NoisyGoldTeacher(NoisyGoldTeacherConfig(problems=path, noise=0.0))
    text = _continue(teacher, row, "\n".join(prefix) + "\n", rng_seed)
    if cut == len(gold):
        assert text == ""
        return
    rest = text.split("\n")
    assert len(rest) == len(gold) - cut and rest[-1].startswith("The answer is ")
    checked = check_steps("\n".join(prefix + rest), mode="lines")
    wrong = [i for i, step in enumerate(checked.steps) if step.verdict == "wrong"]
    assert all(i < cut for i in wrong), (prefix, rest)
    if name != "word_problems":  # a residue chain: each line starts from the last residue
        last = _NUMBER.findall(prefix[-1])[-1]
        assert _NUMBER.findall(rest[0])[0] == last, (prefix, rest)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_a_gold_prefix_continues_to_the_gold_rest(
    problem_sets: dict[str, tuple[Path, list]], name: str
) -> None:
    path, rows = problem_sets[name]
    teacher = NoisyGoldTeacher(NoisyGoldTeacherConfig(problems=path, noise=0.0))
    for row in rows:
        gold = row["rationale"].split("\n")
        for cut in range(1, len(gold) + 1):
            text = _continue(teacher, row, "\n".join(gold[:cut]) + "\n", cut)
            assert text == "\n".join(gold[cut:])


def test_a_slip_that_changes_the_outcome_fails_every_continuation(
    problem_sets: dict[str, tuple[Path, list]],
) -> None:
    """A residue written off by 1 is carried: mostly a different answer (not always: a later
    multiplication by a multiple of the modulus forgets it). At mod 2, a residue off by 2
    always ends where gold does: rollouts cannot see that slip."""
    path, rows = problem_sets["modular"]
    teacher = NoisyGoldTeacher(NoisyGoldTeacherConfig(problems=path, noise=0.0))
    seen = changed = 0
    for row in rows:
        gold = row["rationale"].split("\n")
        first = gold[0]  # "a mod m = r."
        head, _, value = first.rstrip(".").rpartition(" = ")
        if not value.lstrip("-").isdigit() or len(gold) < 3:
            continue
        slipped = f"{head} = {int(value) + 1}."
        rest = _continue(teacher, row, slipped + "\n", 1).split("\n")
        changed += rest[-1] != gold[-1]
        seen += 1
    assert seen >= 10 and changed >= 0.7 * seen, (changed, seen)

    path, rows = problem_sets["parity"]
    teacher = NoisyGoldTeacher(NoisyGoldTeacherConfig(problems=path, noise=0.0))
    for row in rows:
        gold = row["rationale"].split("\n")
        head, _, value = gold[0].rstrip(".").rpartition(" = ")
        rest = _continue(teacher, row, f"{head} = {int(value) + 2}.\n", 1).split("\n")
        assert rest[-1] == gold[-1]


def _mint(tmp_path: Path, path: Path, select: dict[str, object], mc: dict[str, object]) -> list:
    recipe = parse_recipe(
        {
            "name": "mc",
            "runs_dir": str(tmp_path / "runs"),
            "source": {"type": "file", "path": str(path), "id_field": "id"},
            "teacher": {"type": "noisy_gold", "problems": str(path), "noise": 0.4},
            "budget": {"samples": 3},
            "montecarlo": mc,
            "select": select,
            "export": {"formats": ["sft"], "file_types": ["jsonl"]},
        },
        where="test",
    )
    LocalRunner(recipe, progress=False).run()
    return RunStore(tmp_path / "runs" / "mc").read_traces().to_pylist()


def test_selection_by_rollout_labels_drops_what_rollouts_flag(tmp_path: Path) -> None:
    path, _ = _problems(tmp_path, "modular", 30)
    mc = {"enabled": True, "k": 4, "apply_to": "correct"}
    plain = {"keep": "correct", "reject_wrong_steps": False}
    rows = _mint(tmp_path / "a", path, {**plain, "reject_mc_errors": True}, mc)
    before = {r["trace_id"]: r for r in _mint(tmp_path / "b", path, plain, mc)}
    assert len(rows) == len(before) == 90
    flagged = [r for r in rows if r.get("mc_first_error") is not None]
    assert flagged
    for r in rows:
        assert r["step_estimates"] == before[r["trace_id"]]["step_estimates"]  # same rollouts
        if r["accepted"]:
            assert r["verdict"] == "correct" and r["mc_first_error"] is None
        # rollout selection drops exactly the answer-verified traces the rollouts flag
        dropped_here = before[r["trace_id"]]["accepted"] and not r["accepted"]
        assert dropped_here == (r["mc_first_error"] is not None and r["verdict"] == "correct")
    for r in flagged:
        assert r["drop_reason"] == f"rollouts fail from step {r['mc_first_error']}"
    # a slip that leaves the rest of the chain on gold's values (the sum of a line written
    # wrong, its residue right) is invisible to rollouts: the checker still sees it
    unseen = [r for r in rows if r["accepted"] and r["first_wrong_step"] is not None]
    assert unseen
    export_run(tmp_path / "a" / "runs" / "mc", ["sft"], file_types=("jsonl",))
    export = (tmp_path / "a" / "runs" / "mc" / "export" / "sft.jsonl").read_text().splitlines()
    assert {json.loads(line)["trace_id"] for line in export} == {
        r["trace_id"] for r in rows if r["accepted"]
    }


@pytest.mark.parametrize(
    ("mc", "message"),
    [
        ({}, "needs Monte-Carlo step labels"),
        ({"enabled": True, "apply_to": "wrong"}, 'apply_to = "wrong"'),
    ],
)
def test_rollout_selection_without_rollout_labels_is_a_recipe_error(
    tmp_path: Path, mc: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match="reject_mc_errors") as err:
        parse_recipe(
            {
                "name": "x",
                "source": {"type": "file", "path": "p.jsonl"},
                "teacher": {"type": "embedded"},
                "montecarlo": mc,
                "select": {"reject_mc_errors": True},
            },
            where="recipe.toml",
        )
    assert message in str(err.value) and "recipe.toml" in str(err.value)
