"""The shipped OpenAI-compatible test server: deterministic replies, latency and faults.

Integration tests and benchmarks talk to this over 127.0.0.1 instead of mocking the HTTP
client, so the retry, rate-limit and resume code is exercised on real sockets. Run it with::

    python -m tracemint.testing.server --port 0 --latency 0.2 --fault-rate 0.1

It prints ``listening on http://HOST:PORT`` once ready. ``GET /stats`` reports what it saw,
including ``by_key``: successful responses per request fingerprint (see
``request_fingerprint``), which is how tests prove a resumed run repeated no finished call.
``repeated`` counts the same without shipping every key (``GET /stats?keys=0``): ``ok`` is
successful responses to a fingerprint that had already been answered, ``received`` valid
requests whose fingerprint had already arrived. ``first_request_at`` (first valid request;
probes such as an empty-messages rate-limit check are left out) and ``last_ok_at`` (Unix
seconds) bound the window in which a client was generating, so a benchmark can leave client
start-up and shutdown out.

Two flags play a slow or a dead server: ``--slots N`` answers N requests at a time and queues
the rest (a llama.cpp server on a CPU with ``-np N``); ``--hang-after N`` answers N requests
and then holds every further one without a byte in reply (a server wedged mid-run, for the
client's ``give_up_after_s``). ``--blank-replies N`` answers the first N chat requests of each
fingerprint with ``content: null`` (or ``""`` with ``--blank-kind empty``): a server that
lost a generation, which a client must retry rather than cache.

Continuing a partial assistant message: the chat endpoint continues a trailing assistant
message (vLLM-like) unless ``--no-prefill`` (it then opens a new turn, as hosted APIs and
llama.cpp's chat endpoint do). ``/v1/completions`` continues a ChatML prompt left open in an
assistant turn with the very reply the chat endpoint gives that prefill (then runs on into an
invented next turn unless ``<|im_end|>`` is a stop sequence, as a raw completion does), and
``--props`` serves llama.cpp's ``GET /props`` with the ChatML ``chat_template``.

Why aiohttp.web with no middleware or access log: the benchmark needs > 1,300 requests/s at
200 ms latency on two cores shared with the client, so per-request work is kept to parsing,
one hash and one ``json.dumps``; latency is an ``asyncio.sleep`` and costs nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tracemint.testing.fakemodel import (
    HINT_MODES,
    REASONING_MODES,
    AnswerBook,
    FakeModel,
    count_words,
)
from tracemint.testing.simulated import SimulatedServerModel

FAULT_KINDS = ("429", "500", "timeout", "badjson", "disconnect")
DEFAULT_MODEL = "tracemint-test"
BLANK_KINDS = ("null", "empty")


@dataclass
class ServerOptions:
    """How the test server behaves; every CLI flag maps to one field."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port
    latency: float = 0.0  # seconds slept per request before answering
    fault_rate: float = 0.0  # chance a request gets a fault, kind drawn uniformly from faults
    faults: tuple[str, ...] = ("429", "500", "timeout", "badjson")
    # JSONL of {"question", "answer"} the fake model may know; a row may add
    # "reasoning_mode" / "hint_mode" to override the two settings below on that question,
    # or "program": the solution() it writes for that question when asked for a program
    answers: str | None = None
    accuracy: float = 1.0  # chance a known answer is given correctly
    think: bool = False  # prepend a <think>...</think> block to replies
    reasoning_field: bool = False  # return the thought in message.reasoning_content instead
    seed: int = 0  # seeds the fault draws
    max_concurrency: int | None = None  # answer 429 when more requests than this are in flight
    slots: int | None = None  # work on this many requests at a time; the rest queue (llama.cpp)
    hang_after: int | None = None  # after this many OK answers, hold every request forever
    # the first N chat replies to each request fingerprint come back with no answer:
    # ``content: null`` (blank_kind "null") or ``content: ""`` ("empty"); not counted as OK
    blank_replies: int = 0
    blank_kind: str = "null"
    require_key: str | None = None  # answer 401 unless "Authorization: Bearer <key>"
    models: tuple[str, ...] = ()  # served model names; empty accepts any name
    retry_after_s: float = 0.05  # Retry-After sent with 429s
    timeout_hold_s: float = 30.0  # how long a "timeout" fault holds the request
    # what a given partial reasoning (assistant prefill, raw prompt) does to the answer:
    # none (ignored, as always), faithful (answer computed from it), posthoc (ignored by
    # design: the question-alone answer); see FakeModel. Ground truth for faithfulness probes.
    reasoning_mode: str = "none"
    # what "I think the answer is X" in the last user message does: ignore (as always),
    # follow (answer X silently), follow-mention (answer X, saying "As you suggested").
    hint_mode: str = "ignore"
    # continue a trailing assistant message (vLLM, llama.cpp, ...); False ignores it and
    # starts a new message, as hosted chat APIs and llama.cpp's chat endpoint do
    prefill: bool = True
    # serve llama.cpp's GET /props with a ChatML chat_template (for clients that render the
    # template themselves and continue a ChatML prompt on /v1/completions)
    props: bool = False
    # > 0: play the simulated teacher of testing/simulated.py (its first N problems, drawn
    # from ``seed``, each with a hidden faithful/posthoc label) instead of the fake model
    simulated: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.faults) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")
        if not 0 <= self.fault_rate <= 1 or not 0 <= self.accuracy <= 1:
            raise ValueError("fault_rate and accuracy must be between 0 and 1")
        if self.fault_rate and not self.faults:
            raise ValueError("fault_rate > 0 needs at least one fault kind")
        if self.reasoning_mode not in REASONING_MODES:
            raise ValueError(
                f"unknown reasoning mode {self.reasoning_mode!r}; known: {REASONING_MODES}"
            )
        if self.blank_kind not in BLANK_KINDS:
            raise ValueError(f"unknown blank kind {self.blank_kind!r}; known: {BLANK_KINDS}")
        if self.hint_mode not in HINT_MODES:
            raise ValueError(f"unknown hint mode {self.hint_mode!r}; known: {HINT_MODES}")


