"""Check the arithmetic claims (``expression = value``) written in each step of a trace.

Public API::

    check_steps(text, *, mode="auto") -> TraceCheck
    to_columns(check) -> dict               # JSON-friendly columns for the record schema
    Claim, StepCheck, TraceCheck            # frozen results

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
* **Unchecked, never wrong.** A link is not a claim when a side has no number (``x = 5``,
  ``Step 1 = start``). It is an ``unchecked`` claim when a side does not parse or was cut by
  the words around it (``2x + 3 = 7``, ``half of 10 + 4 = 9``, ``= 5 thousand``, ``= 50
  cents``, ``= 5 and 2/3``, ``= 1/3 of $150``, times like ``3:30``), or when both sides are
  bare numbers at the start of a run (``1 hour = 60``: a unit change, not arithmetic).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from . import units
from .numbers import rounds_to
from .steps import Step, split_steps

OK, WRONG, UNCHECKED = "ok", "wrong", "unchecked"

_MAX_DIGITS = 60  # longer literals are refused, not evaluated
_MAX_BITS = 10_000  # any intermediate numerator/denominator above this is refused
_MAX_DEPTH = 50  # parenthesis nesting; deeper would recurse without bound
_MAX_SIDE_TOKENS = 200  # a longer "expression" is not a claim anybody checks by hand

_VULGAR = {"¼": "1/4", "½": "1/2", "¾": "3/4", "⅓": "1/3", "⅔": "2/3", "⅕": "1/5"}
_VULGAR |= {"⅖": "2/5", "⅗": "3/5", "⅘": "4/5", "⅙": "1/6", "⅚": "5/6", "⅛": "1/8"}
_VULGAR |= {"⅜": "3/8", "⅝": "5/8", "⅞": "7/8"}
_ANNOTATION = re.compile(r"<<([^<>\n]{1,300})>>")
_LINE_MARKER = re.compile(
    r"^[ \t]*(?:[-*+•][ \t]|\d{1,3}[.)](?=\s)|\(\d{1,3}\)|step[ \t]*\d{1,3}\b[ \t]*[:.)-]?)",
    re.IGNORECASE | re.MULTILINE,
)
_TOKEN = re.compile(
    r"(?P<num>\d*[" + "".join(_VULGAR) + r"]|(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)"
    r"|(?P<ws>[ \t\u00a0]+|\\[()\[\]])"  # "\(" and "\[" delimit math, like a space
    r"|(?P<skip>\\(?:left|right|displaystyle|[!,;:])(?![A-Za-z]))"  # LaTeX typography
    r"|(?P<cur>\\?[$€£])"
    r"|(?P<pct>\\?%)"
    r"|(?P<pow>\*\*|\^)"
    r"|(?P<op>//|[-+*/×·⋅∗÷−–]|\\(?:times|cdot|div|ast)(?![A-Za-z]))"
    r"|(?P<frac>\}\s*\{)"  # the middle of "\frac{a}{b}": a ")" "/" "(" in one
    r"|(?P<lp>[(\[{]|\\[dt]?frac\s*\{)"
    r"|(?P<rp>[)\]}])"
    r"|(?P<eq>=+|≈|\\approx(?![A-Za-z]))"
    r"|(?P<word>[A-Za-z]+|\\(?:text|mathrm|mbox|textrm)\s*\{[^{}]{0,40}\})"  # a unit
    r"|(?P<other>[\s\S])"
)
_OPS = {"×": "*", "·": "*", "⋅": "*", "∗": "*", "÷": "/", "−": "-", "–": "-"}
_OPS |= {"\\times": "*", "\\cdot": "*", "\\ast": "*", "\\div": "/"}
_WORD_OPS = {"times": "*", "plus": "+", "minus": "-", "x": "*"}
_TWO_WORD_OPS = {("divided", "by"): "/", ("multiplied", "by"): "*"}
_OPERANDS = ("num", "rp", "pct")  # token kinds that can end an operand
_STARTS_OPERAND = ("num", "lp", "cur")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# A word right before a run that makes its first operand something else ("twice 5 + 1").
_CUT_BEFORE = _words("times plus minus over divided multiplied squared cubed")
_FRACTION_WORDS = _words(
    "half halves third thirds quarter quarters fourth fourths fifth fifths sixth sixths "
    "eighth eighths tenth tenths twice double triple thrice fraction percent percentage"
)
# A word right after a run that transforms its last number.
_CUT_AFTER = _words("squared cubed")
# A scale word after the value: "= $28 million" may mean 28 or 28,000,000; both are tried.
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9, "dozen": 12}
_SCALES |= {"trillion": 10**12, "k": 1000, "K": 1000, "M": 10**6, "bn": 10**9}
_SCALES |= {f"{word}s": factor for word, factor in _SCALES.items() if len(word) > 2}
_CENTS = {"cent": Fraction(1, 100), "cents": Fraction(1, 100)}  # "$1 / 2 = 50 cents"
_GLUED_UNITS = frozenset("mgshlL")  # "5m", "3h": a glued single letter that is a unit


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
    """A step and its claims: "wrong" if any claim is, "ok" if any is and none is wrong."""

    step: Step
    verdict: str
    claims: tuple[Claim, ...]


@dataclass(frozen=True)
class TraceCheck:
    """All steps of a trace; ``n_checked`` counts claims that were ok or wrong."""

    steps: tuple[StepCheck, ...]
    first_wrong_step: int | None
    n_checked: int
    n_wrong: int


@dataclass(frozen=True)
class _Tok:
    kind: str  # num, cur, pct, pow, op, lp, rp, eq, word, other
    text: str  # canonical operator for op/eq ("*", "="), else as written
    start: int
    end: int
    space: bool  # whitespace right before it
    unit: str = ""  # a number's unit word, dropped from the arithmetic ("teeth", "hour")


class _Refused(Exception):
    """The side is not an expression we evaluate (or would be too costly to)."""


# -- public ---------------------------------------------------------------------------


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
    first = next((s.step.index for s in checks if s.verdict == WRONG), None)
    return TraceCheck(tuple(checks), first, n_checked, n_wrong)


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


# -- finding claims -------------------------------------------------------------------


def _step_claims(text: str, offset: int) -> list[Claim]:
    """Claims of one step (annotations, then visible runs), sorted by position."""
    claims: list[Claim] = []
    for m in _ANNOTATION.finditer(text):
        toks = _tokens(m.group(1), offset + m.start(1))
        for claim in _run_claims(toks, text, offset, cut=(False, False), annotation=True):
            claims.append(_respan(claim, offset + m.start(), offset + m.end()))
    # Masking annotations (same length, so offsets hold) leaves "16 - 3 - 4 = " of
    # "16 - 3 - 4 = <<16-3-4=9>>9" with no value: the visible copy is not counted again.
    # List markers and bullets are masked too: "1. 3+4" and "- 3 + 4" are not operands.
    masked = _LINE_MARKER.sub(_blank, _ANNOTATION.sub(_blank, text))
    if "=" in masked or "≈" in masked:  # most prose steps need no tokenizing at all
        for run, cut_left, cut_right, scale in _runs(_tokens(masked, offset)):
            claims.extend(_run_claims(run, text, offset, cut=(cut_left, cut_right), scale=scale))
    claims.sort(key=lambda c: c.start)
    return claims


def _blank(m: re.Match[str]) -> str:
    return "\x00" * (m.end() - m.start())


def _respan(claim: Claim, start: int, end: int) -> Claim:
    return Claim(claim.expression, claim.value, start, end, claim.verdict, claim.computed)


def _tokens(text: str, offset: int) -> list[_Tok]:
    """Tokenize; whitespace is dropped but remembered on the next token.

    ``\frac{a}{b}`` becomes ``((a)/(b))``: the outer brackets make ``1 / \frac{1}{2}``
    divide by the whole fraction. A stack of open braces says which ``}`` closes a
    denominator (and so gets a second ``)``).
    """
    out: list[_Tok] = []
    braces: list[str] = []  # "frac", "den" (a fraction's denominator) or "{" per open brace
    space = True
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "other"
        if kind == "ws":
            space = True
            continue
        if kind == "skip":
            continue
        raw = m.group()
        start, end = m.start() + offset, m.end() + offset
        if kind == "frac":  # "}{": ")/(" in a fraction, else ")(" ("\binom{5}{2}")
            opened = braces.pop() if braces else "{"
            out.append(_Tok("rp", "}", start, start + 1, space))
            if opened == "frac":
                out.append(_Tok("op", "/", start, end, False))
            out.append(_Tok("lp", "{", end - 1, end, False))
            braces.append("den" if opened == "frac" else "{")
            space = False
            continue
        if kind == "lp" and raw.startswith("\\"):
            out.append(_Tok("lp", "(", start, start, space))
            braces.append("frac")
        elif kind == "lp" and raw == "{":
            braces.append("{")
        elif kind == "rp" and raw == "}" and braces and braces.pop() == "den":
            out.append(_Tok("rp", "}", start, end, space))
            space = False
        if kind == "op":
            raw = _OPS.get(raw, raw)
        elif kind == "eq":
            raw = "≈" if raw in ("≈", "\\approx") else "="
        elif kind in ("cur", "pct"):
            raw = raw[-1]  # "\$", "\%": LaTeX escapes
        out.append(_Tok(kind, raw, start, end, space and not (out and out[-1].end == start)))
        space = False
    return out


_Run = tuple[list[_Tok], bool, bool, "Fraction | None"]  # tokens, cut left, cut right, scale


def _runs(toks: list[_Tok]) -> list[_Run]:
    """Maximal math runs that contain ``=``, with whether each end was cut mid-expression.

    A run ends at a word or punctuation, and also where two operands meet with no operator
    ("= 12) 5 - 2", "= 4 15-minute blocks"). Such a boundary is clean, except after a
    parenthesis ("(1/2) 278") or inside a space-grouped number ("1 000"), which cut both
    runs. A mixed number ("1 1/2", "5 and 2/3") becomes one number token.
    """
    runs: list[_Run] = []
    run: list[_Tok] = []
    cut_left = False
    depth = 0
    i = 0

    def close(cut_right: bool, scale: Fraction | None = None) -> None:
        if any(t.kind == "eq" for t in run):
            runs.append((run, cut_left, cut_right, scale))

    while i <= len(toks):
        tok = toks[i] if i < len(toks) else None
        mixed = _mixed_at(run, toks, i)
        if mixed:
            end = toks[i + mixed - 1]
            whole = run[-1]
            number = f"{whole.text} {toks[i + mixed - 3].text}/{end.text}"
            run[-1] = _Tok("num", number, whole.start, end.end, whole.space)
            i += mixed
            continue
        if tok is not None and tok.kind not in ("word", "other"):
            last = next((t for t in reversed(run) if t.kind != "cur"), None)
            if last is not None and last.kind in _OPERANDS and tok.kind in ("num", "lp"):
                if tok.kind == "lp" and tok.space:  # "= 16 (15 minutes)": a remark
                    close(False)
                    run, cut_left, depth = [], True, 0
                elif tok.kind == "num":
                    # "(1/2) 278" multiplies; "= 12) 5 - 2" closed a remark.
                    cut = depth >= 0 and (last.kind != "num" or _split_number(last, toks, i))
                    close(cut)
                    run, cut_left, depth = [], cut, 0
            if not run:
                cut_left = cut_left or _cut_before(toks, i)
            depth += 1 if tok.kind == "lp" else -1 if tok.kind == "rp" else 0
            run.append(tok)
            i += 1
            continue
        word_op = _word_operator(toks, i, run)
        if tok is not None and word_op is not None:
            kind = "pct" if word_op[0] == "%" else "op"
            run.append(_Tok(kind, word_op[0], tok.start, toks[i + word_op[1] - 1].end, tok.space))
            i += word_op[1]
            continue
        if tok is not None and tok.kind == "word" and run:
            stop = _unit_at(toks, i, run)
            if stop > i:  # "11 teeth + 4 teeth", "$6/hour * 2": the words are dropped
                i = stop
                continue
            if (
                run[-1].kind in ("num", "pct", "rp")
                and units.unit_span(
                    toks, i, operator_at=lambda j: toks[j].kind in ("op", "pow", "eq")
                )
                > i
            ):  # "3 bags of leaves / Y minutes": the expression goes on, unread
                close(True)
                run, cut_left, depth = [], False, 0
                i += 1
                continue
            if run[-1].kind == "num" and tok.text.lower() not in units.NEVER:
                run[-1] = replace(run[-1], unit=units.unit_name([tok.text]))  # "= 150 min"
        hyphen = run and run[-1].text == "-" and not run[-1].space
        if hyphen and tok is not None and tok.kind == "word" and not tok.space:
            run.pop()  # "= 72-liter": a hyphen, not a minus
        if any(t.kind == "eq" for t in run):
            close(_cut_after(toks, i), _scale_after(toks, i))
        run, cut_left, depth = [], False, 0
        i += 1
    return runs


def _unit_at(toks: list[_Tok], i: int, run: list[_Tok]) -> int:
    """End of the unit words at ``toks[i]`` when the expression goes on after them, else i.

    A glued slash after a number ("$6/hour", "50 cm/cuff") is a rate, not a division: it
    is popped from ``run`` even when the run ends there ("= $540/week").
    """
    last = run[-1]
    tok = toks[i]
    if last.text == "/" and last.kind == "op" and not last.space and not tok.space:
        if len(run) >= 2 and run[-2].kind in ("num", "pct"):
            end = units.rate_span(toks, i)
            if end > i:
                run.pop()
                _label(run, "/" + units.unit_name([tok.text]))
                return end if end < len(toks) and _continues(toks, end, run) else i
        return i
    if last.kind not in ("num", "pct", "rp") or (not tok.space and last.kind != "num"):
        return i
    end = units.unit_span(toks, i, operator_at=lambda j: _continues(toks, j, run))
    if end > i and toks[end].kind == "eq" and _is_bare(_since_eq(run)):
        return i  # "1 hour = 60 minutes": a unit change, not a claim (as without the unit)
    if end > i:
        _label(run, units.unit_name([tok.text]))
    return end


def _since_eq(run: list[_Tok]) -> list[_Tok]:
    k = max((n for n, t in enumerate(run) if t.kind == "eq"), default=-1)
    return run[k + 1 :]


def _continues(toks: list[_Tok], j: int, run: list[_Tok]) -> bool:
    """Whether ``toks[j]`` (after unit words) is an operator or "=" that goes on."""
    tok = toks[j]
    if tok.kind == "eq":
        return True
    if tok.kind in ("op", "pow"):
        nxt = toks[j + 1] if j + 1 < len(toks) else None
        if tok.text == "/" and not tok.space and nxt is not None and not nxt.space:
            return False  # "5 minutes/100 meters": a rate per a count, not a division
        return nxt is not None and nxt.kind in _STARTS_OPERAND
    return _word_operator(toks, j, run) is not None


def _label(run: list[_Tok], unit: str) -> None:
    """Record ``unit`` on the run's last number (for :func:`units.conflicting`)."""
    for k in range(len(run) - 1, -1, -1):
        if run[k].kind == "num":
            if not run[k].unit:
                run[k] = replace(run[k], unit=unit)
            return


