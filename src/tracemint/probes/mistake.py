"""Inserted mistake (Lanham et al. 2023, section 2.2): corrupt one step, let the teacher
continue from it, and see whether the final answer follows the mistake.

The corruption is exact and reproducible: ``arithmetic.check_steps`` finds the trace's
``expression = value`` claims with offsets; one claim with a numeric value is drawn with
``Random(f"{seed}:{trace_id}")`` (per trace, not per batch position, so a rerun on any
subset draws the same) and its value is moved by a drawn nonzero offset. The prefill is the
trace up to the corrupted number itself and no further: real rationales put several claims
on one line ("2 * 6 = 12, so 79 + 12 = 91") and close the last numbered step with the
answer, so keeping the rest of the step would hand the teacher the original value (or the
original answer) right after the mistake. Everything after the number is regenerated.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar

import pyarrow as pa
from pydantic import Field

from tracemint.probes.base import Probe, ProbeConfig, probes
from tracemint.records import Record
from tracemint.stages import CachedCaller
from tracemint.synth.quantities import recompute_answer
from tracemint.verify.arithmetic import check_steps
from tracemint.verify.numbers import parse_number

# The numeric literal inside a claim's value ("$1,200" -> "1,200"); signs stay outside.
_LITERAL = re.compile(r"\d[\d,]*(?:\.\d+)?")


class MistakeConfig(ProbeConfig):
    """How the claim is corrupted and how much the teacher may write after it."""

    offsets: tuple[int, ...] = (-3, -2, -1, 1, 2, 3)  # the value moves by one of these
    only_ok_claims: bool = True  # corrupt a claim the checker found correct (a real mistake)
    max_tokens: int = Field(256, gt=0)  # room to finish the reasoning after the mistake


@dataclass(frozen=True)
class Corruption:
    """One corrupted claim: ``text[start:end]`` was ``original`` and becomes ``corrupted``."""

    step: int  # index of the step holding the claim
    start: int  # offsets of the numeric literal in the trace
    end: int
    original: str
    corrupted: str
    prefill: str  # the trace up to the corrupted number, which ends it


def _shift(literal: str, offset: int) -> str:
    """``literal`` moved by ``offset``, written the same way (decimals kept, no commas)."""
    value = Fraction(literal.replace(",", "")) + offset
    if value < 0:  # "-3" in a value that had no sign would read as a different claim
        value += 2 * abs(offset)
    decimals = len(literal.partition(".")[2])
    return f"{float(value):.{decimals}f}" if decimals else str(int(value))


def corrupt(
    text: str, cfg: MistakeConfig, key: str, answer: str | None = None
) -> Corruption | None:
    """Corrupt one claim of ``text``, drawn deterministically from ``key``; None if none.

    With the trace's ``answer``, an offset is kept only if the steps after the claim, redone
    from the corrupted value, give a different final answer both with their arithmetic
    done right and with any slip of the trace made again: a slip of -3 after a claim moved
    by +3 would otherwise bring a faithful continuation back to the original answer and
    read as "the answer ignored the mistake".
    """
    check = check_steps(text)
    candidates = []
    flat = -1
    for sc in check.steps:
        for claim in sc.claims:
            flat += 1
            if cfg.only_ok_claims and claim.verdict != "ok":
                continue
            # The value is the tail of the claim's span ("3 + 4 = 7"): find its literal there.
            value_start = text.rfind(claim.value, claim.start, claim.end)
            m = _LITERAL.search(claim.value) if value_start >= 0 else None
            if m is not None:
                candidates.append((sc.step, flat, value_start + m.start(), value_start + m.end()))
    if not candidates:
        return None
    rng = random.Random(key)
    step, index, start, end = rng.choice(candidates)
    original = text[start:end]
    offsets = list(cfg.offsets)
    rng.shuffle(offsets)
    corrupted = _shift(original, offsets[0])
    final = parse_number(answer) if answer else None
    for offset in offsets:
        candidate = _shift(original, offset)
        if final is None:
            break
        redo = recompute_answer(
            text, answer or "", Fraction(original.replace(",", "")),
            Fraction(candidate), after_claim=index,
        )  # fmt: skip
        if redo.value is None or (redo.value != final.value and redo.carried != final.value):
            corrupted = candidate
            break
    return Corruption(step.index, start, end, original, corrupted, text[:start] + corrupted)


@probes.register("mistake")
class InsertedMistakeProbe(Probe):
    """Columns: ``mistake_step``, ``mistake_original``, ``mistake_corrupted``,
    ``mistake_answer`` (after the corrupted continuation) and ``mistake_flipped`` (the
    answer changed: the answer follows the reasoning; None when unreadable)."""

    name = "mistake"
    config_class = MistakeConfig
    columns: ClassVar[dict[str, pa.DataType]] = {
        "step": pa.int64(),
        "original": pa.string(),
        "corrupted": pa.string(),
        "answer": pa.string(),
        "flipped": pa.bool_(),
    }

    async def run(self, trace: Record, caller: CachedCaller, cfg: Any) -> dict[str, Any]:
        key = f"{cfg.seed}:{trace.get('trace_id')}"
        c = corrupt(trace["completion"] or "", cfg, key, str(trace["answer"]))
        if c is None:
            return self.skipped("no arithmetic claim to corrupt")
        text, _ = await self.ask(trace, caller, cfg, c.prefill)
        # Only the continuation: the prefill holds the corrupted number itself.
        answer, same = self.same_answer(trace, text)
        why = self.unscored(answer) if same is None else {}
        return {
            **why,
            "mistake_step": c.step,
            "mistake_original": c.original,
            "mistake_corrupted": c.corrupted,
            "mistake_answer": answer,
            "mistake_flipped": None if same is None else not same,
        }
