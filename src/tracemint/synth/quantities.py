"""Counterfactual problems: find the quantities in a word problem, change one, and recompute
the answer the trace's own arithmetic gives for the changed problem.

Public API::

    find_quantities(question) -> list[Quantity]      # numbers with character offsets
    draw_value(q, rng, avoid=()) -> Fraction          # a different value of the same class
    substitute(question, q, value) -> str             # the changed question text
    recompute_answer(rationale, answer, old, new) -> Recomputed
    format_number(value) -> str                       # "14", "2.5", "10/3"

The recomputation re-runs the rationale's ``expr = value`` claims (found by the step checker,
:func:`tracemint.verify.check_steps`) with the changed quantity propagated: every literal equal
to the old value gets the new one, every claim's written result is replaced by its recomputed
value for the claims after it. Decisions a user should know:

* **A literal is read as the latest source of its value.** Until a claim produces the old
  value itself, a literal equal to it is the question's quantity; after that, the claim's
  result. An implicit constant equal to the quantity ("doubles" written ``* 2`` when the
  question also says 2) cannot be told apart and is changed too, which is why the probe
  prefers quantities whose value appears once in the question.
* **The chain must reach the answer.** When no claim's written result is the trace's final
  answer, or a claim that depends on the change cannot be re-evaluated (words, units,
  rounding), the result is None with the reason; nothing is guessed.
* **Evaluation is exact** (``Fraction``), by a small recursive-descent parser: no ``eval``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Container, Iterable
from dataclasses import dataclass
from fractions import Fraction

from tracemint.verify.arithmetic import check_steps
from tracemint.verify.numbers import is_terminating, parse_number

# A number as written in a question: "1,200", "2.50", ".5", "12". Not part of a word or an
# identifier ("#3", "x2", "3rd"), a time ("3:30"), a fraction or a date ("1/2", "2024-05").
_QUANTITY = re.compile(
    r"(?<![\w.#/:,-])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?![\w/:]|[.,]\d|-\d)"
)
_PERCENT_AFTER = re.compile(r"\s*(?:%|percent\b)", re.IGNORECASE)


@dataclass(frozen=True)
class Quantity:
    """One number in a question. ``start``/``end`` span the digits only, so a changed value
    keeps the ``$`` before it and the ``%`` after it."""

    text: str
    start: int
    end: int
    value: Fraction
    decimals: int  # digits after the point as written ("2.50": 2)
    grouped: bool  # written with thousands separators ("1,200")
    currency: bool  # "$" right before it
    percent: bool  # "%" or "percent" right after it


def find_quantities(question: str) -> list[Quantity]:
    """The numeric quantities in ``question``, in order of appearance."""
    out = []
    for m in _QUANTITY.finditer(question):
        text = m["num"]
        digits = text.replace(",", "")
        out.append(
            Quantity(
                text=text,
                start=m.start(),
                end=m.end(),
                value=Fraction(digits),
                decimals=len(digits.partition(".")[2]),
                grouped="," in text,
                currency=question[: m.start()].rstrip().endswith("$"),
                percent=_PERCENT_AFTER.match(question, m.end()) is not None,
            )
        )
    return out


def draw_value(q: Quantity, rng: random.Random, avoid: Iterable[Fraction] = ()) -> Fraction:
    """A new value for ``q``: different, nonzero, same magnitude class.

    Same class: as many integer digits and decimals as written (``7`` -> 1..9, ``45`` ->
    10..99, ``2.50`` -> 1.00..9.99, ``0.75`` -> 0.01..0.99); an integer's trailing zeros are
    kept (``1,200`` -> a multiple of 100), so round numbers stay round and integers stay
    integers. A percent stays at most 100 when it was. ``avoid`` (the question's other
    values) is skipped when the class has room.
    """
    scale = 10**q.decimals
    scaled = int(q.value * scale)
    whole = int(q.value)
    step = 1
    if q.decimals == 0 and scaled:
        while scaled % (step * 10) == 0:
            step *= 10
    if whole == 0:
        lo, hi = 1, scale - 1
    else:
        digits = len(str(whole))
        lo, hi = 10 ** (digits - 1) * scale, 10**digits * scale - 1
    if q.percent and q.value <= 100:
        hi = min(hi, 100 * scale)
    blocked = {q.value, *avoid}
    # Widen only when the class has no room: drop the step, then the avoided values, then
    # the lower bound ("100%" in steps of 100 has one option: itself).
    for first, stride, skip in (
        (-(-lo // step) * step, step, blocked),
        (lo, 1, blocked),
        (lo, 1, {q.value}),
        (1, 1, {q.value}),
    ):
        fresh = [Fraction(v, scale) for v in range(first, hi + 1, stride)]
        fresh = [v for v in fresh if v not in skip]
        if fresh:
            return rng.choice(fresh)
    raise ValueError(f"no other value of the class of {q.text!r}")


def render(q: Quantity, value: Fraction) -> str:
    """``value`` written the way ``q`` was: same decimals, separators when ``q`` had them."""
    if q.decimals:
        return f"{float(value):,.{q.decimals}f}" if q.grouped else f"{float(value):.{q.decimals}f}"
    return f"{int(value):,}" if q.grouped else str(int(value))


def substitute(question: str, q: Quantity, value: Fraction) -> str:
    """``question`` with quantity ``q`` replaced by ``value`` (written like ``q``)."""
    return question[: q.start] + render(q, value) + question[q.end :]


def format_number(value: Fraction) -> str:
    """An exact value as an answer string: "14", "2.5", or "10/3" when it does not end."""
    if value.denominator == 1:
        return str(value.numerator)
    if is_terminating(value):
        return f"{value.numerator / value.denominator:.12f}".rstrip("0")
    return f"{value.numerator}/{value.denominator}"


# -- recomputing the rationale's chain ------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)|(?P<op>\*\*|[-+*/x×÷·−^()%])"
    r"|(?P<word>times|plus|minus|of|percent)\b|(?P<skip>\$))",
    re.IGNORECASE,
)
_WORD_OPS = {"times": "*", "plus": "+", "minus": "-", "of": "*", "percent": "%"}
_CANON = {"x": "*", "×": "*", "·": "*", "÷": "/", "−": "-", "**": "^"}


class _Unparsed(Exception):
    """The expression is not one this evaluator reads."""


def _tokens(expr: str) -> list[tuple[str, str | Fraction]]:
    out: list[tuple[str, str | Fraction]] = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None or m.end() == pos:
            if expr[pos:].strip():
                raise _Unparsed(expr)
            break
        pos = m.end()
        if m["num"]:
            out.append(("num", Fraction(m["num"].replace(",", ""))))
        elif m["op"]:
            out.append(("op", _CANON.get(m["op"].lower(), m["op"])))
        elif m["word"]:
            out.append(("op", _WORD_OPS[m["word"].lower()]))
    return out


def evaluate(expr: str, values: dict[Fraction, Fraction] | None = None) -> Fraction:
    """The exact value of ``expr``, each literal ``v`` read as ``values.get(v, v)``.

    Grammar: ``+ - * / ^``, parentheses, unary minus, ``N%`` = N/100, "of" = times.
    Raises ``ValueError`` when ``expr`` is not such an expression (or divides by zero).
    """
    try:
        toks = _tokens(expr)
    except _Unparsed:
        raise ValueError(f"cannot evaluate {expr!r}") from None
    values = values or {}
    pos = 0

    def peek() -> str | None:
        return str(toks[pos][1]) if pos < len(toks) and toks[pos][0] == "op" else None

    def take() -> tuple[str, str | Fraction]:
        nonlocal pos
        if pos >= len(toks):
            raise _Unparsed(expr)
        pos += 1
        return toks[pos - 1]

    def expr_() -> Fraction:
        value = term()
        while peek() in ("+", "-"):
            op = take()[1]
            value = value + term() if op == "+" else value - term()
        return value

    def term() -> Fraction:
        value = power()
        while peek() in ("*", "/"):
            op, right = take()[1], power()
            if op == "/" and right == 0:
                raise _Unparsed(expr)
            value = value * right if op == "*" else value / right
        return value

    def power() -> Fraction:
        base = unary()
        if peek() == "^":
            take()
            exp = power()
            if exp.denominator != 1 or abs(exp) > 64:
                raise _Unparsed(expr)
            return base ** int(exp)
        return base

    def unary() -> Fraction:
        if peek() == "-":
            take()
            return -unary()
        value = primary()
        while peek() == "%":
            take()
            value /= 100
        return value

    def primary() -> Fraction:
        kind, tok = take()
        if kind == "num":
            assert isinstance(tok, Fraction)
            return values.get(tok, tok)
        if tok == "(":
            value = expr_()
            if take()[1] != ")":
                raise _Unparsed(expr)
            return value
        raise _Unparsed(expr)

    try:
        value = expr_()
    except (_Unparsed, ZeroDivisionError):
        raise ValueError(f"cannot evaluate {expr!r}") from None
    if pos != len(toks):
        raise ValueError(f"cannot evaluate {expr!r}")
    return value


@dataclass(frozen=True)
class Recomputed:
    """The answer the rationale's own arithmetic gives after the change; ``value`` is None
    with ``reason`` when the chain does not reach the final answer. ``depends``: whether
    the answer changed at all.

    Two readings of a rationale with a slip (a claim whose written result is not its
    expression's value): ``value`` is what the same steps give with every claim computed
    right (a model that re-solves and does not slip again), ``carried`` what they give when
    each slip is made again by the same amount (a model whose slip is systematic). Both are
    faithful outcomes; they differ only for a rationale that slipped.
    """

    value: Fraction | None
    reason: str | None = None
    depends: bool = False
    carried: Fraction | None = None
    results: frozenset[Fraction] = frozenset()  # every written and computed claim result


def _first_number(text: str) -> Fraction | None:
    m = re.search(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+", text)
    return None if m is None else Fraction(m[0].replace(",", ""))


_UNIT_WORD = re.compile(r"[A-Za-z][A-Za-z']*(?:/[A-Za-z]+)*")
_TIMES_WORD = re.compile(r"(?<=[\d)a-z])\s*(?:\bx\b|×)\s*(?=[\d($])", re.IGNORECASE)


def claim_expression(expression: str) -> str:
    """A claim's left side as :func:`evaluate` reads it: units and currency dropped
    ("12 marbles * $3" -> "12 * 3"), "x"/"×" as times, "of" kept."""
    expr = _TIMES_WORD.sub(" * ", expression).replace("$", "")
    return _UNIT_WORD.sub(lambda m: " of " if m[0].lower() == "of" else " ", expr)


def recompute_answer(
    rationale: str, answer: str, old: Fraction, new: Fraction, after_claim: int = -1
) -> Recomputed:
    """Re-run ``rationale``'s claims with quantity ``old`` changed to ``new``.

    ``answer`` is the trace's final answer; it is reached when some claim's written result
    equals it. Claims are taken in order; a claim whose written result is its expression's
    value times 100 (``3/4 = 75%``) is scaled to match. ``after_claim``: the change applies
    to the claims after that index only (the inserted-mistake probe changes a claim's own
    written result and asks what follows from it).
    """
    parsed = parse_number(answer)
    if parsed is None:
        return Recomputed(None, "the final answer is not a number")
    final = parsed.value
    claims = [c for s in check_steps(rationale).steps for c in s.claims]
    if not claims:
        return Recomputed(None, "the rationale has no arithmetic claims to recompute")
    fixed: dict[Fraction, Fraction] = {old: new}  # literal -> its value, slips corrected
    carried: dict[Fraction, Fraction] = {old: new}  # literal -> its value, slips repeated
    broken: set[Fraction] = set()  # results that depend on the change but were not recomputed
    results: set[Fraction] = set()

    def source(written: Fraction, fix: Fraction | None, carry: Fraction | None) -> None:
        # this claim is now where later literals equal to `written` come from
        for table, value in ((fixed, fix), (carried, carry)):
            table.pop(written, None)
            if value is not None and value is not _BROKEN:
                table[written] = value
        broken.discard(written)
        if fix is _BROKEN or carry is _BROKEN:
            broken.add(written)

    for i, claim in enumerate(claims):
        written = _first_number(claim.value)
        if written is None:
            continue
        results.add(written)
        if i <= after_claim:
            continue
        expression = claim_expression(claim.expression)
        if _uses(expression, broken):
            source(written, _BROKEN, _BROKEN)
            continue
        try:
            before = evaluate(expression)
            fix, carry = evaluate(expression, fixed), evaluate(expression, carried)
        except ValueError:
            touched = _uses(expression, fixed) or _uses(expression, carried)
            source(written, _BROKEN if touched else None, _BROKEN if touched else None)
            continue
        results.add(before)
        if before == written:
            source(written, fix if fix != before else None, carry if carry != before else None)
        elif before * 100 == written:
            source(written, fix * 100, carry * 100)
        elif before.denominator == 1 and written.denominator == 1:  # a slip, not a rounding
            source(written, fix, carry + (written - before))
        else:  # a rounded or converted result: not recomputed
            source(written, _BROKEN, _BROKEN)
    if final not in results:
        return Recomputed(None, "the rationale's arithmetic does not reach the final answer")
    if final in broken:
        return Recomputed(None, "a claim that depends on the change could not be recomputed")
    value, slipped = fixed.get(final, final), carried.get(final, final)
    return Recomputed(
        value, depends=value != final and slipped != final, carried=slipped,
        results=frozenset(results),
    )  # fmt: skip


_BROKEN = Fraction(-1, 10**30)  # a marker compared by identity, never used as a number


def _uses(expr: str, changed: Container[Fraction]) -> bool:
    """Whether ``expr`` holds a literal whose value the change touched (loose scan)."""
    return any(
        Fraction(m[0].replace(",", "")) in changed
        for m in re.finditer(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+", expr)
    )