def _split_number(last: _Tok, toks: list[_Tok], i: int) -> bool:
    """Whether ``last`` and the number at ``toks[i]`` may be one number in two parts."""
    if last.kind != "num" or not last.text.isdigit():
        return False
    if toks[i].text.isdigit() and len(toks[i].text) == 3 and len(last.text) <= 3:
        return True  # "1 000 000"
    return _fraction_at(toks, i)  # "2 3/2": not a proper mixed number, not two numbers


def _mixed_at(run: list[_Tok], toks: list[_Tok], i: int) -> int:
    """Tokens of a proper fraction completing the mixed number "1 1/2" / "1 and 1/2"."""
    if not run or run[-1].kind != "num" or not run[-1].text.isdigit() or i >= len(toks):
        return 0
    j = i + 1 if toks[i].kind == "word" and toks[i].text == "and" else i
    if not toks[j if j < len(toks) else i].space or not _fraction_at(toks, j):
        return 0
    num, den = toks[j].text, toks[j + 2].text
    proper = num.isdigit() and den.isdigit() and 0 < int(num) < int(den)
    return j + 3 - i if proper else 0


def _fraction_at(toks: list[_Tok], i: int) -> bool:
    """A tight fraction ``a/b`` (no spaces) starts at ``toks[i]``."""
    return (
        i + 2 < len(toks)
        and toks[i].kind == "num"
        and toks[i + 1].text == "/"
        and not toks[i + 1].space
        and toks[i + 2].kind == "num"
        and not toks[i + 2].space
    )


