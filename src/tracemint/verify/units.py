"""Unit words written between the numbers of a prose claim, and when they forbid a check.

Teachers write ``11 teeth + 4 teeth = 15 teeth``, ``$6/hour * 2 hours = $12`` and ``45
hours/week x 4 weeks = 180 hours``; without the words these are ordinary arithmetic. The
claim finder (:mod:`tracemint.verify.arithmetic`) asks :func:`unit_span` whether the words
after an operand are a unit: one to four plain words (``/`` joins a rate, ``-`` a compound,
``of``/``and``/``per`` may sit inside) that end right before an operator or ``=``. Ending
at an operator is what makes it safe: ``12 apples, so 12 + 5`` or ``12 apples then 5`` end
at punctuation or a number, so nothing after the run is glued onto it.

No dimensional analysis is done: units are dropped and the numbers are checked. The one
case where dropping them changes the arithmetic is adding two units of one measure
(``2 hours + 30 minutes = 150 minutes``): :func:`conflicting` says so, and the claim is
left unchecked rather than called wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol


class TokenLike(Protocol):
    """What this module reads of a token of :mod:`tracemint.verify.arithmetic`."""

    @property
    def kind(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def space(self) -> bool: ...


_MAX_WORDS = 4


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that carry arithmetic or sentence structure: never part of a unit. Operator words
# are read by the claim finder itself; scale and fraction words change the number.
NEVER = _words(
    """
    times plus minus divided multiplied over by of and per x than percent percentage cent
    half halves third thirds quarter quarters twice double triple thrice squared cubed
    hundred hundreds thousand thousands million millions billion billions trillion dozen
    dozens k m bn is are was were be been being has have had will would can could should
    does do did so then thus therefore hence because since which that who if when while
    to for from in on at as with or but not no left less fewer extra another already
    up down out away back still now only just also too the a an this these those his her
    its their our your my gives give gets get equals equal makes make means mean st nd rd th
    """
)
# Allowed inside a unit, never first or last: "cups of coffee", "red and blue balls".
_INNER = frozenset({"of", "and", "per", "a", "an"})  # "$15 an hour x 40 hours"
# A price or amount per item: before "=", what follows is the total, not this quantity.
_PER_ITEM = frozenset({"each", "apiece", "every"})

# Units of one measure that people add to each other after converting in their head.
_FAMILIES: tuple[frozenset[str], ...] = tuple(
    _words(words)
    for words in (
        "second sec s minute min hour hr h day week month year decade century",
        "cent dollar penny nickel dime quarter buck",
        "mm cm m km inch in foot feet ft yard yd mile mi",
        "mg g kg gram kilogram pound lb lbs ounce oz ton",
        "ml l liter litre gallon gal quart pint cup tablespoon teaspoon",
        "dozen",
    )
)


# Conversion factors between units of one measure (minutes per hour, inches per foot, ...).
FACTORS = frozenset({7, 12, 16, 24, 30, 36, 52, 60, 100, 365, 1000, 3600, 5280})


def unit_span(toks: Sequence[TokenLike], i: int, *, operator_at: Callable[[int], bool]) -> int:
    """End (exclusive) of the unit phrase starting at ``toks[i]``, or ``i`` when none.

    ``operator_at(j)`` says whether ``toks[j]`` is an operator (or ``=``) that continues
    the expression; the caller decides, since only it knows the run.
    """
    j, words = i, 0
    while j < len(toks) and words < _MAX_WORDS:
        tok = toks[j]
        low = tok.text.lower()
        per = words == 0 and low == "per" and _plain_word_at(toks, j + 1)
        # "48 times + 12 times": before an operator, "times" cannot multiply; it counts.
        times = words == 0 and low == "times" and j + 1 < len(toks) and operator_at(j + 1)
        if tok.kind != "word" or not (per or times or _unit_word(tok, first=words == 0)):
            break
        words += 1
        j += 1
        # "cupcakes/class", "red-haired": a rate or compound joined without spaces.
        while (
            j + 1 < len(toks)
            and toks[j].text in ("/", "-")
            and not toks[j].space
            and toks[j + 1].kind == "word"
            and not toks[j + 1].space
            and toks[j + 1].text.lower() not in NEVER - {"m", "k"}
        ):
            j += 2
    while j > i and toks[j - 1].text.lower() in _INNER:  # "of" / "and" cannot end one
        j -= 1
    if j == i or j >= len(toks) or not operator_at(j):
        return i
    return j


def per_item(toks: Sequence[TokenLike]) -> bool:
    """Whether the unit words ``toks`` price one item ("each", "apiece")."""
    return any(t.text.lower() in _PER_ITEM for t in toks)


def rate_span(toks: Sequence[TokenLike], i: int) -> int:
    """End of the rate unit after a glued slash ("$6/hour", "50 cm/cuff"), or ``i``."""
    tok = toks[i]
    if tok.kind != "word" or tok.space or not _unit_word(tok, first=True):
        return i
    j = i + 1
    while (
        j + 1 < len(toks)
        and toks[j].text in ("/", "-")
        and not toks[j].space
        and toks[j + 1].kind == "word"
        and not toks[j + 1].space
    ):
        j += 2
    return j


def _plain_word_at(toks: Sequence[TokenLike], j: int) -> bool:
    """A unit word at ``toks[j]``: "$6 per hour" is a rate, "per 3 days" is not a unit."""
    return j < len(toks) and toks[j].kind == "word" and _unit_word(toks[j], first=True)


def _unit_word(tok: TokenLike, *, first: bool) -> bool:
    low = tok.text.lower()
    if first:
        if low in NEVER:
            return False
        # A single letter is a variable more often than a unit: "2L + 8", "4 W^2", "1/2 a
        # cup". Only a run's last number keeps one ("5m", "= 3 h"), and that needs no span.
        return len(tok.text) > 1
    return tok.space and (low in _INNER or (len(low) > 1 and low not in NEVER))


def unit_name(words: Sequence[str]) -> str:
    """A comparable name: the first word, lowercase, without a plural "s" ("Hours" -> hour)."""
    word = words[0].lower()
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]  # "inches", "boxes"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word


def conflicting(units: Sequence[str]) -> bool:
    """Whether ``units`` name two different units of one measure (hours and minutes)."""
    names = set(units)
    return any(len(names & family) >= 2 for family in _FAMILIES)


def is_measure(word: str) -> bool:
    """Whether ``word`` names a unit of a measure people write in two parts ("5 feet 2
    inches", "2 hours 30 minutes"), where the second number is not a quantity alone."""
    name = unit_name([word])
    return any(name in family for family in _FAMILIES)
