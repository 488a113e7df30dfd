"""The compositional OOD split (issue 20) of ``modular`` and ``linear_equations``: train and
held-out items differ in which combinations they use, never in length, and ``split = "all"``
still makes the items every recorded experiment was run on."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracemint.errors import ConfigError
from tracemint.synth.base import Item, create_family, generate
from tracemint.synth.families.linear import item_combination
from tracemint.synth.families.modular import adjacent_pairs, op_sequence

N = 40
EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"


def _items(family: str, split: str, difficulty: int, seed: int, **knobs: object) -> list[Item]:
    fam = create_family(family, {"difficulty": difficulty, "split": split, **knobs})
    items = list(generate(fam, N, seed))
    assert all(fam.check(i.answer, i) for i in items), "gold answers must pass the check"
    return items


def _digest(items: list[Item]) -> str:
    rows = [[i.question, i.answer, i.rationale, i.data] for i in items]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), difficulty=st.integers(1, 5))
def test_modular_split_holds_out_adjacent_pairs(seed: int, difficulty: int) -> None:
    held = {"*+", "-*", "+-"}
    train = _items("modular", "train", difficulty, seed)
    heldout = _items("modular", "heldout", difficulty, seed)
    train_pairs = set().union(*(adjacent_pairs(op_sequence(i.question)) for i in train))
    assert train_pairs and not train_pairs & held
    assert all(adjacent_pairs(op_sequence(i.question)) & held for i in heldout)
    # same length: every chain has difficulty + 1 operations in both splits
    lengths = {len(op_sequence(i.question)) for i in train + heldout}
    assert lengths == {difficulty + 1}
    # the parse agrees with the rationale: one "v op n = raw" line per operation
    for item in train[:5] + heldout[:5]:
        ops = re.findall(r"^\d+ ([+\-*]) \d+ = ", item.rationale, flags=re.M)
        assert "".join(ops) == op_sequence(item.question)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), difficulty=st.integers(1, 5))
def test_linear_split_holds_out_sign_combinations(seed: int, difficulty: int) -> None:
    train = _items("linear_equations", "train", difficulty, seed)
    heldout = _items("linear_equations", "heldout", difficulty, seed)
    train_combos = {item_combination(i) for i in train}
    assert train_combos and "-+" not in train_combos
    assert {item_combination(i) for i in heldout} == {"-+"}
    # the divisor's sign in the parsed combination is the one the rationale divides by
    for item in train + heldout:
        divisor = int(re.search(r"Divide both sides by (-?\d+)", item.rationale).group(1))  # type: ignore[union-attr]
        assert item_combination(item)[0] == ("+" if divisor > 0 else "-")
    # same shape: the number of terms per equation is drawn alike in both splits
    terms = lambda items: Counter(len(i.question.split(". Give")[0].split()) for i in items)  # noqa: E731
    assert set(terms(train)) & set(terms(heldout))


def test_every_train_combination_is_used_and_operands_alike() -> None:
    """Over many items every non-held-out combination turns up in train, and moduli are drawn
    the same in both splits (rejection does not skew what a combination does not decide)."""
    train = _items("modular", "train", 1, 3) + list(
        generate(create_family("modular", {"split": "train"}), 400, 4)
    )
    seen = set().union(*(adjacent_pairs(op_sequence(i.question)) for i in train))
    assert seen == {"++", "--", "**", "+*", "-+", "*-"}
    lin = list(generate(create_family("linear_equations", {"split": "train"}), 400, 4))
    assert {item_combination(i) for i in lin} == {"++", "+-", "--"}
    for split in ("train", "heldout"):
        mods = [
            i.data["modulus"] for i in generate(create_family("modular", {"split": split}), 400, 5)
        ]
        assert 30 < sum(mods) / len(mods) < 70  # uniform on 2..97 either way


def test_custom_held_out_sets() -> None:
    items = _items("modular", "heldout", 2, 0, heldout_pairs=["**"])
    assert all("**" in op_sequence(i.question) for i in items)
    items = _items("linear_equations", "train", 2, 0, heldout_combinations=["++", "--"])
    assert {item_combination(i) for i in items} <= {"+-", "-+"}


@pytest.mark.parametrize(
    ("family", "knobs"),
    [
        ("modular", {"split": "some"}),
        ("modular", {"heldout_pairs": ["+/"]}),
        ("modular", {"heldout_pairs": []}),
        ("modular", {"heldout_pairs": ["++", "++"]}),
        ("modular", {"heldout_pairs": ["++", "+-", "+*", "-+", "--", "-*", "*+", "*-", "**"]}),
        # train pairs "+-", "-*" have no cycle: no train chain of 4 operations exists
        (
            "modular",
            {"split": "train", "heldout_pairs": ["++", "+*", "-+", "--", "*+", "*-", "**"]},
        ),
        ("linear_equations", {"split": "heldout", "heldout_combinations": ["+0"]}),
        ("linear_equations", {"heldout_combinations": ["++", "+-", "-+", "--"]}),
    ],
)
def test_bad_split_options_are_config_errors(family: str, knobs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        create_family(family, knobs)


# digests of 200 items (seed 7) generated before the split existed: "all" is unchanged
PINNED = {
    ("modular", 1, ()): "eb7607a63b62394e1be568ff0aaf6335be45685c3e1e7a359f355603bead0aea",
    ("modular", 3, ()): "8d95c65573d05ec21c7311e885cfe65e335e9b317552589c5c12f188256dfe19",
    ("modular", 1, (("max_modulus", 2),)): (
        "32fceb6688c639445b11701185d1bb2f9feb316498d000bd52e55246f5cecddd"
    ),
    ("modular", 2, (("max_modulus", 2),)): (
        "fa1ce2258c400f6d2d73101d82814020c2dc7a5efa65e25b3da51635882c1e7e"
    ),
    ("linear_equations", 1, ()): "2142e18981030647570c43880c094c53eb1ce3ab523b7e3b6fbb9a9b11e5fd34",
    ("linear_equations", 3, ()): "13db92bb81fb67ff971fad8f9fbdcf510c91809b1295d625e140399dc890aa02",
    ("linear_equations", 1, (("max_coefficient", 3), ("max_constant", 10))): (
        "761af57c51a3aa18976a503aedbf5314bc4643a5bfd771f9e29f2bf6753c4e72"
    ),
}


@pytest.mark.parametrize(("family", "difficulty", "knobs"), sorted(PINNED))
@pytest.mark.parametrize("explicit", [False, True])
def test_split_all_is_unchanged(
    family: str, difficulty: int, knobs: tuple[tuple[str, int], ...], explicit: bool
) -> None:
    options: dict[str, object] = {"difficulty": difficulty, **dict(knobs)}
    if explicit:
        options["split"] = "all"
    items = list(generate(create_family(family, options), 200, 7))
    assert _digest(items) == PINNED[(family, difficulty, knobs)]


def test_split_all_pinned_pairs() -> None:
    modular = list(generate(create_family("modular", {}), 2, 7))
    assert [(i.question, i.answer) for i in modular] == [
        ("Compute ((77 - 334) + 38) mod 43. Give the result as an integer from 0 to 42.", "39"),
        ("Compute ((96 - 597) + 520) mod 70. Give the result as an integer from 0 to 69.", "19"),
    ]
    linear = list(generate(create_family("linear_equations", {}), 2, 7))
    suffix = ". Give x as an integer or a fraction in lowest terms (like -7/3)."
    assert [(i.question, i.answer) for i in linear] == [
        ("Solve for x: -13 - 6x = -1" + suffix, "-2"),
        ("Solve for x: 17 - 6x = 5" + suffix, "2"),
    ]


@pytest.mark.parametrize("family", ["modular", "linear_equations"])
def test_config_records_name_the_split_only_when_one_is_used(family: str) -> None:
    """Records store ``config.model_dump()``: "all" adds no keys (records stay as they were),
    a split is written down so a record says which side of it its problems came from."""
    assert "split" not in create_family(family, {"split": "all"}).config.model_dump()
    dumped = create_family(family, {"split": "heldout"}).config.model_dump(mode="json")
    assert dumped["split"] == "heldout"
    assert create_family(family, dumped).config.model_dump(mode="json") == dumped


@pytest.mark.parametrize("family", ["modular", "linear_equations"])
def test_experiment_compositional_setup_writes_split_problem_files(
    family: str, tmp_path: Path
) -> None:
    """``rationales.py --ood compositional``: ID and training problems from the train split,
    OOD from the held-out one, all at the trained difficulty; the length split stays default."""
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        import common
        import rationales

        args = rationales.parse_args(["--family", family, "--ood", "compositional"])
        setup = rationales.build_setup(args)
        assert rationales.results_name(args) == f"rationales-{family}-compositional"
        assert setup.ood_difficulty == setup.id_difficulty
        eval_file, train_file = tmp_path / "eval.jsonl", tmp_path / "train.jsonl"
        held = common.write_problems(setup, eval_file, "id", 20, setup.eval_seed, set())
        held += common.write_problems(setup, eval_file, "ood", 20, setup.eval_seed, set())
        common.write_problems(setup, train_file, "train", 40, 1000, set(held))
        rows = [json.loads(x) for f in (eval_file, train_file) for x in f.read_text().splitlines()]
        for row in rows:
            split = "heldout" if row["id"].startswith("ood") else "train"
            assert row["config"]["split"] == split
            assert row["config"]["difficulty"] == setup.id_difficulty
            item = Item(row["question"], row["answer"], row["rationale"], row["data"])
            if family == "modular":
                pairs = adjacent_pairs(op_sequence(row["question"]))
                assert bool(pairs & {"*+", "-*", "+-"}) == (split == "heldout")
            else:
                assert (item_combination(item) == "-+") == (split == "heldout")

        default = rationales.build_setup(rationales.parse_args(["--family", family]))
        assert "split" not in default.knobs and "split" not in default.ood_knobs
        with pytest.raises(SystemExit):
            rationales.build_setup(
                rationales.parse_args(["--family", "word_problems", "--ood", "compositional"])
            )
    finally:
        sys.path.remove(str(EXPERIMENTS))
