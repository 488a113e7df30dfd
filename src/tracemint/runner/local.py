"""The local runner: asyncio, streaming from the source to Parquet shards.

Problems are read lazily from the source and minted concurrently, with at most
``max_inflight_problems`` in flight (a bounded window: memory stays flat on a 1M-problem
file). Finished problems are buffered and written as shards every ``shard_rows`` traces or
``flush_seconds``. On any exit, an error, Ctrl-C or a teacher that gave up (after its
retries, or after ``give_up_after_s`` without an answer from a hung server), whatever was
finished is flushed first, so nothing produced is lost; ``--resume`` skips those problems
and the call cache answers every LLM call that had already returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tracemint.cache import CallCache
from tracemint.config import Recipe
from tracemint.curate.pipeline import ProblemFilter
from tracemint.errors import RunError
from tracemint.records import Record
from tracemint.runner.common import (
    RunStats,
    build_teacher,
    confirm_prefill_if_needed,
    curate_after_minting,
    default_window,
    open_source,
    prepare_run_dir,
    unique,
)
from tracemint.runner.loop import run as run_loop
from tracemint.runner.manifest import begin_manifest, new_session, write_final_manifest
from tracemint.runner.mint import MintContext, mint_context, mint_problem
from tracemint.runner.pool import WorkerPool, auto_workers
from tracemint.runner.progress import RunProgress
from tracemint.sources.base import PrepareContext
from tracemint.store import RunStore
from tracemint.strategies import load_strategy
from tracemint.teachers.base import Teacher, WaitingCalls

__all__ = ["LocalRunner", "MintContext", "RunStats", "build_teacher", "mint_problem", "open_source"]


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
        return prepare_run_dir(self.store, self.recipe, resume=self.resume, fresh=self.fresh)

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
        # Worker processes (if any) start now: their imports overlap this process's checks.
        pool = self._spawn_pool(teacher)
        try:
            await confirm_prefill_if_needed(self.recipe, teacher)
            done = self._prepare()
        except BaseException:
            if pool is not None:
                await pool.aclose()
            await teacher.aclose()
            raise
        store = self.store
        begin_manifest(store, self.recipe, teacher)
        cache = CallCache(store.cache_path)
        # with workers, this process mints nothing: no sandbox (a zygote process) for it
        ctx = (
            mint_context(self.recipe, teacher, strategy, cache)
            if pool is None
            else MintContext(self.recipe, teacher, strategy, cache)
        )
        session = new_session(self.recipe, teacher, strategy, resumed=bool(done))
        session["workers"] = pool.workers if pool is not None else 1  # what "auto" chose
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
            if pool is not None:
                cache.commit()  # what a source's prepare step cached is seen by the workers
                await pool.ready()
            mint = pool.mint if pool is not None else lambda p: mint_problem(p, ctx)
            waiting = pool.waiting if pool is not None else teacher.waiting
            with self._progress_bar(total, waiting) as bar:
                bar.advance(len(done), 0, 0)
                await self._mint_all(problems(unique(iter(source))), done, mint, ctx, bar)
            self._curate(problems)
        except BaseException as e:
            error = e
            raise
        finally:
            if pool is not None:
                await pool.aclose()
            cache.close()
            if ctx.sandbox is not None:
                ctx.sandbox.close()
            await teacher.aclose()
            write_final_manifest(store, self.recipe, teacher, session, self.stats, error)
        return store.read_manifest()

    def _spawn_pool(self, teacher: Teacher) -> WorkerPool | None:
        """``[run] workers`` > 1: worker processes mint, this one reads, writes and reports."""
        concurrency = getattr(getattr(teacher, "config", None), "concurrency", None)
        n = self.recipe.run.workers
        if n == "auto":
            # a teacher object handed in cannot be rebuilt in a worker: one process then
            n = 1 if self._teacher is not None else auto_workers(concurrency)
        if n < 2:
            return None
        if self._teacher is not None:
            raise RunError(
                "run.workers > 1 builds the teacher in each worker from the recipe; it cannot "
                "share a teacher object passed to LocalRunner: set run.workers = 1"
            )
        pool = WorkerPool(self.recipe, self.store.cache_path, n, concurrency)
        pool.spawn()
        return pool

    def _progress_bar(self, total: int | None, waiting: Callable[[], WaitingCalls]) -> RunProgress:
        """The bar the run reports to (a subclass may show other numbers: evaluate/)."""
        return RunProgress(total, enabled=self.show_progress, waiting=waiting)

    def _curate(self, problems: ProblemFilter) -> None:
        curate_after_minting(self.store, self.recipe, problems)

    async def _mint_all(
        self,
        problems: Iterator[Record],
        done: set[str],
        mint: Callable[[Record], Coroutine[Any, Any, list[Record]]],
        ctx: MintContext,
        bar: RunProgress,
    ) -> None:
        run_cfg = self.recipe.run
        window = default_window(self.recipe, ctx.teacher)
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
                task = asyncio.create_task(mint(problem))
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
