"""What may follow a final answer, and what turns it into a hedge.

The reader (:mod:`~tracemint.verify.extract`) hands over the text after an answer; this
module decides whether that text is harmless formatting or closing prose ("I hope this
helps!") or whether it offers, hedges toward or retracts to *another* value. Only the
first makes the answer gradable: "verified" must not mean "we graded the first of two
answers", so every rule here errs toward ``unverifiable``.

The rules for the text after an answer (:func:`tail_problem`), in order; the first that
fires names the reason:

* a hedge, retraction, approximation or value-changing word ("or", "maybe", "wait",
  "actually", "just kidding", "approximately", "rounded", "not", "but", "if", "negative",
  "squared", ...) or ``?``, ``±``, ``≈``, ``~`` anywhere after the answer;
* a number that is not the answer's own value (digits of any script are ASCII by then,
  see :func:`~tracemint.verify.numbers.ascii_digits`), a numeric character that is no
  decimal digit ("½", "Ⅻ"), a Roman numeral, a number word other than a spelling of the
  answer's value ("forty-three", "half", "dozen");
* ``=``, ``<``, ``^``, ``\\boxed``/``\\frac`` or another math command: a value in notation;
* for a multiple-choice question, another option letter;
* a word of the answer's vocabulary (``vocabulary``): for a text answer the words that
  could *be* an answer (the reference's and the question's words, yes/no/true/false,
  weekday and month names), so "Monday. Tuesday." is caught like "42. 43."; and after a
  text answer also any capitalised word that is no usual closing word, or a short
  fragment without one ("Ana. Cleo.", "poem, guide").

Polite closings that need "if" ("let me know if you have any questions") and the close
of an ``<answer>`` tag are removed first. The module also holds the word lists the reader
applies *before* an answer (:data:`PREFIX_HEDGE`, :data:`UNSURE`, :data:`FALLBACK_HEDGE`)
and inside it (:data:`ANSWER_HEDGE`).
"""

from __future__ import annotations

import re
import unicodedata
from fractions import Fraction

_HEDGE_WORDS = (
    # alternatives and uncertainty
    r"or|either|nor|maybe|perhaps|possibly|possible|probably|likely|unlikely|might|may|could"
    r"|would|should|guess|guessing|think|believe|suspect|unsure|uncertain|sure|doubt|doubtful"
    r"|if|unless|whether|but|though|although|however|otherwise|else|alternatively|alternative"
    r"|another|other|instead|rather|between|range|ranging|somewhere|vs|versus|also|too"
    r"|plus|minus|depending|depends|assuming|assume|suppose|supposing"
    # words that change the value stated before them: "42 (negative)", "42, squared"
    r"|negative|positive|opposite|reciprocal|inverse|squared|cubed|doubled|halved|times"
    # approximation: grading is exact, so "about 42" claims something else than 42
    r"|approximately|approximate|approx|about|around|roughly|nearly|almost|circa|close"
    r"|estimate|estimated|ish|some|rounded|rounding|round|truncated"
    r"|at\s+least|at\s+most|more\s+than|less\s+than|up\s+to"
    r"|give\s+or\s+take"
    # retraction and correction
    r"|not|isn't|wasn't|no|nope|nah|wait|actually|kidding|joking|joke|correction|corrected"
    r"|oops|sorry|mistake|mistaken|wrong|incorrect|error|typo|misspoke|meant|mean"
    r"|second\s+thought|scratch|ignore|disregard|retract|revise|revised|reconsider"
    r"|recheck|recalculate|recompute|update|updated|change|changed|hmm+|umm*|uh|err|erm"
)
HEDGE = re.compile(
    rf"(?<![\w'])(?:{_HEDGE_WORDS})(?![\w'])|\?|±|∓|\\pm\b|\\mp\b|\+/-|≈|\\approx\b|\\sim\b"
    r"|(?:^|\s)~\s*\S|¬|🤔",
    re.IGNORECASE,
)
# Inside the answer itself only words that offer an alternative, approximate or retract
# count; "no", "not", "plus" can be part of a plain answer ("no", "not defined", "x plus
# 1") and are judged by comparison instead. The grader skips this test when the reference
# itself holds one of these words.
_ALTERNATIVE = (
    r"or|either|nor|maybe|perhaps|possibly|probably|likely|might|could|guess"
    r"|unsure|uncertain|between|range|somewhere|vs|versus|approximately|approximate|approx"
    r"|about|around|roughly|nearly|almost|circa|estimated|ish|give\s+or\s+take|wait|actually"
    r"|kidding|joking|correction|oops|sorry|mistake|typo|misspoke|meant|second\s+thought"
    r"|scratch|ignore|disregard|retract|reconsider|hmm+|umm*"
)
# "~" opening a value is "about" (or logical "not": "~False"); inside LaTeX ("42~\\text{m}")
# it is a space, which clean() drops
_SYMBOLS = r"\?|±|∓|\\pm\b|\\mp\b|\+/-|≈|\\approx\b|\\sim\b|(?:^|\s)~\s*\S|¬|🤔"
_BOUND = r"at\s+least|at\s+most|more\s+than|less\s+than|fewer\s+than|up\s+to|over|under"
ANSWER_HEDGE = re.compile(
    rf"(?<![\w'])(?:{_ALTERNATIVE}|{_BOUND})(?![\w'])|{_SYMBOLS}", re.IGNORECASE
)
# Before a fallback number: the same, but a bound only right before the number ("up to
# 42"), since "we add them up to get 42" is no bound; and as a fallback number has no
# marker to commit to it, a negation in its sentence ("it is not 43") counts too.
FALLBACK_HEDGE = re.compile(
    rf"(?<![\w'])(?:{_ALTERNATIVE}|not|no|never|isn't|wasn't|nope)(?![\w'])|{_SYMBOLS}"
    rf"|(?<![\w'])(?:{_BOUND})\s*[$€£]?\s*$",
    re.IGNORECASE,
)