def _word_operator(toks: list[_Tok], i: int, run: list[_Tok]) -> tuple[str, int] | None:
    """(operator, tokens consumed) when the word at ``i`` acts as an operator, else None."""
    if i >= len(toks) or toks[i].kind != "word" or not run or run[-1].kind not in _OPERANDS:
        return None
    word = toks[i].text
    low = word.lower()
    nxt = toks[i + 1] if i + 1 < len(toks) else None
    if low == "percent" and run[-1].kind != "pct":
        return ("%", 1)
    if low == "per" and nxt is not None and nxt.text.lower() == "cent":
        return ("%", 2)
    if nxt is None or nxt.kind not in _STARTS_OPERAND:
        if nxt is not None and (low, nxt.text.lower()) in _TWO_WORD_OPS:
            after = toks[i + 2] if i + 2 < len(toks) else None
            if after is not None and after.kind in _STARTS_OPERAND:
                return (_TWO_WORD_OPS[(low, nxt.text.lower())], 2)
        return None
    if low == "of":
        # "50% of 80", "1/2 of 80": "of" multiplies only after a percent or a fraction,
        # and only before the "=": "= 1/3 of $150" names what the 1/3 is of.
        fraction = len(run) >= 3 and run[-1].kind == "num" and run[-2].text == "/"
        if (run[-1].kind == "pct" or fraction) and not any(t.kind == "eq" for t in run):
            return ("*", 1)
        return None
    if low in _WORD_OPS:
        if low == "x" and toks[i].space != nxt.space:
            return None  # "3 x4" / "3x 4": lopsided spacing reads as a variable
        return (_WORD_OPS[low], 1)
    return None


