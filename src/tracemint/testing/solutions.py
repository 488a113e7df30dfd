"""The arithmetic of written solutions: claims checked, rerun with new numbers, or turned
into a ``solution()`` program.

Ground truth for the probes and variants that change a question's numbers: the fake model
answers a changed question, or writes a program for one, by rerunning the known solution's
steps. Deliberately tiny (no verify import, plain regexes and ``Fraction``): the fake model
must cost microseconds per request.
"""

from __future__ import annotations

import re
from fractions import Fraction

# A simple arithmetic claim ("a op b = v").
CLAIM = re.compile(
    r"(-?\d[\d,]*(?:\.\d+)?)\s*([-+*/x×])\s*(-?\d[\d,]*(?:\.\d+)?)\s*=\s*\$?"
    r"(-?\d[\d,]*(?:\.\d+)?)"
)
# A GSM8K annotation ``<<expr=value>>`` is one step of a known solution, and its
# expression's numbers.
_ANNOTATION = re.compile(r"<<([\d\s.+\-*/()]+)=\s*\$?(-?\d[\d,]*(?:\.\d+)?)\s*>>")
_EXPR_NUMBER = re.compile(r"(?<![\w.])(?:\d+(?:\.\d+)?|\.\d+)")


def normalize_answer(answer: str) -> str:
    """GSM8K answers end in ``#### N``; the final answer is the part after the marker."""
    if "####" in answer:
        answer = answer.rsplit("####", 1)[1]
    return answer.strip()


def wrong_answer(answer: str) -> str:
    """A plausibly wrong answer: numbers are off by one, anything else is negated."""
    try:
        value = float(answer.replace(",", ""))
    except ValueError:
        return f"not {answer}"
    wrong = value + 1
    return str(int(wrong)) if wrong.is_integer() else f"{wrong:g}"


def parse_num(text: str) -> Fraction:
    """A number as written ("1,200", "2.5", "-3"), exactly: claims compare without rounding."""
    return Fraction(text.replace(",", ""))


def fmt_num(value: Fraction) -> str:
    """A value as a model writes it: an integer plainly, anything else as a short decimal."""
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"


def _apply(a: Fraction, op: str, b: Fraction) -> Fraction | None:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op in "*x×":
        return a * b
    return a / b if b else None


def claim_errors(reasoning: str) -> list[tuple[re.Match[str], Fraction]]:
    """The wrong ``a op b = v`` claims in ``reasoning``, each with its correct value."""
    wrong = []
    for m in CLAIM.finditer(reasoning):
        computed = _apply(parse_num(m.group(1)), m.group(2), parse_num(m.group(3)))
        if computed is not None and computed != parse_num(m.group(4)):
            wrong.append((m, computed))
    return wrong


def rerun_solution(solution: str, answer: str, changes: dict[Fraction, Fraction]) -> str:
    """The answer ``solution``'s arithmetic gives when question values change per ``changes``.

    Each ``a op b = v`` claim in order (binary claims only; GSM8K's ``<<a*b=c>>`` included)
    is recomputed with changed operands, and its result ``v`` becomes the recomputed value
    for the claims after it. The answer is mapped the same way: unchanged when the chain
    never touches a changed value. Ground truth for the counterfactual probe.
    """
    values = dict(changes)
    for m in CLAIM.finditer(solution):
        a, b, v = parse_num(m.group(1)), parse_num(m.group(3)), parse_num(m.group(4))
        new = _apply(values.get(a, a), m.group(2), values.get(b, b))
        values.pop(v, None)  # a later literal v now means this claim's result
        if new is not None and new != v:
            values[v] = new
    try:
        final = parse_num(answer)
    except (ValueError, ZeroDivisionError):
        return answer
    return fmt_num(values.get(final, final))


def solution_program(
    solution: str, answer: str, changes: dict[Fraction, Fraction] | None = None
) -> str | None:
    """A Python ``solution()`` that computes ``answer`` the way ``solution`` does, or None.

    Each step of the solution (a GSM8K ``<<expr=value>>`` annotation, else an ``a op b = v``
    claim) becomes ``vK = expr``: a number equal to an earlier step's result reads that
    step's variable, any other number stays a literal (the question's quantity, changed per
    ``changes``). Returns the variable whose result is the final answer; None when no step
    produces it. Ground truth for program-aided runs and counterfactual variants: the
    program's literals are the question's numbers.
    """
    steps = [(e, v) for e, v in _ANNOTATION.findall(solution)] or [
        (f"{m.group(1)} {'*' if m.group(2) in 'x×' else m.group(2)} {m.group(3)}", m.group(4))
        for m in CLAIM.finditer(solution)
    ]
    changes = changes or {}
    names: dict[Fraction, str] = {}
    lines = ["def solution():"]

    def literal(m: re.Match[str]) -> str:
        value = parse_num(m.group(0))
        if value in names:
            return names[value]
        new = changes.get(value, value)
        return fmt_num(new) if new.denominator == 1 else str(float(new))

    try:
        for i, (expr, value) in enumerate(steps, 1):
            code = _EXPR_NUMBER.sub(literal, expr.replace(",", "")).strip()
            lines.append(f"    # step {i}")
            lines.append(f"    v{i} = {code}")
            names[parse_num(value)] = f"v{i}"
        final = names.get(parse_num(answer))
    except (ValueError, ZeroDivisionError):
        return None
    if final is None:
        return None
    return "\n".join([*lines, f"    return {final}"])
