"""Answer markers and the regions they open: where each stated final answer starts and ends.

A marker is ``\\boxed{}``/``\\fbox{}``, "the (final) answer is", "Answer:", "#### X",
"the correct option is" or ``<answer>...</answer>``. *Every* marker in a text is read
(not only the last), because a text that states two different final answers has not
committed to either: the reader compares them all (see :mod:`~tracemint.verify.extract`).

A marker's answer runs from the marker to the end of its sentence (newline, or ``.``,
``!``, ``?``, ``;`` before a space or the end). A ``$...$``/``\\(...\\)`` block or a
``\\boxed{}`` right after the marker is the whole answer. Inside the sentence the answer
is cut where prose starts, and the rest becomes the *tail*, which
:mod:`~tracemint.verify.hedges` judges:

* one expected value (``Shape.list_answer`` false): at ", ", " (", a dash, or a joining
  word ("because", "if", "or", "and", "which", ...);
* a list expected (the reference is a list, an ordering, "Zoe: knight, Ivan: knave"):
  commas belong to the answer; only the joining words cut;
* never inside brackets (``(1, 2)`` is one answer), and never at a word of the reference
  ("salt and pepper" is not cut at "and").

Every scan is a forward regex pass, so a 1 MB completion costs milliseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .latex import brace_group

PHRASE = re.compile(
    r"####|\b(?:final\s+answer|the\s+answer|correct\s+(?:answer|option|choice))"
    r"\s*(?:is|would\s+be|will\s+be|=|:)\s*:?|\banswer[\"']?\s*[:=]|<answer>",
    re.IGNORECASE,
)
_BOX = re.compile(r"\\(?:boxed|fbox)\b")
_SENTENCE_END = re.compile(r"\n|[!?;](?=\s|$)|\.(?=[\s*_\"')\]]|$)|\?|</answer>", re.IGNORECASE)
_JOINERS = (
    "because|since|as|which|so|given|from|when|after|where|if|with|unless|but|though"
    "|although|while|whereas|or|and|nor|then|than|instead|rather|not|whereby|hence|thus"
    "|to|through|thru|till|until|vs|versus"
)
# ")]}" is a cut only when unmatched: '{"answer": 42}' ends at "}"
_WORD_CUT = re.compile(rf"\s+\(|\s+[-–—]+\s|\s+({_JOINERS})\b|[)\]}}]", re.IGNORECASE)
_VALUE_CUT = re.compile(rf",\s|\s+\(|\s+[-–—]+\s|\s+({_JOINERS})\b|[)\]}}]", re.IGNORECASE)
_OPENERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
# An answer region holding only these words is a lead-in to the next marker ("Final
# Answer: The final answer is 42"), not an answer of its own.
_FILLER = re.compile(
    r"[\s*_:,.\-]*(?:(?:the|so|thus|therefore|hence|that|i\.e\.|is|final|answer|our|my|and"
    r"|which|we|get|then)\b[\s*_:,.\-]*)*",
    re.IGNORECASE,
)
# Connectives between a marker and its value: "The answer is therefore 3", "is thus 3".
_LEAD_WORDS = re.compile(
    r"(?:(?:therefore|thus|then|hence|so|simply|just|clearly|indeed|now)\b[\s,:]*)+",
    re.IGNORECASE,
)
# An arithmetic operator between operands (not a sign: "-3" has none before it).
_OPERATOR = re.compile(r"\S\s*(?:[+*/×÷·^]|\\times|\\cdot|\\div|(?<=\s)-(?=\s))")
_MAX_BLOCK = 2_000  # a $$...$$ or \\[...\\] answer block is at most this long
MAX_MARKERS = 64  # more stated answers than this is not a final answer; refuse to read


@dataclass(frozen=True)
class Shape:
    """What the reader knows about the expected answer (from the reference).

    ``list_answer``: commas are part of the answer; ``keep_words``: lower-case words of the
    reference, never read as the start of prose.
    """

    list_answer: bool = False
    keep_words: frozenset[str] = frozenset()
    equation: bool = False  # the reference is itself an equation ("x = 3")


@dataclass(frozen=True)
class Region:
    """One stated answer: ``raw`` as written, at ``text[start:end]``, opened by the marker
    at ``marker``; ``kind`` is "boxed", "phrase" or "hashes"."""

    marker: int
    start: int
    end: int
    raw: str
    kind: str


def find_markers(text: str) -> list[tuple[int, int, str]]:
    """Every marker as (position, where its answer may start, kind), in text order."""
    found = [
        (m.start(), m.end(), "hashes" if m.group(0) == "####" else "phrase")
        for m in PHRASE.finditer(text)
    ]
    found += [(m.start(), m.start(), "boxed") for m in _BOX.finditer(text)]
    found.sort()
    return found


def _boxed(text: str, pos: int) -> tuple[str, int] | None:
    """The content of the ``\\boxed`` at ``pos`` and the index after it; None if unclosed."""
    m = _BOX.match(text, pos)
    if m is None:
        return None
    i = m.end()
    while i < len(text) and text[i] == " ":
        i += 1
    group = brace_group(text, i)
    if group is not None:
        return group
    bare = re.compile(r"[^\s$]+").match(text, i) if i > m.end() else None
    return (bare.group(0), bare.end()) if bare else None


def cut_answer(text: str, start: int, end: int, shape: Shape) -> int:
    """Where the answer in ``text[start:end]`` gives way to prose (``end`` if nowhere)."""
    pattern = _WORD_CUT if shape.list_answer else _VALUE_CUT
    depth, pos = 0, start
    for m in pattern.finditer(text, start, end):
        chunk = text[pos : m.start()]
        depth += sum(chunk.count(c) for c in "([{") - sum(chunk.count(c) for c in ")]}")
        pos = m.start()
        if m.start() == start or depth > 0:
            continue
        word = m.group(1)
        if word is not None and word.lower() in shape.keep_words:
            continue
        return m.start()
    return end


def _phrase_region(text: str, begin: int, limit: int, shape: Shape) -> tuple[int, int]:
    """The (start, end) of the answer after a phrase marker, within ``text[:limit]``."""
    i = begin
    while i < limit and text[i] in " \t*_:":
        i += 1
    if i < limit and text[i] in "\r\n":
        while i < limit and text[i] in " \t\r\n*_":
            i += 1
    lead = _LEAD_WORDS.match(text, i, limit)  # "The answer is therefore 3."
    if lead is not None:
        i = lead.end()
    for opener, closer in _OPENERS:
        if text.startswith(opener, i):
            # the block may hold the next marker ("$\\boxed{4}$"); it ends on its own line
            line_end = text.find("\n", i)
            bound = min(len(text), i + _MAX_BLOCK) if len(opener) == 2 else line_end
            close = text.find(closer, i + len(opener), bound if bound >= 0 else len(text))
            if close > 0:
                return i, close + len(closer)
    if _BOX.match(text, i):
        boxed = _boxed(text, i)
        return (i, boxed[1]) if boxed is not None else (i, i)  # unclosed: nothing stated
    m = _SENTENCE_END.search(text, i, limit)
    stop = m.start() if m else limit
    end = cut_answer(text, i, stop, shape)
    return _result_of_expression(text, i, end, shape), end


def _result_of_expression(text: str, start: int, end: int, shape: Shape) -> int:
    """Where the stated value starts when the answer is worked out in place ("the final
    answer is 15 gallons * 8 pints / gallon = 120 pints"): after the last top-level ``=``
    whose left side holds an operator. The arithmetic itself is the step checker's job; a
    bare "43 = 42" (no operator) stays whole and so matches nothing. Equations that are the
    expected answer ("x = 3") keep their ``=``."""
    if shape.equation:
        return start
    body = text[start:end]
    depth, last = 0, -1
    for k, ch in enumerate(body):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "=" and depth == 0:
            last = k
    if last <= 0 or not _OPERATOR.search(body[:last]):
        return start
    k = last + 1
    while start + k < end and text[start + k] in " \t":
        k += 1
    return start + k if start + k < end else start


def read_regions(text: str, shape: Shape) -> list[Region] | None:
    """Every stated answer in ``text``, in order; None when there are too many to trust."""
    markers = find_markers(text)
    if len(markers) > MAX_MARKERS:
        return None
    regions: list[Region] = []
    consumed = -1
    for k, (pos, begin, kind) in enumerate(markers):
        if pos < consumed:
            continue  # a \boxed inside the answer of "The answer is \boxed{4}"
        limit = markers[k + 1][0] if k + 1 < len(markers) else len(text)
        if kind == "boxed":
            boxed = _boxed(text, pos)
            if boxed is None:
                continue  # an unclosed \boxed{ (truncated) states nothing
            body, after = boxed
            regions.append(Region(pos, pos, after, body, kind))
            consumed = after
            continue
        start, end = _phrase_region(text, begin, limit, shape)
        lead_in = k + 1 < len(markers) and markers[k + 1][2] != "boxed" and end == limit
        if lead_in and _FILLER.fullmatch(text, start, end):
            continue  # a lead-in to the next marker
        regions.append(Region(pos, start, end, text[start:end], kind))
        consumed = end
    return regions


def sentence_end(text: str, pos: int, limit: int) -> int:
    """The end of the sentence that ``pos`` is in (its terminator included), before ``limit``."""
    m = _SENTENCE_END.search(text, pos, limit)
    return m.end() if m else limit


def sentence_start(text: str, pos: int, window: int = 400) -> int:
    """The start of the sentence holding ``pos`` (looking back at most ``window`` chars)."""
    lo = max(0, pos - window)
    start = lo
    for m in _SENTENCE_END.finditer(text, lo, pos):
        start = m.end()
    return start
