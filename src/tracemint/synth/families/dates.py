"""Date arithmetic on the proleptic Gregorian calendar, computed with ``datetime``.

Four kinds: add days or weeks to a date, subtract days, name a date's weekday, count the
days between two dates. Difficulty widens the span (up to about ``12 * 3**difficulty``
days, capped at a century). The gold rationale works through day numbers counted from
0001-01-01 (day 1, a Monday), so every step is an arithmetic claim a checker can verify.

Answer formats are stated in each question: dates as YYYY-MM-DD, weekdays as English
names (any case), day counts as integers.
"""

from __future__ import annotations

import random
from datetime import date

from pydantic import Field

from tracemint.synth.base import Family, FamilyConfig, Item, clean_answer, families
from tracemint.synth.families._answers import check_count, prepare

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_KINDS = ("add_days", "sub_days", "add_weeks", "weekday", "between")
_ISO = "YYYY-MM-DD"


class DatesConfig(FamilyConfig):
    min_year: int = Field(1900, ge=1, le=9000)  # earliest year of a starting date
    max_year: int = Field(2100, ge=1, le=9000)  # latest year of a starting date


def _day(d: date) -> str:
    return f"{d.isoformat()} is day {d.toordinal()}"


@families.register("dates")
class Dates(Family):
    """Date arithmetic; ``data["kind"]`` says which answer shape ``check`` expects."""

    name = "dates"
    config_class = DatesConfig

    def make(self, rng: random.Random) -> Item:
        cfg = self.config
        assert isinstance(cfg, DatesConfig)
        lo = date(min(cfg.min_year, cfg.max_year), 1, 1).toordinal()
        hi = date(max(cfg.min_year, cfg.max_year), 12, 31).toordinal()
        span = min(12 * 3**cfg.difficulty, 36_500)
        while True:
            item = self._draw(rng, lo, hi, span)
            if item is not None and clean_answer(item.answer, item) is not None:
                return item

    def _draw(self, rng: random.Random, lo: int, hi: int, span: int) -> Item | None:
        kind = rng.choice(_KINDS)
        start_n = rng.randint(lo, hi)
        start = date.fromordinal(start_n)
        head = f"Counting from 0001-01-01 as day 1, {_day(start)}."
        if kind == "weekday":
            q, r = divmod(start_n - 1, 7)
            answer = _WEEKDAYS[r]
            question = f"What day of the week is {start.isoformat()}? Answer with the weekday name."
            steps = [
                head,
                f"Day 1 was a Monday, and {start_n} - 1 = {start_n - 1} = 7 * {q} + {r}.",
                f"So it is {r} days after a Monday: {answer}.",
            ]
            return Item(
                question, answer, "\n".join([*steps, f"The answer is {answer}."]), {"kind": kind}
            )
        if kind == "between":
            n = rng.randint(1, span)
            end_n = start_n + n
            if end_n > date.max.toordinal():
                return None
            end = date.fromordinal(end_n)
            question = (
                f"How many days are there from {start.isoformat()} to {end.isoformat()}? "
                "Count the days after the first date up to and including the second; "
                "answer with an integer."
            )
            steps = [head, f"Likewise {_day(end)}.", f"{end_n} - {start_n} = {n}."]
            answer = str(n)
            return Item(
                question, answer, "\n".join([*steps, f"The answer is {answer}."]), {"kind": kind}
            )
        if kind == "add_weeks":
            weeks = rng.randint(1, max(1, span // 7))
            n = 7 * weeks
            ask = f"What date is {weeks} week{'s' if weeks > 1 else ''} after {start.isoformat()}?"
            steps = [
                f"{weeks} weeks are {weeks} * 7 = {n} days.",
                head,
                f"{start_n} + {n} = {start_n + n}.",
            ]
            end_n = start_n + n
        else:
            n = rng.randint(1, span)
            sign = 1 if kind == "add_days" else -1
            word = "after" if sign > 0 else "before"
            ask = f"What date is {n} day{'s' if n > 1 else ''} {word} {start.isoformat()}?"
            end_n = start_n + sign * n
            op = "+" if sign > 0 else "-"
            steps = [head, f"{start_n} {op} {n} = {end_n}."]
        if not 1 <= end_n <= date.max.toordinal():
            return None
        end = date.fromordinal(end_n)
        answer = end.isoformat()
        steps.append(f"Day {end_n} is {answer}.")
        question = f"{ask} Answer in the format {_ISO}."
        return Item(
            question, answer, "\n".join([*steps, f"The answer is {answer}."]), {"kind": kind}
        )

    def check(self, answer: str, item: Item) -> bool:
        kind = item.data.get("kind")
        if kind == "between":
            return check_count(answer, item)
        a = prepare(answer, item)
        if a is None:
            return False
        if kind == "weekday":
            return a.lower() == item.answer.lower()
        return a == item.answer
