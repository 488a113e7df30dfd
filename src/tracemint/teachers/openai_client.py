"""The ``openai`` teacher's HTTP side: one POST, paced, balanced, limited and retried.

Why raw aiohttp and not the openai SDK or httpx: measured at 200 ms latency and 256
concurrent requests, a bare aiohttp client reaches 0.90 of the ceiling (concurrency /
latency), the openai SDK 0.35 and httpx 0.04. Per-request work here is one ``orjson.dumps``,
one POST on a kept-alive connection and one ``orjson.loads``.

What one request goes through, in order: the requests- and tokens-per-minute buckets, the
AIMD concurrency limit (``adapt_concurrency``: lowered by a 429 or by latency that climbs
as a server queues, see ``ratelimit.AdaptiveLimiter``), the least busy healthy replica
(``endpoints.EndpointPool``), then retries with full-jitter backoff (or the server's
``Retry-After``) for what a later attempt may fix; errors that no retry fixes say what to
change. The patience (``openai_patience``) watches all of it from above.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
import orjson

from tracemint.errors import ConfigError, TeacherError, TeacherUnavailableError
from tracemint.teachers.endpoints import Endpoint, EndpointPool
from tracemint.teachers.openai_config import (
    AUTO_TIMEOUT_TOKENS_PER_S,
    AUTO_TIMEOUT_UNBOUNDED_TOKENS,
    OpenAITeacherConfig,
    auto_timeout_s,
)
from tracemint.teachers.openai_patience import Patience
from tracemint.teachers.openai_replies import parse_retry_after, server_message
from tracemint.teachers.ratelimit import AdaptiveLimiter, TokenBucket

# 408 (timeout) and 409 (conflict, e.g. a lock on the server) go away on their own; every
# other 4xx means the request itself is wrong and retrying only burns the budget.
_RETRYABLE_4XX = frozenset({408, 409, 429})


@dataclass
class OpenAITeacherStats:
    """Live counters for progress bars; plain ints, read them any time."""

    requests: int = 0  # HTTP attempts sent, retries included
    completed: int = 0  # requests that produced a Completion
    retries: int = 0
    rate_limited: int = 0  # 429 answers
    concurrency_limit: int = 0  # current AIMD limit
    latency_backoffs: int = 0  # times rising latency (a server queueing) lowered the limit
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


class OpenAIClient:
    """One teacher's way to its server(s): the session, the limits, the retries.

    One ``aiohttp.ClientSession`` is created lazily in the running loop; call ``aclose()``
    from that same loop when done. Only the transport settings of ``config`` are read, so a
    teacher may change how it builds requests (its prefill style) without a new client.
    """

    #: AIMD additive step: +1 slot per this many successes after a 429 halved the limit
    AIMD_INCREASE_EVERY = 8
    #: the latency signal weighs seconds per (completion tokens + this): the round trip and
    #: reading the prompt cost about as much as decoding some dozens of tokens, so a short
    #: reply is not judged by its per-token time, and a 2,000-token one is not taken for a
    #: queue when the last was 200 tokens long
    LATENCY_TOKEN_OFFSET = 64

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
        self.base = self._pool.endpoints[0].base
        self.headers = {"Content-Type": "application/json"}
        if self._key:
            self.headers["Authorization"] = f"Bearer {self._key}"
        self._adapts = config.adapt_concurrency != "off"
        self._limiter = AdaptiveLimiter(
            config.concurrency,
            self.AIMD_INCREASE_EVERY,
            latency=config.adapt_concurrency == "latency",
        )
        self._rpm = TokenBucket(config.requests_per_minute) if config.requests_per_minute else None
        self._tpm = TokenBucket(config.tokens_per_minute) if config.tokens_per_minute else None
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stats = OpenAITeacherStats(concurrency_limit=self._limiter.limit)
        self._timeouts: dict[int | None, aiohttp.ClientTimeout] = {}
        self.patience = Patience(config.give_up_after_s, self.where(), self.scrub)

    def where(self) -> str:
        """The server(s) for messages: one URL, or the list of replicas."""
        bases = [e.base for e in self._pool.endpoints]
        return bases[0] if len(bases) == 1 else ", ".join(bases)

    def scrub(self, text: str) -> str:
        """Never let the API key into a message, whatever the server echoed back."""
        return text.replace(self._key, "***") if self._key else text

    def attempt_timeout_s(self, max_tokens: int | None) -> float:
        """How long one attempt at a request with this max_tokens may take: ``timeout_s``
        when set, else ``auto_timeout_s(max_tokens)``."""
        if self.config.timeout_s is not None:
            return self.config.timeout_s
        return auto_timeout_s(max_tokens)

    def queue_allowance_s(self, max_tokens: int | None, ahead: int) -> float:
        """What the automatic timeout adds for ``ahead`` requests sent before this one and
        still unanswered: a server that works one at a time answers them first, and that
        wait must not eat this attempt's own time (nor make it time out and be sent again,
        to queue once more). Per request ahead: the decode term of ``auto_timeout_s``, or,
        once answers were measured, twice the measured uncongested time of a reply this long
        when that is less (a fast server gets a tighter timeout). 0 with ``timeout_s`` set."""
        if self.config.timeout_s is not None or ahead <= 0:
            return 0.0
        tokens = AUTO_TIMEOUT_UNBOUNDED_TOKENS if max_tokens is None else max_tokens
        per_request = tokens / AUTO_TIMEOUT_TOKENS_PER_S
        baseline = self._limiter.baseline
        if baseline is not None:
            measured = 2 * baseline * (tokens + self.LATENCY_TOKEN_OFFSET)
            per_request = min(per_request, measured)
        return ahead * per_request

    def _client_timeout(self, max_tokens: Any, ahead: int = 0) -> aiohttp.ClientTimeout:
        """``attempt_timeout_s`` plus ``queue_allowance_s`` as aiohttp wants it; built once
        per distinct max_tokens when nothing is ahead (the common case, and all of a fixed
        ``timeout_s``)."""
        if not isinstance(max_tokens, int):
            max_tokens = None
        extra = self.queue_allowance_s(max_tokens, ahead)
        if extra:
            return aiohttp.ClientTimeout(total=self.attempt_timeout_s(max_tokens) + extra)
        t = self._timeouts.get(max_tokens)
        if t is None:
            t = self._timeouts[max_tokens] = aiohttp.ClientTimeout(
                total=self.attempt_timeout_s(max_tokens)
            )
        return t

    def endpoint_stats(self) -> list[dict[str, Any]]:
        """Per replica: requests in flight and sent, consecutive failures, health."""
        return self._pool.snapshot()

    def session(self) -> aiohttp.ClientSession:
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
        self.patience.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post_json(
        self,
        path: str,
        body: dict[str, Any],
        est_tokens: int,
        check: Callable[[dict[str, Any]], str | None] | None = None,
    ) -> tuple[dict[str, Any], float]:
        """The decoded reply to ``body`` POSTed to ``path`` under a replica's base URL, and
        the latency of the successful attempt (queueing excluded).

        ``check`` looks at a decoded 200 reply and names what makes it unusable (or None):
        such a reply is retried like a malformed one, so it never reaches the call cache.
        """
        payload = orjson.dumps(body)
        cfg = self.config
        max_tokens = body.get("max_tokens")
        patience = self.patience
        call = patience.enter()
        try:
            for attempt in range(cfg.max_retries + 1):
                try:
                    return await self._attempt(path, payload, est_tokens, max_tokens, check)
                except _Retryable as e:
                    patience.last_failure = str(e)
                    if attempt == cfg.max_retries:
                        raise TeacherUnavailableError(
                            self.scrub(
                                f"teacher at {self.where()} kept failing after {attempt + 1} "
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
            error = patience.gave_up_on(call)
            if error is not None:
                raise error from None
            raise
        finally:
            patience.leave(call)

    async def _attempt(
        self,
        path: str,
        payload: bytes,
        est_tokens: int,
        max_tokens: Any,
        check: Callable[[dict[str, Any]], str | None] | None = None,
    ) -> tuple[dict[str, Any], float]:
        if self._rpm is not None:
            await self._rpm.take(1)
        if self._tpm is not None:
            await self._tpm.take(est_tokens)
        session = self.session()
        limiter, stats = self._limiter, self.stats
        epoch = await limiter.acquire()
        # the requests ahead of this one in a one-at-a-time server's queue: ours in flight
        timeout = self._client_timeout(max_tokens, limiter.in_flight - 1)
        pool = self._pool
        ep = pool.acquire()
        stats.requests += 1
        stats.in_flight += 1
        t0 = time.perf_counter()
        try:
            async with session.post(
                ep.url(path), data=payload, headers=self.headers, timeout=timeout
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
            self.patience.answered()
            usage = data.get("usage") or {}
            if self._adapts:
                tokens = int(usage.get("completion_tokens") or 0)  # 0: a server without usage
                cost = latency / (tokens + self.LATENCY_TOKEN_OFFSET)
                limiter.on_success(epoch, cost)
                stats.concurrency_limit = limiter.limit
                stats.latency_backoffs = limiter.latency_decreases
            stats.completed += 1
            stats.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            stats.completion_tokens += int(usage.get("completion_tokens") or 0)
            if self._tpm is not None and usage:
                self._tpm.refund(est_tokens - int(usage.get("total_tokens") or est_tokens))
            return data, latency
        pool.release(ep, ok=not replica_failed, retry_after=retry_after if replica_failed else None)
        if status == 429:
            stats.rate_limited += 1
            if self._adapts:
                limiter.on_overload(epoch)
                stats.concurrency_limit = limiter.limit
        if status in _RETRYABLE_4XX or status >= 500:
            message = self.scrub(server_message(raw))
            raise _Retryable(f"HTTP {status} ({ep.base}): {message}", retry_after)
        raise self._fatal(status, raw, ep)

    def _fatal(self, status: int, raw: bytes, ep: Endpoint) -> TeacherError:
        msg = self.scrub(server_message(raw))
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
                f"model {self.config.model!r} not found at {base} (HTTP 404: {msg}); "
                "check teacher.model and teacher.base_url"
            )
        else:
            text = (
                f"teacher at {base} rejected the request (HTTP {status}: {msg}); "
                "retrying cannot fix this"
            )
        return TeacherError(self.scrub(text))