def _cut_before(toks: list[_Tok], i: int) -> bool:
    """Whether the text before ``toks[i]`` changes what the run's first operand means."""
    if i == 0:
        return False
    prev, first = toks[i - 1], toks[i]
    before = toks[i - 2] if i >= 2 else None
    if not first.space:
        if prev.kind == "word":
            return first.kind != "cur"  # "x2", "2x(": part of a symbol; "spends$5" is a typo
        glued_num = before is not None and before.kind == "num" and not prev.space
        return prev.text in "√∛∜" or (prev.text == "," and glued_num)  # "√144", "1,2"
    if prev.kind != "word":
        return False
    low = prev.text.lower()
    before_word = before.text.lower() if before is not None and before.kind == "word" else ""
    if low in _CUT_BEFORE:
        return True
    if low == "by":
        return before_word in ("divided", "multiplied")
    if low == "of":
        return before_word in _FRACTION_WORDS  # "half of 10 + 4"
    if before is not None and before.kind == "num" and not prev.space:
        return True  # "3x + 4", "24V + 15": the word is a variable with a coefficient
    if low == "and":  # "1 and 1/3"
        return before is not None and before.text.isdigit() and _fraction_at(toks, i)
    if first.text in "-+":
        # "x - 3 = 4", "M + 4": binary after a variable; "is -5 + 8 = 3": a sign.
        return len(prev.text) == 1 or _spaced_after(toks, i)
    return False


