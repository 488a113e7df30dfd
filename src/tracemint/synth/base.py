"""The family seam: a procedural problem generator paired with its own verifier.

A family (reasoning-gym calls them datasets) makes items from a seeded ``random.Random``
and a difficulty knob, each with an exact answer and a gold step-by-step rationale, and
judges candidate answers to its own items. Pairing the two keeps the judge honest about
the generator's answer format; keeping the judge strict (no partial credit for hedges,
candidate lists or junk after the answer) is what makes the items usable as rewards.

Adding a family: subclass ``Family`` with a ``config_class`` and register it under a name::

    @families.register("modular")
    class Modular(Family):
        config_class = ModularConfig
        def make(self, rng): ...
        def check(self, answer, item): ...
"""

from __future__ import annotations

import random
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from tracemint import plugins
from tracemint.config import validate_config
from tracemint.errors import ConfigError
from tracemint.registry import Registry


class FamilyConfig(BaseModel):
    """Knobs shared by every family; families add their own. Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    difficulty: int = Field(1, ge=1, le=10)


class CompositionalConfig(FamilyConfig):
    """A family whose items are built from combinations (of operations, of signs) that a
    compositional OOD split can hold out: ``split = "train"`` keeps items without a held-out
    combination, ``"heldout"`` items with one, at the same length; ``"all"`` keeps every item.

    The subclass names its held-out field in ``heldout_field``. With ``split = "all"`` neither
    field is dumped, so a record's config stays byte-identical to before the split existed.
    """

    heldout_field: ClassVar[str] = ""
    split: Literal["all", "train", "heldout"] = "all"

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.split == "all":
            data.pop("split", None)
            data.pop(self.heldout_field, None)
        return data

    def keeps(self, heldout: bool) -> bool:
        """Whether an item with (``heldout``) or without a held-out combination is in the split."""
        return self.split == "all" or (self.split == "heldout") == heldout


@dataclass(frozen=True)
class Item:
    """One generated problem.

    ``answer`` is the canonical answer string; ``rationale`` the gold solution, one step per
    line, ending with "The answer is <answer>."; ``data`` whatever structured facts the
    family's ``check`` needs (kept in the problem's metadata so a run can verify later).
    """

    question: str
    answer: str
    rationale: str
    data: dict[str, Any] = field(default_factory=dict)


class Family(ABC):
    """A (generator, verifier) pair. ``make`` must be a pure function of the rng state."""

    name: ClassVar[str] = ""
    config_class: ClassVar[type[FamilyConfig]] = FamilyConfig

    def __init__(self, config: FamilyConfig | Mapping[str, Any] | None = None) -> None:
        if isinstance(config, FamilyConfig):
            self.config = config
        else:
            self.config = validate_config(
                self.config_class, config or {}, what=f"family {self.name or type(self).__name__!r}"
            )

    @abstractmethod
    def make(self, rng: random.Random) -> Item:
        """One item, drawn from ``rng`` only (same rng state -> same item)."""

    @abstractmethod
    def check(self, answer: str, item: Item) -> bool:
        """Whether a candidate final answer (already extracted) is right for ``item``.

        Must be False for an empty answer, a hedge ("X or Y"), a list of candidates where
        one answer is expected, the right answer followed by anything else, and the echoed
        question. ``clean_answer`` below does the shared part.
        """


families: Registry[type[Family]] = plugins.families  # built-ins load lazily by name

_HEDGE = re.compile(r"\b(?:or|either|maybe|possibly|perhaps|probably)\b|\?|±", re.IGNORECASE)


def clean_answer(answer: str | None, item: Item, *, max_len: int = 200) -> str | None:
    """The candidate stripped of wrapping ($, \\boxed{}, trailing period, quotes), or None
    when it is empty, hedged, too long or (part of) the question itself."""
    if answer is None:
        return None
    a = answer.strip()
    m = re.fullmatch(r"\\boxed\{(.*)\}", a, re.DOTALL)
    if m:
        a = m.group(1).strip()
    a = a.strip("$ \t\n").rstrip(".").strip().strip("\"'`").strip()
    if not a or len(a) > max_len or _HEDGE.search(a):
        return None
    if len(a) > 3 and _echoes(a, item.question):
        return None
    return a


def _echoes(answer: str, question: str) -> bool:
    """``answer`` is a run of whole tokens of ``question`` (case and spacing ignored). Whole
    tokens: "x = 3" is no echo of "... = 3x + 9", though it is a substring of it."""
    a = " ".join(answer.lower().split())
    q = " ".join(question.lower().split())
    return re.search(rf"(?<!\w){re.escape(a)}(?!\w)", q) is not None


def generate(family: Family, n: int, seed: int, *, max_tries: int | None = None) -> Iterator[Item]:
    """``n`` distinct items (by question) from ``family``, deterministically from ``seed``.

    Duplicates are skipped; a config whose space holds fewer than ``n`` distinct items fails
    with a clear error instead of looping forever.
    """
    rng = random.Random(seed)
    seen: set[str] = set()
    tries = 0
    limit = max_tries if max_tries is not None else 20 * n + 1000
    while len(seen) < n:
        tries += 1
        if tries > limit:
            raise ConfigError(
                f"family {family.name!r}: only {len(seen)} distinct items in {limit} draws; "
                f"raise the difficulty or ask for fewer than {n}"
            )
        item = family.make(rng)
        if item.question in seen:
            continue
        seen.add(item.question)
        yield item


def create_family(name: str, options: Mapping[str, Any] | None = None) -> Family:
    """The registered family ``name`` built from recipe/CLI ``options`` (validated)."""
    cls = families.get(name)
    return cls(options or {})
