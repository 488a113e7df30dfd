"""Split a reasoning trace into steps, keeping exact character offsets into the trace.

Public API::

    split_steps(text, mode="auto") -> list[Step]
    STEP_MODES                                  # the accepted ``mode`` names

Modes:

* ``"lines"``: every non-empty line is a step.
* ``"numbered"``: a step starts at each line-start marker ``1.``, ``1)``, ``(1)`` or
  ``Step 1:`` and runs until the next marker, so a step may span several lines. Text
  before the first marker is a step of its own.
* ``"sentences"``: sentence ends (``.``, ``!``, ``?`` followed by whitespace and not a
  lowercase letter) and line breaks end a step. A period inside a number (``3.5``,
  ``$1.50``) never ends one, nor does the period of a known abbreviation (``Mr.``,
  ``e.g.``, ``approx.``) or of a single capital initial (``J. K. Rowling``).
* ``"auto"``: ``numbered`` when at least two markers are found (one marker alone is
  more often a number starting a line than a list), else ``lines`` when the trace has at
  least two non-empty lines, else ``sentences``.

The final-answer line (``#### 18``) is kept as a step of its own in every mode: it is
part of what the model wrote, and a per-step label for it is useful; the arithmetic
checker finds no claims in it, so it is always ``unchecked``.

Invariant (tested): for every step ``s`` of ``split_steps(text)``, ``text[s.start:s.end]
== s.text``, ``s.text`` is non-empty and has no leading or trailing whitespace, and the
steps are in order, do not overlap and are indexed ``0..n-1``. Markers stay inside the
step text: a step is the text as written.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

STEP_MODES = ("auto", "lines", "numbered", "sentences")

# A list marker at a line start: "1." / "1)" followed by whitespace (so "3.5 apples" is
# not one), "(1)", or "Step 1" with an optional ":" / "." / ")" / "-".
_MARKER = re.compile(
    r"^[ \t]*(?:\d{1,3}[.)](?=\s)|\(\d{1,3}\)|step[ \t]*\d{1,3}\b[ \t]*[:.)-]?)",
    re.IGNORECASE | re.MULTILINE,
)
_FINAL = re.compile(r"^[ \t]*####", re.MULTILINE)
_NONBLANK_LINE = re.compile(r"[^\r\n]*\S[^\r\n]*")
# A candidate sentence end: terminal punctuation, closing quotes/brackets, then whitespace.
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s)")
# Only abbreviations usually followed by a capital or a digit matter: a lowercase next word
# never starts a sentence anyway. Units ("5 ft.") are left out on purpose: they end
# sentences in math text far more often than they abbreviate mid-sentence.
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "mt",
        "vs",
        "e.g",
        "i.e",
        "eg",
        "ie",
        "cf",
        "fig",
        "no",
        "approx",
    ]
)
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")


@dataclass(frozen=True)
class Step:
    """One step of a trace: ``text == trace[start:end]``, stripped, non-empty."""

    index: int
    text: str
    start: int
    end: int


def split_steps(text: str, mode: str = "auto") -> list[Step]:
    """Split ``text`` into steps; ``mode`` is one of :data:`STEP_MODES` (see module doc)."""
    if mode not in STEP_MODES:
        raise ValueError(f"unknown step mode {mode!r}; known modes: {', '.join(STEP_MODES)}")
    if mode == "auto":
        if len(_MARKER.findall(text)) >= 2:
            mode = "numbered"
        elif sum(1 for _ in _NONBLANK_LINE.finditer(text)) >= 2:
            mode = "lines"
        else:
            mode = "sentences"
    if mode == "lines":
        spans = [(m.start(), m.end()) for m in _NONBLANK_LINE.finditer(text)]
    elif mode == "numbered":
        spans = _numbered_spans(text)
    else:
        spans = _sentence_spans(text)
    steps: list[Step] = []
    for start, end in spans:
        start, end = _strip_span(text, start, end)
        if start < end:
            steps.append(Step(len(steps), text[start:end], start, end))
    return steps


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink ``[start, end)`` past surrounding whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _cut(start: int, end: int, cuts: list[int]) -> list[tuple[int, int]]:
    """Split ``[start, end)`` at the sorted positions ``cuts``."""
    bounds = [start, *(c for c in cuts if start < c < end), end]
    return list(itertools.pairwise(bounds))


def _numbered_spans(text: str) -> list[tuple[int, int]]:
    # Each marker and each "####" line starts a step; the final-answer line also ends
    # one, so trailing text after it does not merge into the last numbered step.
    cuts = sorted({m.start() for m in _MARKER.finditer(text)} | _final_cuts(text))
    return _cut(0, len(text), cuts)


def _final_cuts(text: str) -> set[int]:
    """Start and end of every "####" line: it is always a step of its own."""
    cuts: set[int] = set()
    for m in _FINAL.finditer(text):
        cuts.add(m.start())
        eol = text.find("\n", m.end())
        cuts.add(len(text) if eol < 0 else eol)
    return cuts


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    cuts = {m.end() for m in re.finditer(r"\n", text)} | _final_cuts(text)
    for m in _SENTENCE_END.finditer(text):
        if _is_sentence_end(text, m.start(), m.end()):
            cuts.add(m.end())
    return _cut(0, len(text), sorted(cuts))


def _is_sentence_end(text: str, punct: int, end: int) -> bool:
    """Decide whether the punctuation at ``text[punct:end]`` ends a sentence."""
    nxt = end
    while nxt < len(text) and text[nxt] in " \t":
        nxt += 1
    if nxt < len(text) and text[nxt].islower():
        return False  # "e.g. the", "approx. five": a sentence does not start lowercase
    if text[punct] != "." or text[punct:end].startswith(".."):
        return True  # "!" / "?" / "...": always an end
    m = _WORD_BEFORE.search(text, max(0, punct - 12), punct)
    if m is None:
        return True  # "costs $1.50." or "is 18.": a number then a period ends a sentence
    word = m.group(1)
    if word.lower().rstrip(".") in _ABBREVIATIONS:
        return False
    # "J. K. Rowling": a lone capital letter before the period is an initial.
    return not (len(word) == 1 and word.isupper())
