"""LLM-written problems: CoT-Self-Instruct from seed examples, or GLAN-style from a taxonomy.

The teacher reasons about a few seed problems (or a topic path) and writes a new problem with
its answer. A candidate is kept only if it survives, in order:

1. ``unparseable``: no ``Problem:`` line, or a problem too short or too long;
2. ``near-duplicate of a seed`` / ``near-duplicate``: word-trigram Jaccard against the seeds
   and against candidates already kept (rewording a seed with two new numbers is not new);
3. ``no agreement``: k fresh teacher solutions (the run's own strategy and sampling) agree
   on one answer less often than ``min_agreement``;
4. ``answer disagrees``: the majority of those solutions differs from the writer's answer
   (CoT-Self-Instruct's answer-consistency filter);
5. ``outside difficulty``: the share of solutions that reach the answer (the teacher's pass
   rate) is outside ``pass_rate_band``.

The k solutions are requested exactly as the run's sampling stage will request them (same
template, sampling parameters and seeds), so minting rationales for the kept problems
afterwards is served from the call cache: the filter costs nothing extra.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, model_validator

from tracemint.cache import CallCache
from tracemint.config import SamplingConfig
from tracemint.curate.near_dup import NearDuplicateIndex
from tracemint.records import Record, stable_hash
from tracemint.sources.base import SourceConfig
from tracemint.stages.sample import CachedCaller, build_requests, sample
from tracemint.strategies import Strategy, load_strategy
from tracemint.teachers.base import GenerationRequest, Teacher
from tracemint.verify import answers_equal, extract_answer, grade, majority_vote

REASONS = (
    "unparseable",
    "near-duplicate of a seed",
    "near-duplicate",
    "no agreement",
    "answer disagrees",
    "outside difficulty",
)


class WrittenConfig(SourceConfig):
    mode: Literal["seeds", "taxonomy"] = "seeds"
    n: int = Field(gt=0)  # candidates to ask the writer for
    seed: int = 0
    # seeds mode: a problem file (any format the file source reads) and its options
    seeds: str | None = None
    seeds_options: dict[str, Any] = Field(default_factory=dict)
    seeds_per_prompt: int = Field(3, gt=0)
    # taxonomy mode: topic paths ("arithmetic > percentages > discounts"), expanded by the
    # teacher `expand` levels deep with `branching` subtopics per node
    topics: list[str] = Field(default_factory=list)
    expand: int = Field(0, ge=0, le=3)
    branching: int = Field(4, gt=0, le=20)
    domain: str = "grade-school math"
    levels: list[str] = Field(default_factory=lambda: ["easy", "medium", "hard"])
    # the writer
    writer_template: str | None = None  # default: write_from_seeds / write_from_topic
    temperature: float = Field(0.9, ge=0.0, le=2.0)
    max_tokens: int = Field(512, gt=0)
    # the filters
    solve_samples: int = Field(4, gt=0)
    min_agreement: float = Field(0.5, ge=0.0, le=1.0)
    near_duplicate: float = Field(0.6, gt=0.0, le=1.0)
    pass_rate_band: tuple[float, float] = (0.0, 1.0)
    min_chars: int = 20
    max_chars: int = 2000

    @model_validator(mode="after")
    def _check(self) -> WrittenConfig:
        if self.mode == "seeds" and not self.seeds:
            raise ValueError("mode 'seeds' needs `seeds` (a problem file)")
        if self.mode == "taxonomy" and not self.topics:
            raise ValueError("mode 'taxonomy' needs `topics` (a list of topic paths)")
        lo, hi = self.pass_rate_band
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError("pass_rate_band must be [low, high] with 0 <= low <= high <= 1")
        return self


@dataclass
class Candidate:
    index: int
    prompt_info: dict[str, Any]
    text: str
    question: str | None = None
    answer: str | None = None
    reason: str | None = None
    agreement: float | None = None
    pass_rate: float | None = None


_PROBLEM = re.compile(
    r"(?:^|\n)\s*\**(?:new\s+)?(?:problem|question)\**\s*:\**\s*(.+?)"
    r"(?:\n\s*\**answer\**\s*:\**\s*(.+?))?\s*$",
    re.IGNORECASE | re.DOTALL,
)


_PROBLEM_LINE = re.compile(r"(?im)^\s*\**(?:new\s+)?(?:problem|question)\**\s*:")


def parse_candidate(text: str) -> tuple[str | None, str | None]:
    """(problem, answer) from the writer's reply: the last ``Problem:`` section and the
    ``Answer:`` after it; either may be None."""
    starts = [
        m.start() for m in re.finditer(r"(?im)^\s*\**(?:new\s+)?(?:problem|question)\**\s*:", text)
    ]
    if not starts:
        return None, None
    m = _PROBLEM.search(text[starts[-1] :])
    if m is None:
        return None, None
    question = " ".join(m.group(1).split()) or None
    answer = None
    if m.group(2):
        answer = extract_answer("The answer is " + m.group(2).strip().splitlines()[0])
    return question, answer


async def _ask(caller: CachedCaller, reqs: Sequence[GenerationRequest]) -> list[str]:
    results = await asyncio.gather(*(caller.call(r) for r in reqs))
    return [c.text or "" for c, _ in results]


def _request(
    messages: tuple[dict[str, str], ...], cfg: WrittenConfig, index: int
) -> GenerationRequest:
    return GenerationRequest(
        messages=messages,
        max_tokens=cfg.max_tokens,
        temperature=cfg.temperature,
        seed=cfg.seed * 1_000_003 + index,
        sample_index=index,
    )


async def expand_topics(cfg: WrittenConfig, caller: CachedCaller) -> list[str]:
    """Grow each topic path ``expand`` levels by asking the teacher for subtopics."""
    template = load_strategy("expand_topic")
    paths = list(cfg.topics)
    for level in range(cfg.expand):
        reqs = [
            _request(
                template.render({"topic": p, "domain": cfg.domain, "branching": cfg.branching}),
                cfg,
                10_000 * (level + 1) + i,
            )
            for i, p in enumerate(paths)
        ]
        grown: list[str] = []
        for path, reply in zip(paths, await _ask(caller, reqs), strict=True):
            subs = [
                re.sub(r"^[\s\-*\d.)]+", "", line).strip().rstrip(".")
                for line in reply.splitlines()
            ]
            subs = [s for s in dict.fromkeys(subs) if 2 <= len(s) <= 80][: cfg.branching]
            grown += [f"{path} > {s}" for s in subs] or [path]
        paths = grown
    return paths


def _writer_prompts(
    cfg: WrittenConfig, seeds: list[Record], topics: list[str]
) -> list[tuple[tuple[dict[str, str], ...], dict[str, Any]]]:
    name = cfg.writer_template or (
        "write_from_seeds" if cfg.mode == "seeds" else "write_from_topic"
    )
    template = load_strategy(name)
    out = []
    for i in range(cfg.n):
        rng = random.Random(f"{cfg.seed}:{i}")
        if cfg.mode == "seeds":
            chosen = rng.sample(seeds, min(cfg.seeds_per_prompt, len(seeds)))
            info: dict[str, Any] = {"seeds": [s["problem_id"] for s in chosen]}
            variables: dict[str, Any] = {"seeds": chosen}
        else:
            info = {"topic": topics[i % len(topics)], "level": rng.choice(cfg.levels)}
            variables = {**info, "domain": cfg.domain}
        out.append((template.render(variables), info))
    return out


def _filter_text(cands: list[Candidate], cfg: WrittenConfig, seeds: list[Record]) -> None:
    seed_index = NearDuplicateIndex(cfg.near_duplicate)
    for s in seeds:
        seed_index.add(str(s["problem_id"]), str(s["question"]))
    kept = NearDuplicateIndex(cfg.near_duplicate)
    for c in cands:
        c.question, c.answer = parse_candidate(c.text)
        if c.question is None or not cfg.min_chars <= len(c.question) <= cfg.max_chars:
            c.reason = "unparseable"
        elif seed_index.nearest(c.question) is not None:
            c.reason = "near-duplicate of a seed"
        elif kept.nearest(c.question) is not None:
            c.reason = "near-duplicate"
        else:
            kept.add(str(c.index), c.question)


async def _filter_by_solutions(
    cands: list[Candidate],
    cfg: WrittenConfig,
    teacher: Teacher,
    cache: CallCache,
    strategy: Strategy,
    sampling: SamplingConfig,
) -> None:
    alive = [c for c in cands if c.reason is None]
    problems = [_record(c, cfg, answer=c.answer) for c in alive]
    pairs = build_requests(problems, strategy, sampling, range(cfg.solve_samples))
    traces = await sample(pairs, teacher, cache, strategy=strategy)
    by_problem: dict[str, list[Record]] = {}
    for t in traces:
        by_problem.setdefault(t["problem_id"], []).append(t)
    for c, p in zip(alive, problems, strict=True):
        sols = by_problem[p["problem_id"]]
        answers = [None if t["truncated"] else extract_answer(t["completion"] or "") for t in sols]
        majority, agreement = majority_vote(answers)
        c.agreement = agreement
        reference = c.answer if c.answer is not None else majority
        if majority is None or agreement < cfg.min_agreement:
            c.reason = "no agreement"
            continue
        if c.answer is not None and not answers_equal(majority, c.answer):
            c.reason = "answer disagrees"
            continue
        right = sum(
            grade(t["completion"] or "", reference, truncated=bool(t["truncated"])).verdict
            == "correct"
            for t in sols
        )
        c.answer = reference
        c.pass_rate = right / len(sols)
        lo, hi = cfg.pass_rate_band
        if not lo <= c.pass_rate <= hi:
            c.reason = "outside difficulty"


def _record(c: Candidate, cfg: WrittenConfig, *, answer: str | None) -> Record:
    meta = {
        "synthesized": cfg.mode,
        **c.prompt_info,
        "agreement": c.agreement,
        "pass_rate": c.pass_rate,
    }
    return {
        "problem_id": "w-" + stable_hash(cfg.mode, cfg.seed, c.index, c.question)[:16],
        "question": c.question,
        "reference": answer,
        "choices": None,
        "source": f"written:{cfg.mode}",
        "source_index": c.index,
        "metadata": json.dumps(meta, ensure_ascii=False, sort_keys=True),
    }


async def write_problems(
    cfg: WrittenConfig,
    teacher: Teacher,
    cache: CallCache,
    strategy: Strategy,
    sampling: SamplingConfig,
    seeds: list[Record],
) -> tuple[list[Record], dict[str, int]]:
    """The kept problems and, per filter, how many candidates it removed."""
    caller = CachedCaller(teacher, cache)
    topics = await expand_topics(cfg, caller) if cfg.mode == "taxonomy" else []
    prompts = _writer_prompts(cfg, seeds, topics)
    replies = await _ask(caller, [_request(m, cfg, i) for i, (m, _) in enumerate(prompts)])
    cands = [
        Candidate(i, info, text)
        for i, ((_, info), text) in enumerate(zip(prompts, replies, strict=True))
    ]
    _filter_text(cands, cfg, seeds)
    await _filter_by_solutions(cands, cfg, teacher, cache, strategy, sampling)
    counts = Counter(c.reason or "kept" for c in cands)
    summary = {"candidates": len(cands), **{r: counts.get(r, 0) for r in REASONS}}
    summary["kept"] = counts.get("kept", 0)
    if topics:
        summary["topics"] = len(topics)
    kept = [_record(c, cfg, answer=c.answer) for c in cands if c.reason is None]
    return kept, summary
