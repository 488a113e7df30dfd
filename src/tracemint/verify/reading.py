"""How to read a completion, given its reference: the answer's shape and vocabulary.

The reader needs two facts that only the reference knows. Whether commas belong to the
answer: "Zoe: knight, Ivan: knave", "Ana, Ben, Cleo" and "-3, 5, 12" are one answer each,
while after a single number ", 43" is a second value. And which words would name *another*
answer after the stated one: for a number any number does, but for "Monday" it is
"Tuesday", for "True" it is "False", for "Ana" it is "Ben" (a word of the question). Both
come from :func:`reading_for`; with no reference the reader assumes one value and a
numeric vocabulary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from .equivalence import split_structure
from .latex import clean
from .markers import Shape
from .numbers import parse_number

_WORD = re.compile(r"[^\W\d_]{2,}")
_BOOLEANS = frozenset({"yes", "no", "true", "false"})
_WEEKDAYS = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday".split()  # noqa: SIM905
)
_MONTHS = frozenset(
    [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ]
)
# Words that can close any answer ("I hope this helps!") and so never name another answer.
_STOPWORDS = frozenset(
    """a an the and of to in on at is are was were be been it its this that these those i
    you we he she they his her their my our your for with as by from so then hope helps help
    final answer thanks thank have has had do does did what which who how many much there
    here all each every any can will just well good great done question questions problem
    let me know step steps therefore thus hence result solution above below""".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class Reading:
    """What the reader knows: the answer's ``shape``, the ``vocabulary`` of words that
    would state another answer, the multiple-choice ``letters``, and ``whole_line``: a
    one-line completion without a marker is the answer itself (text and list answers);
    ``names``: the answer is text, so a capitalised word after it ("Monday. Cleo.") may
    be another answer."""

    shape: Shape = field(default_factory=Shape)
    vocabulary: frozenset[str] = frozenset()
    letters: frozenset[str] = frozenset()
    whole_line: bool = False
    names: bool = False  # a text answer: a capitalised word after it may name another


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def reading_for(
    reference: str | None,
    *,
    question: str | None = None,
    options: dict[str, str] | None = None,
) -> Reading:
    """The reading rules for completions answering ``reference`` (an extracted answer).

    Cached: a run grades many samples of one problem with the same reference and question.
    """
    return _reading(reference, question, tuple(sorted((options or {}).items())))


@lru_cache(maxsize=4096)
def _reading(
    reference: str | None, question: str | None, option_items: tuple[tuple[str, str], ...]
) -> Reading:
    options = dict(option_items)
    letters = frozenset(options)
    option_words = set().union(*(_words(v) for v in options.values())) if options else set()
    if not reference:
        return Reading(letters=letters, vocabulary=frozenset(option_words - _STOPWORDS))
    ref = clean(reference)
    ref_words = _words(ref)
    listed = split_structure(ref) is not None
    numeric = parse_number(ref) is not None
    vocabulary = set(option_words)
    if not numeric:
        vocabulary |= ref_words
        if question:
            vocabulary |= {w for w in _words(question) if len(w) >= 3}
        for group in (_BOOLEANS, _WEEKDAYS, _MONTHS):
            if ref_words & group:
                vocabulary |= group
    return Reading(
        shape=Shape(list_answer=listed, keep_words=frozenset(ref_words), equation="=" in reference),
        vocabulary=frozenset(vocabulary - _STOPWORDS),
        letters=letters,
        whole_line=listed or not numeric,
        names=not numeric,
    )
