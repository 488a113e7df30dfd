"""Ordering puzzles (BIG-bench ``logical_deduction`` style): place n objects from clues.

Clues are drawn from a hidden order until position-domain propagation pins every object,
then redundant clues are dropped one by one, so the set is small and every clue matters.
Propagation is sound, so a pinned order is the only one; brute force over all ``n!``
orders (n <= 7) re-checks uniqueness anyway. The gold rationale is the propagation trace:
each line narrows where one object can be.

Answer: the full order as comma-separated names ("Ann, Bob, Cid"), or one name when the
question asks for a single position. ``check`` compares names case- and space-insensitively.
"""

from __future__ import annotations

import itertools
import random
from functools import lru_cache

from pydantic import Field

from tracemint.synth.base import Family, FamilyConfig, Item, families
from tracemint.synth.families._answers import prepare

ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh")
BOOKS = ("atlas", "bible", "comic", "diary", "essay", "guide", "manual", "novel", "poem")
RUNNERS = ("Ana", "Ben", "Cleo", "Dan", "Eli", "Fay", "Gus", "Hal", "Ivy", "Joe")

# A clue: ("before", x, y) x ahead of y (not necessarily adjacent); ("at", x, k) x at
# position k from the front (0-based); ("from_end", x, k) x at position k from the back.
Clue = tuple[str, int, int]


def clue_text(clue: Clue, names: list[str], theme: str) -> str:
    """The clue in words. Shelf books run left to right; runners run first to last."""
    kind, x, y = clue
    if theme == "shelf":
        if kind == "before":
            return f"The {names[x]} is somewhere to the left of the {names[y]}."
        side = "left" if kind == "at" else "right"
        where = f"{side}most" if y == 0 else f"{ORDINALS[y]} from the {side}"
        return f"The {names[x]} is the {where}." if y else f"The {names[x]} is the {where} book."
    if kind == "before":
        return f"{names[x]} finished ahead of {names[y]}."
    if kind == "at":
        return f"{names[x]} finished {ORDINALS[y]}."
    return f"{names[x]} finished {'last' if y == 0 else ORDINALS[y] + ' from last'}."


class OrderingConfig(FamilyConfig):
    # Number of objects; None derives it from difficulty (3 + difficulty // 2, at most 7).
    objects: int | None = Field(None, ge=3, le=7)
    # Probability of asking for the full order rather than one position.
    full_order: float = Field(0.5, ge=0.0, le=1.0)


def satisfied(clue: Clue, where: tuple[int, ...]) -> bool:
    """Whether placing object x at position ``where[x]`` (0 = front) meets ``clue``."""
    kind, x, y = clue
    if kind == "before":
        return where[x] < where[y]
    if kind == "at":
        return where[x] == y
    return where[x] == len(where) - 1 - y


@lru_cache(maxsize=8)
def _placements(n: int) -> list[tuple[int, ...]]:
    return list(itertools.permutations(range(n)))


def propagate(
    clues: list[Clue], n: int, texts: dict[Clue, str] | None = None, names: list[str] | None = None
) -> tuple[list[set[int]], list[str]]:
    """Position domains after constraint propagation, plus the narrated steps when ``texts``
    and ``names`` are given (the generator runs it silently while choosing clues)."""
    dom = [set(range(n)) for _ in range(n)]
    steps: list[str] = []

    def narrow(x: int, keep: set[int], why: str) -> bool:
        if dom[x] <= keep:
            return False
        dom[x] &= keep
        if names is not None:
            steps.append(f"{why}, so {names[x]} is {_where(dom[x])}.")
        return True

    def name(x: int) -> str:
        return names[x] if names is not None else ""

    def said(clue: Clue) -> str:
        return texts[clue].rstrip(".") if texts is not None else ""

    for clue in clues:
        kind, x, k = clue
        if kind != "before":
            narrow(x, {k if kind == "at" else n - 1 - k}, said(clue))
    changed = True
    while changed:
        changed = False
        for clue in clues:
            kind, x, y = clue
            if kind != "before":
                continue
            hi, lo = max(dom[y]), min(dom[x])
            why = f"{said(clue)}, and {name(y)} is at position {hi + 1} or earlier"
            changed |= narrow(x, set(range(hi)), why)
            why = f"{said(clue)}, and {name(x)} is at position {lo + 1} or later"
            changed |= narrow(y, set(range(lo + 1, n)), why)
        for x in range(n):
            if len(dom[x]) == 1:
                (p,) = dom[x]
                for z in range(n):
                    if z != x:
                        why = f"Position {p + 1} is taken by {name(x)}"
                        changed |= narrow(z, set(range(n)) - {p}, why)
        for p in range(n):
            holders = [x for x in range(n) if p in dom[x]]
            if len(holders) == 1:
                why = f"Only {name(holders[0])} can be at position {p + 1}"
                changed |= narrow(holders[0], {p}, why)
    return dom, steps


