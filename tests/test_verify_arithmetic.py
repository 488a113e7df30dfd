"""The arithmetic claim checker: a table of claims, an oracle, bounds, threads, GSM8K."""

from __future__ import annotations

import json
import random
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sympy

from tracemint.verify.arithmetic import Claim, TraceCheck, check_steps, to_columns

GSM8K_50 = Path(__file__).parent / "data" / "steps_gsm8k_50.jsonl"


def claims(text: str) -> list[Claim]:
    return [c for s in check_steps(text).steps for c in s.claims]


def verdicts(text: str) -> list[str]:
    return [c.verdict for c in claims(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # plain operators, unicode, words
        ("so 3 + 4 = 7 apples", ["ok"]),
        ("so 3 + 4 = 8 apples", ["wrong"]),
        ("12 × 3 = 36, 12 x 3 = 36, 12*3 = 36, 12 · 3 = 36", ["ok"] * 4),
        ("36 ÷ 4 = 9 and 36 / 4 = 9", ["ok", "ok"]),
        ("10 − 3 = 7 and 10 – 3 = 7", ["ok", "ok"]),
        ("3 times 4 = 12, 5 plus 3 = 8, 9 divided by 3 = 3", ["ok"] * 3),
        ("2^10 = 1024 and 2**3 = 8", ["ok", "ok"]),
        ("(2 + 3) * (4 - 1) = 15 and 2(3 + 4) = 14", ["ok", "ok"]),
        ("so -5 + 8 = 3", ["ok"]),
        # currency and thousands
        ("He pays $2 * 3 = $6", ["ok"]),
        ("80,000+50,000=$130,000", ["ok"]),
        ("1,200 / 4 = 300 and 1,200 / 4 = 3,000", ["ok", "wrong"]),
        ("€5 + £3 = 8", ["ok"]),
        # decimals, fractions, rounding
        ("0.1 + 0.2 = 0.3", ["ok"]),
        ("3.5 * 2 = 7.0", ["ok"]),
        ("10/3 = 3.33", ["ok"]),
        ("10/3 = 3.3", ["ok"]),
        ("10/3 = 3.34", ["wrong"]),
        ("2/3 = 0.67", ["ok"]),
        ("2/3 = 0.66", ["wrong"]),
        ("10/3 = 3.30", ["wrong"]),
        ("10/3 = 4", ["unchecked"]),  # a neighbouring integer: maybe a deliberate ceil
        ("10/3 = 5", ["wrong"]),
        ("10/3 ≈ 3", ["ok"]),
        ("1/4 = 0.25 and 3/8 = .375", ["ok", "ok"]),
        ("25 / 1/3 = 75", ["ok"]),
        ("2 - 1/2 = 1 1/2 cups", ["ok"]),
        ("17/3 = 5 and 2/3 loads", ["ok"]),
        ("¾ x 8 = 6", ["ok"]),
        # percent
        ("50% of 80 = 40", ["ok"]),
        ("50 percent of 80 = 40", ["ok"]),
        ("20*25% = 5", ["ok"]),
        ("20*25% = 6", ["wrong"]),
        ("40/80 = 50%", ["ok"]),
        ("40/80*100 = 50%", ["ok"]),
        ("40/80 = 40%", ["wrong"]),
        ("1/3 = 33.3%", ["ok"]),
        ("100% - 20% = 80%", ["ok"]),
        # chains: every link is a claim
        ("2 + 3 = 5 = 5.0", ["ok", "ok"]),
        ("2 + 3 = 5 = 6", ["ok", "wrong"]),
        ("2 + 3 = 6 = 6", ["wrong", "ok"]),
        ("3*4 = 12 + 2 = 14", ["ok", "ok"]),  # a running total
        ("3*4 = 13 + 2 = 15", ["wrong", "ok"]),
        ("y = 2*3 = 6", ["ok"]),
        # scale words are read both ways
        ("16 + 12 = $28 million", ["ok"]),
        ("$1 / 2 = 50 cents", ["ok"]),
        ("6 * 500 = 3 thousand", ["ok"]),
        ("6 * 500 = 4 thousand", ["wrong"]),
        # GSM8K calculator annotations: the annotation is the claim, counted once
        ("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs", ["ok"]),
        ("Janet sells 16 - 3 - 4 = <<16-3-4=8>>8 duck eggs", ["wrong"]),
        ("So x=<<40=40>>40 and <<40=33>>33", ["ok", "wrong"]),
        ("He eats 560//10 = <<560//10=56>>56", ["ok"]),
        # not claims, or unchecked claims
        ("Step 1 = start", []),
        ("x = 5", []),
        ("2x + 3 = 7", ["unchecked"]),
        ("M + 4 + 2 = 8 hours", ["unchecked"]),
        ("1 hour = 60 minutes", []),
        ("so 60 = 60 * 1", ["unchecked"]),  # a bare number opening a run is a label
        ("half of 10 + 4 = 9", ["unchecked"]),
        ("3 + 4 = 7x", ["unchecked"]),
        ("5-3 = 1:00 pm", ["unchecked"]),
        ("3 * 4 = 12 squared", ["unchecked"]),
        ("2^100000 = 1", ["unchecked"]),
        ("1/0 = 5", ["unchecked"]),
        ("0900-0130 = 0730 hours", ["unchecked"]),
        ("the #### 18 is 18", []),
    ],
)
def test_claim_table(text: str, expected: list[str]) -> None:
    assert verdicts(text) == expected


