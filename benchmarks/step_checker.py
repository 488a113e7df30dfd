"""False alarms and recall of the arithmetic step checker on GSM8K reference solutions.

Three passes over every solution of test.jsonl and train.jsonl:

1. **gold**: ``check_steps`` on each reference solution. Every claim it marks wrong is
   either a false alarm (the gold is right) or a real error in the gold. Calculator
   annotations are judged by an independent oracle (Python's own ``ast`` over exact
   fractions, not the checker's parser); visible-text claims are listed for a human.
2. **annotation alteration**: in each solution, one calculator result picked at random
   (``Random(seed + index)``) is changed in the annotation *and* in the visible number after
   it, as a wrong model would write it (``<<16-3-4=9>>9`` -> ``<<16-3-4=8>>8``). Recall is the
   share of altered steps marked wrong.
3. **plain alteration**: annotations are removed (``16 - 3 - 4 = 9``, what a model writes),
   one plain ``a op b = c`` claim found by an independent regex is picked, only ``c`` is
   changed, and the same recall is measured.

Run: ``python benchmarks/step_checker.py [--seed N] [--limit N] [--show N]``
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import time
from fractions import Fraction
from pathlib import Path

from tracemint.verify.arithmetic import check_steps

DATA = Path("/work/shared/data/gsm8k")
ANNOTATION = re.compile(r"<<([^<>=]*)=([^<>]*)>>([\d,]*(?:\.\d+)?)")
# An independent reading of "a op b = c" in plain text: numbers, one operator, one value.
PLAIN = re.compile(
    r"(?<![\w.,/*+-])(\d[\d,]*(?:\.\d+)?)\s*([-+*/x×])\s*\$?(\d[\d,]*(?:\.\d+)?)"
    r"\s*=\s*\$?(\d[\d,]*(?:\.\d+)?)(?![\d])"
)


# Visible-text claims of the gold flagged wrong, each read by a person when this benchmark
# was written (test+train). Arithmetic errors in the gold itself, as written:
GOLD_ERRORS = {
    ("$32 - $20", "$300"),
    ("192*100", "$1920"),
    ("6/3", ".5"),
    ("4080 + 4080 / 2", "4000 + 2040"),
    ("3/1", "1"),
    ("100 * 0.75", "$0.75"),
    ("$4200+$3000", "$8600"),
    ("10 x .5", "10"),
    ("2*8", "24"),
    ("200*.55", "100"),
    ("2", "$12.00"),  # "10=2 = $12.00", a typo for 10+2
    ("5 x 1/2", "10"),
    ("7+9+1+2", "$19.50"),
    ("70 + 40", "100"),
    ("10 x 1,248", "11,480"),
    ("2 / 12", ".125"),
    ("3 x (8/16)", "6"),
    ("4+4+6", "18"),
    ("500/ 2/5", "200"),  # 50 or 1250 however it is read; 500*2/5 was meant
    ("1152/ 1,536", ".5"),
    ("14*20", "140"),
}
# Notation the checker cannot read, the gold's arithmetic being right: false alarms.
NOTATION = {
    ("5 * 3", "$15,000"),  # in thousands of dollars
    ("14 / 1 / 4", "14 * 4"),  # 14 divided by 1/4
    ("1-2", "96 - 70"),  # "Weeks 1-2 = 96 - 70": a label
}


def oracle(expression: str) -> Fraction | None:
    """Exact value of a calculator expression via ``ast`` (an independent evaluator)."""
    expression = re.sub(r"(\d*\.?\d+)", r"F('\1')", expression.replace("×", "*"))
    try:
        tree = ast.parse(expression, mode="eval")
        return _walk(tree.body)
    except (SyntaxError, ValueError, ZeroDivisionError):
        return None


def _walk(node: ast.expr) -> Fraction:
    if isinstance(node, ast.Call) and isinstance(node.args[0], ast.Constant):
        return Fraction(str(node.args[0].value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_walk(node.operand)
    if isinstance(node, ast.BinOp):
        a, b = _walk(node.left), _walk(node.right)
        ops = {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}
        if type(node.op) in ops:
            return ops[type(node.op)]
        if isinstance(node.op, ast.Div):
            return a / b
    raise ValueError(ast.dump(node))


def correct_or_rounded(value: Fraction, shown: str) -> bool:
    """The oracle's reading of the rounding rule: equal, or half-up rounding to the digits."""
    shown_value = Fraction(shown.replace(",", ""))
    places = len(shown.split(".")[1]) if "." in shown else 0
    if value == shown_value:
        return True
    if places == 0:
        return False
    scaled = abs(value) * 10**places
    rounded = Fraction(int(scaled + Fraction(1, 2)), 10**places)
    return (rounded if value >= 0 else -rounded) == shown_value