def _where(positions: set[int]) -> str:
    ps = sorted(p + 1 for p in positions)
    if len(ps) == 1:
        return f"at position {ps[0]}"
    if ps == list(range(ps[0], ps[-1] + 1)):
        return f"at one of positions {ps[0]}-{ps[-1]}"
    return f"at one of positions {', '.join(map(str, ps[:-1]))} and {ps[-1]}"


def solved(clues: list[Clue], n: int) -> bool:
    return all(len(d) == 1 for d in propagate(clues, n)[0])


@families.register("ordering")
class Ordering(Family):
    """Unique-order puzzles; the gold rationale is the position-propagation trace."""

    name = "ordering"
    config_class = OrderingConfig

    def make(self, rng: random.Random) -> Item:
        cfg = self.config
        assert isinstance(cfg, OrderingConfig)
        n = cfg.objects or min(7, 3 + cfg.difficulty // 2)
        theme = rng.choice(("shelf", "race"))
        names = rng.sample(BOOKS if theme == "shelf" else RUNNERS, n)
        order = tuple(rng.sample(range(n), n))  # order[p] = object at position p
        pos = {x: p for p, x in enumerate(order)}
        clues: list[Clue] = []
        while not solved(clues, n):
            clue = self._clue(rng, pos, n)
            if clue not in clues:
                clues.append(clue)
        for clue in list(clues):  # drop clues the rest already imply
            rest = [c for c in clues if c != clue]
            if solved(rest, n):
                clues = rest
        rng.shuffle(clues)
        where = tuple(pos[x] for x in range(n))
        matches = [w for w in _placements(n) if all(satisfied(c, w) for c in clues)]
        if matches != [where]:  # cannot happen: propagation is sound; kept as a tripwire
            raise RuntimeError(f"ordering: clues {clues} admit {len(matches)} orders")
        texts = {c: clue_text(c, names, theme) for c in clues}
        _, steps = propagate(clues, n, texts, names)
        listed = sorted(names)
        if theme == "shelf":
            intro = f"There are {n} books on a shelf: the " + ", the ".join(listed[:-1])
            intro += f" and the {listed[-1]}."
            frame = "from left to right"
        else:
            intro = f"{n} runners ran a race: {', '.join(listed[:-1])} and {listed[-1]}."
            frame = "from first to last"
        ask_full = rng.random() < cfg.full_order
        k = None if ask_full else rng.randrange(n)
        answer_names = [names[x] for x in order]
        if k is None:
            ask = f"What is their order {frame}? Answer with the names only, separated by commas."
            answer = ", ".join(answer_names)
        else:
            answer = answer_names[k]
            if theme == "shelf":
                ask = f"Which book is {ORDINALS[k]} from the left? Answer with its name only."
            else:
                ask = f"Which runner finished {ORDINALS[k]}? Answer with the name only."
        question = "\n".join([intro, *(texts[c] for c in clues), ask])
        head = f"Number the positions 1 to {n} {frame}."
        final = f"So the order {frame} is {', '.join(answer_names)}."
        rationale = "\n".join([head, *steps, final, f"The answer is {answer}."])
        data = {
            "names": names,  # object ids used in clues -> names
            "clues": [list(c) for c in clues],
            "order": answer_names,  # front to back
            "full": ask_full,
            "position": k,  # asked position (0-based from the front), None for full order
        }
        return Item(question, answer, rationale, data)

    @staticmethod
    def _clue(rng: random.Random, pos: dict[int, int], n: int) -> Clue:
        x = rng.randrange(n)
        r = rng.random()
        if r < 0.6:
            y = rng.choice([z for z in range(n) if z != x])
            return ("before", x, y) if pos[x] < pos[y] else ("before", y, x)
        if r < 0.8 or pos[x] == 0:  # "third from last" of three reads oddly: say "first"
            return ("at", x, pos[x])
        return ("from_end", x, n - 1 - pos[x])

    def check(self, answer: str, item: Item) -> bool:
        # A single-name answer is necessarily a word of the question, so clean_answer's
        # echo test would reject it; run the shared cleaning against an empty question
        # instead (an echoed question still fails the exact comparison below).
        probe = item if item.data["full"] else Item("", item.answer, "", item.data)
        a = prepare(answer, probe)
        if a is None:
            return False
        got = [_norm(part) for part in a.split(",")]
        want = [_norm(x) for x in item.data["order"]] if item.data["full"] else [_norm(item.answer)]
        return got == want


def _norm(name: str) -> str:
    words = name.lower().split()
    return " ".join(words[1:] if words[:1] == ["the"] else words)
