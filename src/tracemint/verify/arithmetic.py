"""Check the arithmetic claims (``expression = value``) written in each step of a trace.

Public API::

    check_steps(text, *, mode="auto") -> TraceCheck
    to_columns(check) -> dict               # JSON-friendly columns for the record schema
    Claim, StepCheck, TraceCheck            # frozen results

The work is split by job: :mod:`~tracemint.verify.claim_tokens` reads the text into
tokens, :mod:`~tracemint.verify.claim_runs` finds the runs of math in the prose (and drops
unit words with :mod:`~tracemint.verify.units`), :mod:`~tracemint.verify.exact` evaluates
a side; this module splits runs into claims and judges each one.

What is a claim:

* a GSM8K calculator annotation ``<<16-3-4=9>>``: the annotation is the claim, and the
  visible text around it (``16 - 3 - 4 = <<...>>9``) is not counted a second time;
* each ``=`` (or ``≈``) link of a maximal run of numbers, operators (``+ - − * × x · / ÷
  ^ **``, ``times``, ``plus``, ``minus``, ``divided by``, ``multiplied by``), parentheses,
  ``$ € £`` and ``%`` in the visible text: ``a = b = c`` makes two claims.

Decisions a user should know:

* **Exact evaluation.** Numbers are ``Fraction`` values (``1,200`` is 1200, ``.5`` is 1/2,
  ``½`` is 1/2); no ``eval``, no floats. Literals over 60 digits, powers over 10,000 bits
  or nesting over 50 parentheses are refused (``unchecked``): time stays linear in the text.
* **Rounding.** When the exact values differ and one side is a written decimal with *d*
  digits after the point, the claim is ``ok`` when that decimal is the exact value rounded
  half-up to *d* places (``10/3 = 3.33`` and ``2/3 = 0.67`` are ok, ``10/3 = 3.34`` and
  ``2/3 = 0.66`` are wrong). An integer after ``=`` is not a rounding: a neighbouring
  integer of a non-integer result (``13/6 = 2`` whole cycles, ``250/3 = 84`` buses) is
  ``unchecked`` because word problems floor and ceil on purpose; any other is ``wrong``.
  After ``≈`` integers round like decimals.
* **Percent.** ``%`` (or ``percent``) inside an expression divides by 100 (``20*25% = 5``,
  ``50% of 80 = 40``). A side that is just ``N%`` is read both ways, ``N`` and ``N/100``,
  because ``40/80*100 = 50%`` and ``40/80 = 50%`` are both how people write it.
* **Notation.** ``25 / 1/3`` divides by the tight fraction (75); ``3*4 = 12 + 2 = 14`` (the
  "=" that means "then") is ok when the right side starts with the left side's exact value;
  its arithmetic is still checked (``3*4 = 13 + 2`` is wrong).
* **Units and prose between the numbers.** Unit words are dropped and the numbers
  checked: ``11 teeth + 4 teeth = 15 teeth``, ``$6/hour * 2 hours = $12``, ``$6 per hour``,
  ``45 hours/week x 4 weeks = 180 hours``, ``3375 gallons * 1/3 = 1125 gallons`` (see
  :mod:`~tracemint.verify.units`: up to four words that end right before an operator or
  ``=``, so ``= 12 apples, so 12 + 5 = 17`` stays two claims). A sum over two units of one
  measure (``2 hours + 30 minutes = 150 minutes``) is ``unchecked``: without conversion
  the numbers do not add. No dimensional analysis is done beyond that.
* **LaTeX.** ``\\times``, ``\\cdot``, ``\\div``, ``\\frac{a}{b}`` (one group: ``1 /
  \\frac{1}{2} = 2``), ``\\approx``, ``\\$``, ``\\%``, ``\\left(``, ``\\(...\\)`` and
  ``\\text{apples}`` (a unit) are read; other commands (``\\sqrt``, ``\\binom``) cut the run.
* **Not arithmetic.** A single letter is a variable, never a unit (``2x + 3 = 7``, ``2L +
  8 = 22`` are ``unchecked``; ``2x = 10`` is no claim). A tight ``a-b`` with ``a < b`` that
  does not hold is a range (``5-7 = 2 days``: ``unchecked``); clock times (``3:30``),
  list markers (``1.``, ``Step 2:``) and an ``=`` inside brackets (``600/(3+1=4) = 150``)
  are not read as arithmetic either; ``= 8.333...`` is a shortened decimal (``unchecked``).
* **Unchecked, never wrong.** A link is not a claim when a side has no number (``x = 5``,
  ``Step 1 = start``). It is an ``unchecked`` claim when a side does not parse or was cut by
  the words around it (``2x + 3 = 7``, ``half of 10 + 4 = 9``, ``= 5 thousand``, ``= 50
  cents``, ``= 5 and 2/3``, ``= 1/3 of $150``, times like ``3:30``), or when both sides are
  bare numbers at the start of a run (``1 hour = 60``: a unit change, not arithmetic).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from . import units
from .claim_runs import find_runs, is_bare
from .claim_tokens import Tok, tokenize
from .exact import Parser, Refused, decimals, format_exact, literal
from .numbers import rounds_to
from .steps import Step, split_steps

OK, WRONG, UNCHECKED = "ok", "wrong", "unchecked"

_MAX_SIDE_TOKENS = 200  # a longer "expression" is not a claim anybody checks by hand
_ANNOTATION = re.compile(r"<<([^<>\n]{1,300})>>")
_LINE_MARKER = re.compile(
    r"^[ \t]*(?:[-*+•][ \t]|\d{1,3}[.)](?=\s)|\(\d{1,3}\)|step[ \t]*\d{1,3}\b[ \t]*[:.)-]?)",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True)
class Claim:
    """One ``expression = value`` link; offsets are into the whole trace.

    ``verdict`` is "ok", "wrong" or "unchecked"; ``computed`` is the exact value of
    ``expression`` ("9", "2.5", "10/3") when it was evaluated, else None.
    """

    expression: str
    value: str
    start: int
    end: int
    verdict: str
    computed: str | None = None


@dataclass(frozen=True)
class StepCheck:
    """A step and its claims: "wrong" if any claim is, "ok" if any is and none is wrong.

    A step whose claims are all ``unchecked`` (or that has none) is "unchecked", never
    "ok"; an "ok" step may still hold unchecked claims beside its checked ones.
    """

    step: Step
    verdict: str
    claims: tuple[Claim, ...]


@dataclass(frozen=True)
class TraceCheck:
    """All steps of a trace; ``n_checked`` counts claims that were ok or wrong.

    ``n_unchecked`` counts the claims found but not read (a side that does not parse, or
    words that change its meaning): a reader of ``n_checked`` alone would take them for
    checked, and an unparsed claim is never evidence that a step is right.
    """

    steps: tuple[StepCheck, ...]
    first_wrong_step: int | None
    n_checked: int
    n_wrong: int
    n_unchecked: int = 0


def check_steps(text: str, *, mode: str = "auto") -> TraceCheck:
    """Split ``text`` into steps (see :func:`~tracemint.verify.steps.split_steps`) and
    check every arithmetic claim in them; the first wrong step is reported 0-based."""
    checks = []
    for step in split_steps(text, mode):
        claims = tuple(_step_claims(step.text, step.start))
        verdicts = {c.verdict for c in claims}
        verdict = WRONG if WRONG in verdicts else OK if OK in verdicts else UNCHECKED
        checks.append(StepCheck(step, verdict, claims))
    n_wrong = sum(c.verdict == WRONG for s in checks for c in s.claims)
    n_checked = sum(c.verdict != UNCHECKED for s in checks for c in s.claims)
    n_unchecked = sum(c.verdict == UNCHECKED for s in checks for c in s.claims)
    first = next((s.step.index for s in checks if s.verdict == WRONG), None)
    return TraceCheck(tuple(checks), first, n_checked, n_wrong, n_unchecked)


def to_columns(check: TraceCheck) -> dict[str, Any]:
    """The record-schema columns: "steps", "first_wrong_step", "n_claims_checked/wrong"."""
    return {
        "steps": [
            {"text": s.step.text, "start": s.step.start, "end": s.step.end, "verdict": s.verdict}
            for s in check.steps
        ],
        "first_wrong_step": check.first_wrong_step,
        "n_claims_checked": check.n_checked,
        "n_claims_wrong": check.n_wrong,
    }


def _step_claims(text: str, offset: int) -> list[Claim]:
    """Claims of one step (annotations, then visible runs), sorted by position."""
    claims: list[Claim] = []
    for m in _ANNOTATION.finditer(text):
        toks = tokenize(m.group(1), offset + m.start(1))
        for claim in _run_claims(toks, text, offset, cut=(False, False), annotation=True):
            claims.append(_respan(claim, offset + m.start(), offset + m.end()))
    # Masking annotations (same length, so offsets hold) leaves "16 - 3 - 4 = " of
    # "16 - 3 - 4 = <<16-3-4=9>>9" with no value: the visible copy is not counted again.
    # List markers and bullets are masked too: "1. 3+4" and "- 3 + 4" are not operands.
    masked = _LINE_MARKER.sub(_blank, _ANNOTATION.sub(_blank, text))
    if "=" in masked or "≈" in masked or "\\approx" in masked:  # most prose need no tokens
        for run, cut_left, cut_right, scale in find_runs(tokenize(masked, offset)):
            claims.extend(_run_claims(run, text, offset, cut=(cut_left, cut_right), scale=scale))
    claims.sort(key=lambda c: c.start)
    return claims


def _blank(m: re.Match[str]) -> str:
    return "\x00" * (m.end() - m.start())


def _respan(claim: Claim, start: int, end: int) -> Claim:
    return Claim(claim.expression, claim.value, start, end, claim.verdict, claim.computed)


@dataclass(frozen=True)
class _Value:
    value: Fraction
    readings: tuple[tuple[Fraction, int | None], ...]  # (value, decimals shown) per reading
    head: Fraction | None  # the leading literal when the side goes on with an operator


def _run_claims(
    run: list[Tok],
    text: str,
    offset: int,
    *,
    cut: tuple[bool, bool],
    scale: Fraction | None = None,
    annotation: bool = False,
) -> list[Claim]:
    """One claim per ``=`` link of ``run`` whose sides both hold a number."""
    sides: list[list[Tok]] = [[]]
    relations: list[str] = []
    for tok in run:
        if tok.kind == "eq":
            sides.append([])
            relations.append(tok.text)
        else:
            sides[-1].append(tok)
    sides = [_trim_parens(s) for s in sides]
    inside = _eq_inside_parens(run)
    values: dict[int, _Value] = {}
    claims: list[Claim] = []
    for k, relation in enumerate(relations):
        left, right = sides[k], sides[k + 1]
        if not any(t.kind == "num" for t in left) or not any(t.kind == "num" for t in right):
            continue
        start, end = left[0].start, right[-1].end
        expression = text[left[0].start - offset : left[-1].end - offset]
        value = text[right[0].start - offset : right[-1].end - offset]
        first, last = k == 0, k + 2 == len(sides)
        # A bare number opening a run ("half of 10 = 5", "1 hour = 60", "Week 2 = 35 + 35",
        # "i.e. 48 = 100% + 20%") is a label or a quantity named by words we cannot read;
        # an annotation has no such words, so "<<40=33>>" is checked.
        bare = not annotation and is_bare(left)
        if (first and (cut[0] or _dangling(left, True) or bare)) or (
            last and (cut[1] or _dangling(right, False))
        ):
            claims.append(Claim(expression, value, start, end, UNCHECKED))
            continue
        if inside[k] or (k > 0 and inside[k - 1]) or _mixed_units(left, right):
            # "600/(3+1=4) = 150": an "=" inside brackets splits an expression;
            # "2 hours + 30 minutes = 150 minutes": dropping the units is not exact.
            claims.append(Claim(expression, value, start, end, UNCHECKED))
            continue
        try:
            lv = values[k] = values[k] if k in values else _evaluate(left)
            rv = values[k + 1] = _evaluate(right)
            if last and scale is not None:  # "= $28 million": 28 or 28,000,000
                scaled = tuple((v * scale, None) for v, _ in rv.readings)
                rv = _Value(rv.value, rv.readings + scaled, rv.head)
        except Refused:
            claims.append(Claim(expression, value, start, end, UNCHECKED))
            continue
        verdict = _judge(lv, rv, relation)
        if verdict == WRONG and (_is_range(left) or _converts(left, right, lv, rv)):
            # "5-7 = 2 days", "Weeks 1-2 = 96 - 70": a range or a label;
            # "30/60 hours = 30 minutes": a unit conversion the numbers alone cannot show.
            verdict = UNCHECKED
        computed = format_exact(lv.value) if verdict != UNCHECKED else None
        claims.append(Claim(expression, value, start, end, verdict, computed))
    return claims


def _eq_inside_parens(run: list[Tok]) -> list[bool]:
    """For each "=" of ``run``: whether a bracket opened after the run's start is still open."""
    start = 0
    while start < len(run) and run[start].kind == "lp":
        start += 1  # "(3 + 4 = 7)": the opening brackets are a remark's, see _trim_parens
    depth, out = 0, []
    for tok in run[start:]:
        depth += 1 if tok.kind == "lp" else -1 if tok.kind == "rp" else 0
        if tok.kind == "eq":
            out.append(depth > 0)
    return out


