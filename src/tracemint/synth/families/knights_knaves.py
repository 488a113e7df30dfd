"""Knights and knaves: knights always tell the truth, knaves always lie; who is which?

Each islander makes one statement about the others. The generator draws a role assignment,
draws statements consistent with it, and keeps the puzzle only when brute force over all
``2**n`` assignments finds exactly one consistent with every statement.

Canonical answer: ``"Alice: knight, Bob: knave"``, one ``name: role`` pair per islander in
the order they are introduced, joined by ", ". ``check`` accepts any order and case, and
";" or "and" as separators are *not* accepted (only commas), so the format stays single.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

from pydantic import Field

from tracemint.synth.base import Family, FamilyConfig, Item, families
from tracemint.synth.families._answers import prepare

NAMES = (
    "Alice", "Bob", "Carol", "Dave", "Eve", "Frank", "Grace", "Heidi", "Ivan", "Judy",
    "Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter", "Zoe",
)  # fmt: skip

# A statement is a JSON-friendly list: [kind, args...]. Kinds and their meaning:
#   ["is", x, knight?]           x is a knight (True) / knave (False)
#   ["both", x, y, knight?]      x and y are both knights / both knaves
#   ["some", x, y, knight?]      at least one of x and y is a knight / knave
#   ["same", x, y, same?]        x and y are of the same kind / of different kinds
#   ["count", k]                 exactly k of us are knights
Statement = list[Any]
PEOPLE_BY_DIFFICULTY = (2, 2, 3, 3, 4, 4, 4, 5, 5, 5)


class KnightsKnavesConfig(FamilyConfig):
    # Number of islanders; None derives it from difficulty (2 at 1-2 up to 5 at 8-10).
    people: int | None = Field(None, ge=2, le=5)


def role_word(knight: bool) -> str:
    return "knight" if knight else "knave"


def holds(stmt: Statement, roles: tuple[bool, ...]) -> bool:
    """Whether ``stmt`` is true when ``roles[i]`` says islander i is a knight."""
    kind = stmt[0]
    if kind == "is":
        return roles[stmt[1]] == stmt[2]
    if kind == "both":
        return roles[stmt[1]] == stmt[3] and roles[stmt[2]] == stmt[3]
    if kind == "some":
        return roles[stmt[1]] == stmt[3] or roles[stmt[2]] == stmt[3]
    if kind == "same":
        return (roles[stmt[1]] == roles[stmt[2]]) == stmt[3]
    return sum(roles) == stmt[1]


def mentions(stmt: Statement, n: int) -> set[int]:
    return (
        set(range(n)) if stmt[0] == "count" else {stmt[1], *([stmt[2]] if stmt[0] != "is" else [])}
    )


def say(stmt: Statement, names: list[str], speaker: int) -> str:
    """The statement in words, as said by ``speaker`` (who calls themself "I")."""
    kind = stmt[0]
    if kind == "is":
        return f"{names[stmt[1]]} is a {role_word(stmt[2])}."
    if kind == "count":
        k = stmt[1]
        return f"Exactly {k} of us {'is a knight' if k == 1 else 'are knights'}."
    x, y, flag = stmt[1], stmt[2], stmt[3]
    if x == speaker:
        x, y = y, x
    pair = f"{names[x]} and {'I' if y == speaker else names[y]}"
    if kind == "both":
        return f"{pair} are both {role_word(flag)}s."
    if kind == "some":
        return f"At least one of {pair} is a {role_word(flag)}."
    return f"{pair} are {'of the same kind' if flag else 'of different kinds'}."


def solutions(statements: list[Statement], n: int) -> list[tuple[bool, ...]]:
    """Every role assignment in which each speaker's statement is true iff they are a knight."""
    return [
        roles
        for roles in itertools.product((True, False), repeat=n)
        if all(holds(s, roles) == roles[i] for i, s in enumerate(statements))
    ]


