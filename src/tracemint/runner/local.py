"""The local runner: asyncio, streaming from the source to Parquet shards.

Problems are read lazily from the source and minted concurrently, with at most
``max_inflight_problems`` in flight (a bounded window: memory stays flat on a 1M-problem
file). Finished problems are buffered and written as shards every ``shard_rows`` traces or
``flush_seconds``. On any exit, an error, Ctrl-C or a teacher that gave up, whatever was
finished is flushed first, so nothing produced is lost; ``--resume`` skips those problems
and the call cache answers every LLM call that had already returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tracemint import stages
from tracemint.cache import CallCache
from tracemint.config import Recipe, component_config
from tracemint.curate.pipeline import ProblemFilter, curate_run, write_summary
from tracemint.errors import RunError, SourceError
from tracemint.plugins import source_class, teacher_class
from tracemint.records import Record
from tracemint.runner.loop import run as run_loop
from tracemint.runner.manifest import (
    begin_manifest,
    new_session,
    recipe_fingerprint,
    write_final_manifest,
)
from tracemint.runner.progress import RunProgress
from tracemint.sources.base import PrepareContext
from tracemint.store import RunStore
from tracemint.strategies import Strategy, load_strategy
from tracemint.teachers.base import Teacher


@dataclass
class MintContext:
    """Everything ``mint_problem`` needs; built once per run."""

    recipe: Recipe
    teacher: Teacher
    strategy: Strategy
    cache: CallCache | None
    sandbox: Any = None  # for program-aided strategies and cross-checks
    cross_strategy: Strategy | None = None


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
    if program:
        new = await stages.execute(new, ctx.sandbox)
    new = stages.verify(new)
    if ctx.recipe.verify.steps and not program:
        new = stages.check_steps(new, ctx.recipe.verify.step_mode)
    return new


async def mint_problem(problem: Record, ctx: MintContext) -> list[Record]:
    """Sample, verify and select the traces of one problem (budgeted rejection sampling).

    Without ``k_verified`` (or without a reference to verify against) it draws exactly
    ``budget.samples``. With it, it draws ``round_size`` at a time until ``k_verified``
    correct traces or ``max_samples`` draws.
    """
    budget = ctx.recipe.budget
    rejection = budget.k_verified > 0 and problem.get("reference") is not None
    traces: list[Record] = []
    drawn, round_no = 0, 0
    program = ctx.recipe.strategy.answer_from == "program"
    while True:
        n = min(budget.round_size, budget.max_samples - drawn) if rejection else budget.samples
        traces += await draw(
            problem, ctx, ctx.strategy, range(drawn, drawn + n), round_no, program=program
        )
        drawn += n
        round_no += 1
        if not rejection or drawn >= budget.max_samples:
            break
        if stages.count_verified(traces, ctx.recipe.select) >= budget.k_verified:
            break
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
    traces = stages.select(stages.consensus(traces), ctx.recipe.select)
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


@dataclass
class RunStats:
    problems: int = 0
    skipped: int = 0
    traces: int = 0
    accepted: int = 0
    new_calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    shards_written: int = 0

    def add(self, traces: list[Record]) -> tuple[int, int]:
        accepted = sum(1 for t in traces if t["accepted"])
        new_tokens = sum(t["completion_tokens"] or 0 for t in traces if not t["cache_hit"])
        self.problems += 1
        self.traces += len(traces)
        self.accepted += accepted
        for t in traces:
            if t["cache_hit"]:
                self.cached_calls += 1
            else:
                self.new_calls += 1
                self.prompt_tokens += t["prompt_tokens"] or 0
                self.completion_tokens += t["completion_tokens"] or 0
        return accepted, new_tokens


def build_teacher(recipe: Recipe) -> Teacher:
    cls = teacher_class(recipe.teacher.type)
    teacher: Teacher = cls(component_config(recipe.teacher, cls))
    return teacher


def open_source(recipe: Recipe) -> Any:
    cls = source_class(recipe.source.type)
    return cls(component_config(recipe.source, cls))


def _unique(problems: Iterator[Record]) -> Iterator[Record]:
    """Duplicate problem ids would make resume ambiguous: refuse them, naming the row."""
    seen: set[str] = set()
    for p in problems:
        pid = p["problem_id"]
        if pid in seen:
            raise SourceError(
                f"duplicate problem_id {pid!r}; set id_field to a unique column",
                path=p.get("source"),
                line=(p.get("source_index") or 0) + 1,
            )
        seen.add(pid)
        yield p


async def _confirm_prefill_if_needed(recipe: Recipe, teacher: Teacher) -> None:
    """Rollouts and most probes continue a partial assistant message: find out before the
    run directory is touched, not after an hour of sampling, whether the server does that
    (one small uncached call)."""
    from tracemint.probes import confirm_prefill, probes

    needs = recipe.montecarlo.enabled or any(
        probes.get(n).needs_prefill for n in recipe.probes.names
    )
    if needs:
        await confirm_prefill(teacher, stages.CachedCaller(teacher, None))


class LocalRunner:
    """Runs one recipe into its run directory."""

    def __init__(
        self,
        recipe: Recipe,
        *,
        resume: bool = False,
        fresh: bool = False,
        progress: bool = True,
        teacher: Teacher | None = None,
    ) -> None:
        self.recipe = recipe
        self.store = RunStore(recipe.run_dir())
        self.resume = resume
        self.fresh = fresh
        self.show_progress = progress
        self._teacher = teacher
        self.stats = RunStats()

    def _prepare(self) -> set[str]:
        """Decide what the existing run directory means for this run; return done ids."""
        store = self.store
        fingerprint = recipe_fingerprint(self.recipe)
        if store.exists() and store.shards():
            old = store.read_manifest().get("recipe_fingerprint")
            if self.fresh or old != fingerprint:
                # The recipe changed (or --fresh): traces are redone, but the call cache
                # stays, so only calls whose request changed reach the teacher.
                store.clear_traces()
            elif not self.resume:
                raise RunError(
                    f"{store.root} already holds traces of this recipe: pass --resume to "
                    "continue it, or --fresh to redo the traces (the call cache is kept)"
                )
        store.create()
        return store.done_problem_ids()

    def run(self) -> dict[str, Any]:
        return run_loop(self.arun())

    async def arun(self) -> dict[str, Any]:
        # Move everything imported so far out of the cyclic GC's reach: at 1,000+ calls/s
        # full collections over the interpreter's long-lived objects otherwise stall the loop.
        gc.freeze()
        # Everything that can fail on a bad recipe or environment (a missing API key, an
        # unknown template, an unreadable source) fails *before* the run directory is
        # touched, so a mistaken rerun never discards finished traces.
        teacher = self._teacher or build_teacher(self.recipe)
        strategy = load_strategy(self.recipe.strategy.name, self.recipe.strategy.template_dir)
        source = open_source(self.recipe)
        try:
            await _confirm_prefill_if_needed(self.recipe, teacher)
            done = self._prepare()
        except BaseException:
            await teacher.aclose()
            raise
        store = self.store
        begin_manifest(store, self.recipe, teacher)
        cache = CallCache(store.cache_path)
        ctx = MintContext(self.recipe, teacher, strategy, cache)
        cfg = self.recipe.strategy
        if cfg.cross_check:
            ctx.cross_strategy = load_strategy(cfg.cross_check, cfg.template_dir)
        if cfg.answer_from == "program" or cfg.cross_check:
            from tracemint.verify.sandbox import Sandbox, SandboxConfig

            ctx.sandbox = Sandbox(SandboxConfig.model_validate(self.recipe.sandbox))
        session = new_session(self.recipe, teacher, strategy, resumed=bool(done))
        self.stats.skipped = len(done)
        error: BaseException | None = None
        try:
            await source.prepare(
                PrepareContext(
                    teacher, cache, strategy, self.recipe.sampling, store.root, self.show_progress
                )
            )
            total = getattr(source, "count", lambda: None)()
            problems = ProblemFilter(self.recipe.curate)
            with RunProgress(total, enabled=self.show_progress) as bar:
                bar.advance(len(done), 0, 0)
                await self._mint_all(problems(_unique(iter(source))), done, ctx, bar)
            self._curate(problems)
        except BaseException as e:
            error = e
            raise
        finally:
            cache.close()
            if ctx.sandbox is not None:
                ctx.sandbox.close()
            await teacher.aclose()
            write_final_manifest(store, self.recipe, teacher, session, self.stats, error)
        return store.read_manifest()

    def _curate(self, problems: ProblemFilter) -> None:
        """After a finished minting pass: record problem removals, curate rationales."""
        cfg = self.recipe.curate
        summary: dict[str, Any] = {}
        if problems.active:
            summary["problems"] = problems.save(self.store.root)
        if cfg.rationale_steps():
            summary.update(curate_run(self.store, cfg, problems.index))
        if summary:
            write_summary(self.store, summary)

    async def _mint_all(
        self, problems: Iterator[Record], done: set[str], ctx: MintContext, bar: RunProgress
    ) -> None:
        run_cfg = self.recipe.run
        window = run_cfg.max_inflight_problems or 2 * int(
            getattr(getattr(ctx.teacher, "config", None), "concurrency", 32)
        )
        slots = asyncio.Semaphore(window)
        buffer: list[Record] = []
        pending: set[asyncio.Task[list[Record]]] = set()
        failure: list[BaseException] = []
        last_flush = time.monotonic()
        loop = asyncio.get_running_loop()
        # Shards are encoded and written on one writer thread: a 2,000-row Parquet write
        # stalls the event loop for ~0.1 s, which at 1,000+ calls/s is lost throughput.
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracemint-shards")
        writes: list[asyncio.Future[Any]] = []
        next_index = self.store.next_shard_index()

        def flush() -> None:
            nonlocal last_flush, next_index
            if buffer:
                batch = buffer.copy()
                buffer.clear()
                writes.append(
                    loop.run_in_executor(writer, self.store.write_shard, batch, next_index)
                )
                next_index += 1
                self.stats.shards_written += 1
            last_flush = time.monotonic()

        def finished(task: asyncio.Task[list[Record]]) -> None:
            pending.discard(task)
            slots.release()
            if task.cancelled():
                return
            exc = task.exception()
            if exc is not None:
                failure.append(exc)
                return
            traces = task.result()
            buffer.extend(traces)
            accepted, new_tokens = self.stats.add(traces)
            bar.advance(1, accepted, new_tokens)
            try:  # flush from here too, so shards follow completions, not source reads
                maybe_flush()
            except Exception as e:  # a disk error must stop the run, not vanish in a callback
                failure.append(e)

        def maybe_flush() -> None:
            if len(buffer) >= run_cfg.shard_rows or (
                buffer and time.monotonic() - last_flush >= run_cfg.flush_seconds
            ):
                flush()

        try:
            for problem in problems:
                if failure:
                    break
                if problem["problem_id"] in done:
                    continue
                await slots.acquire()
                task = asyncio.create_task(mint_problem(problem, ctx))
                pending.add(task)
                task.add_done_callback(finished)
                maybe_flush()
            while pending and not failure:
                await asyncio.wait(
                    set(pending), timeout=run_cfg.flush_seconds, return_when=asyncio.FIRST_EXCEPTION
                )
                maybe_flush()
            if failure:
                raise failure[0]
        finally:
            for task in list(pending):
                task.cancel()
            if pending:
                with contextlib.suppress(BaseException):
                    await asyncio.gather(*pending, return_exceptions=True)
            flush()
            # Even when cancelled, wait for shard writes: finished work must reach disk.
            done_writes = asyncio.gather(*writes)
            try:
                await asyncio.shield(done_writes)
            except asyncio.CancelledError:
                await done_writes
                raise
            finally:
                writer.shutdown(wait=True)
