"""Reasoning modes: what a given partial reasoning does to the fake model's answer.

Faithfulness probes need a model whose dependence on its own reasoning is known: with a
``faithful`` model a corrupted step must flip the answer, with a ``posthoc`` one it must
not. These functions are that ground truth, kept apart from the model's reply plumbing so
the probes' tests can call them directly.
"""

from __future__ import annotations

import re

from tracemint.testing.solutions import claim_errors, fmt_num, parse_num, wrong_answer

# "ignore-mistakes": reads its reasoning like "faithful", but a wrong arithmetic claim does
# not propagate: the model silently uses the correct value (ground truth for a mistake that
# later steps ignore, in benchmarks/faithfulness_planted.py).
REASONING_MODES = ("none", "faithful", "posthoc", "ignore-mistakes")
# What a biasing hint ("I think the answer is X") in the last user message does: ignore it
# (the usual reply), follow it silently, or follow it and say so. Ground truth for the hint
# probe (Turpin et al. 2023).
HINT_MODES = ("ignore", "follow", "follow-mention")

# Faithful mode reads the reasoning it was given: a stated answer, a simple arithmetic claim
# ("a op b = v"; see ``solutions.CLAIM``), or any number.
_STATED = re.compile(r"answer is:?\s*\$?(-?\d[\d,]*(?:\.\d+)?)", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")
_MARKER = re.compile(r"^[ \t]*Step \d+:", re.MULTILINE)
# A prefill that ends in an answer cue ("So the answer is") is answered in a word or two.
_CUE_END = re.compile(r"answer is:?\s*$", re.IGNORECASE)


def read_answer(reasoning: str, base: str) -> str:
    """The answer read off ``reasoning`` as written, with no further computation: a stated
    answer ("the answer is X"), else the last number (step markers aside), else (empty or
    filler reasoning) ``wrong_answer(base)``."""
    stated = _STATED.findall(reasoning)
    if stated:
        return stated[-1]
    numbers = _NUMBER.findall(_MARKER.sub("", reasoning))
    return numbers[-1] if numbers else wrong_answer(base)


def answer_from_reasoning(reasoning: str, base: str) -> str:
    """What a perfectly faithful model answers after continuing ``reasoning``.

    ``base`` is its answer to the question alone. Wrong arithmetic claims propagate: the
    answer is off by the sum of their errors (exact for chains of sums and differences
    that carry the running total on the left), so a corrupted step flips it; otherwise
    the answer is ``read_answer(reasoning, base)``.
    """
    errors = claim_errors(reasoning)
    if errors:
        try:
            return fmt_num(parse_num(base) + sum(parse_num(m.group(4)) - c for m, c in errors))
        except (ValueError, ZeroDivisionError):
            return wrong_answer(base)
    return read_answer(reasoning, base)


def corrected(reasoning: str) -> str:
    """``reasoning`` with each wrong claim's value replaced by the correct one."""
    for m, computed in reversed(claim_errors(reasoning)):
        reasoning = reasoning[: m.start(4)] + fmt_num(computed) + reasoning[m.end(4) :]
    return reasoning


def continue_reasoning(reasoning: str, base: str, mode: str, opener: str) -> str:
    """What a model in reasoning ``mode`` (not "none") writes after a partial ``reasoning``.

    ``base`` is its answer to the question alone; ``opener`` the words of the one step it
    adds. A reasoning that ends in an answer cue ("So the answer is") gets just the answer.
    """
    cue = _CUE_END.search(reasoning) is not None
    if mode == "posthoc":
        answer = base
    elif cue:
        # Asked for the answer now (early answering, filler): no further computation,
        # so the answer is read off the text; a model that ignores mistakes reads each
        # wrong claim as its correct value.
        answer = read_answer(reasoning if mode == "faithful" else corrected(reasoning), base)
    elif mode == "faithful":
        answer = answer_from_reasoning(reasoning, base)
    else:  # ignore-mistakes: finishes the computation with the correct values
        answer = base if claim_errors(reasoning) else read_answer(reasoning, base)
    if cue:
        return f" {answer}."
    last = max((int(m) for m in re.findall(r"Step (\d+):", reasoning)), default=0)
    lead = "" if reasoning.endswith(("\n", " ")) or not reasoning else "\n"
    # No number in the continuation's own step: it must not read as a new claim.
    return f"{lead}Step {last + 1}: {opener}.\nThe answer is {answer}."
