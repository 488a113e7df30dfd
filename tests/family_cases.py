"""Every registered family with items to test, and the pipeline's own judgement of a trace.

Shared by the family contract tests (tests/test_grader_adversarial.py) and the gold
teacher test (tests/test_gold_teacher_families.py). Families come from the registry, so a
new family is covered without editing a test; one that cannot be built from an empty
config must say how here (``OPTIONS``), or the tests fail and say so.
"""

from __future__ import annotations

import importlib.util
import json

from tracemint.records import Record
from tracemint.stages.grade import verify
from tracemint.synth.base import Family, Item, create_family, families, generate
from tracemint.synth.families import load_builtin
from tracemint.synth.records import problem_record

HAVE_GYM = importlib.util.find_spec("reasoning_gym") is not None

# Configs for families that need one, plus extra configs worth covering (both question
# kinds of ordering, larger puzzles). Keyed by family name; each value a list of configs.
OPTIONS: dict[str, list[dict[str, object]]] = {
    "gym": [{"task": "basic_arithmetic"}, {"task": "leg_counting"}] if HAVE_GYM else [],
    "ordering": [{"full_order": 1.0}, {"full_order": 0.0}, {"difficulty": 6}],
    "knights_knaves": [{}, {"people": 4}],
    "sorting": [{}, {"difficulty": 4}],
    "counting": [{}, {"difficulty": 3}],
    "dates": [{}, {"difficulty": 4}],
}


def family_names() -> list[str]:
    load_builtin()
    return sorted(families.names())


def configs() -> list[tuple[str, dict[str, object]]]:
    """(family name, options) pairs covering every registered family."""
    out: list[tuple[str, dict[str, object]]] = []
    for name in family_names():
        out += [(name, options) for options in OPTIONS.get(name, [{}])]
    return out


def items(
    name: str, options: dict[str, object], n: int, seed: int = 7
) -> tuple[Family, list[Item]]:
    family = create_family(name, options)
    return family, list(generate(family, n, seed=seed))


def judge(completion: str, family: Family, item: Item, index: int = 0) -> Record:
    """The verdict the pipeline gives ``completion`` for ``item``: the generic grader,
    then the family's own check (stages.grade.verify on the item's problem record)."""
    record = problem_record(family, item, index, 7)
    trace = {**record, "completion": completion, "truncated": False}
    [out] = verify([trace])
    return out


def label(name: str, options: dict[str, object]) -> str:
    return f"{name}{json.dumps(options, sort_keys=True) if options else ''}"
