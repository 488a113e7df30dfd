"""The Ray runner: the local runner's stage functions, spread over a Ray cluster.

The LLM stage is a Ray Data ``map_batches`` over an actor pool. Each actor builds the
teacher, strategy, sandbox and a ``CallCache`` on the run's ``cache.sqlite`` once, keeps its
own event loop (so its HTTP session and concurrency live as long as it does), and mints a
batch of problems concurrently with the unchanged ``mint_problem``. The driver streams
problems from the source in chunks (a 1M-line file is never held whole), skips the ones
already in a shard, and writes shards through ``RunStore`` exactly as the local runner does:
the run directory is the same, so either runner can resume the other's run.

Nothing lost, nothing duplicated: Ray re-executes the batch of an actor that died, so the
driver drops a problem it has already written (dedupe by ``problem_id``) and, at the end of
each chunk, re-submits any problem that did not come back. Calls a dead actor had saved are
answered from the cache by whichever actor retries its problems (``CallCache.refresh``).
"""

from __future__ import annotations

import asyncio
import math
import os
import pickle
import socket
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from tracemint.cache import CallCache
from tracemint.config import Recipe
from tracemint.curate.pipeline import ProblemFilter
from tracemint.errors import RunError, missing, portable_error
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
from tracemint.runner.mint import mint_context, mint_problem
from tracemint.runner.progress import RunProgress
from tracemint.sources.base import PrepareContext
from tracemint.store import RunStore
from tracemint.strategies import load_strategy
from tracemint.teachers.base import Teacher

# A problem that comes back missing from a chunk (a batch lost with its node and not
# re-executed) is re-submitted this many times before the run stops.
_RESUBMITS = 3


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as e:
        raise missing("ray", "ray[data]") from e
    return ray


def _new_loop() -> asyncio.AbstractEventLoop:
    """The loop an actor keeps for its life: uvloop when installed, as in runner/loop.py."""
    if os.environ.get("TRACEMINT_LOOP", "").lower() != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def host_cache_path(cache_path: Path, driver_host: str) -> Path:
    """The cache file an actor on this host uses.

    Why not always the run's ``cache.sqlite``: SQLite in WAL mode is safe for many processes
    on one host, never for processes on several hosts sharing a network filesystem. So an
    actor on the driver's host uses ``cache.sqlite`` (every test and single-machine run),
    and an actor on another node its host's own ``cache.HOST.sqlite`` beside it: each file
    is only ever opened from one host. A problem retried on another host repeats its calls
    (a cost, never a wrong trace)."""
    host = socket.gethostname()
    if host == driver_host:
        return cache_path
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in host)
    return cache_path.with_name(f"{cache_path.stem}.{safe}{cache_path.suffix}")


