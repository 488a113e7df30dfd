"""Counting: occurrences of a letter in words, or numbers in a list with a property.

Difficulty sets the size: ``2 + 2 * difficulty`` words, or ``4 + 3 * difficulty`` numbers.
The gold rationale keeps a running total (``2 + 3 = 5``) per word, or shows why each
counted number qualifies, so the step checker can verify the arithmetic lines.
"""

from __future__ import annotations

import random

from pydantic import Field

from tracemint.synth.base import Family, FamilyConfig, Item, clean_answer, families
from tracemint.synth.families._answers import check_count

_WORDS = tuple(
    """strawberry banana mississippi committee balloon bookkeeper coffee letter pepper
    giraffe happiness assessment tomorrow parallel occurrence possession necessary
    raspberry elephant umbrella library mountain whisper kitten window garden river
    butterfly accommodate embarrass millennium referee sleepless successful address
    cinnamon difference grammar harass independent jewellery noodle official puzzle
    questionnaire recommend scissors tattoo vacuum yellow zucchini abacus barrel
""".split()  # noqa: SIM905 (a word list reads better as text)
)
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_PROPS = ("even", "odd", "divisible", "greater", "less")


class CountingConfig(FamilyConfig):
    max_value: int = Field(99, ge=10, le=10**6)  # list numbers lie in [1, max_value]
    letter_share: float = Field(0.5, ge=0.0, le=1.0)  # chance of a letter question


@families.register("counting")
class Counting(Family):
    """Count letters or qualifying numbers; the answer is a non-negative integer."""

    name = "counting"
    config_class = CountingConfig

    def make(self, rng: random.Random) -> Item:
        cfg = self.config
        assert isinstance(cfg, CountingConfig)
        while True:
            if rng.random() < cfg.letter_share:
                item = self._letters(rng, cfg)
            else:
                item = self._numbers(rng, cfg)
            if clean_answer(item.answer, item) is not None:
                return item

    def _letters(self, rng: random.Random, cfg: CountingConfig) -> Item:
        words = [rng.choice(_WORDS) for _ in range(2 + 2 * cfg.difficulty)]
        text = " ".join(words)
        # Mostly a letter that occurs; sometimes any letter, so 0 is a possible answer.
        letter = rng.choice(text.replace(" ", "")) if rng.random() < 0.9 else rng.choice(_LETTERS)
        total = 0
        steps = []
        for w in words:
            k = w.count(letter)
            steps.append(f'"{w}" has {k}: {total} + {k} = {total + k}.')
            total += k
        answer = str(total)
        question = (
            f'How many times does the letter "{letter}" appear in the text "{text}"? '
            "Answer with an integer."
        )
        return Item(
            question, answer, "\n".join([*steps, f"The answer is {answer}."]), {"kind": "letters"}
        )

    def _numbers(self, rng: random.Random, cfg: CountingConfig) -> Item:
        values = [rng.randint(1, cfg.max_value) for _ in range(4 + 3 * cfg.difficulty)]
        prop = rng.choice(_PROPS)
        if prop == "even" or prop == "odd":
            want = 0 if prop == "even" else 1
            hits = [v for v in values if v % 2 == want]
            desc = f"are {prop}"
            odd = " + 1" if want else ""
            why = [f"2 * {v // 2}{odd} = {v}, so {v} is {prop}." for v in hits]
        elif prop == "divisible":
            k = rng.randint(3, 9)
            hits = [v for v in values if v % k == 0]
            desc = f"are divisible by {k}"
            why = [f"{k} * {v // k} = {v}." for v in hits]
        else:
            t = rng.randint(1, cfg.max_value)
            hits = [v for v in values if (v > t if prop == "greater" else v < t)]
            desc = f"are {prop} than {t}"
            why = [f"{v} is {prop} than {t}." for v in hits]
        steps = [
            *why,
            f"That is {len(hits)} number{'s' if len(hits) != 1 else ''}."
            if hits
            else "No number qualifies.",
        ]
        answer = str(len(hits))
        listed = ", ".join(map(str, values))
        question = f"How many of these numbers {desc}: {listed}? Answer with an integer."
        return Item(
            question, answer, "\n".join([*steps, f"The answer is {answer}."]), {"kind": prop}
        )

    def check(self, answer: str, item: Item) -> bool:
        return check_count(answer, item)
