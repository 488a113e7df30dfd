"""Sort a list of integers ascending or descending.

Lists grow with difficulty (``3 + 2 * difficulty`` numbers), negatives join from
difficulty 3 and duplicates are allowed. The answer is the sorted list, comma-separated;
``check`` wants exactly that list (brackets and spacing free), so a missing, extra or
misplaced element, or anything after the list, fails.
"""

from __future__ import annotations

import random
import re

from pydantic import Field

from tracemint.synth.base import Family, FamilyConfig, Item, clean_answer, families
from tracemint.synth.families._answers import prepare

_INT = re.compile(r"[-+]?\d+")


class SortingConfig(FamilyConfig):
    max_value: int = Field(99, ge=5, le=10**9)  # numbers lie in [-max_value, max_value]


def parse_list(text: str) -> list[int] | None:
    """Integers of a comma-separated list ("[3, -1, 2]" or "3,-1,2"), or None if any part
    is not exactly one integer."""
    t = text.strip()
    if t[:1] in "[(" and t[-1:] in "])" and len(t) >= 2:
        t = t[1:-1]
    parts = [p.strip() for p in t.split(",")]
    if not all(_INT.fullmatch(p) for p in parts):
        return None
    return [int(p) for p in parts]


def _join(values: list[int]) -> str:
    return ", ".join(map(str, values))


@families.register("sorting")
class Sorting(Family):
    """Sort integers; the gold rationale picks the next smallest (or largest) each line."""

    name = "sorting"
    config_class = SortingConfig

    def make(self, rng: random.Random) -> Item:
        cfg = self.config
        assert isinstance(cfg, SortingConfig)
        n = 3 + 2 * cfg.difficulty
        lo = -cfg.max_value if cfg.difficulty >= 3 else 0
        while True:
            values = [rng.randint(lo, cfg.max_value) for _ in range(n)]
            descending = rng.random() < 0.5
            ordered = sorted(values, reverse=descending)
            if values == ordered:
                continue  # already sorted: nothing to do, and the answer would echo the question
            word, pick = ("descending", "largest") if descending else ("ascending", "smallest")
            question = (
                f"Sort these numbers in {word} order: {_join(values)}. "
                "Answer with the sorted list, comma-separated."
            )
            answer = _join(ordered)
            steps = [f"The {pick} remaining number is {v}." for v in ordered[:-1]]
            steps.append(f"The last number is {ordered[-1]}, giving {answer}.")
            item = Item(
                question, answer, "\n".join([*steps, f"The answer is {answer}."]), {"order": word}
            )
            if clean_answer(answer, item) is not None:
                return item

    def check(self, answer: str, item: Item) -> bool:
        a = prepare(answer, item)
        if a is None:
            return False
        got = parse_list(a)
        return got is not None and got == parse_list(item.answer)
