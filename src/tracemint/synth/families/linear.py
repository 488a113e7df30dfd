"""Linear equations in one unknown: solve for x, exactly.

Difficulty 1 is ``a x + b = c``; 2 puts x terms on both sides; from 3 on each side gets
more terms (``difficulty`` terms per side at most) and the solution may be a fraction,
written in lowest terms ("-9/4"). The gold rationale collects the x coefficients, then
the constants, then divides, each as an explicit arithmetic claim.

A compositional split (``split = "train" | "heldout"``) holds out combinations of the two
sign-dependent operations every rationale makes, at the same equation shape: the sign of the
constants moved off the left side (their sum moves by subtraction when positive or zero, by
addition when negative) and the sign of the x coefficient divided by. A combination is
written as two signs, divisor first: "-+" is "divide by a negative number after subtracting
the left constants". Each sign of each operation is seen in training; held-out items use a
held-out pair of them.
"""

from __future__ import annotations

import random
from fractions import Fraction

from pydantic import Field, field_validator

from tracemint.synth.base import CompositionalConfig, Family, Item, clean_answer, families
from tracemint.synth.families._answers import check_number


class LinearConfig(CompositionalConfig):
    heldout_field = "heldout_combinations"

    max_coefficient: int = Field(9, ge=2, le=1000)  # |x coefficients| are at most this
    max_constant: int = Field(20, ge=2, le=10**6)  # |constants| and |integer solutions| too
    # "all" draws every equation (the items every recorded run used); "train" / "heldout"
    # keep the equations whose sign combination (see ``combination``) is not / is held out
    heldout_combinations: tuple[str, ...] = ("-+",)

    @field_validator("heldout_combinations")
    @classmethod
    def _combinations(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [c for c in v if c not in COMBINATIONS]
        if bad:
            raise ValueError(f"unknown combinations {bad}; known: {list(COMBINATIONS)}")
        if not v or len(set(v)) != len(v) or len(v) == len(COMBINATIONS):
            raise ValueError("need 1..3 distinct combinations: both splits must be possible")
        return v


COMBINATIONS = ("++", "+-", "-+", "--")  # (sign of the divisor, sign of the left constants)


def combination(a: int, left_constants: list[int]) -> str:
    """The sign combination of an equation: the x coefficient ``a`` it divides by, then the
    sum of the constants it moves off the left side (zero counts as "+": moved by subtracting).
    """
    return ("+" if a > 0 else "-") + ("+" if sum(left_constants) >= 0 else "-")


def _term(coef: int, first: bool, x: bool) -> str:
    """One signed term: "3x", "- x", "+ 7"; the first term carries a bare minus sign."""
    mag = abs(coef)
    body = ("x" if mag == 1 else f"{mag}x") if x else str(mag)
    if first:
        return f"-{body}" if coef < 0 else body
    return f"- {body}" if coef < 0 else f"+ {body}"


def _side(xs: list[int], cs: list[int], rng: random.Random) -> tuple[str, list[int], list[int]]:
    """A shuffled side, with its x coefficients and constants in the order written."""
    terms = [(c, True) for c in xs] + [(c, False) for c in cs]
    rng.shuffle(terms)
    text = " ".join(_term(c, i == 0, x) for i, (c, x) in enumerate(terms)) or "0"
    return text, [c for c, x in terms if x], [c for c, x in terms if not x]


def _coef(a: int) -> str:
    return "x" if a == 1 else "-x" if a == -1 else f"{a}x"


def _sum_expr(plus: list[int], minus: list[int]) -> str:
    """``sum(plus) - sum(minus)`` written term by term, e.g. "5 - 2 + 3"."""
    parts: list[str] = []
    for sign, values in ((1, plus), (-1, minus)):
        for v in values:
            s = sign * v
            if not parts:
                parts.append(str(s))
            else:
                parts.append(f"- {-s}" if s < 0 else f"+ {s}")
    return " ".join(parts)


def _nonzero(rng: random.Random, bound: int) -> int:
    v = rng.randint(1, bound)
    return v if rng.random() < 0.5 else -v


@families.register("linear_equations")
class LinearEquations(Family):
    """Solve for x; answers are integers or fractions in lowest terms, checked exactly
    ("3/4", "0.75", "x = 3/4" all match 3/4)."""

    name = "linear_equations"
    config_class = LinearConfig

    def make(self, rng: random.Random) -> Item:
        cfg = self.config
        assert isinstance(cfg, LinearConfig)
        held = set(cfg.heldout_combinations)
        while True:  # rejection keeps every other choice distributed as in "all"
            item = self._draw(rng, cfg)
            if item is None or clean_answer(item.answer, item) is None:
                continue
            if cfg.keeps(item_combination(item) in held):
                return item

    def _draw(self, rng: random.Random, cfg: LinearConfig) -> Item | None:
        d, mc, mk = cfg.difficulty, cfg.max_coefficient, cfg.max_constant
        if d == 1:
            lx, lc, rx, rc = [_nonzero(rng, mc)], [_nonzero(rng, mk)], [], [0]
        else:
            n = min(d, 4)
            lx = [_nonzero(rng, mc) for _ in range(rng.randint(1, n - 1 if d > 2 else 1))]
            rx = [_nonzero(rng, mc) for _ in range(rng.randint(1, n - 1 if d > 2 else 1))]
            lc = [_nonzero(rng, mk) for _ in range(rng.randint(1, n - 1 if d > 2 else 1))]
            rc = [_nonzero(rng, mk) for _ in range(rng.randint(1, n - 1 if d > 2 else 1))]
        a = sum(lx) - sum(rx)
        if a == 0:
            return None
        if d <= 2:  # integer solution: fix the last right constant so that a divides it
            x = _nonzero(rng, max(2, mk // 2))
            rc[-1] = a * x + sum(lc) - sum(rc[:-1])
            if (rc[-1] == 0 and d > 1) or abs(rc[-1]) > 10 * mk:
                return None
        b = sum(rc) - sum(lc)
        sol = Fraction(b, a)
        if sol == 0:
            return None
        left, lx, lc = _side(lx, lc, rng)
        right, rx, rc = _side(rx, [c for c in rc if c != 0], rng)
        equation = f"{left} = {right}"
        steps = [f"Start from {equation}."]
        if len(lx) + len(rx) > 1:
            steps.append(
                f"Collect the x terms on the left: {_sum_expr(lx, rx)} = {a}, "
                f"so {_coef(a)} is left."
            )
        if rc or len(lc) > 1:
            steps.append(
                f"Collect the constants on the right: {_sum_expr(rc, lc)} = {b}, "
                f"so {_coef(a)} = {b}."
            )
        else:
            steps.append(
                f"Move the constant to the right: 0 - {lc[0]} = {b}, so {_coef(a)} = {b}."
                if lc[0] > 0
                else f"Move the constant to the right: 0 + {-lc[0]} = {b}, so {_coef(a)} = {b}."
            )
        den = f"({a})" if a < 0 else str(a)
        steps.append(f"Divide both sides by {a}: x = {b} / {den} = {sol}.")
        answer = str(sol)
        question = (
            f"Solve for x: {equation}. "
            "Give x as an integer or a fraction in lowest terms (like -7/3)."
        )
        rationale = "\n".join([*steps, f"The answer is {answer}."])
        return Item(question, answer, rationale, {"solution": answer})

    def check(self, answer: str, item: Item) -> bool:
        return check_number(answer, item, fractions=True, prefix="x=")


def item_combination(item: Item) -> str:
    """An item's sign combination, read back from its question (the split's ground truth:
    a test can check it without trusting the generator's bookkeeping)."""
    equation = item.question.removeprefix("Solve for x: ").split(". Give x")[0]
    left, right = equation.split(" = ")
    a = sum(_coefficients(left, x=True)) - sum(_coefficients(right, x=True))
    return combination(a, _coefficients(left, x=False))


def _coefficients(side: str, x: bool) -> list[int]:
    """The signed x coefficients (``x``) or constants of one side as written ("0" is none)."""
    out: list[int] = []
    for term in side.replace("- ", "-").replace("+ ", "").split():
        if term == "0" or term.endswith("x") != x:
            continue
        body = term.removesuffix("x")
        out.append(int(body + "1") if body in ("", "-") else int(body))
    return out
