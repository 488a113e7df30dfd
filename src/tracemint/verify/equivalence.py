"""Are two final answers the same? Exact, three-way, and cheap for the common case.

Order of tests (each only when the previous cannot decide):

1. identical after :func:`~tracemint.verify.latex.clean` (or after removing whitespace);
2. both plain numbers (:mod:`~tracemint.verify.numbers`): exact ``Fraction`` comparison;
3. lists, tuples, intervals, sets, unions: element by element;
4. both look like math: the guarded sympy parser and exact algebra;
5. free text: case, whitespace, punctuation and a leading article are ignored.

Decisions a user should know:

* **Percent is a unit.** ``50%`` == ``50`` == ``50 percent``; ``50%`` != ``0.5``. Accepting
  both 50 and 0.5 for one reference would accept two different numbers; with the rule
  "the number before % is the number" equality stays transitive (majority voting needs that).
* **Units are ignored unless both sides name different known units.** ``5 cm`` == ``5``,
  ``$1,200`` == ``1200 dollars``, ``5 cm`` != ``5 m``; unknown words ("eggs") are ignored.
* **Decimals are exact.** ``12.0`` == ``12`` and ``0.5`` == ``1/2``, but ``0.333`` != ``1/3``
  and ``3.14`` != ``\\pi``. When one side is a decimal that is the *rounding* of the other
  (a non-terminating fraction or an irrational), the result is ``None`` ("rounded decimal"):
  it is neither accepted nor marked wrong, because the reference itself may be rounded.
* **Bare comma lists and sets are unordered** (``1, 2`` == ``2, 1``: the usual "all
  solutions" answer); parenthesised tuples and intervals are ordered and keep their
  bracket types (``(1, 2]`` != ``(1, 2)``).
* **Digits of any script are ASCII digits** (``٤٢`` == ``42``), as in the grader and the
  family checks (:func:`~tracemint.verify.numbers.ascii_digits`).
* ``None`` means "cannot decide": a side failed to parse as math, was too large to
  evaluate, or no proof of equality was found within the time budget.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from .function_names import FUNCTION_NAMES
from .latex import clean
from .numbers import Quantity, ascii_digits, is_terminating, parse_number, rounds_to

if TYPE_CHECKING:
    import sympy


MAX_ANSWER_LENGTH = 2_000  # longer answers are only compared for identity
SYMBOLIC_BUDGET_S = 1.0  # soft time budget for the sympy stage of one comparison

_THOUSANDS = re.compile(r"[-+$]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_MATH_WORDS = frozenset([*FUNCTION_NAMES, "sqrt", "frac", "pi", "inf", "infty", "infinity"])
_WORD = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{2,}")
_ARTICLE = re.compile(r"^(?:the|a|an)\s+")
_PAIRS = {"(": ")", "[": "]", "{": "}"}
_PLAIN_INT = re.compile(r"-?[0-9]{1,100}\Z")


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing two answers: ``equal`` is None when undecidable."""

    equal: bool | None
    reason: str | None = None


def answers_equal(a: str, b: str) -> bool | None:
    """True/False when ``a`` and ``b`` are (not) the same answer; None when undecidable."""
    return compare(a, b).equal


def compare(a: str, b: str, *, budget_s: float = SYMBOLIC_BUDGET_S) -> Comparison:
    """Compare two answer strings; see the module docstring for the rules."""
    a, b = ascii_digits(a), ascii_digits(b)  # "٤٢" is 42 here as in the grader and families
    if _PLAIN_INT.match(a) and _PLAIN_INT.match(b):
        # The common case (GSM8K-style integer answers) decided without the cleaning
        # passes; exactly what the full path concludes for two plain integers.
        return Comparison(int(a) == int(b))
    ca, cb = clean(a), clean(b)
    if not ca or not cb:
        return Comparison(False, "empty answer")
    if ca == cb or _squash(ca) == _squash(cb):
        return Comparison(True)
    if max(len(ca), len(cb)) > MAX_ANSWER_LENGTH:
        return Comparison(None, "answer too long")
    return _compare_clean(ca, cb, time.monotonic() + budget_s)


def _squash(s: str) -> str:
    return "".join(s.split())


def _compare_clean(ca: str, cb: str, deadline: float) -> Comparison:
    qa, qb = parse_number(ca), parse_number(cb)
    if qa is not None and qb is not None:
        return _compare_quantities(qa, qb)
    sa, sb = split_structure(ca), split_structure(cb)
    if sa is not None or sb is not None:
        if sa is None or sb is None:
            return Comparison(False, "list vs single value")
        return _compare_structures(sa, sb, deadline)
    mathy_a, mathy_b = qa is not None or _mathy(ca), qb is not None or _mathy(cb)
    if not (mathy_a and mathy_b):
        same = _text_key(ca) == _text_key(cb)
        if same or not (mathy_a or mathy_b):
            return Comparison(same)
        return Comparison(False, "text vs math")
    return _compare_symbolic(ca, cb, qa, qb, deadline)


