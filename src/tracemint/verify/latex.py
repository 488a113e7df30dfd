"""Surface clean-up of answer strings: math delimiters, ``\\boxed{}``, ``\\text{}``, spacing.

Every function here is a pure string transform with linear cost, so it is safe on 100 KB
inputs and from any thread. Nothing here decides equality; it only removes notation that
carries no meaning (``$...$``, ``\\left``, ``\\!``) so later stages see one spelling.
"""

from __future__ import annotations

import re

# Unicode that teachers and datasets (AQuA uses "√") emit for ASCII/LaTeX notation.
_UNICODE = {
    "\u2212": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u00d7": "*",
    "\u00f7": "/",
    "\u22c5": "*",
    "\u00b7": "*",
    "\u03c0": "\\pi ",
    "\u221e": "\\infty ",
    "\u221a": "\\sqrt ",
    "\u00a0": " ",
    "\u2009": " ",
    "\u202f": " ",
    "\u00b0": "",
    "\u2264": "\\le ",
    "\u2265": "\\ge ",
    "\u2248": "\\approx ",
    "\u00bd": "1/2",
    "\u00bc": "1/4",
    "\u00be": "3/4",
}
_UNICODE_RE = re.compile("|".join(map(re.escape, _UNICODE)))

# Wrappers whose argument is kept verbatim (the wrapper is typography only).
_WRAPPERS = re.compile(
    r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mathit|mbox|operatorname|mathsf|emph)\s*\{"
)
_DROP = re.compile(r"\\left\b|\\right\b|\\displaystyle\b|\\[!,;:> ]|\\quad\b|\\qquad\b|~")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ\b|\\degree\b")
_ASSIGN = re.compile(r"^\s*[a-zA-Z](?:_\{?\w+\}?)?\s*=\s*(?P<rhs>[^=<>]+)$")
_OPTION_LABEL = re.compile(r"^\(?([A-Z])\)$")  # "(B)", "B)": a multiple-choice letter
_BOX = re.compile(r"\\(?:boxed|fbox)\b")


def brace_group(text: str, start: int) -> tuple[str, int] | None:
    """Return the content of the ``{...}`` group opening at ``start`` and the index after it.

    Nested braces are matched; an unbalanced group returns None (a truncated ``\\boxed{``
    must not be read as an answer).
    """
    if start >= len(text) or text[start] != "{":
        return None
    depth = 0
    for i in range(start, len(text)):
        ch = text[i]
        if ch == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif ch == "}" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
    return None


def last_boxed(text: str) -> tuple[str, int] | None:
    """Return the content of the last well-formed ``\\boxed{}``/``\\fbox{}`` and its position.

    Last one wins because models often box intermediate results before the final one.
    ``\\boxed 5`` (no braces) is accepted up to the next space or ``$``.
    """
    pos = len(text)
    while True:
        pos = max(text.rfind("\\boxed", 0, pos), text.rfind("\\fbox", 0, pos))
        if pos < 0:
            return None
        m = _BOX.match(text, pos)
        if m is None:
            continue
        i = m.end()
        while i < len(text) and text[i] == " ":
            i += 1
        group = brace_group(text, i)
        if group is not None:
            return group[0], pos
        if i < len(text) and i > m.end():
            bare = re.match(r"[^\s$]+", text[i:])
            if bare:
                return bare.group(0), pos


def unwrap_commands(text: str) -> str:
    """Replace ``\\text{X}`` (and friends) by `` X `` , handling nested braces."""
    out: list[str] = []
    pos = 0
    for _ in range(1000):  # bounded: each pass consumes one wrapper
        m = _WRAPPERS.search(text, pos)
        if m is None:
            break
        group = brace_group(text, m.end() - 1)
        if group is None:
            break
        out.append(text[pos : m.start()])
        out.append(" " + group[0] + " ")
        pos = group[1]
    out.append(text[pos:])
    return "".join(out)


def strip_delimiters(text: str) -> str:
    """Remove one or more layers of ``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``."""
    for _ in range(5):
        s = text.strip()
        if len(s) >= 4 and s.startswith("$$") and s.endswith("$$"):
            text = s[2:-2]
        elif len(s) >= 2 and s[0] == "$" and s[-1] == "$" and s.count("$") == 2:
            text = s[1:-1]
        elif s.startswith(("\\(", "\\[")) and s.endswith(("\\)", "\\]")):
            text = s[2:-2]
        else:
            return s
    return text.strip()


_PLAIN = re.compile(r"-?\d{1,30}\Z")


def clean(text: str) -> str:
    """Bring one answer string to a canonical surface form.

    Removes math delimiters, an enclosing ``\\boxed{}``, typography wrappers, spacing
    commands, degree marks, trailing sentence punctuation and a leading ``x =``. It never
    touches digits or signs, so it cannot turn a wrong number into a right one.
    """
    if _PLAIN.match(text):  # "18", "-3": already canonical (most GSM8K-style answers)
        return text
    s = _UNICODE_RE.sub(lambda m: _UNICODE[m.group(0)], text).strip()
    s = strip_delimiters(s)
    boxed = last_boxed(s)
    if boxed is not None:
        s = strip_delimiters(boxed[0])
    s = unwrap_commands(s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\cfrac", "\\frac")
    s = s.replace("\\%", "%").replace("\\$", "$").replace("\\{", "\\lbrace ")
    s = s.replace("\\}", "\\rbrace ")
    s = _DEGREES.sub("", _DROP.sub(" ", s))
    s = s.strip().strip("*_").strip()  # markdown emphasis around the whole answer
    if re.search(r"\w\s*\*\*\s*\w", s):
        s = s.replace("**", "^")  # Python power
    s = " ".join(s.split()).rstrip(".;,").strip()
    s = strip_delimiters(s).rstrip(".").strip()
    m = _ASSIGN.match(s)
    if m is not None:
        s = m.group("rhs").strip()
    m = _OPTION_LABEL.match(s)
    return m.group(1) if m is not None else s