def alter(value: str, rng: random.Random) -> str:
    """A plausible wrong result: one digit changed, a small offset, or two digits swapped."""
    digits = [i for i, ch in enumerate(value) if ch.isdigit()]
    kind = rng.choice(["digit", "digit", "offset", "swap"])
    if kind == "swap":
        pairs = [i for i in digits[:-1] if i + 1 in digits and value[i] != value[i + 1]]
        if pairs:
            i = rng.choice(pairs)
            swapped = value[:i] + value[i + 1] + value[i] + value[i + 2 :]
            if not swapped.startswith("0") or len(digits) == 1:
                return swapped
    if kind == "offset":
        number = Fraction(value.replace(",", ""))
        new = number + rng.choice([-1, 1]) * rng.randint(1, 10)
        if new >= 0:
            places = len(value.split(".")[1]) if "." in value else 0
            return f"{float(new):.{places}f}" if places else str(int(new))
    i = rng.choice(digits)
    choices = [d for d in "0123456789" if d != value[i] and not (d == "0" and i == 0)]
    return value[:i] + rng.choice(choices) + value[i + 1 :]


def step_of(check_result: object, position: int) -> int | None:
    for s in check_result.steps:  # type: ignore[attr-defined]
        if s.step.start <= position < s.step.end:
            return int(s.step.index)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--limit", type=int, default=0, help="solutions to use (0 = all)")
    parser.add_argument("--show", type=int, default=8, help="examples to print per list")
    args = parser.parse_args()

    solutions = []
    for name in ("test", "train"):
        with open(DATA / f"{name}.jsonl") as f:
            solutions += [json.loads(line)["answer"] for line in f]
    if args.limit:
        solutions = solutions[: args.limit]

    # -- 1. gold ---------------------------------------------------------------------
    t0 = time.perf_counter()
    results = [check_steps(s) for s in solutions]
    elapsed = time.perf_counter() - t0
    n_checked = sum(r.n_checked for r in results)
    n_claims = sum(len(s.claims) for r in results for s in r.steps)
    false_alarms, gold_wrong, visible = [], [], []
    for text, result in zip(solutions, results, strict=True):
        for step in result.steps:
            for claim in step.claims:
                if claim.verdict != "wrong":
                    continue
                item = (step.step.text, claim)
                m = ANNOTATION.match(text, claim.start)
                if m is None or m.end(2) + 2 != claim.end:
                    visible.append(item)
                    continue
                exact = oracle(m.group(1))
                if exact is not None and correct_or_rounded(exact, m.group(2)):
                    false_alarms.append(item)
                else:
                    gold_wrong.append(item)
    print(f"solutions: {len(solutions)}  claims: {n_claims}  checked: {n_checked}")
    print(f"speed: {n_checked / elapsed:,.0f} checked claims/s ({elapsed:.2f} s, gold pass)")
    print(
        f"gold flagged wrong: {len(false_alarms) + len(gold_wrong) + len(visible)} claims "
        f"in {sum(r.first_wrong_step is not None for r in results)} solutions"
    )
    print(f"  annotation false alarms (oracle says gold right): {len(false_alarms)}")
    print(f"  annotation errors in the gold (oracle agrees):    {len(gold_wrong)}")
    known = [item for item in visible if (item[1].expression, item[1].value) in GOLD_ERRORS]
    alarms = [item for item in visible if item not in known]
    print(f"  visible-text claims flagged:                      {len(visible)}")
    print(f"    errors in the gold (reviewed by hand):          {len(known)}")
    print(f"    false alarms (notation, or not yet reviewed):   {len(alarms)}")
    n_alarms = len(false_alarms) + len(alarms)
    print(
        f"false alarm rate: {n_alarms}/{n_checked} "
        f"= {100 * n_alarms / max(n_checked, 1):.3f}% of checked claims"
    )
    for title, items in (
        ("false alarms", false_alarms),
        ("gold errors (annotation)", gold_wrong),
        ("gold error", known),
        ("false alarm", alarms),
    ):
        for step_text, claim in items[: args.show]:
            print(f"  [{title}] {claim.expression} = {claim.value} (is {claim.computed})")
            print(f"      {step_text[:150]!r}")

    # -- 2. annotation alteration ----------------------------------------------------
    hits = first_hits = total = 0
    misses = []
    for idx, text in enumerate(solutions):
        rng = random.Random(args.seed + idx)
        candidates = list(ANNOTATION.finditer(text))
        if not candidates:
            continue
        m = rng.choice(candidates)
        exact = oracle(m.group(1))
        if exact is None or not correct_or_rounded(exact, m.group(2)):
            continue  # alter only results the gold got right
        new = alter(m.group(2), rng)
        if correct_or_rounded(exact, new):
            continue
        visible_new = new if m.group(3) else ""
        altered = (
            text[: m.start(2)] + new + ">>" + visible_new + text[m.end(3) :]
            if m.group(3)
            else text[: m.start(2)] + new + text[m.end(2) :]
        )
        result = check_steps(altered)
        step = step_of(result, m.start())
        total += 1
        flagged = step is not None and result.steps[step].verdict == "wrong"
        hits += flagged
        first_hits += result.first_wrong_step == step
        if not flagged:
            misses.append(altered[max(0, m.start() - 60) : m.start() + 40])
    print(
        f"annotation alteration: {hits}/{total} altered steps flagged "
        f"({100 * hits / max(total, 1):.2f}%); first_wrong_step exact in {first_hits}"
    )
    for miss in misses[: args.show]:
        print(f"  [missed] {miss!r}")

    # -- 3. plain alteration ----------------------------------------------------------
    hits = total = 0
    misses = []
    for idx, text in enumerate(solutions):
        rng = random.Random(args.seed + 10_000_000 + idx)
        plain = re.sub(r"<<[^<>]*>>", "", text)
        candidates = []
        for m in PLAIN.finditer(plain):
            a, op, b, c = m.groups()
            exact = oracle(f"{a.replace(',', '')}{'*' if op in 'x×' else op}{b.replace(',', '')}")
            if exact is not None and correct_or_rounded(exact, c):
                candidates.append((m, exact))
        if not candidates:
            continue
        m, exact = rng.choice(candidates)
        new = alter(m.group(4), rng)
        if correct_or_rounded(exact, new.replace(",", "")):
            continue
        altered = plain[: m.start(4)] + new + plain[m.end(4) :]
        result = check_steps(altered)
        step = step_of(result, m.start(4))
        total += 1
        flagged = step is not None and result.steps[step].verdict == "wrong"
        hits += flagged
        if not flagged:
            misses.append(altered[max(0, m.start() - 50) : m.end() + 20])
    print(
        f"plain alteration: {hits}/{total} altered steps flagged "
        f"({100 * hits / max(total, 1):.2f}%)"
    )
    for miss in misses[: args.show]:
        print(f"  [missed] {miss!r}")


if __name__ == "__main__":
    main()