def request_fingerprint(body: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the fields that decide a reply.

    Canonical: keys sorted, no whitespace, UTF-8, absent fields as null, over exactly
    ``model, messages, prompt, seed, temperature, max_tokens, top_p``.
    """
    keyed = {
        k: body.get(k)
        for k in ("model", "messages", "prompt", "seed", "temperature", "max_tokens", "top_p")
    }
    canon = json.dumps(keyed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canon.encode()).hexdigest()


@dataclass
class ServerState:
    """Counters behind ``GET /stats``; one per app."""

    options: ServerOptions
    model: FakeModel | SimulatedServerModel
    rng: random.Random = field(init=False)
    requests: int = 0
    ok: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    by_key: Counter[str] = field(default_factory=Counter)
    by_key_received: Counter[str] = field(default_factory=Counter)
    blanked: Counter[str] = field(default_factory=Counter)  # blank replies per fingerprint
    repeated_ok: int = 0
    repeated_received: int = 0
    first_request_at: float | None = None
    last_ok_at: float | None = None
    slots: asyncio.Semaphore | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.options.seed)
        if self.options.slots is not None:
            self.slots = asyncio.Semaphore(self.options.slots)

    def reset(self) -> None:
        """Forget everything seen; the fault sequence restarts from the seed."""
        self.rng = random.Random(self.options.seed)
        self.requests = self.ok = self.repeated_ok = self.repeated_received = 0
        self.first_request_at = self.last_ok_at = None
        self.max_in_flight = self.in_flight
        for c in (self.faults, self.rejected, self.by_key, self.by_key_received, self.blanked):
            c.clear()

    def snapshot(self, keys: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "requests": self.requests,
            "ok": self.ok,
            "faults": dict(self.faults),
            "rejected": dict(self.rejected),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "repeated": {"ok": self.repeated_ok, "received": self.repeated_received},
            "first_request_at": self.first_request_at,
            "last_ok_at": self.last_ok_at,
        }
        if keys:
            out["by_key"] = dict(self.by_key)
            out["by_key_received"] = dict(self.by_key_received)
        return out


class _Reject(Exception):
    """An OpenAI-style error answer (400/401/404) for a request that can never succeed."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


STATE: web.AppKey[ServerState] = web.AppKey("tracemint_state", ServerState)


def _error(
    status: int, message: str, code: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
    return web.json_response(body, status=status, headers=headers)


def _text_of(content: Any) -> str:
    """Message content is a string or a list of ``{"type": "text", "text": ...}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    raise _Reject(400, "message content must be a string or a list of parts", "invalid_content")


def _validate(body: Any, opts: ServerOptions, chat: bool) -> None:
    if not isinstance(body, dict):
        raise _Reject(400, "request body must be a JSON object", "invalid_body")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _Reject(400, "'model' is required", "missing_model")
    if opts.models and model not in opts.models:
        raise _Reject(404, f"The model `{model}` does not exist", "model_not_found")
    if chat:
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs or not all(isinstance(m, dict) for m in msgs):
            raise _Reject(400, "'messages' must be a non-empty list of objects", "bad_messages")
    elif not isinstance(body.get("prompt"), str):
        raise _Reject(400, "'prompt' must be a string", "bad_prompt")
    mt = body.get("max_tokens")
    if mt is not None and (not isinstance(mt, int) or mt < 1):
        raise _Reject(400, "'max_tokens' must be a positive integer", "bad_max_tokens")
    t = body.get("temperature", 1.0)
    if not isinstance(t, (int, float)) or not 0 <= t <= 2:
        raise _Reject(400, "'temperature' must be between 0 and 2", "bad_temperature")
    n = body.get("n", 1)
    if not isinstance(n, int) or not 1 <= n <= 128:
        raise _Reject(400, "'n' must be an integer from 1 to 128", "bad_n")
    seed = body.get("seed")
    if seed is not None and not isinstance(seed, int):
        raise _Reject(400, "'seed' must be an integer", "bad_seed")


def _respond(state: ServerState, body: dict[str, Any], chat: bool, rid: int) -> dict[str, Any]:
    """Generate every choice and wrap them in the OpenAI response shape."""
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else list(stop)
    temperature = float(body.get("temperature", 1.0))
    common: dict[str, Any] = {
        "seed": body.get("seed"),
        "temperature": temperature,
        "max_tokens": body.get("max_tokens"),
        "stop": stop,
    }
    choices: list[dict[str, Any]] = []
    completion_tokens = 0
    if chat:
        msgs = body["messages"]
        texts = [_text_of(m.get("content", "")) for m in msgs]
        prompt = "\x1e".join(f"{m.get('role')}\x1f{t}" for m, t in zip(msgs, texts, strict=True))
        users = [t for m, t in zip(msgs, texts, strict=True) if m.get("role") == "user"]
        question = users[-1] if users else texts[-1]
        # A trailing assistant message is a prefill to continue (only the reasoning modes
        # look at it; the default reply ignores it, as before).
        prefill = texts[-1] if msgs[-1].get("role") == "assistant" else None
        if not state.options.prefill:
            prefill = None
        prompt_tokens = sum(count_words(t) for t in texts)
    else:
        prompt = body["prompt"]
        prompt_tokens = count_words(prompt)
    for i in range(body.get("n", 1)):
        if chat:
            r = state.model.chat(prompt, question, sample=i, prefill=prefill, **common)
            message: dict[str, Any] = {"role": "assistant", "content": r.text}
            if r.reasoning is not None:
                message["reasoning_content"] = r.reasoning
            choices.append(
                {"index": i, "message": message, "finish_reason": r.finish_reason, "logprobs": None}
            )
        else:
            r = state.model.complete(prompt, sample=i, **common)
            choices.append(
                {"index": i, "text": r.text, "finish_reason": r.finish_reason, "logprobs": None}
            )
        completion_tokens += r.completion_tokens
    return {
        "id": f"{'chatcmpl' if chat else 'cmpl'}-{rid}",
        "object": "chat.completion" if chat else "text_completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


async def _generate(request: web.Request, chat: bool) -> web.StreamResponse:
    state = request.app[STATE]
    opts = state.options
    state.requests += 1
    rid = state.requests
    state.in_flight += 1
    state.max_in_flight = max(state.max_in_flight, state.in_flight)
    slot = None
    try:
        if opts.require_key is not None and (
            request.headers.get("Authorization") != f"Bearer {opts.require_key}"
        ):
            raise _Reject(401, "Incorrect API key provided", "invalid_api_key")
        try:
            body = json.loads(await request.read())
        except ValueError:
            raise _Reject(400, "request body is not valid JSON", "invalid_json") from None
        _validate(body, opts, chat)
        if state.first_request_at is None:
            state.first_request_at = time.time()
        key = request_fingerprint(body)
        state.by_key_received[key] += 1
        if state.by_key_received[key] > 1:
            state.repeated_received += 1
        if opts.max_concurrency is not None and state.in_flight > opts.max_concurrency:
            state.faults["overload"] += 1
            return _error(
                429,
                "too many concurrent requests",
                "rate_limit_exceeded",
                {"Retry-After": f"{opts.retry_after_s:g}"},
            )
        fault = None
        if opts.fault_rate and state.rng.random() < opts.fault_rate:
            fault = opts.faults[state.rng.randrange(len(opts.faults))]
            state.faults[fault] += 1
        if fault == "429":
            return _error(
                429,
                "rate limit reached (injected)",
                "rate_limit_exceeded",
                {"Retry-After": f"{opts.retry_after_s:g}"},
            )
        if opts.hang_after is not None and state.ok >= opts.hang_after:
            state.faults["hang"] += 1
            await asyncio.get_running_loop().create_future()  # until the client goes away
        if state.slots is not None:
            await state.slots.acquire()
            slot = state.slots  # held: released below, also if the client goes away
        if opts.latency:
            await asyncio.sleep(opts.latency)
        if fault == "500":
            return _error(500, "internal server error (injected)", "server_error")
        if fault == "timeout":
            await asyncio.sleep(opts.timeout_hold_s)
            return _error(504, "gateway timeout (injected)", "timeout")
        if fault == "disconnect":
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # nothing more can be written; drop the handler
        reply = _respond(state, body, chat, rid)
        if chat and state.blanked[key] < opts.blank_replies:
            state.blanked[key] += 1
            state.faults["blank"] += 1
            for choice in reply["choices"]:
                choice["message"]["content"] = None if opts.blank_kind == "null" else ""
                choice["message"].pop("reasoning_content", None)
            return web.Response(body=json.dumps(reply).encode(), content_type="application/json")
        payload = json.dumps(reply).encode()
        if fault == "badjson":
            payload = payload[: len(payload) // 2]
        else:
            state.ok += 1
            state.by_key[key] += 1
            if state.by_key[key] > 1:
                state.repeated_ok += 1
            state.last_ok_at = time.time()
        return web.Response(body=payload, content_type="application/json")
    except _Reject as e:
        state.rejected[str(e.status)] += 1
        return _error(e.status, str(e), e.code)
    finally:
        state.in_flight -= 1
        if slot is not None:
            slot.release()


async def _chat(request: web.Request) -> web.StreamResponse:
    return await _generate(request, chat=True)


async def _completions(request: web.Request) -> web.StreamResponse:
    return await _generate(request, chat=False)


#: the chat template ``GET /props`` reports (``--props``): ChatML, which ``FakeModel.complete``
#: reads back, as SmolLM2's and Qwen's llama.cpp servers report theirs
PROPS_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


async def _props(request: web.Request) -> web.Response:
    """llama.cpp's ``GET /props`` (the fields a client reads), or 404 without ``--props``."""
    state = request.app[STATE]
    if not state.options.props:
        return _error(404, "File Not Found", "not_found")
    names = state.options.models or (DEFAULT_MODEL,)
    return web.json_response(
        {
            "chat_template": PROPS_CHAT_TEMPLATE,
            "bos_token": "<|im_start|>",
            "eos_token": "<|im_end|>",
            "model_alias": names[0],
            "total_slots": state.options.slots or 1,
        }
    )


async def _models(request: web.Request) -> web.Response:
    names = request.app[STATE].options.models or (DEFAULT_MODEL,)
    data = [{"id": m, "object": "model", "owned_by": "tracemint"} for m in names]
    return web.json_response({"object": "list", "data": data})


async def _stats(request: web.Request) -> web.Response:
    keys = request.query.get("keys", "1") not in ("0", "false")
    return web.json_response(request.app[STATE].snapshot(keys=keys))


async def _reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.json_response({"reset": True})


def build_app(options: ServerOptions | None = None) -> web.Application:
    """The aiohttp application; its ``ServerState`` is ``app[STATE]``."""
    options = options or ServerOptions()
    book = AnswerBook.from_jsonl(options.answers) if options.answers else AnswerBook()
    model: FakeModel | SimulatedServerModel = FakeModel(
        book,
        options.accuracy,
        options.think,
        options.reasoning_field,
        options.reasoning_mode,
        hint_mode=options.hint_mode,
    )
    if options.simulated:
        model = SimulatedServerModel(options.seed, options.simulated)
    app = web.Application(client_max_size=64 * 1024**2)
    app[STATE] = ServerState(options, model)
    app.router.add_get("/props", _props)  # at the root, as llama.cpp serves it
    for prefix in ("", "/v1"):
        app.router.add_post(f"{prefix}/chat/completions", _chat)
        app.router.add_post(f"{prefix}/completions", _completions)
        app.router.add_get(f"{prefix}/models", _models)
        app.router.add_get(f"{prefix}/stats", _stats)
        app.router.add_post(f"{prefix}/reset", _reset)
    return app


@dataclass
class RunningServer:
    """A started server: ``url`` is the root (``/stats`` lives there), ``base_url`` adds /v1."""

    url: str
    app: web.Application

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def stats(self, keys: bool = True) -> dict[str, Any]:
        return self.app[STATE].snapshot(keys=keys)


@contextlib.asynccontextmanager
async def running_server(options: ServerOptions | None = None) -> AsyncIterator[RunningServer]:
    """Serve ``build_app(options)`` in the current event loop until the block exits."""
    options = options or ServerOptions()
    app = build_app(options)
    # handler_cancellation: a client that gave up must not be counted as an OK response.
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, options.host, options.port, backlog=4096)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        yield RunningServer(f"http://{host}:{port}", app)
    finally:
        await runner.cleanup()


def parse_args(argv: Sequence[str] | None) -> tuple[ServerOptions, bool]:
    """CLI flags -> ``ServerOptions`` (and whether to use uvloop)."""
    p = argparse.ArgumentParser(
        prog="python -m tracemint.testing.server", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--latency", type=float, default=0.0)
    p.add_argument("--fault-rate", type=float, default=0.0)
    p.add_argument(
        "--faults",
        default="429,500,timeout,badjson",
        help=f"comma-separated, from {','.join(FAULT_KINDS)}",
    )
    p.add_argument(
        "--answers",
        default=None,
        help="JSONL with question and answer fields (optional per-question reasoning_mode, "
        "hint_mode)",
    )
    p.add_argument("--accuracy", type=float, default=1.0)
    p.add_argument("--think", action="store_true")
    p.add_argument("--reasoning-field", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-concurrency", type=int, default=None)
    p.add_argument(
        "--slots", type=int, default=None, help="answer this many at a time, queue the rest"
    )
    p.add_argument(
        "--hang-after",
        type=int,
        default=None,
        help="after this many OK answers, hold every request without answering",
    )
    p.add_argument(
        "--blank-replies",
        type=int,
        default=0,
        help="answer the first N chat requests of each fingerprint with no content",
    )
    p.add_argument("--blank-kind", default="null", choices=BLANK_KINDS, help='content null or ""')
    p.add_argument("--require-key", default=None)
    p.add_argument("--models", default="", help="comma-separated served models; empty: any")
    p.add_argument("--retry-after", type=float, default=0.05)
    p.add_argument("--timeout-hold", type=float, default=30.0)
    p.add_argument(
        "--reasoning-mode",
        default="none",
        choices=REASONING_MODES,
        help="how a given partial reasoning changes the answer (faithfulness probes)",
    )
    p.add_argument(
        "--hint-mode",
        default="ignore",
        choices=HINT_MODES,
        help="what a biasing hint 'I think the answer is X' does (hint probe)",
    )
    p.add_argument(
        "--no-prefill",
        action="store_true",
        help="ignore a trailing assistant message and start a new one (like hosted chat APIs)",
    )
    p.add_argument(
        "--simulated",
        type=int,
        default=0,
        metavar="N",
        help="play the simulated teacher (testing/simulated.py) on its first N problems",
    )
    p.add_argument(
        "--props",
        action="store_true",
        help="serve GET /props with a ChatML chat_template (as llama.cpp does)",
    )
    p.add_argument("--no-uvloop", action="store_true", help="use the stdlib event loop")
    a = p.parse_args(argv)
    opts = ServerOptions(
        host=a.host,
        port=a.port,
        latency=a.latency,
        fault_rate=a.fault_rate,
        faults=tuple(f for f in a.faults.split(",") if f),
        answers=a.answers,
        accuracy=a.accuracy,
        think=a.think,
        reasoning_field=a.reasoning_field,
        seed=a.seed,
        max_concurrency=a.max_concurrency,
        slots=a.slots,
        hang_after=a.hang_after,
        blank_replies=a.blank_replies,
        blank_kind=a.blank_kind,
        require_key=a.require_key,
        models=tuple(m for m in a.models.split(",") if m),
        retry_after_s=a.retry_after,
        timeout_hold_s=a.timeout_hold,
        reasoning_mode=a.reasoning_mode,
        hint_mode=a.hint_mode,
        prefill=not a.no_prefill,
        props=a.props,
        simulated=a.simulated,
    )
    return opts, not a.no_uvloop


async def serve(options: ServerOptions) -> None:
    """Run until SIGINT/SIGTERM, announcing the address on stdout once ready."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)
    async with running_server(options) as server:
        print(f"listening on {server.url}", flush=True)
        await stop.wait()


def spawn(argv: Sequence[str], env: dict[str, str] | None = None) -> tuple[Any, str]:
    """Start the server in a subprocess with CLI flags ``argv``; wait until it listens.

    Returns ``(process, root_url)`` (no ``/v1``). Used by the tests and the benchmarks, which
    want the server's CPU out of the client's process.
    """
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "tracemint.testing.server", "--port", "0", *argv]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline().strip() if proc.stdout is not None else ""
    if not line.startswith("listening on "):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"test server failed to start: {line!r} (exit {proc.poll()})")
    return proc, line.removeprefix("listening on ")


def stop(proc: Any) -> None:
    """Stop a server that ``spawn`` started: SIGTERM, SIGKILL after 10 s, pipe closed."""
    import subprocess

    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        options, want_uvloop = parse_args(argv)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if want_uvloop:
        try:
            import uvloop  # optional: measured ~10% less server CPU per request
        except ImportError:
            want_uvloop = False
    if want_uvloop:
        uvloop.run(serve(options))
    else:
        asyncio.run(serve(options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
