"""Program-aided rationales: find the program in a completion, and read its result.

Teachers wrap code differently (a ```python fence, a bare fence, no fence at all); the last
fenced block that defines the entrypoint wins, because models often show a draft first.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)


def extract_program(text: str, entrypoint: str = "solution") -> str | None:
    """The program in ``text`` that defines ``entrypoint``, or None."""
    define = re.compile(rf"^\s*def\s+{re.escape(entrypoint)}\s*\(", re.MULTILINE)
    blocks = [b for b in _FENCE.findall(text) if define.search(b)]
    if blocks:
        return blocks[-1].strip("\n")
    if define.search(text):
        return text.strip("\n")
    return None


def program_answer_text(value: str) -> str:
    """Phrase a program's return value so the answer grader reads exactly that value."""
    return f"The answer is {value}."
