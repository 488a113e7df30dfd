"""Planted slips in prose claims: the benchmark at a committed size, and property tests.

``benchmarks/step_checker.py`` plants one slip per GSM8K solution (one calculator result
and its visible copy altered) and checks the solution with its ``<<...>>`` annotations kept
and stripped. Here the same code runs on 200 committed train solutions and must meet the
issue's targets; the property tests then build claims the way teachers write them (units,
currency, rates, separators, LaTeX) and junk around them.
"""

from __future__ import annotations

import json
import random
from fractions import Fraction
from pathlib import Path
from types import ModuleType

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmark_support import load_benchmark
from tracemint.verify.arithmetic import TraceCheck, check_steps

_ROOT = Path(__file__).resolve().parent.parent
SLICE = _ROOT / "tests" / "data" / "steps_gsm8k_train_200.jsonl"


def _bench() -> ModuleType:
    return load_benchmark("step_checker")


bench = _bench()


def _verdicts(text: str) -> list[str]:
    return [c.verdict for s in check_steps(text).steps for c in s.claims]


# -- the benchmark on a committed slice ------------------------------------------------


def test_planted_slice_meets_the_targets() -> None:
    with open(SLICE) as f:
        solutions = [json.loads(line)["answer"] for line in f]
    result = bench.run_planted(solutions, seed=1234)
    rates = result.rates()
    assert result.n >= 190 and result.visible >= 170
    assert rates["recall_stripped"] >= 0.95, result.misses
    assert rates["recall_annotated"] >= 0.98
    assert rates["false_alarm_stripped"] <= 0.01, result.alarms
    assert rates["false_alarm_annotated"] <= 0.01, result.alarms
    assert rates["unchecked_stripped"] <= 0.05


def test_plant_alters_annotation_and_visible_copy() -> None:
    gold = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72"
    planted = bench.plant(gold, random.Random(0))
    assert planted is not None
    altered, position, visible = planted
    assert visible and altered[position:].startswith("<<48/2=")
    new = altered[position + len("<<48/2=") :].split(">>")[0]
    assert new != "24" and f">>{new} clips" in altered
    assert bench.flagged_at(bench.strip_annotations(altered), len("Natalia sold "))


def test_visibility_needs_the_operands_before_the_equals_sign() -> None:
    def visible(text: str) -> bool:
        m = bench.VISIBLE_RESULT.search(text)
        assert m is not None
        return bool(bench.is_visible(text, m))

    assert visible("She has 11 teeth + 4 teeth = <<11+4=15>>15 teeth")
    assert visible("She pays 20% of $50 = $<<.2*50=10>>10")
    assert not visible("She has <<11+4=15>>15 teeth")  # only a bare number in the prose
    assert not visible("The total = <<11+4=15>>15")  # the operands are not written


# -- property tests -------------------------------------------------------------------

_UNITS = ["", " apples", " teeth", " hours", " cm", " gallons", " kg", " red balls", " $"]
_ADD_OPS = ["+", "-", " plus", " minus"]
_MUL_OPS = ["*", "x", "×", "·", "\\times", "\\cdot", " times"]
_DIV_OPS = ["/", "÷", "\\div", " divided by"]


def _number(value: Fraction, style: str) -> str:
    """``value`` as a teacher writes it: "1,250", "1250", "2 1/2", "\\frac{5}{2}", "2.5"."""
    if value.denominator == 1:
        n = value.numerator
        return f"{n:,}" if style == "comma" else str(n)
    whole, rest = divmod(value.numerator, value.denominator)
    if style == "mixed" and whole > 0:
        return f"{whole} {rest}/{value.denominator}"
    if style == "latex":
        return f"\\frac{{{value.numerator}}}{{{value.denominator}}}"
    return f"{value.numerator}/{value.denominator}"


def _shown(value: Fraction, style: str) -> str | None:
    """A result as written after "=": exact integer or finite decimal, else None."""
    if value.denominator == 1:
        return _number(value, style)
    for places in range(1, 7):
        scaled = value * 10**places
        if scaled.denominator == 1:
            return _decimal(value, places)
    return None


def _decimal(value: Fraction, places: int) -> str:
    scaled = abs(value.numerator) * 10**places // value.denominator
    sign = "-" if value < 0 else ""
    return f"{sign}{scaled // 10**places}.{scaled % 10**places:0{places}d}"


def _with_unit(number: str, unit: str, currency: bool) -> str:
    if unit == " $" or currency:
        return f"${number}"
    return f"{number}{unit}"


