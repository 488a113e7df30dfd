"""Tokens of the prose around arithmetic claims, with exact offsets into the trace.

One regular expression reads numbers (``1,250``, ``.5``, ``2½``), currency, percent,
operators in ASCII, Unicode and LaTeX (``\\times``, ``\\cdot``, ``\\div``), brackets,
``=``/``≈`` and words. Whitespace is not a token but is remembered on the next one, because
spacing is evidence (``3 x 4`` multiplies, ``3x`` is a variable; ``25 / 1/3`` divides by a
third). ``\\frac{a}{b}`` is rewritten here, as tokens, into ``((a)/(b))`` so no later stage
needs to know LaTeX. Used by :mod:`tracemint.verify.claim_runs` (where claims are) and
:mod:`tracemint.verify.exact` (what they are worth).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VULGAR = {"¼": "1/4", "½": "1/2", "¾": "3/4", "⅓": "1/3", "⅔": "2/3", "⅕": "1/5"}
VULGAR |= {"⅖": "2/5", "⅗": "3/5", "⅘": "4/5", "⅙": "1/6", "⅚": "5/6", "⅛": "1/8"}
VULGAR |= {"⅜": "3/8", "⅝": "5/8", "⅞": "7/8"}
TOKEN = re.compile(
    r"(?P<num>\d*[" + "".join(VULGAR) + r"]|(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)"
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


@dataclass(frozen=True)
class Tok:
    """One token; ``start``/``end`` are offsets into the whole trace, for claim spans."""

    kind: str  # num, cur, pct, pow, op, lp, rp, eq, word, other
    text: str  # canonical operator for op/eq ("*", "="), else as written
    start: int
    end: int
    space: bool  # whitespace right before it
    unit: str = ""  # a number's unit word, dropped from the arithmetic ("teeth", "hour")


def tokenize(text: str, offset: int) -> list[Tok]:
    """Tokenize; whitespace is dropped but remembered on the next token.

    ``\frac{a}{b}`` becomes ``((a)/(b))``: the outer brackets make ``1 / \frac{1}{2}``
    divide by the whole fraction. A stack of open braces says which ``}`` closes a
    denominator (and so gets a second ``)``).
    """
    out: list[Tok] = []
    braces: list[str] = []  # "frac", "den" (a fraction's denominator) or "{" per open brace
    space = True
    for m in TOKEN.finditer(text):
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
            out.append(Tok("rp", "}", start, start + 1, space))
            if opened == "frac":
                out.append(Tok("op", "/", start, end, False))
            out.append(Tok("lp", "{", end - 1, end, False))
            braces.append("den" if opened == "frac" else "{")
            space = False
            continue
        if kind == "lp" and raw.startswith("\\"):
            out.append(Tok("lp", "(", start, start, space))
            braces.append("frac")
        elif kind == "lp" and raw == "{":
            braces.append("{")
        elif kind == "rp" and raw == "}" and braces and braces.pop() == "den":
            out.append(Tok("rp", "}", start, end, space))
            space = False
        if kind == "op":
            raw = _OPS.get(raw, raw)
        elif kind == "eq":
            raw = "≈" if raw in ("≈", "\\approx") else "="
        elif kind in ("cur", "pct"):
            raw = raw[-1]  # "\$", "\%": LaTeX escapes
        out.append(Tok(kind, raw, start, end, space and not (out and out[-1].end == start)))
        space = False
    return out


def fraction_at(toks: list[Tok], i: int) -> bool:
    """A tight fraction ``a/b`` (no spaces) starts at ``toks[i]``."""
    return (
        i + 2 < len(toks)
        and toks[i].kind == "num"
        and toks[i + 1].text == "/"
        and not toks[i + 1].space
        and toks[i + 2].kind == "num"
        and not toks[i + 2].space
    )