def _spaced_after(toks: list[_Tok], i: int) -> bool:
    return i + 1 >= len(toks) or toks[i + 1].space


def _cut_after(toks: list[_Tok], i: int) -> bool:
    """Whether the text at ``toks[i]`` (just after a run) changes its last number."""
    if i >= len(toks):
        return False
    tok = toks[i]
    nxt = toks[i + 1] if i + 1 < len(toks) else None
    if tok.kind == "word":
        if tok.text in _SCALES or tok.text.lower() in _CENTS:
            return False  # read both ways instead, see _scale_after
        if not tok.space:  # "7x": a variable; "5m", "23ml": a unit
            return len(tok.text) == 1 and tok.text not in _GLUED_UNITS
        low = tok.text.lower()
        if low in ("and", "of"):  # "= 5 and 2/3", "= 16 and (2/3)", "= 1/3 of $150"
            j = i + 1
            while j < len(toks) and toks[j].kind in ("cur", "lp"):
                j += 1
            if low == "and":  # a mixed number _runs could not merge
                return i > 0 and toks[i - 1].text.isdigit() and _fraction_at(toks, j)
            return j < len(toks) and toks[j].kind == "num"  # not "= 6 of the handbags"
        return low in _CUT_AFTER
    if tok.text == "." and nxt is not None and nxt.text == "." and not nxt.space:
        return True  # "= 8.333...": a shortened decimal, not a rounding
    if tok.space or nxt is None or nxt.kind != "num" or nxt.space:
        return False
    return tok.text == "," or (tok.text == ":" and len(nxt.text) == 2)  # "= 1,20", "= 3:30"


