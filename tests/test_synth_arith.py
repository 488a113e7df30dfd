"""Contracts of the arithmetic-flavoured families: determinism, uniqueness, gold answers
accepted, perturbed answers and reward hacks rejected, gold rationales agreeing with the
project's step checker."""

from __future__ import annotations

import random
import re
from dataclasses import asdict
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracemint.synth.base import Family, Item, clean_answer, create_family, generate
from tracemint.verify.arithmetic import WRONG, check_steps

CASES = [
    ("word_problems", 1), ("word_problems", 3), ("word_problems", 6),
    ("linear_equations", 1), ("linear_equations", 2), ("linear_equations", 4),
    ("dates", 1), ("dates", 3), ("dates", 6),
    ("boolean", 1), ("boolean", 3), ("boolean", 5),
    ("sorting", 1), ("sorting", 3), ("sorting", 6),
    ("counting", 1), ("counting", 3), ("counting", 6),
]  # fmt: skip
IDS = [f"{n}-d{d}" for n, d in CASES]
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@cache
def family(name: str, difficulty: int) -> Family:
    return create_family(name, {"difficulty": difficulty})


@cache
def items(name: str, difficulty: int, n: int = 300) -> tuple[Item, ...]:
    return tuple(generate(family(name, difficulty), n, seed=11))


def rebuilt(item: Item) -> Item:
    """The item as a later run sees it: rebuilt from its stored fields."""
    return Item(**asdict(item))


def one_item(name: str, difficulty: int, seed: int) -> Item:
    return family(name, difficulty).make(random.Random(seed))


@pytest.mark.parametrize(("name", "difficulty"), CASES, ids=IDS)
def test_same_seed_same_items(name: str, difficulty: int) -> None:
    fresh = create_family(name, {"difficulty": difficulty})
    assert list(generate(fresh, 50, seed=11)) == list(items(name, difficulty)[:50])
    assert list(generate(fresh, 20, seed=12)) != list(items(name, difficulty)[:20])


@pytest.mark.parametrize(("name", "difficulty"), CASES, ids=IDS)
def test_items_unique_and_gold_accepted(name: str, difficulty: int) -> None:
    got = items(name, difficulty)
    assert len({it.question for it in got}) == 300
    fam = family(name, difficulty)
    for it in got:
        last = it.rationale.splitlines()[-1]
        m = re.fullmatch(r"The answer is (.+)\.", last)
        assert m and m.group(1) == it.answer, it.rationale
        assert fam.check(it.answer, rebuilt(it)), it
        assert fam.check(f"\\boxed{{{it.answer}}}", it)


@pytest.mark.parametrize(("name", "difficulty"), CASES, ids=IDS)
def test_hacks_score_zero(name: str, difficulty: int) -> None:
    fam = family(name, difficulty)
    for it in items(name, difficulty)[:100]:
        x = it.answer
        y = _perturbations(name, it)[0]
        for hack in (
            "",
            "   ",
            f"{x} or {y}",
            f"{x}, {y}",
            f"{x} because {y}",
            it.question,
            f"{x} {y}",
        ):
            assert not fam.check(hack, it), (hack, it)


def _numeric(answer: str) -> list[str]:
    """Off by one, sign flip and a changed digit of a number (or of the numerator)."""
    frac = "/" in answer
    head, _, tail = answer.partition("/")
    tail = f"/{tail}" if frac else ""
    out = []
    if "." in head:  # money: a dollar and a cent off
        whole, cents = head.split(".")
        out += [f"{int(whole) + 1}.{cents}", f"{whole}.{(int(cents) + 1) % 100:02d}"]
    else:
        out += [f"{int(head) + 1}{tail}", f"{int(head) - 1}{tail}"]
    if head.lstrip("-") not in ("0", "0.00"):
        out.append(head[1:] + tail if head.startswith("-") else f"-{head}{tail}")
    digits = [i for i, c in enumerate(head) if c.isdigit()]
    i = digits[-1]
    out.append(head[:i] + str((int(head[i]) + 3) % 10) + head[i + 1 :] + tail)
    return [p for p in out if p != answer]


def _perturbations(name: str, item: Item) -> list[str]:
    a = item.answer
    if name == "boolean":
        return ["False" if a == "True" else "True", "Tru", "1"]
    if name == "sorting":
        values = a.split(", ")
        i = next(i for i in range(len(values) - 1) if values[i] != values[i + 1])
        swapped = [*values[:i], values[i + 1], values[i], *values[i + 2 :]]
        bumped = [*values[:-1], str(int(values[-1]) + 1)]
        return [
            ", ".join(swapped),
            ", ".join(values[1:]),
            ", ".join(values[:-1]),
            f"{a}, {values[0]}",
            ", ".join(bumped),
        ]
    if name == "dates" and a in _WEEKDAYS:
        return [d for d in _WEEKDAYS if d != a]
    if name == "dates" and "-" in a:
        year, month, day = a.split("-")
        return [
            f"{year}-{month}-{int(day) % 28 + 1:02d}",
            f"{int(year) + 1}-{month}-{day}",
            f"{day}-{month}-{year}",
        ]
    return _numeric(a)


@settings(max_examples=50, deadline=None)
@given(case=st.sampled_from(CASES), seed=st.integers(0, 2**32))
def test_perturbed_answers_rejected(case: tuple[str, int], seed: int) -> None:
    name, difficulty = case
    it = one_item(name, difficulty, seed)
    fam = family(name, difficulty)
    assert fam.check(it.answer, rebuilt(it))
    for wrong in _perturbations(name, it):
        assert not fam.check(wrong, it), (wrong, it.answer)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_accepted_spellings(seed: int) -> None:
    wp = one_item("word_problems", 2, seed)
    fam = family("word_problems", 2)
    for ok in (
        wp.answer,
        f"${wp.answer}",
        f"{wp.answer}0" if "." in wp.answer else f"{wp.answer}.0",
    ):
        assert fam.check(ok, wp), ok
    lin = one_item("linear_equations", 4, seed)
    assert family("linear_equations", 4).check(f"x = {lin.answer}", lin)
    b = one_item("boolean", 2, seed)
    assert family("boolean", 2).check(b.answer.lower(), b)
    assert not family("boolean", 2).check(f"{b.answer} False", b)
    s = one_item("sorting", 2, seed)
    assert family("sorting", 2).check(f"[{s.answer.replace(' ', '')}]", s)


@pytest.mark.parametrize("name", ["word_problems", "linear_equations", "dates", "counting"])
def test_step_checker_agrees_with_gold(name: str) -> None:
    checked = 0
    for difficulty in (1, 4):
        for it in items(name, difficulty)[:100]:
            trace = check_steps(it.rationale)
            assert trace.n_wrong == 0, it.rationale
            assert all(s.verdict != WRONG for s in trace.steps)
            checked += trace.n_checked
    assert checked > 200  # the claims are really checked, not skipped as unparseable


def test_an_answer_inside_a_longer_token_of_the_question_is_no_echo() -> None:
    """Found by the property test above (seed 135): "x = 3" is a substring of "= 3x + 9",
    but not the question echoed; a whole-token part of the question still is."""
    it = Item(
        question="Solve for x: 12 + 10 + 5x - 6x + 2x = 3x + 9 + 7.",
        answer="3",
        rationale="",
        data={"solution": "3"},
    )
    assert clean_answer("x = 3", it) == "x = 3"
    assert clean_answer("2x = 3x + 9", it) is None
    assert clean_answer("Solve for x", it) is None
