"""Can a teacher continue a partial assistant message? Probes and Monte-Carlo rollouts need it.

``check_prefill`` asks the teacher what it declares; ``confirm_prefill`` asks a server live,
once per process, server and style, and for an OpenAI-compatible teacher falls over to a
prefill style that works (``continue_final_message``, ``plain``, ``completions``), saying so.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import weakref
from typing import Any

import orjson

from tracemint.cache import PREFILL_IDENTITY, CachedCaller, model_identity
from tracemint.errors import ConfigError, TeacherError, TeacherUnavailableError
from tracemint.teachers.base import GenerationRequest, Teacher


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
