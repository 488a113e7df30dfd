"""Where the claims are: maximal runs of math in prose, and whether words cut them.

A run is a maximal stretch of tokens that can be read as ``expr = expr (= expr ...)``.
Most of this module decides where a run ends and whether an end was *cut*, i.e. the words
next to it change what its edge means (``half of 10 + 4``, ``= 5 thousand``, ``2x + 3``,
``3:30``): a cut edge makes the claim ``unchecked`` rather than wrong. Operator words
(``times``, ``divided by``, ``x``, ``of`` after a percent) become operators, mixed numbers
(``2 1/2``) one number, and unit words between numbers (``11 teeth + 4 teeth``, ``$6/hour``)
are dropped, see :mod:`tracemint.verify.units`.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from . import units
from .claim_tokens import Tok, fraction_at

_WORD_OPS = {"times": "*", "plus": "+", "minus": "-", "x": "*"}
_TWO_WORD_OPS = {("divided", "by"): "/", ("multiplied", "by"): "*"}
_OPERANDS = ("num", "rp", "pct")  # token kinds that can end an operand
_STARTS_OPERAND = ("num", "lp", "cur")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# A word right before a run that makes its first operand something else ("twice 5 + 1").
_CUT_BEFORE = _words("times plus minus over divided multiplied squared cubed x")
# A noun right before a digit that makes it a label, not a quantity ("on day 1 * 2").
_LABELS = _words(
    "day week month year step page grade level round game chapter part question problem "
    "room floor row line number stage phase case option table figure lap episode season"
)
_FRACTION_WORDS = _words(
    "half halves third thirds quarter quarters fourth fourths fifth fifths sixth sixths "
    "eighth eighths tenth tenths twice double triple thrice fraction percent percentage"
)
# A word right after a run that transforms its last number.
_CUT_AFTER = _words("squared cubed")
# A scale word after the value: "= $28 million" may mean 28 or 28,000,000; both are tried.
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9, "dozen": 12}
_SCALES |= {"trillion": 10**12, "k": 1000, "K": 1000, "M": 10**6, "bn": 10**9}
_SCALES |= {f"{word}s": factor for word, factor in _SCALES.items() if len(word) > 2}
_CENTS = {"cent": Fraction(1, 100), "cents": Fraction(1, 100)}  # "$1 / 2 = 50 cents"
_GLUED_UNITS = frozenset("mgshlL")  # "5m", "3h": a glued single letter that is a unit

Run = tuple[list[Tok], bool, bool, "Fraction | None"]  # tokens, cut left, cut right, scale


def find_runs(toks: list[Tok]) -> list[Run]:
    """Maximal math runs that contain ``=``, with whether each end was cut mid-expression.

    A run ends at a word or punctuation, and also where two operands meet with no operator
    ("= 12) 5 - 2", "= 4 15-minute blocks"). Such a boundary is clean, except after a
    parenthesis ("(1/2) 278") or inside a space-grouped number ("1 000"), which cut both
    runs. A mixed number ("1 1/2", "5 and 2/3") becomes one number token.
    """
    runs: list[Run] = []
    run: list[Tok] = []
    cut_left = False
    depth = 0
    i = 0

    def close(cut_right: bool, scale: Fraction | None = None) -> None:
        if any(t.kind == "eq" for t in run):
            runs.append((run, cut_left, cut_right, scale))

    while i <= len(toks):
        tok = toks[i] if i < len(toks) else None
        mixed = _mixed_at(run, toks, i)
        if mixed:
            end = toks[i + mixed - 1]
            whole = run[-1]
            number = f"{whole.text} {toks[i + mixed - 3].text}/{end.text}"
            run[-1] = Tok("num", number, whole.start, end.end, whole.space)
            i += mixed
            continue
        if tok is not None and tok.kind not in ("word", "other"):
            last = next((t for t in reversed(run) if t.kind != "cur"), None)
            if last is not None and last.kind in _OPERANDS and tok.kind in ("num", "lp"):
                if tok.kind == "lp" and tok.space:  # "= 16 (15 minutes)": a remark
                    close(False)
                    run, cut_left, depth = [], True, 0
                elif tok.kind == "num":
                    # "(1/2) 278" multiplies; "= 12) 5 - 2" closed a remark.
                    cut = depth >= 0 and (last.kind != "num" or _split_number(last, toks, i))
                    close(cut)
                    run, cut_left, depth = [], cut, 0
            if not run:
                cut_left = cut_left or _cut_before(toks, i)
            depth += 1 if tok.kind == "lp" else -1 if tok.kind == "rp" else 0
            run.append(tok)
            i += 1
            continue
        word_op = _word_operator(toks, i, run)
        if tok is not None and word_op is not None:
            kind = "pct" if word_op[0] == "%" else "op"
            run.append(Tok(kind, word_op[0], tok.start, toks[i + word_op[1] - 1].end, tok.space))
            i += word_op[1]
            continue
        if tok is not None and tok.kind == "word" and run:
            stop = _unit_at(toks, i, run)
            if stop > i:  # "11 teeth + 4 teeth", "$6/hour * 2": the words are dropped
                # ... but they stood between the numbers: "1 year/$5,000" is no tight "1/5,000"
                toks[stop] = replace(toks[stop], space=True)
                i = stop
                continue
            if (
                run[-1].kind in ("num", "pct", "rp")
                and units.unit_span(
                    toks, i, operator_at=lambda j: toks[j].kind in ("op", "pow", "eq")
                )
                > i
            ):  # "3 bags of leaves / Y minutes": the expression goes on, unread
                close(True)
                run, cut_left, depth = [], False, 0
                i += 1
                continue
            if run[-1].kind == "num" and tok.text.lower() not in units.NEVER:
                run[-1] = replace(run[-1], unit=units.unit_name([tok.text]))  # "= 150 min"
        hyphen = run and run[-1].text == "-" and not run[-1].space
        if hyphen and tok is not None and tok.kind == "word" and not tok.space:
            run.pop()  # "= 72-liter": a hyphen, not a minus
        if any(t.kind == "eq" for t in run):
            close(_cut_after(toks, i), _scale_after(toks, i))
        run, cut_left, depth = [], False, 0
        i += 1
    return runs


def _unit_at(toks: list[Tok], i: int, run: list[Tok]) -> int:
    """End of the unit words at ``toks[i]`` when the expression goes on after them, else i.

    A glued slash after a number ("$6/hour", "50 cm/cuff") is a rate, not a division: it
    is popped from ``run`` even when the run ends there ("= $540/week").
    """
    last = run[-1]
    tok = toks[i]
    if last.text == "/" and last.kind == "op" and not last.space and not tok.space:
        if len(run) >= 2 and run[-2].kind in ("num", "pct"):
            end = units.rate_span(toks, i)
            if end > i:
                run.pop()
                _label(run, "/" + units.unit_name([tok.text]))
                return end if end < len(toks) and _continues(toks, end, run) else i
        return i
    if last.kind not in ("num", "pct", "rp") or (not tok.space and last.kind != "num"):
        return i
    end = units.unit_span(toks, i, operator_at=lambda j: _continues(toks, j, run))
    if end > i and toks[end].kind == "eq" and is_bare(_since_eq(run)):
        return i  # "1 hour = 60 minutes": a unit change, not a claim (as without the unit)
    per_item = end > i and toks[end].kind == "eq" and units.per_item(toks[i:end])
    if per_item and not _top_level_operator(_since_eq(run)):
        return i  # "40 bricks at ($1 - $0.20) each = 40*$0.80": the total follows
    if end > i:
        rate = any(t.text == "/" or t.text.lower() == "per" for t in toks[i:end])
        _label(run, units.unit_name([tok.text]) + ("/" if rate else ""))  # "minutes/hour"
    return end


def _top_level_operator(side: list[Tok]) -> bool:
    """Whether ``side`` applies an operator outside brackets ("7 people * 3 each")."""
    depth = 0
    for tok in side:
        depth += 1 if tok.kind == "lp" else -1 if tok.kind == "rp" else 0
        if depth == 0 and tok.kind in ("op", "pow"):
            return True
    return False


def _since_eq(run: list[Tok]) -> list[Tok]:
    k = max((n for n, t in enumerate(run) if t.kind == "eq"), default=-1)
    return run[k + 1 :]


def _continues(toks: list[Tok], j: int, run: list[Tok]) -> bool:
    """Whether ``toks[j]`` (after unit words) is an operator or "=" that goes on."""
    tok = toks[j]
    if tok.kind == "eq":
        return True
    if tok.kind in ("op", "pow"):
        nxt = toks[j + 1] if j + 1 < len(toks) else None
        after = toks[j + 2] if j + 2 < len(toks) else None
        glued = tok.text == "/" and not tok.space and nxt is not None and not nxt.space
        if glued and after is not None and after.kind in ("word", "pct"):
            return False  # "5 minutes/100 meters", "3 degrees/5%": a rate per a count
        return nxt is not None and nxt.kind in _STARTS_OPERAND
    return _word_operator(toks, j, run) is not None


def _label(run: list[Tok], unit: str) -> None:
    """Record ``unit`` on the run's last number (for :func:`units.conflicting`)."""
    for k in range(len(run) - 1, -1, -1):
        if run[k].kind == "num":
            if not run[k].unit:
                run[k] = replace(run[k], unit=unit)
            return