# Words in the sentence that *introduces* the final answer which make it conditional or
# uncertain: "If the answer is 42, ...", "Maybe the answer is 42".
PREFIX_HEDGE = re.compile(
    r"(?<![\w'])(?:if|whether|suppose|supposing|assume|assuming|maybe|perhaps|possibly"
    r"|probably|likely|might|could|guess|unsure|not|either|or|approximately|roughly|about"
    r"|around|nearly|almost|wait|actually|kidding)(?![\w'])|\?",
    re.IGNORECASE,
)

# Doubt stated in the sentence just before the final answer ("I'm not sure. The answer is
# 42."): the answer that follows is a guess.
# "guess" only as the writer's own ("I guess", "my best guess", "just guessing"): "his guess
# is off by 36" is arithmetic about a guess in the problem, and GSM8K's gold says so.
UNSURE = re.compile(
    r"(?<![\w'])(?:not\s+(?:sure|certain|confident)|unsure|uncertain|no\s+idea|(?:don't|do\s+not"
    r"|can't|cannot)\s+(?:know|tell|be\s+sure)|(?:i|i'd|i'll|i'm|we|we'd|my|our|just|best"
    r"|wild|educated|rough)\s+(?:best\s+|wild\s+|educated\s+|rough\s+)?(?:guess|guessing)"
    r"|just\s+a\s+guess|(?:a|at|my|our)\s+guess|not\s+100%)"
    r"(?![\w'])",
    re.IGNORECASE,
)
# Where the clause that introduces an answer starts: after the last "so", "thus", ... or
# ";" / ":". A hedge word before it belongs to the reasoning ("He could buy 5 more, so the
# answer is 5"; "the students who did not pass number 5, so the answer is 5"), not to the
# answer; one inside it scopes the answer ("If x = 2, then the answer is 5", "Maybe the
# answer is 5"). Doubt about oneself (UNSURE) counts anywhere in the sentence.
_CLAUSE_CUT = re.compile(
    r"(?<![\w'])(?:so|thus|therefore|hence|consequently|(?:which|this|that)\s+means)(?![\w'])"
    r"|[;:]",
    re.IGNORECASE,
)


def introducing_clause(prefix: str) -> str:
    """The part of ``prefix`` (the sentence before an answer) that introduces the answer."""
    ends = [m.end() for m in _CLAUSE_CUT.finditer(prefix)]
    return prefix[ends[-1] :] if ends else prefix


def fallback_doubt(prefix: str) -> re.Match[str] | None:
    """What voids a marker-less answer in its own sentence ``prefix``: a hedge or negation
    in the clause that introduces it, or doubt about oneself anywhere before it."""
    return FALLBACK_HEDGE.search(introducing_clause(prefix)) or UNSURE.search(prefix)


