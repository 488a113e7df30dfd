"""The ``openai`` teacher: any OpenAI-compatible chat endpoint (OpenAI, vLLM, SGLang, ...).

Why raw aiohttp and not the openai SDK or httpx: measured at 200 ms latency and 256
concurrent requests, a bare aiohttp client reaches 0.90 of the ceiling (concurrency /
latency), the openai SDK 0.35 and httpx 0.04. Per-request work here is one ``orjson.dumps``,
one POST on a kept-alive connection and one ``orjson.loads``.

Why a patience (``give_up_after_s``) on top of per-attempt timeouts and retries: a server that
accepts connections but never answers costs every request all its attempts, each a full
timeout (at 120 s x 9 attempts, 18 silent minutes) before anything fails. The patience looks
at the teacher as a whole instead: while calls are waiting and not one has been answered for
that long, the server is taken for dead and every waiting call fails at once.
"""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import json
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, cast

import aiohttp
import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tracemint.cache import PREFILL_IDENTITY
from tracemint.errors import ConfigError, TeacherError, TeacherUnavailableError
from tracemint.teachers.base import (
    Completion,
    GenerationRequest,
    Teacher,
    WaitingCalls,
    split_thinking,
    teachers,
)
from tracemint.teachers.chat_templates import (
    BUILTIN,
    ChatTemplate,
    TemplateError,
    template_label,
)
from tracemint.teachers.endpoints import Endpoint, EndpointPool
from tracemint.teachers.ratelimit import AdaptiveLimiter, TokenBucket

# 408 (timeout) and 409 (conflict, e.g. a lock on the server) go away on their own; every
# other 4xx means the request itself is wrong and retrying only burns the budget.
_RETRYABLE_4XX = frozenset({408, 409, 429})

#: the automatic per-attempt timeout (``timeout_s`` unset) is this floor plus max_tokens
#: at the decode speed below: the floor covers connecting, waiting for a server slot and
#: reading a few-shot prompt on a CPU server; 5 tokens/s is a 7B model decoding on a laptop
#: CPU (llama.cpp, one request at a time). A GPU server answers far inside it, and a dead one
#: is caught by ``give_up_after_s``, so erring long costs little and erring short costs a
#: slow server every answer (each attempt cut off, redone, cut off again).
AUTO_TIMEOUT_FLOOR_S = 60.0
AUTO_TIMEOUT_TOKENS_PER_S = 5.0
#: what the automatic timeout assumes of a request without max_tokens (``post_json``)
AUTO_TIMEOUT_UNBOUNDED_TOKENS = 4096


PrefillStyle = Literal["continue_final_message", "plain", "completions"]
#: every way of asking for a continuation, in the order the prefill check tries them
PREFILL_STYLES: tuple[PrefillStyle, ...] = ("continue_final_message", "plain", "completions")


def auto_timeout_s(max_tokens: int | None) -> float:
    """The per-attempt timeout when ``timeout_s`` is unset: 60 s + max_tokens / 5 (162 s
    at 512 tokens, 879 s at 4096)."""
    tokens = AUTO_TIMEOUT_UNBOUNDED_TOKENS if max_tokens is None else max_tokens
    return AUTO_TIMEOUT_FLOOR_S + tokens / AUTO_TIMEOUT_TOKENS_PER_S


