"""Accuracy against completer calls for Monte-Carlo step labelling, on simulated chains.

Each synthetic chain has ``n`` steps (uniform in 4..12) and a known first error ``e``, uniform
over ``0..n-1`` or none (probability ``1/(n+1)``). A continuation from a prefix before the
error succeeds with probability ``1 - error_rate``; one from a prefix that includes the error
succeeds with probability ``recovery_rate``. Chains are drawn with ``Random(seed + index)`` and
shared by every cell and method (common random numbers), so differences between cells are the
methods', not the draw's.

For each cell of the grid (k x error rate x recovery rate) and each method it prints:

* **FE acc**: share of chains whose predicted first error equals the true one (both "none"
  counts as a hit).
* **F1**: per-step F1 with *bad step* as the positive class, pooled over all steps of the
  cell's chains. Bad is the positive class because that is what a process reward model must
  catch; good steps are the majority and would flatter every method. Unevaluated steps
  (``hard is None``) count as predicted good: no evidence of an error.
* **calls**: mean completer calls per chain.

Hard and binary labels are the library's (``estimate > 0``). Soft labels are *thresholded at
0.5* for this table: a step is good when at least half its continuations succeed, and the
soft first error is the first step below 0.5. That threshold is why soft can beat hard under
recovery: a recovered continuation makes a bad step's estimate > 0 (hard calls it good) but
rarely >= 0.5. Soft evaluates every step, so its calls are ``n * k``.

Run: ``python benchmarks/mc_labels.py [--chains N] [--seed N]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from dataclasses import dataclass

from tracemint.verify.montecarlo import StepLabels, label_steps, simulated_completer

K_VALUES = (1, 2, 4, 8)
ERROR_RATES = (0.0, 0.1, 0.3)
RECOVERY_RATES = (0.0, 0.2, 0.5)
METHODS = ("hard", "soft", "binary")
SOFT_THRESHOLD = 0.5


@dataclass(frozen=True)
class Chain:
    n: int
    first_error: int | None

    def truth(self) -> list[bool]:
        """Per-step goodness: every step from the first error on is bad."""
        return [self.first_error is None or i < self.first_error for i in range(self.n)]


def make_chains(count: int, seed: int) -> list[Chain]:
    chains = []
    for index in range(count):
        rng = random.Random(seed + index)
        n = rng.randint(4, 12)
        e = rng.randint(0, n)  # n stands for "no error"
        chains.append(Chain(n, e if e < n else None))
    return chains


def predicted(method: str, labels: StepLabels) -> tuple[list[bool], int | None]:
    """Per-step goodness and first error as this table scores them."""
    if method == "soft":
        good = [e is None or e >= SOFT_THRESHOLD for e in labels.estimates]
        return good, next((i for i, g in enumerate(good) if not g), None)
    return [h is not False for h in labels.hard], labels.first_error


@dataclass
class Score:
    hits: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    calls: int = 0
    chains: int = 0

    def add(self, chain: Chain, good: list[bool], first_error: int | None, calls: int) -> None:
        self.chains += 1
        self.calls += calls
        self.hits += first_error == chain.first_error
        for p, t in zip(good, chain.truth(), strict=True):
            self.tp += not p and not t
            self.fp += not p and t
            self.fn += p and not t

    def row(self) -> tuple[float, float, float]:
        f1 = 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0
        return self.hits / self.chains, f1, self.calls / self.chains


async def score_cell(
    chains: list[Chain], seed: int, k: int, error_rate: float, recovery_rate: float
) -> dict[str, Score]:
    scores = {m: Score() for m in METHODS}
    for index, chain in enumerate(chains):
        complete = simulated_completer(
            chain.first_error, p_ok=1.0 - error_rate, p_recover=recovery_rate
        )
        for method in METHODS:
            labels = await label_steps(
                chain.n,
                complete,
                k=k,
                method=method,  # type: ignore[arg-type]
                seed=seed + index,
            )
            good, first_error = predicted(method, labels)
            scores[method].add(chain, good, first_error, labels.calls)
    return scores


async def main(count: int, seed: int) -> None:
    chains = make_chains(count, seed)
    mean_n = sum(c.n for c in chains) / count
    no_error = sum(c.first_error is None for c in chains)
    print(f"{count} chains, mean n = {mean_n:.2f}, {no_error} without error, seed {seed}")
    print("F1: bad step = positive class; soft thresholded at 0.5; calls: mean per chain\n")
    head = " | ".join(f"{m:^21}" for m in METHODS)
    print(f"{'err':>4} {'rec':>4} {'k':>2} | {head}")
    print(f"{'':>13}| " + " | ".join(f"{'FE acc':>6} {'F1':>5} {'calls':>6}" for _ in METHODS))
    for error_rate in ERROR_RATES:
        for recovery_rate in RECOVERY_RATES:
            for k in K_VALUES:
                scores = await score_cell(chains, seed, k, error_rate, recovery_rate)
                cells = " | ".join(
                    f"{acc:6.3f} {f1:5.3f} {calls:6.1f}"
                    for acc, f1, calls in (scores[m].row() for m in METHODS)
                )
                print(f"{error_rate:4.1f} {recovery_rate:4.1f} {k:>2} | {cells}")
            print()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=400, help="chains per cell")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    asyncio.run(main(args.chains, args.seed))
    print(f"done in {time.perf_counter() - start:.1f} s")
