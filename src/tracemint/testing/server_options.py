"""The test server's options: every behaviour, fault and latency, one flag each.

Apart from the aiohttp app so a test or benchmark can build and check ``ServerOptions``
(and parse the very flags ``spawn`` passes) without starting a server.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

from tracemint.testing.reasoning import HINT_MODES, REASONING_MODES

#: what ``--help`` says the server is (the first line of ``tracemint.testing.server``'s doc)
DESCRIPTION = (
    "The shipped OpenAI-compatible test server: deterministic replies, latency and faults."
)

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


def parse_args(argv: Sequence[str] | None) -> tuple[ServerOptions, bool]:
    """CLI flags -> ``ServerOptions`` (and whether to use uvloop)."""
    p = argparse.ArgumentParser(prog="python -m tracemint.testing.server", description=DESCRIPTION)
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