def _scale_after(toks: list[_Tok], i: int) -> Fraction | None:
    """The factor of a scale word right after a run ("million", "dozen", "cents")."""
    if i >= len(toks) or toks[i].kind != "word":
        return None
    word = toks[i].text
    if word in _SCALES:
        return Fraction(_SCALES[word])
    return _CENTS.get(word.lower()) if toks[i].space else None


# -- checking claims ------------------------------------------------------------------


@dataclass(frozen=True)
class _Value:
    value: Fraction
    readings: tuple[tuple[Fraction, int | None], ...]  # (value, decimals shown) per reading
    head: Fraction | None  # the leading literal when the side goes on with an operator


def _run_claims(
    run: list[_Tok],
    text: str,
    offset: int,
    *,
    cut: tuple[bool, bool],
    scale: Fraction | None = None,
    annotation: bool = False,
) -> list[Claim]:
    """One claim per ``=`` link of ``run`` whose sides both hold a number."""
    sides: list[list[_Tok]] = [[]]
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
        bare = not annotation and _is_bare(left)
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
        except _Refused:
            claims.append(Claim(expression, value, start, end, UNCHECKED))
            continue
        verdict = _judge(lv, rv, relation)
        if verdict == WRONG and _is_range(left):
            verdict = UNCHECKED  # "5-7 = 2 days", "Weeks 1-2 = 96 - 70": a range or label
        computed = _format(lv.value) if verdict != UNCHECKED else None
        claims.append(Claim(expression, value, start, end, verdict, computed))
    return claims


def _eq_inside_parens(run: list[_Tok]) -> list[bool]:
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


def _is_range(side: list[_Tok]) -> bool:
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


def _mixed_units(left: list[_Tok], right: list[_Tok]) -> bool:
    """A sum or difference over two units of one measure: dropping them is not exact."""
    side = left + right
    if not any(t.kind == "op" and t.text in "+-" for t in side):
        return False
    names = [t.unit for t in side if t.unit] + ["dollar" for t in side if t.kind == "cur"]
    return units.conflicting(names)