@st.composite
def _claims(draw: st.DrawFn) -> tuple[str, Fraction, str, str]:
    """(left side, exact value, unit, number style) of a well-formed prose claim."""
    kind = draw(st.sampled_from(["add", "mul", "div", "rate", "percent"]))
    style = draw(st.sampled_from(["plain", "comma", "mixed", "latex"]))
    unit = draw(st.sampled_from(_UNITS))
    currency = draw(st.booleans()) and unit == ""
    a = Fraction(draw(st.integers(1, 50_000)))
    b = Fraction(draw(st.integers(1, 999)))
    if draw(st.booleans()):  # a proper fraction operand: "1/3", "2 1/2", "\frac{5}{2}"
        b = Fraction(draw(st.integers(1, 40)), draw(st.sampled_from([2, 3, 4, 5, 8])))
    if kind == "add":
        op = draw(st.sampled_from(_ADD_OPS))
        value = a + b if op.strip() in ("+", "plus") else a - b
        left = f"{_with_unit(_number(a, style), unit, currency)} {op.strip()} "
        left += _with_unit(_number(b, style), unit, currency)
    elif kind == "mul":
        op = draw(st.sampled_from(_MUL_OPS)).strip()
        value = a * b
        left = f"{_with_unit(_number(a, style), unit, currency)} {op} {_number(b, style)}"
    elif kind == "div":
        op = draw(st.sampled_from(_DIV_OPS)).strip()
        value = a / b
        left = f"{_with_unit(_number(a, style), unit, currency)} {op} {_number(b, style)}"
    elif kind == "rate":  # "$6/hour * 2 hours", "45 hours/week x 4 weeks", "$6 per hour"
        per = draw(st.sampled_from(["/hour", "/week", " per day", " per box"]))
        op = draw(st.sampled_from(["*", "x", "×"]))
        noun = draw(st.sampled_from([" hours", " weeks", " days", " boxes"]))
        value = a * b
        left = f"{_with_unit(_number(a, style), unit, currency)}{per} {op} {_number(b, style)}"
        left += noun
    else:  # percent
        p = Fraction(draw(st.integers(1, 200)))
        value = p / 100 * a
        left = draw(
            st.sampled_from([f"{p}% of {_number(a, style)}", f"{_number(a, style)} * {p}%"])
        )
        currency = False
    return left, value, unit, style


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_claims(), st.integers(1, 97), st.sampled_from(["So ", "", "Then she has ", "- "]))
def test_right_claims_are_ok_and_altered_ones_wrong(
    claim: tuple[str, Fraction, str, str], delta: int, lead: str
) -> None:
    left, value, unit, style = claim
    shown = _shown(value, "comma" if style == "comma" else "plain")
    if shown is None:
        return  # a repeating decimal: how to round it is another test's business
    tail = "" if unit == " $" else unit
    text = f"{lead}{left} = {shown}{tail}."
    assert _verdicts(text) == ["ok"], text
    wrong = _shown(value + delta, "plain")
    assert wrong is not None
    text = f"{lead}{left} = {wrong}{tail}."
    assert _verdicts(text) == ["wrong"], text


_WORDS = ["apples", "she", "has", "each", "per", "hour", "x", "and", "of", "the", "1st", "Step"]
_BITS = [*_WORDS, "2", "15", "1,250", "3:30", "5-7", "20%", "$6", "2x", "+", "*", "/", "(", ")"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(_BITS), max_size=12), max_size=6),
    st.lists(
        st.tuples(st.integers(0, 999), st.integers(1, 99), st.sampled_from("+-*")), max_size=6
    ),
    st.sampled_from([". ", ".\n", ", so ", "; ", "\n"]),
)
def test_junk_around_right_claims_never_makes_a_wrong_one(
    junk: list[list[str]], claims: list[tuple[int, int, str]], separator: str
) -> None:
    parts = []
    for k in range(max(len(junk), len(claims))):
        if k < len(junk):
            parts.append(" ".join(junk[k]))
        if k < len(claims):
            a, b, op = claims[k]
            value = a + b if op == "+" else a - b if op == "-" else a * b
            parts.append(f"{a} {op} {b} = {value} apples")
    text = separator.join(parts)
    assert "wrong" not in _verdicts(text), text


# Words that name or count, never operate: they may sit right against a claim.
_PLAIN = ["apples", "she", "has", "the", "so", "total", "hours", "minutes", "day", "cents"]
_PLAIN += ["dozen", "more", "each", "Step", "and"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(_BITS), max_size=8),
            st.sampled_from(_PLAIN),
            st.integers(0, 999),
            st.integers(1, 99),
            st.sampled_from(["+", "-", "*", "x", "×"]),
            st.sampled_from(_PLAIN),
            st.lists(st.sampled_from(_BITS), max_size=8),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_junk_glued_to_right_claims_never_makes_a_wrong_one(
    parts: list[tuple[list[str], str, int, int, str, str, list[str]]],
) -> None:
    """No separator this time: only a plain word stands between junk and each claim."""
    out = []
    for before, word, a, b, op, after, rest in parts:
        value = a + b if op == "+" else a - b if op == "-" else a * b
        out.append(" ".join([*before, word, f"{a} {op} {b} = {value}", after, *rest]))
    text = " ".join(out)
    assert "wrong" not in _verdicts(text), text


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("0123456789 .,/$%=+-*x×·()\\{}abc\n<>:")), max_size=80)
)
def test_junk_never_crashes(text: str) -> None:
    check = check_steps(text)
    assert isinstance(check, TraceCheck)
    if "=" not in text:
        assert check.n_checked == 0
