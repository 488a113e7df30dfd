"""Minting one problem: the composition of the stage functions every runner calls.

Its own module, importing only the stages and components, so a process that only mints (a
``[run] workers`` process, a Ray actor) starts without the runners' source, curation, report
and Parquet-writing imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracemint import stages
from tracemint.cache import CallCache
from tracemint.config import Recipe
from tracemint.records import Record
from tracemint.strategies import Strategy, load_strategy
from tracemint.teachers.base import Teacher
from tracemint.verify import extract_reference
from tracemint.verify.leakage import LEAK_COLUMN, RATIONALIZE, find_leak


@dataclass
class MintContext:
    """Everything ``mint_problem`` needs; built once per run."""

    recipe: Recipe
    teacher: Teacher
    strategy: Strategy
    cache: CallCache | None
    sandbox: Any = None  # for program-aided strategies and cross-checks
    cross_strategy: Strategy | None = None
    rationalize: Strategy | None = None  # the hinted last round (``budget.rationalize``)


async def draw(
    problem: Record,
    ctx: MintContext,
    strategy: Strategy,
    indices: range,
    round_no: int,
    *,
    program: bool,
) -> list[Record]:
    """One round for one problem: sample, run programs if any, grade, check steps."""
    pairs = stages.build_requests([problem], strategy, ctx.recipe.sampling, indices)
    new = await stages.sample(pairs, ctx.teacher, ctx.cache, strategy=strategy, round_no=round_no)
    new = stages.calculate(new)  # calculator traces: <<expr>> placeholders evaluated exactly
    if program:
        new = await stages.execute(new, ctx.sandbox)
    new = stages.verify(new, ctx.recipe.verify.answers)
    new = stages.check_refutations(new)  # contrastive traces: each wrong option's refutation
    if ctx.recipe.verify.steps and not program:
        new = stages.check_steps(new, ctx.recipe.verify.step_mode)
    return new


async def mint_problem(problem: Record, ctx: MintContext) -> list[Record]:
    """Sample, verify and select the traces of one problem (budgeted rejection sampling).

    Without ``k_verified`` (or without a reference to verify against) it draws exactly
    ``budget.samples``. With it, it draws ``round_size`` at a time until ``k_verified``
    correct traces or ``max_samples`` draws. With ``budget.rationalize``, the plain rounds
    stop ``rationalize_draws()`` short of ``max_samples``; a problem with no verified trace
    by then spends that reserve on one rationalize round (``rationalize``), one with some
    on more plain rounds, so every problem spends at most ``max_samples`` calls.
    """
    budget = ctx.recipe.budget
    program = ctx.recipe.strategy.answer_from == "program"
    if budget.k_verified == 0 or problem.get("reference") is None:  # nothing to verify
        plain = await draw(problem, ctx, ctx.strategy, range(budget.samples), 0, program=program)
        return await _finish(problem, ctx, plain)
    reserve = budget.rationalize_draws() if ctx.rationalize is not None else 0
    traces: list[Record] = []
    drawn = round_no = 0
    while n := _next_round(traces, drawn, ctx, reserve):
        indices = range(drawn, drawn + n)
        traces += await draw(problem, ctx, ctx.strategy, indices, round_no, program=program)
        drawn += n
        round_no += 1
    if reserve and stages.count_verified(traces, ctx.recipe.select) == 0:
        traces += await rationalize(problem, ctx, range(drawn, budget.max_samples), round_no)
    return await _finish(problem, ctx, traces)


def _next_round(traces: list[Record], drawn: int, ctx: MintContext, reserve: int) -> int:
    """How many plain samples the next rejection-sampling round draws (0: stop).

    Rounds stop at ``k_verified`` verified traces or at the budget: ``max_samples`` less the
    rationalize ``reserve`` while nothing is verified; once something is, the reserve is
    plain budget again (a partly solved problem samples exactly as without rationalize).
    """
    budget = ctx.recipe.budget
    verified = stages.count_verified(traces, ctx.recipe.select)
    if verified >= budget.k_verified:
        return 0
    cap = budget.max_samples - (reserve if verified == 0 else 0)
    return max(0, min(budget.round_size, cap - drawn))


async def _finish(problem: Record, ctx: MintContext, traces: list[Record]) -> list[Record]:
    """Rollouts, cross-check, consensus, selection and probes over a problem's traces."""
    mc = ctx.recipe.montecarlo
    if mc.enabled:
        traces = await stages.rollout_labels(
            traces,
            ctx.teacher,
            ctx.cache,
            mc,
            max_tokens=mc.max_tokens or ctx.recipe.sampling.max_tokens,
            seed=ctx.recipe.sampling.seed,
        )
    if ctx.cross_strategy is not None:
        (check,) = await draw(problem, ctx, ctx.cross_strategy, range(1), 0, program=True)
        traces = stages.cross_check(traces, check)
    traces = stages.select(_consensus(traces), ctx.recipe.select)
    probes_cfg = ctx.recipe.probes
    if probes_cfg.names:
        from tracemint.probes import run_probes

        chosen = [
            t
            for t in traces
            if t["accepted"] and stages.probe_sample(t["trace_id"], probes_cfg.sample)
        ]
        probed = {
            t["trace_id"]: t
            for t in await run_probes(
                chosen, ctx.teacher, ctx.cache, probes_cfg.names, probes_cfg.options()
            )
        }
        traces = [probed.get(t["trace_id"], t) for t in traces]
    return stages.apply_thresholds(traces, ctx.recipe.select.min_columns)


