"""Exact equality of two sympy expressions, in bounded time, never by tolerance.

Equality is *proved*, never assumed: two expressions are equal only when sympy reduces
their difference to exactly zero (structurally, by ``expand``/``cancel``/``radsimp``, or,
for small expressions, ``simplify``). High-precision numeric evaluation is used only to
*reject* quickly: a nonzero difference at 40 significant digits is a definite "no". When
the numbers agree but no proof is found within the budget, the answer is ``None``
(cannot decide), so a lucky approximation is never accepted.
"""

from __future__ import annotations

import time

import sympy

_DIGITS = 40
_SIMPLIFY_MAX_OPS = 40  # simplify() on larger expressions can take seconds


def _numeric(expr: sympy.Expr) -> sympy.Expr | None:
    """Evaluate a constant expression to ``_DIGITS`` digits; None when it is not a number."""
    try:
        value = expr.evalf(_DIGITS)
    except (ValueError, TypeError, ArithmeticError, RecursionError):
        return None
    if value.is_Number or (value.is_number and value.is_finite):
        return value
    return None


def _clearly_nonzero(expr: sympy.Expr) -> bool | None:
    """True when ``expr`` is provably numerically nonzero, False when ~0, None when unknown.

    subtle: evalf is adaptive. A true nonzero difference (even 1e-51) comes back with full
    precision, while a true zero comes back as 0 or as a float of ~1 bit of precision
    (``0.e-171``). So the test is on precision, not on a magnitude threshold, which keeps
    3.14159265358979323846264338327950288419716939937510 != pi.
    """
    value = _numeric(expr)
    if value is None or value.has(sympy.nan, sympy.zoo, sympy.oo):
        return None
    parts = value.as_real_imag()
    for part in parts:
        if part == 0:
            continue
        if not part.is_Float:
            return None
        if part._prec >= 20:
            return True
    return False


def _is_zero(expr: sympy.Expr, deadline: float) -> bool | None:
    """Try increasingly expensive exact reductions of ``expr`` to zero."""
    # No nsimplify: it *guesses* closed forms from floats, which is exactly the leniency
    # this grader refuses.
    for step in (sympy.expand, sympy.cancel, sympy.radsimp, sympy.sqrtdenest):
        if time.monotonic() > deadline:
            return None
        try:
            reduced = step(expr)
        except (
            ValueError,
            TypeError,
            ArithmeticError,
            RecursionError,
            NotImplementedError,
            sympy.PolynomialError,
        ):
            continue
        if reduced == 0:
            return True
        expr = reduced
    if sympy.count_ops(expr) <= _SIMPLIFY_MAX_OPS and time.monotonic() < deadline:
        try:
            if sympy.simplify(expr) == 0:
                return True
        except (ValueError, TypeError, ArithmeticError, RecursionError, NotImplementedError):
            return None
    return None


def expressions_equal(a: sympy.Expr, b: sympy.Expr, deadline: float) -> tuple[bool | None, str]:
    """Decide ``a == b`` exactly. Returns (equal, reason); equal is None when undecidable."""
    if a == b:
        return True, "identical"
    infinite = (sympy.oo, -sympy.oo, sympy.zoo, sympy.nan)
    if a in infinite or b in infinite or a.has(sympy.nan) or b.has(sympy.nan):
        return False, "different"
    try:
        diff = sympy.Add(a, -b)
    except (TypeError, ValueError, ArithmeticError):
        return None, "parse failure"
    if diff == 0:
        return True, "identical"
    symbols = sorted(diff.free_symbols, key=str)
    if not symbols:
        if _clearly_nonzero(diff):
            return False, "different"
    else:
        for trial in range(3):
            if time.monotonic() > deadline:
                return None, "time limit"
            # Deterministic, "generic" rational points: unlikely roots of a nonzero difference.
            point = {
                sym: sympy.Rational((-1) ** (j + trial) * (7 + 4 * j + 5 * trial), 5 + 2 * j)
                for j, sym in enumerate(symbols)
            }
            try:
                at = diff.subs(point)
            except (ValueError, TypeError, ArithmeticError, RecursionError):
                continue
            if _clearly_nonzero(at):
                return False, "different"
    proved = _is_zero(diff, deadline)
    if proved:
        return True, "proved"
    if time.monotonic() > deadline:
        return None, "time limit"
    return None, "could not prove equality"
