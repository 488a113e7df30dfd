"""A small, guarded LaTeX/plain-math parser that builds sympy expressions directly.

Why not ``sympy.parse_expr`` or ``parse_latex``: ``parse_expr`` runs ``eval`` on teacher
output, ``parse_latex`` needs antlr, and neither lets us refuse ``2^{2^{2^{2^{10}}}}`` or
``1000000!`` *before* sympy tries to compute them. This recursive-descent parser checks
every power, factorial and binomial as it builds it and raises :class:`TooLarge` instead
of evaluating anything whose size is not bounded, so parsing takes time linear-ish in the
(capped) input length. Decimals become exact ``Rational`` values, never floats.

Grammar (lowest to highest precedence)::

    expr    := term (("+" | "-") term)*
    term    := unary (("*" | "/" | \\cdot | \\times | \\div | <implicit>) unary)*
    unary   := ("-" | "+") unary | power
    power   := postfix ("^" exponent)?          # right associative
    postfix := primary "!"*
    primary := number | symbol | "(" expr ")" | "{" expr "}" | \\frac{}{} | \\sqrt[n]{}
             | \\binom{}{} | function argument | \\pi | \\infty
"""

from __future__ import annotations

import re

import sympy

from .function_names import FUNCTION_NAMES as _LIGHT_NAMES

MAX_LENGTH = 500  # longer answers are not compared symbolically
_MAX_EXPONENT = 10_000  # |numeric exponent| above this is refused
_MAX_BITS = 50_000  # exact rational powers above this many bits are refused
_MAX_SYMBOLIC_EXPONENT = 60  # (x+1)^n is expanded when compared; keep n small
_MAX_FACTORIAL = 1_000

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?|\.\d+)|(?P<cmd>\\[a-zA-Z]+)|(?P<word>[a-zA-Z]+)"
    r"|(?P<op>\*\*|[-+*/^!()\[\]{}_|']))"
)
_FUNCTIONS = {
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "sec": sympy.sec,
    "csc": sympy.csc,
    "cot": sympy.cot,
    "arcsin": sympy.asin,
    "arccos": sympy.acos,
    "arctan": sympy.atan,
    "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    "tanh": sympy.tanh,
    "ln": sympy.log,
    "log": sympy.log,
    "exp": sympy.exp,
}
FUNCTION_NAMES = frozenset(_FUNCTIONS)
assert FUNCTION_NAMES == _LIGHT_NAMES, "keep equivalence.FUNCTION_NAMES in step"
_CONSTANTS = {"pi": sympy.pi, "infty": sympy.oo, "infinity": sympy.oo, "inf": sympy.oo}
_MUL_CMDS = {"\\cdot", "\\times", "\\ast"}
_CLOSERS = {")", "]", "}"}


class ParseFailure(Exception):
    """The text is not an expression this parser understands."""


class TooLarge(ParseFailure):
    """The expression would need unbounded time or memory to evaluate; it was refused."""


def _bits(q: sympy.Rational) -> int:
    return max(int(q.p).bit_length(), int(q.q).bit_length())


def guarded_pow(base: sympy.Expr, exp: sympy.Expr) -> sympy.Expr:
    """Build ``base**exp`` only when its size is bounded; raise :class:`TooLarge` otherwise."""
    if not exp.free_symbols:
        if not exp.is_Number:
            approx = sympy.Abs(exp).evalf(15)
            if approx.is_Number and approx > _MAX_EXPONENT:
                raise TooLarge("exponent too large")
        elif sympy.Abs(exp) > _MAX_EXPONENT:
            raise TooLarge("exponent too large")
        if exp.is_Integer:
            if base.is_Rational and _bits(base) * abs(int(exp)) > _MAX_BITS:
                raise TooLarge("power too large")
            if base.free_symbols and abs(int(exp)) > _MAX_SYMBOLIC_EXPONENT:
                raise TooLarge("symbolic power too large")
            if not base.is_Rational and abs(int(exp)) > 1000:
                raise TooLarge("power too large")
    return sympy.Pow(base, exp)