async def rationalize(
    problem: Record, ctx: MintContext, indices: range, round_no: int
) -> list[Record]:
    """STaR's rationalization: show the teacher the reference answer and ask for a rationale
    that reaches it; each trace is graded like any other and checked for citing the hint
    (``LEAK_COLUMN``, which ``stages.select`` turns into a drop reason).

    The template sees ``reference_answer``, the final answer extracted from the reference, so
    a reference that is a whole worked solution (GSM8K's) is never shown; a problem whose
    reference has no extractable answer gets no round.
    """
    assert ctx.rationalize is not None
    hint = extract_reference(problem["reference"] or "", choices=problem.get("choices"))
    if not hint:
        return []
    # verify overwrites reference_answer with the same extraction: no column is added
    hinted = {**problem, "reference_answer": hint}
    new = await draw(hinted, ctx, ctx.rationalize, indices, round_no, program=False)
    question = problem.get("question") or ""
    return [{**t, LEAK_COLUMN: find_leak(t.get("completion") or "", hint, question)} for t in new]


def _consensus(traces: list[Record]) -> list[Record]:
    """Majority and pass rate from the unhinted samples only, copied onto the rationalized
    ones: a hinted sample says nothing about how often the teacher solves the problem (the
    difficulty estimate curricula and the report key on)."""
    plain = [t for t in traces if t.get("strategy") != RATIONALIZE]
    hinted = [t for t in traces if t.get("strategy") == RATIONALIZE]
    if not hinted or not plain:
        return stages.consensus(traces)
    out = stages.consensus(plain)
    keys = ("majority_answer", "agreement", "pass_rate")
    return out + [{**t, **{k: out[0].get(k) for k in keys}} for t in hinted]


def mint_context(recipe: Recipe, teacher: Teacher, strategy: Strategy, cache: Any) -> MintContext:
    """The per-process components of minting: a runner builds one per event loop (the local
    runner once, the Ray runner once per actor)."""
    ctx = MintContext(recipe, teacher, strategy, cache)
    cfg = recipe.strategy
    if cfg.cross_check:
        ctx.cross_strategy = load_strategy(cfg.cross_check, cfg.template_dir)
    if recipe.budget.rationalize:
        ctx.rationalize = load_strategy(RATIONALIZE, cfg.template_dir)
    if cfg.answer_from == "program" or cfg.cross_check:
        from tracemint.verify.sandbox import Sandbox, SandboxConfig

        ctx.sandbox = Sandbox(SandboxConfig.model_validate(recipe.sandbox))
    return ctx
