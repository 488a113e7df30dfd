"""Chat templates rendered client-side, for continuing an assistant message over a raw
completions endpoint (the openai teacher's ``prefill_style = "completions"``).

Why render on the client: llama.cpp's chat endpoint opens a new assistant turn after a
trailing assistant message whatever the request says, but its ``/v1/completions`` continues
any text. Given the model's own template, the conversation plus the partial assistant message
(with no end-of-turn after it) is a prompt the model continues exactly as a chat server that
honours the prefill would.

Why render the whole conversation and cut after the final message, rather than append the
prefill to the generation prompt: a template may render an assistant message differently
from its bare generation prompt (a thinking block, a trimmed content); cutting the real
rendering right after the final content is what vLLM's ``continue_final_message`` and
``transformers``' ``apply_chat_template(continue_final_message=True)`` do too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jinja2
import jinja2.sandbox

#: Built-in templates by name: (Jinja source, end-of-sequence token). The BOS token is left
#: out of every rendering: servers add it themselves when they tokenize a prompt string, and
#: a second one measurably degrades a llama.cpp model.
BUILTIN: dict[str, tuple[str, str]] = {
    # SmolLM2, Qwen2/2.5, and most fine-tunes that ship no template of their own
    "chatml": (
        "{% for message in messages %}"
        "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
        "<|im_end|>",
    ),
    # Llama 3, 3.1, 3.2 (without the 3.1 tool preamble)
    "llama3": (
        "{% for message in messages %}"
        "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
        " + message['content'] | trim + '<|eot_id|>' }}"
        "{% endfor %}"
        "{% if add_generation_prompt %}"
        "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
        "<|eot_id|>",
    ),
    # Mistral-Instruct v0.2/v0.3: a system message joins the first user message
    "mistral": (
        "{% set ns = namespace(system='') %}"
        "{% for message in messages %}"
        "{% if message['role'] == 'system' %}{% set ns.system = message['content'] + '\n\n' %}"
        "{% elif message['role'] == 'user' %}{{ '[INST] ' + ns.system + message['content']"
        " + ' [/INST]' }}{% set ns.system = '' %}"
        "{% else %}{{ message['content'] + eos_token }}{% endif %}"
        "{% endfor %}",
        "</s>",
    ),
    # Gemma 1/2/3: no system role (it joins the first user turn); the assistant is "model"
    "gemma": (
        "{% set ns = namespace(system='') %}"
        "{% for message in messages %}"
        "{% if message['role'] == 'system' %}{% set ns.system = message['content'] + '\n\n' %}"
        "{% else %}{{ '<start_of_turn>' + ('model' if message['role'] == 'assistant'"
        " else message['role']) + '\n' + ns.system + message['content'] | trim"
        " + '<end_of_turn>\n' }}{% set ns.system = '' %}{% endif %}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}",
        "<eos>",
    ),
}

_PROBE = "TracemintEndOfTurnProbe"


class TemplateError(ValueError):
    """A template that does not compile or does not render this conversation."""


def _raise(message: str) -> None:
    raise TemplateError(message)


def _environment() -> jinja2.sandbox.ImmutableSandboxedEnvironment:
    """The settings ``transformers`` renders chat templates with, so a model's own template
    (read from the server) renders here as it does there."""
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = _strftime_now
    return env


def _strftime_now(fmt: str) -> str:
    """The date, for templates that print it (Llama 3.1's "Today Date")."""
    return dt.datetime.now().strftime(fmt)


def is_template_text(setting: str) -> bool:
    """Whether a ``chat_template`` setting is Jinja text rather than a built-in's name."""
    return "{{" in setting or "{%" in setting


def template_label(setting: str | None) -> str:
    """How a ``chat_template`` setting is named in cache keys (see ``ChatTemplate``), without
    compiling it: identities are asked for often."""
    if setting is None:
        return "server"
    if setting in BUILTIN:
        return setting
    return f"sha256:{hashlib.sha256(setting.encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class ChatTemplate:
    """A compiled chat template and what a continuation must stop at.

    ``label`` names it in cache keys: a built-in's name, ``sha256:...`` of Jinja text, or
    ``server`` for the template the server reports (the model name stands for it, as it
    stands for the weights).
    """

    source: str
    label: str
    eos_token: str = ""
    template: Any = None
    end_of_turn: str | None = None

    @classmethod
    def from_setting(cls, setting: str) -> ChatTemplate:
        """A built-in by name, or Jinja text; ``TemplateError`` names what is wrong."""
        if setting in BUILTIN:
            source, eos = BUILTIN[setting]
            return cls.compile(source, label=setting, eos_token=eos)
        if not is_template_text(setting):
            raise TemplateError(
                f"unknown chat template {setting!r}: give a built-in name "
                f"({', '.join(sorted(BUILTIN))}) or the template's Jinja text"
            )
        return cls.compile(setting, label=template_label(setting))

    @classmethod
    def compile(cls, source: str, *, label: str, eos_token: str = "") -> ChatTemplate:
        try:
            template = _environment().from_string(source)
        except jinja2.TemplateError as e:
            raise TemplateError(f"the chat template does not compile: {e}") from None
        made = cls(source, label, eos_token, template)
        object.__setattr__(made, "end_of_turn", made._find_end_of_turn())
        return made

    def _render(self, messages: Sequence[dict[str, Any]], add_generation_prompt: bool) -> str:
        try:
            return str(
                self.template.render(
                    messages=list(messages),
                    add_generation_prompt=add_generation_prompt,
                    bos_token="",
                    eos_token=self.eos_token,
                    tools=None,
                )
            )
        except (jinja2.TemplateError, TemplateError, TypeError, ValueError) as e:
            raise TemplateError(f"the chat template ({self.label}) failed to render: {e}") from e

    def _find_end_of_turn(self) -> str | None:
        """What the template writes after an assistant message's content: the token a
        continuation must stop at (a model on a raw completions endpoint may go on into an
        invented next turn). None when it writes nothing there, or cannot render a probe."""
        msgs = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": _PROBE}]
        try:
            text = self._render(msgs, add_generation_prompt=False)
        except TemplateError:
            return None
        if _PROBE not in text:
            return None
        after = text[text.rindex(_PROBE) + len(_PROBE) :].split()
        return after[0] if after else (self.eos_token or None)

    def render_prefill(self, messages: Sequence[dict[str, Any]], prefill: str) -> str:
        """The prompt that continues ``prefill`` as the assistant's reply to ``messages``:
        the conversation with the partial message last and nothing after it."""
        full = self._render([*messages, {"role": "assistant", "content": prefill}], False)
        stripped = prefill.strip()
        if stripped:
            # The exact text, or its trimmed form (templates that trim contents), found last.
            for content in (prefill, stripped):
                if content in full:
                    end = full.rindex(content) + len(content)
                    tail = "" if content is prefill else prefill[len(prefill.rstrip()) :]
                    return full[:end] + tail
        # A template that rewrites contents beyond trimming (or an empty prefill): the bare
        # generation prompt, then the prefill as given.
        return self._render(messages, add_generation_prompt=True) + prefill
