"""Exact, bounded evaluation of one side of an arithmetic claim.

Sides are token lists from :mod:`tracemint.verify.claim_tokens`; values are ``Fraction``
(no floats, no ``eval``), so ``0.1 + 0.2 = 0.3`` holds and a checker verdict never depends
on binary rounding. Every size is bounded (literal digits, bits of any intermediate value,
bracket depth) and anything over a bound raises :class:`Refused`, which the checker turns
into an ``unchecked`` claim: time stays linear in the text whatever a model writes.
"""

from __future__ import annotations

import math
from fractions import Fraction

from .claim_tokens import VULGAR, Tok, fraction_at

_MAX_DIGITS = 60  # longer literals are refused, not evaluated
_MAX_BITS = 10_000  # any intermediate numerator/denominator above this is refused
_MAX_DEPTH = 50  # parenthesis nesting; deeper would recurse without bound


class Refused(Exception):
    """The side is not an expression we evaluate (or would be too costly to)."""


def decimals(literal: str) -> int | None:
    """Digits shown after the decimal point; None for a vulgar fraction ("½")."""
    if literal[-1] in VULGAR or "/" in literal:
        return None
    return len(literal.split(".")[1]) if "." in literal else 0


def literal(text: str) -> Fraction:
    if " " in text:  # a mixed number "1 1/2", built by find_runs from checked digits
        whole, fraction = text.split(" ")
        return int(whole) + Fraction(fraction)
    if text[-1] in VULGAR:
        return Fraction(int(text[:-1] or 0)) + Fraction(VULGAR[text[-1]])
    digits = text.replace(",", "")
    if len(digits) > _MAX_DIGITS:
        raise Refused("number literal too long")
    if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
        raise Refused("leading zero")  # "0900 - 0130": clock times, not numbers
    return Fraction(digits)


def format_exact(value: Fraction) -> str:
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
        raise Refused("number too large")
    return value


class Parser:
    """Recursive descent over tokens, exact ``Fraction`` arithmetic, every size bounded.

    expr := term (("+" | "-") term)* ; term := unary (("*" | "/") unary | "(" expr ")")*
    unary := ("-" | "+") unary | power ; power := postfix ("^" unary)?
    postfix := primary "%"* ; primary := number | "(" expr ")"
    """

    def __init__(self, toks: list[Tok], percent: Fraction) -> None:
        self.toks = toks
        self.percent = percent  # what "%" multiplies by: 1/100, or 1 when it is a unit
        self.i = 0
        self.depth = 0

    def peek(self, ahead: int = 0) -> Tok | None:
        j = self.i + ahead
        return self.toks[j] if j < len(self.toks) else None

    def parse(self) -> Fraction:
        value = self.expr()
        if self.peek() is not None:
            raise Refused("trailing tokens")
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
                    rhs = literal(self.toks[self.i].text) / literal(self.toks[self.i + 2].text)
                    self.i += 3
                else:
                    rhs = self.unary()
                if tok.text != "*" and rhs == 0:
                    raise Refused("division by zero")
                value = _check_size(value * rhs if tok.text == "*" else value / rhs)
                if tok.text == "//":  # a calculator's floor division
                    value = Fraction(math.floor(value))
            elif tok.kind == "lp":  # "2(3 + 4)": implicit multiplication
                value = _check_size(value * self.power())
            else:
                return value
        return value

    def tight_fraction(self, slash: Tok) -> bool:
        """ "25 / 1/3" and "3/ 1/4" divide by the fraction: spacing shows the grouping."""
        nxt = self.peek()
        return (
            nxt is not None
            and (slash.space or nxt.space)
            and fraction_at(self.toks, self.i)
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
            raise Refused("exponent not a small integer")
        bits = max(base.numerator.bit_length(), base.denominator.bit_length())
        if bits * abs(exponent) > _MAX_BITS:
            raise Refused("power too large")
        if base == 0 and exponent < 0:
            raise Refused("division by zero")
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
            raise Refused("unexpected end")
        self.i += 1
        if tok.kind == "num":
            return literal(tok.text)
        if tok.kind == "lp":
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise Refused("nested too deeply")
            value = self.expr()
            close = self.peek()
            if close is None or close.kind != "rp":
                raise Refused("unbalanced parenthesis")
            self.i += 1
            self.depth -= 1
            return value
        raise Refused(f"unexpected {tok.text!r}")


def _is_operator(tok: Tok | None, kind: str) -> bool:
    return tok is not None and (tok.kind == "pow" if kind == "^" else tok.text == kind)
