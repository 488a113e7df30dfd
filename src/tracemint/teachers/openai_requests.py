"""The ``openai`` teacher's request bodies, one way per prefill style.

A fresh reply, and a prefill under ``continue_final_message`` (vLLM, SGLang) or ``plain``
(Ollama), go to the chat endpoint, differing only in how the trailing assistant message is
flagged. Under ``completions`` (llama.cpp) the conversation is rendered here with the
model's chat template and sent as raw text to ``/completions``; the template is the
configured one or, when none is, the one the server reports (``server_template``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson

from tracemint.errors import ConfigError, TeacherError, TeacherUnavailableError
from tracemint.teachers.base import GenerationRequest
from tracemint.teachers.chat_templates import BUILTIN, ChatTemplate, TemplateError
from tracemint.teachers.openai_client import OpenAIClient
from tracemint.teachers.openai_config import OpenAITeacherConfig


def chat_body(req: GenerationRequest, config: OpenAITeacherConfig) -> dict[str, Any]:
    """The ``/chat/completions`` body: a fresh reply, or a prefill in the chat styles."""
    body: dict[str, Any] = {
        "model": config.model,
        "messages": list(req.messages),
        "max_tokens": req.max_tokens,
        "temperature": req.temperature,
        "top_p": req.top_p,
    }
    if req.stop:
        body["stop"] = list(req.stop)
    if config.send_seed and req.seed is not None:
        body["seed"] = req.seed
    if config.extra_body:
        body.update(config.extra_body)
    if req.prefill is not None:
        # A trailing assistant message is continued by llama.cpp, Ollama and the test
        # server as is; vLLM and SGLang also need to be told not to open a new turn.
        body["messages"] = [*body["messages"], {"role": "assistant", "content": req.prefill}]
        if config.prefill_style == "continue_final_message":
            body["continue_final_message"] = True
            body["add_generation_prompt"] = False
    return body


def completions_body(
    req: GenerationRequest, template: ChatTemplate, config: OpenAITeacherConfig
) -> tuple[dict[str, Any], str]:
    """The ``/completions`` body for a prefilled request, and the prompt rendered into it
    (what the token estimate counts): the rendered conversation ends in the unterminated
    assistant message, and the model simply goes on."""
    try:
        prompt = template.render_prefill(req.messages, req.prefill or "")
    except TemplateError as e:
        raise TeacherError(str(e)) from None
    stop = list(req.stop)
    if template.end_of_turn and template.end_of_turn not in stop:
        stop.append(template.end_of_turn)  # the model's turn ends there, as in a chat
    body: dict[str, Any] = {
        "model": config.model,
        "prompt": prompt,
        "max_tokens": req.max_tokens,
        "temperature": req.temperature,
        "top_p": req.top_p,
        "stop": stop,
    }
    if config.send_seed and req.seed is not None:
        body["seed"] = req.seed
    if config.extra_body:
        body.update(config.extra_body)
    return body, prompt


async def server_template(client: OpenAIClient) -> ChatTemplate:
    """The chat template the server reports (llama.cpp's ``GET /props``), compiled; a
    ``ConfigError`` that says how to name one when it reports none."""
    root = client.base.removesuffix("/v1")
    url = f"{root}/props"
    names = ", ".join(f'"{n}"' for n in BUILTIN)
    fix = (
        f"set [teacher] chat_template to the model's template: {names} "
        '("chatml" for SmolLM2 and Qwen) or its Jinja text'
    )
    try:
        async with client.session().get(
            url, headers=client.headers, timeout=aiohttp.ClientTimeout(total=30)
        ) as resp:
            status, raw = resp.status, await resp.read()
    except (aiohttp.ClientError, asyncio.TimeoutError) as e:
        raise TeacherUnavailableError(
            client.scrub(f"could not read the chat template from {url}: {type(e).__name__} {e}")
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
            client.scrub(
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
        raise ConfigError(f"the chat template the server at {root} reports: {e}; {fix}") from None
