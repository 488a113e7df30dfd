"""Refutations of a contrastive rationale: does it rule out each wrong option, checkably?

The ``contrastive`` strategy asks the teacher, on a multiple-choice problem, why the right
option holds and why each wrong one fails, one line per option (``(B) wrong: 3 * 4 = 12, not
7.``). A right answer reached by elimination is only as good as its eliminations, so each
wrong option's refutation is found and, where it can be, checked:

* **found**: the lines from one starting with the option's letter (``(B)``, ``B)``, ``B:``,
  ``Option B``) up to the next option's line or the final answer line;
* **refuted**: that text says the option fails (``wrong``, ``not``, ``incorrect``, ``≠``, ...);
* **checked** (a numeric option only): the text's arithmetic claims, judged by the step
  checker (:func:`~tracemint.verify.arithmetic.check_steps`, exact), hold and one computes a
  value other than the option's. A wrong claim, or arithmetic that lands on the option's
  own value, is not a check, and says so in ``reason``; a non-numeric option ("None of
  these", ``5(√3 + 1)``) can be refuted but never checked.

Which options are wrong comes from the reference (``reference_answer`` when the verify
stage has run, else read from ``reference``), or the trace's own answer without one: the
check does not depend on where it runs in the pipeline.

Column (contrastive traces with options only): ``contrastive_refutations``, one entry per
wrong option: ``option`` (letter), ``refuted``, ``checked``, ``wrong`` (a claim of the
refutation is wrong) and ``reason``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction

import pyarrow as pa

from tracemint.records import Record, declare_columns

from .arithmetic import OK, WRONG, check_steps
from .exact import format_exact
from .extract import extract_answer, extract_reference, parse_choices
from .numbers import parse_number

CONTRASTIVE = "contrastive"  # the strategy name whose traces are checked

_REFUTATION = pa.struct(
    [
        ("option", pa.string()),
        ("refuted", pa.bool_()),
        ("checked", pa.bool_()),
        ("wrong", pa.bool_()),
        ("reason", pa.string()),
    ]
)
COLUMNS: dict[str, pa.DataType] = {"contrastive_refutations": pa.list_(_REFUTATION)}
declare_columns(COLUMNS)

# A line about one option: "(B) ...", "B) ...", "B: ...", "B. ...", "Option B ...", with
# an optional bullet or bold marker in front.
_OPTION_LINE = re.compile(
    r"^[ \t]*(?:[-*•][ \t]*)?(?:\*\*)?(?:(?i:option)[ \t]+\(?(?P<named>[A-Z])\b\)?"
    r"|\((?P<paren>[A-Z])\)|(?P<bare>[A-Z])[ \t]*[).:])",
    re.MULTILINE,
)
_FINAL = re.compile(r"^[ \t]*(?:so,?[ \t]+)?the (?:final |correct )?answer is", re.I | re.M)
_NEGATIVE = re.compile(
    r"\b(?:wrong|incorrect|not|no|never|fails?|false|impossible|cannot|can't|isn't|doesn't"
    r"|aren't|eliminated?|ruled? out|too (?:small|large|big|low|high|many|few))\b|≠|!=",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Refutation:
    """How one wrong option is dealt with in the rationale."""

    option: str
    refuted: bool
    checked: bool
    wrong: bool
    reason: str


def option_segments(text: str, letters: Sequence[str]) -> dict[str, str]:
    """Each option's text in ``text``: from its line to the next option line (or final
    answer line); the first such stretch per letter wins."""
    marks = [
        (m.start(), letter)
        for m in _OPTION_LINE.finditer(text)
        if (letter := m["named"] or m["paren"] or m["bare"]) in letters
    ]
    ends = sorted({s for s, _ in marks} | {m.start() for m in _FINAL.finditer(text)})
    out: dict[str, str] = {}
    for start, letter in marks:
        end = next((e for e in ends if e > start), len(text))
        out.setdefault(letter, text[start:end])
    return out


def _option_values(option: str) -> list[Fraction] | None:
    """The numbers an option's text may mean (12% is 12 and 0.12), None when not numeric."""
    q = parse_number(option)
    if q is None:
        return None
    return [q.value, q.value / 100] if q.unit == "percent" else [q.value]


def refute(segment: str | None, letter: str, option: str) -> Refutation:
    """Judge one wrong option's refutation (``segment``: its text, None when absent)."""
    if segment is None:
        return Refutation(letter, False, False, False, "no line about this option")
    refuted = _NEGATIVE.search(segment) is not None
    values = _option_values(option)
    if values is None:
        return Refutation(letter, refuted, False, False, "not a number: nothing to compute")
    claims = [c for s in check_steps(segment, mode="lines").steps for c in s.claims]
    wrong = [c for c in claims if c.verdict == WRONG]
    if wrong:
        c = wrong[0]
        return Refutation(letter, refuted, False, True, f"wrong claim: {c.expression} = {c.value}")
    computed = [Fraction(c.computed) for c in claims if c.verdict == OK and c.computed]
    other = [v for v in computed if v not in values]
    if other:
        reason = f"computes {format_exact(other[-1])}, not {option}"
        return Refutation(letter, refuted, refuted, False, reason)
    if computed:
        return Refutation(letter, refuted, False, False, f"computes the option's value {option}")
    return Refutation(letter, refuted, False, False, "no checked arithmetic")


def refutations(record: Record) -> list[Refutation] | None:
    """Every wrong option's refutation in the record's completion; None without options
    or without a way to tell the right option."""
    choices = record.get("choices")
    if not choices:
        return None
    options = parse_choices(list(choices))
    right = record.get("reference_answer")
    if right not in options and record.get("reference"):
        right = extract_reference(str(record["reference"]), choices=list(choices))
    text = record.get("completion") or ""
    if right not in options:
        right = extract_answer(text, choices=list(choices))
    if right not in options:
        return None
    segments = option_segments(text, list(options))
    return [
        refute(segments.get(letter), letter, option)
        for letter, option in options.items()
        if letter != right
    ]


def check_refutations(traces: Sequence[Record]) -> list[Record]:
    """``contrastive_refutations`` on the ``contrastive`` strategy's traces; others pass."""
    out: list[Record] = []
    for t in traces:
        if t.get("strategy") != CONTRASTIVE:
            out.append(t)
            continue
        found = refutations(t)
        column = None if found is None else [asdict(r) for r in found]
        out.append({**t, "contrastive_refutations": column})
    return out
