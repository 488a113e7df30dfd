"""Monte-Carlo step labels (Math-Shepherd style): how likely is each prefix to still succeed?

For a trace split into steps ``s_0 .. s_{n-1}``, the prefix ending at step ``i`` is handed to a
*completer* ``k`` times; each continuation's final answer is verified. The share that reaches the
reference answer is the step's success estimate (Math-Shepherd's soft label); the hard label is
``estimate > 0`` ("HE": the step can still lead to the answer), and the first step whose estimate
is 0 is the first error.

This module is the algorithm layer only. It knows nothing about teachers, prompts or records: a
completer is any ``async (prefix_end, sample_index, seed) -> bool``, so the pipeline plugs a
teacher in through a thin adapter and tests plug in :func:`simulated_completer`.

Three labellers, one budget knob each:

* ``"hard"`` walks the prefixes in order, ``k`` samples each; with ``early_stop`` it stops at
  the first zero estimate, since under hard labelling every later step is bad anyway.
* ``"soft"`` evaluates every prefix (``early_stop`` does not apply): soft labels exist to keep
  the information that hard labelling throws away, including how often a model recovers.
* ``"binary"`` (OmegaPRM style) binary-searches the first prefix that cannot reach the answer,
  with at most ``ceil(log2(n + 1))`` prefix evaluations. It assumes monotonicity (once a prefix
  fails, longer ones fail too); recovery breaks that, and the benchmark measures by how much.

Determinism: the seed passed to the completer depends only on ``(seed, prefix_end,
sample_index)`` (:func:`call_seed`), never on call order or method. So results are reproducible
under any concurrency, and two methods that evaluate the same prefix see the same samples (a
cached teacher serves the second for free).

Benchmark: ``benchmarks/mc_labels.py`` (accuracy against completer calls).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, get_args

__all__ = [
    "Completer",
    "LabelMethod",
    "StepLabels",
    "call_seed",
    "label_steps",
    "simulated_completer",
]

#: ``(prefix_end, sample_index, seed) -> did a continuation of steps[:prefix_end + 1] reach the
#: reference answer?``  ``seed`` comes from :func:`call_seed`; use it as the sampling seed.
Completer = Callable[[int, int, int], Awaitable[bool]]

LabelMethod = Literal["hard", "soft", "binary"]
_METHODS: tuple[str, ...] = get_args(LabelMethod)

_MASK64 = (1 << 64) - 1


def call_seed(seed: int, prefix_end: int, sample_index: int) -> int:
    """The per-call seed for one continuation, in ``[0, 2**31)``.

    Why a hash and not ``seed + j``: consecutive label runs use consecutive seeds (one per
    trace), and ``seed + j`` would make trace 1's sample 0 equal trace 0's sample 1. SplitMix64
    mixing keeps every ``(seed, prefix_end, sample_index)`` on its own stream; 31 bits because
    some OpenAI-compatible servers reject larger seeds.
    """
    x = (seed * 0x9E3779B97F4A7C15 + prefix_end * 0xBF58476D1CE4E5B9 + sample_index) & _MASK64
    for shift, mult in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        x = ((x ^ (x >> shift)) * mult) & _MASK64
    return (x ^ (x >> 31)) & 0x7FFFFFFF


@dataclass(frozen=True)
class StepLabels:
    """Per-step labels for one trace.

    ``estimates[i]`` is the share of the ``k`` continuations from ``steps[:i + 1]`` that reached
    the answer, or ``None`` when that prefix was not evaluated. ``hard[i]`` is the step's label
    (``True`` = good); it is inferred for unevaluated steps where the method allows (after an
    early stop, or on either side of the binary-search boundary) and ``None`` where nothing is
    known (beyond ``max_steps``). ``first_error`` is the first bad step, ``None`` if no bad step
    was found. ``calls`` counts completer calls exactly.
    """

    estimates: tuple[float | None, ...]
    hard: tuple[bool | None, ...]
    first_error: int | None
    calls: int


def _check_int(name: str, value: object, minimum: int) -> int:
    # bool is an int subclass; k=True is a bug, not a 1.
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


async def label_steps(
    n_steps: int,
    complete: Completer,
    *,
    k: int = 4,
    method: LabelMethod = "hard",
    max_steps: int | None = None,
    early_stop: bool = True,
    seed: int = 0,
) -> StepLabels:
    """Label ``n_steps`` steps by Monte-Carlo rollouts from each prefix.

    ``k`` continuations per evaluated prefix run concurrently; prefixes run one after another
    because each decision (stop? search left or right?) needs the previous result. Only the
    first ``max_steps`` steps are considered (all if ``None``). See the module docstring for
    the methods. Raises ``ValueError`` naming the offending parameter.
    """
    _check_int("n_steps", n_steps, 0)
    _check_int("k", k, 1)
    if max_steps is not None:
        _check_int("max_steps", max_steps, 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {', '.join(_METHODS)}; got {method!r}")

    limit = n_steps if max_steps is None else min(n_steps, max_steps)
    estimates: list[float | None] = [None] * n_steps
    calls = 0

    async def evaluate(i: int) -> float:
        nonlocal calls
        calls += k
        outcomes = await asyncio.gather(*(complete(i, j, call_seed(seed, i, j)) for j in range(k)))
        estimate = sum(map(bool, outcomes)) / k
        estimates[i] = estimate
        return estimate

    hard: list[bool | None] = [None] * n_steps
    first_error: int | None = None
    if method == "binary":
        # Lower-bound search for the first failing prefix in [0, limit); `limit` means none.
        lo, hi = 0, limit
        while lo < hi:
            mid = (lo + hi) // 2
            if await evaluate(mid) > 0:
                lo = mid + 1
            else:
                hi = mid
        first_error = lo if lo < limit else None
        # Monotonicity is the method's premise, so labels on both sides of the boundary follow.
        # Without an error inside the limit, steps beyond it stay unknown.
        end = n_steps if first_error is not None else limit
        for i in range(end):
            hard[i] = first_error is None or i < first_error
    else:
        stop_early = early_stop and method == "hard"
        for i in range(limit):
            good = await evaluate(i) > 0
            hard[i] = good
            if not good and first_error is None:
                first_error = i
                if stop_early:
                    # Hard labelling: a prefix that cannot reach the answer taints every
                    # longer prefix, so the rest are bad without spending calls on them.
                    hard[i + 1 :] = [False] * (n_steps - i - 1)
                    break
    return StepLabels(tuple(estimates), tuple(hard), first_error, calls)


def simulated_completer(
    first_error: int | None, *, p_ok: float = 1.0, p_recover: float = 0.0
) -> Completer:
    """A completer for a synthetic chain whose first wrong step is ``first_error``.

    A continuation from a prefix that stops before the error succeeds with probability
    ``p_ok`` (``1 - p_ok`` models the completer's own error rate); one from a prefix that
    includes the error succeeds with ``p_recover`` (models reaching the right answer despite
    an earlier mistake). Draws come from ``Random(seed)``, so they are deterministic per call
    seed. This is the oracle for the tests and the benchmark.
    """
    for name, p in (("p_ok", p_ok), ("p_recover", p_recover)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be within [0, 1], got {p!r}")

    async def complete(prefix_end: int, sample_index: int, seed: int) -> bool:
        tainted = first_error is not None and prefix_end >= first_error
        return random.Random(seed).random() < (p_recover if tainted else p_ok)

    return complete