_NUMBER_WORDS = (
    r"zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen"
    r"|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fourty|fifty|sixty"
    r"|seventy|eighty|ninety|hundred|hundreds|thousand|thousands|million|millions|billion"
    r"|half|halves|third|thirds|quarter|quarters|fourth|fifth|dozen|dozens|twice|double"
    r"|triple|none|nil|nothing|infinity|infinite|pi"
)
# A run of number words ("forty-two", "forty two"): may repeat the answer's own value.
_SPELLED = re.compile(
    rf"(?<![\w'])(?:{_NUMBER_WORDS})(?:[\s-]+(?:{_NUMBER_WORDS}))*(?![\w'])", re.IGNORECASE
)
_UNITS_WORDS = [
    *["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"],
    *["eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen"],
    *["eighteen", "nineteen"],
]
_TENS_WORDS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _spelled(words: str) -> Fraction | None:
    """The value of a spelled number below 100 ("forty-two" -> 42); None for anything else
    ("half", "a hundred", "dozen"), which then always counts as another value."""
    parts = re.split(r"[\s-]+", words.lower())
    if len(parts) == 1 and parts[0] in _UNITS_WORDS:
        return Fraction(_UNITS_WORDS.index(parts[0]))
    if parts[0] in _TENS_WORDS and len(parts) <= 2:
        tens = 20 + 10 * _TENS_WORDS.index(parts[0])
        if len(parts) == 1:
            return Fraction(tens)
        if parts[1] in _UNITS_WORDS[1:10]:
            return Fraction(tens + _UNITS_WORDS.index(parts[1]))
    return None


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_MATH = re.compile(
    r"=|\\(?:boxed|fbox|frac|dfrac|tfrac|sqrt|cdot|times|div)\b|\^|<|>|≤|≥"
    r"|(?<![\w'])[IVXLCDM]{2,}(?![\w'])"  # a Roman numeral: "42. XLIII."
)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_OPTION = re.compile(r"\(([A-Z])\)|\b([A-Z])\)|(?<![\w'])([B-HJ-Z]|A(?=\s*[.,;:!]|\s*$))(?![\w'])")
_POLITE = re.compile(
    r"let\s+me\s+know\s+if\s+(?:you\s+)?(?:have|need|want|would\s+like)\s+(?:any\s+)?"
    r"(?:further\s+|more\s+|other\s+)?(?:questions?|help|clarification|details)"
    r"|(?:is\s+there\s+)?anything\s+else(?:\s+I\s+can\s+help\s+(?:you\s+)?with)?\s*\?"
    r"|(?:do\s+you\s+have\s+)?any\s+(?:other\s+|more\s+|further\s+)?questions\s*\?"
    r"|(?:does|did)\s+(?:that|this)\s+help\s*\?|(?:how\s+)?can\s+I\s+help(?:\s+further)?\s*\?",
    re.IGNORECASE,
)
# Capitalised words that close a reply without naming an answer ("I hope this helps!").
_CLOSING = frozenset(
    """I I'm I've I'd I'll Thanks Thank Hope Hopefully Done Good Great Glad Happy Let This
    That These The It It's So Therefore Thus Hence Final Answer Note We You Your Our My In
    As A An And All Each Every Here There What Which Feel Please Cheers Best Enjoy Nice
    To For Of On With By Is Are Was Were Be That's Correct Right Solution Result Luck
    Cheers Regards Have Day Well QED""".split()  # noqa: SIM905
)
# After a text answer, a short fragment with no closing word ("poem, guide", "manual.") is
# another answer, not prose.
_FRAGMENT = re.compile(r"[,;:.!\n()\[\]\-–—]+")
_ANSWER_TAG = re.compile(r"</?answer>", re.IGNORECASE)  # the close of <answer>42</answer>
_SNIPPET = 60


def snippet(text: str) -> str:
    """A short, one-line quote of ``text`` for a verdict reason."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _SNIPPET else flat[: _SNIPPET - 3] + "..."


def _value(token: str) -> Fraction | None:
    try:
        return Fraction(token.replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return None


def tail_problem(
    tail: str,
    *,
    value: Fraction | None = None,
    vocabulary: frozenset[str] = frozenset(),
    letters: frozenset[str] = frozenset(),
    numbers: bool = True,
    names: bool = False,
) -> str | None:
    """Why the text after a final answer makes the answer unverifiable, or None.

    ``value`` is the answer's own numeric value (a number equal to it may be repeated);
    ``vocabulary`` holds lower-case words that would name another answer; ``letters`` the
    option letters of a multiple-choice question. ``numbers=False`` (a yes/no answer,
    whose justification may well hold numbers) skips the number and notation rules.
    """
    if not tail.strip():
        return None
    text = _POLITE.sub(" ", _ANSWER_TAG.sub(" ", tail))
    m = HEDGE.search(text)
    if m is not None:
        return f"hedged answer: {m.group(0).strip()!r} after the answer: {snippet(tail)}"
    if numbers:
        if not text.isascii() and any(
            not ch.isascii() and unicodedata.numeric(ch, None) is not None for ch in text
        ):  # "½", "Ⅻ", "②", "⁴³": a value in a character that is no decimal digit
            return f"hedged answer: another value after the answer: {snippet(tail)}"
        for m in _NUMBER.finditer(text):
            if value is None or _value(m.group(0)) != value:
                return f"hedged answer: another value after the answer: {snippet(tail)}"
        if _MATH.search(text) or any(
            _spelled(m.group(0)) is None or _spelled(m.group(0)) != value
            for m in _SPELLED.finditer(text)
        ):
            return f"hedged answer: another value after the answer: {snippet(tail)}"
    if letters:
        for m in _OPTION.finditer(text):
            if (m.group(1) or m.group(2) or m.group(3)) in letters:
                return f"hedged answer: another option after the answer: {snippet(tail)}"
    for m in _WORD.finditer(text):
        word = m.group(0)
        if word.lower() in vocabulary or (names and word[0].isupper() and word not in _CLOSING):
            return f"hedged answer: {word!r} after the answer: {snippet(tail)}"
    if names:
        for fragment in _FRAGMENT.split(text):
            words = _WORD.findall(fragment)
            if 0 < len(words) <= 4 and not any(
                w in _CLOSING or w.capitalize() in _CLOSING for w in words
            ):
                return f"hedged answer: {fragment.strip()!r} after the answer: {snippet(tail)}"
    return None