def _split_number(last: Tok, toks: list[Tok], i: int) -> bool:
    """Whether ``last`` and the number at ``toks[i]`` may be one number in two parts."""
    if last.kind != "num" or not last.text.isdigit():
        return False
    if toks[i].text.isdigit() and len(toks[i].text) == 3 and len(last.text) <= 3:
        return True  # "1 000 000"
    return fraction_at(toks, i)  # "2 3/2": not a proper mixed number, not two numbers


def _mixed_at(run: list[Tok], toks: list[Tok], i: int) -> int:
    """Tokens of a proper fraction completing the mixed number "1 1/2" / "1 and 1/2"."""
    if not run or run[-1].kind != "num" or not run[-1].text.isdigit() or i >= len(toks):
        return 0
    j = i + 1 if toks[i].kind == "word" and toks[i].text == "and" else i
    if not toks[j if j < len(toks) else i].space or not fraction_at(toks, j):
        return 0
    num, den = toks[j].text, toks[j + 2].text
    proper = num.isdigit() and den.isdigit() and 0 < int(num) < int(den)
    return j + 3 - i if proper else 0


def _word_operator(toks: list[Tok], i: int, run: list[Tok]) -> tuple[str, int] | None:
    """(operator, tokens consumed) when the word at ``i`` acts as an operator, else None."""
    if i >= len(toks) or toks[i].kind != "word" or not run or run[-1].kind not in _OPERANDS:
        return None
    word = toks[i].text
    low = word.lower()
    nxt = toks[i + 1] if i + 1 < len(toks) else None
    if low == "percent" and run[-1].kind != "pct":
        return ("%", 1)
    if low == "per" and nxt is not None and nxt.text.lower() == "cent":
        return ("%", 2)
    if nxt is None or nxt.kind not in _STARTS_OPERAND:
        if nxt is not None and (low, nxt.text.lower()) in _TWO_WORD_OPS:
            after = toks[i + 2] if i + 2 < len(toks) else None
            if after is not None and after.kind in _STARTS_OPERAND:
                return (_TWO_WORD_OPS[(low, nxt.text.lower())], 2)
        return None
    if low == "of":
        # "50% of 80", "1/2 of 80": "of" multiplies only after a percent or a fraction,
        # and only before the "=": "= 1/3 of $150" names what the 1/3 is of.
        fraction = len(run) >= 3 and run[-1].kind == "num" and run[-2].text == "/"
        if (run[-1].kind == "pct" or fraction) and not any(t.kind == "eq" for t in run):
            return ("*", 1)
        return None
    if low in _WORD_OPS:
        if low == "x" and toks[i].space != nxt.space:
            return None  # "3 x4" / "3x 4": lopsided spacing reads as a variable
        return (_WORD_OPS[low], 1)
    return None


