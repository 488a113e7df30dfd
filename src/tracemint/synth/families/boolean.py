"""Nested boolean expressions over True/False with and/or/not.

An expression nests ``difficulty + 1`` levels deep (difficulty 1 is already one level of
nesting: a flat "not True" is not a reasoning problem); and/or take 2 to ``max_arity``
operands. Every compound operand is parenthesised, so Python's precedence of ``not`` never
matters. The gold rationale evaluates innermost expressions first, one line each, with
the values already found substituted in ("(not True) = False", "False and True = False").
"""

from __future__ import annotations

import random

from pydantic import Field

from tracemint.synth.base import Family, FamilyConfig, Item, families
from tracemint.synth.families._answers import prepare


class BooleanConfig(FamilyConfig):
    max_arity: int = Field(3, ge=2, le=6)  # most operands of one and/or
    side_depth: int = Field(1, ge=0, le=3)  # deepest operand off the main nesting path


def _build(
    rng: random.Random, depth: int, side: int, arity: int, steps: list[str]
) -> tuple[str, bool]:
    """A random expression of exactly ``depth`` levels: its text and value; the evaluation
    lines of its subexpressions are appended to ``steps`` innermost first."""
    if depth == 0:
        v = rng.random() < 0.5
        return str(v), v
    if rng.random() < 0.25:
        text, v = _build(rng, depth - 1, side, arity, steps)
        inner = text if depth == 1 else f"({text})"
        if depth > 1:
            steps.append(f"{text} = {v}")
        return f"not {inner}", not v
    n = rng.randint(2, arity)
    deep = rng.randrange(n)
    op = rng.choice(("and", "or"))
    texts, values = [], []
    for i in range(n):
        d = depth - 1 if i == deep else rng.randint(0, min(side, depth - 1))
        text, v = _build(rng, d, side, arity, steps)
        if d > 0:
            steps.append(f"{text} = {v}")
            text = f"({text})"
        texts.append(text)
        values.append(v)
    value = all(values) if op == "and" else any(values)
    return f" {op} ".join(texts), value


def _substituted(steps: list[str]) -> list[str]:
    """Rewrite each evaluation line with earlier results substituted for its parts."""
    out: list[str] = []
    results: list[tuple[str, str]] = []
    for line in steps:
        expr, value = line.rsplit(" = ", 1)
        short = expr
        for sub, v in reversed(results):  # latest (outermost) first: they contain the earlier ones
            short = short.replace(f"({sub})", v)
        results.append((expr, value))
        out.append(f"{short} = {value}")
    return out


@families.register("boolean")
class Boolean(Family):
    """Evaluate a nested boolean expression; the answer is "True" or "False"."""

    name = "boolean"
    config_class = BooleanConfig

    def make(self, rng: random.Random) -> Item:
        cfg = self.config
        assert isinstance(cfg, BooleanConfig)
        steps: list[str] = []
        expr, value = _build(rng, cfg.difficulty + 1, cfg.side_depth, cfg.max_arity, steps)
        steps.append(f"{expr} = {value}")
        answer = str(value)
        question = f"Evaluate the boolean expression: {expr}. Answer True or False."
        rationale = "\n".join([*_substituted(steps), f"The answer is {answer}."])
        return Item(question, answer, rationale, {})

    def check(self, answer: str, item: Item) -> bool:
        # The question always contains "True" and "False", so clean_answer's echo test would
        # refuse the gold answer itself; accepting only the two exact words is stricter anyway.
        a = prepare(answer, Item("", item.answer, "", item.data))
        return a is not None and a.lower() == item.answer.lower()