def _is_range(side: list[Tok]) -> bool:
    """``a-b`` written tight with ``a < b``: a range ("5-7 days") more often than a minus."""
    if len(side) != 3 or side[1].text != "-" or side[1].space or side[2].space:
        return False
    a, b = side[0], side[2]
    return (
        a.kind == b.kind == "num"
        and a.text.isdigit()
        and b.text.isdigit()
        and int(a.text) < int(b.text)
    )


def _converts(left: list[Tok], right: list[Tok], lv: _Value, rv: _Value) -> bool:
    """The value is the expression converted to another unit of the same measure, with no
    rate written between them: "30/60 hours = 30 minutes" (0.5 hours), not "6 feet * 12 =
    73 inches" (off by one, not by a factor) or "2 hours x 60 minutes/hour = 126"."""
    names = [t.unit for t in left + right if t.unit]
    if any("/" in name for name in names) or lv.value == 0 or rv.value == 0:
        return False
    if not any(units.conflicting([a, b]) for a in _units_of(left) for b in _units_of(right)):
        return False
    ratio = rv.value / lv.value
    return ratio in units.FACTORS or 1 / ratio in units.FACTORS


def _units_of(side: list[Tok]) -> list[str]:
    return [t.unit for t in side if t.unit] + ["dollar" for t in side if t.kind == "cur"]


