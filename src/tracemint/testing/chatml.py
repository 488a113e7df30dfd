"""ChatML read back from a raw prompt, for the fake models' ``/v1/completions``.

A client that renders the chat template itself (``prefill_style = "completions"``) sends a
ChatML conversation as one raw prompt; the test server's models recognise it, so they can
continue an open assistant turn exactly as their chat endpoint continues a prefill. Shared
by ``fakemodel`` and ``simulated``, hence its own module.
"""

from __future__ import annotations

# A ChatML conversation (SmolLM2, Qwen) rendered as one raw prompt, as a client that applies
# the chat template itself sends it to /v1/completions: "<|im_start|>role\ncontent<|im_end|>"
# per turn, the last assistant turn possibly left open (a prefill to continue).
CHATML_START, CHATML_END = "<|im_start|>", "<|im_end|>"


def parse_chatml(prompt: str) -> list[tuple[str, str]] | None:
    """The turns of a ChatML prompt that ends in an open assistant turn, as (role, text),
    the open turn last; None for any other prompt (raw text, or a finished conversation)."""
    if not prompt.lstrip().startswith(CHATML_START):
        return None
    turns: list[tuple[str, str]] = []
    parts = prompt.lstrip().split(CHATML_START)[1:]
    for i, part in enumerate(parts):
        role, nl, rest = part.partition("\n")
        last = i == len(parts) - 1
        if not nl or not role.strip():
            return None
        if last:
            if CHATML_END in rest or role.strip() != "assistant":
                return None
            turns.append((role.strip(), rest))
        else:
            text, end, _ = rest.partition(CHATML_END)
            if not end:
                return None
            turns.append((role.strip(), text))
    return turns
