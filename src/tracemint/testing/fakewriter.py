"""The fake model as a problem writer, so LLM-written problems have a known ground truth.

A writer request (the ``write_from_seeds`` / ``write_from_topic`` templates end with
"Problem: ... / Answer: ..." instructions) gets a new word problem from a few templates with
numbers drawn from the request's hash, and the fake model can later solve exactly those
problems (``written_answer``), statelessly, so a solver call on another server process
agrees with the writer. Every filter of ``synth/written.py`` has cases to catch: a share of
replies is unparseable, copies a seed, repeats one fixed problem, or states a wrong answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable

WRITER_CUE = "End your reply with exactly these two lines:"
_EXPAND = re.compile(r'^List (\d+) distinct subtopics of "([^"]+)"')
_SEED = re.compile(r"Example 1: (.+)")

_NAMES = ("Ana", "Bilal", "Chen", "Dara", "Emeka", "Farah", "Goran", "Hana", "Ivo", "Jun")
_THINGS = ("pencils", "apples", "marbles", "stickers", "cookies", "stamps", "shells", "beads")
_PLACES = ("market", "library", "workshop", "bakery", "garden", "harbour", "studio", "farm")

# (text with {name} {thing} {place} {a} {b} {c}, pattern that reads a, b, c back, answer)
_TEMPLATES: tuple[tuple[str, str, Callable[[int, int, int], int]], ...] = (
    (
        "At the {place}, {name} packs {a} boxes with {b} {thing} in each box and then adds "
        "{c} loose {thing}. How many {thing} does {name} have in all?",
        r"packs (\d+) boxes with (\d+) \w+ in each box and then adds (\d+) loose",
        lambda a, b, c: a * b + c,
    ),
    (
        "{name} had {a} {thing} before visiting the {place}, gave away {c} of them there, "
        "and then bought {b} bags holding 3 {thing} each. How many {thing} now?",
        r"had (\d+) \w+ before visiting the \w+, gave away (\d+) of them there, "
        r"and then bought (\d+) bags holding 3",
        lambda a, c, b: a - c + 3 * b,
    ),
    (
        "Every day for {a} days, the {place} sells {b} {thing} in the morning and {c} in the "
        "afternoon. {name} counts the total. What total does {name} get?",
        r"Every day for (\d+) days, the \w+ sells (\d+) \w+ in the morning and (\d+) in",
        lambda a, b, c: a * (b + c),
    ),
)
_PATTERNS = [(re.compile(p), f) for _, p, f in _TEMPLATES]


def is_writer_request(text: str) -> bool:
    return WRITER_CUE in text or bool(_EXPAND.match(text))


def written_answer(question: str) -> str | None:
    """The answer to a problem this writer wrote, or None for any other question."""
    for pattern, f in _PATTERNS:
        m = pattern.search(question)
        if m:
            return str(f(*(int(g) for g in m.groups())))
    return None


def _problem(h: int) -> tuple[str, str]:
    text, _, f = _TEMPLATES[h % len(_TEMPLATES)]
    a, b, c = 2 + (h >> 4) % 30, 2 + (h >> 10) % 40, 1 + (h >> 16) % 20
    q = text.format(
        name=_NAMES[(h >> 22) % len(_NAMES)],
        thing=_THINGS[(h >> 26) % len(_THINGS)],
        place=_PLACES[(h >> 30) % len(_PLACES)],
        a=a,
        b=b,
        c=c,
    )
    return q, str(f(a, b, c))


def writer_reply(request: str, h: int) -> str:
    """Reply to a writer or taxonomy request; ``h`` is the request's hash."""
    m = _EXPAND.match(request)
    if m:
        n, topic = int(m.group(1)), m.group(2).split(">")[-1].strip()
        return "\n".join(f"{topic} case {i + 1}" for i in range(n))
    kind = h % 8
    thinking = "The examples each take two or three steps of arithmetic with whole numbers."
    if kind == 0:
        return thinking + "\nHere is a new problem about sharing, with no clear answer."
    if kind == 1 and (seed := _SEED.search(request)):
        question, answer = seed.group(1).strip(), "1"  # copies the first seed
    elif kind == 2:
        question, answer = _problem(0)  # one fixed problem, written again and again
    else:
        question, answer = _problem(h >> 3)
        if kind == 3:
            answer = str(int(answer) + 1)  # the writer's own answer is wrong
    return f"{thinking}\nProblem: {question}\nAnswer: {answer}"
