"""The teacher seam: one small async protocol every LLM backend implements.

One request is one sample. A recipe's ``n`` samples per problem become ``n`` requests that
differ only in ``sample_index`` (and the seed derived from it). That costs nothing on servers
with prefix caching (vLLM, SGLang) and buys exact caching: each sample is cached on its own,
so raising ``n`` from 4 to 8 makes exactly 4 new calls, and a killed run loses at most the
calls that were in flight.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from tracemint import plugins
from tracemint.registry import Registry


@dataclass(frozen=True)
class GenerationRequest:
    """One chat request for one sample."""

    messages: tuple[dict[str, str], ...]
    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    sample_index: int = 0
    # Continue an assistant message that starts with this text (step rollouts, probes).
    # The completion holds only the continuation, not the prefill.
    prefill: str | None = None

    def sampling(self) -> dict[str, Any]:
        """The sampling parameters, as stored in traces and hashed into cache keys."""
        # Spelled out, not dataclasses.asdict: this runs several times per call on the
        # hot path, and asdict's deep copies cost more than the HTTP client does.
        return {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": list(self.stop),
            "seed": self.seed,
            "sample_index": self.sample_index,
        }


@dataclass
class Completion:
    """What a teacher returned for one request."""

    text: str
    finish_reason: str = "stop"
    reasoning: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str = ""
    latency_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def truncated(self) -> bool:
        """The teacher stopped at max_tokens: the rationale is incomplete."""
        return self.finish_reason == "length"

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "finish_reason": self.finish_reason,
            "reasoning": self.reasoning,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "model": self.model,
            "latency_s": self.latency_s,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Completion:
        return cls(**d)


class WaitingCalls(NamedTuple):
    """Calls a teacher has started and not finished, for a progress bar: a server that
    accepts requests but never answers shows up as a count that stays up and an age that
    keeps growing, instead of as silence."""

    calls: int = 0  # calls waiting for an answer (queued, on the wire or between retries)
    oldest_s: float = 0.0  # how long the oldest of them has waited (0 when none)


class Teacher(ABC):
    """An LLM backend.

    Contract for ``generate``: return exactly one ``Completion`` per request, in order.
    Transient failures (rate limits, 5xx, dropped connections) are retried inside the
    teacher; a failure retrying cannot fix raises ``TeacherError``, and one that persisted
    through every retry (or a server that answered nothing for too long) raises
    ``TeacherUnavailableError``. Implementations must be safe to call concurrently from many
    asyncio tasks.
    """

    #: registry name, e.g. "openai"
    name: str = "teacher"
    #: recipe keys that change how fast or how patiently it answers, not what it answers
    #: (concurrency, pacing, timeouts, retries): kept out of the recipe fingerprint, so
    #: retuning them and rerunning with ``--resume`` continues the run instead of redoing it
    tuning_keys: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def fingerprint_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """The part of this teacher's recipe section that decides its outputs."""
        return {k: v for k, v in config.items() if k not in cls.tuning_keys}

    @property
    @abstractmethod
    def model(self) -> str:
        """The model name, part of every cache key."""

    @abstractmethod
    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        """Sample one completion per request."""

    def waiting(self) -> WaitingCalls:
        """The calls waiting for an answer now. Called a few times a second from the
        runner's event loop, so it must be cheap; a teacher that does not track its calls
        reports none (the bar then shows nothing)."""
        return WaitingCalls()

    def identity(self) -> dict[str, Any]:
        """What distinguishes this teacher's outputs; hashed into cache keys and trace ids.
        Never secrets, and never where the model is served (a URL): moving a server must
        keep every trace id and cached call. How prefilled requests are sent goes under the
        ``tracemint.cache.PREFILL_IDENTITY`` key, which only their cache keys include."""
        return {"teacher": self.name, "model": self.model}

    async def aclose(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release connections or memory."""


teachers: Registry[type[Teacher]] = plugins.teachers  # built-ins load lazily by name

_THINK = re.compile(r"^\s*<think>(.*?)(?:</think>|$)(.*)$", re.DOTALL)


def split_thinking(text: str) -> tuple[str | None, str]:
    """Split a reasoning model's ``<think>...</think>`` block from its visible answer.

    Why here: DeepSeek-R1-style servers put thinking inline unless a reasoning parser is
    enabled. An unclosed ``<think>`` (truncated) keeps everything as thinking.
    """
    m = _THINK.match(text)
    if not m:
        # Some templates open <think> in the prompt, so only the closing tag appears.
        if "</think>" in text:
            head, _, tail = text.partition("</think>")
            return head.strip(), tail.strip()
        return None, text
    return m.group(1).strip(), m.group(2).strip()
