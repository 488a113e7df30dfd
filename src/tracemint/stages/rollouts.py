"""Monte-Carlo step labels: continue step prefixes and grade where they lead."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence

from tracemint.cache import CallCache
from tracemint.config import MonteCarloConfig
from tracemint.records import Record
from tracemint.stages.sample import CachedCaller
from tracemint.teachers.base import GenerationRequest, Teacher
from tracemint.verify import grade
from tracemint.verify.montecarlo import label_steps


def _rollout_completer(
    caller: CachedCaller, t: Record, temperature: float, max_tokens: int
) -> Callable[[int, int, int], Awaitable[bool]]:
    """Does a continuation of ``t`` after step ``i`` (sample ``j``) reach the reference?"""
    messages = tuple(json.loads(t["prompt"]))
    text, steps = t["completion"], t["steps"]

    async def complete(i: int, j: int, call_seed: int) -> bool:
        prefix = text[: steps[i]["end"]] + "\n"
        req = GenerationRequest(
            messages=messages,
            max_tokens=max_tokens,
            temperature=temperature,
            seed=call_seed,
            sample_index=j,
            prefill=prefix,
        )
        c, _ = await caller.call(req)
        v = grade(
            prefix + c.text,
            t.get("reference"),
            choices=t.get("choices"),
            truncated=c.truncated,
            question=t.get("question"),
        )
        return v.verdict == "correct"

    return complete


async def rollout_labels(
    traces: Sequence[Record],
    teacher: Teacher,
    cache: CallCache | None,
    cfg: MonteCarloConfig,
    max_tokens: int,
    seed: int = 0,
) -> list[Record]:
    """Monte-Carlo step labels: continue each step prefix and grade the continuations.

    Every continuation is an ordinary cached call (keyed by the prefix and sample index),
    so labelling resumes like everything else. Adds ``step_estimates`` (share of
    continuations from each prefix that reach the reference; null where not evaluated),
    ``step_labels`` (hard good/bad labels, null where unknown), ``mc_first_error`` and
    ``mc_calls``.
    """
    caller = CachedCaller(teacher, cache)
    if teacher.name == "openai" and any(t.get("steps") for t in traces):
        # The live prefill check, once per process (a no-op after the run's own): it also
        # switches this process's teacher to the prefill style that works, as in a worker
        # process whose teacher was built from the recipe again.
        from tracemint.teachers.prefill import confirm_prefill

        await confirm_prefill(teacher, caller)
    out = []
    for t in traces:
        steps = t.get("steps") or []
        wanted = {
            "all": True,
            "correct": t.get("verdict") == "correct",
            "wrong": t.get("verdict") == "wrong",
        }[cfg.apply_to]
        if not steps or t.get("reference") is None or t.get("truncated") or not wanted:
            out.append(t)
            continue
        complete = _rollout_completer(caller, t, cfg.temperature, max_tokens)
        labels = await label_steps(
            len(steps), complete, k=cfg.k, method=cfg.method, max_steps=cfg.max_steps, seed=seed
        )
        out.append(
            {
                **t,
                "step_estimates": list(labels.estimates),
                "step_labels": list(labels.hard),
                "mc_first_error": labels.first_error,
                "mc_calls": labels.calls,
            }
        )
    return out
