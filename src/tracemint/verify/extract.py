"""Find the final answer in a completion or in a reference (answer or full solution), and
whether the text commits to it.

Strong markers (``\\boxed{}``/``\\fbox{}``, "the (final) answer is", "Answer:", "#### X",
"the correct option is") are all read (:mod:`~tracemint.verify.markers`): the last one
gives the answer, and the text is flagged (``Extraction.problem``) when another marker
states a different answer ("conflicting answers"), when the final answer's sentence makes
it conditional, or when anything after it offers, hedges toward or retracts to another
value ("hedged answer", judged by :mod:`~tracemint.verify.hedges`). Repeating the same
answer is fine. Only when no marker exists does a weak fallback run: the last number (or
the last multiple-choice letter, or, when the reference is boolean, the last
yes/no/true/false; for a text or list reference, a one-line completion read whole). A
fallback number that ends a list of candidates ("43, 42") or sits in a hedging sentence is
flagged too. The result records which rule fired, so the grader can say that a verdict
rests on a fallback.

Digits of every script are read as ASCII first (:func:`~tracemint.verify.numbers.ascii_digits`).
All regexes here are linear, so a 1 MB completion costs milliseconds.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from fractions import Fraction

from .equivalence import compare, split_structure
from .hedges import (
    PREFIX_HEDGE,
    UNSURE,
    fallback_doubt,
    introducing_clause,
    snippet,
    tail_problem,
)
from .latex import clean, last_boxed
from .markers import (
    MAX_MARKERS,
    PHRASE,
    Region,
    cut_answer,
    read_regions,
    sentence_end,
    sentence_start,
)
from .numbers import ascii_digits, parse_number
from .reading import Reading

_CALCULATOR = re.compile(r"<<[^<>\n]{0,200}>>")  # GSM8K's <<16-3-4=9>> annotations
_NUMBER = re.compile(
    r"(?<![\w.])(-?)\$?(\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])|\d+(?:\.\d+)?)"
    r"|(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}"
)
_BOOLEAN = re.compile(r"\b(yes|no|true|false)\b", re.IGNORECASE)
_CHOICE_LABEL = re.compile(r"^\s*\(?([A-Za-z])\s*[).:]\s*(.*)$", re.DOTALL)
_LETTER_ANSWER = re.compile(
    r"^(?:(?i:option|choice)\s*)?(?:\(([A-Za-z])\)|([A-Z])(?:\)|\b))(?:[.:]?(?:\s.*)?)$",
    re.DOTALL,
)
_CHOICE_LINE = re.compile(
    r"^\s*(?:(?i:(?:the\s+)?(?:correct\s+)?(?:option|choice|answer|ans)(?:\s+is)?)\s*[:.]?\s*)?"
    r"\(?([A-Z])\)?\.?\s*$"
)
_TAIL = 2_000  # the boolean fallback looks here: final answers sit at the end
_NUMERIC_START = re.compile(r"[-+$€£.\d]")
_WHOLE_LINE = 500  # a longer marker-less line is prose, not a bare answer
_MAX_DISTINCT = 8  # differently written stated answers compared with the final one
# Between two numbers, only list punctuation or "or"/"and": "43, 42", "43 or 42", "43\n- 42".
_GAP_MARKS = r"[\s,;/|&.()\[\]{}<>*•`\"'\-–—]*"
_LIST_GAP = re.compile(
    rf"{_GAP_MARKS}(?:(?:and|or|nor|vs\.?|versus|maybe|perhaps|possibly|probably|either"
    rf"|also|plus|not|no|between|o|ou|oder|of|ó|или|eller|lub|nebo|veya|أو)\b{_GAP_MARKS}"
    rf"|(?:或|还是|または){_GAP_MARKS})*",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Extraction:
    """An extracted answer, the rule that found it ("boxed", "phrase", "hashes", "bare",
    "fallback"...), and ``problem``: why the text does not commit to that answer."""

    answer: str | None
    method: str
    raw: str | None = None  # the answer as written, before clean(): "~42", "**42**"
    problem: str | None = None  # "hedged answer: ...", "conflicting answers: ..."


def parse_choices(choices: list[str]) -> dict[str, str]:
    """Map option letters to option texts: ``['A)5', 'B) 6']`` -> ``{'A': '5', 'B': '6'}``.

    Options without a letter label get A, B, C... by position.
    """
    parsed: dict[str, str] = {}
    for i, choice in enumerate(choices):
        m = _CHOICE_LABEL.match(choice)
        if m is not None:
            parsed[m.group(1).upper()] = m.group(2).strip()
        else:
            parsed[chr(ord("A") + i)] = choice.strip()
    return parsed


def _to_letter(answer: str, options: dict[str, str]) -> str | None:
    """The option letter that ``answer`` names (``(B)``, ``B)``, ``B``) or equals in text."""
    m = _LETTER_ANSWER.match(answer.strip())
    if m is not None:
        letter = (m.group(1) or m.group(2)).upper()
        if letter in options:
            return letter
    matches = [k for k, v in options.items() if v and compare(answer, v).equal]
    return matches[0] if len(matches) == 1 else None


def _value(answer: str | None) -> Fraction | None:
    """The answer's numeric value when it is one plain number (so a tail may repeat it)."""
    q = parse_number(answer) if answer else None
    return q.value if q is not None else None