def test_bullets_and_markers_are_not_operands() -> None:
    text = "- 3 + 4 = 7\n* 2 * 5 = 10\n1. 6 - 1 = 5\n(2) 8 / 2 = 4\nStep 3: 1 + 1 = 2"
    assert verdicts(text) == ["ok"] * 5


def test_claim_fields_and_offsets() -> None:
    text = "Intro line\nShe makes 9 * 2 = $<<9*2=18>>18 a day, and 10/3 = 3.34.\n#### 18"
    check = check_steps(text)
    annotation, visible = check.steps[1].claims
    assert text[annotation.start : annotation.end] == "<<9*2=18>>"
    assert (annotation.expression, annotation.value, annotation.computed) == ("9*2", "18", "18")
    assert text[visible.start : visible.end] == "10/3 = 3.34"
    assert (visible.verdict, visible.computed) == ("wrong", "10/3")
    assert (check.first_wrong_step, check.n_checked, check.n_wrong) == (1, 2, 1)
    assert [s.verdict for s in check.steps] == ["unchecked", "wrong", "unchecked"]


def test_to_columns_is_json_friendly() -> None:
    columns = to_columns(check_steps("3 + 4 = 7\n7 * 2 = 15\n#### 15"))
    assert json.loads(json.dumps(columns)) == columns
    assert columns["first_wrong_step"] == 1
    assert (columns["n_claims_checked"], columns["n_claims_wrong"]) == (2, 1)
    assert [s["verdict"] for s in columns["steps"]] == ["ok", "wrong", "unchecked"]
    assert columns["steps"][1] == {"text": "7 * 2 = 15", "start": 10, "end": 20, "verdict": "wrong"}


def test_agrees_with_sympy_on_random_expressions() -> None:
    """An independent oracle: sympy builds the value, the checker reads the text."""
    rng = random.Random(7)
    for _ in range(300):
        text, value = _random_expression(rng, depth=3)
        if not text.startswith("("):
            continue  # a lone number is not a claim
        if value.q != 1 and rng.random() < 0.5:
            shown = f"{float(value):.2f}"  # a rounding to two decimals
            value_text = shown if sympy.Rational(shown) != value else str(value)
        else:
            value_text = str(value)
        assert verdicts(f"so {text} = {value_text}") == ["ok"], (text, value_text)
        wrong = value + sympy.Rational(rng.choice([1, -1, 10, 100]))
        assert verdicts(f"so {text} = {wrong}") == ["wrong"], (text, wrong)


def _random_expression(rng: random.Random, depth: int) -> tuple[str, sympy.Rational]:
    if depth == 0 or rng.random() < 0.3:
        n = rng.randint(1, 999)
        return str(n), sympy.Rational(n)
    a_text, a = _random_expression(rng, depth - 1)
    b_text, b = _random_expression(rng, depth - 1)
    op = rng.choice("+-*/")
    value = {"+": a + b, "-": a - b, "*": a * b, "/": a / b}[op]
    return f"({a_text} {op} {b_text})", value


