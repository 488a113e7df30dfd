"""The fast path: plain numbers parsed to exact ``Fraction`` values with regexes, no sympy.

Most answers (every GSM8K/SVAMP answer) are plain numbers, so this path decides them in
microseconds. Numbers are exact rationals: ``0.1`` is ``1/10``, never a float, so
``3.14159`` and ``3.14158`` differ and no tolerance can let a wrong digit through.

Accepted spellings: ``1200``, ``1,200`` (comma groups of exactly three digits), ``-3.5``,
``.5``, ``1.5e3``, ``$1,200``, ``-$5``, ``3/4``, ``\\frac{3}{4}``, ``-\\frac{3}{4}``,
``50%``, ``50 percent``, ``18 dollars``, ``5 cm``, and the words zero..twenty.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction

_DIGITS = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+"
_PLAIN = re.compile(
    r"^(?P<sign>[-+])?\s*(?P<cur>\$|€|£|usd\b|rs\.?)?\s*(?P<sign2>[-+])?\s*"
    r"(?P<num>" + _DIGITS + r")(?P<exp>[eE][-+]?\d{1,3})?"
    r"\s*(?P<pct>%|percent\b|per\s?cent\b)?\s*(?P<unit>[a-zA-Z][a-zA-Z.²³/ ]{0,30})?$",
    re.IGNORECASE,
)
_FRACTION = re.compile(
    r"^(?P<sign>[-+])?\s*(?:\\frac\s*\{\s*(?P<n1>-?\d+)\s*\}\s*\{\s*(?P<d1>-?\d+)\s*\}"
    r"|(?P<n2>-?\d+)\s*/\s*(?P<d2>-?\d+))\s*(?P<pct>%)?$"
)
_NON_ASCII_DIGIT = re.compile(r"(?![0-9])\d")  # \d is every Unicode decimal digit (Nd)
_SEPARATORS = str.maketrans({"\u066b": ".", "\u066c": ",", "\uff0c": ",", "\uff0e": "."})
_MAX_DIGITS = 400  # longer literals are not "plain numbers"; the symbolic path refuses them

# Words that turn "5 or 6" / "5 to 6" into a hedge, never into a unit.
_NOT_UNITS = frozenset(
    [
        "or",
        "and",
        "to",
        "nor",
        "either",
        "maybe",
        "possibly",
        "perhaps",
        "between",
        "plus",
        "minus",
        "times",
        "over",
        "than",
        "is",
        "are",
        "was",
        "not",
        "approximately",
        "about",
        "pi",
        "i",
        "e",
        "x",
        "y",
        "z",
        "n",
        "k",
        "sqrt",
        "log",
        "ln",
        "sin",
        "cos",
        "tan",
        "inf",
        "infinity",
        "root",
        "roots",
        # scale and sign words change the value: "42 thousand" is not 42
        "hundred",
        "hundreds",
        "thousand",
        "thousands",
        "million",
        "millions",
        "billion",
        "billions",
        "trillion",
        "bn",
        "mn",
        "dozen",
        "dozens",
        "squared",
        "cubed",
        "negative",
        "positive",
        "opposite",
        "reciprocal",
        "inverse",
        "half",
        "third",
        "thirds",
        "quarter",
        "quarters",
    ]
)
NOT_UNIT_WORDS = _NOT_UNITS  # words after a number that are never a unit
_UNITS = {
    "$": "usd",
    "usd": "usd",
    "dollar": "usd",
    "dollars": "usd",
    "€": "eur",
    "euro": "eur",
    "euros": "eur",
    "£": "gbp",
    "pound sterling": "gbp",
    "cent": "cent",
    "cents": "cent",
    "%": "percent",
    "percent": "percent",
    "per cent": "percent",
    "percentage": "percent",
    "mm": "mm",
    "millimeter": "mm",
    "millimeters": "mm",
    "cm": "cm",
    "centimeter": "cm",
    "centimeters": "cm",
    "m": "m",
    "meter": "m",
    "meters": "m",
    "metre": "m",
    "metres": "m",
    "km": "km",
    "kilometer": "km",
    "kilometers": "km",
    "inch": "in",
    "inches": "in",
    "ft": "ft",
    "foot": "ft",
    "feet": "ft",
    "yard": "yd",
    "yards": "yd",
    "mile": "mi",
    "miles": "mi",
    "g": "g",
    "gram": "g",
    "grams": "g",
    "kg": "kg",
    "kilogram": "kg",
    "kilograms": "kg",
    "lb": "lb",
    "lbs": "lb",
    "pound": "lb",
    "pounds": "lb",
    "s": "s",
    "sec": "s",
    "second": "s",
    "seconds": "s",
    "min": "min",
    "minute": "min",
    "minutes": "min",
    "h": "h",
    "hr": "h",
    "hrs": "h",
    "hour": "h",
    "hours": "h",
    "day": "day",
    "days": "day",
    "week": "week",
    "weeks": "week",
    "month": "month",
    "months": "month",
    "year": "year",
    "years": "year",
    "l": "l",
    "liter": "l",
    "liters": "l",
    "ml": "ml",
    "milliliter": "ml",
    "milliliters": "ml",
    "gallon": "gal",
    "gallons": "gal",
    "degree": "deg",
    "degrees": "deg",
}
UNIT_WORDS = frozenset(_UNITS)  # every unit spelling that parse_number knows
_WORDS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}


@dataclass(frozen=True)
class Quantity:
    """A plain number with the notation around it that comparison needs.

    ``unit`` is a canonical unit ("usd", "cm", "percent") when a known one was written,
    else None (unknown trailing words such as "eggs" are ignored). ``decimals`` is the
    count of digits after the decimal point when the number was written as a decimal,
    else None: it lets comparison recognise a rounded decimal.
    """

    value: Fraction
    unit: str | None = None
    decimals: int | None = None


def _canonical_unit(cur: str | None, pct: str | None, unit: str | None) -> str | bool | None:
    """Return the canonical unit, None when none is known, or False when the tail is a hedge."""
    words = unit.lower().replace(".", " ").split() if unit else []
    if any(w in _NOT_UNITS for w in words) or len(words) > 3:
        return False
    if pct:
        return "percent" if not words else False
    if cur:
        return _UNITS.get(cur.lower().rstrip("."), "currency")
    key = " ".join(words)
    if key in _UNITS:
        return _UNITS[key]
    if words and words[-1] in _UNITS and len(words) == 1:
        return _UNITS[words[-1]]
    return None


def ascii_digits(text: str) -> str:
    """Every decimal digit of any script as its ASCII digit ("٤٢" and "４２" -> "42").

    Applied to completions, references and family answers alike, so the generic grader and
    every family read "٤٢" as 42 the same way. Only decimal digits (category Nd, what
    ``\\d`` matches) change: superscripts and circled digits are ``isdigit`` too but are
    exponents and labels, not digits ("5²" must not become "52"). Arabic decimal and
    thousands separators and fullwidth comma/full stop become "." and "," only in text
    that had non-ASCII digits, so other text is returned unchanged (and fast).
    """
    if text.isascii() or _NON_ASCII_DIGIT.search(text) is None:
        return text
    text = _NON_ASCII_DIGIT.sub(lambda m: str(unicodedata.digit(m.group(0))), text)
    return text.translate(_SEPARATORS)


def parse_number(text: str) -> Quantity | None:
    """Parse ``text`` as one plain number, or return None when it is anything else."""
    s = text.strip()
    if not s or len(s) > _MAX_DIGITS:
        return None
    low = s.lower()
    if low in _WORDS:
        return Quantity(Fraction(_WORDS[low]))
    m = _FRACTION.match(s)
    if m is not None:
        num, den = (m["n1"], m["d1"]) if m["n1"] is not None else (m["n2"], m["d2"])
        if int(den) == 0:
            return None
        value = Fraction(int(num), int(den)) * (-1 if m["sign"] == "-" else 1)
        return Quantity(value, "percent" if m["pct"] else None)
    m = _PLAIN.match(s)
    if m is None:
        return None
    if m["sign"] and m["sign2"]:
        return None  # "--5" / "-$-5" is not a number anybody meant
    unit = _canonical_unit(m["cur"], m["pct"], (m["unit"] or "").strip() or None)
    if unit is False:
        return None
    if m["unit"] and unit is None and not s[m.start("unit") - 1].isspace():
        return None  # "5x", "3k": an unknown word glued to the number is not a unit
    digits = m["num"].replace(",", "")
    value = Fraction(digits)
    decimals = len(digits.split(".")[1]) if "." in digits else None
    if m["exp"]:
        value *= Fraction(10) ** int(m["exp"][1:])
        decimals = None
    if "-" in (m["sign"] or "", m["sign2"] or ""):
        value = -value
    return Quantity(value, unit if isinstance(unit, str) else None, decimals)


def is_terminating(value: Fraction) -> bool:
    """True when ``value`` has a finite decimal expansion (denominator 2^a * 5^b)."""
    d = value.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


def rounds_to(value: Fraction, decimal: Fraction, places: int) -> bool:
    """True when ``value`` rounded half-up to ``places`` digits equals ``decimal``."""
    scale = Fraction(10) ** places
    scaled = abs(value) * scale
    rounded = Fraction(int(scaled + Fraction(1, 2))) / scale
    return (rounded if value >= 0 else -rounded) == decimal
