"""Find the final answer in a completion or in a reference (answer or full solution).

Strong markers are tried first and the *last* one in the text wins, because models box or
announce intermediate results before the final one: ``\\boxed{}``/``\\fbox{}``, "the
(final) answer is", "Answer:", "#### X" (GSM8K), "the correct option is". Only when no
marker exists does a weak fallback run: the last number (or the last multiple-choice
letter, or, when the reference is boolean, the last yes/no/true/false). The result
records which rule fired, so the grader can say that a verdict rests on a fallback.

All regexes here are linear and the fallback scans only the tail first, so a 100 KB
completion costs about a millisecond.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .equivalence import compare
from .latex import clean, last_boxed

_PHRASE = re.compile(
    r"####|\b(?:final\s+answer|the\s+answer|correct\s+(?:answer|option|choice))"
    r"\s*(?:is|would\s+be|will\s+be|=|:)\s*:?|\banswer\s*[:=]",
    re.IGNORECASE,
)
_CUT = re.compile(
    r"\.(?=\s|$)|,\s+(?=[a-zA-Z]{2,})|\s+(?:because|since|as|which|so|given|from|when|after"
    r"|where|if|with)\b|\n",
    re.IGNORECASE,
)
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
_TAIL = 2_000  # the fallback looks here first: final answers sit at the end


@dataclass(frozen=True)
class Extraction:
    """An extracted answer and the rule that found it ("boxed", "phrase", "fallback"...)."""

    answer: str | None
    method: str


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


def _trim(rest: str) -> str:
    """Cut the text after an answer marker down to the answer itself."""
    rest = rest.lstrip(" \t*_:")
    if rest.startswith("\n"):
        lines = [ln for ln in rest.splitlines() if ln.strip(" *_")]
        rest = lines[0] if lines else ""
    rest = rest[:1000]
    for opener, closer in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if rest.startswith(opener):
            end = rest.find(closer, len(opener))
            if end > 0:
                return rest[: end + len(closer)]
    boxed = last_boxed(rest)
    if boxed is not None:
        return boxed[0]
    m = _CUT.search(rest)
    return (rest[: m.start()] if m else rest).strip(" *_")


def _strong(text: str) -> tuple[str, str, int] | None:
    """The last strong-marker answer as (answer, method, position), or None."""
    phrase = None
    for phrase in _PHRASE.finditer(text):  # noqa: B007 - we want the last match
        pass
    boxed = last_boxed(text)
    if boxed is not None and (phrase is None or boxed[1] >= phrase.start()):
        return boxed[0], "boxed", boxed[1]
    if phrase is not None:
        method = "hashes" if phrase.group(0) == "####" else "phrase"
        return _trim(text[phrase.end() :]), method, phrase.start()
    return None


def _last_number(text: str) -> str | None:
    text = _CALCULATOR.sub(" ", text)
    for window in (text[-_TAIL:], text):
        last = None
        for last in _NUMBER.finditer(window):  # noqa: B007 - we want the last match
            pass
        if last is not None:
            start = last.start()
            if last.group(2) is not None:
                # "16-3": the minus is subtraction when a digit or ")" precedes it.
                minus = last.group(1) and not (start > 0 and window[start - 1] in "0123456789)")
                return ("-" if minus else "") + last.group(2).replace(",", "")
            return f"{last.group(3)}\\frac{{{last.group(4)}}}{{{last.group(5)}}}"
        if len(window) == len(text):
            break
    return None


def _last_boolean(text: str) -> str | None:
    last = None
    for last in _BOOLEAN.finditer(text[-_TAIL:]):  # noqa: B007 - we want the last match
        pass
    return last.group(1).lower() if last else None


def _to_letter(answer: str, options: dict[str, str]) -> str | None:
    """The option letter that ``answer`` names (``(B)``, ``B)``, ``B``) or equals in text."""
    m = _LETTER_ANSWER.match(answer.strip())
    if m is not None:
        letter = (m.group(1) or m.group(2)).upper()
        if letter in options:
            return letter
    matches = [k for k, v in options.items() if v and compare(answer, v).equal]
    return matches[0] if len(matches) == 1 else None


def _last_letter(text: str, options: dict[str, str]) -> str | None:
    letters = "".join(options)
    pattern = re.compile(rf"\(([{letters}])\)|\b([{letters}])\)")
    last = None
    for last in pattern.finditer(text[-_TAIL:]):  # noqa: B007 - we want the last match
        pass
    return (last.group(1) or last.group(2)) if last else None


def extract(
    text: str, *, choices: list[str] | None = None, prefer_boolean: bool = False
) -> Extraction:
    """Extract the final answer from a completion, recording which rule found it."""
    options = parse_choices(choices) if choices else None
    strong = _strong(text)
    if strong is not None:
        answer = clean(strong[0])
        if options and answer:
            answer = _to_letter(answer, options) or answer
        return Extraction(answer or None, strong[1])
    if options:
        # AQuA-style rationales end on a line that is only the choice: "C", "Option B".
        m = _CHOICE_LINE.match(text.rstrip().rsplit("\n", 1)[-1])
        if m is not None and m.group(1) in options:
            return Extraction(m.group(1), "choice line")
        letter = _last_letter(text, options)
        if letter is not None:
            return Extraction(letter, "fallback")
    # A bare "no" is too common a word to be a fallback answer unless the reference is
    # itself yes/no/true/false.
    fallback = _last_boolean(text) if prefer_boolean else None
    fallback = fallback or _last_number(text)
    if fallback is not None and options:
        fallback = _to_letter(fallback, options) or fallback
    return Extraction(fallback, "fallback" if fallback is not None else "none")


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
    if _PHRASE.search(text) is None and last_boxed(text) is None and "\n" not in text:
        answer = clean(text)
        if choices and answer:
            answer = _to_letter(answer, parse_choices(choices)) or answer
        return answer or None
    return extract(text, choices=choices).answer
