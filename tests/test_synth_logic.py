"""Contracts for the logic families: rule_chaining, ordering, knights_knaves.

Each family is re-solved here by a small oracle written independently of its generator
(forward chaining, brute force over orders / role assignments), and judged against the
hack list every family must score 0.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracemint.synth.base import Family, Item, create_family, generate

CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("rule_chaining", {"depth": 0, "difficulty": 1}),
    ("rule_chaining", {"depth": 3, "difficulty": 4}),
    ("rule_chaining", {"depth": 6, "difficulty": 10}),
    ("ordering", {"difficulty": 1}),
    ("ordering", {"difficulty": 4}),
    ("ordering", {"objects": 6, "difficulty": 8}),
    ("knights_knaves", {"difficulty": 1}),
    ("knights_knaves", {"difficulty": 4}),
    ("knights_knaves", {"difficulty": 9}),
]
IDS = [f"{name}-{'-'.join(f'{k}{v}' for k, v in cfg.items())}" for name, cfg in CONFIGS]

_ITEMS: dict[int, list[Item]] = {}


def items(i: int) -> list[Item]:
    """200 items of CONFIGS[i], generated once per test session."""
    if i not in _ITEMS:
        name, cfg = CONFIGS[i]
        _ITEMS[i] = list(generate(create_family(name, cfg), 200, seed=1))
    return _ITEMS[i]


def family(i: int) -> Family:
    name, cfg = CONFIGS[i]
    return create_family(name, cfg)


# ---- independent oracles ----------------------------------------------------------------


def chain_depths(item: Item) -> dict[tuple[str, str], int]:
    facts = {(e, a) for e, a in item.data["facts"]}
    rules = [(set(p), c) for p, c in item.data["rules"]]
    depth = dict.fromkeys(facts, 0)
    level = 0
    while True:
        level += 1
        new = {
            (e, c)
            for p, c in rules
            for e in {e for e, _ in facts}
            if (e, c) not in depth and all((e, x) in depth for x in p)
        }
        if not new:
            return depth
        depth.update(dict.fromkeys(new, level))


def order_solutions(item: Item) -> list[list[int]]:
    n = len(item.data["names"])
    out = []
    for front_to_back in itertools.permutations(range(n)):
        at = {x: p for p, x in enumerate(front_to_back)}
        ok = all(
            at[x] < at[y] if kind == "before" else at[x] == (y if kind == "at" else n - 1 - y)
            for kind, x, y in item.data["clues"]
        )
        if ok:
            out.append(list(front_to_back))
    return out


def kk_truth(stmt: list[Any], knights: tuple[bool, ...]) -> bool:
    kind = stmt[0]
    if kind == "is":
        return knights[stmt[1]] is stmt[2]
    if kind == "count":
        return knights.count(True) == stmt[1]
    a, b, flag = knights[stmt[1]], knights[stmt[2]], stmt[3]
    return {
        "both": a is flag and b is flag,
        "some": a is flag or b is flag,
        "same": (a is b) is flag,
    }[kind]


def resolve(i: int, item: Item) -> str:
    """The answer, worked out by the oracle for the family of CONFIGS[i]."""
    name = CONFIGS[i][0]
    if name == "rule_chaining":
        return "True" if tuple(item.data["query"]) in chain_depths(item) else "False"
    if name == "ordering":
        (sol,) = order_solutions(item)
        names = [item.data["names"][x] for x in sol]
        return ", ".join(names) if item.data["full"] else names[item.data["position"]]
    names = item.data["names"]
    consistent = [
        roles
        for roles in itertools.product((True, False), repeat=len(names))
        if all(kk_truth(s, roles) is roles[j] for j, s in enumerate(item.data["statements"]))
    ]
    (roles,) = consistent
    return ", ".join(
        f"{n}: {'knight' if r else 'knave'}" for n, r in zip(names, roles, strict=True)
    )


# ---- contracts --------------------------------------------------------------------------


@pytest.mark.parametrize("i", range(len(CONFIGS)), ids=IDS)
def test_deterministic_and_unique(i: int) -> None:
    got = items(i)
    assert len({it.question for it in got}) == 200
    again = list(generate(family(i), 20, seed=1))
    assert again == got[:20]
    assert family(i).make(random.Random(5)) == family(i).make(random.Random(5))


@pytest.mark.parametrize("i", range(len(CONFIGS)), ids=IDS)
def test_gold_accepted_and_rationale_ends_with_answer(i: int) -> None:
    fam = family(i)
    for it in items(i):
        assert fam.check(it.answer, it), it.question
        assert it.rationale.splitlines()[-1] == f"The answer is {it.answer}."
        rebuilt = Item(it.question, it.answer, it.rationale, dict(it.data))
        assert fam.check(f"  \\boxed{{{it.answer}}} ", rebuilt)


@pytest.mark.parametrize("i", range(len(CONFIGS)), ids=IDS)
def test_oracle_agrees(i: int) -> None:
    for it in items(i)[:100]:
        assert resolve(i, it) == it.answer


@pytest.mark.parametrize("i", [0, 1, 2], ids=IDS[:3])
def test_rule_chaining_depth_and_balance(i: int) -> None:
    want = CONFIGS[i][1]["depth"]
    labels = [it.answer for it in items(i)]
    assert 60 <= labels.count("True") <= 140
    for it in items(i):
        depths = chain_depths(it)
        query = tuple(it.data["query"])
        if it.answer == "True":
            assert depths[query] == want
            assert len(it.rationale.splitlines()) == max(want, 1) + 1
        else:
            assert query not in depths


def test_ordering_unique_at_seven_objects() -> None:
    fam = create_family("ordering", {"objects": 7})
    for it in generate(fam, 15, seed=3):
        assert len(order_solutions(it)) == 1
        assert fam.check(it.answer, it)


def test_knights_knaves_answer_format() -> None:
    fam = create_family("knights_knaves", {"people": 3})
    it = fam.make(random.Random(7))
    pairs = it.answer.split(", ")
    assert len(pairs) == 3 and all(p.split(": ")[1] in ("knight", "knave") for p in pairs)
    assert fam.check(", ".join(reversed(pairs)).upper(), it)
    assert not fam.check(", ".join(pairs[:2]), it)
    assert not fam.check(it.answer + ", " + pairs[0], it)
    assert not fam.check(it.answer.replace(", ", "; "), it)


def test_config_rejects_unknown_and_out_of_range() -> None:
    from tracemint.errors import ConfigError

    for name, bad in [
        ("rule_chaining", {"depth": 7}),
        ("ordering", {"objects": 8}),
        ("knights_knaves", {"people": 1}),
        ("knights_knaves", {"nope": 1}),
    ]:
        with pytest.raises((ConfigError, ValueError)):
            create_family(name, bad)


# ---- perturbations and hacks score 0 ----------------------------------------------------


def perturb(name: str, item: Item, rng: random.Random) -> str:
    if name == "rule_chaining":
        return "False" if item.answer == "True" else "True"
    if name == "ordering":
        if not item.data["full"]:
            return rng.choice([x for x in item.data["order"] if x != item.answer])
        order = list(item.data["order"])
        a, b = rng.sample(range(len(order)), 2)
        order[a], order[b] = order[b], order[a]
        return ", ".join(order)
    pairs = item.answer.split(", ")
    j = rng.randrange(len(pairs))
    who, role = pairs[j].split(": ")
    pairs[j] = f"{who}: {'knave' if role == 'knight' else 'knight'}"
    return ", ".join(pairs)


def hacks(name: str, item: Item, rng: random.Random) -> list[str]:
    other = perturb(name, item, rng)
    return [
        "",
        "   ",
        f"{item.answer} or {other}",
        f"{other} or {item.answer}",
        f"either {item.answer}",
        f"{item.answer}, {other}",
        f"{other}, {item.answer}",
        f"{item.answer} junk",
        f"{item.answer}. Because I said so",
        f"{item.answer}?",
        item.question,
        item.question.splitlines()[-1],
    ]


@settings(max_examples=40, deadline=None)
@given(i=st.integers(0, len(CONFIGS) - 1), seed=st.integers(0, 10**6))
def test_perturbed_and_hacked_answers_rejected(i: int, seed: int) -> None:
    name = CONFIGS[i][0]
    fam = family(i)
    rng = random.Random(seed)
    item = fam.make(rng)
    assert not fam.check(perturb(name, item, rng), item)
    for hack in hacks(name, item, rng):
        assert not fam.check(hack, item), hack