def _cut_before(toks: list[Tok], i: int) -> bool:
    """Whether the text before ``toks[i]`` changes what the run's first operand means."""
    if i == 0:
        return False
    prev, first = toks[i - 1], toks[i]
    before = toks[i - 2] if i >= 2 else None
    if not first.space:
        if prev.kind == "word":
            return first.kind != "cur"  # "x2", "2x(": part of a symbol; "spends$5" is a typo
        glued_num = before is not None and before.kind == "num" and not prev.space
        return prev.text in "√∛∜" or (prev.text == "," and glued_num)  # "√144", "1,2"
    if prev.kind != "word":
        glued_num = before is not None and before.kind == "num" and not prev.space
        if prev.text == "," and glued_num and len(first.text) == 3 and first.text.isdigit():
            return True  # "14, 400 / 80": a thousands separator with a stray space
        return prev.text == "." and _after_operator(toks, i - 1)  # ".8 + . 84 + .82"
    if before is not None and before.kind == "num" and units.is_measure(prev.text):
        return True  # "5 feet 2 inches + 3": the run's first number is half a quantity
    low = prev.text.lower()
    before_word = before.text.lower() if before is not None and before.kind == "word" else ""
    if low in _CUT_BEFORE or (low in _LABELS and len(first.text) == 1):
        return True
    if _after_operator(toks, i - 1):
        return True  # "25 classmates + his 1 teacher + 1": the sum began before the words
    if low == "by":
        return before_word in ("divided", "multiplied")
    if low == "of":
        return before_word in _FRACTION_WORDS  # "half of 10 + 4"
    if before is not None and before.kind == "num" and not prev.space:
        return True  # "3x + 4", "24V + 15": the word is a variable with a coefficient
    if low == "and":  # "1 and 1/3"
        return before is not None and before.text.isdigit() and fraction_at(toks, i)
    if first.text in "-+":
        # "x - 3 = 4", "M + 4": binary after a variable; "is -5 + 8 = 3": a sign.
        return len(prev.text) == 1 or _spaced_after(toks, i)
    return False


