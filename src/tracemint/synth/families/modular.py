"""Modular arithmetic: ``(a * b + c) mod m`` chains whose length grows with difficulty."""

from __future__ import annotations

import operator
import random

from pydantic import Field

from tracemint.synth.base import Family, FamilyConfig, Item, families
from tracemint.synth.families._answers import check_count

_APPLY = {"+": operator.add, "-": operator.sub, "*": operator.mul}


class ModularConfig(FamilyConfig):
    max_modulus: int = Field(97, ge=2, le=10**6)


@families.register("modular")
class Modular(Family):
    """Each step applies one operation (+, -, *) then reduces mod m; the gold rationale shows
    every intermediate residue, so a step checker can check each line."""

    name = "modular"
    config_class = ModularConfig

    def make(self, rng: random.Random) -> Item:
        cfg = self.config
        assert isinstance(cfg, ModularConfig)
        m = rng.randint(2, cfg.max_modulus)
        ops = 1 + cfg.difficulty
        value = rng.randint(0, 10 * m)
        expr = str(value)
        steps = [f"{value} mod {m} = {value % m}."]
        value %= m
        for _ in range(ops):
            op = rng.choice("+-*")
            operand = rng.randint(1, 10 * m)
            expr = f"({expr} {op} {operand})"
            raw = _APPLY[op](value, operand)
            steps.append(f"{value} {op} {operand} = {raw}, and {raw} mod {m} = {raw % m}.")
            value = raw % m
        question = f"Compute {expr} mod {m}. Give the result as an integer from 0 to {m - 1}."
        rationale = "\n".join([*steps, f"The answer is {value}."])
        return Item(question, str(value), rationale, {"modulus": m})

    def check(self, answer: str, item: Item) -> bool:
        return check_count(answer, item)
