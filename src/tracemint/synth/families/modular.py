"""Modular arithmetic: ``(a * b + c) mod m`` chains whose length grows with difficulty.

A compositional split (``split = "train" | "heldout"``) holds out ordered pairs of
*adjacent* operation kinds ("*+": a multiplication followed by an addition) at the same chain
length: train items use only the other pairs, held-out items at least one held-out pair. The
default held-out pairs are a Latin square's diagonal (each kind once first, once second), so
every operation and every kind-in-position is seen in training; only the combinations are new.
That is the OOD test of the CoT-generalisation work, next to "one more operation".
"""

from __future__ import annotations

import operator
import random
import re
from itertools import product

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from tracemint.synth.base import CompositionalConfig, Family, Item, families
from tracemint.synth.families._answers import check_count

_APPLY = {"+": operator.add, "-": operator.sub, "*": operator.mul}
PAIRS = tuple(a + b for a, b in product("+-*", repeat=2))  # every adjacent pair of kinds
_OP = re.compile(r" ([+\-*]) \d+\)")


class ModularConfig(CompositionalConfig):
    heldout_field = "heldout_pairs"

    max_modulus: int = Field(97, ge=2, le=10**6)
    # "all" draws every chain (the items every recorded run used); "train" / "heldout" keep
    # the chains without / with a held-out adjacent pair (same length, same operands)
    heldout_pairs: tuple[str, ...] = ("*+", "-*", "+-")

    @field_validator("heldout_pairs")
    @classmethod
    def _pairs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [p for p in v if p not in PAIRS]
        if bad:
            raise ValueError(f"unknown pairs {bad}; pairs are two of '+-*', e.g. '*+'")
        if not v or len(set(v)) == len(PAIRS) or len(set(v)) != len(v):
            raise ValueError("need 1..8 distinct pairs: both splits must be possible")
        return v

    @model_validator(mode="after")
    def _train_possible(self) -> ModularConfig:
        # a train chain is a walk over the train pairs; at length >= 2 it needs a kind whose
        # train successors lead on (any cycle). Without one, "train" could never return.
        if self.split == "train" and not _has_walk(set(PAIRS) - set(self.heldout_pairs)):
            raise ValueError("heldout_pairs leave no chain of train pairs of every length")
        return self


def _has_walk(train: set[str]) -> bool:
    """Whether the train pairs contain a cycle, i.e. train chains of any length exist."""
    nodes = set("+-*")
    while True:  # peel off kinds with no train successor left; a cycle survives
        dead = {n for n in nodes if not any(p[0] == n and p[1] in nodes for p in train)}
        if not dead:
            return bool(nodes)
        nodes -= dead


def op_sequence(question: str) -> str:
    """The operation kinds of a modular question, in the order applied ("-+" for
    "((77 - 334) + 38) mod 43"): what the compositional split is decided on."""
    return "".join(_OP.findall(question))


def adjacent_pairs(ops: str) -> set[str]:
    return {ops[i : i + 2] for i in range(len(ops) - 1)}


@families.register("modular")
class Modular(Family):
    """Each step applies one operation (+, -, *) then reduces mod m; the gold rationale shows
    every intermediate residue, so a step checker can check each line."""

    name = "modular"
    config_class = ModularConfig

    def make(self, rng: random.Random) -> Item:
        cfg = self.config
        assert isinstance(cfg, ModularConfig)
        held = set(cfg.heldout_pairs)
        while True:  # rejection keeps operands and moduli distributed as in "all"
            item, ops = self._draw(rng, cfg)
            if cfg.keeps(bool(adjacent_pairs(ops) & held)):
                return item

    def _draw(self, rng: random.Random, cfg: ModularConfig) -> tuple[Item, str]:
        m = rng.randint(2, cfg.max_modulus)
        ops = 1 + cfg.difficulty
        value = rng.randint(0, 10 * m)
        expr = str(value)
        steps = [f"{value} mod {m} = {value % m}."]
        value %= m
        kinds = ""
        for _ in range(ops):
            op = rng.choice("+-*")
            kinds += op
            operand = rng.randint(1, 10 * m)
            expr = f"({expr} {op} {operand})"
            raw = _APPLY[op](value, operand)
            steps.append(f"{value} {op} {operand} = {raw}, and {raw} mod {m} = {raw % m}.")
            value = raw % m
        question = f"Compute {expr} mod {m}. Give the result as an integer from 0 to {m - 1}."
        rationale = "\n".join([*steps, f"The answer is {value}."])
        return Item(question, str(value), rationale, {"modulus": m}), kinds

    def check(self, answer: str, item: Item) -> bool:
        return check_count(answer, item)