def _after_operator(toks: list[Tok], j: int) -> bool:
    """Whether a few words (or a stray ".") back from ``toks[j]`` stands a binary operator."""
    for k in range(j, max(j - 5, -1), -1):
        if toks[k].kind == "op" and toks[k].space and k + 1 < len(toks) and toks[k + 1].space:
            return True  # spaced on both sides: not the hyphen of "t-shirts"
        if toks[k].kind != "word" and toks[k].text != ".":
            return False
    return False


def _spaced_after(toks: list[Tok], i: int) -> bool:
    return i + 1 >= len(toks) or toks[i + 1].space


def _cut_after(toks: list[Tok], i: int) -> bool:
    """Whether the text at ``toks[i]`` (just after a run) changes its last number."""
    if i >= len(toks):
        return False
    tok = toks[i]
    nxt = toks[i + 1] if i + 1 < len(toks) else None
    if tok.kind == "word":
        if tok.text in _SCALES or tok.text.lower() in _CENTS:
            return False  # read both ways instead, see _scale_after
        if not tok.space:  # "7x": a variable; "5m", "23ml": a unit
            return len(tok.text) == 1 and tok.text not in _GLUED_UNITS
        low = tok.text.lower()
        if low in ("and", "of"):  # "= 5 and 2/3", "= 16 and (2/3)", "= 1/3 of $150"
            j = i + 1
            while j < len(toks) and toks[j].kind in ("cur", "lp"):
                j += 1
            if low == "and":  # a mixed number find_runs could not merge
                return i > 0 and toks[i - 1].text.isdigit() and fraction_at(toks, j)
            return j < len(toks) and toks[j].kind == "num"  # not "= 6 of the handbags"
        return low in _CUT_AFTER
    if tok.text == "." and nxt is not None and nxt.text == "." and not nxt.space:
        return True  # "= 8.333...": a shortened decimal, not a rounding
    if tok.space or nxt is None or nxt.kind != "num" or nxt.space:
        return False
    return tok.text == "," or (tok.text == ":" and len(nxt.text) == 2)  # "= 1,20", "= 3:30"


def _scale_after(toks: list[Tok], i: int) -> Fraction | None:
    """The factor of a scale word right after a run ("million", "dozen", "cents")."""
    if i >= len(toks) or toks[i].kind != "word":
        return None
    word = toks[i].text
    if word in _SCALES:
        return Fraction(_SCALES[word])
    return _CENTS.get(word.lower()) if toks[i].space else None


def is_bare(side: list[Tok]) -> bool:
    """A side that is one number, maybe signed, with currency or percent."""
    return sum(t.kind == "num" for t in side) == 1 and all(
        t.kind in ("num", "cur", "pct") or t.text in "-+" for t in side
    )
