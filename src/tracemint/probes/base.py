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
import logging
import re
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import orjson
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tracemint.cache import PREFILL_IDENTITY, CallCache, model_identity
from tracemint.errors import ConfigError, TeacherError, TeacherUnavailableError
from tracemint.records import Record, declare_columns
from tracemint.registry import Registry
from tracemint.stages import CachedCaller
from tracemint.teachers.base import GenerationRequest, Teacher
from tracemint.verify import answers_equal, extract_answer


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


probes: Registry[type[Probe]] = Registry("probe")


def check_prefill(teacher: Teacher) -> None:
    """Raise ``ConfigError`` unless ``teacher`` says it can continue an assistant message.

    The embedded teacher always can; an OpenAI-compatible teacher says so through its
    ``prefill_style``; any other teacher must set ``supports_prefill = True``. Whether a
    server really honours the prefill is checked live by ``confirm_prefill``.
    """
    declared = getattr(teacher, "supports_prefill", None)
    if declared is None:
        config = getattr(teacher, "config", None)
        declared = teacher.name == "embedded" or (
            teacher.name == "openai" and getattr(config, "prefill_style", None) is not None
        )
    if not declared:
        raise ConfigError(
            f"probes need a teacher that can continue a partial assistant message; teacher "
            f"{teacher.name!r} cannot. Use the 'embedded' teacher or an 'openai' teacher on a "
            f"server that continues a trailing assistant message (set prefill_style), or set "
            f"supports_prefill = True on a custom teacher."
        )


# Asked to count, with the first six numbers already written as the assistant's message: a
# server that continues the message goes on with 7; one that ignores it (hosted chat APIs)
# starts a new message with 1.
PREFILL_CHECK = GenerationRequest(
    messages=({"role": "user", "content": "Count from 1 to 12, separated by spaces."},),
    prefill="1 2 3 4 5 6",
    max_tokens=16,
    temperature=0.0,
    seed=0,
)
#: (model, servers, configured style and template) -> the prefill style that works there
_confirmed: dict[str, str] = {}
_locks: weakref.WeakKeyDictionary[Teacher, asyncio.Lock] = weakref.WeakKeyDictionary()
log = logging.getLogger(__name__)


async def _try_style(teacher: Teacher) -> str | None:
    """Why the teacher's current prefill style fails the live check, or None if it works.

    Asked of the teacher itself, never of the call cache: the check is about the server
    answering now, and cache keys do not name the server (a moved or replaced one must be
    asked again). A dead server is not a style's failure: its error propagates."""
    try:
        (completion,) = await teacher.generate([PREFILL_CHECK])
    except (ConfigError, TeacherError) as e:
        if isinstance(e, TeacherUnavailableError):
            raise
        return str(e)
    numbers = re.findall(r"\d+", completion.text or "")
    if numbers and numbers[0] == "7":
        return None
    return f"asked to go on from '1 2 3 4 5 6', it answered {(completion.text or '')[:60]!r}"


def _where(teacher: Any, style: str) -> str:
    """What a live check's result holds for: the model, its servers, the style and template."""
    config = teacher.config
    ident = [model_identity(teacher.identity()), list(config.base_urls), style]
    return json.dumps([*ident, config.chat_template], sort_keys=True)


async def confirm_prefill(teacher: Teacher, caller: CachedCaller) -> None:
    """``check_prefill``, then, for a server, live calls showing that it continues a partial
    assistant message: in the configured ``prefill_style``, else in each other style, and
    the first that works is used for the rest of the run (with a warning naming the setting
    to put in the recipe). ``caller`` is brought up to date with the style in use.

    Once per process, server and style: a worker process builds its teacher from the recipe
    again, and its first prefilled call switches it the same way."""
    check_prefill(teacher)
    if teacher.name != "openai":
        return
    configured = getattr(teacher, "config").prefill_style  # noqa: B009 - typed as Any
    where = _where(teacher, configured)
    style = _confirmed.get(where)
    if style is None:
        lock = _locks.get(teacher)
        if lock is None:
            lock = _locks[teacher] = asyncio.Lock()
        async with lock:  # concurrent first calls wait for one check instead of racing it
            style = _confirmed.get(where)
            if style is None:
                style = await _find_style(teacher, configured)
                _confirmed[where] = _confirmed[_where(teacher, style)] = style
                if style != configured:
                    log.warning(
                        "warning: the teacher server does not continue a partial assistant "
                        'message with prefill_style = "%s", but does with "%s": using that '
                        'for this run; put prefill_style = "%s" under [teacher] in the recipe',
                        configured,
                        style,
                        style,
                    )
    if style != configured:
        teacher.use_prefill_style(style)  # type: ignore[attr-defined]
    if caller.identity.get(PREFILL_IDENTITY) != teacher.identity().get(PREFILL_IDENTITY):
        caller.identity = teacher.identity()
        caller.identity_json = orjson.dumps(caller.identity, option=orjson.OPT_SORT_KEYS).decode()


async def _find_style(teacher: Any, configured: str) -> str:
    """The first prefill style that passes the live check, the configured one first; a
    ``ConfigError`` listing each style tried and why it failed when none does."""
    from tracemint.teachers.openai import PREFILL_STYLES

    failures: list[str] = []
    try:
        for style in (configured, *(s for s in PREFILL_STYLES if s != configured)):
            teacher.use_prefill_style(style)
            why = await _try_style(teacher)
            if why is None:
                return style
            failures.append(f"{style}: {why}")
    finally:
        teacher.use_prefill_style(configured)
    raise ConfigError(
        "the teacher server does not continue a partial assistant message in any prefill "
        f"style; probes and Monte-Carlo rollouts need that. Tried: {'; '.join(failures)}. "
        "Use a server that supports it (vLLM or SGLang: prefill_style = "
        '"continue_final_message"; llama.cpp: "completions"; Ollama: "plain")'
    )


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