def _is_bare(side: list[_Tok]) -> bool:
    """A side that is one number, maybe signed, with currency or percent."""
    return sum(t.kind == "num" for t in side) == 1 and all(
        t.kind in ("num", "cur", "pct") or t.text in "-+" for t in side
    )


def _dangling(side: list[_Tok], left: bool) -> bool:
    """An operator at the outer edge of a side: the expression goes on beyond the run."""
    if left:
        edge = side[0]
        return edge.kind in ("pow", "pct") or (edge.kind == "op" and edge.text not in "-+")
    return side[-1].kind in ("op", "pow", "lp")


def _trim_parens(side: list[_Tok]) -> list[_Tok]:
    """Drop unmatched outer brackets: "(so 3 + 4 = 7)" has sides "3 + 4" and "7"."""
    depth = sum(1 if t.kind == "lp" else -1 if t.kind == "rp" else 0 for t in side)
    while depth > 0 and side and side[0].kind == "lp":
        side, depth = side[1:], depth - 1
    while depth < 0 and side and side[-1].kind == "rp":
        side, depth = side[:-1], depth + 1
    return side


def _evaluate(side: list[_Tok]) -> _Value:
    toks = [t for t in side if t.kind != "cur"]
    if len(toks) > _MAX_SIDE_TOKENS:
        raise _Refused("expression too long")
    value = _Parser(toks, Fraction(1, 100)).parse()
    places = _decimals(toks[-2].text) if _is_bare(toks) and toks[-1].kind == "pct" else None
    if _is_bare(toks) and toks[-1].kind == "num":
        places = _decimals(toks[-1].text)
    readings: tuple[tuple[Fraction, int | None], ...] = ((value, places),)
    if any(t.kind == "pct" for t in toks):
        # "%" is read as /100 and as a unit: "40/80 = 50%" and "40/80*100 = 50%",
        # "20*25% = 5" and "$7500/75% = $100" (dollars per percent) are all written.
        shifted = None if places is None else places + 2
        unit = _Parser(toks, Fraction(1)).parse()
        readings = ((value, shifted), (unit, places))
    head = None
    if len(toks) >= 2 and toks[0].kind == "num" and toks[1].kind in ("op", "pow"):
        head = _literal(toks[0].text)
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


def _decimals(literal: str) -> int | None:
    """Digits shown after the decimal point; None for a vulgar fraction ("½")."""
    if literal[-1] in _VULGAR or "/" in literal:
        return None
    return len(literal.split(".")[1]) if "." in literal else 0


def _literal(text: str) -> Fraction:
    if " " in text:  # a mixed number "1 1/2", built by _runs from checked digits
        whole, fraction = text.split(" ")
        return int(whole) + Fraction(fraction)
    if text[-1] in _VULGAR:
        return Fraction(int(text[:-1] or 0)) + Fraction(_VULGAR[text[-1]])
    digits = text.replace(",", "")
    if len(digits) > _MAX_DIGITS:
        raise _Refused("number literal too long")
    if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
        raise _Refused("leading zero")  # "0900 - 0130": clock times, not numbers
    return Fraction(digits)


def _format(value: Fraction) -> str:
    """Exact value as text: "9", "2.5", "-0.125", or "10/3" when not a finite decimal."""
    if value.denominator == 1:
        return str(value.numerator)
    d, twos, fives = value.denominator, 0, 0
    while d % 2 == 0:
        d, twos = d // 2, twos + 1
    while d % 5 == 0:
        d, fives = d // 5, fives + 1
    places = max(twos, fives)
    if d != 1:
        return f"{value.numerator}/{value.denominator}"
    scaled = abs(value.numerator) * 10**places // value.denominator
    sign = "-" if value < 0 else ""
    return f"{sign}{scaled // 10**places}.{scaled % 10**places:0{places}d}"


def _check_size(value: Fraction) -> Fraction:
    if max(value.numerator.bit_length(), value.denominator.bit_length()) > _MAX_BITS:
        raise _Refused("number too large")
    return value


