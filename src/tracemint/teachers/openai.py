"""The ``openai`` teacher: any OpenAI-compatible chat endpoint (OpenAI, vLLM, SGLang, ...).

This module is the teacher itself: what identifies its answers (never the URL), how a batch
is spread over workers, and which endpoint and body each request takes. The rest is split
by job: the settings in ``openai_config``, the HTTP side (pacing, AIMD concurrency,
replicas, retries) in ``openai_client``, the patience that fails every waiting call when a
server goes quiet in ``openai_patience``, the request bodies per prefill style in
``openai_requests``, and reading the replies in ``openai_replies``. Every name that used to
live here is still importable from here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from tracemint.cache import PREFILL_IDENTITY
from tracemint.teachers.base import (
    Completion,
    GenerationRequest,
    Teacher,
    WaitingCalls,
    teachers,
)
from tracemint.teachers.chat_templates import ChatTemplate, template_label
from tracemint.teachers.openai_client import OpenAIClient, OpenAITeacherStats
from tracemint.teachers.openai_config import (
    AUTO_TIMEOUT_FLOOR_S,
    AUTO_TIMEOUT_TOKENS_PER_S,
    AUTO_TIMEOUT_UNBOUNDED_TOKENS,
    PREFILL_STYLES,
    OpenAITeacherConfig,
    PrefillStyle,
    auto_timeout_s,
)
from tracemint.teachers.openai_replies import empty_reply, parse_retry_after, to_completion
from tracemint.teachers.openai_requests import chat_body, completions_body, server_template

__all__ = [
    "AUTO_TIMEOUT_FLOOR_S",
    "AUTO_TIMEOUT_TOKENS_PER_S",
    "AUTO_TIMEOUT_UNBOUNDED_TOKENS",
    "PREFILL_STYLES",
    "OpenAITeacher",
    "OpenAITeacherConfig",
    "OpenAITeacherStats",
    "PrefillStyle",
    "auto_timeout_s",
    "empty_reply",
    "parse_retry_after",
]


@teachers.register("openai")
class OpenAITeacher(Teacher):
    """Chat completions over HTTP with adaptive concurrency, pacing and retries.

    One ``aiohttp.ClientSession`` is created lazily in the running loop; call ``aclose()``
    from that same loop when done.
    """

    name = "openai"
    config_class = OpenAITeacherConfig
    tuning_keys = frozenset(
        {
            "api_key_env",
            "concurrency",
            "adapt_concurrency",
            "requests_per_minute",
            "tokens_per_minute",
            "timeout_s",
            "max_retries",
            "backoff_base_s",
            "backoff_max_s",
            "endpoint_cooldown_s",
            "give_up_after_s",
        }
    )

    def __init__(self, config: OpenAITeacherConfig) -> None:
        self.config = config
        self._client = OpenAIClient(config)
        self.stats = self._client.stats
        self._template: ChatTemplate | None = None  # for prefill_style "completions"
        self._template_lock = asyncio.Lock()

    @property
    def model(self) -> str:
        return self.config.model

    @classmethod
    def fingerprint_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Where the server lives is not what it answers: moving it, or adding and removing
        replicas, keeps the run (``--resume`` goes on), as it keeps every cache key."""
        out = super().fingerprint_config(config)
        out.pop("base_url", None)
        return out

    def identity(self) -> dict[str, Any]:
        """The model (name and ``extra_body``) and, under ``PREFILL_IDENTITY``, how a
        prefilled request is sent; never the URL (see ``tracemint.cache.call_key``)."""
        ident: dict[str, Any] = {"teacher": self.name, "model": self.model}
        if self.config.extra_body:  # e.g. vLLM's top_k changes the outputs
            ident["extra_body"] = self.config.extra_body
        prefill: dict[str, Any] = {"style": self.config.prefill_style}
        if self.config.prefill_style == "completions":
            prefill["chat_template"] = template_label(self.config.chat_template)
        ident[PREFILL_IDENTITY] = prefill
        return ident

    def use_prefill_style(self, style: PrefillStyle) -> None:
        """Send prefilled requests this way from now on (the prefill check found that the
        configured style does not work on this server but this one does). Callers made
        before keep the old identity: make new ones."""
        self.config = self.config.model_copy(update={"prefill_style": style})

    def __repr__(self) -> str:
        return f"OpenAITeacher(model={self.model!r}, base_url={self._client.where()!r})"

    def waiting(self) -> WaitingCalls:
        """Calls waiting for an answer and the age of the oldest (see ``Teacher.waiting``)."""
        return self._client.patience.waiting()

    def attempt_timeout_s(self, max_tokens: int | None) -> float:
        """How long one attempt at a request with this max_tokens may take: ``timeout_s``
        when set, else ``auto_timeout_s(max_tokens)``."""
        return self._client.attempt_timeout_s(max_tokens)

    def endpoint_stats(self) -> list[dict[str, Any]]:
        """Per replica: requests in flight and sent, consecutive failures, health."""
        return self._client.endpoint_stats()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        if len(requests) == 1:
            return [await self._generate_one(requests[0])]
        # A pool of workers, not a task per request: starting 10,000 tasks at once delays the
        # first wave of connections by their combined start-up cost. Twice the concurrency,
        # so requests sleeping in a backoff do not leave the limiter's slots idle.
        results: list[Completion | None] = [None] * len(requests)
        todo = iter(enumerate(requests))

        async def worker() -> None:
            for i, req in todo:
                results[i] = await self._generate_one(req)

        tasks = [
            asyncio.ensure_future(worker())
            for _ in range(min(len(requests), 2 * self.config.concurrency))
        ]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            # One hopeless request fails the batch: stop the others instead of leaking them.
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return cast(list[Completion], results)  # every slot was filled

    async def chat_template(self) -> ChatTemplate:
        """The template prefills are rendered with: ``chat_template`` when set, else the
        one the server reports (llama.cpp's ``GET /props``), read once."""
        if self._template is not None:
            return self._template
        async with self._template_lock:
            if self._template is None:
                setting = self.config.chat_template
                if setting is not None:
                    self._template = ChatTemplate.from_setting(setting)
                else:
                    self._template = await server_template(self._client)
        return self._template

    async def _complete_prefill(self, req: GenerationRequest) -> Completion:
        """A prefilled request as raw text on ``/completions`` (``completions_body``)."""
        template = await self.chat_template()
        body, prompt = completions_body(req, template, self.config)
        data, latency = await self._client.post_json(
            "/completions", body, req.max_tokens + len(prompt) // 4
        )
        return to_completion(data, latency, self.model)

    async def _generate_one(self, req: GenerationRequest) -> Completion:
        if req.prefill is not None and self.config.prefill_style == "completions":
            return await self._complete_prefill(req)
        body = chat_body(req, self.config)
        prompt_chars = sum(len(m.get("content") or "") for m in req.messages)
        # A continuation of a prefill may rightly be empty (the prefix already ended the
        # answer); a fresh reply may not.
        check = None if req.prefill else empty_reply
        data, latency = await self._client.post_json(
            "/chat/completions", body, req.max_tokens + prompt_chars // 4, check
        )
        return to_completion(data, latency, self.model)

    async def post_json(
        self, path: str, body: dict[str, Any], est_tokens: int = 0
    ) -> dict[str, Any]:
        """POST ``body`` to ``path`` under a replica's base URL (e.g. ``/completions``) with
        pacing, the AIMD limit, load balancing and retries; the decoded JSON reply.

        Public so other endpoints share the same machinery. A reply without ``choices``
        counts as a malformed (retryable) reply.
        """
        return (await self._client.post_json(path, body, est_tokens))[0]
