"""The ``openai`` teacher's settings: what a recipe's ``[teacher]`` table may say.

Apart from the teacher because the HTTP client, the request builders and the teacher all
read them, and whoever writes a recipe wants every setting and its default in one place.
The automatic per-attempt timeout is here too: ``timeout_s`` unset means "scaled with the
request", and this is the scale.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tracemint.teachers.chat_templates import ChatTemplate, TemplateError

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
    concurrency: int = Field(64, ge=1)  # max requests in flight (see adapt_concurrency)
    # what lowers the requests in flight below ``concurrency`` (and grows them back):
    # "latency" (default): 429s, and latency that climbs while more requests are in flight (a
    # server that queues them, as llama.cpp does), starting from 8 in flight and doubling
    # within a round trip while latency holds; "429": only 429s, starting at ``concurrency``
    # (the behaviour before latency counted); "off": always ``concurrency`` (pinned)
    adapt_concurrency: Literal["latency", "429", "off"] = "latency"
    requests_per_minute: float | None = Field(None, gt=0)  # None: unpaced
    tokens_per_minute: float | None = Field(None, gt=0)  # est. max_tokens + prompt chars / 4
    # per attempt, whole request (time queued at the server included); None: scaled with the
    # request's max_tokens, 60 s + max_tokens / 5 (a CPU server at 5 tokens/s; 162 s at 512
    # tokens, see auto_timeout_s), plus as much again per request of ours still in flight when
    # it is sent (less once answers show the server is faster: queue_allowance_s), since a
    # one-at-a-time server answers those first; a number: that, for every request
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
