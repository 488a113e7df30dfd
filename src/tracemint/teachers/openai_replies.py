"""Reading an OpenAI-compatible server's answers: a completion, a non-answer, a wait hint.

Pure functions of what came back (no session, no state), so the retry loop can ask whether
a 200 reply is usable and the teacher turns the chat and the completions endpoint's replies
into a ``Completion`` the same way.
"""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

from tracemint.teachers.base import Completion, split_thinking

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
        return None  # a list of parts: left to to_completion as before
    text = content
    if message.get("reasoning_content") is None and message.get("reasoning") is None:
        text = split_thinking(content)[1]
    return None if text.strip() else "empty reply"


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


def to_completion(data: dict[str, Any], latency: float, model: str) -> Completion:
    """A decoded reply as a ``Completion``; ``model`` names it when the reply does not."""
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
        model=data.get("model") or model,
        latency_s=latency,
    )


def server_message(raw: bytes) -> str:
    """The ``error.message`` of an OpenAI-style error body, else the start of the body: at
    most 300 characters, not yet scrubbed of the API key (the caller knows the key)."""
    try:
        msg = json.loads(raw)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        msg = raw[:300].decode("utf-8", "replace")
    return str(msg)[:300]