def _mixed_units(left: list[Tok], right: list[Tok]) -> bool:
    """A sum or difference over two units of one measure: dropping them is not exact."""
    side = left + right
    if not any(t.kind == "op" and t.text in "+-" for t in side):
        return False
    names = [t.unit for t in side if t.unit] + ["dollar" for t in side if t.kind == "cur"]
    return units.conflicting(names)


def _dangling(side: list[Tok], left: bool) -> bool:
    """An operator at the outer edge of a side: the expression goes on beyond the run."""
    if left:
        edge = side[0]
        return edge.kind in ("pow", "pct") or (edge.kind == "op" and edge.text not in "-+")
    return side[-1].kind in ("op", "pow", "lp")


def _trim_parens(side: list[Tok]) -> list[Tok]:
    """Drop unmatched outer brackets: "(so 3 + 4 = 7)" has sides "3 + 4" and "7"."""
    depth = sum(1 if t.kind == "lp" else -1 if t.kind == "rp" else 0 for t in side)
    start, end = 0, len(side)  # indices, not slices: "(((...": linear, not quadratic
    while depth > 0 and start < end and side[start].kind == "lp":
        start, depth = start + 1, depth - 1
    while depth < 0 and start < end and side[end - 1].kind == "rp":
        end, depth = end - 1, depth + 1
    return side[start:end]


