"""Multi-step arithmetic word problems: counts, rates, percentages and money.

A story starts from one quantity (a count of objects, or money kept in whole cents so
every value is an exact 2-decimal amount) and applies ``difficulty + 1`` operations, each
told as one sentence of the story. The gold rationale spends one line per operation with
explicit ``expression = value`` claims, so the project's step checker can verify every line.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from pydantic import Field

from tracemint.synth.base import Family, FamilyConfig, Item, clean_answer, families
from tracemint.synth.families._answers import check_number

_NAMES = (
    "Ava", "Ben", "Chloe", "Diego", "Emma", "Farid", "Grace", "Hiro", "Isla", "Jamal",
    "Kira", "Liam", "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tariq",
)  # fmt: skip
_FRIENDS = ("a neighbour", "a classmate", "an uncle", "an aunt", "a friend", "a cousin")
_OBJECTS = (
    "apples", "marbles", "stickers", "pencils", "cookies", "stamps", "shells", "cards",
    "beads", "books", "eggs", "coins",
)  # fmt: skip
_CONTAINERS = ("boxes", "bags", "packs", "crates", "jars")
_ITEMS = (
    ("notebook", "notebooks"), ("sandwich", "sandwiches"), ("ticket", "tickets"),
    ("pen", "pens"), ("plant", "plants"), ("toy car", "toy cars"), ("mug", "mugs"),
)  # fmt: skip
_JOBS = ("babysitting", "mowing lawns", "walking dogs", "tutoring", "washing cars")
_PERCENTS = (10, 20, 25, 50, 75)
_FACTOR_WORDS = {2: "doubles", 3: "triples", 4: "quadruples"}


class WordProblemsConfig(FamilyConfig):
    max_start: int = Field(60, ge=10, le=10_000)  # largest starting count (money: dollars)
    max_factor: int = Field(9, ge=2, le=99)  # largest multiplier, pack size or divisor


def _fmt_money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


class _Story:
    """Mutable state of one story: the running value and the sentences/steps so far."""

    def __init__(self, rng: random.Random, cfg: WordProblemsConfig, money: bool) -> None:
        self.rng, self.cfg, self.money = rng, cfg, money
        self.fmt: Callable[[int], str] = _fmt_money if money else str
        self.name = rng.choice(_NAMES)
        self.obj = rng.choice(_OBJECTS)
        self.value = rng.randint(5, cfg.max_start) * (100 if money else 1)
        if money:
            self.value += rng.choice((0, 25, 50, 75))
        self.sentences: list[str] = []
        self.steps: list[str] = []

    def amount(self, v: int) -> str:
        return f"${self.fmt(v)}" if self.money else f"{v} {self.obj}"

    def add_rate(self) -> None:
        r, f, v = self.rng, self.cfg.max_factor, self.value
        k = r.randint(2, f)
        if self.money:
            each = r.randint(3, 30) * 100 + r.choice((0, 50))
            self.sentences.append(
                f"Then {self.name} earns {self.amount(each)} per hour "
                f"{r.choice(_JOBS)} for {k} hours."
            )
            what = "earned"
        else:
            each = r.randint(2, f)
            box = r.choice(_CONTAINERS)
            self.sentences.append(f"Then {self.name} buys {k} {box} with {each} {self.obj} each.")
            what = "new"
        got = k * each
        self.value = v + got
        self.steps.append(
            f"{k} * {self.fmt(each)} = {self.fmt(got)} {what}, "
            f"so {self.fmt(v)} + {self.fmt(got)} = {self.fmt(self.value)}."
        )

    def sub_rate(self) -> bool:
        r, v = self.rng, self.value
        if self.money:
            noun, plural = r.choice(_ITEMS)
            price = r.randint(1, max(1, v // 300)) * 100 + r.choice((0, 25, 50, 75))
            k = r.randint(2, 5)
            if k * price >= v:
                return False
            self.sentences.append(
                f"{self.name} buys {k} {plural} at {self.amount(price)} per {noun}."
            )
        else:
            price = r.randint(2, 6)
            k = r.randint(2, 5)
            if k * price >= v:
                return False
            self.sentences.append(f"{self.name} gives {price} {self.obj} to each of {k} friends.")
        cost = k * price
        self.value = v - cost
        what = "spent" if self.money else "given away"
        self.steps.append(
            f"{k} * {self.fmt(price)} = {self.fmt(cost)} {what}, "
            f"so {self.fmt(v)} - {self.fmt(cost)} = {self.fmt(self.value)}."
        )
        return True

    def add(self) -> None:
        v = self.value
        got = self.rng.randint(2, self.cfg.max_start) * (100 if self.money else 1)
        self.sentences.append(
            f"{self.rng.choice(_FRIENDS).capitalize()} gives {self.name} {self.amount(got)}."
        )
        self.value = v + got
        self.steps.append(f"{self.fmt(v)} + {self.fmt(got)} = {self.fmt(self.value)}.")

    def sub(self) -> bool:
        v = self.value
        unit = 100 if self.money else 1
        if v < 2 * unit:
            return False
        lost = self.rng.randint(1, v // unit - 1) * unit
        verb = (
            "loses"
            if self.money
            else self.rng.choice(("loses", "eats" if self.obj == "cookies" else "drops"))
        )
        self.sentences.append(f"{self.name} {verb} {self.amount(lost)}.")
        self.value = v - lost
        self.steps.append(f"{self.fmt(v)} - {self.fmt(lost)} = {self.fmt(self.value)}.")
        return True

    def mul(self) -> None:
        v = self.value
        k = self.rng.randint(2, 4)
        what = "savings" if self.money else f"number of {self.obj}"
        self.sentences.append(f"{self.name} {_FACTOR_WORDS[k]} the {what}.")
        self.value = v * k
        self.steps.append(f"{self.fmt(v)} * {k} = {self.fmt(self.value)}.")

    def div(self) -> bool:
        v = self.value
        ks = [k for k in range(2, self.cfg.max_factor + 1) if v % k == 0 and v // k >= 1]
        if not ks:
            return False
        k = self.rng.choice(ks)
        if self.money:
            self.sentences.append(
                f"{self.name} splits the money equally among {k} people, "
                f"{self.name} included, and keeps one share."
            )
        else:
            self.sentences.append(
                f"{self.name} packs the {self.obj} equally into {k} "
                f"{self.rng.choice(_CONTAINERS)} and keeps only one."
            )
        self.value = v // k
        self.steps.append(f"{self.fmt(v)} / {k} = {self.fmt(self.value)}.")
        return True

    def percent(self) -> bool:
        v = self.value
        ps = [p for p in _PERCENTS if v * p % 100 == 0 and v * p // 100 < v]
        if not ps:
            return False
        p = self.rng.choice(ps)
        verb = "spends" if self.money else "sells"
        self.sentences.append(
            f"{self.name} {verb} {p}% of {'the money' if self.money else 'them'}."
        )
        part = v * p // 100
        self.value = v - part
        self.steps.append(
            f"{self.fmt(v)} * {p} / 100 = {self.fmt(part)}, "
            f"so {self.fmt(v)} - {self.fmt(part)} = {self.fmt(self.value)}."
        )
        return True


# Operations drawn uniformly; the ones returning False could not apply and are redrawn.
_OPS: tuple[Callable[[_Story], bool | None], ...] = (
    _Story.add_rate, _Story.sub_rate, _Story.add, _Story.sub,
    _Story.mul, _Story.div, _Story.percent,
)  # fmt: skip


@families.register("word_problems")
class WordProblems(Family):
    """Stories of ``difficulty + 1`` operations on counts or money; integer or exact
    2-decimal answers, checked as exact numbers ("36", "36.0", "$36" all match 36)."""

    name = "word_problems"
    config_class = WordProblemsConfig

    def make(self, rng: random.Random) -> Item:
        cfg = self.config
        assert isinstance(cfg, WordProblemsConfig)
        while True:
            item = self._draw(rng, cfg)
            if (
                clean_answer(item.answer, item) is not None
            ):  # the answer is not quoted in the question
                return item

    def _draw(self, rng: random.Random, cfg: WordProblemsConfig) -> Item:
        money = rng.random() < 0.4
        s = _Story(rng, cfg, money)
        opening = f"{s.name} has {s.amount(s.value)}."
        done = 0
        last = None
        while done < cfg.difficulty + 1:
            op = rng.choice(_OPS)
            if op is last and op is _Story.mul:  # avoid runaway values from repeated doubling
                continue
            if op(s) is not False:
                done += 1
                last = op
        if money:
            ask = (
                f"How much money does {s.name} have now, in dollars? "
                "Give the amount as a number like 12.50."
            )
        else:
            ask = f"How many {s.obj} does {s.name} have now? Give the answer as an integer."
        question = " ".join([opening, *s.sentences, ask])
        answer = s.fmt(s.value)
        rationale = "\n".join([opening, *s.steps, f"The answer is {answer}."])
        return Item(question, answer, rationale, {"money": money})

    def check(self, answer: str, item: Item) -> bool:
        return check_number(answer, item)
