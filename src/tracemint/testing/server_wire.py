"""The OpenAI wire format as the test server speaks it: request checks, errors, replies.

A request that can never succeed gets the error body hosted APIs send (``Reject``), so the
client's handling of 400/401/404 is tested against the real shapes; a valid one is answered
by the server's model in the ``chat.completion`` / ``text_completion`` shape.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from tracemint.testing.reply import count_words
from tracemint.testing.server_options import ServerOptions
from tracemint.testing.server_state import ServerState


class Reject(Exception):
    """An OpenAI-style error answer (400/401/404) for a request that can never succeed."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def error_response(
    status: int, message: str, code: str, headers: dict[str, str] | None = None
) -> web.Response:
    """An error in the OpenAI shape (``{"error": {"message", "type", "code"}}``)."""
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
    return web.json_response(body, status=status, headers=headers)


def _text_of(content: Any) -> str:
    """Message content is a string or a list of ``{"type": "text", "text": ...}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    raise Reject(400, "message content must be a string or a list of parts", "invalid_content")


def validate_request(body: Any, opts: ServerOptions, chat: bool) -> None:
    """Raise ``Reject`` for a request an OpenAI-compatible server would refuse outright."""
    if not isinstance(body, dict):
        raise Reject(400, "request body must be a JSON object", "invalid_body")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise Reject(400, "'model' is required", "missing_model")
    if opts.models and model not in opts.models:
        raise Reject(404, f"The model `{model}` does not exist", "model_not_found")
    if chat:
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs or not all(isinstance(m, dict) for m in msgs):
            raise Reject(400, "'messages' must be a non-empty list of objects", "bad_messages")
    elif not isinstance(body.get("prompt"), str):
        raise Reject(400, "'prompt' must be a string", "bad_prompt")
    mt = body.get("max_tokens")
    if mt is not None and (not isinstance(mt, int) or mt < 1):
        raise Reject(400, "'max_tokens' must be a positive integer", "bad_max_tokens")
    t = body.get("temperature", 1.0)
    if not isinstance(t, (int, float)) or not 0 <= t <= 2:
        raise Reject(400, "'temperature' must be between 0 and 2", "bad_temperature")
    n = body.get("n", 1)
    if not isinstance(n, int) or not 1 <= n <= 128:
        raise Reject(400, "'n' must be an integer from 1 to 128", "bad_n")
    seed = body.get("seed")
    if seed is not None and not isinstance(seed, int):
        raise Reject(400, "'seed' must be an integer", "bad_seed")


def respond(state: ServerState, body: dict[str, Any], chat: bool, rid: int) -> dict[str, Any]:
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
