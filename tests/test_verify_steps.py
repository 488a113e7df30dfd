"""Step segmentation: modes, the offset invariant, and the auto-mode choice."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tracemint.verify.steps import STEP_MODES, Step, split_steps

GSM8K_50 = Path(__file__).parent / "data" / "steps_gsm8k_50.jsonl"


def assert_invariant(text: str, steps: list[Step]) -> None:
    """The contract of split_steps: exact offsets, stripped, ordered, disjoint, indexed."""
    previous_end = 0
    for i, step in enumerate(steps):
        assert step.index == i
        assert text[step.start : step.end] == step.text
        assert step.text and step.text == step.text.strip()
        assert step.start >= previous_end
        previous_end = step.end


def texts(text: str, mode: str = "auto") -> list[str]:
    steps = split_steps(text, mode)
    assert_invariant(text, steps)
    return [s.text for s in steps]


def test_lines_mode_drops_blank_lines_and_keeps_the_final_answer() -> None:
    text = "  He sprints 3*3=9 times\n\n\tSo he runs 9*60=540 meters  \n#### 540\n"
    assert texts(text, "lines") == [
        "He sprints 3*3=9 times",
        "So he runs 9*60=540 meters",
        "#### 540",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "1. Add 3 and 4.\n2. Double it: 14.\n   That is the total.\n3. Done",
        "Step 1: Add 3 and 4.\nStep 2: Double it: 14.\n   That is the total.\nStep 3: Done",
        "(1) Add 3 and 4.\n(2) Double it: 14.\n   That is the total.\n(3) Done",
    ],
)
def test_numbered_mode_keeps_continuation_lines_with_their_step(text: str) -> None:
    steps = texts(text, "numbered")
    assert len(steps) == 3
    assert steps[1].endswith("Double it: 14.\n   That is the total.")
    assert texts(text) == steps  # auto finds the markers


def test_numbered_mode_keeps_a_preamble_and_splits_off_the_final_answer() -> None:
    text = "Let's think.\n1. 3+4=7\n2. 7*2=14\n#### 14"
    assert texts(text, "numbered") == ["Let's think.", "1. 3+4=7", "2. 7*2=14", "#### 14"]


def test_a_decimal_at_a_line_start_is_not_a_marker() -> None:
    text = "3.5 apples cost $7.\n2.5 pears cost $5."
    assert texts(text) == ["3.5 apples cost $7.", "2.5 pears cost $5."]  # lines, not numbered


def test_sentences_mode_does_not_break_decimals_money_or_abbreviations() -> None:
    text = (
        "Mr. Smith pays $1.50 for 3.5 kg, e.g. a bag. He sold 4 bags! "
        "Did he profit? Yes. Dr. Who agrees. J. K. Rowling too."
    )
    assert texts(text, "sentences") == [
        "Mr. Smith pays $1.50 for 3.5 kg, e.g. a bag.",
        "He sold 4 bags!",
        "Did he profit?",
        "Yes.",
        "Dr. Who agrees.",
        "J. K. Rowling too.",
    ]


def test_sentences_mode_ends_a_sentence_after_a_number_and_at_line_breaks() -> None:
    text = "It costs 18. Then 3+4=7\nnext line"
    assert texts(text, "sentences") == ["It costs 18.", "Then 3+4=7", "next line"]


def test_auto_uses_sentences_for_a_single_line() -> None:
    assert texts("He has 3 apples. He buys 4 more. #### 7") == [
        "He has 3 apples.",
        "He buys 4 more.",
        "#### 7",
    ]


def test_one_marker_alone_is_not_a_numbered_list() -> None:
    assert texts("1. First we add.\nThen we multiply.") == ["1. First we add.", "Then we multiply."]


@pytest.mark.parametrize("mode", STEP_MODES)
def test_empty_and_blank_text_have_no_steps(mode: str) -> None:
    assert split_steps("", mode) == []
    assert split_steps(" \n\t\n ", mode) == []


def test_unknown_mode_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known modes: auto, lines, numbered, sentences"):
        split_steps("x", "paragraphs")


@pytest.mark.parametrize("mode", STEP_MODES)
def test_invariant_on_gsm8k_and_odd_whitespace(mode: str) -> None:
    with open(GSM8K_50) as f:
        samples = [json.loads(line)["answer"] for line in f]
    samples += [
        "\r\n a. \r\n\r\n  b?  c!\n",
        "...",
        "1.\n2.\n",
        "Step 1:\nStep 2: x",
        "\u00a0x\u00a0",
    ]
    for text in samples:
        assert_invariant(text, split_steps(text, mode))


@pytest.mark.parametrize("mode", STEP_MODES)
def test_large_input_is_fast(mode: str) -> None:
    text = ("Mr. A pays $1.50. 1. e.g. x\n" * 4000)[:100_000]
    t0 = time.perf_counter()
    steps = split_steps(text, mode)
    assert time.perf_counter() - t0 < 2.0
    assert_invariant(text, steps)