def _same(a: str, b: str) -> bool:
    """Two stated answers agree: equal values, and lists in the same order (the generic
    comparison treats "1, 2" and "2, 1" alike, but two orders are two answers)."""
    if split_structure(a) is not None or split_structure(b) is not None:
        return " ".join(a.lower().split()) == " ".join(b.lower().split())
    return compare(a, b).equal is True


def _region_problem(
    text: str, regions: list[Region], final_answer: str, reading: Reading
) -> str | None:
    """Why the stated answers do not commit to one value, or None when they do.

    All stated answers must agree; the final one's sentence must not introduce it
    conditionally ("If the answer is 42"); after each earlier answer, the rest of its
    sentence, and after the final one, *everything*, must be free of another value.
    """
    final = regions[-1]
    seen: set[str] = {final_answer}
    for r in regions[:-1]:
        other = clean(r.raw)
        if not other or other in seen:
            continue
        seen.add(other)
        if len(seen) > _MAX_DISTINCT:  # bounds the comparisons (each may reach sympy)
            return f"conflicting answers: more than {_MAX_DISTINCT} differently written answers"
        if not final_answer or not _same(other, final_answer):
            return f"conflicting answers: {snippet(other)!r} vs {snippet(final_answer)!r}"
    # the answer's value lets a tail repeat it ("42 (forty-two)"); only numbers have one
    value = _value(final_answer) if _NUMERIC_START.match(final_answer) else None
    for r, nxt in itertools.pairwise(regions):
        tail = text[r.end : sentence_end(text, r.end, nxt.marker)]
        problem = tail_problem(
            tail,
            value=value,
            vocabulary=reading.vocabulary,
            letters=reading.letters,
            names=reading.names,
        )
        if problem is not None:
            return problem
    start = sentence_start(text, final.marker)
    prefix = text[start : final.marker]
    m = PREFIX_HEDGE.search(introducing_clause(prefix))
    if m is not None:
        return f"hedged answer: {m.group(0)!r} before the answer: {snippet(prefix)}"
    before = text[sentence_start(text, max(0, start - 1)) : start] if start else ""
    m = UNSURE.search(before + prefix)
    if m is not None:
        return f"hedged answer: {m.group(0)!r} before the answer: {snippet(before + prefix)}"
    return tail_problem(
        text[final.end :],
        value=value,
        vocabulary=reading.vocabulary,
        letters=reading.letters,
        names=reading.names,
    )


def _numbers(text: str) -> tuple[re.Match[str] | None, re.Match[str] | None]:
    """The last two number matches (previous, last) in ``text``."""
    prev = last = None
    for m in _NUMBER.finditer(text):
        prev, last = last, m
    return prev, last


