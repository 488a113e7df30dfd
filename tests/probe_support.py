"""Shared by the probe tests: sample traces from the shipped server, then probe them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tracemint import stages
from tracemint.cache import CallCache
from tracemint.config import SamplingConfig
from tracemint.probes import run_probes
from tracemint.strategies import load_strategy
from tracemint.teachers.openai import OpenAITeacher, OpenAITeacherConfig

Traces = list[dict[str, Any]]


def word_problems(n: int, question: Callable[[int], str], answer: Callable[[int], int]) -> Traces:
    """``n`` problem records whose i-th question and reference come from ``i``."""
    return [
        {
            "problem_id": f"q{i}",
            "question": question(i),
            "reference": str(answer(i)),
            "choices": None,
            "source": "t",
            "source_index": i,
            "metadata": None,
        }
        for i in range(n)
    ]


async def sample_then_probe(
    base_url: str,
    cache_path: Path,
    problems: Traces,
    probe_names: list[str],
    also: tuple[list[str], Callable[[Traces], Traces]] | None = None,
) -> Traces:
    """One sampled trace per problem (all must be correct), probed with ``probe_names``;
    ``also`` probes a derived set of traces with more probes (e.g. traces with claims)."""
    teacher = OpenAITeacher(OpenAITeacherConfig(model="m", base_url=base_url, concurrency=8))
    cache = CallCache(cache_path)
    try:
        strategy = load_strategy("cot")
        sampling = SamplingConfig(temperature=0.7, max_tokens=200)
        pairs = stages.build_requests(problems, strategy, sampling, [0])
        sampled = stages.verify(await stages.sample(pairs, teacher, cache, strategy=strategy))
        assert all(t["verdict"] == "correct" for t in sampled)
        probed = await run_probes(sampled, teacher, cache, probe_names)
        if also is not None:
            names, derive = also
            probed += await run_probes(derive(sampled), teacher, cache, names)
        return probed
    finally:
        cache.close()
        await teacher.aclose()