def _guarded_factorial(arg: sympy.Expr) -> sympy.Expr:
    if arg.is_Number and (abs(arg) > _MAX_FACTORIAL or arg.is_negative):
        raise TooLarge("factorial too large")
    if not arg.free_symbols and not arg.is_Number:
        raise ParseFailure("factorial of a non-number")
    return sympy.factorial(arg)


class _Parser:
    """One parse of one string; not shared between threads."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise ParseFailure(f"unexpected character {text[pos : pos + 1]!r}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0

    # -- token helpers --------------------------------------------------------------
    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise ParseFailure("unexpected end")
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        tok = self.take()
        if tok[1] != value:
            raise ParseFailure(f"expected {value!r}, got {tok[1]!r}")

    def at(self, value: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[1] == value

    # -- grammar --------------------------------------------------------------------
    def parse(self) -> sympy.Expr:
        expr = self.expr()
        if self.peek() is not None:
            raise ParseFailure(f"trailing {self.peek()!r}")
        return expr

    def expr(self) -> sympy.Expr:
        value = self.term()
        while self.at("+") or self.at("-"):
            sign = self.take()[1]
            rhs = self.term()
            value = sympy.Add(value, rhs if sign == "+" else -rhs)
        return value

    def term(self) -> sympy.Expr:
        value = self.unary()
        while True:
            tok = self.peek()
            if tok is None:
                return value
            if tok[1] in ("*", *_MUL_CMDS):
                self.take()
                value = sympy.Mul(value, self.unary())
            elif tok[1] in ("/", "\\div"):
                self.take()
                den = self.unary()
                if den == 0:
                    raise ParseFailure("division by zero")
                value = sympy.Mul(value, guarded_pow(den, sympy.Integer(-1)))
            elif self.starts_primary(tok):
                if tok[0] == "num" and self.tokens[self.i - 1][0] == "num":
                    raise ParseFailure("two numbers in a row")
                if tok[1] == "\\frac" and self.tokens[self.i - 1][0] == "num":
                    raise ParseFailure("ambiguous mixed number")
                value = sympy.Mul(value, self.power())
            else:
                return value

    def starts_primary(self, tok: tuple[str, str]) -> bool:
        kind, val = tok
        if kind in ("num", "word"):
            return True
        if kind == "cmd":
            name = val[1:]
            return name in _FUNCTIONS or name in _CONSTANTS or name in ("frac", "sqrt", "binom")
        return val in ("(", "{", "[")

    def unary(self) -> sympy.Expr:
        if self.at("-"):
            self.take()
            return -self.unary()
        if self.at("+"):
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> sympy.Expr:
        base = self.postfix()
        if self.at("^"):
            self.take()
            exponent = self.exponent()
            return guarded_pow(base, exponent)
        return base

    def exponent(self) -> sympy.Expr:
        if self.at("-"):
            self.take()
            return -self.exponent()
        if self.at("{"):
            return self.power_of(self.group("{", "}"))
        return self.power_of(self.postfix())

    def power_of(self, base: sympy.Expr) -> sympy.Expr:
        if self.at("^"):
            self.take()
            return guarded_pow(base, self.exponent())
        return base

    def postfix(self) -> sympy.Expr:
        value = self.primary()
        while self.at("!") or self.at("'"):
            if self.take()[1] == "'":
                raise ParseFailure("prime notation")
            value = _guarded_factorial(value)
        return value

    def group(self, open_: str, close: str) -> sympy.Expr:
        self.expect(open_)
        value = self.expr()
        self.expect(close)
        return value

    def argument(self) -> sympy.Expr:
        """A command argument: ``{...}`` or a single token (``\\frac12``, ``\\sqrt2``)."""
        if self.at("{"):
            return self.group("{", "}")
        kind, val = self.take()
        if kind == "num":
            if len(val) > 1 and val.isdigit():
                # \frac12 means \frac{1}{2}: split off one digit, push the rest back.
                self.tokens.insert(self.i, ("num", val[1:]))
                val = val[0]
            return sympy.Rational(val)
        if kind == "word" and len(val) == 1:
            return self.symbol(val)
        if kind == "cmd" and val[1:] in _CONSTANTS:
            return _CONSTANTS[val[1:]]
        raise ParseFailure(f"bad argument {val!r}")

    def primary(self) -> sympy.Expr:
        kind, val = self.take()
        if kind == "num":
            if len(val) > 400:
                raise TooLarge("number literal too long")
            return sympy.Rational(val)
        if kind == "op":
            if val in ("(", "["):
                self.i -= 1
                return self.group(val, ")" if val == "(" else "]")
            if val == "{":
                self.i -= 1
                return self.group("{", "}")
            if val == "|":
                inner = self.expr()
                self.expect("|")
                return sympy.Abs(inner)
            raise ParseFailure(f"unexpected {val!r}")
        if kind == "word":
            return self.word(val)
        return self.command(val[1:])

    def word(self, val: str) -> sympy.Expr:
        low = val.lower()
        if low in _FUNCTIONS or low == "sqrt":
            return self.function(low)
        if low in _CONSTANTS:
            return _CONSTANTS[low]
        if len(val) > 3:
            raise ParseFailure(f"word {val!r}")
        value: sympy.Expr = sympy.Integer(1)
        for ch in val:  # "xy" is x*y
            value = sympy.Mul(value, self.symbol(ch))
        return value

    def symbol(self, name: str) -> sympy.Expr:
        if name == "e":
            return sympy.E
        if name == "i":
            return sympy.I
        if self.at("_"):  # x_1, x_{12}: part of the name, not an operation
            self.take()
            parts = []
            if self.at("{"):
                self.take()
                while not self.at("}"):
                    parts.append(self.take()[1])
                self.take()
            else:
                parts.append(self.take()[1])
            name = f"{name}_{''.join(parts)}"
        return sympy.Symbol(name)

    def command(self, name: str) -> sympy.Expr:
        if name in _CONSTANTS:
            return _CONSTANTS[name]
        if name == "frac":
            num = self.argument()
            den = self.argument()
            if den == 0:
                raise ParseFailure("division by zero")
            return sympy.Mul(num, guarded_pow(den, sympy.Integer(-1)))
        if name == "sqrt":
            return self.function("sqrt")
        if name == "binom":
            n, k = self.argument(), self.argument()
            if (n.is_Number and abs(n) > _MAX_EXPONENT) or (k.is_Number and abs(k) > 1000):
                raise TooLarge("binomial too large")
            return sympy.binomial(n, k)
        if name in _FUNCTIONS:
            return self.function(name)
        raise ParseFailure(f"unsupported command \\{name}")

    def function(self, name: str) -> sympy.Expr:
        power: sympy.Expr | None = None
        base: sympy.Expr | None = None
        if name == "sqrt" and self.at("["):
            self.take()
            index = self.expr()
            self.expect("]")
            arg = self.argument()
            return guarded_pow(arg, guarded_pow(index, sympy.Integer(-1)))
        if self.at("^"):  # \sin^2 x
            self.take()
            power = self.exponent()
        if name == "log" and self.at("_"):
            self.take()
            base = self.argument()
        if self.at("("):
            arg = self.group("(", ")")
        elif self.at("{"):
            arg = self.group("{", "}")
        else:
            arg = self.power() if name != "sqrt" else self.argument()
        if name == "sqrt":
            value = guarded_pow(arg, sympy.Rational(1, 2))
        elif base is not None:
            value = sympy.log(arg, base)
        else:
            value = _FUNCTIONS[name](arg)
        return guarded_pow(value, power) if power is not None else value


def parse_math(text: str) -> sympy.Expr:
    """Parse cleaned answer text to a sympy expression.

    Raises :class:`ParseFailure` for anything outside the grammar and :class:`TooLarge`
    for anything whose evaluation is not bounded.
    """
    if len(text) > MAX_LENGTH:
        raise TooLarge("answer too long to compare symbolically")
    return _Parser(text).parse()
