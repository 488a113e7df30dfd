"""Strict answer parsing shared by the families: exact numbers, integers, lists.

Every family check starts with :func:`prepare`: digits of any script become ASCII (the
same :func:`~tracemint.verify.numbers.ascii_digits` the generic grader uses, so "٤٢" is 42
to both), markdown emphasis goes, and a hedge, approximation or retraction word
(:data:`~tracemint.verify.hedges.ANSWER_HEDGE`) rejects the candidate before
``clean_answer`` does the rest. Numeric checks then allow a currency sign, "%" or a unit
word after the number ("36 apples", "$36": formatting, as for the generic grader), and
nothing else: "36, 37" and "36 because ..." never parse. Values are ``Fraction`` so 36,
36.0 and 72/2 compare equal without floats.
"""

from __future__ import annotations

import re
from fractions import Fraction

from tracemint.synth.base import Item, clean_answer
from tracemint.verify.extract import extract
from tracemint.verify.hedges import ANSWER_HEDGE, HEDGE
from tracemint.verify.markers import PHRASE
from tracemint.verify.numbers import NOT_UNIT_WORDS, ascii_digits
from tracemint.verify.reading import reading_for

# A decimal with optional sign, "$" and properly grouped thousands ("1,200" but not "36,37").
_DECIMAL = re.compile(r"([-+]?)\$?((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)")
_FRACTION = re.compile(r"([-+]?)(\d+)\s*/\s*(\d+)")
_LATEX_FRAC = re.compile(r"([-+]?)\\[dt]?frac\{(\d+)\}\{(\d+)\}")
_INTEGER = re.compile(r"\d+")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_)(.+)\1", re.DOTALL)
# A number with formatting: "$36", "36%", "36 apples", "36 square feet".
_FORMATTED = re.compile(
    r"(?P<sign>[-+]?)\s*(?:[$€£]\s*)?(?P<num>[-+]?[\d.,/]+)"
    r"(?:\s*%|\s+(?P<unit>[^\W\d_]+(?:\s+[^\W\d_]+)?))?"
)
_NOT_UNITS = frozenset(["and", "to", "plus", "minus", "times", "over", "x", "i", "e", "pi"])


def prepare(answer: str | None, item: Item, *, max_len: int = 200) -> str | None:
    """The candidate as every family check reads it: ASCII digits, a whole completion read
    by the grader's reader, no emphasis, no hedge, then ``clean_answer`` (wrappers,
    trailing period, echo of the question)."""
    if answer is None:
        return None
    a = ascii_digits(answer).strip()
    if PHRASE.search(a) or "\\boxed" in a or "\\fbox" in a:
        # a whole completion ("The answer is X.", "#### X"), not an extracted answer: read
        # it like the grader does, so the family format (commas in lists) is kept whole
        # and a hedge or second answer anywhere after the answer rejects it
        boolean = item.answer.lower() in ("true", "false", "yes", "no")
        reading = reading_for(item.answer, question=item.question or None)
        found = extract(a, prefer_boolean=boolean, reading=reading)
        if found.problem is not None or found.answer is None:
            return None
        a = found.answer
    m = _EMPHASIS.fullmatch(a)
    if m is not None:
        a = m.group(2).strip()
    if ANSWER_HEDGE.search(a):
        return None
    a = clean_answer(a, item, max_len=max_len) or ""
    m = _EMPHASIS.fullmatch(a)
    return (m.group(2).strip() if m else a) or None


def strip_unit(answer: str, *, units: frozenset[str] | None = None) -> str:
    """``answer`` without a currency sign, "%" or unit word around its number ("$36",
    "36 apples" -> "36"); unchanged when anything else is there. With ``units`` only
    those (lower-case) words count as units, so "36 junk" stays as it is."""
    m = _FORMATTED.fullmatch(answer.strip())
    if m is None or (m["sign"] and m["num"][:1] in "-+"):
        return answer
    unit = m["unit"]
    words = set(unit.lower().split()) if unit else set()
    if unit and (HEDGE.search(unit) or words & (_NOT_UNITS | NOT_UNIT_WORDS)):
        return answer
    if units is not None and not words <= units:
        return answer
    return m["sign"] + m["num"]


def parse_exact(text: str, *, fractions: bool = False) -> Fraction | None:
    """One exact number ("36", "-2.5", "$1,200.00"; with ``fractions`` also "3/4" and
    "\\frac{3}{4}")."""
    t = text.strip()
    m = _DECIMAL.fullmatch(t)
    if m:
        value = Fraction(m.group(2).replace(",", ""))
        return -value if m.group(1) == "-" else value
    if fractions:
        m = _FRACTION.fullmatch(t) or _LATEX_FRAC.fullmatch(t)
        if m and int(m.group(3)) != 0:
            value = Fraction(int(m.group(2)), int(m.group(3)))
            return -value if m.group(1) == "-" else value
    return None


def check_number(answer: str, item: Item, *, fractions: bool = False, prefix: str = "") -> bool:
    """``answer`` is exactly the item's numeric answer; an optional ``prefix`` such as
    "x=" (spaces ignored) may come first."""
    a = prepare(answer, item)
    if a is None:
        return False
    if prefix and a.replace(" ", "").lower().startswith(prefix):
        a = a.replace(" ", "")[len(prefix) :]
    value = parse_exact(strip_unit(a), fractions=fractions)
    return value is not None and value == Fraction(item.answer)


def check_count(answer: str, item: Item) -> bool:
    """``answer`` is exactly the item's non-negative integer answer (no sign, no decimals)."""
    a = prepare(answer, item)
    if a is None:
        return False
    a = strip_unit(a)
    return _INTEGER.fullmatch(a) is not None and int(a) == int(item.answer)
