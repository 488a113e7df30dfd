"""Speed and strictness of ``tracemint.verify.grade`` against math-verify, in one run.

Pairs (prediction, gold):
  * every GSM8K test rationale (the full ``answer`` field) against its ``####`` answer;
  * LaTeX pairs that must be equal (tests/data/verify_latex_cases.json), as boxed completions;
  * perturbations: every one-digit change and sign flip of GSM8K and LaTeX answers,
    which must all be rejected.

Prints pairs/s for both graders, the ratio, and each grader's acceptance rate of the
perturbations. math-verify is a dev-only dependency: ``pip install math-verify==0.9.0``.

Run: ``python benchmarks/grader_speed.py [--limit N]``
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

from tracemint.verify import grade

ROOT = Path(__file__).resolve().parent.parent
GSM8K = Path("/work/shared/data/gsm8k/test.jsonl")
LATEX = ROOT / "tests" / "data" / "verify_latex_cases.json"


def perturbations(answer: str) -> Iterator[str]:
    """Every one-digit change of ``answer``, plus sign flips (leading and first inner)."""
    for i, ch in enumerate(answer):
        if ch.isdigit():
            for d in "0123456789":
                if d != ch:
                    yield answer[:i] + d + answer[i + 1 :]
    yield answer[1:] if answer.startswith("-") else "-" + answer
    inner = next((i for i, ch in enumerate(answer) if ch in "+-" and i > 0), None)
    if inner is not None:
        yield answer[:inner] + ("-" if answer[inner] == "+" else "+") + answer[inner + 1 :]


def _numerically_same(a: str, b: str) -> bool:
    """Exclude perturbations of plain numbers that leave the value unchanged ("-0", "05")."""
    try:
        return Fraction(a.replace(",", "")) == Fraction(b.replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return False


def build_pairs(limit: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Return (pairs that must be correct, perturbed pairs that must be rejected)."""
    rows = [json.loads(line) for line in GSM8K.read_text().splitlines()[:limit]]
    latex = json.loads(LATEX.read_text())
    good = [(r["answer"], r["answer"].rsplit("####", 1)[1].strip()) for r in rows]
    good += [(f"So the final answer is $\\boxed{{{b}}}$.", a) for a, b in latex["equivalent"]]
    golds = [g for _, g in good[:300]] + latex["answers"]
    bad = [
        (f"The final answer is $\\boxed{{{p}}}$.", gold)
        for gold in golds
        for p in perturbations(gold)
        if not _numerically_same(p, gold)
    ]
    return good, bad


def run(grader: Callable[[str, str], bool], pairs: list[tuple[str, str]]) -> tuple[float, int]:
    """Return (pairs per second, number accepted)."""
    start = time.perf_counter()
    accepted = sum(grader(pred, gold) for pred, gold in pairs)
    return len(pairs) / (time.perf_counter() - start), accepted


def ours(pred: str, gold: str) -> bool:
    return grade(pred, gold).verdict == "correct"


def math_verify_grader() -> Callable[[str, str], bool] | None:
    try:
        from math_verify import parse, verify
    except ImportError:
        return None

    def grader(pred: str, gold: str) -> bool:
        # Gold answers are bare; wrap them so math-verify's LaTeX extraction sees them.
        return bool(verify(parse(f"${gold}$"), parse(pred)))

    return grader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=10_000, help="GSM8K rows to use")
    args = parser.parse_args()
    good, bad = build_pairs(args.limit)
    everything = good + bad
    print(f"{len(good)} must-match pairs, {len(bad)} perturbed pairs, {len(everything)} total")
    graders = {"tracemint": ours}
    mv = math_verify_grader()
    if mv is not None:
        graders["math-verify"] = mv
    speeds = {}
    for name, grader in graders.items():
        grader(*good[0])  # warm imports and caches outside the timing
        speed, _ = run(grader, everything)
        _, good_ok = run(grader, good)
        _, bad_ok = run(grader, bad)
        speeds[name] = speed
        print(
            f"{name:12s} {speed:9.0f} pairs/s   must-match accepted {good_ok}/{len(good)} "
            f"({good_ok / len(good):.1%})   perturbations accepted {bad_ok}/{len(bad)} "
            f"({bad_ok / len(bad):.2%})"
        )
    if "math-verify" in speeds:
        ratio = speeds["tracemint"] / speeds["math-verify"]
        print(f"speed ratio tracemint / math-verify: {ratio:.1f}x")
    else:
        print("math-verify not installed: pip install math-verify==0.9.0")


if __name__ == "__main__":
    main()