class OpenAITeacherConfig(BaseModel):
    """Settings for an OpenAI-compatible endpoint; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)  # required: the served model name
    # up to and including /v1; a list of replicas of the same model is load-balanced
    # (least outstanding requests, per-replica health). Not part of any cache key, trace id
    # or recipe fingerprint: moving the server keeps the run (the model name identifies it)
    base_url: str | list[str] = "http://127.0.0.1:8000/v1"
    api_key_env: str | None = None  # NAME of the env var holding the key; None: no auth header
    concurrency: int = Field(64, ge=1)  # max requests in flight (AIMD lowers it on 429s)
    requests_per_minute: float | None = Field(None, gt=0)  # None: unpaced
    tokens_per_minute: float | None = Field(None, gt=0)  # est. max_tokens + prompt chars / 4
    # per attempt, whole request (time queued at the server included); None: scaled with the
    # request's max_tokens, 60 s + max_tokens / 5 (a CPU server at 5 tokens/s; 162 s at 512
    # tokens, see auto_timeout_s); a number: that, for every request
    timeout_s: float | None = Field(None, gt=0)
    max_retries: int = Field(8, ge=0)  # retries after the first attempt
    backoff_base_s: float = Field(0.5, ge=0)  # full jitter: uniform(0, base * 2**attempt)
    backoff_max_s: float = Field(30, ge=0)  # cap on one backoff sleep
    send_seed: bool = True  # send GenerationRequest.seed (servers without seeds may reject it)
    extra_body: dict[str, Any] = Field(default_factory=dict)  # merged into every request body
    # how to ask for the continuation of a partial assistant message (probes, Monte-Carlo
    # rollouts): "continue_final_message" (vLLM, SGLang: chat endpoint), "plain" (a trailing
    # assistant message on the chat endpoint: Ollama), "completions" (the chat template
    # rendered here, continued on /v1/completions: llama.cpp). Requests without a prefill
    # always use the chat endpoint.
    prefill_style: PrefillStyle = "continue_final_message"
    # for prefill_style "completions": a built-in template name (chatml, llama3, mistral,
    # gemma) or the template's Jinja text; None: read once from the server (llama.cpp's
    # GET /props)
    chat_template: str | None = None
    # first pause of a replica after it failed; doubles while it keeps failing (cap 30 s)
    endpoint_cooldown_s: float = Field(1.0, ge=0)
    # stop (TeacherUnavailableError) when calls are waiting and none has been answered for
    # this long, counted from the last answer or from when calls began to wait: a hung or
    # dead server. Raise it above the longest one answer may take when the server works
    # one request at a time. None or 0: never (each call still has its timeout and retries)
    give_up_after_s: float | None = Field(300, ge=0)

    @field_validator("base_url")
    @classmethod
    def _some_url(cls, v: str | list[str]) -> str | list[str]:
        urls = [v] if isinstance(v, str) else v
        if not urls or not all(u.strip() for u in urls):
            raise ValueError("give a URL up to and including /v1, or a non-empty list of them")
        if len({u.rstrip("/") for u in urls}) != len(urls):
            raise ValueError("the same URL is listed twice")
        return v

    @field_validator("chat_template")
    @classmethod
    def _known_template(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                ChatTemplate.from_setting(v)
            except TemplateError as e:
                raise ValueError(str(e)) from None
        return v

    @property
    def base_urls(self) -> list[str]:
        return [self.base_url] if isinstance(self.base_url, str) else list(self.base_url)


@dataclass
class OpenAITeacherStats:
    """Live counters for progress bars; plain ints, read them any time."""

    requests: int = 0  # HTTP attempts sent, retries included
    completed: int = 0  # requests that produced a Completion
    retries: int = 0
    rate_limited: int = 0  # 429 answers
    concurrency_limit: int = 0  # current AIMD limit
    in_flight: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    empty_replies: int = 0  # 200 replies with null or empty content (retried)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class _Retryable(Exception):
    """One attempt failed in a way a later attempt may not; carries the server's hint."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


#: finish reasons under which an empty reply is still the server's real answer: the tokens
#: ran out (graded as truncated), or a filter withheld it (asking again gets the same)
_EMPTY_IS_AN_ANSWER = frozenset({"length", "content_filter"})


def empty_reply(data: dict[str, Any]) -> str | None:
    """What makes a chat reply no answer at all, or None when it is one.

    ``content: null`` (a server that lost the generation, or a tool-call-only reply) and a
    reply that is empty or only whitespace once the thinking is split off say nothing;
    cached, they would be a finished call forever and grade as "no answer found". So they
    are retried like a malformed reply, unless the finish reason says the emptiness is the
    answer (``_EMPTY_IS_AN_ANSWER``).
    """
    choice = data["choices"][0]
    if not isinstance(choice, dict) or choice.get("finish_reason") in _EMPTY_IS_AN_ANSWER:
        return None
    message = choice.get("message") or {}
    content = message.get("content")
    if content is None:
        return "reply with content null"
    if not isinstance(content, str):
        return None  # a list of parts: left to _to_completion as before
    text = content
    if message.get("reasoning_content") is None and message.get("reasoning") is None:
        text = split_thinking(content)[1]
    return None if text.strip() else "empty reply"


