"""Prompting and sampling: one request per (problem, sample index), each call cached."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

import orjson

from tracemint.cache import CachedCaller, CallCache, model_identity
from tracemint.config import SamplingConfig
from tracemint.records import Record, stable_hash
from tracemint.strategies import Strategy
from tracemint.teachers.base import GenerationRequest, Teacher

Pair = tuple[Record, GenerationRequest]


def build_requests(
    problems: Sequence[Record],
    strategy: Strategy,
    sampling: SamplingConfig,
    sample_indices: Iterable[int],
) -> list[Pair]:
    """One request per (problem, sample index); sample i is seeded ``seed + i``."""
    indices = list(sample_indices)
    pairs: list[Pair] = []
    for problem in problems:
        messages = strategy.render(problem)
        for i in indices:
            req = GenerationRequest(
                messages=messages,
                max_tokens=sampling.max_tokens,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                stop=tuple(sampling.stop),
                seed=sampling.seed + i,
                sample_index=i,
            )
            pairs.append((problem, req))
    return pairs


async def sample(
    pairs: Sequence[Pair],
    teacher: Teacher,
    cache: CallCache | None,
    *,
    strategy: Strategy,
    round_no: int = 0,
) -> list[Record]:
    """Ask the teacher (or the cache) for each request; returns one trace per pair."""
    caller = CachedCaller(teacher, cache)
    one = caller.call

    if len(pairs) == 1:  # the common case; a gather would cost a task for nothing
        results = [await one(pairs[0][1])]
    else:
        results = await asyncio.gather(*(one(req) for _, req in pairs))
    traces = []
    prompts: dict[int, str] = {}  # one JSON per distinct message tuple, not per sample
    model_id = model_identity(caller.identity)  # not how prefills are sent, nor the URL
    for (problem, req), (c, hit) in zip(pairs, results, strict=True):
        prompt = prompts.get(id(req.messages))
        if prompt is None:
            prompt = prompts[id(req.messages)] = orjson.dumps(req.messages).decode()
        traces.append(
            {
                **problem,
                "trace_id": stable_hash(
                    problem["problem_id"], strategy.name, model_id, req.sample_index
                ),
                "sample_index": req.sample_index,
                "round": round_no,
                "strategy": strategy.name,
                "template_hash": strategy.template_hash,
                "prompt": prompt,
                "teacher": teacher.name,
                "model": c.model or teacher.model,
                "sampling": orjson.dumps(req.sampling(), option=orjson.OPT_SORT_KEYS).decode(),
                "completion": c.text,
                "reasoning": c.reasoning,
                "finish_reason": c.finish_reason,
                "truncated": c.truncated,
                "prompt_tokens": c.prompt_tokens,
                "completion_tokens": c.completion_tokens,
                "latency_s": 0.0 if hit else c.latency_s,
                "cache_hit": hit,
            }
        )
    return traces