@pytest.mark.parametrize(
    "text",
    [
        "9" * 100_000,
        "(" * 50_000 + "1" + ")" * 50_000 + " = 1",
        "1+" * 50_000 + "1 = 50001",
        "1 = " * 25_000,
        "2^2^2^2^2^2^2^2^2 = 4",
        "<<" + "1+" * 140 + "1=141>>" * 300,
        "99999999999999999999 ** 99999999 = 1 " * 1000,
        ("10/3 = 3.33 " * 5 + "\n") * 1600,
        "a. " * 33_000,
        "(" * 100_000 + "1 = 1",
        "= 1 1 " + "a/" * 50_000,
        "3 = " + "1 teeth + " * 10_000 + "1",
        "3 = " + "$1/hour * " * 10_000 + "1",
        "\\frac{" * 20_000 + "1" + "}{2}" * 20_000 + " = 1",
        "}{" * 50_000 + " = 1",
    ],
)
def test_pathological_inputs_are_bounded(text: str) -> None:
    t0 = time.perf_counter()
    check = check_steps(text[:110_000])
    assert time.perf_counter() - t0 < 3.0
    assert isinstance(check, TraceCheck)


def test_threads_get_the_same_results() -> None:
    with open(GSM8K_50) as f:
        texts = [json.loads(line)["answer"] for line in f]
    texts += ["10/3 = 3.34\n50% of 80 = 40", "(1/2) 278 + 11 = 150", "2 1/2 = 2.5"]
    expected = [check_steps(t) for t in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(4):
            assert list(pool.map(check_steps, texts)) == expected


def _gsm8k_50() -> list[str]:
    with open(GSM8K_50) as f:
        return [json.loads(line)["answer"] for line in f]


def test_gsm8k_slice_has_no_false_alarms() -> None:
    checks = [check_steps(t) for t in _gsm8k_50()]
    assert sum(c.n_checked for c in checks) > 150
    assert [c.first_wrong_step for c in checks] == [None] * len(checks)


def test_gsm8k_slice_finds_every_altered_result() -> None:
    annotation = re.compile(r"<<([^<>=]*)=([\d.]+)>>(\d+(?:\.\d+)?)?")
    tried = 0
    for idx, text in enumerate(_gsm8k_50()):
        rng = random.Random(1000 + idx)
        m = rng.choice(list(annotation.finditer(text)))
        old = m.group(2)
        i = rng.choice([j for j, ch in enumerate(old) if ch.isdigit()])
        new = old[:i] + rng.choice([d for d in "123456789" if d != old[i]]) + old[i + 1 :]
        altered = f"{text[: m.start(2)]}{new}>>{new if m.group(3) else ''}{text[m.end() :]}"
        check = check_steps(altered)
        step = next(s for s in check.steps if s.step.start <= m.start() < s.step.end)
        assert step.verdict == "wrong", altered
        assert check.first_wrong_step == step.step.index
        tried += 1
    assert tried == 50


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # issue 14 part 4: units, currency and rates between the numbers
        ("11 teeth + 4 teeth = 150 teeth", ["wrong"]),
        ("11 teeth + 4 teeth = 15 teeth", ["ok"]),
        ("$6/hour * 2 hours = $7", ["wrong"]),
        ("$6/hour * 2 hours = $12", ["ok"]),
        ("$6 per hour * 2 hours = $12", ["ok"]),
        ("45 hours/week x 4 weeks = 179 hours", ["wrong"]),
        ("45 hours/week x 4 weeks = 180 hours", ["ok"]),
        ("3375 gallons * 1/3 = 11250 gallons", ["wrong"]),
        ("3375 gallons * 1/3 = 1125 gallons", ["ok"]),
        ("2 hours x 60 minutes/hour = 120 minutes", ["ok"]),
        ("4200 surfers / 3 days = 1400 surfers/day", ["ok"]),
        ("$540/week * 4 weeks/month = $2160/month", ["ok"]),
        ("14 candies * $0.50/candy = $7", ["ok"]),
        ("3 classes * 30 cupcakes/class = 90 cupcakes", ["ok"]),
        ("40 cups per lb * 3 lbs = 120 cups", ["ok"]),
        ("300 cars - 225 cars - 45 cars = 30 cars", ["ok"]),
        ("8 red and blue balls + 2 = 10 balls", ["ok"]),
        ("2*28cm = 56cm", ["ok"]),
        ("$5 each x 3 = $15", ["ok"]),
        ("2 1/2 cups * 2 = 5 cups", ["ok"]),
        ("1,250 apples + 750 apples = 2,000 apples", ["ok"]),
        ("(3 + 4) boxes * 2 = 14", ["ok"]),
        # LaTeX
        ("$3 \\times 4 = 13$", ["wrong"]),
        ("\\(3 \\cdot 4 = 12\\)", ["ok"]),
        ("12 \\div 4 = 3", ["ok"]),
        ("\\frac{1}{2} \\cdot 10 = 5", ["ok"]),
        ("1 / \\frac{1}{2} = 2", ["ok"]),
        ("\\frac{3+5}{2} = 5", ["wrong"]),
        ("\\$5 + \\$3 = \\$8", ["ok"]),
        ("50\\% of 80 = 40", ["ok"]),
        ("10/3 \\approx 3.33", ["ok"]),
        ("\\left(2 + 3\\right) \\times 4 = 20", ["ok"]),
        ("3 \\text{ apples} \\times 4 = 12", ["ok"]),
        ("\\sqrt{16} + 1 = 5", ["unchecked"]),
        # false alarms to avoid
        ("3 x 4 = 12 apples, so 12 + 5 = 17", ["ok", "ok"]),
        ("3 x 4 = 12 apples so 12 + 5 = 17", ["ok", "ok"]),
        ("2x = 10", []),
        ("2L + 8 = 22 games", ["unchecked"]),
        ("4 W^2 = 100", ["unchecked"]),
        ("1/2 a cup = 4 ounces", []),
        ("5-7 = 2 days", ["unchecked"]),
        ("Weeks 1-2 = 96 - 70", ["unchecked"]),
        ("20% of 50 = 10 and 50 * 20% = 10", ["ok", "ok"]),
        ("The 1st 3 + 4 = 8", ["unchecked"]),
        ("2nd grade + 3 = 6", ["unchecked"]),
        ("30/60 hours = 30 minutes", ["unchecked"]),  # a conversion: 0.5 h is 30 min
        ("2 hours * 3 = 360 minutes", ["unchecked"]),
        ("2 hours * 3 = 361 minutes", ["wrong"]),  # no conversion factor explains it
        ("6 feet * 12 = 73 inches", ["wrong"]),
        ("40 bricks at ($1 - $0.20) each = 40*$0.80 = $32", ["ok"]),
        ("$4 each * 24 = $96", ["ok"]),
        ("COVID19 + 2 = 22", ["unchecked"]),
        ("Step 2: 6 * 7 = 42", ["ok"]),
        ("2, 3 and 4 = 9", ["unchecked"]),
        ("2 hours + 30 minutes = 150 minutes", ["unchecked"]),
        ("$1.50 + 50 cents = $2", ["unchecked"]),
        ("5 feet 2 inches + 3 = 8", ["unchecked"]),
        ("1 hour = 60 minutes", []),
        ("12 dozen + 3 = 15", ["unchecked"]),
        ("29 + 24 decorations already up = 83 total", []),
        ("3 bags of leaves / 15 minutes = 8 bags of leaves / Y minutes", ["unchecked"]),
        ("150 minutes / 5 minutes/100 meters = 3 times", ["unchecked"]),
        ("600/(3+1=4) = 150 cards", ["unchecked", "unchecked"]),
        ("20 minutes / 240 minutes = 8.333...%", ["unchecked"]),
        ("his 25 classmates + his 1 teacher + 1 himself = 27 people", ["unchecked"]),
        ("10 pages per day on day 1 * 2 = 20 pages", ["unchecked"]),
        ("$40,000 / 1 year/$5,000 = 8 years", ["ok"]),
        ("15 dollars an hour x 40 hours per week x 52 weeks = 31,200 dollars", ["ok"]),
        ("14, 400 / 80 = 180", ["unchecked"]),
        ("500 kg/10 = 50 kg", ["ok"]),
        ("24 degrees / 3 degrees/5% = 8", ["unchecked"]),
        ("48 times + 12 times = 60 times", ["ok"]),
        ("2 t-shirts cost 2 x 10 = 20 dollars", ["ok"]),
    ],
)
def test_prose_claim_table(text: str, expected: list[str]) -> None:
    assert verdicts(text) == expected


def test_counts_tell_unchecked_from_checked() -> None:
    check = check_steps("3 + 4 = 7 and 2x + 3 = 7\n2L + 8 = 22\n5 * 5 = 26\n#### 26")
    assert (check.n_checked, check.n_wrong, check.n_unchecked) == (2, 1, 2)
    assert [s.verdict for s in check.steps] == ["ok", "unchecked", "wrong", "unchecked"]
    assert check.first_wrong_step == 2