def _only_our_cancel(task: asyncio.Task[Any] | None) -> bool:
    """Whether the patience's cancel is the only one pending on ``task`` (so the call may
    raise the give-up error instead); a Ctrl-C that cancelled it too stays a cancel. Python
    3.10 has no ``uncancel``: there the patience's cancel is taken to be the only one."""
    uncancel = getattr(task, "uncancel", None)
    return uncancel is None or uncancel() == 0


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a (possibly fractional) number or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


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
    #: AIMD additive step: +1 slot per this many successes after a 429 halved the limit
    AIMD_INCREASE_EVERY = 8

    def __init__(self, config: OpenAITeacherConfig) -> None:
        self.config = config
        self._key: str | None = None
        if config.api_key_env:
            self._key = os.environ.get(config.api_key_env)
            if not self._key:
                raise ConfigError(
                    f"teacher.api_key_env is {config.api_key_env!r} but that environment "
                    f"variable is not set: export {config.api_key_env}=<your key>, or remove "
                    "api_key_env for a server without auth"
                )
        self._pool = EndpointPool(config.base_urls, cooldown_s=config.endpoint_cooldown_s)
        self._base = self._pool.endpoints[0].base
        self._headers = {"Content-Type": "application/json"}
        if self._key:
            self._headers["Authorization"] = f"Bearer {self._key}"
        self._limiter = AdaptiveLimiter(config.concurrency, self.AIMD_INCREASE_EVERY)
        self._rpm = TokenBucket(config.requests_per_minute) if config.requests_per_minute else None
        self._tpm = TokenBucket(config.tokens_per_minute) if config.tokens_per_minute else None
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stats = OpenAITeacherStats(concurrency_limit=config.concurrency)
        self._timeouts: dict[int | None, aiohttp.ClientTimeout] = {}
        # Calls waiting for an answer: id -> (monotonic start, the task awaiting it). Ids
        # grow, and a dict keeps insertion order, so the first entry is the oldest call:
        # O(1) to add and drop per call, cheap to read for a progress bar.
        self._calls: dict[int, tuple[float, asyncio.Task[Any] | None]] = {}
        self._call_ids = itertools.count()
        self._busy_since = 0.0  # when calls began to wait (the last time none were)
        self._last_ok = 0.0  # when the server last answered a call
        self._last_failure = ""  # why the last attempt since an answer failed (give-up message)
        self._patience_timer: asyncio.TimerHandle | None = None
        self._given_up: dict[int, TeacherUnavailableError] = {}  # calls failed by patience
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
        return f"OpenAITeacher(model={self.model!r}, base_url={self._where()!r})"

    def _where(self) -> str:
        """The server(s) for messages: one URL, or the list of replicas."""
        bases = [e.base for e in self._pool.endpoints]
        return bases[0] if len(bases) == 1 else ", ".join(bases)

    def waiting(self) -> WaitingCalls:
        """Calls waiting for an answer and the age of the oldest (see ``Teacher.waiting``)."""
        calls = self._calls
        if not calls:
            return WaitingCalls()
        started, _ = next(iter(calls.values()))
        return WaitingCalls(len(calls), time.monotonic() - started)

    def attempt_timeout_s(self, max_tokens: int | None) -> float:
        """How long one attempt at a request with this max_tokens may take: ``timeout_s``
        when set, else ``auto_timeout_s(max_tokens)``."""
        if self.config.timeout_s is not None:
            return self.config.timeout_s
        return auto_timeout_s(max_tokens)

    def _client_timeout(self, max_tokens: Any) -> aiohttp.ClientTimeout:
        """``attempt_timeout_s`` as aiohttp wants it, built once per distinct max_tokens."""
        if not isinstance(max_tokens, int):
            max_tokens = None
        t = self._timeouts.get(max_tokens)
        if t is None:
            t = self._timeouts[max_tokens] = aiohttp.ClientTimeout(
                total=self.attempt_timeout_s(max_tokens)
            )
        return t

    def endpoint_stats(self) -> list[dict[str, Any]]:
        """Per replica: requests in flight and sent, consecutive failures, health."""
        return self._pool.snapshot()

    def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is not None and not self._session.closed and self._loop is not loop:
            # aiohttp sessions are bound to one loop; the failure otherwise is obscure.
            raise RuntimeError(
                "OpenAITeacher used from a second event loop: await teacher.aclose() in the "
                "loop that used it first"
            )
        if self._session is None or self._session.closed:
            self._loop = loop
            connector = aiohttp.TCPConnector(
                limit=self.config.concurrency,
                limit_per_host=0,
                keepalive_timeout=60,
                ttl_dns_cache=300,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                # each request passes its own (``_client_timeout``); this is the fallback
                timeout=self._client_timeout(None),
                cookie_jar=aiohttp.DummyCookieJar(),  # an API has no cookies; skip the jar work
            )
        return self._session

    async def aclose(self) -> None:
        if self._patience_timer is not None:
            self._patience_timer.cancel()
            self._patience_timer = None
        if self._session is not None:
            await self._session.close()
            self._session = None

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

    def _chat_body(self, req: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": list(req.messages),
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "top_p": req.top_p,
        }
        if req.stop:
            body["stop"] = list(req.stop)
        if self.config.send_seed and req.seed is not None:
            body["seed"] = req.seed
        if self.config.extra_body:
            body.update(self.config.extra_body)
        if req.prefill is not None:
            # A trailing assistant message is continued by llama.cpp, Ollama and the test
            # server as is; vLLM and SGLang also need to be told not to open a new turn.
            body["messages"] = [*body["messages"], {"role": "assistant", "content": req.prefill}]
            if self.config.prefill_style == "continue_final_message":
                body["continue_final_message"] = True
                body["add_generation_prompt"] = False
        return body

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
                    self._template = await self._server_template()
        return self._template

    async def _server_template(self) -> ChatTemplate:
        root = self._base.removesuffix("/v1")
        url = f"{root}/props"
        names = ", ".join(f'"{n}"' for n in BUILTIN)
        fix = (
            f"set [teacher] chat_template to the model's template: {names} "
            '("chatml" for SmolLM2 and Qwen) or its Jinja text'
        )
        try:
            async with self._get_session().get(
                url, headers=self._headers, timeout=aiohttp.ClientTimeout(total=30)
            ) as resp:
                status, raw = resp.status, await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise TeacherUnavailableError(
                self._scrub(f"could not read the chat template from {url}: {type(e).__name__} {e}")
            ) from None
        props: Any = None
        if status == 200:
            try:
                props = orjson.loads(raw)
            except ValueError:
                props = None
        source = props.get("chat_template") if isinstance(props, dict) else None
        if not isinstance(source, str) or not source.strip():
            why = f"HTTP {status}" if status != 200 else "no chat_template in the reply"
            raise ConfigError(
                self._scrub(
                    f'prefill_style = "completions" renders the model\'s chat template here, '
                    f"and the server at {root} reports none (GET /props: {why}); {fix}"
                )
            )
        eos = props.get("eos_token")
        try:
            return ChatTemplate.compile(
                source, label="server", eos_token=eos if isinstance(eos, str) else ""
            )
        except TemplateError as e:
            raise ConfigError(
                f"the chat template the server at {root} reports: {e}; {fix}"
            ) from None

    async def _complete_prefill(self, req: GenerationRequest) -> Completion:
        """A prefilled request as raw text on ``/completions``: the rendered conversation
        ends in the unterminated assistant message, and the model simply goes on."""
        template = await self.chat_template()
        try:
            prompt = template.render_prefill(req.messages, req.prefill or "")
        except TemplateError as e:
            raise TeacherError(str(e)) from None
        stop = list(req.stop)
        if template.end_of_turn and template.end_of_turn not in stop:
            stop.append(template.end_of_turn)  # the model's turn ends there, as in a chat
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": prompt,
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "top_p": req.top_p,
            "stop": stop,
        }
        if self.config.send_seed and req.seed is not None:
            body["seed"] = req.seed
        if self.config.extra_body:
            body.update(self.config.extra_body)
        data, latency = await self._post_json_timed(
            "/completions", body, req.max_tokens + len(prompt) // 4
        )
        return self._to_completion(data, latency)

    async def _generate_one(self, req: GenerationRequest) -> Completion:
        if req.prefill is not None and self.config.prefill_style == "completions":
            return await self._complete_prefill(req)
        body = self._chat_body(req)
        prompt_chars = sum(len(m.get("content") or "") for m in req.messages)
        # A continuation of a prefill may rightly be empty (the prefix already ended the
        # answer); a fresh reply may not.
        check = None if req.prefill else empty_reply
        data, latency = await self._post_json_timed(
            "/chat/completions", body, req.max_tokens + prompt_chars // 4, check
        )
        return self._to_completion(data, latency)

    def _to_completion(self, data: dict[str, Any], latency: float) -> Completion:
        choice = data["choices"][0]
        message = choice.get("message") or {}
        # a chat reply's message, or a text completion's text
        text = message.get("content") or choice.get("text") or ""
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        if reasoning is None:
            reasoning, text = split_thinking(text)
        usage = data.get("usage") or {}
        return Completion(
            text=text,
            finish_reason=choice.get("finish_reason") or "stop",
            reasoning=reasoning,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            model=data.get("model") or self.model,
            latency_s=latency,
        )

    async def post_json(
        self, path: str, body: dict[str, Any], est_tokens: int = 0
    ) -> dict[str, Any]:
        """POST ``body`` to ``path`` under a replica's base URL (e.g. ``/completions``) with
        pacing, the AIMD limit, load balancing and retries; the decoded JSON reply.

        Public so other endpoints share the same machinery. A reply without ``choices``
        counts as a malformed (retryable) reply.
        """
        return (await self._post_json_timed(path, body, est_tokens))[0]

    async def _post_json_timed(
        self,
        path: str,
        body: dict[str, Any],
        est_tokens: int,
        check: Callable[[dict[str, Any]], str | None] | None = None,
    ) -> tuple[dict[str, Any], float]:
        """``post_json`` plus the latency of the successful attempt (queueing excluded).

        ``check`` looks at a decoded 200 reply and names what makes it unusable (or None):
        such a reply is retried like a malformed one, so it never reaches the call cache.
        """
        payload = orjson.dumps(body)
        cfg = self.config
        timeout = self._client_timeout(body.get("max_tokens"))
        calls = self._calls
        now = time.monotonic()
        if not calls:
            self._busy_since = now
            if self._patience_timer is None and cfg.give_up_after_s:
                self._arm_patience(cfg.give_up_after_s)
        call = next(self._call_ids)
        calls[call] = (now, asyncio.current_task())
        try:
            for attempt in range(cfg.max_retries + 1):
                try:
                    return await self._attempt(path, payload, est_tokens, timeout, check)
                except _Retryable as e:
                    self._last_failure = str(e)
                    if attempt == cfg.max_retries:
                        raise TeacherUnavailableError(
                            self._scrub(
                                f"teacher at {self._where()} kept failing after {attempt + 1} "
                                f"attempts (last: {e}); check the server, or rerun with "
                                "--resume later"
                            )
                        ) from None
                    self.stats.retries += 1
                    if e.retry_after is not None:
                        # Honour the server's hint, plus a little jitter so the herd spreads.
                        delay = e.retry_after * (1 + 0.1 * random.random())
                    else:  # full jitter (AWS architecture blog): uniform over the capped window
                        delay = random.uniform(
                            0, min(cfg.backoff_max_s, cfg.backoff_base_s * 2**attempt)
                        )
                    await asyncio.sleep(delay)
            raise AssertionError("unreachable")  # pragma: no cover
        except asyncio.CancelledError:
            error = self._given_up.pop(call, None)
            if error is not None and _only_our_cancel(asyncio.current_task()):
                raise error from None
            raise
        finally:
            del calls[call]
            if self._given_up:
                self._given_up.pop(call, None)

    def _arm_patience(self, delay: float) -> None:
        self._patience_timer = asyncio.get_running_loop().call_later(delay, self._check_patience)

    def _check_patience(self) -> None:
        """The patience timer: one per teacher, armed when calls begin to wait and moved to
        the new deadline whenever an answer came meanwhile, so it fires about once per
        ``give_up_after_s`` however many calls a second succeed (no per-call cost)."""
        self._patience_timer = None
        patience = self.config.give_up_after_s
        calls = self._calls
        if not calls or not patience:
            return  # idle: the next call to wait arms it again
        quiet_since = max(self._last_ok, self._busy_since)
        now = time.monotonic()
        if now - quiet_since < patience:
            self._arm_patience(quiet_since + patience - now)
            return
        self._give_up(now - quiet_since)
        # calls that start from now on get a whole new window
        self._busy_since = now
        self._arm_patience(patience)

    def _give_up(self, quiet_s: float) -> None:
        """Fail every waiting call with one clear error: each waiting task is cancelled
        and ``_post_json_timed`` turns that cancellation into the error (a cancel is the only
        way into a call blocked on a socket that never answers)."""
        calls = self._calls
        n = len(calls)
        last = f"; last failure: {self._last_failure}" if self._last_failure else ""
        message = self._scrub(
            f"teacher at {self._where()} has not answered any request for {quiet_s:.0f} s "
            f"({n} call{'s' if n != 1 else ''} waiting{last}); check that the server is "
            "running and responsive, or raise [teacher] give_up_after_s. Finished work is "
            "kept: rerun with --resume"
        )
        for call, (_, task) in list(calls.items()):
            if task is not None and not task.done() and call not in self._given_up:
                self._given_up[call] = TeacherUnavailableError(message)
                task.cancel()

    async def _attempt(
        self,
        path: str,
        payload: bytes,
        est_tokens: int,
        timeout: aiohttp.ClientTimeout,
        check: Callable[[dict[str, Any]], str | None] | None = None,
    ) -> tuple[dict[str, Any], float]:
        if self._rpm is not None:
            await self._rpm.take(1)
        if self._tpm is not None:
            await self._tpm.take(est_tokens)
        session = self._get_session()
        limiter, stats = self._limiter, self.stats
        epoch = await limiter.acquire()
        pool = self._pool
        ep = pool.acquire()
        stats.requests += 1
        stats.in_flight += 1
        t0 = time.perf_counter()
        try:
            async with session.post(
                ep.url(path), data=payload, headers=self._headers, timeout=timeout
            ) as resp:
                status = resp.status
                raw = await resp.read()
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            latency = time.perf_counter() - t0
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            pool.release(ep, ok=False)
            kind = "timed out" if isinstance(e, asyncio.TimeoutError) else "connection error"
            raise _Retryable(f"{kind} ({ep.base}): {type(e).__name__} {e}".strip()) from None
        except BaseException:
            pool.release(ep, ok=True)  # cancelled: says nothing about the replica
            raise
        finally:
            stats.in_flight -= 1
            limiter.release()
        # a replica that is down, overloaded or answers garbage rests; one that rightly
        # refuses a bad request (other 4xx) is healthy
        replica_failed = status == 429 or status >= 500
        if status == 200:
            try:
                data = orjson.loads(raw)
                data["choices"][0]
            except (ValueError, KeyError, IndexError, TypeError):
                pool.release(ep, ok=False)
                msg = f"malformed JSON reply ({len(raw)} bytes) from {ep.base}"
                raise _Retryable(msg) from None
            unusable = check(data) if check is not None else None
            if unusable is not None:
                # the replica answered, so it is not resting; but this is no answer
                pool.release(ep, ok=True)
                stats.empty_replies += 1
                raise _Retryable(f"{unusable} from {ep.base}")
            pool.release(ep, ok=True)
            self._last_ok = time.monotonic()
            self._last_failure = ""
            limiter.on_success()
            stats.concurrency_limit = limiter.limit
            stats.completed += 1
            usage = data.get("usage") or {}
            stats.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            stats.completion_tokens += int(usage.get("completion_tokens") or 0)
            if self._tpm is not None and usage:
                self._tpm.refund(est_tokens - int(usage.get("total_tokens") or est_tokens))
            return data, latency
        pool.release(ep, ok=not replica_failed, retry_after=retry_after if replica_failed else None)
        if status == 429:
            stats.rate_limited += 1
            limiter.on_overload(epoch)
            stats.concurrency_limit = limiter.limit
        if status in _RETRYABLE_4XX or status >= 500:
            raise _Retryable(f"HTTP {status} ({ep.base}): {self._server_message(raw)}", retry_after)
        raise self._fatal(status, raw, ep)

    def _server_message(self, raw: bytes) -> str:
        """The ``error.message`` of an OpenAI-style error body, else the start of the body."""
        try:
            msg = json.loads(raw)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            msg = raw[:300].decode("utf-8", "replace")
        return self._scrub(str(msg)[:300])

    def _fatal(self, status: int, raw: bytes, ep: Endpoint) -> TeacherError:
        msg = self._server_message(raw)
        base = ep.base
        env = self.config.api_key_env
        if status in (401, 403):
            hint = (
                f"check the API key in ${env}"
                if env
                else "the server wants an API key: set teacher.api_key_env to the name of the "
                "environment variable that holds it"
            )
            text = f"teacher at {base} refused the credentials (HTTP {status}: {msg}); {hint}"
        elif status == 404:
            text = (
                f"model {self.model!r} not found at {base} (HTTP 404: {msg}); "
                "check teacher.model and teacher.base_url"
            )
        else:
            text = (
                f"teacher at {base} rejected the request (HTTP {status}: {msg}); "
                "retrying cannot fix this"
            )
        return TeacherError(self._scrub(text))

    def _scrub(self, text: str) -> str:
        """Never let the API key into a message, whatever the server echoed back."""
        return text.replace(self._key, "***") if self._key else text