class MintActor:
    """One member of the actor pool: the components of ``mint_problem``, built once."""

    def __init__(
        self,
        recipe: Recipe,
        cache_path: str,
        driver_host: str,
        teacher: bytes | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        for name, value in (env or {}).items():  # the teacher's API key (see _secret_env)
            os.environ.setdefault(name, value)
        self.loop = _new_loop()
        asyncio.set_event_loop(self.loop)
        built: Teacher = pickle.loads(teacher) if teacher is not None else build_teacher(recipe)
        strategy = load_strategy(recipe.strategy.name, recipe.strategy.template_dir)
        cache = CallCache(host_cache_path(Path(cache_path), driver_host))
        self.ctx = mint_context(recipe, built, strategy, cache)

    def __call__(self, batch: pa.Table) -> pa.Table:
        cache = self.ctx.cache
        assert cache is not None
        cache.refresh()  # a retried problem's saved calls may be another process's rows
        problems: list[Record] = [pickle.loads(b) for b in batch.column("problem").to_pylist()]
        results = self.loop.run_until_complete(self._mint(problems))
        cache.commit()  # durable before the driver can write the traces that used them
        traces: list[bytes | None] = []
        errors: list[bytes | None] = []
        for result in results:
            if isinstance(result, BaseException):
                traces.append(None)
                errors.append(pickle.dumps(portable_error(result, "ray actor")))
            else:
                traces.append(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
                errors.append(None)
        return pa.table(
            {
                "problem_id": pa.array([p["problem_id"] for p in problems], pa.string()),
                "traces": pa.array(traces, pa.binary()),
                "error": pa.array(errors, pa.binary()),
            }
        )

    async def _mint(self, problems: list[Record]) -> list[Any]:
        jobs = (mint_problem(p, self.ctx) for p in problems)
        return list(await asyncio.gather(*jobs, return_exceptions=True))

    def __del__(self) -> None:
        # Best effort: Ray gives an actor no close hook; the cache is committed per batch.
        try:
            if self.ctx.cache is not None:
                self.ctx.cache.close()
            if self.ctx.sandbox is not None:
                self.ctx.sandbox.close()
            if not self.loop.is_closed():
                self.loop.run_until_complete(self.ctx.teacher.aclose())
                self.loop.close()
        except Exception:
            pass


def _chunks(items: Iterable[Record], size: int) -> Iterator[list[Record]]:
    chunk: list[Record] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _ShardWriter:
    """The driver's side: dedupes by problem_id, counts, and writes shards like LocalRunner."""

    def __init__(self, store: RunStore, recipe: Recipe, stats: RunStats, done: set[str]) -> None:
        self.store = store
        self.cfg = recipe.run
        self.stats = stats
        self.written = set(done)
        self.duplicates = 0
        self.buffer: list[Record] = []
        self.next_index = store.next_shard_index()
        self.last_flush = time.monotonic()

    def add(self, problem_id: str, traces: list[Record], bar: RunProgress) -> None:
        if problem_id in self.written:  # a batch Ray re-executed after a failure
            self.duplicates += 1
            return
        self.written.add(problem_id)
        self.buffer.extend(traces)
        accepted, new_tokens = self.stats.add(traces)
        bar.advance(1, accepted, new_tokens)
        if len(self.buffer) >= self.cfg.shard_rows or (
            time.monotonic() - self.last_flush >= self.cfg.flush_seconds
        ):
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.store.write_shard(self.buffer, self.next_index)
            self.buffer = []
            self.next_index += 1
            self.stats.shards_written += 1
        self.last_flush = time.monotonic()


class RayRunner:
    """Runs one recipe into its run directory on a Ray cluster; same contract as LocalRunner.

    ``address``: ``None`` starts a private local Ray instance, ``"auto"`` joins the cluster
    of this host, ``"ray://HOST:10001"`` connects through Ray Client. ``actors``: size of
    the actor pool (default: the cluster's CPUs / ``actor_cpus``); each actor keeps
    ``[teacher] concurrency`` requests in flight, so the servers see ``actors x concurrency``.
    ``teacher``: as LocalRunner's (tests pass scripted ones); it is pickled to every actor,
    so it must pickle before first use. ``chunk_problems``: problems handed to Ray per
    dataset (what the driver holds at once; each chunk starts the actor pool anew, seconds,
    so chunks are large: 20,000 problems are ~10-20 MB pickled).
    """

    def __init__(
        self,
        recipe: Recipe,
        *,
        resume: bool = False,
        fresh: bool = False,
        progress: bool = True,
        teacher: Teacher | None = None,
        address: str | None = None,
        actors: int | None = None,
        actor_cpus: float = 1.0,
        chunk_problems: int = 20_000,
        init_options: dict[str, Any] | None = None,
    ) -> None:
        self.recipe = recipe
        self.store = RunStore(recipe.run_dir())
        self.resume = resume
        self.fresh = fresh
        self.show_progress = progress
        self._teacher = teacher
        self.address = address
        self.actors = actors
        self.actor_cpus = actor_cpus
        self.chunk_problems = chunk_problems
        self.init_options = init_options or {}
        self.stats = RunStats()
        self.duplicates_dropped = 0
        self.resubmitted = 0

    def run(self) -> dict[str, Any]:
        ray = _import_ray()  # before anything else: a missing extra touches nothing
        return run_loop(self.arun(ray))

    async def arun(self, ray: Any) -> dict[str, Any]:
        # As in LocalRunner: everything that can fail on a bad recipe or environment fails
        # before the run directory is touched.
        teacher = self._teacher or build_teacher(self.recipe)
        strategy = load_strategy(self.recipe.strategy.name, self.recipe.strategy.template_dir)
        source = open_source(self.recipe)
        try:
            await confirm_prefill_if_needed(self.recipe, teacher)
            done = prepare_run_dir(self.store, self.recipe, resume=self.resume, fresh=self.fresh)
        except BaseException:
            await teacher.aclose()
            raise
        store = self.store
        begin_manifest(store, self.recipe, teacher)
        session = new_session(self.recipe, teacher, strategy, resumed=bool(done))
        self.stats.skipped = len(done)
        error: BaseException | None = None
        started_ray = False
        try:
            cache = CallCache(store.cache_path)
            try:  # LLM-written sources write their problems here, with the driver's teacher
                await source.prepare(
                    PrepareContext(
                        teacher,
                        cache,
                        strategy,
                        self.recipe.sampling,
                        store.root,
                        self.show_progress,
                    )
                )
            finally:
                cache.close()
            if not ray.is_initialized():
                ray.init(address=self.address, **self._init_kwargs())
                started_ray = True
            total = getattr(source, "count", lambda: None)()
            problems = ProblemFilter(self.recipe.curate)
            writer = _ShardWriter(store, self.recipe, self.stats, done)
            with RunProgress(total, enabled=self.show_progress) as bar:
                bar.advance(len(done), 0, 0)
                try:
                    stream = problems(unique(iter(source)))
                    todo = (p for p in stream if p["problem_id"] not in done)
                    for chunk in _chunks(todo, self.chunk_problems):
                        self._mint_chunk(ray, chunk, teacher, writer, bar)
                finally:
                    writer.flush()  # finished work reaches disk on any exit
                    self.duplicates_dropped = writer.duplicates
            curate_after_minting(store, self.recipe, problems)
        except BaseException as e:
            error = e
            raise
        finally:
            if started_ray:
                ray.shutdown()
            await teacher.aclose()
            session["ray"] = {
                "address": self.address or "local",
                "duplicates_dropped": self.duplicates_dropped,
                "resubmitted": self.resubmitted,
            }
            write_final_manifest(store, self.recipe, teacher, session, self.stats, error)
        return store.read_manifest()

    def _init_kwargs(self) -> dict[str, Any]:
        """A private instance (no address) stays small: the machine is shared with the
        teacher's servers. Joining a cluster takes its resources as they are."""
        opts: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if self.address is None:
            opts["object_store_memory"] = 256 * 1024**2
        return {**opts, **self.init_options}

    def _actor_recipe(self) -> Recipe:
        """The recipe as actors see it: their working directory is not the driver's, so a
        relative template path is made absolute (other paths are read by the driver)."""
        cfg = self.recipe.strategy
        update: dict[str, Any] = {}
        if cfg.template_dir is not None:
            update["template_dir"] = str(Path(cfg.template_dir).resolve())
        if cfg.name.endswith(".jinja"):
            update["name"] = str(Path(cfg.name).resolve())
        if not update:
            return self.recipe
        return self.recipe.model_copy(update={"strategy": cfg.model_copy(update=update)})

    def _secret_env(self) -> dict[str, str]:
        """Actors on other nodes do not see the driver's environment: hand them the one
        variable the teacher reads its API key from (``[teacher] api_key_env``), if set.

        Why a constructor argument and not Ray's ``runtime_env``: a runtime_env is job
        metadata that the dashboard and the state API show; constructor arguments stay in
        the object store. A node whose own environment sets the variable keeps its value."""
        name = (self.recipe.teacher.model_extra or {}).get("api_key_env")
        if isinstance(name, str) and name in os.environ:
            return {name: os.environ[name]}
        return {}

    def _pool_size(self, ray: Any) -> int:
        if self.actors is not None:
            return max(1, self.actors)
        cpus = float(ray.cluster_resources().get("CPU", 1))
        return max(1, int(cpus // self.actor_cpus))

    def _mint_chunk(
        self,
        ray: Any,
        chunk: list[Record],
        teacher: Teacher,
        writer: _ShardWriter,
        bar: RunProgress,
    ) -> None:
        """Mint one chunk; problems that do not come back are re-submitted."""
        todo = chunk
        for attempt in range(_RESUBMITS + 1):
            if attempt:
                self.resubmitted += len(todo)
            back = self._run_dataset(ray, todo, teacher, writer, bar)
            todo = [p for p in todo if p["problem_id"] not in back]
            if not todo:
                return
        raise RunError(
            f"{len(todo)} problems never came back from the Ray cluster after "
            f"{_RESUBMITS} re-submissions (first: {todo[0]['problem_id']!r})"
        )

    def _run_dataset(
        self,
        ray: Any,
        problems: list[Record],
        teacher: Teacher,
        writer: _ShardWriter,
        bar: RunProgress,
    ) -> set[str]:
        per_actor = default_window(self.recipe, teacher)  # problems in flight per actor
        data_ctx = ray.data.DataContext.get_current()
        data_ctx.enable_progress_bars = False  # the run's own bar counts problems and traces
        data_ctx.print_on_execution_start = False
        items = [{"problem_id": p["problem_id"], "problem": pickle.dumps(p)} for p in problems]
        blocks = math.ceil(len(items) / per_actor)
        ds = ray.data.from_items(items, override_num_blocks=blocks)
        ds = ds.map_batches(
            MintActor,
            fn_constructor_kwargs={
                "recipe": self._actor_recipe(),
                "cache_path": str(self.store.cache_path.resolve()),
                "driver_host": socket.gethostname(),
                "teacher": pickle.dumps(self._teacher) if self._teacher is not None else None,
                "env": self._secret_env(),
            },
            batch_size=per_actor,
            batch_format="pyarrow",
            zero_copy_batch=True,
            # no more actors than batches: an idle actor still starts a process
            compute=ray.data.ActorPoolStrategy(size=min(self._pool_size(ray), blocks)),
            num_cpus=self.actor_cpus,
        )
        back: set[str] = set()
        failure: BaseException | None = None
        for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            ids = batch.column("problem_id").to_pylist()
            blobs = batch.column("traces").to_pylist()
            errors = batch.column("error").to_pylist()
            for pid, blob, err in zip(ids, blobs, errors, strict=True):
                if err is not None:
                    failure = failure or pickle.loads(err)
                    continue
                back.add(pid)
                writer.add(pid, pickle.loads(blob), bar)
            if failure is not None:
                # As in LocalRunner, a problem that failed for good (a teacher that gave up)
                # stops the run; what finished is flushed by the caller.
                raise failure
        return back
