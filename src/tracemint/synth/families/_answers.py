"""Strict answer parsing shared by the families: exact numbers, integers, lists.

Each parser takes a candidate already passed through ``clean_answer`` and returns None for
anything that is not exactly one value of the expected shape, so "36 apples", "36, 37" and
"36 because ..." never parse. Values are ``Fraction`` so 36, 36.0 and 72/2 compare equal
without floats.
"""

from __future__ import annotations

import re
from fractions import Fraction

from tracemint.synth.base import Item, clean_answer

# A decimal with optional sign, "$" and properly grouped thousands ("1,200" but not "36,37").
_DECIMAL = re.compile(r"([-+]?)\$?((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)")
_FRACTION = re.compile(r"([-+]?)(\d+)\s*/\s*(\d+)")
_LATEX_FRAC = re.compile(r"([-+]?)\\[dt]?frac\{(\d+)\}\{(\d+)\}")
_INTEGER = re.compile(r"\d+")


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
    a = clean_answer(answer, item)
    if a is None:
        return False
    if prefix and a.replace(" ", "").lower().startswith(prefix):
        a = a.replace(" ", "")[len(prefix) :]
    value = parse_exact(a, fractions=fractions)
    return value is not None and value == Fraction(item.answer)


def check_count(answer: str, item: Item) -> bool:
    """``answer`` is exactly the item's non-negative integer answer (no sign, no decimals)."""
    a = clean_answer(answer, item)
    return a is not None and _INTEGER.fullmatch(a) is not None and int(a) == int(item.answer)
