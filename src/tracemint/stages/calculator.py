"""The calculator of tool-augmented chains: ``<<expr>>`` placeholders evaluated exactly.

With the ``calculator`` strategy (Chain-of-Abstraction, Gao et al. 2024) the teacher writes
each computation as a placeholder (``48 + 12 = <<48+12>>``) instead of its value. This stage
evaluates every placeholder with the step checker's own exact arithmetic
(:mod:`tracemint.verify.exact`: ``Fraction`` values, no ``eval``, every size bounded) and
splices the value into ``completion`` before grading, so a weak teacher's arithmetic slips
never reach the data, and the checker and the calculator can never disagree on a value.

Why each rule:

* **The teacher's own value goes.** A teacher that copies GSM8K's annotation style writes
  ``<<48+12=59>>59``; the placeholder and the value glued after it are the teacher's guess
  at the one calculation, so both are replaced by the exact value and the guess is kept in
  ``written`` (how many slips the tool caught is countable).
* **Only the placeholder changes.** A number the teacher carries into later text is its own
  text: a wrong carried value stays wrong, and the step checker still sees it.
* **What does not evaluate stays.** A placeholder with words, a variable or an unbalanced
  bracket is left as written and recorded with ``ok`` false: nothing is dropped silently,
  and the grader and checker judge the text as the teacher wrote it.
* **Exact values.** ``10/3`` is spliced as ``10/3``, never a rounded decimal the checker
  would then have to forgive.

Columns (calculator traces only): ``completion`` (spliced), ``completion_raw`` (the teacher's
text) and ``tool_calls`` (per placeholder, in order: ``expr``, ``value``, ``ok``, ``written``).
The stage is idempotent: a trace that already has ``completion_raw`` is returned unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import pyarrow as pa

from tracemint.records import Record, declare_columns
from tracemint.verify.claim_tokens import tokenize
from tracemint.verify.exact import Parser, Refused, format_exact

CALCULATOR = "calculator"  # the strategy name whose traces this stage acts on

# A placeholder with an optional "=guess" inside it (GSM8K style): "<<48+12>>", "<<48+12=59>>".
PLACEHOLDER = re.compile(r"<<(?P<expr>[^<>=\n]{1,300})(?:=(?P<inner>[^<>\n]{0,60}))?>>")
# A value glued right after it ("<<9*2>>18/week"): a number, not the start of a fraction.
_GLUED = re.compile(r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?!\d|[./]\d)")
_TOOL_CALL = pa.struct(
    [("expr", pa.string()), ("value", pa.string()), ("ok", pa.bool_()), ("written", pa.string())]
)
COLUMNS: dict[str, pa.DataType] = {
    "tool_calls": pa.list_(_TOOL_CALL),
    "completion_raw": pa.string(),
}
declare_columns(COLUMNS)


def evaluate(expr: str) -> Fraction | None:
    """The exact value of one placeholder's expression, or None when it is not plain
    arithmetic (words, variables, ``=``) or is over the checker's size bounds."""
    toks = [t for t in tokenize(expr, 0) if t.kind != "cur"]  # "$12 * 3": dollars
    if not toks or any(t.kind in ("word", "other", "eq") for t in toks):
        return None
    try:
        return Parser(toks, Fraction(1, 100)).parse()
    except Refused:
        return None


def splice(text: str) -> tuple[str, list[dict[str, Any]]]:
    """``text`` with each evaluable placeholder (and the teacher's value glued after it)
    replaced by its exact value, and the record of every placeholder, in order."""
    calls: list[dict[str, Any]] = []
    out: list[str] = []
    pos = 0
    for m in PLACEHOLDER.finditer(text):
        expr, inner = m["expr"].strip(), (m["inner"] or "").strip() or None
        end = m.end()
        if inner is not None and text.startswith(inner, end):  # "<<5-8=-3>>-3"
            glued: str | None = inner
        else:
            g = _GLUED.match(text, end)
            glued = g[0] if g is not None else None
        value = evaluate(expr)
        shown = None if value is None else format_exact(value)
        calls.append({"expr": expr, "value": shown, "ok": shown is not None,
                      "written": inner or glued})  # fmt: skip
        out.append(text[pos : m.start()])
        if shown is None:
            out.append(m[0])
            pos = m.end()
        else:
            out.append(shown)
            pos = end + len(glued or "")
    out.append(text[pos:])
    return "".join(out), calls


def calculate(traces: Sequence[Record]) -> list[Record]:
    """Splice calculator values into the ``calculator`` strategy's traces; others pass."""
    out: list[Record] = []
    for t in traces:
        if t.get("strategy") != CALCULATOR or t.get("completion_raw") is not None:
            out.append(t)
            continue
        raw = t.get("completion")
        spliced, calls = splice(raw or "")
        text = spliced if raw is not None else None
        out.append({**t, "completion": text, "completion_raw": raw or "", "tool_calls": calls})
    return out
