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

The pieces: ``server_options`` (flags), ``server_state`` (``/stats`` counters and the
seeded fault draws), ``server_wire`` (OpenAI request checks, error and reply shapes), the
models in ``fakemodel`` and ``simulated``; this module is the aiohttp app that injects the
latency and faults, plus ``spawn``/``stop`` for tests and benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tracemint.testing.answerbook import AnswerBook
from tracemint.testing.fakemodel import FakeModel
from tracemint.testing.server_options import (
    BLANK_KINDS,
    DEFAULT_MODEL,
    FAULT_KINDS,
    ServerOptions,
    parse_args,
)
from tracemint.testing.server_state import ServerState, request_fingerprint
from tracemint.testing.server_wire import Reject, error_response, respond, validate_request
from tracemint.testing.simulated import SimulatedServerModel

__all__ = [
    "BLANK_KINDS",
    "DEFAULT_MODEL",
    "FAULT_KINDS",
    "PROPS_CHAT_TEMPLATE",
    "STATE",
    "RunningServer",
    "ServerOptions",
    "ServerState",
    "build_app",
    "main",
    "parse_args",
    "request_fingerprint",
    "running_server",
    "serve",
    "spawn",
    "stop",
]


#: where a built app keeps its ``ServerState`` (``app[STATE]``)
STATE: web.AppKey[ServerState] = web.AppKey("tracemint_state", ServerState)


async def _generate(request: web.Request, chat: bool) -> web.StreamResponse:
    """One generation request, in the order a real server fails: auth, body, overload, an
    injected fault, a hang, a queue slot, latency; then the reply (blanked or cut short)."""
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
            raise Reject(401, "Incorrect API key provided", "invalid_api_key")
        try:
            body = json.loads(await request.read())
        except ValueError:
            raise Reject(400, "request body is not valid JSON", "invalid_json") from None
        validate_request(body, opts, chat)
        if state.first_request_at is None:
            state.first_request_at = time.time()
        key = request_fingerprint(body)
        state.by_key_received[key] += 1
        if state.by_key_received[key] > 1:
            state.repeated_received += 1
        if opts.max_concurrency is not None and state.in_flight > opts.max_concurrency:
            state.faults["overload"] += 1
            return error_response(
                429,
                "too many concurrent requests",
                "rate_limit_exceeded",
                {"Retry-After": f"{opts.retry_after_s:g}"},
            )
        fault = state.draw_fault()
        if fault == "429":
            return error_response(
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
            return error_response(500, "internal server error (injected)", "server_error")
        if fault == "timeout":
            await asyncio.sleep(opts.timeout_hold_s)
            return error_response(504, "gateway timeout (injected)", "timeout")
        if fault == "disconnect":
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # nothing more can be written; drop the handler
        reply = respond(state, body, chat, rid)
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
    except Reject as e:
        state.rejected[str(e.status)] += 1
        return error_response(e.status, str(e), e.code)
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
        return error_response(404, "File Not Found", "not_found")
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
