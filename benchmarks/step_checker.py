"""False alarms and recall of the arithmetic step checker on GSM8K reference solutions.

Two passes:

1. **gold**: ``check_steps`` on every solution of test.jsonl and train.jsonl. Every claim it
   marks wrong is either a false alarm (the gold is right) or a real error in the gold.
   Calculator annotations are judged by an independent oracle (Python's own ``ast`` over
   exact fractions, not the checker's parser); visible-text claims were read by a person
   (``GOLD_ERRORS`` and ``NOTATION`` below).
2. **planted slips** (issue 14, "steps in prose"): ``--n`` train solutions drawn with
   ``Random(seed)``; in each, one calculator result picked with ``Random(seed + index)`` is
   altered in the annotation *and* in the visible number after it, as a slipping model
   writes it (``48/2 = <<48/2=24>>24 clips`` -> ``48/2 = <<48/2=25>>25 clips``). The
   altered solution is checked twice: annotations kept, and annotations stripped
   (``48/2 = 25 clips``: how a model without a calculator writes). Recall is the share of
   altered steps marked wrong. With annotations stripped, only *visible* slips count: the
   prose writes the computation before the ``=`` (``is_visible``, independent of the
   checker); a slip in a bare number ("she has 25 clips") is not a claim at all. The same
   gold solutions, unaltered, give the false-alarm rate (solutions with any claim marked
   wrong) and the share of claims left unchecked.

Run: ``python benchmarks/step_checker.py [--seed N] [--n N] [--limit N] [--show N]``
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import time
from dataclasses import dataclass, field
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
    # read since unit words are dropped ("13 marbles + 4 marbles"):
    ("13 marbles + 4 marbles + 16", "45"),
    ("1550 cubic inches / 50", "29"),  # 31 pumps
    ("3 bobby pins / 21 decorations * 100%", "14.28"),  # 14.2857...: truncated, not rounded
    # seen only with the annotations stripped (the annotation hid the visible claim):
    ("364 / 4", "273"),  # 3/4 of 364 was meant
    ("6*2.5", "$18.00"),  # 6*3
    ("4000 + 2040", "6120"),
    ("8*3", "240"),  # 80*3
    ("50-8", "44"),  # 52-8
    ("500/ 1/10", "50"),  # 500 * 1/10 was meant, as with "500/ 2/5" above
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


# -- planted slips --------------------------------------------------------------------

# A calculator annotation with the visible result after it: "<<48/2=24>>24".
VISIBLE_RESULT = re.compile(r"<<([^<>=]*)=([^<>]*)>>(\d[\d,]*(?:\.\d+)?)")
_ANY_ANNOTATION = re.compile(r"<<[^<>]*>>")
_NUMBER = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?|\.\d+)(\s*%)?")


def strip_annotations(text: str) -> str:
    """The solution as a model without a calculator writes it: ``<<...>>`` removed."""
    return _ANY_ANNOTATION.sub("", text)


def _numbers(text: str) -> list[Fraction]:
    out = []
    for m in _NUMBER.finditer(text):
        value = Fraction(m.group(1).replace(",", ""))
        out.append(value / 100 if m.group(2) else value)
    return out


def is_visible(text: str, m: re.Match[str]) -> bool:
    """Whether the prose states the annotated computation: ``a op b = <<...>>c``.

    Independent of the checker: the visible text of the line before the annotation ends
    with ``=`` (and maybe a currency sign), and the last numbers before that ``=`` are the
    annotation's operands in order (``20%`` counts as 0.2). Otherwise the slip is only in
    the prose as a bare number ("he has 13 apples"), which no step checker can find.
    """
    line_start = text.rfind("\n", 0, m.start()) + 1
    before = strip_annotations(text[line_start : m.start()]).rstrip(" $€£")
    if not before.endswith("="):
        return False
    operands = [Fraction(n) for n in re.findall(r"\d*\.?\d+", m.group(1))]
    shown = _numbers(before[:-1])
    return bool(operands) and shown[-len(operands) :] == operands


def plant(text: str, rng: random.Random) -> tuple[str, int, bool] | None:
    """Alter one right calculator result and its visible copy, as a slipping model would.

    Returns (altered text, start of the altered annotation, visible) or None when
    the picked annotation is not a result the gold got right.
    """
    candidates = list(VISIBLE_RESULT.finditer(text))
    if not candidates:
        return None
    m = rng.choice(candidates)
    exact = oracle(m.group(1))
    if exact is None or not correct_or_rounded(exact, m.group(2)) or m.group(2) != m.group(3):
        return None
    new = alter(m.group(3), rng)
    if correct_or_rounded(exact, new.replace(",", "")):
        return None
    altered = f"{text[: m.start(2)]}{new}>>{new}{text[m.end(3) :]}"
    return altered, m.start(), is_visible(text, m)


def flagged_at(text: str, position: int) -> bool:
    """Whether the step of ``text`` holding ``position`` is marked wrong."""
    result = check_steps(text)
    step = step_of(result, position)
    return step is not None and result.steps[step].verdict == "wrong"


@dataclass
class Planted:
    """Recall on planted slips and false alarms on the same gold, both notations."""

    n: int = 0
    visible: int = 0
    found_stripped: int = 0
    found_annotated: int = 0
    found_stripped_all: int = 0
    gold_alarm_stripped: int = 0
    gold_alarm_annotated: int = 0
    claims_stripped: int = 0
    unchecked_stripped: int = 0
    claims_annotated: int = 0
    unchecked_annotated: int = 0
    misses: list[str] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)
    alarms_reviewed: int = 0  # of the gold flagged, real slips of the gold (GOLD_ERRORS)

    def rates(self) -> dict[str, float]:
        return {
            "recall_stripped": self.found_stripped / max(self.visible, 1),
            "recall_annotated": self.found_annotated / max(self.n, 1),
            "false_alarm_stripped": self.gold_alarm_stripped / max(self.n, 1),
            "false_alarm_annotated": self.gold_alarm_annotated / max(self.n, 1),
            "unchecked_stripped": self.unchecked_stripped / max(self.claims_stripped, 1),
            "unchecked_annotated": self.unchecked_annotated / max(self.claims_annotated, 1),
        }


def run_planted(solutions: list[str], seed: int) -> Planted:
    """Plant one slip per solution (``Random(seed + index)``) and check both versions."""
    out = Planted()
    for idx, gold in enumerate(solutions):
        planted = plant(gold, random.Random(seed + idx))
        if planted is None:
            continue
        altered, position, visible = planted
        out.n += 1
        for version, text in (("annotated", gold), ("stripped", strip_annotations(gold))):
            result = check_steps(text)
            claims = [c for s in result.steps for c in s.claims]
            unchecked = sum(c.verdict == "unchecked" for c in claims)
            setattr(out, f"claims_{version}", getattr(out, f"claims_{version}") + len(claims))
            setattr(out, f"unchecked_{version}", getattr(out, f"unchecked_{version}") + unchecked)
            if result.first_wrong_step is not None:
                setattr(out, f"gold_alarm_{version}", getattr(out, f"gold_alarm_{version}") + 1)
                step = result.steps[result.first_wrong_step]
                wrong = [c for c in step.claims if c.verdict == "wrong"]
                out.alarms.append(f"[{version}] {wrong[0].expression} = {wrong[0].value}")
                out.alarms_reviewed += (wrong[0].expression, wrong[0].value) in GOLD_ERRORS
        out.found_annotated += flagged_at(altered, position)
        # Stripping moves text left: the position of the visible copy moves with it.
        stripped = strip_annotations(altered[:position])
        found = flagged_at(strip_annotations(altered), len(stripped))
        out.found_stripped_all += found
        if visible:
            out.visible += 1
            out.found_stripped += found
            if not found:
                line_end = altered.find("\n", position)
                out.misses.append(
                    strip_annotations(altered[: line_end if line_end > 0 else None]).rsplit(
                        "\n", 1
                    )[-1]
                )
    return out


def load(name: str) -> list[str]:
    with open(DATA / f"{name}.jsonl") as f:
        return [json.loads(line)["answer"] for line in f]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--n", type=int, default=2000, help="train solutions to plant slips in")
    parser.add_argument("--limit", type=int, default=0, help="gold pass: solutions (0 = all)")
    parser.add_argument("--show", type=int, default=8, help="examples to print per list")
    args = parser.parse_args()

    solutions = load("test") + load("train")
    if args.limit:
        solutions = solutions[: args.limit]
    gold_pass(solutions, args.show)

    train = load("train")
    sample = random.Random(args.seed).sample(train, min(args.n, len(train)))
    t0 = time.perf_counter()
    planted = run_planted(sample, args.seed)
    elapsed = time.perf_counter() - t0
    rates = planted.rates()
    print(f"\nplanted slips: {planted.n} of {len(sample)} train solutions ({elapsed:.1f} s)")
    print(
        f"  annotated: {planted.found_annotated}/{planted.n} found "
        f"({100 * rates['recall_annotated']:.2f}%; target 98%)"
    )
    print(
        f"  stripped:  {planted.found_stripped}/{planted.visible} visible slips found "
        f"({100 * rates['recall_stripped']:.2f}%; target 95%); all slips incl. bare numbers "
        f"{planted.found_stripped_all}/{planted.n}"
    )
    print(
        f"  false alarms on the same gold: stripped {planted.gold_alarm_stripped}/{planted.n} "
        f"({100 * rates['false_alarm_stripped']:.2f}%), annotated "
        f"{planted.gold_alarm_annotated}/{planted.n} "
        f"({100 * rates['false_alarm_annotated']:.2f}%; target 1%)"
    )
    print(
        f"    of those, slips of the gold itself (reviewed, GOLD_ERRORS): "
        f"{planted.alarms_reviewed}/{len(planted.alarms)}"
    )
    print(
        f"  claims unchecked: stripped {planted.unchecked_stripped}/{planted.claims_stripped} "
        f"({100 * rates['unchecked_stripped']:.2f}%), annotated "
        f"{planted.unchecked_annotated}/{planted.claims_annotated} "
        f"({100 * rates['unchecked_annotated']:.2f}%)"
    )
    for miss in planted.misses[: args.show]:
        print(f"  [missed] {miss!r}")
    for alarm in planted.alarms[: args.show]:
        print(f"  [gold flagged] {alarm}")


def gold_pass(solutions: list[str], show: int) -> None:
    """Pass 1: every claim the checker marks wrong in the gold, sorted by who is right."""
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
        for step_text, claim in items[:show]:
            print(f"  [{title}] {claim.expression} = {claim.value} (is {claim.computed})")
            print(f"      {step_text[:150]!r}")

    # The same gold with its annotations stripped: claims the annotations used to hide.
    stripped_flags = []
    for text in solutions:
        for step in check_steps(strip_annotations(text)).steps:
            for claim in step.claims:
                pair = (claim.expression, claim.value)
                if claim.verdict == "wrong" and pair not in GOLD_ERRORS | NOTATION:
                    stripped_flags.append((step.step.text, claim))
    print(
        f"annotations stripped: {len(stripped_flags)} claims flagged beyond the reviewed "
        f"gold errors and notation above (false alarms, or not yet reviewed)"
    )
    for step_text, claim in stripped_flags[:show]:
        print(f"  [stripped] {claim.expression} = {claim.value} (is {claim.computed})")
        print(f"      {step_text[:150]!r}")


if __name__ == "__main__":
    main()