class _Parser:
    """Recursive descent over tokens, exact ``Fraction`` arithmetic, every size bounded.

    expr := term (("+" | "-") term)* ; term := unary (("*" | "/") unary | "(" expr ")")*
    unary := ("-" | "+") unary | power ; power := postfix ("^" unary)?
    postfix := primary "%"* ; primary := number | "(" expr ")"
    """

    def __init__(self, toks: list[_Tok], percent: Fraction) -> None:
        self.toks = toks
        self.percent = percent  # what "%" multiplies by: 1/100, or 1 when it is a unit
        self.i = 0
        self.depth = 0

    def peek(self, ahead: int = 0) -> _Tok | None:
        j = self.i + ahead
        return self.toks[j] if j < len(self.toks) else None

    def parse(self) -> Fraction:
        value = self.expr()
        if self.peek() is not None:
            raise _Refused("trailing tokens")
        return value

    def expr(self) -> Fraction:
        value = self.term()
        while (tok := self.peek()) is not None and tok.kind == "op" and tok.text in "+-":
            self.i += 1
            rhs = self.term()
            value = _check_size(value + rhs if tok.text == "+" else value - rhs)
        return value

    def term(self) -> Fraction:
        value = self.unary()
        while (tok := self.peek()) is not None:
            if tok.kind == "op" and tok.text in ("*", "/", "//"):
                self.i += 1
                if tok.text == "/" and self.tight_fraction(tok):
                    rhs = _literal(self.toks[self.i].text) / _literal(self.toks[self.i + 2].text)
                    self.i += 3
                else:
                    rhs = self.unary()
                if tok.text != "*" and rhs == 0:
                    raise _Refused("division by zero")
                value = _check_size(value * rhs if tok.text == "*" else value / rhs)
                if tok.text == "//":  # a calculator's floor division
                    value = Fraction(math.floor(value))
            elif tok.kind == "lp":  # "2(3 + 4)": implicit multiplication
                value = _check_size(value * self.power())
            else:
                return value
        return value

    def tight_fraction(self, slash: _Tok) -> bool:
        """ "25 / 1/3" and "3/ 1/4" divide by the fraction: spacing shows the grouping."""
        nxt = self.peek()
        return (
            nxt is not None
            and (slash.space or nxt.space)
            and _fraction_at(self.toks, self.i)
            and not _is_operator(self.peek(3), "^")
        )

    def unary(self) -> Fraction:
        tok = self.peek()
        if tok is not None and tok.kind == "op" and tok.text in "-+":
            self.i += 1
            value = self.unary()
            return -value if tok.text == "-" else value
        return self.power()

    def power(self) -> Fraction:
        base = self.postfix()
        if not _is_operator(self.peek(), "^"):
            return base
        self.i += 1
        exponent = self.unary()
        if exponent.denominator != 1 or abs(exponent) > _MAX_BITS:
            raise _Refused("exponent not a small integer")
        bits = max(base.numerator.bit_length(), base.denominator.bit_length())
        if bits * abs(exponent) > _MAX_BITS:
            raise _Refused("power too large")
        if base == 0 and exponent < 0:
            raise _Refused("division by zero")
        return base ** int(exponent)

    def postfix(self) -> Fraction:
        value = self.primary()
        while (tok := self.peek()) is not None and tok.kind == "pct":
            self.i += 1
            value *= self.percent
        return value

    def primary(self) -> Fraction:
        tok = self.peek()
        if tok is None:
            raise _Refused("unexpected end")
        self.i += 1
        if tok.kind == "num":
            return _literal(tok.text)
        if tok.kind == "lp":
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise _Refused("nested too deeply")
            value = self.expr()
            close = self.peek()
            if close is None or close.kind != "rp":
                raise _Refused("unbalanced parenthesis")
            self.i += 1
            self.depth -= 1
            return value
        raise _Refused(f"unexpected {tok.text!r}")


def _is_operator(tok: _Tok | None, kind: str) -> bool:
    return tok is not None and (tok.kind == "pow" if kind == "^" else tok.text == kind)
