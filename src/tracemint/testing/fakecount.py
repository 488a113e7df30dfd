"""The fake model's answer to the prefill check (``probes.base.PREFILL_CHECK``).

"Count from 1 to N": with a trailing assistant message the server continues after the last
number written there, as vLLM, SGLang, llama.cpp and Ollama do; a server started with
``--no-prefill`` ignores that message and starts over from 1, as hosted chat APIs do. So the
live check has both outcomes to find.
"""

from __future__ import annotations

import re

_COUNT = re.compile(r"^Count from 1 to (\d+)")


def count_reply(question: str, prefill: str | None) -> str | None:
    """The reply to a counting request, or None for any other request."""
    m = _COUNT.match(question)
    if m is None:
        return None
    n = min(int(m.group(1)), 1000)
    done = [int(x) for x in re.findall(r"\d+", prefill or "")]
    start = done[-1] + 1 if done else 1
    return (" " if done else "") + " ".join(str(i) for i in range(start, n + 1))