def _number_text(m: re.Match[str], text: str) -> str:
    if m.group(2) is not None:
        # "16-3": the minus is subtraction when a digit or ")" precedes it.
        start = m.start()
        minus = m.group(1) and not (start > 0 and text[start - 1] in "0123456789)")
        return ("-" if minus else "") + m.group(2).replace(",", "")
    return f"{m.group(3)}\\frac{{{m.group(4)}}}{{{m.group(5)}}}"


def _number_fallback(text: str, reading: Reading) -> Extraction | None:
    """The last number, unless its sentence hedges or it ends a list of candidates.
    (``extract`` has already blanked calculator notes, so none is read as a number.)"""
    prev, last = _numbers(text)
    if last is None:
        return None
    answer = _number_text(last, text)
    prefix = text[sentence_start(text, last.start()) : last.start()]
    problem = None
    m = fallback_doubt(prefix)
    if m is not None:
        problem = f"hedged answer: {m.group(0)!r} before the answer: {snippet(prefix + answer)}"
    elif (
        prev is not None
        and _value(_number_text(prev, text)) != _value(answer)
        and _LIST_GAP.fullmatch(text, prev.end(), last.start())
    ):
        problem = f"hedged answer: candidate list: {snippet(text[prev.start() : last.end()])}"
    else:
        problem = tail_problem(
            text[last.end() :],
            value=_value(answer),
            vocabulary=reading.vocabulary,
            letters=reading.letters,
        )
    return Extraction(answer, "fallback", answer, problem)


def _boolean_fallback(text: str, reading: Reading) -> Extraction | None:
    """The last yes/no/true/false, unless its sentence offers the other one too."""
    lo = max(0, len(text) - _TAIL)
    prev = last = None
    for found in _BOOLEAN.finditer(text, lo):
        prev, last = last, found
    if last is None:
        return None
    answer = last.group(1).lower()
    prefix = text[sentence_start(text, last.start()) : last.start()]
    problem = None
    m = fallback_doubt(prefix) or _BOOLEAN.search(prefix)
    if m is not None:
        problem = f"hedged answer: {m.group(0)!r} before the answer: {snippet(prefix + answer)}"
    elif (
        prev is not None
        and prev.group(1).lower() != answer
        and _LIST_GAP.fullmatch(text, prev.end(), last.start())
    ):
        problem = f"hedged answer: candidate list: {snippet(text[prev.start() : last.end()])}"
    else:
        tail = text[last.end() :]
        problem = tail_problem(tail, vocabulary=reading.vocabulary, numbers=False)
    return Extraction(answer, "fallback", last.group(0), problem)


def _bare(line: str, options: dict[str, str] | None, reading: Reading) -> Extraction:
    """A one-line completion without a marker, read as an answer region of its own."""
    end = cut_answer(line, 0, sentence_end(line, 0, len(line)), reading.shape)
    while end > 0 and line[end - 1] in ".!?;":
        end -= 1  # the terminator belongs to the tail, which may be only "."
    raw = line[:end]
    answer = clean(raw)
    if options and answer:
        answer = _to_letter(answer, options) or answer
    problem = tail_problem(
        line[end:],
        value=_value(answer),
        vocabulary=reading.vocabulary,
        letters=reading.letters,
        names=reading.names,
    )
    return Extraction(answer or None, "bare", raw, problem)


