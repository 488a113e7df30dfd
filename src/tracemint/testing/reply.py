"""What a fake model returns for one choice, and the word count that stands in for tokens.

Shared by ``fakemodel``, ``simulated`` and the server (which sums ``completion_tokens`` into
``usage``), so it lives apart from any one model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"\S+")


def count_words(text: str) -> int:
    """Whitespace word count: the test server's stand-in for a tokenizer."""
    return len(text.split())


def cut_words(text: str, n_words: int) -> str:
    """The first ``n_words`` words of ``text``, keeping the original whitespace between them."""
    if n_words <= 0:
        return ""
    for i, m in enumerate(_WORD.finditer(text), 1):
        if i == n_words:
            return text[: m.end()]
    return text


@dataclass(frozen=True)
class FakeReply:
    """One generated choice: visible text, optional separate thought, and why it stopped."""

    text: str
    reasoning: str | None
    finish_reason: str
    completion_tokens: int