def _evaluate(side: list[Tok]) -> _Value:
    toks = [t for t in side if t.kind != "cur"]
    if len(toks) > _MAX_SIDE_TOKENS:
        raise Refused("expression too long")
    value = Parser(toks, Fraction(1, 100)).parse()
    places = decimals(toks[-2].text) if is_bare(toks) and toks[-1].kind == "pct" else None
    if is_bare(toks) and toks[-1].kind == "num":
        places = decimals(toks[-1].text)
    readings: tuple[tuple[Fraction, int | None], ...] = ((value, places),)
    if any(t.kind == "pct" for t in toks):
        # "%" is read as /100 and as a unit: "40/80 = 50%" and "40/80*100 = 50%",
        # "20*25% = 5" and "$7500/75% = $100" (dollars per percent) are all written.
        shifted = None if places is None else places + 2
        unit = Parser(toks, Fraction(1)).parse()
        readings = ((value, shifted), (unit, places))
    head = None
    if len(toks) >= 2 and toks[0].kind == "num" and toks[1].kind in ("op", "pow"):
        head = literal(toks[0].text)
    return _Value(value, readings, head)


def _judge(left: _Value, right: _Value, relation: str) -> str:
    """Apply the equality, rounding and notation rules of the module docstring."""
    pairs = [
        pair
        for lval, lplaces in left.readings
        for rval, rplaces in right.readings
        for pair in ((lval, rval, rplaces), (rval, lval, lplaces))
    ]
    for exact, shown, places in pairs:
        if exact == shown:
            return OK
        if places is None and relation == "≈":
            places = 0
        rounding = places is not None and (places > 0 or relation == "≈")
        if rounding and rounds_to(exact, shown, places or 0):
            return OK
    if right.head is not None and any(lval == right.head for lval, _ in left.readings):
        return OK  # "3*4 = 12 + 2": a running total
    for exact, shown, places in pairs:
        near = math.floor(exact) <= shown <= math.ceil(exact)
        if places == 0 and exact.denominator != 1 and near:
            return UNCHECKED  # "13/6 = 2" whole cycles: a floor or ceil, maybe deliberate
    return WRONG