def _choice_fallback(text: str, options: dict[str, str], reading: Reading) -> Extraction | None:
    """The chosen option letter without a marker: a last line that is only the choice
    ("C", "Option B"), else the last "(B)"/"B)" mention, unless another option is offered
    next to it ("(B) or (A)", "C\nA") or its sentence hedges."""
    lines = [ln for ln in text.rstrip().split("\n") if ln.strip()]
    m = _CHOICE_LINE.match(lines[-1]) if lines else None
    if m is not None and m.group(1) in options:
        previous = _CHOICE_LINE.match(lines[-2]) if len(lines) > 1 else None
        problem = None
        if previous is not None and previous.group(1) != m.group(1):
            problem = f"hedged answer: candidate list: {snippet(lines[-2] + ' ' + lines[-1])}"
        return Extraction(m.group(1), "choice line", m.group(1), problem)
    letters = "".join(options)
    pattern = re.compile(rf"\(([{letters}])\)|\b([{letters}])\)")
    prev = last = None
    for found in pattern.finditer(text, max(0, len(text) - _TAIL)):
        prev, last = last, found
    if last is None:
        return None
    letter = last.group(1) or last.group(2)
    start = sentence_start(text, last.start())
    prefix = text[start : last.start()]
    problem = None
    hedge = fallback_doubt(prefix)
    if hedge is not None:
        problem = f"hedged answer: {hedge.group(0)!r} before the answer: {snippet(prefix)}"
    elif (
        prev is not None
        and (prev.group(1) or prev.group(2)) != letter
        and (prev.start() >= start or _LIST_GAP.fullmatch(text, prev.end(), last.start()))
    ):
        problem = f"hedged answer: another option: {snippet(text[prev.start() : last.end()])}"
    else:
        tail = text[last.end() :]
        problem = tail_problem(tail, letters=reading.letters, numbers=False)
    return Extraction(letter, "fallback", letter, problem)


def extract(
    text: str,
    *,
    choices: list[str] | None = None,
    prefer_boolean: bool = False,
    reading: Reading | None = None,
) -> Extraction:
    """Extract the final answer from a completion, recording which rule found it and,
    in ``problem``, why the text does not commit to it (hedge, conflict, candidates)."""
    reading = reading or Reading()
    # GSM8K's calculator notes (<<6*7=42>>) are the step checker's; as blanks they keep
    # every offset and never read as a second stated answer ("The answer is <<8=8>>8.")
    text = _CALCULATOR.sub(lambda m: " " * len(m.group(0)), ascii_digits(text))
    options = parse_choices(choices) if choices else None
    regions = read_regions(text, reading.shape)
    if regions is None:
        too_many = f"conflicting answers: more than {MAX_MARKERS} stated answers"
        return Extraction(None, "phrase", None, too_many)
    if regions:
        final = regions[-1]
        cleaned = clean(final.raw)
        answer = (_to_letter(cleaned, options) or cleaned) if options and cleaned else cleaned
        problem = _region_problem(text, regions, cleaned, reading)
        return Extraction(answer or None, final.kind, final.raw, problem)
    if options:
        chosen = _choice_fallback(text, options, reading)
        if chosen is not None:
            return chosen
    line = text.strip()
    one_line = bool(line) and "\n" not in line and len(line) <= _WHOLE_LINE
    if reading.whole_line and not prefer_boolean and one_line:
        return _bare(line, options, reading)
    # A bare "no" is too common a word to be a fallback answer unless the reference is
    # itself yes/no/true/false.
    found = _boolean_fallback(text, reading) if prefer_boolean else None
    found = found or _number_fallback(text, reading)
    if found is None:
        return Extraction(None, "none")
    if options and found.answer is not None:
        letter = _to_letter(found.answer, options)
        if letter is not None:
            return Extraction(letter, found.method, found.raw, found.problem)
    return found


def extract_answer(text: str, *, choices: list[str] | None = None) -> str | None:
    """Return the final answer in a completion (cleaned), or None when there is none.

    With ``choices`` the answer is the option letter whenever the text names one or states
    an option's text.
    """
    return extract(text, choices=choices).answer


def extract_reference(reference: str, *, choices: list[str] | None = None) -> str | None:
    """Return the final answer in a reference: a bare answer, LaTeX, or a full solution.

    A one-line reference without markers is the answer itself ("18", ``$\\frac12$``,
    "Paris"); a multi-line one falls back to its last number.
    """
    text = reference.strip()
    if not text:
        return None
    if PHRASE.search(text) is None and last_boxed(text) is None and "\n" not in text:
        answer = clean(text)
        if choices and answer:
            answer = _to_letter(answer, parse_choices(choices)) or answer
        return answer or None
    return extract(text, choices=choices).answer