def _compare_symbolic(
    ca: str, cb: str, qa: Quantity | None, qb: Quantity | None, deadline: float
) -> Comparison:
    """The sympy stage: guarded parse, then exact algebra within the deadline."""
    from .algebra import expressions_equal
    from .symbolic import ParseFailure, TooLarge

    try:
        ea, eb = _to_expr(ca, qa), _to_expr(cb, qb)
    except TooLarge:
        return Comparison(None, "too large to evaluate")
    except (ParseFailure, RecursionError, ValueError, TypeError, ArithmeticError):
        return Comparison(None, "parse failure")
    equal, why = expressions_equal(ea, eb, deadline)
    if equal is False:
        for q, other in ((qa, eb), (qb, ea)):
            if q is not None and q.decimals and _rounds_symbolic(other, q):
                return Comparison(None, "rounded decimal")
        return Comparison(False)
    return Comparison(equal, None if equal else why)


def _compare_quantities(qa: Quantity, qb: Quantity) -> Comparison:
    if qa.unit and qb.unit and qa.unit != qb.unit:
        return Comparison(False, "different units")
    if qa.value == qb.value:
        return Comparison(True)
    for q, other in ((qa, qb), (qb, qa)):
        if (
            q.decimals
            and not is_terminating(other.value)
            and rounds_to(other.value, q.value, q.decimals)
        ):
            return Comparison(None, "rounded decimal")
    return Comparison(False)


def _rounds_symbolic(expr: sympy.Expr, q: Quantity) -> bool:
    """True when the constant ``expr`` is not a terminating decimal but rounds to ``q``."""
    if expr.free_symbols or q.decimals is None:
        return False
    if expr.is_Rational:
        value = Fraction(int(expr.p), int(expr.q))
        return not is_terminating(value) and rounds_to(value, q.value, q.decimals)
    try:
        approx = expr.evalf(q.decimals + 30)
    except (ValueError, TypeError, ArithmeticError):
        return False
    if not approx.is_Float:
        return False
    return rounds_to(Fraction(str(approx)), q.value, q.decimals)


def _to_expr(text: str, quantity: Quantity | None) -> sympy.Expr:
    import sympy

    from .symbolic import parse_math

    if quantity is not None:
        return sympy.Rational(quantity.value.numerator, quantity.value.denominator)
    return parse_math(text)


def _mathy(s: str) -> bool:
    """True when ``s`` has no words except math function names (so "x^2+1", not "yes")."""
    return all(w.lower() in _MATH_WORDS for w in _WORD.findall(s))


def _text_key(s: str) -> str:
    """Normalise free text: case, whitespace, punctuation, a leading article."""
    s = _ARTICLE.sub("", s.lower().strip())
    if any(ch.isdigit() for ch in s):
        return _squash(s)  # keep signs, dots and commas: they change numbers
    return " ".join(re.sub(r"[^\w\s]", " ", s).split())


# -- structures ----------------------------------------------------------------------


def _top_level_split(s: str, sep: str) -> list[str]:
    parts, depth, start = [], 0, 0
    i = 0
    while i < len(s):
        ch = s[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and s.startswith(sep, i):
            parts.append(s[start:i].strip())
            start = i + len(sep)
            i = start
            continue
        i += 1
    parts.append(s[start:].strip())
    return parts


def _encloses(s: str) -> bool:
    """True when the bracket opening ``s`` closes at its last character."""
    depth = 0
    for i, ch in enumerate(s):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i == len(s) - 1
    return False


def split_structure(s: str) -> tuple[str, list[str]] | None:
    """Split a list/tuple/interval/set/union into (kind, items); None for a single value."""
    if "\\cup" in s:
        parts = _top_level_split(s, "\\cup")
        if len(parts) > 1:
            return "union", parts
    if s.startswith("\\lbrace") and s.endswith("\\rbrace"):
        return "set", [p for p in _top_level_split(s[7:-7], ",") if p]
    if s[:1] in _PAIRS and s[-1:] in ")]}" and _encloses(s):
        items = _top_level_split(s[1:-1], ",")
        if len(items) >= 2 and all(items):
            kind = "set" if s[0] == "{" else s[0] + s[-1]
            return kind, items
        return None
    if _THOUSANDS.fullmatch(s):
        return None
    items = _top_level_split(s, ",")
    if len(items) >= 2 and all(items):
        return "list", items
    return None


def _compare_structures(
    sa: tuple[str, list[str]], sb: tuple[str, list[str]], deadline: float
) -> Comparison:
    (ka, ia), (kb, ib) = sa, sb
    unordered = {"list", "set"}
    if len(ia) != len(ib):
        return Comparison(False, "different number of items")
    if ka != kb and not (ka in unordered and kb in unordered):
        return Comparison(False, "different kind of list")
    if ka in unordered:
        return _match_unordered(ia, ib, deadline)
    undecided: str | None = None
    for x, y in zip(ia, ib, strict=True):
        result = _compare_item(x, y, deadline)
        if result.equal is False:
            return Comparison(False, result.reason)
        if result.equal is None:
            undecided = result.reason
    return Comparison(True) if undecided is None else Comparison(None, undecided)


def _compare_item(x: str, y: str, deadline: float) -> Comparison:
    if x == y or _squash(x) == _squash(y):
        return Comparison(True)
    return _compare_clean(x, y, deadline)


def _match_unordered(ia: list[str], ib: list[str], deadline: float) -> Comparison:
    remaining = list(ib)
    undecided: str | None = None
    for x in ia:
        for j, y in enumerate(remaining):
            result = _compare_item(x, y, deadline)
            if result.equal:
                del remaining[j]
                break
            if result.equal is None:
                undecided = result.reason
        else:
            return Comparison(None, undecided) if undecided else Comparison(False)
    return Comparison(True)
