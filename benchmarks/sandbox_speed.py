"""Throughput of ``tracemint.verify.sandbox`` on trivial programs, in one run.

    python benchmarks/sandbox_speed.py [--runs 300]

Prints executions/s for ``def solution(): return 1+1`` with the zygote and pre-forked
workers at pool sizes 1, 2 and 4, with the zygote forking on demand (``prefork=False``),
and for the no-pool baseline: a fresh ``python`` per program, bare and importing sympy
(the sandbox preloads the allowed modules, sympy included, so that is the fair comparison).
Sandbox start-up (one zygote, sympy preloaded) is reported separately, not in the rate.
The target is at least 100 executions/s on 2 cores; the seccomp filter's cost is printed
as the ratio of pool=2 with it to pool=2 without it, measured back to back.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from tracemint.verify.sandbox import Sandbox, SandboxConfig

PROGRAM = "def solution():\n    return 1+1\n"


def pooled(runs: int, pool_size: int, prefork: bool = True,
           syscall_filter: bool = True) -> tuple[float, float]:  # fmt: skip
    """(executions/s, start-up seconds) through one Sandbox."""
    start = time.perf_counter()
    cfg = SandboxConfig(pool_size=pool_size, prefork=prefork, syscall_filter=syscall_filter)
    with Sandbox(cfg) as sandbox:
        startup = time.perf_counter() - start
        sandbox.run(PROGRAM)  # warm
        begin = time.perf_counter()
        results = sandbox.run_many([PROGRAM] * runs)
        rate = runs / (time.perf_counter() - begin)
    assert all(r.value == "2" for r in results), results[:3]
    return rate, startup


def fresh_interpreter(runs: int, preamble: str = "") -> float:
    """Baseline: one new interpreter per program, empty env, no limits."""
    runner = preamble + PROGRAM + "print(solution())"
    begin = time.perf_counter()
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-I", "-c", runner], capture_output=True, env={}, check=True
        )
        assert out.stdout.strip() == b"2"
    return runs / (time.perf_counter() - begin)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, {args.runs} trivial programs per row")
    print(f"{'mode':<34}{'exec/s':>10}{'start-up s':>12}")
    for size in (1, 2, 4):
        rate, startup = pooled(args.runs, size)
        print(f"{f'zygote + prefork, pool_size={size}':<34}{rate:>10.1f}{startup:>12.2f}")
    rate, startup = pooled(args.runs, 2, prefork=False)
    print(f"{'zygote, fork on demand, pool=2':<34}{rate:>10.1f}{startup:>12.2f}")
    filtered, _ = pooled(args.runs, 2)  # measured again, next to its control
    bare, startup = pooled(args.runs, 2, syscall_filter=False)
    print(f"{'pool=2, no seccomp filter':<34}{bare:>10.1f}{startup:>12.2f}")
    print(f"{'  filter on / off (same run)':<34}{filtered / bare:>10.2f}")
    rate = fresh_interpreter(max(20, args.runs // 10))
    print(f"{'no pool: fresh python per run':<34}{rate:>10.1f}{'-':>12}")
    rate = fresh_interpreter(10, "import sympy\n")  # what the zygote preloads
    print(f"{'no pool: fresh python + sympy':<34}{rate:>10.1f}{'-':>12}")


if __name__ == "__main__":
    main()
