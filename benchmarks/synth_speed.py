"""Generation speed of every registered problem family, one core, one process.

For each family (default config, difficulty ``--difficulty``) times ``generate`` over
``--n`` items and prints items/s; arithmetic families are compared with the 10,000
items/s target (ratio >= 1 meets it). Families that cannot produce ``--n`` distinct items
at that difficulty, or fail otherwise, are reported rather than stopping the run.

Run: ``python benchmarks/synth_speed.py [--n 20000] [--difficulty 3]``
"""

from __future__ import annotations

import argparse
import time

from tracemint.errors import TracemintError
from tracemint.synth.base import families, generate
from tracemint.synth.families import load_builtin

TARGET = 10_000  # items/s for the arithmetic families
ARITHMETIC = frozenset(
    {"word_problems", "linear_equations", "modular", "boolean", "sorting", "counting", "dates"}
)


def items_per_second(name: str, n: int, difficulty: int) -> float:
    family = families.get(name)({"difficulty": difficulty})
    start = time.perf_counter()
    count = sum(1 for _ in generate(family, n, seed=0))
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="items per family")
    parser.add_argument("--difficulty", type=int, default=3)
    args = parser.parse_args()
    load_builtin()
    print(f"{'family':<18} {'items/s':>10}  vs {TARGET:,}/s target")
    for name in sorted(families.names()):
        try:
            rate = items_per_second(name, args.n, args.difficulty)
        except (TracemintError, ValueError) as exc:
            print(f"{name:<18} {'failed':>10}  {type(exc).__name__}: {exc}")
            continue
        verdict = ""
        if name in ARITHMETIC:
            ratio = rate / TARGET
            verdict = f"{ratio:5.2f}x {'ok' if ratio >= 1 else 'BELOW TARGET'}"
        print(f"{name:<18} {rate:>10,.0f}  {verdict}")


if __name__ == "__main__":
    main()
