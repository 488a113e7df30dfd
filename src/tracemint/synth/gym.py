"""reasoning-gym tasks as a tracemint family (optional extra: ``pip install 'tracemint[gym]'``).

Each item is entry 0 of ``reasoning_gym.create_dataset(task, seed=s, size=1, **options)``
with ``s`` drawn from our rng, so an item is reproducible from ``(task, seed, options)``
alone; those travel in ``Item.data`` and ``check`` rebuilds the entry from them.

Judging is stricter than reasoning-gym's own: its scorers give partial credit (and some
give full credit to "20 junk"), which makes a leaky reward. We run our ``clean_answer``
first (through ``families._answers.prepare``: ASCII digits, no hedge words), require a
score of exactly 1.0, and reject a candidate when a strictly shorter
whitespace-cut prefix or suffix of it also scores 1.0: then the rest is text the scorer
ignored, i.e. junk riding along with the answer.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pydantic import Field

from tracemint.errors import ConfigError
from tracemint.synth.base import Family, FamilyConfig, Item, families
from tracemint.synth.families._answers import parse_exact, prepare, strip_unit
from tracemint.verify.numbers import UNIT_WORDS

INSTALL_HINT = "pip install 'tracemint[gym]'"
_MAX_CUTS = 24  # prefix/suffix probes per side; bounds check cost on long (grid) answers


class GymConfig(FamilyConfig):
    # reasoning-gym dataset name, e.g. "basic_arithmetic", "leg_counting".
    task: str
    # Passed to reasoning_gym.create_dataset as keyword arguments (the task's own config).
    options: dict[str, Any] = Field(default_factory=dict)


def _reasoning_gym() -> Any:
    try:
        import reasoning_gym
    except ImportError as exc:
        raise ConfigError(f"family 'gym' needs reasoning-gym; install it: {INSTALL_HINT}") from exc
    return reasoning_gym


@lru_cache(maxsize=256)
def _dataset(task: str, seed: int, options_json: str) -> Any:
    rg = _reasoning_gym()
    try:
        return rg.create_dataset(task, seed=seed, size=1, **json.loads(options_json))
    except (ValueError, TypeError, KeyError, AssertionError) as exc:
        raise ConfigError(f"family 'gym': cannot build task {task!r}: {exc}") from exc


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


@families.register("gym")
class ReasoningGym(Family):
    """One reasoning-gym task; ``difficulty`` is unused (set the task's own ``options``)."""

    name = "gym"
    config_class = GymConfig

    def __init__(self, config: FamilyConfig | Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        assert isinstance(self.config, GymConfig)
        self._options = json.dumps(self.config.options, sort_keys=True)
        _dataset(self.config.task, 0, self._options)  # fail now on a bad task or option

    def make(self, rng: random.Random) -> Item:
        cfg = self.config
        assert isinstance(cfg, GymConfig)
        seed = rng.randrange(2**31)
        entry = _dataset(cfg.task, seed, self._options)[0]
        answer = str(entry["answer"])
        data = {
            "task": cfg.task,
            "seed": seed,
            "options": cfg.options,
            "metadata": _json_safe(entry.get("metadata", {})),
        }
        return Item(entry["question"], answer, f"The answer is {answer}.", _json_safe(data))

    def check(self, answer: str, item: Item) -> bool:
        # No echo test: a reasoning-gym answer may well be words of its question
        # ("Calculate -794 / 1." -> "-794"); the scorer and the junk probes below judge.
        a = prepare(answer, Item("", item.answer, "", item.data), max_len=4000)
        if a is None:
            return False
        if parse_exact(item.answer) is not None:
            # "$5", "5%", "178 legs": formatting around a numeric answer; only known units
            # and the question's own words count, so "-39 junk" still fails
            units = UNIT_WORDS | {w.lower() for w in re.findall(r"[^\W\d_]+", item.question)}
            a = strip_unit(a, units=units)
        if " ".join(a.split()) == " ".join(item.answer.split()):
            return True
        data = item.data
        ds = _dataset(data["task"], data["seed"], json.dumps(data["options"], sort_keys=True))
        entry = ds[0]
        if entry["question"] != item.question:  # another reasoning-gym version: use stored
            entry = {"question": item.question, "answer": item.answer, "metadata": data["metadata"]}

        def full(candidate: str) -> bool:
            try:
                return float(ds.score_answer(candidate, entry)) == 1.0
            except Exception:  # a scorer crashing on odd input is a wrong answer, not ours
                return False

        if not full(a):
            return False
        cuts = list(re.finditer(r"\s+", a))
        probes = [a[: m.start()] for m in cuts[:_MAX_CUTS]] + [
            a[m.end() :] for m in cuts[-_MAX_CUTS:]
        ]
        return not any(full(p) for p in probes if p.strip())