@families.register("knights_knaves")
class KnightsKnaves(Family):
    """Unique-solution puzzles; the gold rationale is a pruned case analysis over roles."""

    name = "knights_knaves"
    config_class = KnightsKnavesConfig

    def make(self, rng: random.Random) -> Item:
        cfg = self.config
        assert isinstance(cfg, KnightsKnavesConfig)
        n = cfg.people or PEOPLE_BY_DIFFICULTY[cfg.difficulty - 1]
        names = rng.sample(NAMES, n)
        while True:
            roles = tuple(rng.random() < 0.5 for _ in range(n))
            statements = [self._statement(rng, i, roles, n) for i in range(n)]
            if solutions(statements, n) == [roles]:
                break
        lines = [f'{names[i]} says: "{say(s, names, i)}"' for i, s in enumerate(statements)]
        question = (
            "On an island, knights always tell the truth and knaves always lie. "
            f"You meet {n} islanders: {', '.join(names[:-1])} and {names[-1]}.\n"
            + "\n".join(lines)
            + "\nWho is a knight and who is a knave? Answer in the form "
            '"Name: knight, Name: knave", covering everyone.'
        )
        answer = ", ".join(f"{names[i]}: {role_word(r)}" for i, r in enumerate(roles))
        steps = self._cases(statements, names, n)
        rationale = "\n".join([*steps, f"The answer is {answer}."])
        data = {"names": names, "statements": statements, "roles": list(roles)}
        return Item(question, answer, rationale, data)

    @staticmethod
    def _statement(rng: random.Random, speaker: int, roles: tuple[bool, ...], n: int) -> Statement:
        """A statement whose truth matches the speaker's role (true for a knight)."""
        others = [j for j in range(n) if j != speaker]
        while True:
            kind = rng.choice(("is", "is", "both", "some", "same", "count"))
            if kind == "is":
                stmt: Statement = ["is", rng.choice(others), rng.random() < 0.5]
            elif kind == "count":
                stmt = ["count", rng.randint(0, n)]
            else:
                x, y = sorted(rng.sample(range(n), 2))
                stmt = [kind, x, y, rng.random() < 0.5]
            if holds(stmt, roles) == roles[speaker]:
                return stmt

    @staticmethod
    def _cases(statements: list[Statement], names: list[str], n: int) -> list[str]:
        """Depth-first case split in introduction order, cutting a branch as soon as some
        statement whose speaker and subjects are all decided contradicts its speaker."""
        steps: list[str] = []

        def describe(roles: tuple[bool, ...]) -> str:
            return ", ".join(f"{names[i]} is a {role_word(r)}" for i, r in enumerate(roles))

        def visit(roles: tuple[bool, ...]) -> None:
            k = len(roles)
            for i, s in enumerate(statements):
                if i < k and mentions(s, n) <= set(range(k)) and holds(s, roles) != roles[i]:
                    truth = "true" if holds(s, roles) else "false"
                    steps.append(
                        f'Suppose {describe(roles)}. Then {names[i]}\'s claim "{say(s, names, i)}" '
                        f"is {truth}, but {names[i]} is a {role_word(roles[i])}: contradiction."
                    )
                    return
            if k == n:
                steps.append(f"Suppose {describe(roles)}. Every statement is consistent.")
                return
            visit((*roles, True))
            visit((*roles, False))

        visit(())
        return steps

    def check(self, answer: str, item: Item) -> bool:
        a = prepare(answer, item)
        if a is None:
            return False
        expected = {
            name.lower(): role_word(r)
            for name, r in zip(item.data["names"], item.data["roles"], strict=True)
        }
        got: dict[str, str] = {}
        for part in a.split(","):
            name, sep, role = part.partition(":")
            name, role = name.strip().lower(), role.strip().lower()
            if not sep or name in got or role not in ("knight", "knave"):
                return False
            got[name] = role
        return got == expected
