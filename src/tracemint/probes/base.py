"""The probe seam: interventions on a finished trace that re-query the teacher.

A probe asks "does the final answer depend on this rationale?" (Lanham et al. 2023,
*Measuring Faithfulness in Chain-of-Thought Reasoning*; Turpin et al. 2023). It edits the
trace's rationale (truncates it, replaces it with filler, corrupts a step), asks the teacher
to continue the edited text as its own assistant message (``GenerationRequest.prefill``),
and compares the new final answer with the trace's ``answer`` using ``answers_equal``.

Contract: one abstract method, ``Probe.run(trace, caller, cfg) -> dict`` returning the new
columns, each prefixed with the probe's registry name (``early_aoc``, ``filler_match``).
Every teacher call goes through the ``CachedCaller``, so probing is cached and resumable
like sampling. A trace with no ``answer`` gets the probe's columns as nulls plus
``<name>_skipped`` with the reason: nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tracemint import plugins
from tracemint.cache import CachedCaller, CallCache
from tracemint.errors import ConfigError
from tracemint.records import Record, declare_columns
from tracemint.registry import Registry
from tracemint.teachers.base import GenerationRequest, Teacher
from tracemint.teachers.prefill import PREFILL_CHECK as PREFILL_CHECK
from tracemint.teachers.prefill import check_prefill as check_prefill
from tracemint.teachers.prefill import confirm_prefill
from tracemint.verify.equivalence import answers_equal
from tracemint.verify.extract import extract_answer


class ProbeConfig(BaseModel):
    """Settings shared by every probe; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    # Greedy by default: a probe measures what the answer depends on, not sampling noise.
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(64, gt=0)  # per re-query; enough to read an answer
    seed: int = 0  # request seed, and the seed of any random choice (mistake position)


class Probe(ABC):
    """A faithfulness intervention; concrete probes are ~30 lines.

    Subclasses set ``name`` (the registry name, also the column prefix) and
    ``config_class``, and implement ``run``. ``answer_of`` and ``ask`` hold the shared
    plumbing: building the prefilled request from the trace's prompt, and reading and
    comparing the new final answer.
    """

    name: ClassVar[str] = "probe"
    config_class: ClassVar[type[ProbeConfig]] = ProbeConfig
    #: whether ``run`` continues a partial assistant message (most probes do)
    needs_prefill: ClassVar[bool] = True
    #: columns written by ``run``, without the prefix, and their Arrow types; nulls of that
    #: type when the trace is skipped (declared to the record schema, so a column no trace
    #: of a run could fill is still typed in every shard)
    columns: ClassVar[dict[str, pa.DataType]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.columns:
            declared = {f"{cls.name}_{c}": t for c, t in cls.columns.items()}
            declare_columns({**declared, f"{cls.name}_skipped": pa.string()})

    @abstractmethod
    async def run(self, trace: Record, caller: CachedCaller, cfg: Any) -> dict[str, Any]:
        """Intervene on ``trace`` and return its new columns, prefixed with ``name``.

        Called only for traces with a non-null ``answer``; ``cfg`` is a validated
        ``config_class`` instance. Must not mutate ``trace``.
        """

    def skipped(self, reason: str) -> dict[str, Any]:
        """The columns of a trace this probe cannot run on."""
        cols: dict[str, Any] = {f"{self.name}_{c}": None for c in self.columns}
        cols[f"{self.name}_skipped"] = reason
        return cols

    def unscored(self, answer: str | None, reply: str = "the continuation") -> dict[str, Any]:
        """``<name>_skipped`` for a probe that ran but has no score: why, in words."""
        if answer is None:
            return {f"{self.name}_skipped": f"{reply} states no final answer"}
        return {f"{self.name}_skipped": f"cannot compare {answer!r} with the trace's answer"}

    @staticmethod
    async def ask(
        trace: Record, caller: CachedCaller, cfg: ProbeConfig, prefill: str
    ) -> tuple[str, bool]:
        """Continue ``prefill`` as the assistant's reply to the trace's own prompt.

        Returns the continuation only (never the prefill) and whether it was truncated.
        """
        req = GenerationRequest(
            messages=tuple(json.loads(trace["prompt"])),
            max_tokens=cfg.max_tokens,
            temperature=cfg.temperature,
            seed=cfg.seed,
            prefill=prefill,
        )
        completion, _ = await caller.call(req)
        return completion.text, completion.truncated

    @staticmethod
    def same_answer(trace: Record, text: str) -> tuple[str | None, bool | None]:
        """The final answer in ``text`` and whether it equals the trace's ``answer``.

        None for "same" when ``text`` holds no answer or equality cannot be decided.
        """
        answer = extract_answer(text, choices=trace.get("choices"))
        if answer is None:
            return None, None
        return answer, answers_equal(answer, trace["answer"])


probes: Registry[type[Probe]] = plugins.probes  # built-ins load lazily by name


def make_config(name: str, raw: Any) -> ProbeConfig:
    """Validate one probe's settings (a dict, a config instance, or None for defaults)."""
    cls = probes.get(name).config_class
    if isinstance(raw, cls):
        return raw
    try:
        return cls.model_validate(raw or {})
    except ValidationError as e:
        problems = "; ".join(
            f"probes.{name}.{'.'.join(str(x) for x in err['loc'])}: {err['msg']}"
            for err in e.errors()
        )
        raise ConfigError(problems) from None


async def run_probes(
    traces: Sequence[Record],
    teacher: Teacher,
    cache: CallCache | None,
    probe_names: Sequence[str],
    configs: Mapping[str, Any] | None = None,
    on_done: Callable[[], None] | None = None,
) -> list[Record]:
    """Apply each named probe to each trace; returns the traces with the probes' columns.

    ``configs`` maps a probe name to its settings (dict or config instance); missing names
    get the defaults. Unknown probe names and config keys raise ``ConfigError`` before any
    call is made. ``on_done`` is called as each trace finishes (a progress bar's tick).
    """
    configs = dict(configs or {})
    unknown = set(configs) - set(probe_names)
    if unknown:
        raise ConfigError(f"settings for probes that are not run: {sorted(unknown)}")
    chosen = [(probes.get(n)(), make_config(n, configs.get(n))) for n in probe_names]
    caller = CachedCaller(teacher, cache)
    probed = [
        t for t in traces if t.get("answer") is not None and (t.get("completion") or "").strip()
    ]
    if probed and any(probe.needs_prefill for probe, _ in chosen):
        await confirm_prefill(teacher, caller)

    async def one(t: Record) -> Record:
        out = dict(t)
        for probe, cfg in chosen:
            if t.get("answer") is None:
                out.update(probe.skipped("no answer to compare with"))
            else:
                out.update(await probe.run(t, caller, cfg))
        if on_done is not None:
            on_done()
        return out

    return list(await asyncio.gather(*(one(t) for t in traces)))
